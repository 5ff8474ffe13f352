package transport

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/hermhq/herm/internal/llm"
)

// ParseError turns an error body into an *llm.Error without Provider. It
// understands {"error":{"message","type","code"}} (OpenAI, Anthropic,
// OpenRouter), {"error":"..."} (Ollama) and {"message","type"} (vLLM), and
// falls back to the raw body. status is the HTTP status, 0 for an error
// that arrived inside a stream.
func ParseError(status int, body []byte) *llm.Error {
	e := &llm.Error{StatusCode: status}
	var v struct {
		Type    string          `json:"type"`
		Message string          `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil {
		var inner struct {
			Type    string          `json:"type"`
			Message string          `json:"message"`
			Code    json.RawMessage `json:"code"`
		}
		var s string
		if json.Unmarshal(v.Error, &inner) == nil {
			e.Type, e.Message = inner.Type, inner.Message
			if e.Type == "" {
				e.Type = codeType(inner.Code)
			}
		} else if json.Unmarshal(v.Error, &s) == nil {
			e.Message = s
		}
		if e.Message == "" {
			e.Message = v.Message
		}
		if e.Type == "" && v.Type != "error" {
			e.Type = v.Type
		}
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 500 {
			e.Message = strings.ToValidUTF8(e.Message[:500], "") + "…"
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if e.Message == "" {
		e.Message = "no error message"
	}
	if e.Type == "" {
		e.Type = StatusType(status)
	}
	return e
}

// codeType returns an error "code" as a type: a string code as is, an HTTP
// status code (OpenRouter sends those) as StatusType.
func codeType(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if n, err := strconv.Atoi(string(raw)); err == nil && n >= 100 && n <= 599 {
		return StatusType(n)
	}
	return ""
}

// StatusType names the error type of an HTTP status, in Anthropic's
// vocabulary, for errors whose body names none.
func StatusType(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return "timeout_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}
