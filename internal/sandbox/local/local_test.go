package local_test

import (
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/local"
	"github.com/hermhq/herm/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) {
	local.MaybeRunInit() // this test binary is also the sandboxes' init
	if root := os.Getenv(nodeEnv); root != "" {
		runNode(root) // and a server node that TestTakeover kills
	}
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

func newDriver(t *testing.T, root string, idle time.Duration) *local.Driver {
	t.Helper()
	d, err := local.New(local.Options{Root: root, IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(t.Context()); err != nil {
		t.Skip(err)
	}
	return d
}

func exec(t *testing.T, sb sandbox.Sandbox, command string) string {
	t.Helper()
	var out strings.Builder
	res, err := sb.Exec(t.Context(), sandbox.ExecRequest{Command: command, Stdout: &out, Timeout: 20 * time.Second})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%q: %+v %v", command, res, err)
	}
	return out.String()
}

// An idle sandbox stops (no process left) and starts again on demand,
// with its files; a new driver on the same directory (a server restart)
// finds each workspace's uid range again.
func TestIdleStopAndRestart(t *testing.T) {
	root := filepath.Join(t.TempDir(), "workspaces")
	d := newDriver(t, root, 300*time.Millisecond)
	spec := sandbox.Spec{DeploymentID: "dep_idle"}
	sb, err := d.Ensure(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, sb, "echo persisted > f.txt; sleep 1000 > /dev/null 2>&1 &")
	if _, err := sb.Exec(t.Context(), sandbox.ExecRequest{Command: "sleep 1000", Background: true}); err != nil {
		t.Fatal(err)
	}
	running := sb.(interface{ Running() bool })
	if !running.Running() {
		t.Fatal("not running after a command")
	}
	deadline := time.Now().Add(10 * time.Second)
	for running.Running() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if running.Running() {
		t.Fatal("still running after the idle time")
	}
	if out := exec(t, sb, "cat f.txt"); out != "persisted\n" {
		t.Fatalf("after an idle stop: %q", out)
	}
	var before syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, "dep_idle", "f.txt"), &before); err != nil {
		t.Fatal(err)
	}
	if before.Uid < 1<<30 {
		t.Fatalf("workspace file owned by host uid %d, want the deployment's range", before.Uid)
	}
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	d2 := newDriver(t, root, time.Minute)
	defer d2.Close(t.Context())
	other, err := d2.Ensure(t.Context(), sandbox.Spec{DeploymentID: "dep_other"})
	if err != nil {
		t.Fatal(err)
	}
	exec(t, other, "echo other > o.txt")
	sb2, err := d2.Ensure(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if out := exec(t, sb2, "cat f.txt && echo again >> f.txt && cat f.txt"); out != "persisted\npersisted\nagain\n" {
		t.Fatalf("after a restart: %q", out)
	}
	var after, o syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, "dep_idle", "f.txt"), &after); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(filepath.Join(root, "dep_other", "o.txt"), &o); err != nil {
		t.Fatal(err)
	}
	if after.Uid != before.Uid {
		t.Fatalf("uid changed across restarts: %d → %d", before.Uid, after.Uid)
	}
	if o.Uid == before.Uid {
		t.Fatalf("two deployments share host uid %d", o.Uid)
	}
}

