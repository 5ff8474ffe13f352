package local

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/sandbox"
)

func TestMain(m *testing.M) {
	MaybeRunInit()
	os.Exit(m.Run())
}

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	d, err := New(Options{Root: dir + "/workspaces"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(context.Background()); err != nil {
		t.Skip(err)
	}
	defer d.Close(context.Background())
	sb, err := d.Ensure(context.Background(), sandbox.Spec{DeploymentID: "dep_a"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		var out, errb bytes.Buffer
		t0 := time.Now()
		res, err := sb.Exec(context.Background(), sandbox.ExecRequest{Command: "id; hostname; grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/self/status; ls /; ip addr 2>&1 | head -3; echo hi > f.txt; ls -ln; echo err >&2; exit 3", Stdout: &out, Stderr: &errb})
		t.Logf("%v %+v err=%v\nstdout:\n%s\nstderr:\n%s", time.Since(t0), res, err, out.String(), errb.String())
	}
}
