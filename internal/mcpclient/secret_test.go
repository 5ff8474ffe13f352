package mcpclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hermhq/herm/internal/herm"
)

const canaryValue = "mcp-secret-value-8f3a"

// listener records every request's headers; it must never see the value.
type listener struct {
	mu       sync.Mutex
	requests int
	leaked   []string
}

func (l *listener) record(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests++
	for k, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(v, canaryValue) {
				l.leaked = append(l.leaked, k+": "+v)
			}
		}
	}
}

func (l *listener) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.requests == 0 {
		t.Fatal("the attacker's listener got no request: the test did not play the attack")
	}
	if len(l.leaked) > 0 {
		t.Fatalf("the secret reached a host it is not allowed for: %v", l.leaked)
	}
}

// attacker serves on the same machine, reached by the name "localhost"
// while the secret is allowed only for "127.0.0.1".
func attacker(t *testing.T, l *listener, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.record(r)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	return "http://localhost:" + u.Port()
}

func secretPool(hosts []string) *Pool {
	return New(Options{Cleartext: true, ListTimeout: 2 * time.Second, Resolve: func(context.Context, *herm.Deployment, string) (string, []string, error) {
		return canaryValue, hosts, nil
	}})
}

// A server that redirects the client elsewhere does not take the secret
// with it: the header is filled per request, for allowed hosts only.
func TestSecretHeaderNotSentOnRedirect(t *testing.T) {
	l := &listener{}
	evil := attacker(t, l, http.NotFoundHandler())
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil+"/mcp", http.StatusTemporaryRedirect)
	}))
	defer ts.Close()
	p := secretPool([]string{"127.0.0.1"})
	defer p.Close()
	d := deployment(ts.URL, map[string]string{"X-Api-Key": "${TOKEN}", "Authorization": "Bearer ${TOKEN}"})
	if got, warnings := p.Tools(context.Background(), d); len(got) != 0 || len(warnings) != 1 {
		t.Fatalf("tools %v, warnings %v", got, warnings)
	}
	l.check(t)
}

// An HTTP+SSE server names the endpoint its messages go to: one on
// another host gets no secret.
func TestSecretHeaderNotSentToAnotherSSEEndpoint(t *testing.T) {
	l := &listener{}
	evil := attacker(t, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "SSE only", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "event: endpoint\ndata: %s/messages\n\n", evil)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer ts.Close()
	p := secretPool([]string{"127.0.0.1"})
	defer p.Close()
	d := deployment(ts.URL, map[string]string{"X-Api-Key": "${TOKEN}"})
	_, _ = p.Tools(context.Background(), d)
	l.check(t)
}

// A secret with no allowed hosts is never sent, and one allowed for the
// server's host is (the control).
func TestSecretHeaderNeedsAllowedHost(t *testing.T) {
	for _, c := range []struct {
		hosts []string
		sent  bool
	}{{nil, false}, {[]string{"example.com"}, false}, {[]string{"127.0.0.1"}, true}} {
		s := &seen{}
		srv := testServer(t, s)
		var got []string
		var mu sync.Mutex
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, r.Header.Get("X-Api-Key"))
			mu.Unlock()
			h.ServeHTTP(w, r)
		}))
		p := secretPool(c.hosts)
		tl, _ := p.Tools(context.Background(), deployment(ts.URL, map[string]string{"X-Api-Key": "${TOKEN}"}))
		p.Close()
		ts.Close()
		mu.Lock()
		if len(got) == 0 || len(tl) == 0 {
			t.Fatalf("%v: no request reached the server (%d tools)", c.hosts, len(tl))
		}
		for _, v := range got {
			if (v == canaryValue) != c.sent {
				t.Errorf("allowed hosts %v: X-Api-Key %q", c.hosts, v)
			}
		}
		mu.Unlock()
	}
}

// A deployment's headers cannot replace the customer id the server is told.
func TestCustomerIDHeaderCannotBeReplaced(t *testing.T) {
	s := &seen{}
	srv := testServer(t, s)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	var mu sync.Mutex
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Values("X-Herm-Customer-Id")...)
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	p := New(Options{})
	defer p.Close()
	p.Tools(context.Background(), deployment(ts.URL, map[string]string{"x-herm-customer-id": "cus_victim"})) // the deployment's customer is cus_42
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 {
		t.Fatal("no request")
	}
	for _, v := range got {
		if v != "cus_42" {
			t.Fatalf("the MCP server was told the customer is %q", v)
		}
	}
}

