// Package websearch asks the search engines an operator configured for web
// results: SearXNG (self-hosted, no key), the Brave Search API and Tavily,
// each a Backend speaking its documented wire format, and a Searcher that
// tries them in order. The web_search tool (tools/builtin) calls a Searcher.
//
// Backends are the operator's: their requests do not go through a
// deployment's egress policy or the private-network rule (a SearXNG usually
// runs on a private network), only through the client the operator's wiring
// gives them. Redirects are never followed, so that an API key sent in a
// header cannot follow one elsewhere.
package websearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Result is one search result.
type Result struct {
	Title   string
	URL     string
	Snippet string
}

// Backend is one search engine.
type Backend interface {
	// Name names the backend in messages and logs: "searxng", "brave",
	// "tavily".
	Name() string
	// Search returns at most n results for query. Its errors are *Error
	// (or the context's error when ctx is done).
	Search(ctx context.Context, query string, n int) ([]Result, error)
}

// KeyFunc returns a backend's API key at the time of a request (a key in
// the vault may be rotated while the server runs).
type KeyFunc func(ctx context.Context) (string, error)

// StaticKey is a KeyFunc for a key that does not change.
func StaticKey(key string) KeyFunc {
	return func(context.Context) (string, error) { return key, nil }
}

// Error is a failed search at one backend; its message is for the model
// and the operator (it never holds the API key).
type Error struct {
	Backend string
	// Status is the backend's HTTP status (0: no answer).
	Status int
	// RetryAfter is the backend's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Timeout: the backend did not answer in time.
	Timeout bool
	// Msg says what went wrong.
	Msg string
}

// RateLimited reports an HTTP 429 answer.
func (e *Error) RateLimited() bool { return e.Status == http.StatusTooManyRequests }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Backend + ": ")
	switch {
	case e.RateLimited():
		b.WriteString("rate limited (HTTP 429 Too Many Requests)")
		if e.RetryAfter > 0 {
			fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
		}
		if e.Msg != "" {
			b.WriteString(": " + e.Msg)
		}
	case e.Status != 0:
		fmt.Fprintf(&b, "HTTP %d %s", e.Status, http.StatusText(e.Status))
		if e.Msg != "" {
			b.WriteString(": " + e.Msg)
		}
	default:
		b.WriteString(e.Msg)
	}
	return b.String()
}

// Defaults of Options.
const (
	DefaultTimeout = 20 * time.Second
	// maxResponseBytes bounds a backend's answer.
	maxResponseBytes = 4 << 20
	// maxSnippet is the most characters of a result's snippet kept.
	maxSnippet = 600
	userAgent  = "herm-web_search/1.0"
)

// Options configure a Searcher. The zero value means defaults.
type Options struct {
	// Timeout bounds each backend's search (default 20 s).
	Timeout time.Duration
	// Logger gets a warning for each backend that fails (default: none).
	Logger *slog.Logger
}

// Searcher searches its backends in order: the first that answers gives
// the results, and a backend that fails (no answer in time, an HTTP error,
// a rate limit, an answer it cannot read) passes the search to the next.
type Searcher struct {
	backends []Backend
	opts     Options
}

// New returns a Searcher of backends, tried in this order.
func New(backends []Backend, opts Options) *Searcher {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Searcher{backends: backends, opts: opts}
}

// Backends returns the names of the backends, in order.
func (s *Searcher) Backends() []string {
	out := make([]string, len(s.backends))
	for i, b := range s.backends {
		out[i] = b.Name()
	}
	return out
}

// Search returns at most n results for query from the first backend that
// answers. When every backend fails, the error is a *Failed listing why;
// when ctx is done, ctx's error.
func (s *Searcher) Search(ctx context.Context, query string, n int) ([]Result, error) {
	var errs []error
	for _, b := range s.backends {
		bctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		res, err := b.Search(bctx, query, n)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err == nil {
			if len(res) > n {
				res = res[:n]
			}
			return res, nil
		}
		var be *Error
		if !errors.As(err, &be) {
			be = &Error{Backend: b.Name(), Msg: err.Error()}
		}
		if be.Timeout && be.Msg == "" {
			be.Msg = fmt.Sprintf("no answer within %s", s.opts.Timeout)
		}
		s.opts.Logger.Warn("web search backend failed", "backend", b.Name(), "err", be.Error())
		errs = append(errs, be)
	}
	return nil, &Failed{Errs: errs}
}

// Failed is a search that every backend failed.
type Failed struct {
	Errs []error // one *Error per backend, in order
}

// RateLimited reports whether every backend that failed was rate limited.
func (f *Failed) RateLimited() bool {
	for _, err := range f.Errs {
		var e *Error
		if !errors.As(err, &e) || !e.RateLimited() {
			return false
		}
	}
	return len(f.Errs) > 0
}

