package local_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hermhq/herm/internal/sandbox/local"
	"github.com/hermhq/herm/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) {
	local.MaybeRunInit() // this test binary is also the sandboxes' init
	os.Exit(m.Run())
}

// TestConformance needs root and user namespaces; it skips elsewhere.
func TestConformance(t *testing.T) {
	data := t.TempDir()
	d, err := local.New(local.Options{Root: filepath.Join(data, "workspaces")})
	if err != nil {
		t.Fatal(err)
	}
	limits := false
	if err := d.Check(t.Context()); err == nil {
		limits = d.CgroupMode() != "none"
	}
	sandboxtest.Run(t, d, sandboxtest.Options{Isolated: true, Limits: limits, DataDir: data})
}
