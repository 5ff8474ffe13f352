package local_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/local"
	"github.com/hermhq/herm/internal/sandbox/sandboxtest"
)

// Several servers share one data dir in a cluster. In production they are
// separate processes (on one machine or on several, over a shared file
// system); here two Driver values in one test process stand for two of
// them: they share nothing but the directory, as two processes would.

const uidBase, uidRange = 1 << 30, 65536

// rangeOfWorkspace is the uid range a deployment's workspace belongs to.
func rangeOfWorkspace(t *testing.T, sb sandbox.Sandbox) int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(sb.Workspace().Dir(), &st); err != nil {
		t.Fatal(err)
	}
	return (int(st.Uid) - uidBase) / uidRange
}

// uniq makes a deployment id of this test process: the sandboxes' cgroups
// are named by it, machine-wide, and another test process may run the same
// test at the same time.
func uniq(id string) string { return fmt.Sprintf("%s_%d", id, os.Getpid()) }

// sharedDriver is a driver of a server that shares its data dir with
// others (Options.Shared).
func sharedDriver(t *testing.T, root string, idle time.Duration) *local.Driver {
	t.Helper()
	d, err := local.New(local.Options{Root: root, IdleTimeout: idle, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(t.Context()); err != nil {
		t.Skip(err)
	}
	return d
}

func ensure(t *testing.T, d *local.Driver, id string) sandbox.Sandbox {
	t.Helper()
	sb, err := d.Ensure(t.Context(), sandbox.Spec{DeploymentID: id})
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// The attack: driver B learned the reserved ranges (from the workspaces)
// before driver A allocated one; then each allocates for another customer.
// They must not get the same range, or each customer's sandbox could read
// the other's workspace.
func TestRangesTwoDrivers(t *testing.T) {
	t.Run("BStartedBeforeAAllocated", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "workspaces")
		a := sharedDriver(t, root, time.Minute)
		defer a.Close(t.Context())
		b := sharedDriver(t, root, time.Minute)
		defer b.Close(t.Context())
		x, y := ensure(t, a, uniq("dep_x")), ensure(t, b, uniq("dep_y"))
		if kx, ky := rangeOfWorkspace(t, x), rangeOfWorkspace(t, y); kx == ky {
			t.Fatalf("two customers share uid range %d", kx)
		}
		// And the sandboxes really run as different users.
		if ux, uy := exec(t, x, "touch f && stat -c %u f"), exec(t, y, "touch f && stat -c %u f"); ux != uy {
			t.Fatalf("inside: uid %q vs %q (both are uid 1000 inside)", ux, uy)
		}
		var fx, fy syscall.Stat_t
		_ = syscall.Stat(filepath.Join(x.Workspace().Dir(), "f"), &fx)
		_ = syscall.Stat(filepath.Join(y.Workspace().Dir(), "f"), &fy)
		if fx.Uid == fy.Uid {
			t.Fatalf("files of both customers are owned by host uid %d", fx.Uid)
		}
	})
	t.Run("BStartedAfter", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "workspaces")
		a := sharedDriver(t, root, time.Minute)
		defer a.Close(t.Context())
		x := ensure(t, a, uniq("dep_x"))
		b := sharedDriver(t, root, time.Minute)
		defer b.Close(t.Context())
		if kx, ky := rangeOfWorkspace(t, x), rangeOfWorkspace(t, ensure(t, b, uniq("dep_y"))); kx == ky {
			t.Fatalf("two customers share uid range %d", kx)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "workspaces")
		drivers := []*local.Driver{sharedDriver(t, root, time.Minute), sharedDriver(t, root, time.Minute), sharedDriver(t, root, time.Minute)}
		var mu sync.Mutex
		owner := make(map[int]string)
		var wg sync.WaitGroup
		for i, d := range drivers {
			defer d.Close(t.Context())
			for j := range 12 {
				id := fmt.Sprintf("dep_%d_%d", i, j)
				wg.Go(func() {
					sb, err := d.Ensure(t.Context(), sandbox.Spec{DeploymentID: id})
					if err != nil {
						t.Error(err)
						return
					}
					k := rangeOfWorkspace(t, sb)
					mu.Lock()
					defer mu.Unlock()
					if other, dup := owner[k]; dup {
						t.Errorf("%s and %s share uid range %d", id, other, k)
					}
					owner[k] = id
				})
			}
		}
		wg.Wait()
	})
}

