package websearch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testKey = "test-key-0123456789"

// The fakes answer as each service documents its API: they check the
// request's wire format (method, path, query, key, body) and reply with a
// response of the documented shape, trimmed to the fields of interest
// plus some of the others.

// braveAnswer is a Brave Search API web search response.
const braveAnswer = `{
  "type": "search",
  "query": {"original": "go generics", "more_results_available": true},
  "mixed": {"type": "mixed", "main": [{"type": "web", "index": 0, "all": false}]},
  "web": {"type": "search", "family_friendly": true, "results": [
    {"type": "search_result", "subtype": "generic", "title": "Tutorial: Getting started with generics",
     "url": "https://go.dev/doc/tutorial/generics", "is_source_local": false,
     "description": "In this tutorial, you&#x27;ll get a brief\n introduction to <strong>generics</strong> in Go.",
     "profile": {"name": "Go", "url": "https://go.dev/doc/tutorial/generics", "long_name": "go.dev"},
     "meta_url": {"scheme": "https", "netloc": "go.dev", "hostname": "go.dev", "path": "› doc › tutorial › generics"},
     "language": "en", "family_friendly": true},
    {"type": "search_result", "title": "An Introduction To Generics", "url": "https://go.dev/blog/intro-generics",
     "description": "Go 1.18 adds generics &amp; more.", "language": "en"},
    {"type": "search_result", "title": "No link", "url": "", "description": "dropped"}
  ]}
}`

var braveWant = []Result{
	{Title: "Tutorial: Getting started with generics", URL: "https://go.dev/doc/tutorial/generics",
		Snippet: "In this tutorial, you'll get a brief introduction to generics in Go."},
	{Title: "An Introduction To Generics", URL: "https://go.dev/blog/intro-generics", Snippet: "Go 1.18 adds generics & more."},
}

// braveError is the Brave Search API's error response.
func braveError(status int, code, detail string) string {
	b, _ := json.Marshal(map[string]any{"type": "ErrorResponse", "time": 1700000000,
		"error": map[string]any{"id": "2bd5c8d1", "status": status, "code": code, "detail": detail, "meta": map[string]any{"component": "authentication"}}})
	return string(b)
}

// searxngAnswer is a SearXNG instance's format=json response.
const searxngAnswer = `{
  "query": "go generics", "number_of_results": 0,
  "results": [
    {"url": "https://go.dev/doc/tutorial/generics", "title": "Tutorial: Getting started with generics",
     "content": "This tutorial introduces the basics of generics in Go.", "publishedDate": null, "thumbnail": "",
     "engine": "duckduckgo", "template": "default.html", "parsed_url": ["https", "go.dev", "/doc/tutorial/generics", "", "", ""],
     "engines": ["duckduckgo", "google"], "positions": [1, 2], "score": 3.0, "category": "general"},
    {"url": "https://go.dev/blog/intro-generics", "title": "An Introduction To Generics",
     "content": "Go 1.18 adds generics.", "engine": "google", "engines": ["google"], "positions": [2], "score": 1.5, "category": "general"},
    {"url": "javascript:alert(1)", "title": "Dropped", "content": "not a web page", "engine": "x"}
  ],
  "answers": [], "corrections": [], "infoboxes": [], "suggestions": ["go generics tutorial"],
  "unresponsive_engines": [["bing", "timeout"]]
}`

var searxngWant = []Result{
	{Title: "Tutorial: Getting started with generics", URL: "https://go.dev/doc/tutorial/generics", Snippet: "This tutorial introduces the basics of generics in Go."},
	{Title: "An Introduction To Generics", URL: "https://go.dev/blog/intro-generics", Snippet: "Go 1.18 adds generics."},
}

// tavilyAnswer is Tavily's search response.
const tavilyAnswer = `{
  "query": "go generics", "follow_up_questions": null, "answer": null, "images": [],
  "results": [
    {"title": "Tutorial: Getting started with generics", "url": "https://go.dev/doc/tutorial/generics",
     "content": "This tutorial introduces the basics of generics in Go.", "score": 0.91, "raw_content": null},
    {"title": "An Introduction To Generics", "url": "https://go.dev/blog/intro-generics",
     "content": "Go 1.18 adds generics.", "score": 0.83, "raw_content": null}
  ],
  "response_time": 1.09, "request_id": "123e4567-e89b-12d3-a456-426614174111"
}`

