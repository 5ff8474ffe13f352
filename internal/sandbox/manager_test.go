package sandbox_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/process"
)

// What the prepare hook starts (the egress proxy: two goroutines, a CA and
// a listener in the sandbox's network namespace per deployment) waits for
// a command: provisioning and the server's own file access do not run it,
// so that idle deployments cost nothing of it; Get, which tools use, does.
func TestPrepareWaitsForCommands(t *testing.T) {
	m, err := sandbox.NewManager(process.Name, process.New(filepath.Join(t.TempDir(), "ws")))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	var prepared atomic.Int32
	m.SetPrepare(func(context.Context, *herm.Deployment, sandbox.Sandbox) (map[string]string, error) {
		prepared.Add(1)
		return nil, nil
	}, func(string) {})
	d := &herm.Deployment{ID: "dep_prepare", Sandbox: herm.Sandbox{Type: process.Name}}
	ctx := t.Context()
	if err := m.Provision(ctx, d); err != nil {
		t.Fatal(err)
	}
	ws, err := m.Workspace(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.WriteFile("f.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if n := prepared.Load(); n != 0 {
		t.Fatalf("prepared %d times before any command", n)
	}
	sb, err := m.Get(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if n := prepared.Load(); n != 1 {
		t.Fatalf("Get prepared %d times, want 1", n)
	}
	if sb.Workspace().Dir() != ws.Dir() {
		t.Fatalf("Get's workspace %s, Workspace's %s", sb.Workspace().Dir(), ws.Dir())
	}
}