// One driver makes sandboxes side by side (the disk work is outside its
// lock): Ensures of one deployment give one sandbox on one range, and a
// Destroy racing an Ensure leaves no reservation and no workspace behind
// once the last Destroy returns.
func TestEnsureConcurrently(t *testing.T) {
	t.Run("Shared", func(t *testing.T) { ensureConcurrently(t, true) })
	t.Run("Alone", func(t *testing.T) { ensureConcurrently(t, false) })
}

func ensureConcurrently(t *testing.T, shared bool) {
	root := filepath.Join(t.TempDir(), "workspaces")
	ranges := filepath.Join(filepath.Dir(root), "sandbox", "ranges")
	d := newDriver(t, root, time.Minute)
	if shared {
		d = sharedDriver(t, root, time.Minute)
	}
	defer d.Close(t.Context())
	reserved := func() int {
		entries, err := os.ReadDir(ranges)
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}

	id := uniq("dep_same")
	got := make([]sandbox.Sandbox, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			sb, err := d.Ensure(t.Context(), sandbox.Spec{DeploymentID: id})
			if err != nil {
				t.Error(err)
			}
			got[i] = sb
		})
	}
	wg.Wait()
	for _, sb := range got[1:] {
		if sb != got[0] {
			t.Fatal("concurrent Ensures of one deployment made two sandboxes")
		}
	}
	if n := reserved(); shared && n != 1 {
		t.Fatalf("%d uid ranges reserved for one deployment", n)
	}
	// Another deployment gets another range.
	if k, other := rangeOfWorkspace(t, got[0]), rangeOfWorkspace(t, ensure(t, d, uniq("dep_other"))); k == other {
		t.Fatalf("two deployments on uid range %d", k)
	}
	if err := d.Destroy(t.Context(), uniq("dep_other")); err != nil {
		t.Fatal(err)
	}

	racer := uniq("dep_racer")
	for range 20 {
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = d.Ensure(t.Context(), sandbox.Spec{DeploymentID: racer}) })
		wg.Go(func() {
			if err := d.Destroy(t.Context(), racer); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
	}
	if err := d.Destroy(t.Context(), racer); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, racer)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the destroyed deployment's workspace is still there: %v", err)
	}
	entries, err := os.ReadDir(ranges)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(ranges, e.Name(), racer)); err == nil {
			t.Fatalf("range %s is still reserved for the destroyed deployment", e.Name())
		}
	}
	want := 0 // a server alone on its data dir reserves nothing on disk
	if shared {
		want = 1 // dep_same's
	}
	if len(entries) != want {
		t.Fatalf("%d ranges reserved on disk, want %d", len(entries), want)
	}
	// The racer's range is free again: the next deployment takes the
	// lowest free range, which is below dep_same's or the one after it.
	if k := rangeOfWorkspace(t, ensure(t, d, uniq("dep_next"))); k == rangeOfWorkspace(t, got[0]) {
		t.Fatalf("a new deployment got dep_same's range %d", k)
	}
}