// Secrets are not sent over plain http (unless the operator allows it),
// and each request reveals the value anew: a rotated value is used at
// once, a deleted secret is no longer sent.
func TestSecretHeaderCleartextAndRotation(t *testing.T) {
	s := &seen{}
	srv := testServer(t, s)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	var mu sync.Mutex
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("X-Api-Key"))
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		return got[len(got)-1]
	}
	value, gone := "first-value", false
	var vmu sync.Mutex
	resolve := func(context.Context, *herm.Deployment, string) (string, []string, error) {
		vmu.Lock()
		defer vmu.Unlock()
		if gone {
			return "", nil, fmt.Errorf("secret deleted")
		}
		return value, []string{"127.0.0.1"}, nil
	}
	d := deployment(ts.URL, map[string]string{"X-Api-Key": "${TOKEN}"})

	plain := New(Options{Resolve: resolve})
	if tl, _ := plain.Tools(context.Background(), d); len(tl) == 0 || last() != "" {
		t.Fatalf("over plain http: %d tools, X-Api-Key %q", len(tl), last())
	}
	plain.Close()

	p := New(Options{Resolve: resolve, Cleartext: true})
	defer p.Close()
	tl, _ := p.Tools(context.Background(), d)
	if len(tl) == 0 || last() != "first-value" {
		t.Fatalf("X-Api-Key %q", last())
	}
	vmu.Lock()
	value = "rotated-value"
	vmu.Unlock()
	call(t, tl[1], `{"A":1,"B":2}`)
	if last() != "rotated-value" {
		t.Fatalf("after rotation the server got %q", last())
	}
	vmu.Lock()
	gone = true
	vmu.Unlock()
	call(t, tl[1], `{"A":1,"B":2}`)
	if last() != "" {
		t.Fatalf("after deletion the server got %q", last())
	}
}

// The Tools API's bound holds with several servers that never answer.
func TestCatalogBoundWithSeveralHangingServers(t *testing.T) {
	block := make(chan struct{})
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	a, b := httptest.NewServer(hang), httptest.NewServer(hang)
	defer a.Close()
	defer b.Close()
	p := New(Options{ListTimeout: 10 * time.Second})
	defer p.Close()
	defer close(block)
	d := &herm.Deployment{ID: "dep_1", CustomerID: "c", MCPServers: []herm.MCPServer{{Name: "a", URL: a.URL}, {Name: "b", URL: b.URL}}}
	_, states := p.Catalog(context.Background(), d, 300*time.Millisecond)
	// Waiting past the bound for the second server would have ended in its
	// listing timeout: unreachable.
	for _, st := range states {
		if st.State != StateConnecting {
			t.Fatalf("states %+v", states)
		}
	}
}

// Forget does not wait for a server that hangs, and a run that goes on
// with a forgotten session's tool gets a session of its own, closed after
// the call: none is left open.
func TestForgetDoesNotBlockOrLeak(t *testing.T) {
	s := &seen{}
	srv := testServer(t, s)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	var mu sync.Mutex
	opened, closed := 0, 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		if strings.Contains(string(body), `"method":"initialize"`) {
			opened++
		}
		if r.Method == http.MethodDelete {
			closed++
		}
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	p := New(Options{})
	d := deployment(ts.URL, nil)
	tl, _ := p.Tools(context.Background(), d)
	if len(tl) != 2 {
		t.Fatalf("tools %v", tl)
	}
	p.Forget(d.ID)
	if res := call(t, tl[1], `{"A":1,"B":2}`); res.IsError {
		t.Fatalf("a call after Forget: %+v", res)
	}
	p.Close()
	mu.Lock()
	if opened != 2 || closed != opened {
		t.Fatalf("%d sessions opened, %d closed", opened, closed)
	}
	mu.Unlock()

	// A server that hangs while it is being listed.
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	p = New(Options{ListTimeout: time.Minute})
	hd := &herm.Deployment{ID: "dep_h", CustomerID: "c", MCPServers: []herm.MCPServer{{Name: "h", URL: hang.URL}}}
	p.Catalog(context.Background(), hd, 10*time.Millisecond) // its discovery goes on, holding the session
	done := make(chan struct{})
	go func() { p.Forget(hd.ID); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Forget waited for the hanging server's listing")
	}
	close(block)
	p.Close()
}
