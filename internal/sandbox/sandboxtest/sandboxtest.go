// Package sandboxtest is the conformance suite every sandbox driver passes:
// running commands (output, exit codes, timeouts that kill the whole
// process tree, background processes, cancellation), the workspace (shared
// between the host and the sandbox, confined against symlink and ".."
// escapes, persistent across stops, quota) and, for isolating drivers, the
// escape tests: host files, other deployments' workspaces, the server's
// data, the network, fork storms, memory bombs, ptrace, mount, unshare.
package sandboxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
)

// Options describe what the driver under test promises.
type Options struct {
	// Isolated drivers must pass the escape tests.
	Isolated bool
	// Limits: memory and pids limits are enforced (cgroups usable).
	Limits bool
	// DataDir is the server's data directory the driver keeps workspaces
	// in; isolated sandboxes must not see it.
	DataDir string
}

// Run runs the suite against a driver. newDriver is called once; the
// suite closes the driver at the end.
func Run(t *testing.T, drv sandbox.Driver, opts Options) {
	ctx := context.Background() // also for the cleanups, which run after t.Context() ends
	if err := drv.Check(ctx); err != nil {
		t.Skipf("driver %s unavailable here: %v", drv.Name(), err)
	}
	t.Cleanup(func() { _ = drv.Close(ctx) })
	n := 0
	var mu sync.Mutex
	ensure := func(t *testing.T, r herm.Resources) sandbox.Sandbox {
		t.Helper()
		mu.Lock()
		n++
		id := fmt.Sprintf("dep_conf%d_%d", n, time.Now().UnixNano()%1e6)
		mu.Unlock()
		sb, err := drv.Ensure(ctx, sandbox.Spec{DeploymentID: id, Resources: r, Network: herm.Network{Egress: herm.EgressNone}})
		if err != nil {
			t.Fatalf("Ensure: %v", err)
		}
		t.Cleanup(func() { _ = drv.Destroy(ctx, id) })
		return sb
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, sb sandbox.Sandbox)
		res  herm.Resources
	}{
		{"Output", testOutput, herm.Resources{}},
		{"StdinEnvDir", testStdinEnvDir, herm.Resources{}},
		{"TimeoutKillsTree", testTimeout, herm.Resources{}},
		{"ForegroundTreeEndsWithCommand", testTreeEnds, herm.Resources{}},
		{"Cancel", testCancel, herm.Resources{}},
		{"Background", testBackground, herm.Resources{}},
		{"Jobs", testJobs, herm.Resources{}},
		{"StopAndRestart", testStopRestart, herm.Resources{}},
		{"Concurrent", testConcurrent, herm.Resources{}},
		{"SharedWorkspace", testSharedWorkspace, herm.Resources{}},
		{"WorkspaceEscapes", testWorkspaceEscapes, herm.Resources{}},
		{"DiskQuota", testQuota, herm.Resources{DiskMB: 1}},
		{"SpecialFiles", testSpecialFiles, herm.Resources{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, ensure(t, tc.res)) })
	}
	t.Run("Destroy", func(t *testing.T) {
		sb := ensure(t, herm.Resources{})
		mustRun(t, sb, "echo x > f")
		dir := sb.Workspace().Dir()
		id := filepath.Base(dir)
		if err := drv.Destroy(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("workspace after destroy: %v", err)
		}
		if err := drv.Destroy(ctx, id); err != nil {
			t.Fatalf("destroying twice: %v", err)
		}
	})
	if !opts.Isolated {
		return
	}
	t.Run("Escape", func(t *testing.T) {
		t.Run("Identity", func(t *testing.T) { testIdentity(t, ensure(t, herm.Resources{})) })
		t.Run("HostFiles", func(t *testing.T) { testHostFiles(t, ensure(t, herm.Resources{}), opts) })
		t.Run("OtherWorkspace", func(t *testing.T) {
			testOtherWorkspace(t, ensure(t, herm.Resources{}), ensure(t, herm.Resources{}))
		})
		t.Run("Network", func(t *testing.T) { testNetwork(t, ensure(t, herm.Resources{})) })
		t.Run("Privileged", func(t *testing.T) { testPrivileged(t, ensure(t, herm.Resources{})) })
		t.Run("Descriptors", func(t *testing.T) { testDescriptors(t, ensure(t, herm.Resources{})) })
		t.Run("ForeignABI", func(t *testing.T) { testForeignABI(t, ensure(t, herm.Resources{})) })
		t.Run("ForkStorm", func(t *testing.T) {
			if !opts.Limits {
				t.Skip("no pids limit on this machine")
			}
			testForkStorm(t, ensure(t, herm.Resources{PIDs: 64}))
		})
		t.Run("MemoryBomb", func(t *testing.T) {
			if !opts.Limits {
				t.Skip("no memory limit on this machine")
			}
			testMemoryBomb(t, ensure(t, herm.Resources{MemoryMB: 64}))
		})
	})
}

