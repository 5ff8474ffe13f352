package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/hermhq/herm/internal/herm"
)

// statusOf maps error codes to HTTP statuses.
func statusOf(code string) int {
	switch code {
	case herm.EInvalid:
		return http.StatusBadRequest
	case herm.EUnauthorized:
		return http.StatusUnauthorized
	case herm.EInsufficientCredit:
		return http.StatusPaymentRequired
	case herm.EForbidden:
		return http.StatusForbidden
	case herm.ENotFound:
		return http.StatusNotFound
	case herm.ENotReady, herm.EConflict:
		return http.StatusConflict
	case herm.ECursorExpired:
		return http.StatusGone
	case herm.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case herm.EInvalidSkill, herm.EInvalidSecretRef:
		return http.StatusUnprocessableEntity
	case herm.ERateLimited:
		return http.StatusTooManyRequests
	case herm.EUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// wireCode is the code sent on the wire (413 is a validation_error).
func wireCode(code string) string {
	switch code {
	case herm.ETooLarge:
		return herm.EInvalid
	case herm.EInvalid, herm.EUnauthorized, herm.EInsufficientCredit, herm.EForbidden, herm.ENotFound,
		herm.ENotReady, herm.EConflict, herm.ECursorExpired, herm.EInvalidSkill, herm.EInvalidSecretRef,
		herm.ERateLimited, herm.EUnavailable:
		return code
	default:
		return herm.EInternal
	}
}

// writeError writes err as the error envelope. Internal errors are logged
// with the request id and never described on the wire.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := herm.ErrorCode(err)
	status := statusOf(code)
	msg := herm.ErrorMessage(err)
	rid := requestID(r.Context())
	if status == http.StatusInternalServerError {
		s.logger.Error("internal error", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "an internal error occurred; quote request id " + rid + " when reporting it"
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", strconv.Itoa(1))
		}
	}
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: wireCode(code), Message: msg, RequestID: rid}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b := encodeJSON(v)
	if b == nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"server_error","message":"could not encode the response","request_id":""}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// encodeJSON is v as one line of JSON, ending in a newline (nil if it
// cannot be encoded). <, > and & stay as they are: the API's JSON is not
// HTML, and "a \u003e b" in a message helps nobody.
func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil
	}
	return buf.Bytes()
}