// A server alone on its data dir (SQLite) keeps its reservations in
// memory; after a restart its workspaces keep their ranges and new
// deployments get others, and reservations left on disk by the data dir's
// days in a cluster still count.
func TestRangesAlone(t *testing.T) {
	root := filepath.Join(t.TempDir(), "workspaces")
	ranges := filepath.Join(filepath.Dir(root), "sandbox", "ranges")
	c := sharedDriver(t, root, time.Minute)
	kc := rangeOfWorkspace(t, ensure(t, c, "dep_cluster"))
	_ = c.Close(t.Context())

	a := newDriver(t, root, time.Minute)
	ka, kb := rangeOfWorkspace(t, ensure(t, a, "dep_a")), rangeOfWorkspace(t, ensure(t, a, "dep_b"))
	if ka == kb || ka == kc || kb == kc {
		t.Fatalf("ranges %d, %d, %d: shared", kc, ka, kb)
	}
	if _, err := os.Stat(filepath.Join(ranges, strconv.Itoa(ka))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a server alone reserved range %d on disk: %v", ka, err)
	}
	_ = a.Close(t.Context())

	b := newDriver(t, root, time.Minute)
	defer b.Close(t.Context())
	if k := rangeOfWorkspace(t, ensure(t, b, "dep_new")); k == ka || k == kb || k == kc {
		t.Fatalf("after a restart a new deployment got range %d of another", k)
	}
	for id, k := range map[string]int{"dep_a": ka, "dep_b": kb, "dep_cluster": kc} {
		if got := rangeOfWorkspace(t, ensure(t, b, id)); got != k {
			t.Fatalf("%s moved from range %d to %d", id, k, got)
		}
	}
	// Destroying the deployment of the cluster's days releases its
	// reservation on disk.
	if err := b.Destroy(t.Context(), "dep_cluster"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ranges, strconv.Itoa(kc))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("range %d still reserved on disk: %v", kc, err)
	}
}

// workspaceOn makes a workspace the way a server from before reservations
// left it: a directory (with a file) owned by range k's sandbox user.
func workspaceOn(t *testing.T, root, id string, k int) {
	t.Helper()
	dir := filepath.Join(root, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "old.txt"), []byte(id), 0o600); err != nil {
		t.Fatal(err)
	}
	uid := uidBase + k*uidRange + 1000
	for _, p := range []string{filepath.Join(dir, "old.txt"), dir} {
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
}

// Workspaces from before reservations keep their ranges, which no new
// deployment gets; two that were given one range (the race this fixes)
// end up on two, each with its files.
func TestRangesOfOldWorkspaces(t *testing.T) {
	root := filepath.Join(t.TempDir(), "workspaces")
	workspaceOn(t, root, "dep_old", 0)
	workspaceOn(t, root, uniq("dep_twin1"), 1)
	workspaceOn(t, root, uniq("dep_twin2"), 1)
	a := sharedDriver(t, root, time.Minute)
	defer a.Close(t.Context())
	b := sharedDriver(t, root, time.Minute)
	defer b.Close(t.Context())
	if k := rangeOfWorkspace(t, ensure(t, b, "dep_new")); k <= 1 {
		t.Fatalf("a new deployment got the old workspaces' range %d", k)
	}
	if k := rangeOfWorkspace(t, ensure(t, b, "dep_old")); k != 0 {
		t.Fatalf("an old workspace moved to range %d", k)
	}
	t1, t2 := ensure(t, a, uniq("dep_twin1")), ensure(t, b, uniq("dep_twin2"))
	if k1, k2 := rangeOfWorkspace(t, t1), rangeOfWorkspace(t, t2); k1 == k2 {
		t.Fatalf("the twins still share range %d", k1)
	}
	if out := exec(t, t2, "cat old.txt && echo more >> old.txt"); out != uniq("dep_twin2") {
		t.Fatalf("the moved workspace's file: %q", out)
	}
}

