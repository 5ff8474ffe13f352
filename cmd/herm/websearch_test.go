package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

// braveFake is a Brave Search API that answers one result per search and
// records the keys it was sent; a search for "busy" is rate limited.
type braveFake struct {
	*httptest.Server
	mu   sync.Mutex
	keys []string
}

func newBraveFake(t *testing.T) *braveFake {
	t.Helper()
	f := &braveFake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.keys = append(f.keys, r.Header.Get("X-Subscription-Token"))
		f.mu.Unlock()
		q := r.URL.Query()
		if r.URL.Path != "/res/v1/web/search" || q.Get("q") == "" || q.Get("count") == "" {
			t.Errorf("brave request %s", r.URL)
		}
		w.Header().Set("Content-Type", "application/json")
		if q.Get("q") == "busy" {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"type":"ErrorResponse","error":{"id":"x","status":429,"code":"RATE_LIMITED","detail":"Request rate limit exceeded for plan.","meta":{"plan":"Free","rate_limit":1}},"time":1}`)
			return
		}
		io.WriteString(w, `{"type":"search","query":{"original":"`+q.Get("q")+`"},"web":{"type":"search","results":[
			{"title":"Tutorial: Getting started with generics","url":"https://go.dev/doc/tutorial/generics",
			 "description":"This tutorial introduces the basics of <strong>generics</strong> in Go.","language":"en"}]}}`)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *braveFake) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.keys)
}

// web_search end to end: with a SearXNG that fails (429) and a Brave
// backend configured, in that order, the model calls web_search and gets
// Brave's results; the backends are on loopback, which the private-network
// rule would refuse for web_fetch, and the deployment's egress policy is
// proxy with no allowed hosts, which would refuse every fetch: searching
// is the operator's backend, exempt from both. The Tools API lists the
// tool; with egress none it refuses; a rate limit says so.
func TestWebSearchEndToEnd(t *testing.T) {
	brave := newBraveFake(t)
	searx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/search" || r.URL.Query().Get("format") != "json" {
			t.Errorf("searxng request %s", r.URL)
		}
		http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
	}))
	defer searx.Close()

	script := llmtest.NewScript(
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("call_s", "web_search", `{"query":"go generics","max_results":2}`)}},
		words("Found", "."),
	)
	s := transcriptServer(t, script, map[string]string{
		"HERM_SEARXNG_URL": searx.URL, "HERM_BRAVE_URL": brave.URL, "HERM_BRAVE_API_KEY": "brave-test-key",
	})
	dep := s.createReady(nil)
	id := dep["deployment_id"].(string)
	if n := dep["sandbox"].(map[string]any)["network"].(map[string]any); n["egress"] != "proxy" || len(n["allowed_hosts"].([]any)) != 0 {
		t.Fatalf("network %v", n)
	}
	listed := false
	for _, x := range s.must(200, "GET", "/v1/deployments/"+id+"/tools", nil)["data"].([]any) {
		m := x.(map[string]any)
		listed = listed || m["name"] == "web_search" && m["enabled"] == true
	}
	if !listed {
		t.Error("web_search is not listed as enabled")
	}

	run := s.sendAndWait(id, "search for go generics")
	if run["status"] != "completed" {
		t.Fatalf("run %v", run)
	}
	want := "1. Tutorial: Getting started with generics\n   https://go.dev/doc/tutorial/generics\n   This tutorial introduces the basics of generics in Go."
	reqs := script.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model calls", len(reqs))
	}
	if !slices.ContainsFunc(reqs[0].Tools, func(s llm.ToolSpec) bool { return s.Name == "web_search" }) {
		t.Error("web_search was not offered to the model")
	}
	if got := toolMessages(reqs[1])["call_s"]; got.Content != want || got.IsError {
		t.Errorf("the model got %+v, want %q", got, want)
	}
	res := s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || res[0]["tool"] != "web_search" || res[0]["result"] != want || res[0]["is_error"] != false {
		t.Errorf("tool_result events %v", res)
	}
	if keys := brave.sent(); len(keys) != 1 || keys[0] != "brave-test-key" {
		t.Errorf("brave got keys %v", keys)
	}

	// Egress none: refused, as web_fetch is; nothing is searched.
	script.Push(llmtest.Turn{ToolCalls: []llm.ToolCall{call("call_n", "web_search", `{"query":"go generics"}`)}}, words("No", "."))
	none := s.createReady(map[string]any{"sandbox": map[string]any{"network": map[string]any{"egress": "none"}}})["deployment_id"].(string)
	run = s.sendAndWait(none, "search")
	res = s.toolResults(none, run["run_id"].(string))
	if len(res) != 1 || res[0]["is_error"] != true || !strings.Contains(res[0]["result"].(string), `sandbox.network.egress "none"`) {
		t.Errorf("egress none: %v", res)
	}
	if n := len(brave.sent()); n != 1 {
		t.Errorf("%d searches at brave, want 1", n)
	}

	// Every backend rate limited: an error result that says so, and the
	// run goes on.
	script.Push(llmtest.Turn{ToolCalls: []llm.ToolCall{call("call_b", "web_search", `{"query":"busy"}`)}}, words("Later", "."))
	run = s.sendAndWait(id, "search again")
	if run["status"] != "completed" {
		t.Fatalf("run %v", run)
	}
	res = s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || res[0]["is_error"] != true ||
		!strings.HasPrefix(res[0]["result"].(string), "web search failed at every backend: searxng: rate limited (HTTP 429 Too Many Requests): Too Many Requests; brave: rate limited (HTTP 429 Too Many Requests); retry after 3s: Request rate limit exceeded for plan.") {
		t.Errorf("rate limited: %v", res)
	}
}

// Without a backend, web_search stays unavailable: not offered, and
// enabling it is a 400 that says how the operator configures one.
func TestWebSearchUnconfigured(t *testing.T) {
	s := startServer(t, nil)
	id := s.createReady(nil)["deployment_id"].(string)
	for _, x := range s.must(200, "GET", "/v1/deployments/"+id+"/tools", nil)["data"].([]any) {
		if x.(map[string]any)["name"] == "web_search" {
			t.Error("web_search is listed")
		}
	}
	r := s.do("PATCH", "/v1/deployments/"+id, map[string]any{"tools": map[string]any{"web_search": map[string]any{"enabled": true}}})
	if r.status != 400 || !strings.Contains(string(r.body), "HERM_SEARXNG_URL, HERM_BRAVE_API_KEY or HERM_TAVILY_API_KEY") {
		t.Errorf("%d %s", r.status, r.body)
	}
}

// A key setting may name a vault secret of no customer: it is read at
// each search (a rotation applies at once) and sent only to a host of the
// secret's allowed_hosts; a secret that cannot be used stops the server
// from starting (newSearcher's error), saying why.
func TestWebSearchVaultKey(t *testing.T) {
	brave := newBraveFake(t)
	s := startServer(t, nil)
	secret := func(body map[string]any) string {
		return s.must(201, "POST", "/v1/secrets", body)["secret_id"].(string)
	}
	good := secret(map[string]any{"name": "brave", "value": "vault-key-1", "allowed_hosts": []string{"127.0.0.1"}})
	elsewhere := secret(map[string]any{"name": "brave2", "value": "x-key", "allowed_hosts": []string{"api.search.brave.com"}})
	customers := secret(map[string]any{"name": "brave3", "value": "y-key", "customer_id": "cus_1", "allowed_hosts": []string{"127.0.0.1"}})

	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	searcher := func(key string) error {
		_, err := newSearcher(ctx, &config{BraveURL: brave.URL, BraveKey: key, WebSearchTimeout: 5 * time.Second}, s.app.vault, logger)
		return err
	}
	for key, want := range map[string]string{
		elsewhere:                        "HERM_BRAVE_API_KEY: secret " + elsewhere + " may not be sent to 127.0.0.1: add it to the secret's allowed_hosts",
		customers:                        "HERM_BRAVE_API_KEY: secret " + customers + " belongs to a customer",
		"sec_00000000000000000000000000": "HERM_BRAVE_API_KEY: secret sec_00000000000000000000000000 does not exist",
	} {
		if err := searcher(key); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", key, err, want)
		}
	}

	srch, err := newSearcher(ctx, &config{BraveURL: brave.URL, BraveKey: good}, s.app.vault, logger)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := srch.Search(ctx, "go", 1); err != nil || len(res) != 1 {
		t.Fatalf("%v %v", res, err)
	}
	s.must(200, "PUT", "/v1/secrets/"+good, map[string]any{"value": "vault-key-2"})
	if _, err := srch.Search(ctx, "go", 1); err != nil {
		t.Fatal(err)
	}
	if keys := brave.sent(); !slices.Equal(keys, []string{"vault-key-1", "vault-key-2"}) {
		t.Errorf("brave got keys %v", keys)
	}
}

// The web search settings: environment over file, a key in the file only
// as a vault secret's ID, the order among configured backends, URLs and
// timeouts checked.
func TestWebSearchSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "searxng_url: http://searxng.internal:8080\nbrave_api_key: sec_01JZ0000000000000000000000\nweb_search: [brave, searxng]\nweb_search_timeout: 5s\n")
	rawKey := write("raw.yaml", "tavily_api_key: tvly-abc\n")
	load := func(env map[string]string) (*config, error) {
		return loadConfig("serve", nil, func(k string) string { return env[k] })
	}

	c, err := load(nil)
	if err != nil || len(c.searchOrder()) != 0 {
		t.Fatalf("defaults: %v %v", c.searchOrder(), err)
	}
	c, err = load(map[string]string{"HERM_CONFIG": good})
	if err != nil || c.SearXNGURL != "http://searxng.internal:8080" || c.BraveKey != "sec_01JZ0000000000000000000000" ||
		!slices.Equal(c.searchOrder(), []string{"brave", "searxng"}) || c.WebSearchTimeout != 5*time.Second {
		t.Fatalf("file: %+v %v", c, err)
	}
	c, err = load(map[string]string{"HERM_CONFIG": good, "HERM_TAVILY_API_KEY": "tvly-abc", "HERM_WEB_SEARCH": "tavily, searxng", "HERM_WEB_SEARCH_TIMEOUT": "9s"})
	if err != nil || !slices.Equal(c.searchOrder(), []string{"tavily", "searxng"}) || c.WebSearchTimeout != 9*time.Second {
		t.Fatalf("env over file: %v %v %v", c.searchOrder(), c.WebSearchTimeout, err)
	}
	c, err = load(map[string]string{"HERM_TAVILY_API_KEY": "tvly-abc", "HERM_BRAVE_API_KEY": "bk", "HERM_SEARXNG_URL": "http://127.0.0.1:8888/searx"})
	if err != nil || !slices.Equal(c.searchOrder(), []string{"searxng", "brave", "tavily"}) {
		t.Fatalf("default order: %v %v", c.searchOrder(), err)
	}

	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HERM_CONFIG": rawKey}, "tavily_api_key must be the ID of a vault secret holding the key (sec_…); put the key itself in HERM_TAVILY_API_KEY"},
		{map[string]string{"HERM_SEARXNG_URL": "searxng:8080"}, "HERM_SEARXNG_URL (searxng_url)"},
		{map[string]string{"HERM_BRAVE_URL": "http://127.0.0.1:1"}, "HERM_BRAVE_URL (brave_url) is set but no key: set HERM_BRAVE_API_KEY"},
		{map[string]string{"HERM_WEB_SEARCH": "google"}, `"google" is not a search backend`},
		{map[string]string{"HERM_WEB_SEARCH": "brave"}, "brave is not configured (set HERM_BRAVE_API_KEY)"},
		{map[string]string{"HERM_WEB_SEARCH": "brave,brave", "HERM_BRAVE_API_KEY": "k"}, "brave is listed twice"},
		{map[string]string{"HERM_WEB_SEARCH_TIMEOUT": "0s"}, "HERM_WEB_SEARCH_TIMEOUT must be a positive duration"},
	} {
		if _, err := load(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}

// The backends are exempt from the private-network rule, not from the
// guard's rules that always hold: a backend at a cloud metadata address is
// refused when dialled.
func TestWebSearchMetadataRefused(t *testing.T) {
	t.Parallel()
	srch, err := newSearcher(context.Background(), &config{SearXNGURL: "http://169.254.169.254/"}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, err = srch.Search(context.Background(), "q", 1)
	if err == nil || !strings.Contains(err.Error(), "169.254.169.254 is a cloud metadata address") {
		t.Errorf("%v", err)
	}
}
