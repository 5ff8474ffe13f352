package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxAPIKey
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxRequestID).(string)
	return id
}

func apiKey(ctx context.Context) *herm.APIKey {
	k, _ := ctx.Value(ctxAPIKey).(*herm.APIKey)
	return k
}

// statusWriter records the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// outer is the middleware every request passes: request id, panic
// recovery, the access log line and metrics.
func (s *Server) outer(route string, maxBody int64, next http.Handler) http.Handler {
	if maxBody <= 0 {
		maxBody = s.cfg.MaxBodyBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := s.ids.New(herm.PrefixRequest)
		w.Header().Set("X-Request-Id", rid)
		ctx := context.WithValue(r.Context(), ctxRequestID, rid)
		r = r.WithContext(ctx)
		w, r.Body = s.deadlines(w, r)
		sw := &statusWriter{ResponseWriter: w}
		// Limit the body before anything reads it (idempotency hashes it).
		r.Body = http.MaxBytesReader(sw, r.Body, maxBody)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger.Error("handler panicked", "request_id", rid, "panic", p)
				if sw.status == 0 {
					s.writeError(sw, r, errors.New("panic"))
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			s.metrics.Request(r.Method, route, status, d)
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			s.logger.LogAttrs(ctx, level, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", route),
				slog.Int("status", status), slog.Duration("duration", d), slog.String("request_id", rid))
		}()
		next.ServeHTTP(sw, r)
	})
}

// authenticate checks the bearer key, the scope and what the key may
// reach (reach), then applies the rate limit.
func (s *Server) authenticate(scope, path string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var (
			key *herm.APIKey
			err error
		)
		if tokens, ok := r.URL.Query()[accessTokenParam]; ok {
			// A stream token (see streamtoken.go): on the event stream only,
			// instead of the header; taken off the URL once read.
			withoutAccessToken(r)
			switch {
			case !acceptsStreamToken(r.Method, path):
				err = herm.Errorf(herm.EUnauthorized, "access_token (a stream token) is accepted only by GET %s and GET %s; send the API key as Authorization: Bearer <key>", eventsPath, sessionStreamPath)
			case len(tokens) != 1:
				err = herm.Errorf(herm.EInvalid, "access_token must be given once")
			case r.Header.Get("Authorization") != "":
				err = herm.Errorf(herm.EInvalid, "send either Authorization or access_token, not both")
			default:
				key, err = s.streamTokenKey(r, tokens[0])
			}
		} else {
			// The scheme is case-insensitive (RFC 7235).
			secret := ""
			if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
				secret = auth[7:]
			}
			key, err = s.keys.Authenticate(r.Context(), strings.TrimSpace(secret))
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !key.Allows(scope) {
			s.writeError(w, r, herm.Errorf(herm.EForbidden, "this API key lacks the %s scope", scope))
			return
		}
		if wait, ok := s.limiter.allow(key.ID); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			s.writeError(w, r, herm.Errorf(herm.ERateLimited, "rate limit exceeded for this API key; retry after %s", wait.Round(time.Millisecond)))
			return
		}
		if err := s.reach(r, path, key.CustomerID); err != nil {
			s.writeError(w, r, err)
			return
		}
		ctx := herm.WithKeyCustomer(context.WithValue(r.Context(), ctxAPIKey, key), key.CustomerID)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// reach decides what a key may reach. A key limited to one customer
// (customer set) reaches only /v1/deployments/** of that customer's
// deployments (another's is 404, as if it did not exist) and GET
// /v1/models; lists and creates apply the limit in their handlers
// (herm.KeyCustomer). No key reaches, through the deployments API, a
// deployment behind an agent's sessions (agent_id set: a session's hidden
// deployment, served by /v1/sessions only): it is 404 too.
func (s *Server) reach(r *http.Request, path, customer string) error {
	if customer != "" && path != "/v1/models" && path != "/v1/deployments" && !strings.HasPrefix(path, "/v1/deployments/") {
		return herm.Errorf(herm.EForbidden, "this API key is limited to customer %s's deployments and cannot use %s", customer, path)
	}
	id := r.PathValue("deployment_id")
	if id == "" || !strings.HasPrefix(path, "/v1/deployments/") {
		return nil
	}
	d, err := s.store.GetDeployment(r.Context(), id)
	switch {
	case herm.IsCode(err, herm.ENotFound):
		if customer == "" {
			return nil // the handler says so
		}
		return herm.Errorf(herm.ENotFound, "deployment not found")
	case err != nil:
		return err
	case d.AgentID != "" || (customer != "" && d.CustomerID != customer):
		return herm.Errorf(herm.ENotFound, "deployment not found")
	}
	return nil
}

// limiter is a token bucket per API key.
type limiter struct {
	rate  float64 // tokens per second; <= 0 disables
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	if burst <= 0 {
		burst = int(math.Max(1, rate))
	}
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: make(map[string]*bucket)}
}