// Destroy releases a deployment's range (also on a server that never ran
// it, and when tried again after being cut short), and never another
// deployment's.
func TestRangesDestroy(t *testing.T) {
	root := filepath.Join(t.TempDir(), "workspaces")
	ranges := filepath.Join(filepath.Dir(root), "sandbox", "ranges")
	a := sharedDriver(t, root, time.Minute)
	defer a.Close(t.Context())
	b := sharedDriver(t, root, time.Minute)
	defer b.Close(t.Context())
	k := rangeOfWorkspace(t, ensure(t, a, "dep_gone"))
	if err := b.Destroy(t.Context(), "dep_gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ranges, strconv.Itoa(k))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("range %d still reserved after Destroy: %v", k, err)
	}
	// A Destroy cut short after the files went: the empty workspace still
	// names the range, and the next Destroy releases it.
	cut := ensure(t, a, uniq("dep_cut"))
	k = rangeOfWorkspace(t, cut)
	exec(t, cut, "mkdir -p d && echo x > d/f")
	_ = a.Close(t.Context())
	if err := os.RemoveAll(filepath.Join(root, uniq("dep_cut"), "d")); err != nil {
		t.Fatal(err)
	}
	c := sharedDriver(t, root, time.Minute)
	defer c.Close(t.Context())
	if err := c.Destroy(t.Context(), uniq("dep_cut")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ranges, strconv.Itoa(k))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("range %d still reserved after Destroy: %v", k, err)
	}
	// A workspace on another deployment's range (made before
	// reservations): destroying it leaves the other's reservation.
	owner := rangeOfWorkspace(t, ensure(t, b, "dep_owner"))
	workspaceOn(t, root, "dep_squatter", owner)
	if err := c.Destroy(t.Context(), "dep_squatter"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ranges, strconv.Itoa(owner), "dep_owner")); err != nil {
		t.Fatalf("another deployment's reservation went: %v", err)
	}
	if k := rangeOfWorkspace(t, ensure(t, c, "dep_next")); k == owner {
		t.Fatalf("a new deployment got dep_owner's range %d", k)
	}
}

// sandboxProcesses lists the live (not zombie) processes of the sandbox
// of the workspace dir, on uid range k: those with a uid in the range and
// that workspace at /workspace (other servers on this machine, with other
// data dirs, number their ranges alike).
func sandboxProcesses(t *testing.T, dir string, k int) []string {
	t.Helper()
	ws, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		f, err := os.Open(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var name, state string
		uid := -1
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			key, v, _ := strings.Cut(sc.Text(), ":")
			v = strings.TrimSpace(v)
			switch key {
			case "Name":
				name = v
			case "State":
				state = v
			case "Uid":
				uid, _ = strconv.Atoi(strings.Fields(v)[0])
			}
		}
		f.Close()
		if uid < uidBase+k*uidRange || uid >= uidBase+(k+1)*uidRange || strings.HasPrefix(state, "Z") {
			continue
		}
		if fi, err := os.Stat(filepath.Join("/proc", e.Name(), "root", "workspace")); err == nil && os.SameFile(fi, ws) {
			out = append(out, e.Name()+" "+name)
		}
	}
	return out
}

// groups lists a deployment's cgroups under herm in the hierarchies the
// driver uses, and whether each has processes.
func groups(t *testing.T, id string) map[string]bool {
	t.Helper()
	out := make(map[string]bool)
	for _, parent := range []string{"/sys/fs/cgroup/herm", "/sys/fs/cgroup/memory/herm", "/sys/fs/cgroup/pids/herm", "/sys/fs/cgroup/cpu/herm"} {
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), id+".") {
				continue
			}
			procs, _ := os.ReadFile(filepath.Join(parent, e.Name(), "cgroup.procs"))
			out[e.Name()] = out[e.Name()] || len(strings.TrimSpace(string(procs))) > 0
		}
	}
	return out
}

// nodeEnv makes this test binary a server node that runs a sandbox and
// waits to be killed (TestTakeover): "<workspace root> <deployment id>".
const nodeEnv = "HERM_TEST_LOCAL_NODE"

