package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermhq/herm/internal/sandbox"
)

// pair runs an agent (without namespaces: each command leads its own
// session) in this process and returns a client for it.
func pair(t *testing.T) *Client {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		f := os.NewFile(uintptr(fds[1]), "agent")
		_ = Serve(f, Options{})
		f.Close()
	}()
	c := NewClient(fds[0], nil)
	t.Cleanup(func() { c.Close(); <-served })
	return c
}

func run(t *testing.T, c *Client, dir string, req sandbox.ExecRequest) (*sandbox.ExecResult, string) {
	t.Helper()
	var out strings.Builder
	req.Stdout = &out
	res, err := c.Exec(context.Background(), req, dir, []string{"PATH=/usr/bin:/bin"})
	if err != nil {
		t.Fatal(err)
	}
	return res, out.String()
}

func TestProcessTreeEndsWithCommand(t *testing.T) {
	c := pair(t)
	dir := t.TempDir()
	res, out := run(t, c, dir, sandbox.ExecRequest{Command: "(sleep 1; echo survived > marker) & echo done"})
	if res.ExitCode != 0 || out != "done\n" {
		t.Fatalf("%+v %q", res, out)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "marker")); err == nil {
		t.Fatal("a child of a finished command kept running")
	}
}

func TestBackgroundWaitersGo(t *testing.T) {
	c := pair(t)
	for range 20 {
		if _, err := c.Exec(context.Background(), sandbox.ExecRequest{Command: "true", Background: true}, t.TempDir(), nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.waiters)
		c.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters left after the background commands ended", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	c := pair(t)
	res, _ := run(t, c, t.TempDir(), sandbox.ExecRequest{Command: "sleep 30", Timeout: 100 * time.Millisecond})
	if !res.TimedOut || res.Signal != "SIGKILL" {
		t.Fatalf("timeout: %+v", res)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Exec(ctx, sandbox.ExecRequest{Command: "sleep 30"}, t.TempDir(), nil); err != context.DeadlineExceeded {
		t.Fatalf("cancelled: %v", err)
	}
}
