// Package transport is the HTTP plumbing shared by the llm providers: it
// posts a streaming request, reads the server-sent events of the answer and
// retries failures that happened before any output reached the caller.
package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/llm"
)

// Defaults of a Client.
const (
	DefaultMaxAttempts = 4
	// MaxRetryAfter is the longest Retry-After the client waits for; a server
	// asking for more gets its error returned at once.
	MaxRetryAfter = 60 * time.Second

	baseDelay = 500 * time.Millisecond
	maxDelay  = 8 * time.Second
)

// Error types produced here rather than by a provider.
const (
	TypeStreamBroken    = "stream_broken"
	TypeConnection      = "connection_error"
	TypeInvalidResponse = "invalid_response" // an event a Decoder cannot parse
)

// Decoder turns the events of one streamed response into deltas and a
// Response. A new Decoder is used for every attempt.
type Decoder interface {
	// Event handles one event, passing visible output to emit. It reports
	// done once the stream's terminal event has arrived. An error that is an
	// *llm.Error of a retryable Type may be retried.
	Event(ev Event, emit func(llm.Delta)) (done bool, err error)
	// Response returns the accumulated response once Event reported done.
	Response() *llm.Response
}

// Client streams requests for one provider.
type Client struct {
	Provider    string       // name used in errors
	HTTP        *http.Client // nil means http.DefaultClient
	MaxAttempts int          // attempts per call; < 1 means DefaultMaxAttempts
	// Sleep waits between attempts; nil means a timer. It must return
	// ctx.Err() when ctx ends first.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Stream posts body to url and decodes the event stream of the answer with a
// fresh Decoder from newDecoder, passing deltas to onDelta (which may be nil).
// Failures are retried with exponential backoff while nothing has been
// passed to onDelta yet. Errors are *llm.Error, or wrap ctx.Err() once ctx
// has ended.
func (c *Client) Stream(ctx context.Context, url string, header http.Header, body []byte, newDecoder func() Decoder, onDelta func(llm.Delta)) (*llm.Response, error) {
	attempts := c.MaxAttempts
	if attempts < 1 {
		attempts = DefaultMaxAttempts
	}
	for attempt := 1; ; attempt++ {
		delivered := false
		emit := func(d llm.Delta) {
			if d.Text == "" && d.Reasoning == "" {
				return
			}
			delivered = true
			if onDelta != nil {
				onDelta(d)
			}
		}
		resp, f := c.once(ctx, url, header, body, newDecoder(), emit)
		if f == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", c.Provider, ctx.Err())
		}
		if delivered || !f.retry || attempt >= attempts {
			return nil, f.err
		}
		wait := f.after
		if !f.hasAfter {
			wait = backoff(attempt)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Provider, err)
		}
	}
}

// failure is a failed attempt.
type failure struct {
	err      error
	retry    bool
	after    time.Duration // server-requested wait, when hasAfter
	hasAfter bool
}

func (c *Client) once(ctx context.Context, url string, header http.Header, body []byte, dec Decoder, emit func(llm.Delta)) (*llm.Response, *failure) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, &failure{err: fmt.Errorf("%s: %w", c.Provider, err)}
	}
	req.Header = header.Clone()
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &failure{err: c.errorf(TypeConnection, "%v", err), retry: true}
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusFailure(resp)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// Some servers answer a streaming request with a plain JSON body,
		// typically an error.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := ParseError(resp.StatusCode, b)
		e.Provider = c.Provider
		return nil, &failure{err: e}
	}

	sse := newSSEReader(resp.Body)
	for {
		ev, err := sse.next()
		if err != nil {
			if err == io.EOF {
				return nil, &failure{err: c.errorf(TypeStreamBroken, "stream ended before its terminal event"), retry: true}
			}
			return nil, &failure{err: c.errorf(TypeStreamBroken, "stream cut: %v", err), retry: true}
		}
		done, err := dec.Event(ev, emit)
		if err != nil {
			var e *llm.Error
			if !errors.As(err, &e) {
				return nil, &failure{err: fmt.Errorf("%s: %w", c.Provider, err)}
			}
			if e.Provider == "" {
				e.Provider = c.Provider
			}
			return nil, &failure{err: e, retry: (&llm.Error{Type: e.Type}).Transient()}
		}
		if done {
			return dec.Response(), nil
		}
	}
}

func (c *Client) statusFailure(resp *http.Response) *failure {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := ParseError(resp.StatusCode, b)
	e.Provider = c.Provider
	f := &failure{err: e, retry: retryableStatus(resp.StatusCode)}
	switch resp.Header.Get("X-Should-Retry") {
	case "true":
		f.retry = true
	case "false":
		f.retry = false
	}
	f.after, f.hasAfter = RetryAfter(resp.Header, time.Now())
	if f.hasAfter && f.after > MaxRetryAfter {
		f.retry = false
	}
	return f
}

func (c *Client) errorf(typ, format string, args ...any) *llm.Error {
	return &llm.Error{Provider: c.Provider, Type: typ, Message: fmt.Sprintf(format, args...)}
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff is the wait before attempt+1: exponential from baseDelay, capped
// at maxDelay, minus up to 25% jitter.
func backoff(attempt int) time.Duration {
	d := maxDelay
	if attempt < 6 {
		d = min(baseDelay<<(attempt-1), maxDelay)
	}
	return time.Duration(float64(d) * (1 - 0.25*rand.Float64()))
}

func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusConflict ||
		code == http.StatusTooManyRequests || code >= 500
}

// RetryAfter returns the wait a response asks for in its retry-after-ms or
// Retry-After header (delay-seconds or an HTTP date relative to now), and
// whether it asked at all.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	const day = 24 * time.Hour
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms >= 0 {
		return time.Duration(min(ms, float64(day/time.Millisecond)) * float64(time.Millisecond)), true
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if !(s >= 0) {
			return 0, false
		}
		return time.Duration(min(s, float64(day/time.Second)) * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