// runNode is the node: a sandbox with every kind of process a dead server
// can leave (a command in flight, background ones, one that made its own
// session, a double-forked daemon), restarted once so that its cgroup is
// not the first name a new server would pick, and an egress listener.
func runNode(arg string) {
	root, id := sandboxtest.NodeArgs(arg)
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	d, err := local.New(local.Options{Root: root, IdleTimeout: -1, Shared: true})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if err := d.Check(ctx); err != nil {
		fail(err)
	}
	sb, err := d.Ensure(ctx, sandbox.Spec{DeploymentID: id})
	if err != nil {
		fail(err)
	}
	for _, req := range []sandbox.ExecRequest{
		{Command: "echo from-a > a.txt"},
		{Command: "stop"},
		{Command: "sleep 1001", Background: true},
		{Command: sandboxtest.TickCommand, Background: true},
		{Command: "sh -c 'sleep 1003 > /dev/null 2>&1 &'; sleep 1004", Background: true},
	} {
		if req.Command == "stop" {
			_ = sb.Stop(ctx)
			continue
		}
		if res, err := sb.Exec(ctx, req); err != nil || res.ExitCode != 0 {
			fail(fmt.Errorf("%q: %+v %v", req.Command, res, err))
		}
	}
	go sb.Exec(ctx, sandbox.ExecRequest{Command: "sleep 1005"})
	if _, err := sb.(interface {
		Listen(network, addr string) (net.Listener, error)
	}).Listen("tcp", local.ProxyAddr); err != nil {
		fail(err)
	}
	time.Sleep(200 * time.Millisecond) // the command in flight starts
	fmt.Println("ready")
	select {}
}

// A server killed with kill -9 while its sandbox runs: every process of
// the sandbox dies with it (nothing of its uid range is left), and another
// server on the same data dir takes the deployment over: it removes the
// cgroups the dead one left and runs the sandbox, on the same uid range,
// with its files.
func TestTakeover(t *testing.T) {
	root := filepath.Join(t.TempDir(), "workspaces")
	// Unique on this machine: cgroups outlive the test's directories.
	id := fmt.Sprintf("dep_taken%d", os.Getpid())
	probe := sharedDriver(t, root, time.Minute) // skips without root
	cgroups := probe.CgroupMode() != "none"
	_ = probe.Close(t.Context())

	kill := sandboxtest.StartNode(t, nodeEnv+"="+root+" "+id)
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, id), &st); err != nil {
		t.Fatal(err)
	}
	k := (int(st.Uid) - uidBase) / uidRange
	if procs := sandboxProcesses(t, filepath.Join(root, id), k); len(procs) < 6 {
		t.Fatalf("the node's sandbox runs only %v", procs)
	}

	kill()
	var left []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if left = sandboxProcesses(t, filepath.Join(root, id), k); len(left) == 0 {
			break
		}
	}
	if len(left) > 0 {
		t.Fatalf("processes of the killed server's sandbox live on: %v", left)
	}
	sandboxtest.TickStopped(t, filepath.Join(root, id))
	stale := groups(t, id)
	t.Logf("left by the killed server: cgroups %v", stale)
	if cgroups && len(stale) == 0 {
		t.Fatal("no cgroup left behind: the test no longer shows what it should")
	}
	for name, busy := range stale {
		if busy {
			t.Fatalf("cgroup %s of the killed server still has processes", name)
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), filepath.Dir(root)) {
		t.Fatalf("mounts under the data dir are left: %s", b)
	}

	b := sharedDriver(t, root, time.Minute)
	defer b.Close(t.Context())
	sb := ensure(t, b, id)
	if got := rangeOfWorkspace(t, sb); got != k {
		t.Fatalf("the deployment moved from range %d to %d", k, got)
	}
	if out := exec(t, sb, "cat a.txt"); out != "from-a\n" {
		t.Fatalf("after the takeover: %q", out)
	}
	now := groups(t, id)
	for name := range stale {
		if _, ok := now[name]; ok {
			t.Errorf("the dead server's cgroup %s is still there", name)
		}
	}
	if cgroups && len(now) != 1 {
		t.Errorf("cgroups after the takeover: %v, want only the new sandbox's", now)
	}
}

