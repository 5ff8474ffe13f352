package sandboxtest

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/sandbox"
)

// A driver's takeover tests kill a server node with sandboxes running and
// let another server take them over. The node is the test binary run
// again with an environment variable that its TestMain turns into a call
// of the node's code (which never returns), so that kill -9 hits a real
// process with real sandboxes.

// TickCommand is a background command a node runs: a loop in a session of
// its own that rewrites the workspace's file "tick" every 50 ms, so that a
// test can tell whether anything of the sandbox still runs.
const TickCommand = "setsid sh -c 'while :; do date +%s%N > tick.new && mv tick.new tick; sleep 0.05; done' > /dev/null 2>&1 & sleep 1002"

// StartNode runs this test binary as a node with env ("NAME=value") set,
// waits until it prints "ready" (once its sandboxes run), and returns a
// function that kills it with SIGKILL and reaps it.
func StartNode(t *testing.T, env string) (kill func()) {
	t.Helper()
	node := exec.Command(os.Args[0], "-test.run=^$")
	node.Env = append(os.Environ(), env)
	node.Stderr = os.Stderr
	out, err := node.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Process.Kill() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line := <-lines:
		if line != "ready" {
			t.Fatalf("node: %q", line)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the node did not get ready")
	}
	return func() {
		if err := node.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = node.Wait()
	}
}

// TickStopped fails the test when the TickCommand loop of the workspace
// at dir ran and still runs.
func TickStopped(t *testing.T, dir string) {
	t.Helper()
	tick, err := os.ReadFile(filepath.Join(dir, "tick"))
	if err != nil || len(tick) == 0 {
		t.Fatalf("the background loop wrote no tick: %q %v", tick, err)
	}
	time.Sleep(200 * time.Millisecond)
	if again, _ := os.ReadFile(filepath.Join(dir, "tick")); !bytes.Equal(again, tick) {
		t.Fatal("the background loop of the killed server's sandbox still writes")
	}
}

// NodeArgs splits a node's environment value "<workspace root> <deployment id>".
func NodeArgs(v string) (root, id string) {
	root, id, _ = strings.Cut(v, " ")
	return root, id
}

// MustRun runs a command that must exit 0 and returns its stdout.
func MustRun(t *testing.T, sb sandbox.Sandbox, command string) string {
	t.Helper()
	return mustRun(t, sb, command)
}

// Serve answers every connection on ln with reply, until ln is closed.
func Serve(ln net.Listener, reply string) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(reply))
			c.Close()
		}
	}()
}
