package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/herm"
)

// The cgroup files are written into a directory laid out like each
// hierarchy (this machine's v2 has no usable controllers, so the v2 path
// is checked this way; the v1 path also runs for real in the conformance
// suite).

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestCgroupV2Files(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpuset cpu io memory hugetlb pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := detectCgroups(root, "herm")
	if c.mode != cgroupV2 {
		t.Fatalf("mode %s (%s)", c.mode, c.why)
	}
	if got := read(t, filepath.Join(root, "herm", "cgroup.subtree_control")); got != "+memory +pids +cpu" {
		t.Fatalf("subtree_control %q", got)
	}
	g, err := c.create("dep_a.1", herm.Resources{CPU: 0.5, MemoryMB: 64, PIDs: 32})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "herm", "dep_a.1")
	for file, want := range map[string]string{"memory.max": "67108864", "memory.swap.max": "0", "pids.max": "32", "cpu.max": "50000 100000"} {
		if got := read(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if err := g.add(1234); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "cgroup.procs")); got != "1234" {
		t.Fatalf("cgroup.procs %q", got)
	}
	// Unlimited.
	if _, err := c.create("dep_b.1", herm.Resources{}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(root, "herm", "dep_b.1", "memory.max")); got != "max" {
		t.Fatalf("memory.max unlimited %q", got)
	}
}

func TestCgroupV1Files(t *testing.T) {
	root := t.TempDir()
	for _, ctl := range []string{"memory", "pids", "cpu"} {
		if err := os.Mkdir(filepath.Join(root, ctl), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := detectCgroups(root, "herm")
	if c.mode != cgroupV1 {
		t.Fatalf("mode %s (%s)", c.mode, c.why)
	}
	if _, err := c.create("dep_a.1", herm.Resources{CPU: 2, MemoryMB: 128, PIDs: 10}); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"memory/herm/dep_a.1/memory.limit_in_bytes": "134217728",
		"pids/herm/dep_a.1/pids.max":                "10",
		"cpu/herm/dep_a.1/cpu.cfs_quota_us":         "200000",
		"cpu/herm/dep_a.1/cpu.cfs_period_us":        "100000",
	} {
		if got := read(t, filepath.Join(root, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

func TestCgroupNone(t *testing.T) {
	c := detectCgroups(t.TempDir(), "herm")
	if c.mode != cgroupNone || c.why == "" {
		t.Fatalf("mode %s, why %q", c.mode, c.why)
	}
}

// A deployment's groups are told apart from those of a deployment whose id
// starts like its own.
func TestGroupOf(t *testing.T) {
	for name, want := range map[string]bool{
		"dep_a.1":            true,  // before instance tokens
		"dep_a.0badf00d.12":  true,  // another server's, or this one's
		"dep_a.b.1":          false, // dep_a.b's, from before tokens
		"dep_a.b.0badf00d.1": false,
		"dep_a.0BADF00D.1":   false,
		"dep_ab.1":           false,
		"dep_a.":             false,
		"dep_a.0badf00d.":    false,
	} {
		if got := groupOf(name, "dep_a"); got != want {
			t.Errorf("groupOf(%q, dep_a) = %v", name, got)
		}
	}
}