// Listen serves a host listener inside the sandbox's network namespace:
// the sandbox reaches it on its loopback, the host's loopback does not.
func TestListenInside(t *testing.T) {
	d := newDriver(t, filepath.Join(t.TempDir(), "workspaces"), time.Minute)
	defer d.Close(t.Context())
	sb, err := d.Ensure(t.Context(), sandbox.Spec{DeploymentID: "dep_net"})
	if err != nil {
		t.Fatal(err)
	}
	// The sandbox cannot take a privileged port of its own namespace.
	r, err := sb.Exec(t.Context(), sandbox.ExecRequest{Command: `python3 -c "import socket; socket.socket().bind(('127.0.0.1', 80))"`})
	if err != nil || r.ExitCode == 0 {
		t.Fatalf("the sandbox bound port 80: %+v %v", r, err)
	}
	ln, err := sb.(interface {
		Listen(network, addr string) (net.Listener, error)
	}).Listen("tcp", "127.0.0.1:80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sandboxtest.Serve(ln, "served by the host")
	out := exec(t, sb, `python3 -c "import socket; print(socket.create_connection(('127.0.0.1', 80), 3).recv(100).decode())"`)
	if out != "served by the host\n" {
		t.Fatalf("inside: %q", out)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:80", time.Second); err == nil {
		c.Close()
		t.Fatal("the in-sandbox listener is reachable from the host's loopback")
	}
}

func BenchmarkShellRoundTrip(b *testing.B) {
	d, err := local.New(local.Options{Root: filepath.Join(b.TempDir(), "workspaces")})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Check(b.Context()); err != nil {
		b.Skip(err)
	}
	defer d.Close(b.Context())
	sb, err := d.Ensure(b.Context(), sandbox.Spec{DeploymentID: "dep_bench"})
	if err != nil {
		b.Fatal(err)
	}
	run := func() {
		var out strings.Builder
		res, err := sb.Exec(b.Context(), sandbox.ExecRequest{Command: "echo hi", Stdout: &out})
		if err != nil || res.ExitCode != 0 || out.String() != "hi\n" {
			b.Fatalf("%+v %v %q", res, err, out.String())
		}
	}
	run() // start the sandbox
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		run()
		ds = append(ds, time.Since(t0))
	}
	sandboxtest.ReportPercentiles(b, ds)
}

func BenchmarkColdStart(b *testing.B) {
	d, err := local.New(local.Options{Root: filepath.Join(b.TempDir(), "workspaces")})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Check(b.Context()); err != nil {
		b.Skip(err)
	}
	defer d.Close(b.Context())
	sb, err := d.Ensure(b.Context(), sandbox.Spec{DeploymentID: "dep_cold"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := sb.Exec(b.Context(), sandbox.ExecRequest{Command: "true"}); err != nil {
			b.Fatal(err)
		}
		_ = sb.Stop(b.Context())
	}
}

// With the workspaces on a file system with project quotas (an ext4 image
// mounted with prjquota, made here), the disk quota is exact: a command
// cannot write past it, and raising it takes effect at once. Skipped where
// the kernel has no quota support (CONFIG_QUOTA), as on the development
// machine of 2026-11.
func TestProjectQuota(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a file system")
	}
	mkfs, err := osexec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("no mkfs.ext4")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "ws.img"), filepath.Join(dir, "mnt")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 128<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := osexec.Command(mkfs, "-q", "-F", "-I", "256", "-O", "project", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4 with project quotas: %v %s", err, out)
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := osexec.Command("mount", "-o", "loop,prjquota", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("this kernel cannot mount ext4 with project quotas: %v %s", err, out)
	}
	t.Cleanup(func() { _ = osexec.Command("umount", "-l", mnt).Run() })
	d := newDriver(t, filepath.Join(mnt, "workspaces"), time.Minute)
	defer d.Close(t.Context())
	spec := sandbox.Spec{DeploymentID: "dep_quota", Resources: herm.Resources{DiskMB: 4}}
	sb, err := d.Ensure(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	res, err := sb.Exec(t.Context(), sandbox.ExecRequest{Command: "for f in a b c; do head -c 2000000 /dev/zero > $f || exit 1; done", Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode == 0 || !strings.Contains(errb.String(), "quota") {
		t.Fatalf("wrote 6 MB under a 4 MB project quota: %+v %q", res, errb.String())
	}
	spec.Resources.DiskMB = 16
	if _, err := d.Ensure(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	exec(t, sb, "rm -f a b c && for f in a b c; do head -c 2000000 /dev/zero > $f || exit 1; done")
}