// kind is one backend under test: how to make it and what its service
// expects and answers.
type kind struct {
	name  string
	keyed bool // it sends testKey
	make  func(base string) (Backend, error)
	// check fails t unless r is the service's search request for query
	// and n (its API key included).
	check func(t *testing.T, r *http.Request, query string, n int)
	// answer is a successful response, want its results.
	answer string
	want   []Result
	// errBody is the service's error response saying detail.
	errBody func(status int, detail string) string
}

var kinds = []kind{
	{
		name: "searxng",
		make: func(base string) (Backend, error) { return NewSearXNG(base+"/searx/", nil) },
		check: func(t *testing.T, r *http.Request, query string, n int) {
			t.Helper()
			q := r.URL.Query()
			if r.Method != "GET" || r.URL.Path != "/searx/search" || q.Get("q") != query || q.Get("format") != "json" {
				t.Errorf("searxng request %s %s", r.Method, r.URL)
			}
		},
		answer: searxngAnswer, want: searxngWant,
		errBody: func(status int, detail string) string { return "<html><body><h1>" + detail + "</h1></body></html>" },
	},
	{
		name: "brave", keyed: true,
		make: func(base string) (Backend, error) { return NewBrave(base, StaticKey(testKey), nil) },
		check: func(t *testing.T, r *http.Request, query string, n int) {
			t.Helper()
			q := r.URL.Query()
			if r.Method != "GET" || r.URL.Path != "/res/v1/web/search" || q.Get("q") != query || q.Get("count") != itoa(n) {
				t.Errorf("brave request %s %s", r.Method, r.URL)
			}
			if got := r.Header.Get("X-Subscription-Token"); got != testKey {
				t.Errorf("brave X-Subscription-Token %q", got)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("brave Accept %q", got)
			}
		},
		answer: braveAnswer, want: braveWant,
		errBody: func(status int, detail string) string { return braveError(status, "SOME_CODE", detail) },
	},
	{
		name: "tavily", keyed: true,
		make: func(base string) (Backend, error) { return NewTavily(base, StaticKey(testKey), nil) },
		check: func(t *testing.T, r *http.Request, query string, n int) {
			t.Helper()
			if r.Method != "POST" || r.URL.Path != "/search" || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("tavily request %s %s (%s)", r.Method, r.URL, r.Header.Get("Content-Type"))
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
				t.Errorf("tavily Authorization %q", got)
			}
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				t.Errorf("tavily body: %v", err)
			}
			if body["query"] != query || body["max_results"] != float64(n) || len(body) != 2 {
				t.Errorf("tavily body %v", body)
			}
		},
		answer: tavilyAnswer, want: searxngWant,
		errBody: func(status int, detail string) string {
			b, _ := json.Marshal(map[string]any{"detail": map[string]any{"error": detail}})
			return string(b)
		},
	},
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// fake is a service that checks each request with k.check and answers
// with reply.
func fake(t *testing.T, k kind, query string, n int, reply http.HandlerFunc) (Backend, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		k.check(t, r, query, n)
		reply(w, r)
	}))
	t.Cleanup(srv.Close)
	b, err := k.make(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return b, &hits
}

