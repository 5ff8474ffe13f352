package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/tools"
	"github.com/hermhq/herm/internal/websearch"
)

// searchStub answers web_search's searches and records them.
type searchStub struct {
	res     []websearch.Result
	err     error
	queries []string
	ns      []int
}

func (s *searchStub) Search(ctx context.Context, query string, n int) ([]websearch.Result, error) {
	s.queries = append(s.queries, query)
	s.ns = append(s.ns, n)
	if s.err != nil {
		return nil, s.err
	}
	return s.res[:min(n, len(s.res))], nil
}

func callSearch(t *testing.T, s Searcher, d *herm.Deployment, args string) (tools.Result, error) {
	t.Helper()
	return NewWebSearch(s).Call(context.Background(), tools.Call{ID: "call_1", Deployment: d}, json.RawMessage(args))
}

func openDeployment() *herm.Deployment {
	return &herm.Deployment{ID: "dep_test", Sandbox: herm.Sandbox{Network: herm.Network{Egress: herm.EgressOpen}}}
}

// web_search returns numbered results (title, URL, snippet), 5 unless
// max_results says otherwise (1 to 10); a search without results says so
// and is no error.
func TestWebSearch(t *testing.T) {
	t.Parallel()
	s := &searchStub{res: []websearch.Result{
		{Title: "Tutorial: Getting started with generics", URL: "https://go.dev/doc/tutorial/generics", Snippet: "This tutorial introduces the basics of generics in Go."},
		{Title: "An Introduction To Generics", URL: "https://go.dev/blog/intro-generics"},
		{Title: "c", URL: "https://c.example", Snippet: "c"},
	}}
	r, err := callSearch(t, s, openDeployment(), `{"query": "  go generics "}`)
	if err != nil || r.IsError {
		t.Fatalf("%+v %v", r, err)
	}
	want := `1. Tutorial: Getting started with generics
   https://go.dev/doc/tutorial/generics
   This tutorial introduces the basics of generics in Go.

2. An Introduction To Generics
   https://go.dev/blog/intro-generics

3. c
   https://c.example
   c`
	if r.Content != want {
		t.Errorf("content:\n%s\nwant:\n%s", r.Content, want)
	}
	if s.queries[0] != "go generics" || s.ns[0] != DefaultSearchResults {
		t.Errorf("searched %q for %d", s.queries[0], s.ns[0])
	}
	if r, _ := callSearch(t, s, openDeployment(), `{"query": "go", "max_results": 1}`); r.IsError || strings.Count(r.Content, "https://") != 1 || s.ns[1] != 1 {
		t.Errorf("max_results 1: %+v (n %d)", r, s.ns[1])
	}
	if r, _ := callSearch(t, &searchStub{}, openDeployment(), `{"query": "zzqx"}`); r.IsError || r.Content != `No results for "zzqx".` {
		t.Errorf("no results: %+v", r)
	}
	for args, msg := range map[string]string{
		`{}`:                                             "query is required",
		`{"query": " "}`:                                 "query is required",
		`{"query": "x", "max_results": 11}`:              "max_results must be between 1 and 10 (got 11)",
		`{"query": "x", "max_results": -1}`:              "max_results must be between 1 and 10 (got -1)",
		`{"query": "x", "max_results": "two"}`:           `field "max_results" must be an integer, not string`,
		`{"query": "` + strings.Repeat("q", 1001) + `"}`: "query is longer than 1000 bytes",
	} {
		r, err := callSearch(t, s, openDeployment(), args)
		if err != nil || !r.IsError || !strings.Contains(r.Content, msg) {
			t.Errorf("%.40s: %+v %v, want an error result saying %q", args, r, err, msg)
		}
	}
	if len(s.queries) != 2 {
		t.Errorf("%d searches, want 2 (refused arguments search nothing)", len(s.queries))
	}
}

// A failed search is an error result saying why (a rate limit too, with
// advice); a search whose run ends is the context's error.
func TestWebSearchFailures(t *testing.T) {
	t.Parallel()
	failed := &websearch.Failed{Errs: []error{&websearch.Error{Backend: "brave", Status: 500, Msg: "boom"}}}
	r, err := callSearch(t, &searchStub{err: failed}, openDeployment(), `{"query": "q"}`)
	if err != nil || !r.IsError || r.Content != "web search failed: brave: HTTP 500 Internal Server Error: boom" {
		t.Errorf("%+v %v", r, err)
	}
	limited := &websearch.Failed{Errs: []error{&websearch.Error{Backend: "brave", Status: 429, RetryAfter: 2 * time.Second}}}
	r, err = callSearch(t, &searchStub{err: limited}, openDeployment(), `{"query": "q"}`)
	if err != nil || !r.IsError || !strings.HasPrefix(r.Content, "web search failed: brave: rate limited (HTTP 429 Too Many Requests); retry after 2s\n") ||
		!strings.Contains(r.Content, "rate limiting") {
		t.Errorf("%+v %v", r, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = NewWebSearch(&searchStub{err: context.Canceled}).Call(ctx, tools.Call{Deployment: openDeployment()}, json.RawMessage(`{"query":"q"}`))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// The deployment's egress policy: none refuses (as web_fetch does);
// proxy searches through the operator's backend whatever allowed_hosts
// say (here a SearXNG on loopback, which allowed_hosts do not list), and
// the results are not filtered by them.
func TestWebSearchEgress(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"query": "q", "results": [{"url": "https://elsewhere.example/a", "title": "A", "content": "a"}], "unresponsive_engines": []}`)
	}))
	defer srv.Close()
	b, err := websearch.NewSearXNG(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := websearch.New([]websearch.Backend{b}, websearch.Options{})

	none := &herm.Deployment{Sandbox: herm.Sandbox{Network: herm.Network{Egress: herm.EgressNone}}}
	stub := &searchStub{}
	r, err := callSearch(t, stub, none, `{"query": "q"}`)
	if err != nil || !r.IsError || r.Content != `web search is refused: the deployment's egress policy (sandbox.network.egress "none") allows no outbound access` || len(stub.queries) != 0 {
		t.Errorf("none: %+v %v (%d searches)", r, err, len(stub.queries))
	}
	for _, n := range []herm.Network{
		{Egress: herm.EgressProxy, AllowedHosts: []string{"example.com"}},
		{Egress: herm.EgressProxy},
		{Egress: herm.EgressOpen},
	} {
		d := &herm.Deployment{Sandbox: herm.Sandbox{Network: n}}
		r, err := callSearch(t, s, d, `{"query": "q"}`)
		if err != nil || r.IsError || r.Content != "1. A\n   https://elsewhere.example/a\n   a" {
			t.Errorf("%+v: %+v %v", n, r, err)
		}
	}
}