type result struct {
	*sandbox.ExecResult
	stdout, stderr string
}

func run(t *testing.T, sb sandbox.Sandbox, req sandbox.ExecRequest) (result, error) {
	t.Helper()
	var out, errb syncBuffer
	req.Stdout, req.Stderr = &out, &errb
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	res, err := sb.Exec(ctx, req)
	return result{ExecResult: res, stdout: out.String(), stderr: errb.String()}, err
}

// mustRun runs a command that must exit 0 and returns its stdout.
func mustRun(t *testing.T, sb sandbox.Sandbox, command string) string {
	t.Helper()
	r, err := run(t, sb, sandbox.ExecRequest{Command: command, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("%q: %v", command, err)
	}
	if r.ExitCode != 0 {
		t.Fatalf("%q: exit %d (signal %q)\nstdout: %s\nstderr: %s", command, r.ExitCode, r.Signal, r.stdout, r.stderr)
	}
	return r.stdout
}

// mustFail runs a command that must not exit 0.
func mustFail(t *testing.T, sb sandbox.Sandbox, why, command string) result {
	t.Helper()
	r, err := run(t, sb, sandbox.ExecRequest{Command: command, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("%q: %v", command, err)
	}
	if r.ExitCode == 0 {
		t.Errorf("%s: %q succeeded; stdout: %s", why, command, r.stdout)
	}
	return r
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testOutput(t *testing.T, sb sandbox.Sandbox) {
	r, err := run(t, sb, sandbox.ExecRequest{Command: "echo out; echo err >&2; exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != "out\n" || r.stderr != "err\n" || r.ExitCode != 3 || r.TimedOut || r.Signal != "" {
		t.Fatalf("got %+v stdout %q stderr %q", r.ExecResult, r.stdout, r.stderr)
	}
	// Large output arrives whole.
	out := mustRun(t, sb, "head -c 3000000 /dev/zero | tr '\\0' a")
	if len(out) != 3000000 {
		t.Fatalf("large output: %d bytes", len(out))
	}
	// A command killed by a signal reports 128+signal.
	r, err = run(t, sb, sandbox.ExecRequest{Command: "sleep 10 & kill -9 $!; wait $!"})
	if err != nil || r.ExitCode != 137 {
		t.Fatalf("killed child: %+v %v", r.ExecResult, err)
	}
}

func testStdinEnvDir(t *testing.T, sb sandbox.Sandbox) {
	var out syncBuffer
	res, err := sb.Exec(t.Context(), sandbox.ExecRequest{Command: "tr a-z A-Z", Stdin: strings.NewReader("hello"), Stdout: &out})
	if err != nil || res.ExitCode != 0 || out.String() != "HELLO" {
		t.Fatalf("stdin: %+v %v %q", res, err, out.String())
	}
	mustRun(t, sb, "mkdir -p sub/dir")
	r, err := run(t, sb, sandbox.ExecRequest{Command: `echo "$GREETING"; basename "$(pwd)"`, Dir: "sub/dir", Env: map[string]string{"GREETING": "hi there"}})
	if err != nil || r.stdout != "hi there\ndir\n" {
		t.Fatalf("env and dir: %+v %v %q", r.ExecResult, err, r.stdout)
	}
	if _, err := run(t, sb, sandbox.ExecRequest{Command: "true", Dir: "missing"}); err == nil {
		t.Fatal("a missing working directory was accepted")
	}
	if _, err := run(t, sb, sandbox.ExecRequest{Command: "true", Dir: "../.."}); err == nil {
		t.Fatal("a working directory outside the workspace was accepted")
	}
}

func testTimeout(t *testing.T, sb sandbox.Sandbox) {
	start := time.Now()
	r, err := run(t, sb, sandbox.ExecRequest{
		Command: "(sleep 1; echo survived > marker) & sleep 30",
		Timeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !r.TimedOut || r.Signal != "SIGKILL" || r.ExitCode != 137 {
		t.Fatalf("timeout: %+v", r.ExecResult)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the timeout did not stop the command (%v)", d)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := sb.Workspace().Stat("marker"); err == nil {
		t.Fatal("a child of the timed-out command survived it")
	}
}

func testTreeEnds(t *testing.T, sb sandbox.Sandbox) {
	// A child left behind by a foreground command (without background)
	// ends with it and does not hold the call open.
	r, err := run(t, sb, sandbox.ExecRequest{Command: "(sleep 1; echo survived > marker) & echo done", Timeout: 20 * time.Second})
	if err != nil || r.stdout != "done\n" {
		t.Fatalf("%+v %v %q", r.ExecResult, err, r.stdout)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := sb.Workspace().Stat("marker"); err == nil {
		t.Fatal("a child of a finished foreground command kept running")
	}
}

func testCancel(t *testing.T, sb sandbox.Sandbox) {
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := sb.Exec(ctx, sandbox.ExecRequest{Command: "sleep 30"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled exec returned %v", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	mustRun(t, sb, "true") // and the sandbox still works
}

func tick(t *testing.T, sb sandbox.Sandbox) string {
	b, err := sb.Workspace().ReadFile("tick", 0)
	if err != nil {
		return ""
	}
	return string(b)
}

func testBackground(t *testing.T, sb sandbox.Sandbox) {
	r, err := run(t, sb, sandbox.ExecRequest{Command: "while true; do date +%s%N > tick.tmp; mv tick.tmp tick; sleep 0.05; done", Background: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.PID <= 0 {
		t.Fatalf("background pid %d", r.PID)
	}
	if changes(t, sb) == 0 {
		t.Fatal("the background command is not running")
	}
	mustRun(t, sb, "echo another call")
	if changes(t, sb) == 0 {
		t.Fatal("the background command stopped after another call")
	}
	if err := sb.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := changes(t, sb); n != 0 {
		t.Fatal("the background command survived Stop")
	}
}

// Background jobs (sandbox.StartJob and the rest) work on every driver:
// input written later and closed, output, exit status, signals to the
// process group, KILL of a job that ignores TERM, ids never reused, a job
// lost with its sandbox, ids checked.
func testJobs(t *testing.T, sb sandbox.Sandbox) {
	ctx := t.Context()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	start := func(id, command string) *sandbox.Job {
		t.Helper()
		j, err := sandbox.StartJob(ctx, sb, id, command, now)
		if err != nil {
			t.Fatalf("StartJob %s: %v", id, err)
		}
		now = now.Add(time.Second)
		return j
	}
	wait := func(id string, d time.Duration) *sandbox.Job {
		t.Helper()
		j, err := sandbox.WaitJob(ctx, sb, id, d)
		if err != nil {
			t.Fatalf("WaitJob %s: %v", id, err)
		}
		return j
	}
	log := func(j *sandbox.Job) string {
		b, _ := sb.Workspace().ReadFile(j.Log(), 0)
		return string(b)
	}

	// Input, output, end of input, exit status.
	echo := start("job_1", `while read -r l; do echo "got $l"; done; echo closed; exit 3`)
	if echo.ID != "job_1" || echo.PID <= 0 || echo.State != sandbox.JobRunning || !echo.StartedAt.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("started %+v", echo)
	}
	if err := sandbox.WriteJob(ctx, sb, "job_1", "hello\n", false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for log(echo) != "got hello\n" {
		if time.Now().After(deadline) {
			t.Fatalf("log %q", log(echo))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j, err := sandbox.GetJob(ctx, sb, "job_1"); err != nil || j.State != sandbox.JobRunning || j.InputClosed || j.Output != 10 || j.Command != echo.Command {
		t.Fatalf("running: %+v %v", j, err)
	}
	if err := sandbox.WriteJob(ctx, sb, "job_1", "bye\n", true); err != nil {
		t.Fatal(err)
	}
	if j := wait("job_1", 10*time.Second); j.State != sandbox.JobExited || j.ExitCode != 3 || !j.InputClosed || j.EndedAt.IsZero() {
		t.Fatalf("after eof: %+v", j)
	}
	if got := log(echo); got != "got hello\ngot bye\nclosed\n" {
		t.Fatalf("log %q", got)
	}
	if err := sandbox.WriteJob(ctx, sb, "job_1", "more\n", false); herm.ErrorCode(err) != herm.EConflict {
		t.Fatalf("writing to an exited job: %v", err)
	}

	// TERM reaches the whole process group; the id is not reused.
	term := start("job_1", "(while true; do date +%s%N > tick.tmp; mv tick.tmp tick; sleep 0.05; done) & sleep 1000")
	if term.ID != "job_1-2" {
		t.Fatalf("second job_1 is %q", term.ID)
	}
	if changes(t, sb) == 0 {
		t.Fatal("the job's loop does not run")
	}
	if err := sandbox.SignalJob(ctx, sb, term.ID, "TERM"); err != nil {
		t.Fatal(err)
	}
	if j := wait(term.ID, 10*time.Second); j.State != sandbox.JobExited || j.ExitCode != 128+int(syscall.SIGTERM) {
		t.Fatalf("after TERM: %+v", j)
	}
	if changes(t, sb) != 0 {
		t.Fatal("the job's loop survived TERM")
	}

	// A job that ignores TERM: KILL ends it, and the rest of its group.
	stubborn := start("job_3", "trap '' TERM; (while true; do date +%s%N > tick.tmp; mv tick.tmp tick; sleep 0.05; done) & sleep 1000")
	if err := sandbox.SignalJob(ctx, sb, stubborn.ID, "TERM"); err != nil {
		t.Fatal(err)
	}
	if j := wait(stubborn.ID, 500*time.Millisecond); j.State != sandbox.JobRunning {
		t.Fatalf("after TERM, ignored: %+v", j)
	}
	if err := sandbox.SignalJob(ctx, sb, stubborn.ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	if j := wait(stubborn.ID, 10*time.Second); j.State != sandbox.JobExited || j.ExitCode != 128+int(syscall.SIGKILL) {
		t.Fatalf("after KILL: %+v", j)
	}
	if changes(t, sb) != 0 {
		t.Fatal("the job's loop survived KILL")
	}
	if err := sandbox.SignalJob(ctx, sb, stubborn.ID, "KILL"); herm.ErrorCode(err) != herm.EConflict {
		t.Fatalf("killing an exited job: %v", err)
	}

	// A job whose sandbox stopped is lost.
	start("job_4", "sleep 1000")
	if err := sb.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if j, err := sandbox.GetJob(ctx, sb, "job_4"); err != nil || j.State != sandbox.JobLost {
		t.Fatalf("after Stop: %+v %v", j, err)
	}
	if err := sandbox.WriteJob(ctx, sb, "job_4", "x", false); herm.ErrorCode(err) != herm.EConflict {
		t.Fatalf("writing to a lost job: %v", err)
	}

	jobs, err := sandbox.Jobs(ctx, sb)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.ID+" "+j.State)
	}
	if want := []string{"job_1 exited", "job_1-2 exited", "job_3 exited", "job_4 lost"}; !slices.Equal(got, want) {
		t.Fatalf("jobs %q, want %q", got, want)
	}

	for _, id := range []string{"../x", "a/b", "", "x y", "$(reboot)", "-rf", "a.json"} {
		if _, err := sandbox.GetJob(ctx, sb, id); herm.ErrorCode(err) != herm.EInvalid {
			t.Errorf("GetJob(%q): %v", id, err)
		}
		if err := sandbox.SignalJob(ctx, sb, id, "TERM"); herm.ErrorCode(err) != herm.EInvalid {
			t.Errorf("SignalJob(%q): %v", id, err)
		}
	}
	if _, err := sandbox.GetJob(ctx, sb, "job_9"); herm.ErrorCode(err) != herm.ENotFound {
		t.Errorf("an unknown job: %v", err)
	}
	if err := sandbox.SignalJob(ctx, sb, "job_4", "STOP"); herm.ErrorCode(err) != herm.EInvalid {
		t.Errorf("an unknown signal: %v", err)
	}
}

// changes counts changes of the tick file over a second.
func changes(t *testing.T, sb sandbox.Sandbox) int {
	n, last := 0, tick(t, sb)
	for i := 0; i < 10; i++ {
		time.Sleep(100 * time.Millisecond)
		if cur := tick(t, sb); cur != last {
			n++
			last = cur
		}
	}
	return n
}

func testStopRestart(t *testing.T, sb sandbox.Sandbox) {
	mustRun(t, sb, "echo kept > kept.txt")
	if err := sb.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := sb.Stop(t.Context()); err != nil {
		t.Fatalf("stopping a stopped sandbox: %v", err)
	}
	if out := mustRun(t, sb, "cat kept.txt"); out != "kept\n" {
		t.Fatalf("after restart: %q", out)
	}
}

func testConcurrent(t *testing.T, sb sandbox.Sandbox) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			r, err := run(t, sb, sandbox.ExecRequest{Command: fmt.Sprintf("sleep 0.2; echo %d", i)})
			if err != nil {
				errs <- err
				return
			}
			if r.stdout != fmt.Sprintf("%d\n", i) {
				errs <- fmt.Errorf("command %d printed %q", i, r.stdout)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testSharedWorkspace(t *testing.T, sb sandbox.Sandbox) {
	ws := sb.Workspace()
	if _, err := ws.WriteFile("from-host/a.txt", strings.NewReader("host")); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, sb, "cat from-host/a.txt && echo sandbox > from-host/b.txt && echo more >> from-host/a.txt"); out != "host" {
		t.Fatalf("sandbox read %q", out)
	}
	b, err := ws.ReadFile("from-host/b.txt", 0)
	if err != nil || string(b) != "sandbox\n" {
		t.Fatalf("host read %q %v", b, err)
	}
	// Files written from the host belong to the sandbox's user: the
	// sandbox modified a.txt, and both have the same owner on the host.
	var st1, st2 syscall.Stat_t
	if err := syscall.Stat(filepath.Join(ws.Dir(), "from-host", "a.txt"), &st1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(filepath.Join(ws.Dir(), "from-host", "b.txt"), &st2); err != nil {
		t.Fatal(err)
	}
	if st1.Uid != st2.Uid || st1.Gid != st2.Gid {
		t.Fatalf("owner from host %d:%d, from sandbox %d:%d", st1.Uid, st1.Gid, st2.Uid, st2.Gid)
	}
	entries, _, err := ws.List("from-host")
	if err != nil || len(entries) != 2 || entries[0].Name != "a.txt" || entries[0].Size != int64(len("hostmore\n")) {
		t.Fatalf("list: %+v %v", entries, err)
	}
	if err := ws.Remove("from-host"); err != nil {
		t.Fatal(err)
	}
	mustFail(t, sb, "removed from the host", "test -e from-host")
}

func testWorkspaceEscapes(t *testing.T, sb sandbox.Sandbox) {
	ws := sb.Workspace()
	outside := filepath.Join(filepath.Dir(ws.Dir()), "outside-"+filepath.Base(ws.Dir()))
	if err := os.WriteFile(outside, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(outside) })
	// Links made inside the sandbox that point out of the workspace.
	mustRun(t, sb, "ln -s /etc/passwd abs-link && ln -s .. up && ln -s ../../.. way-up && mkdir -p d && ln -s ../.. d/up2")
	// And one made on the host, pointing at a host file.
	if err := os.Symlink(outside, filepath.Join(ws.Dir(), "host-link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"abs-link", "up/" + filepath.Base(outside), "way-up/etc/passwd", "d/up2/etc/passwd", "host-link",
		"../" + filepath.Base(outside), "/etc/passwd", "d/../../x"} {
		if b, err := ws.ReadFile(p, 0); err == nil {
			t.Errorf("read %q through the workspace: %q", p, b)
		}
		if _, err := ws.WriteFile(p, strings.NewReader("overwritten")); err == nil {
			t.Errorf("wrote %q through the workspace", p)
		}
		if _, _, err := ws.List(p); err == nil && p != "up" {
			t.Errorf("listed %q", p)
		}
	}
	for _, p := range []string{"up/new-file", "way-up/tmp/new-file", "host-link/x"} {
		if _, err := ws.WriteFile(p, strings.NewReader("x")); err == nil {
			t.Errorf("created %q through a link out of the workspace", p)
		}
	}
	if err := ws.Remove(".."); err == nil {
		t.Error("removed the workspace's parent")
	}
	if err := ws.Remove("."); err == nil {
		t.Error("removed the workspace itself")
	}
	if b, _ := os.ReadFile(outside); string(b) != "host secret" {
		t.Fatalf("the host file changed: %q", b)
	}
	// Errors are validation errors or not-found, never a server error.
	_, err := ws.ReadFile("../x", 0)
	if c := herm.ErrorCode(err); c != herm.EInvalid {
		t.Errorf("'..' escape: code %q (%v)", c, err)
	}
	_, err = ws.ReadFile("abs-link", 0)
	if c := herm.ErrorCode(err); c != herm.EInvalid && c != herm.ENotFound {
		t.Errorf("symlink escape: code %q (%v)", c, err)
	}
}

func testQuota(t *testing.T, sb sandbox.Sandbox) {
	ws := sb.Workspace()
	if _, err := ws.WriteFile("small", strings.NewReader(strings.Repeat("x", 100<<10))); err != nil {
		t.Fatalf("a write within the quota: %v", err)
	}
	_, err := ws.WriteFile("big", bytes.NewReader(make([]byte, 2<<20)))
	if !errors.Is(err, sandbox.ErrQuota) && herm.ErrorCode(err) != herm.ETooLarge {
		t.Fatalf("a write past the quota: %v", err)
	}
	if _, err := ws.Stat("big"); err == nil {
		t.Fatal("the refused file exists")
	}
	// A command writing one file larger than the quota is stopped by the
	// kernel where the driver sets a file size limit, or else the overrun
	// is noticed after it.
	r, err := run(t, sb, sandbox.ExecRequest{Command: "head -c 2000000 /dev/zero > big"})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode == 0 {
		if err := ws.OverQuota(t.Context()); !errors.Is(err, sandbox.ErrQuota) {
			t.Fatalf("a 2 MB file under a 1 MB quota went unnoticed: %v", err)
		}
	}
	mustRun(t, sb, "rm -f big")
	// Commands can fill the disk past the quota with several files (there
	// is no kernel quota); the overrun is noticed after the command and
	// further writes through the workspace are refused.
	mustRun(t, sb, "head -c 700000 /dev/zero > filler1 && head -c 700000 /dev/zero > filler2")
	if err := ws.OverQuota(t.Context()); !errors.Is(err, sandbox.ErrQuota) {
		t.Fatalf("over quota after a command: %v", err)
	}
	if _, err := ws.WriteFile("more", strings.NewReader("x")); err == nil {
		t.Fatal("a write while over quota was accepted")
	}
	mustRun(t, sb, "rm filler1 filler2")
	if err := ws.OverQuota(t.Context()); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
}

func testIdentity(t *testing.T, sb sandbox.Sandbox) {
	if out := mustRun(t, sb, "id -u; id -g"); out != "1000\n1000\n" {
		t.Fatalf("runs as %q, want the unprivileged sandbox user", out)
	}
	status := mustRun(t, sb, "cat /proc/self/status")
	for _, want := range []string{"CapEff:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(status, want) {
			t.Errorf("/proc/self/status lacks %q", want)
		}
	}
	mustFail(t, sb, "the root is read-only", "touch /usr/x")
	mustFail(t, sb, "/etc is read-only", "touch /etc/x")
	mustRun(t, sb, "touch /tmp/x && touch /workspace/x")
}

func testHostFiles(t *testing.T, sb sandbox.Sandbox, opts Options) {
	canaryDir := t.TempDir()
	canary := filepath.Join(canaryDir, "canary.txt")
	if err := os.WriteFile(canary, []byte("host canary"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustFail(t, sb, "host file", "cat "+canary)
	mustFail(t, sb, "host dir", "ls "+canaryDir)
	mustFail(t, sb, "shadow", "cat /etc/shadow")
	mustFail(t, sb, "host root's home", "ls /root")
	if opts.DataDir != "" {
		mustFail(t, sb, "server data dir", "ls "+opts.DataDir)
	}
	mustFail(t, sb, "workspace's host path", "ls "+sb.Workspace().Dir())
	// The init's root, where readable at all, is the sandbox's own.
	mustRun(t, sb, `r=$(ls /proc/1/root/ 2>/dev/null) || exit 0; [ "$r" = "$(ls /)" ]`)
	if out := mustRun(t, sb, "find / -path /proc -prune -o -name canary.txt -print 2>/dev/null || true"); out != "" {
		t.Fatalf("the canary is reachable: %s", out)
	}
}

func testOtherWorkspace(t *testing.T, a, b sandbox.Sandbox) {
	mustRun(t, a, "echo 'customer A secret' > secret.txt")
	mustFail(t, b, "another workspace by host path", "cat "+filepath.Join(a.Workspace().Dir(), "secret.txt"))
	if out := mustRun(t, b, "find / -path /proc -prune -o -name secret.txt -print 2>/dev/null || true"); out != "" {
		t.Fatalf("customer A's file is reachable from B: %s", out)
	}
	// Processes are invisible too.
	mustRun(t, a, "sleep 30 >/dev/null 2>&1 &")
	r, _ := run(t, a, sandbox.ExecRequest{Command: "sleep 20", Background: true})
	_ = r
	if out := mustRun(t, b, "ls /proc | grep -c '^[0-9]' || true"); strings.TrimSpace(out) == "" {
		t.Fatal("no processes listed")
	}
	if out := mustRun(t, b, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '"); strings.Contains(out, "sleep 20") {
		t.Fatalf("B sees A's processes: %s", out)
	}
}

func testNetwork(t *testing.T, sb sandbox.Sandbox) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	Serve(ln, "host service\n")
	port := ln.Addr().(*net.TCPAddr).Port
	connect := `python3 -c "import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 3); print(s.recv(100))"`
	mustFail(t, sb, "host loopback", fmt.Sprintf("%s 127.0.0.1 %d", connect, port))
	mustFail(t, sb, "a public address", connect+" 1.1.1.1 80")
	mustFail(t, sb, "a private address", connect+" 10.0.0.1 80")
	mustFail(t, sb, "DNS", `python3 -c "import socket; socket.getaddrinfo('example.com', 80)"`)
	// Loopback inside the sandbox works for its own processes.
	mustRun(t, sb, `python3 -c "
import socket, threading
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
threading.Thread(target=lambda: s.accept()[0].send(b'ok')).start()
c = socket.create_connection(s.getsockname(), 3); assert c.recv(2) == b'ok'"`)
}

func testPrivileged(t *testing.T, sb sandbox.Sandbox) {
	mustFail(t, sb, "mount", "mount -t tmpfs none /tmp")
	mustFail(t, sb, "unshare a user namespace", "unshare -U true")
	mustFail(t, sb, "unshare as root", "unshare -r true")
	mustFail(t, sb, "unshare mount", "unshare -m true")
	mustFail(t, sb, "ptrace", `python3 -c "
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(0 if libc.ptrace(0, 0, 0, 0) == 0 else 1)"`)
	mustFail(t, sb, "chroot", "chroot / true")
	mustFail(t, sb, "setuid root", `python3 -c "import os; os.setuid(0)"`)
	mustFail(t, sb, "kernel modules", "cat /proc/modules >/dev/null && insmod /nonexistent.ko")
	mustRun(t, sb, "true") // and the sandbox still works
}

func testForkStorm(t *testing.T, sb sandbox.Sandbox) {
	r, err := run(t, sb, sandbox.ExecRequest{
		Command: "i=0; while [ $i -lt 300 ]; do sleep 5 & i=$((i+1)); done; wait",
		Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	refused := strings.Contains(r.stderr, "fork") || strings.Contains(r.stderr, "Resource temporarily unavailable")
	killed := strings.HasPrefix(r.Signal, "SIGKILL") // some runtimes end the whole sandbox
	if !refused && !killed {
		t.Errorf("300 processes started under a limit of 64: %+v %q", r.ExecResult, r.stderr)
	}
	if out := mustRun(t, sb, "echo still here"); out != "still here\n" {
		t.Fatalf("after the storm: %q", out)
	}
}

func testMemoryBomb(t *testing.T, sb sandbox.Sandbox) {
	r, err := run(t, sb, sandbox.ExecRequest{
		Command: `python3 -c "x = bytearray(512 << 20); print(len(x))"`,
		Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode == 0 {
		t.Fatalf("allocated 512 MB under a limit of 64 MB: %q", r.stdout)
	}
	if out := mustRun(t, sb, "echo still here"); out != "still here\n" {
		t.Fatalf("after the bomb: %q", out)
	}
}

// testDescriptors: a command holds only its own stdin, stdout and stderr
// (ls adds the descriptor of the directory it reads): nothing of the
// server's or the sandbox agent's leaks in.
func testDescriptors(t *testing.T, sb sandbox.Sandbox) {
	out := mustRun(t, sb, "ls /proc/self/fd")
	if got := strings.Fields(out); strings.Join(got, " ") != "0 1 2 3" {
		t.Fatalf("descriptors in a command: %v", got)
	}
	// Background commands too.
	mustRun(t, sb, "true")
	if _, err := sb.Exec(t.Context(), sandbox.ExecRequest{Command: "ls /proc/self/fd > fds.txt", Background: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := sb.Workspace().ReadFile("fds.txt", 0); err == nil && len(b) > 0 {
			if got := strings.Fields(string(b)); strings.Join(got, " ") != "0 1 2 3" {
				t.Fatalf("descriptors in a background command: %v", got)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the background command did not run")
}

// testForeignABI: system calls through the 32-bit ABI (int 0x80) must not
// get past the sandbox's seccomp filter (x86-64 with gcc only).
func testForeignABI(t *testing.T, sb sandbox.Sandbox) {
	if runtime.GOARCH != "amd64" {
		t.Skip("x86-64 only")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc to build the probe")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "abi.c")
	prog := `#include <stdio.h>
static long sys32(long nr, long a, long b, long c) {
	long ret;
	__asm__ volatile ("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
}
int main(void) {
	long ptrace = sys32(26, 0, 0, 0);            /* ptrace(PTRACE_TRACEME) */
	long unshare = sys32(310, 0x10000000, 0, 0); /* unshare(CLONE_NEWUSER) */
	long keyctl = sys32(288, 0, 0, 0);           /* keyctl */
	printf("%ld %ld %ld\n", ptrace, unshare, keyctl);
	return ptrace < 0 && unshare < 0 && keyctl < 0 ? 0 : 1;
}
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "abi")
	if out, err := exec.Command(gcc, "-static", "-O0", "-o", bin, src).CombinedOutput(); err != nil {
		t.Skipf("cannot build a static probe: %v %s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Workspace().WriteFile("abi", bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	r, err := run(t, sb, sandbox.ExecRequest{Command: "chmod +x abi && ./abi"})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode == 128+int(syscall.SIGSEGV) && strings.TrimSpace(r.stdout) == "" {
		// A kernel without the 32-bit ABI (no IA32 emulation) faults on
		// int 0x80 before any system call runs.
		t.Skip("this kernel has no 32-bit system call ABI: int 0x80 faults")
	}
	if r.ExitCode != 0 {
		t.Fatalf("32-bit system calls got through (ptrace, unshare, keyctl returned %q; exit %d, %s)", strings.TrimSpace(r.stdout), r.ExitCode, r.stderr)
	}
}

// testSpecialFiles: a FIFO or a socket a command made must not hang the
// host when it reads or lists it.
func testSpecialFiles(t *testing.T, sb sandbox.Sandbox) {
	mustRun(t, sb, "mkfifo fifo")
	ws := sb.Workspace()
	done := make(chan error, 2)
	go func() { _, err := ws.ReadFile("fifo", 0); done <- err }()
	go func() { _, _, err := ws.List("fifo"); done <- err }()
	for range 2 {
		select {
		case err := <-done:
			if err == nil {
				t.Error("a FIFO was read or listed as if it were a file or directory")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading or listing a FIFO hangs")
		}
	}
	if _, err := ws.WriteFile("fifo", strings.NewReader("replaced")); err != nil {
		t.Fatalf("replacing a FIFO with a file: %v", err)
	}
}

// ReportPercentiles adds the p50 and p90 of a benchmark's round trips to
// its result (ms).
func ReportPercentiles(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))]) / 1e6 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.9), "p90-ms")
}