func (f *Failed) Error() string {
	msgs := make([]string, len(f.Errs))
	for i, err := range f.Errs {
		msgs[i] = err.Error()
	}
	if len(msgs) == 1 {
		return "web search failed: " + msgs[0]
	}
	return "web search failed at every backend: " + strings.Join(msgs, "; ")
}

// noRedirects returns a copy of c (default: a client of
// http.DefaultTransport) that does not follow redirects: a key in a header
// must not go where a redirect points.
func noRedirects(c *http.Client) *http.Client {
	cp := http.Client{}
	if c != nil {
		cp = *c
	}
	cp.Jar = nil
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// endpoint joins base (a URL, possibly with a path prefix) and path.
func endpoint(base, path string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// ParseBaseURL checks a backend's base URL setting.
func ParseBaseURL(base string) (*url.URL, error) { return endpoint(base, "") }

// roundTrip sends req and decodes a 2xx JSON answer into v; any other
// outcome is an *Error of backend, with key (if any) kept out of its
// message. hint adds to the message of an HTTP error status.
func roundTrip(ctx context.Context, client *http.Client, backend string, req *http.Request, key string, v any, hint func(status int) string) error {
	req = req.WithContext(ctx)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		return transportErr(ctx, backend, key, "no answer", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return transportErr(ctx, backend, key, "reading its answer failed", err)
	}
	switch {
	case resp.StatusCode/100 == 3:
		return &Error{Backend: backend, Status: resp.StatusCode,
			Msg: redact(fmt.Sprintf("redirected to %s, which is not followed (set the backend's URL to where it redirects)", resp.Header.Get("Location")), key)}
	case resp.StatusCode/100 != 2:
		e := &Error{Backend: backend, Status: resp.StatusCode, Msg: errorDetail(body)}
		if resp.StatusCode == http.StatusTooManyRequests {
			e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
		if hint != nil {
			if h := hint(resp.StatusCode); h != "" {
				e.Msg = strings.TrimPrefix(e.Msg+" ("+h+")", " ")
			}
		}
		e.Msg = redact(e.Msg, key)
		return e
	case len(body) > maxResponseBytes:
		return &Error{Backend: backend, Msg: fmt.Sprintf("its answer is larger than %d bytes", maxResponseBytes)}
	}
	if err := json.Unmarshal(body, v); err != nil {
		what := "its answer"
		if mt := resp.Header.Get("Content-Type"); mt != "" {
			what += " (" + mt + ")"
		}
		return &Error{Backend: backend, Msg: redact(fmt.Sprintf("%s is not the JSON expected: %v", what, err), key)}
	}
	return nil
}

// transportErr is a request that got no (whole) answer: the backend's
// timeout, the context's end (the run's), or why, after what.
func transportErr(ctx context.Context, backend, key, what string, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &Error{Backend: backend, Timeout: true}
		}
		return ctx.Err()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Backend: backend, Timeout: true}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &Error{Backend: backend, Msg: redact(what+": "+err.Error(), key)}
}

// errorDetail is what an error answer says: the message of the JSON error
// shapes the backends use, else a short excerpt of the text.
func errorDetail(body []byte) string {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		// Brave: {"error": {"detail": ..., "code": ...}}; Tavily:
		// {"detail": {"error": ...}}; others: {"error": "..."},
		// {"message": "..."}, {"detail": "..."}.
		for _, path := range [][]string{{"error", "detail"}, {"detail", "error"}, {"error", "message"}, {"error"}, {"detail"}, {"message"}} {
			if s, ok := dig(m, path...).(string); ok && strings.TrimSpace(s) != "" {
				return clip(oneLine(s), 300)
			}
		}
	}
	text := string(body)
	if strings.Contains(text, "</") {
		text = reTag.ReplaceAllString(text, " ") // an HTML error page
	}
	return clip(oneLine(text), 300)
}

var reTag = regexp.MustCompile(`<[^>]*>`)

func dig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// retryAfter decodes a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

// keyHint is the hint of the backends with a key for statuses that refuse
// it.
func keyHint(status int) string {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return "is its API key valid?"
	}
	return ""
}

func redact(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[REDACTED]")
}

// oneLine collapses runs of white space (new lines included) into one
// space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// clip cuts s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n])) + "…"
}

// result cleans one result's fields for the model; ok is false for a
// result without an http(s) URL.
func result(title, link, snippet string) (Result, bool) {
	link = strings.TrimSpace(link)
	if u, err := url.Parse(link); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Result{}, false
	}
	title = clip(oneLine(strings.ToValidUTF8(title, "\uFFFD")), 200)
	if title == "" {
		title = link
	}
	return Result{Title: title, URL: oneLine(link), Snippet: clip(oneLine(strings.ToValidUTF8(snippet, "\uFFFD")), maxSnippet)}, true
}