func writeJSON(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// Every backend: its request in its service's wire format, its results
// cleaned (entities, markup, new lines; results without an http(s) URL
// left out) and cut to n, and its failures as *Error saying why: an HTTP
// status with the service's own message, a rate limit with its
// Retry-After, no answer in time, an answer that is not its JSON, a
// redirect (not followed), and never the key.
func TestBackends(t *testing.T) {
	t.Parallel()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			t.Run("results", func(t *testing.T) {
				b, _ := fake(t, k, "go generics & more", 5, writeJSON(200, k.answer))
				got, err := b.Search(ctx, "go generics & more", 5)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(k.want, got); d != "" {
					t.Errorf("results (-want +got):\n%s", d)
				}
				b, _ = fake(t, k, "go", 1, writeJSON(200, k.answer))
				if got, err := b.Search(ctx, "go", 1); err != nil || len(got) != 1 || got[0] != k.want[0] {
					t.Errorf("n=1: %v %v", got, err)
				}
			})
			t.Run("no results", func(t *testing.T) {
				b, _ := fake(t, k, "zzz", 5, writeJSON(200, `{"results": [], "web": {"results": []}}`))
				if got, err := b.Search(ctx, "zzz", 5); err != nil || len(got) != 0 {
					t.Errorf("%v %v", got, err)
				}
			})
			failures := []struct {
				name  string
				reply http.HandlerFunc
				check func(t *testing.T, e *Error)
			}{
				{"rate limited", func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Retry-After", "7")
					writeJSON(429, k.errBody(429, "Request rate limit exceeded for plan."))(w, r)
				}, func(t *testing.T, e *Error) {
					if !e.RateLimited() || e.RetryAfter != 7*time.Second ||
						!strings.Contains(e.Error(), "rate limited (HTTP 429 Too Many Requests); retry after 7s") {
						t.Errorf("%+v: %v", e, e)
					}
				}},
				{"server error", writeJSON(502, k.errBody(502, "upstream\nunavailable")), func(t *testing.T, e *Error) {
					if e.Status != 502 || !strings.Contains(e.Error(), "HTTP 502 Bad Gateway: ") || !strings.Contains(e.Error(), "upstream unavailable") {
						t.Errorf("%+v: %v", e, e)
					}
				}},
				{"refused key", writeJSON(401, k.errBody(401, "The provided subscription token "+testKey+" is invalid.")), func(t *testing.T, e *Error) {
					if e.Status != 401 || !strings.Contains(e.Error(), "The provided subscription token [REDACTED] is invalid.") || strings.Contains(e.Error(), testKey) {
						t.Errorf("%+v: %v", e, e)
					}
				}},
				{"not JSON", func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/html")
					io.WriteString(w, "<html>hello</html>")
				}, func(t *testing.T, e *Error) {
					if !strings.Contains(e.Error(), "its answer (text/html) is not the JSON expected") {
						t.Errorf("%v", e)
					}
				}},
			}
			for _, f := range failures {
				if f.name == "refused key" && !k.keyed {
					continue
				}
				t.Run(f.name, func(t *testing.T) {
					b, _ := fake(t, k, "q", 3, f.reply)
					_, err := b.Search(ctx, "q", 3)
					var e *Error
					if !errors.As(err, &e) || e.Backend != k.name {
						t.Fatalf("error %v (%T)", err, err)
					}
					f.check(t, e)
				})
			}
			t.Run("redirect not followed", func(t *testing.T) {
				var elsewhere atomic.Int64
				other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
				defer other.Close()
				b, _ := fake(t, k, "q", 3, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
				})
				_, err := b.Search(ctx, "q", 3)
				if err == nil || !strings.Contains(err.Error(), "redirected to "+other.URL+"/steal, which is not followed") || elsewhere.Load() != 0 {
					t.Errorf("%v; %d requests elsewhere", err, elsewhere.Load())
				}
			})
			t.Run("timeout", func(t *testing.T) {
				b, _ := fake(t, k, "q", 3, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
				s := New([]Backend{b}, Options{Timeout: 50 * time.Millisecond})
				_, err := s.Search(ctx, "q", 3)
				if err == nil || err.Error() != "web search failed: "+k.name+": no answer within 50ms" {
					t.Errorf("%v", err)
				}
			})
		})
	}
}

// SearXNG answers 403 when its json format is off (the operator's
// settings.yml), and an empty page when its engines failed: the first says
// what to change, the second is a failure (another backend may answer).
func TestSearXNGFailures(t *testing.T) {
	t.Parallel()
	k := kinds[0]
	b, _ := fake(t, k, "q", 5, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Forbidden", http.StatusForbidden)
	})
	if _, err := b.Search(context.Background(), "q", 5); err == nil ||
		err.Error() != "searxng: HTTP 403 Forbidden: Forbidden (is json listed in the instance's settings.yml search.formats?)" {
		t.Errorf("403: %v", err)
	}
	b, _ = fake(t, k, "q", 5, writeJSON(200, `{"query": "q", "results": [], "unresponsive_engines": [["google", "timeout"], ["bing", "CAPTCHA"]]}`))
	if _, err := b.Search(context.Background(), "q", 5); err == nil ||
		err.Error() != "searxng: no results: its engines did not answer (google: timeout, bing: CAPTCHA)" {
		t.Errorf("engines failed: %v", err)
	}
}

