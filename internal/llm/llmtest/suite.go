package llmtest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/llm"
)

// ProviderSuite describes a streaming provider to RunProviderSuite: how to
// make a client for a fake server and how that provider's real server
// writes answers and errors.
type ProviderSuite struct {
	// Name is the provider's name in its errors.
	Name string
	// New returns a client of the server at baseURL that waits between
	// attempts with sleep and tries a call at most attempts times.
	New func(baseURL string, sleep func(ctx context.Context, d time.Duration) error, attempts int) llm.Provider
	// WriteText writes a whole streamed answer whose text is text, with
	// its headers, and flushes.
	WriteText func(w http.ResponseWriter, text string)
	// WriteStart writes the beginning of a streamed answer that delivers
	// text as output, without its terminal event, and flushes.
	WriteStart func(w http.ResponseWriter, text string)
	// ErrorBody is an error answer's body in the provider's format.
	ErrorBody func(typ, message string) string
}

// fake is an httptest server whose answers are given per request (the
// first request gets answers[0], ...; the last answer repeats).
type fake struct {
	*httptest.Server
	hits atomic.Int32
}

func newFake(t *testing.T, answers ...http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(f.hits.Add(1))
		answers[min(n, len(answers))-1](w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// sleeps records the waits a client asks for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// RunProviderSuite checks the behaviour every streaming provider shares
// (through the transport they use, but tested on each provider's own wire
// format): retries of 429 and 5xx answers, broken streams and connection
// errors while no output reached the caller, with the server's
// Retry-After honoured and exponential backoff otherwise; never a retry
// once output was delivered; no retry of other client errors or of a wait
// longer than a minute; errors as *llm.Error with the provider's name,
// status, type and message; cancellation, promptly, during a stream and
// during a wait.
func RunProviderSuite(t *testing.T, p ProviderSuite) {
	status := func(code int, typ, msg string, header ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = w.Write([]byte(p.ErrorBody(typ, msg)))
		}
	}
	text := func(s string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { p.WriteText(w, s) }
	}
	call := func(t *testing.T, f *fake, s *sleeps, attempts int) (*llm.Response, []llm.Delta, error) {
		t.Helper()
		var deltas []llm.Delta
		resp, err := p.New(f.URL, s.sleep, attempts).Stream(t.Context(), llm.Request{Model: "m"}, func(d llm.Delta) { deltas = append(deltas, d) })
		return resp, deltas, err
	}
	asError := func(t *testing.T, err error) *llm.Error {
		t.Helper()
		var e *llm.Error
		if !errors.As(err, &e) {
			t.Fatalf("err = %v, want *llm.Error", err)
		}
		if e.Provider != p.Name {
			t.Errorf("error's provider %q, want %q", e.Provider, p.Name)
		}
		return e
	}

	t.Run("RetryAfterHonoured", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			header, value string
			want          time.Duration
		}{
			{"Retry-After", "3", 3 * time.Second},
			{"Retry-After", "0.5", 500 * time.Millisecond},
			{"Retry-After-Ms", "1500", 1500 * time.Millisecond},
		} {
			f := newFake(t, status(429, "rate_limit_error", "slow down", c.header, c.value), text("ok"))
			var s sleeps
			resp, _, err := call(t, f, &s, 0)
			if err != nil || resp.Text != "ok" || f.hits.Load() != 2 {
				t.Fatalf("%s %s: resp %+v, err %v after %d requests", c.header, c.value, resp, err, f.hits.Load())
			}
			if got := s.got(); len(got) != 1 || got[0] != c.want {
				t.Errorf("%s %s: waited %v, want [%v]", c.header, c.value, got, c.want)
			}
		}
	})

	t.Run("ServerErrorsRetried", func(t *testing.T) {
		t.Parallel()
		for _, code := range []int{408, 409, 429, 500, 502, 503, 504, 529} {
			f := newFake(t, status(code, "api_error", "try again"), text("ok"))
			var s sleeps
			resp, _, err := call(t, f, &s, 0)
			if err != nil || resp.Text != "ok" || f.hits.Load() != 2 {
				t.Fatalf("%d: resp %+v, err %v after %d requests", code, resp, err, f.hits.Load())
			}
			// No Retry-After: the first backoff, 500 ms minus up to 25%.
			if got := s.got(); len(got) != 1 || got[0] < 375*time.Millisecond || got[0] > 500*time.Millisecond {
				t.Errorf("%d: waited %v", code, got)
			}
		}
	})

	t.Run("ServerErrorsUntilAttemptsRunOut", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, status(500, "api_error", "The server had an error"))
		var s sleeps
		_, deltas, err := call(t, f, &s, 3)
		e := asError(t, err)
		if e.StatusCode != 500 || e.Type != "api_error" || e.Message != "The server had an error" {
			t.Errorf("error %+v", e)
		}
		if f.hits.Load() != 3 || len(deltas) != 0 {
			t.Errorf("%d requests, deltas %v", f.hits.Load(), deltas)
		}
		got := s.got()
		if len(got) != 2 {
			t.Fatalf("waits %v, want 2", got)
		}
		for i, d := range got { // exponential from 500 ms, minus up to 25%
			hi := 500 * time.Millisecond << i
			if d < hi*3/4 || d > hi {
				t.Errorf("wait %d = %v, want in [%v, %v]", i, d, hi*3/4, hi)
			}
		}
		// The default is four attempts.
		f = newFake(t, status(503, "api_error", "down"))
		_, _, err = call(t, f, &sleeps{}, 0)
		if asError(t, err).StatusCode != 503 || f.hits.Load() != 4 {
			t.Errorf("default attempts: %d requests, err %v", f.hits.Load(), err)
		}
	})

	t.Run("ClientErrorsNotRetried", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			code int
			typ  string
		}{
			{400, "invalid_request_error"},
			{401, "authentication_error"},
			{403, "permission_error"},
			{404, "not_found_error"},
			{413, "request_too_large"},
			{422, "invalid_request_error"},
		} {
			f := newFake(t, status(c.code, c.typ, "you did it wrong"), text("ok"))
			var s sleeps
			_, _, err := call(t, f, &s, 0)
			e := asError(t, err)
			want := llm.Error{Provider: p.Name, StatusCode: c.code, Type: c.typ, Message: "you did it wrong"}
			if *e != want {
				t.Errorf("%d: error %+v, want %+v", c.code, *e, want)
			}
			if f.hits.Load() != 1 || len(s.got()) != 0 {
				t.Errorf("%d: %d requests, waits %v", c.code, f.hits.Load(), s.got())
			}
		}
	})

	t.Run("RetryAfterTooLongNotRetried", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, status(429, "rate_limit_error", "slow down", "Retry-After", "3600"), text("ok"))
		var s sleeps
		_, _, err := call(t, f, &s, 0)
		if e := asError(t, err); e.StatusCode != 429 || e.Type != "rate_limit_error" || f.hits.Load() != 1 || len(s.got()) != 0 {
			t.Fatalf("error %+v after %d requests, waits %v", e, f.hits.Load(), s.got())
		}
	})

	t.Run("ShouldRetryHeader", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, status(500, "api_error", "no", "X-Should-Retry", "false"), text("ok"))
		if _, _, err := call(t, f, &sleeps{}, 0); asError(t, err).StatusCode != 500 || f.hits.Load() != 1 {
			t.Errorf("X-Should-Retry: false: %d requests", f.hits.Load())
		}
		f = newFake(t, status(400, "invalid_request_error", "again", "X-Should-Retry", "true"), text("ok"))
		if resp, _, err := call(t, f, &sleeps{}, 0); err != nil || resp.Text != "ok" || f.hits.Load() != 2 {
			t.Errorf("X-Should-Retry: true: %v after %d requests", err, f.hits.Load())
		}
	})

	t.Run("NoRetryAfterOutput", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) { p.WriteStart(w, "Hel") }, text("ok"))
		var s sleeps
		resp, deltas, err := call(t, f, &s, 0)
		e := asError(t, err)
		if e.Type != "stream_broken" || resp != nil {
			t.Errorf("resp %+v, error %+v; want stream_broken", resp, e)
		}
		// "Hel" reached the caller: a retry would deliver it twice.
		var got strings.Builder
		for _, d := range deltas {
			got.WriteString(d.Text)
		}
		if f.hits.Load() != 1 || got.String() != "Hel" || len(s.got()) != 0 {
			t.Errorf("%d requests, output %q, waits %v", f.hits.Load(), got.String(), s.got())
		}
	})

	t.Run("BrokenBeforeOutputRetried", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) { p.WriteStart(w, "") }, text("ok"))
		var s sleeps
		resp, deltas, err := call(t, f, &s, 0)
		if err != nil || resp.Text != "ok" || f.hits.Load() != 2 || len(s.got()) != 1 {
			t.Fatalf("resp %+v, err %v after %d requests, waits %v", resp, err, f.hits.Load(), s.got())
		}
		if len(deltas) != 1 || deltas[0].Text != "ok" {
			t.Errorf("deltas %+v", deltas)
		}
	})

	t.Run("ConnectionErrorRetried", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.Close()
			}
		}, text("ok"))
		var s sleeps
		resp, _, err := call(t, f, &s, 0)
		if err != nil || resp.Text != "ok" || f.hits.Load() != 2 || len(s.got()) != 1 {
			t.Fatalf("resp %+v, err %v after %d requests, waits %v", resp, err, f.hits.Load(), s.got())
		}
		// A server that is not there at all: connection errors to the end.
		dead := newFake(t, text("ok"))
		dead.Close()
		_, err = p.New(dead.URL, (&sleeps{}).sleep, 2).Stream(t.Context(), llm.Request{Model: "m"}, nil)
		if e := asError(t, err); e.Type != "connection_error" || e.StatusCode != 0 {
			t.Errorf("no server: %+v", e)
		}
	})

	t.Run("CancelDuringStream", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		defer close(release)
		f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
			p.WriteStart(w, "slow")
			select { // a model that stalls
			case <-r.Context().Done():
			case <-release:
			}
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := p.New(f.URL, (&sleeps{}).sleep, 0).Stream(ctx, llm.Request{Model: "m"}, func(llm.Delta) { cancel() })
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a cancelled call did not return")
		}
		if f.hits.Load() != 1 {
			t.Errorf("%d requests", f.hits.Load())
		}
	})

	t.Run("CancelDuringWait", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, status(503, "api_error", "down", "Retry-After", "30"))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		sleep := func(ctx context.Context, d time.Duration) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}
		_, err := p.New(f.URL, sleep, 0).Stream(ctx, llm.Request{Model: "m"}, nil)
		if !errors.Is(err, context.Canceled) || f.hits.Load() != 1 {
			t.Fatalf("err = %v after %d requests, want context.Canceled after 1", err, f.hits.Load())
		}
	})

	t.Run("CancelledBeforeTheCall", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, text("ok"))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := p.New(f.URL, (&sleeps{}).sleep, 0).Stream(ctx, llm.Request{Model: "m"}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("Text", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, text("Hello, world"))
		resp, deltas, err := call(t, f, &sleeps{}, 0)
		if err != nil || resp.Text != "Hello, world" || f.hits.Load() != 1 {
			t.Fatalf("resp %+v, err %v", resp, err)
		}
		var got strings.Builder
		for _, d := range deltas {
			got.WriteString(d.Text)
		}
		if got.String() != "Hello, world" {
			t.Errorf("deltas say %q", got.String())
		}
	})
}