// While one server runs a deployment's sandbox, another (sharing the
// data dir and the machine) must not start it too: its command fails with
// sandbox.ErrInUse and the first sandbox goes on. Once that stops, the
// other starts it, and now the first one is refused.
func TestTakeoverRefusesLiveOwner(t *testing.T) {
	root := filepath.Join(t.TempDir(), "workspaces")
	a := sharedDriver(t, root, time.Minute)
	defer a.Close(t.Context())
	b := sharedDriver(t, root, time.Minute)
	defer b.Close(t.Context())
	sa, sb := ensure(t, a, uniq("dep_one")), ensure(t, b, uniq("dep_one"))
	exec(t, sa, "echo a > owner")
	if _, err := sa.Exec(t.Context(), sandbox.ExecRequest{Command: "sleep 1000", Background: true}); err != nil {
		t.Fatal(err)
	}
	res, err := sb.Exec(t.Context(), sandbox.ExecRequest{Command: "echo b > owner"})
	if !errors.Is(err, sandbox.ErrInUse) {
		t.Fatalf("a second server ran the sandbox: %+v %v", res, err)
	}
	t.Log(err)
	if out := exec(t, sa, "cat owner"); out != "a\n" {
		t.Fatalf("owner file %q", out)
	}
	if err := sa.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	exec(t, sb, "echo b > owner")
	if _, err := sb.Exec(t.Context(), sandbox.ExecRequest{Command: "sleep 1000", Background: true}); err != nil {
		t.Fatal(err)
	}
	if res, err := sa.Exec(t.Context(), sandbox.ExecRequest{Command: "echo a > owner"}); !errors.Is(err, sandbox.ErrInUse) {
		t.Fatalf("the first server started the sandbox again while the second runs it: %+v %v", res, err)
	}
	if out := exec(t, sb, "cat owner"); out != "b\n" {
		t.Fatalf("owner file %q", out)
	}
}

// A cgroup of the deployment that another server made and that still has
// processes (here: a process put there by hand, not of the sandbox's uid
// range) is not touched, and the start fails; once it is empty, it is
// removed and the sandbox starts.
func TestTakeoverBusyCgroup(t *testing.T) {
	d := sharedDriver(t, filepath.Join(t.TempDir(), "workspaces"), time.Minute)
	defer d.Close(t.Context())
	var parents []string
	switch d.CgroupMode() {
	case "v2":
		parents = []string{"/sys/fs/cgroup/herm"}
	case "v1":
		parents = []string{"/sys/fs/cgroup/memory/herm", "/sys/fs/cgroup/pids/herm", "/sys/fs/cgroup/cpu/herm"}
	default:
		t.Skip("no cgroups here")
	}
	id := fmt.Sprintf("dep_busy%d", os.Getpid())
	other := id + ".0badf00d.3" // another server's name for its third start
	sleeper := osexec.Command("sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Process.Kill()
	for _, p := range parents {
		dir := filepath.Join(p, other)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Remove(dir) })
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(sleeper.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	sb := ensure(t, d, id)
	_, err := sb.Exec(t.Context(), sandbox.ExecRequest{Command: "true"})
	if !errors.Is(err, sandbox.ErrInUse) || !strings.Contains(err.Error(), other) {
		t.Fatalf("started beside a busy cgroup of the deployment: %v", err)
	}
	t.Log(err)
	if busy := groups(t, id)[other]; !busy {
		t.Fatal("the busy cgroup was touched")
	}
	_ = sleeper.Process.Kill()
	_ = sleeper.Wait()
	exec(t, sb, "true")
	if g := groups(t, id); len(g) != 1 || g[other] {
		t.Fatalf("cgroups after the start: %v", g)
	}
}
