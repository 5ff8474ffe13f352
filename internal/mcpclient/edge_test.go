package mcpclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/tools"
)

// edgeServer is an in-process MCP server whose tools misbehave: one
// answers late, one returns a huge text, one takes its server down.
func edgeServer(crash func()) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "edge", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "slow", Description: "answers after a while"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "late"}}}, struct{}{}, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "quick", Description: "answers at once"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "quick"}}}, struct{}{}, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "huge", Description: "returns 20 MB"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("0123456789abcdef\n", 20<<20/17)}}}, struct{}{}, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "crash", Description: "takes the server down"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		crash()
		return nil, struct{}{}, nil
	})
	return srv
}

func edgeDeployment(url string) *herm.Deployment {
	return &herm.Deployment{ID: "dep_edge", CustomerID: "c", MCPServers: []herm.MCPServer{{Name: "edge", URL: url}}}
}

// A call that outlives its deadline is an error result, and the session
// still serves the next call.
func TestSlowTool(t *testing.T) {
	srv := edgeServer(func() {})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer ts.Close()
	p := New(Options{CallTimeout: 300 * time.Millisecond})
	defer p.Close()
	tl := byName(t, p, edgeDeployment(ts.URL))
	start := time.Now()
	if res := call(t, tl["edge__slow"], `{}`); !res.IsError || !strings.Contains(res.Content, "did not answer in time") {
		t.Fatalf("slow: %+v", res)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the slow call held the run for %v", d)
	}
	if res := call(t, tl["edge__quick"], `{}`); res.IsError || res.Content != "quick" {
		t.Fatalf("after a timeout: %+v", res)
	}
}

// A server that does not answer its listing in time is left out of the run
// with a warning, promptly.
func TestHangingServerIsLeftOut(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(release)
	p := New(Options{ListTimeout: 300 * time.Millisecond})
	defer p.Close()
	start := time.Now()
	got, warnings := p.Tools(context.Background(), edgeDeployment(ts.URL))
	if len(got) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "edge") {
		t.Fatalf("tools %v, warnings %v", got, warnings)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("listing a hanging server took %v", d)
	}
}

// A huge result is capped (the agent then spills it to the workspace), with
// a note that says so.
func TestHugeResult(t *testing.T) {
	srv := edgeServer(func() {})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer ts.Close()
	p := New(Options{})
	defer p.Close()
	tl := byName(t, p, edgeDeployment(ts.URL))
	res := call(t, tl["edge__huge"], `{}`)
	if res.IsError || len(res.Content) > MaxResultBytes+200 || !strings.HasPrefix(res.Content, "0123456789abcdef\n") ||
		!strings.Contains(res.Content, "cut at") {
		t.Fatalf("huge: IsError %v, %d bytes, ends %q", res.IsError, len(res.Content), res.Content[max(0, len(res.Content)-200):])
	}
}

// A server that crashes during a call: the call is an error result (never
// retried: it may have had effects), and once the server is back the next
// call works on a new session.
func TestCrashingServer(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	var ts *httptest.Server
	crash := func() {
		up.Store(false)
		ts.CloseClientConnections()
	}
	srv := edgeServer(crash)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	p := New(Options{CallTimeout: 5 * time.Second})
	defer p.Close()
	tl := byName(t, p, edgeDeployment(ts.URL))
	if res := call(t, tl["edge__crash"], `{}`); !res.IsError {
		t.Fatalf("crash: %+v", res)
	}
	if res := call(t, tl["edge__quick"], `{}`); !res.IsError || !strings.Contains(res.Content, "edge") {
		t.Fatalf("while down: %+v", res)
	}
	up.Store(true)
	h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return edgeServer(crash) }, nil) // a new process: no sessions
	if res := call(t, tl["edge__quick"], `{}`); res.IsError || res.Content != "quick" {
		t.Fatalf("after the restart: %+v", res)
	}
}

// A server that rejects the credentials is left out with a warning that
// says so.
func TestAuthFailure(t *testing.T) {
	srv := edgeServer(func() {})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer right" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	p := New(Options{Cleartext: true, Resolve: func(context.Context, *herm.Deployment, string) (string, []string, error) {
		return "wrong", []string{"127.0.0.1"}, nil
	}})
	defer p.Close()
	d := edgeDeployment(ts.URL)
	d.MCPServers[0].Headers = map[string]string{"Authorization": "Bearer ${TOKEN}"}
	got, warnings := p.Tools(context.Background(), d)
	if len(got) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "edge") || !strings.Contains(warnings[0], "401") {
		t.Fatalf("tools %v, warnings %v", got, warnings)
	}
	if strings.Contains(warnings[0], "wrong") {
		t.Fatalf("the warning shows the credential: %s", warnings[0])
	}
}

func byName(t *testing.T, p *Pool, d *herm.Deployment) map[string]tools.Tool {
	t.Helper()
	got, warnings := p.Tools(context.Background(), d)
	if len(warnings) != 0 {
		t.Fatalf("warnings %v", warnings)
	}
	out := map[string]tools.Tool{}
	for _, tl := range got {
		out[tl.Spec().Name] = tl
	}
	return out
}