// allow takes a token for key; when none is left it says how long to wait.
func (l *limiter) allow(key string) (time.Duration, bool) {
	if l.rate <= 0 {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

// idempotent replays the stored response of a POST retried with the same
// Idempotency-Key and body, and refuses the key with another body.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ik := r.Header.Get("Idempotency-Key")
		if r.Method != http.MethodPost || ik == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(ik) > 255 {
			s.writeError(w, r, herm.Errorf(herm.EInvalid, "Idempotency-Key must be 1 to 255 characters"))
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			s.writeError(w, r, bodyError(err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		hash := requestHash(r, compactJSON(body))
		rawHash := requestHash(r, body) // what versions before compacting stored
		key := apiKey(r.Context())

		// Reserve the key with a row of its own (an insert that conflicts,
		// so that two servers never both run the request), then keep the
		// response in it.
		ctx := r.Context()
		mine := &herm.Idempotency{KeyID: key.ID, Key: ik, RequestHash: hash, CreatedAt: s.now().UTC()}
		// (Not cancelled with the request: a reservation made just as the
		// client went away must still be released below.)
		dbCtx := context.WithoutCancel(ctx)
		for attempt := 0; ; attempt++ {
			prev, err := s.store.ReserveIdempotency(dbCtx, mine)
			if herm.IsCode(err, herm.EConflict) && attempt == 0 {
				continue // the row was released as it was read: try again
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if prev == nil {
				break // ours
			}
			age := s.now().Sub(prev.CreatedAt)
			switch {
			case prev.RequestHash != hash && prev.RequestHash != rawHash && (prev.StatusCode != 0 || age < idempotencyStale):
				s.writeError(w, r, herm.Errorf(herm.EConflict, "this Idempotency-Key was used with a different request"))
				return
			case prev.StatusCode == 0 && age < idempotencyStale:
				s.writeError(w, r, herm.Errorf(herm.EConflict, "a request with this Idempotency-Key is still in progress"))
				return
			case prev.StatusCode != 0 && age < idempotencyTTL:
				s.replay(w, r, prev, hash, rawHash)
				return
			}
			// An expired response, or a reservation whose request died: take
			// it over, unless another request did first (then look again).
			err = s.store.TakeIdempotency(dbCtx, mine, prev.CreatedAt)
			if err == nil {
				break
			}
			if !herm.IsCode(err, herm.EConflict) || attempt > 0 {
				s.writeError(w, r, err)
				return
			}
		}
		// The row is released unless a result is kept (also when the
		// handler panics), so that the client may retry.
		kept := false
		defer func() {
			if !kept {
				if err := s.store.ReleaseIdempotency(context.WithoutCancel(ctx), mine); err != nil {
					s.logger.Warn("release idempotency key", "request_id", requestID(ctx), "err", err)
				}
			}
		}()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status >= 500 || rec.status == 0 || rec.status == http.StatusTooManyRequests {
			return // not a result: the client may retry
		}
		mine.StatusCode, mine.ContentType, mine.Body = rec.status, rec.Header().Get("Content-Type"), s.sealResponse(key.ID, ik, rec.body.Bytes())
		if err := s.store.CompleteIdempotency(context.WithoutCancel(ctx), mine); err != nil {
			s.logger.Warn("store idempotent response", "request_id", requestID(ctx), "err", err)
			return
		}
		kept = true
	})
}

// requestHash identifies a request under an Idempotency-Key: its method,
// path, query and body.
func requestHash(r *http.Request, body []byte) string {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + "\n"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// replay answers a retried request with the stored response, or refuses a
// key used with another request.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, prev *herm.Idempotency, hash, rawHash string) {
	if prev.RequestHash != hash && prev.RequestHash != rawHash {
		s.writeError(w, r, herm.Errorf(herm.EConflict, "this Idempotency-Key was used with a different request"))
		return
	}
	body, err := s.unsealResponse(prev.KeyID, prev.Key, prev.Body)
	if err != nil {
		s.logger.Warn("stored idempotent response", "request_id", requestID(r.Context()), "err", err)
		s.writeError(w, r, herm.Errorf(herm.EConflict, "the response stored for this Idempotency-Key can no longer be read; use a new key"))
		return
	}
	w.Header().Set("Content-Type", prev.ContentType)
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(prev.StatusCode)
	_, _ = w.Write(body)
}

// idempotencyStale is how long a reservation may wait for its request's
// response: past it, the request is taken as dead (its server stopped) and
// a retry runs it.
const idempotencyStale = 5 * time.Minute

const idempotencyTTL = 24 * time.Hour

// sealedPrefix marks a stored response encrypted by the vault: responses
// may hold secrets shown once (API keys, webhook signing secrets).
const sealedPrefix = "herm-sealed-v1:"

func (s *Server) sealResponse(keyID, ik string, body []byte) []byte {
	if s.vault == nil {
		return body
	}
	return append([]byte(sealedPrefix), s.vault.Seal("idempotency:"+keyID+":"+ik, string(body))...)
}

func (s *Server) unsealResponse(keyID, ik string, stored []byte) ([]byte, error) {
	ct, sealed := bytes.CutPrefix(stored, []byte(sealedPrefix))
	switch {
	case s.vault == nil && !sealed:
		return stored, nil // without a vault, sealResponse keeps it as it is
	case s.vault == nil:
		return nil, errors.New("a sealed response and no vault")
	case !sealed:
		return nil, errors.New("a stored response that is not sealed")
	}
	body, err := s.vault.Open("idempotency:"+keyID+":"+ik, ct)
	return []byte(body), err
}

// recorder passes a response through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// bodyError turns a body read failure into the right error.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	var he *herm.Error
	if errors.As(err, &he) {
		return err // the body stopped arriving
	}
	if errors.As(err, &mbe) {
		return herm.Errorf(herm.ETooLarge, "request body is larger than the limit of %d bytes", mbe.Limit)
	}
	return herm.Errorf(herm.EInvalid, "could not read the request body: %v", err)
}

// compactJSON is a JSON body without insignificant space, so that a retry
// that spaces the same request differently is still the same request. Keys
// keep their order and case: decoding into Go structs is case-insensitive
// and lets a later duplicate key win, so reordering could make different
// requests look alike. Other bodies are kept as they are.
func compactJSON(body []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err != nil {
		return body
	}
	return buf.Bytes()
}
