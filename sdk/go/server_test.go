package herm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	herm "github.com/hermhq/herm/sdk/go"
)

// The tests run against a real herm serve: the binary is built from the
// repository this module sits in (../.. from here), or taken from
// HERM_TEST_BINARY.

const testKey = "herm_sk_sdk_test_admin_key"

// buildServer builds herm once per test binary run.
var buildServer = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv("HERM_TEST_BINARY"); bin != "" {
		return bin, nil
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "herm", "main.go")); err != nil {
		return "", fmt.Errorf("no server source at %s (set HERM_TEST_BINARY to a herm binary): %w", root, err)
	}
	dir, err := os.MkdirTemp("", "herm-sdk-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "herm")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/herm")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/herm: %v\n%s", err, out)
	}
	return bin, nil
})

// testServer is a herm serve child process.
type testServer struct {
	t      *testing.T
	dir    string
	addr   string // host:port, kept across restarts
	url    string
	env    []string
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startServer starts herm serve on a fresh data dir with the offline demo
// model and the process sandbox (which needs no root).
func startServer(t *testing.T, env ...string) *testServer {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	s := &testServer{t: t, dir: t.TempDir(), addr: "127.0.0.1:0", env: env}
	s.start()
	t.Cleanup(s.kill)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.stderr.String())
		}
	})
	return s
}

func (s *testServer) start() {
	s.t.Helper()
	bin, err := buildServer()
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--addr", s.addr, "--data-dir", s.dir, "--sandbox", "process")
	cmd.Env = append(os.Environ(), "HERM_API_KEY="+testKey, "HERM_LOG_FORMAT=json", "HERM_RATE_LIMIT=-1",
		"HERM_URL=", "ANTHROPIC_API_KEY=", "OPENAI_API_KEY=", "OPENROUTER_API_KEY=")
	cmd.Env = append(cmd.Env, s.env...)
	pr, pw := io.Pipe()
	if s.stderr == nil {
		s.stderr = &syncBuffer{}
	}
	cmd.Stderr = io.MultiWriter(pw, s.stderr)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); pw.Close(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var rec struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && strings.HasPrefix(rec.Msg, "listening on ") && rec.URL != "" {
				select {
				case found <- rec.URL:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case s.url = <-found:
	case <-exited:
		s.t.Fatalf("herm exited:\n%s", s.stderr.String())
	case <-time.After(60 * time.Second):
		s.t.Fatalf("herm did not start:\n%s", s.stderr.String())
	}
	s.addr = strings.TrimPrefix(s.url, "http://")
}

// kill ends the server with SIGKILL and waits for it.
func (s *testServer) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *testServer) client(opts ...herm.Option) *herm.Client {
	return herm.NewClient(s.url, testKey, opts...)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readyDeployment creates a deployment and waits until it is ready.
func readyDeployment(t *testing.T, c *herm.Client, p herm.DeploymentCreateParams) *herm.Deployment {
	t.Helper()
	ctx := testContext(t)
	if p.CustomerID == "" {
		p.CustomerID = "cus_1"
	}
	if p.Name == "" {
		p.Name = "Agent"
	}
	if p.SystemPrompt == "" {
		p.SystemPrompt = "Be helpful."
	}
	d, err := c.Deployments.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != herm.DeploymentProvisioning && d.Status != herm.DeploymentReady {
		t.Fatalf("created deployment is %s", d.Status)
	}
	ready, err := c.Deployments.WaitReady(ctx, d.DeploymentID)
	if err != nil {
		t.Fatal(err)
	}
	return ready
}

// runEvents reads a stream until the run ends and returns its events.
func runEvents(t *testing.T, st *herm.Stream[herm.Event], runID string) []herm.Event {
	t.Helper()
	var out []herm.Event
	for e, err := range st.All() {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if e.RunID != runID {
			continue
		}
		out = append(out, e)
		if e.Type == "run_status" {
			var rs herm.RunStatusEvent
			if err := e.Decode(&rs); err != nil {
				t.Fatal(err)
			}
			if rs.Status == herm.RunCompleted || rs.Status == herm.RunError || rs.Status == herm.RunCancelled {
				return out
			}
		}
	}
	t.Fatal("the stream ended before the run")
	return nil
}
