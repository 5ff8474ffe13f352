package mcpclient

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// The reference MCP server from npm (@modelcontextprotocol/server-everything),
// in its streamableHttp and sse modes. HERM_TEST_MCP_EVERYTHING names its
// dist/index.js (.ci/run installs it); the test skips without it.
func TestReferenceServer(t *testing.T) {
	index := os.Getenv("HERM_TEST_MCP_EVERYTHING")
	if index == "" {
		t.Skip("HERM_TEST_MCP_EVERYTHING is not set: no reference MCP server to test against")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node")
	}
	for _, mode := range []struct{ name, path string }{{"streamableHttp", "/mcp"}, {"sse", "/sse"}} {
		t.Run(mode.name, func(t *testing.T) {
			port := freePort(t)
			cmd := exec.Command(node, index, mode.name)
			cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			ready := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(stderr)
				once := false
				for sc.Scan() {
					if !once && strings.Contains(strings.ToLower(sc.Text()), "port") {
						once = true
						close(ready)
					}
				}
			}()
			select {
			case <-ready:
			case <-time.After(30 * time.Second):
				t.Fatal("the reference server did not start")
			}
			p := New(Options{})
			defer p.Close()
			d := &herm.Deployment{ID: "dep_ref", CustomerID: "cus_ref", MCPServers: []herm.MCPServer{
				{Name: "everything", URL: fmt.Sprintf("http://127.0.0.1:%d%s", port, mode.path), Tools: []string{"echo", "get-sum", "get-tiny-image", "get-structured-content"}},
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, warnings := p.Tools(ctx, d)
			if len(warnings) != 0 {
				t.Fatalf("warnings %v", warnings)
			}
			var names []string
			for _, tl := range got {
				names = append(names, tl.Spec().Name)
			}
			if strings.Join(names, ",") != "everything__echo,everything__get-structured-content,everything__get-sum,everything__get-tiny-image" {
				t.Fatalf("tools %v (the allowlist is echo, get-sum, get-tiny-image and get-structured-content)", names)
			}
			if res := call(t, got[0], `{"message":"hello from herm"}`); res.IsError || !strings.Contains(res.Content, "hello from herm") {
				t.Fatalf("echo: %+v", res)
			}
			if res := call(t, got[1], `{"location":"Chicago"}`); res.IsError || !strings.Contains(res.Content, `"temperature":36`) {
				t.Fatalf("get-structured-content: %+v", res)
			}
			if res := call(t, got[2], `{"a":40,"b":2}`); res.IsError || !strings.Contains(res.Content, "42") {
				t.Fatalf("get-sum: %+v", res)
			}
			// An image comes back as a file (the agent saves it in the
			// workspace), the text around it as text.
			res := call(t, got[3], `{}`)
			if res.IsError || !strings.Contains(res.Content, "Here's the image you requested") || len(res.Files) != 1 ||
				res.Files[0].MediaType != "image/png" || res.Files[0].Name != "1-image.png" || !strings.HasPrefix(string(res.Files[0].Data), "\x89PNG") {
				t.Fatalf("get-tiny-image: %q, files %d", res.Content, len(res.Files))
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
