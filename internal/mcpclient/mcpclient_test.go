package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/tools"
)

// seen records what the server saw of its callers.
type seen struct {
	mu      sync.Mutex
	headers []http.Header
	metas   []any
}

// testServer is an in-process MCP server (the SDK's own) with three tools.
func testServer(t *testing.T, s *seen) *mcp.Server {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	type sumIn struct {
		A, B int
	}
	type sumOut struct {
		Sum int `json:"sum"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "sum", Description: "adds"}, func(_ context.Context, req *mcp.CallToolRequest, in sumIn) (*mcp.CallToolResult, sumOut, error) {
		s.mu.Lock()
		if req.Extra != nil {
			s.headers = append(s.headers, req.Extra.Header)
		}
		s.metas = append(s.metas, req.Params.Meta["customer_id"])
		s.mu.Unlock()
		return nil, sumOut{Sum: in.A + in.B}, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "fail", Description: "fails"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return nil, struct{}{}, errors.New("it broke")
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "secret", Description: "hidden by the allowlist"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "should not be offered"}}}, struct{}{}, nil
	})
	return srv
}

func deployment(url string, hdr map[string]string) *herm.Deployment {
	return &herm.Deployment{ID: "dep_1", CustomerID: "cus_42", MCPServers: []herm.MCPServer{
		{Name: "acme", URL: url, Tools: []string{"sum", "fail"}, Headers: hdr},
	}}
}

func call(t *testing.T, tl tools.Tool, args string) tools.Result {
	t.Helper()
	res, err := tl.Call(context.Background(), tools.Call{ID: "c1"}, json.RawMessage(args))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestStreamableAndSSE(t *testing.T) {
	for _, transport := range []string{"streamable", "sse"} {
		t.Run(transport, func(t *testing.T) {
			s := &seen{}
			srv := testServer(t, s)
			var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
			if transport == "sse" {
				h = mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
			}
			ts := httptest.NewServer(h)
			defer ts.Close()
			p := New(Options{Cleartext: true, Resolve: func(_ context.Context, d *herm.Deployment, name string) (string, []string, error) {
				if name == "ACME_TOKEN" && d.ID == "dep_1" {
					return "tok-123", []string{"127.0.0.1"}, nil
				}
				return "", nil, errors.New("no such secret")
			}})
			defer p.Close()
			d := deployment(ts.URL, map[string]string{"Authorization": "Bearer ${ACME_TOKEN}"})
			got, warnings := p.Tools(context.Background(), d)
			if len(warnings) != 0 {
				t.Fatalf("warnings %v", warnings)
			}
			var names []string
			for _, tl := range got {
				names = append(names, tl.Spec().Name+"@"+tl.Origin())
			}
			if strings.Join(names, ",") != "acme__fail@acme,acme__sum@acme" {
				t.Fatalf("tools %v", names)
			}
			sum := got[1]
			if !strings.Contains(string(sum.Spec().InputSchema), `"A"`) {
				t.Fatalf("schema %s", sum.Spec().InputSchema)
			}
			if res := call(t, sum, `{"A":40,"B":2}`); res.IsError || !strings.Contains(res.Content, `"sum":42`) {
				t.Fatalf("sum: %+v", res)
			}
			if res := call(t, got[0], `{}`); !res.IsError || !strings.Contains(res.Content, "it broke") {
				t.Fatalf("fail: %+v", res)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.metas) != 1 || s.metas[0] != "cus_42" {
				t.Fatalf("_meta.customer_id %v", s.metas)
			}
			if len(s.headers) == 1 {
				if h := s.headers[0]; h.Get("X-Herm-Customer-Id") != "cus_42" || h.Get("Authorization") != "Bearer tok-123" {
					t.Fatalf("headers %v", h)
				}
			}
		})
	}
}

// A server that is down, or whose header needs a secret that does not
// exist, is left out with a warning; the others still work.
func TestUnreachableServersAreLeftOut(t *testing.T) {
	s := &seen{}
	srv := testServer(t, s)
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer ts.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	p := New(Options{})
	defer p.Close()
	d := &herm.Deployment{ID: "dep_2", CustomerID: "c", MCPServers: []herm.MCPServer{
		{Name: "ok", URL: ts.URL, Tools: []string{"sum"}},
		{Name: "down", URL: down.URL},
		{Name: "locked", URL: ts.URL, Headers: map[string]string{"Authorization": "Bearer ${NOPE}"}},
	}}
	got, warnings := p.Tools(context.Background(), d)
	if len(got) != 1 || got[0].Spec().Name != "ok__sum" {
		t.Fatalf("tools %v", got)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "down") || !strings.Contains(warnings[1], "locked") {
		t.Fatalf("warnings %v", warnings)
	}
}

// After the server restarts (its sessions gone), the next call reconnects.
func TestReconnectAfterServerRestart(t *testing.T) {
	s := &seen{}
	var mu sync.Mutex
	handler := http.Handler(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return testServer(t, s) }, nil))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handler
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	p := New(Options{})
	defer p.Close()
	got, _ := p.Tools(context.Background(), deployment(ts.URL, nil))
	if res := call(t, got[1], `{"A":1,"B":1}`); res.IsError {
		t.Fatalf("before restart: %+v", res)
	}
	mu.Lock()
	handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return testServer(t, s) }, nil) // sessions forgotten
	mu.Unlock()
	if res := call(t, got[1], `{"A":2,"B":2}`); res.IsError || !strings.Contains(res.Content, `"sum":4`) {
		t.Fatalf("after restart: %+v", res)
	}
}
