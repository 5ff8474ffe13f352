package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// openFiles lists the files under dir that this process has open.
func openFiles(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	var out []string
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, dir) {
			out = append(out, target)
		}
	}
	return out
}

// goroutinesIn returns the stacks of the goroutines that run any of the
// functions.
func goroutinesIn(funcs ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// serverGoroutines are frames of the server's own background goroutines
// (a function's name and its opening parenthesis: a frame, not a "created
// by" line): none may outlive a shutdown.
func serverGoroutines() []string {
	return []string{
		"internal/eventlog.(*Log).writer(", "internal/egress.(*Proxy).Serve(", "internal/egress.(*Manager).start.func",
		"internal/secrets.(*Vault).Reseal(", "main.(*app).resealSecrets(", "internal/retention.(*Sweeper).Run(",
		"internal/webhook.(*Service).Run(", "internal/automation.(*Service).Run(", "net/http.(*Server).Serve(",
	}
}

// newApp closes what it opened when a later step fails: here the master
// key, read after the database, the event log, the sandboxes and the
// network guard are set up, is not one. (Not parallel: it counts the
// process's goroutines.)
func TestNewAppClosesWhatItOpenedOnFailure(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"HERM_ADDR": "127.0.0.1:0", "HERM_DATA_DIR": dir, "HERM_API_KEY": testKey, "HERM_MASTER_KEY": "not-a-key"}
	getenv := func(k string) string { return vars[k] }
	cfg, err := loadConfig("serve", nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if left := goroutinesIn(serverGoroutines()...); len(left) > 0 {
		t.Fatalf("a server's goroutines run before the test:\n%s", strings.Join(left, "\n\n"))
	}
	a, err := newApp(context.Background(), cfg, getenv, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "HERM_MASTER_KEY") {
		if a != nil {
			a.shutdown(context.Background())
		}
		t.Fatalf("newApp with a bad master key: %v", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "herm.db")); statErr != nil {
		t.Fatalf("the database was not opened before the failing step: %v", statErr)
	}
	if open := openFiles(t, dir); len(open) > 0 {
		t.Errorf("files of the data dir still open after newApp failed: %v", open)
	}
	if left := goroutinesIn(serverGoroutines()...); len(left) > 0 {
		t.Errorf("goroutines still running after newApp failed:\n%s", strings.Join(left, "\n\n"))
	}
}

// Shutdown returns only once the server's background work has ended: the
// egress proxies, the secrets' resealing after a master key rotation, the
// retention sweep, the dispatchers. (Not parallel: it reads every
// goroutine's stack.)
func TestShutdownJoinsBackgroundWork(t *testing.T) {
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k1[0], k2[0] = 1, 2
	keys := base64.StdEncoding.EncodeToString(k2) + "," + base64.StdEncoding.EncodeToString(k1)
	s := startServer(t, map[string]string{"HERM_MASTER_KEY": keys})
	d := s.createReady(nil)
	if localSandbox(t, s) {
		// Its sandbox is prepared, so its egress proxy serves.
		s.sendAndWait(d["deployment_id"].(string), "run: true")
		if len(goroutinesIn("internal/egress.(*Proxy).Serve(")) == 0 {
			t.Fatal("no egress proxy runs for a deployment with a local sandbox")
		}
	}
	if len(goroutinesIn("internal/eventlog.(*Log).writer(")) == 0 {
		t.Fatal("the goroutines are not recognised")
	}
	s.stop()
	if left := goroutinesIn(serverGoroutines()...); len(left) > 0 {
		t.Fatalf("goroutines still running after shutdown returned:\n%s", strings.Join(left, "\n\n"))
	}
}

// A deleted deployment's MCP sessions end (the server sees the session
// deleted), and so does the session of a server whose configuration
// changed.
func TestMCPSessionsEndWithTheirDeployment(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "acme", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "ping", Description: "pings"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, struct{}{}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	var mu sync.Mutex
	deleted := map[string]int{} // per path: the sessions the client ended
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			mu.Lock()
			deleted[r.URL.Path]++
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	ended := func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return deleted[path]
	}
	waitEnded := func(path string, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for ended(path) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the MCP session at %s was not ended", what, path)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s := startServer(t, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})
	connected := func(id string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			tl := s.must(200, "GET", "/v1/deployments/"+id+"/tools", nil)
			if strings.Contains(fmt.Sprint(tl), "acme__ping") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the MCP server's tool is not listed: %v", tl)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Reconfigured: the old configuration's session ends.
	d := s.createReady(map[string]any{"mcp_servers": []any{map[string]any{"name": "acme", "url": ts.URL + "/a"}}})
	id := d["deployment_id"].(string)
	connected(id)
	s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"name": "renamed"})
	time.Sleep(100 * time.Millisecond)
	if n := ended("/a"); n != 0 {
		t.Fatalf("a change of the name ended %d MCP sessions", n)
	}
	s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"mcp_servers": []any{map[string]any{"name": "acme", "url": ts.URL + "/b"}}})
	waitEnded("/a", "reconfigured")

	// Deleted: its session ends.
	connected(id)
	s.must(202, "DELETE", "/v1/deployments/"+id, nil)
	waitEnded("/b", "deleted")
}