// A key that is read at each request (from the vault) is read again each
// time, and a key that cannot be read fails the search without a request.
func TestKeyFunc(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("X-Subscription-Token"))
		mu.Unlock()
		writeJSON(200, braveAnswer)(w, r)
	}))
	defer srv.Close()
	n := 0
	b, err := NewBrave(srv.URL, func(context.Context) (string, error) {
		n++
		if n == 3 {
			return "", errors.New("secret sec_X does not exist")
		}
		return "key-" + itoa(n), nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := b.Search(context.Background(), "q", 1); err != nil {
			t.Fatal(err)
		}
	}
	_, err = b.Search(context.Background(), "q", 1)
	if err == nil || err.Error() != "brave: its API key cannot be read: secret sec_X does not exist" {
		t.Errorf("%v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if d := cmp.Diff([]string{"key-1", "key-2"}, keys); d != "" {
		t.Errorf("keys sent (-want +got):\n%s", d)
	}
}

// stub is a backend that answers what it is told.
type stub struct {
	name  string
	res   []Result
	err   error
	calls int
}

func (s *stub) Name() string { return s.name }
func (s *stub) Search(ctx context.Context, query string, n int) ([]Result, error) {
	s.calls++
	return s.res, s.err
}

// The Searcher tries its backends in order until one answers (an empty
// answer is an answer); when all fail it says why for each, and whether
// they were all rate limited.
func TestSearcherOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := []Result{{Title: "a", URL: "https://a.example"}, {Title: "b", URL: "https://b.example"}}
	down := &stub{name: "searxng", err: &Error{Backend: "searxng", Status: 503}}
	limited := &stub{name: "brave", err: &Error{Backend: "brave", Status: 429, RetryAfter: time.Second}}
	ok := &stub{name: "tavily", res: r}
	s := New([]Backend{down, limited, ok}, Options{})
	if d := cmp.Diff([]string{"searxng", "brave", "tavily"}, s.Backends()); d != "" {
		t.Error(d)
	}
	got, err := s.Search(ctx, "q", 1)
	if err != nil || len(got) != 1 || got[0] != r[0] || down.calls != 1 || limited.calls != 1 || ok.calls != 1 {
		t.Fatalf("%v %v; calls %d %d %d", got, err, down.calls, limited.calls, ok.calls)
	}

	empty := &stub{name: "searxng"}
	if got, err := New([]Backend{empty, ok}, Options{}).Search(ctx, "q", 5); err != nil || len(got) != 0 || ok.calls != 1 {
		t.Errorf("an empty answer: %v %v, next called %d times", got, err, ok.calls-1)
	}

	_, err = New([]Backend{down, limited}, Options{}).Search(ctx, "q", 5)
	var f *Failed
	if !errors.As(err, &f) || f.RateLimited() ||
		err.Error() != "web search failed at every backend: searxng: HTTP 503 Service Unavailable; brave: rate limited (HTTP 429 Too Many Requests); retry after 1s" {
		t.Errorf("%v", err)
	}
	_, err = New([]Backend{limited}, Options{}).Search(ctx, "q", 5)
	if !errors.As(err, &f) || !f.RateLimited() {
		t.Errorf("only rate limited: %v", err)
	}

	// A search whose run ends is not a backend's failure.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := New([]Backend{down, ok}, Options{}).Search(cctx, "q", 5); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"": 0, "12": 12 * time.Second, "-1": 0, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("%q: %v, want %v", h, got, want)
		}
	}
}

func TestBaseURLs(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "searxng:8080", "ftp://x", "http://"} {
		if _, err := NewSearXNG(bad, nil); err == nil {
			t.Errorf("searxng %q accepted", bad)
		}
	}
	if _, err := NewBrave("", nil, nil); err == nil {
		t.Error("brave without a key accepted")
	}
	if b, err := NewBrave("", StaticKey("k"), nil); err != nil || b.base != DefaultBraveURL {
		t.Errorf("brave default: %v %v", b, err)
	}
	if b, err := NewTavily("", StaticKey("k"), nil); err != nil || b.base != DefaultTavilyURL {
		t.Errorf("tavily default: %v %v", b, err)
	}
}
