// Package local is the default sandbox driver: Linux namespaces on the
// server's own machine. Each deployment gets its own host uid range (a user
// namespace), a persistent network namespace with only loopback, and, while
// it runs, an init process (the server's binary re-executed) that builds a
// read-only root with /workspace, a private /tmp, a fresh /proc and a
// minimal /dev, confines itself (no_new_privs, Landlock, a seccomp
// deny-list), and then starts each command as an unprivileged user in a PID
// namespace of its own. cgroups (v2, or v1) limit memory, pids and CPU.
//
// A sandbox starts on its first command and stops after an idle time; the
// workspace stays on the host, owned by the deployment's uid.
//
// Several servers may share the data dir (a cluster, on a shared file
// system or on one machine): uid ranges are reserved on disk, atomically,
// so that no two deployments ever get one (ranges_linux.go); a server that
// starts a sandbox another server ran first removes what that one left,
// and refuses to start one that another server still runs
// (takeover_linux.go).
package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/agent"
)

// Name is the driver's sandbox.type.
const Name = "local"

// Host uid ranges: deployment k maps uids 0..65535 inside to
// uidBase + k·65536 on the host.
const (
	uidBase   = 1 << 30
	uidRange  = 65536
	maxRanges = (1<<32 - 1 - uidBase) / uidRange
)

// Options configure the driver. Zero values mean defaults.
type Options struct {
	// Root holds the workspaces (Root/<deployment id>).
	Root string
	// StateDir holds the driver's own files (default Root/../sandbox).
	StateDir string
	// RootFS is a root file system directory for the sandboxes (say, an
	// unpacked image); "" uses the host's /usr, read-only.
	RootFS string
	// IdleTimeout stops a sandbox with no command for this long (default
	// 10 minutes; negative never stops).
	IdleTimeout time.Duration
	// Defaults are the limits of deployments that set none (default:
	// 1 CPU, 1024 MB of memory, 512 pids, no disk quota).
	Defaults herm.Resources
	// TmpMB is the size of each sandbox's /tmp (default 256).
	TmpMB int
	// CgroupRoot is where cgroups are mounted (default /sys/fs/cgroup).
	CgroupRoot string
	// Logger receives warnings (default: slog.Default()).
	Logger *slog.Logger
	// Shared says that other servers use the same data dir (a cluster on
	// PostgreSQL): uid ranges are then reserved on disk, so that no two
	// servers give one range to two deployments (ranges_linux.go). A
	// single server (SQLite locks its data dir) keeps them in memory.
	Shared bool
}

// Driver is the local namespace driver.
type Driver struct {
	opts    Options
	logger  *slog.Logger
	cg      *cgroups
	staging string
	quotas  bool   // the workspaces' file system enforces project quotas
	token   string // in the names of this driver's cgroups (takeover_linux.go)

	checkOnce sync.Once
	checkErr  error

	mu      sync.Mutex
	boxes   map[string]*box
	opening map[string]chan struct{} // deployments whose box is being made (closed when done)
	ranges  map[int]string           // uid range index → deployment id ("": reserved by someone); with Shared the truth is on disk (ranges_linux.go)
	closed  bool
}

// New returns the driver. It detects the cgroup hierarchy and warns loudly
// when no limits can be applied.
func New(opts Options) (*Driver, error) {
	if opts.Root == "" {
		return nil, errors.New("local sandbox: no workspace root")
	}
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(filepath.Dir(opts.Root), "sandbox")
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.Defaults == (herm.Resources{}) {
		opts.Defaults = herm.Resources{CPU: 1, MemoryMB: 1024, PIDs: 512}
	}
	if opts.TmpMB <= 0 {
		opts.TmpMB = 256
	}
	if opts.CgroupRoot == "" {
		opts.CgroupRoot = "/sys/fs/cgroup"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	d := &Driver{opts: opts, logger: opts.Logger, boxes: make(map[string]*box), opening: make(map[string]chan struct{}), ranges: make(map[int]string), token: newToken()}
	return d, nil
}

// Name implements sandbox.Driver.
func (d *Driver) Name() string { return Name }

// DefaultLimits are the limits of a sandbox that sets none.
func (d *Driver) DefaultLimits() herm.Resources { return d.opts.Defaults }

// Check implements sandbox.Driver: the server must run as root on Linux
// with user namespaces allowed. The first successful check prepares the
// driver's directories and cgroups.
func (d *Driver) Check(context.Context) error {
	d.checkOnce.Do(func() { d.checkErr = d.prepare() })
	return d.checkErr
}

func (d *Driver) prepare() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the local driver needs root (it maps each deployment to its own host uid range)", sandbox.ErrUnavailable)
	}
	// The sandbox's init runs as an unprivileged host uid: the directories
	// above the workspaces must be traversable (not listable) by it.
	for _, dir := range []string{d.opts.Root, d.opts.StateDir, filepath.Join(d.opts.StateDir, "root")} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return fmt.Errorf("%w: %v", sandbox.ErrUnavailable, err)
		}
		if err := os.Chmod(dir, 0o711); err != nil {
			return fmt.Errorf("%w: %v", sandbox.ErrUnavailable, err)
		}
	}
	for dir := filepath.Dir(d.opts.Root); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			break
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("%w: %s must be traversable by sandbox users: %v", sandbox.ErrUnavailable, dir, err)
			}
		}
	}
	d.staging = filepath.Join(d.opts.StateDir, "root")
	probe := exec.Command("/bin/true")
	probe.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uidBase, Size: uidRange}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: uidBase, Size: uidRange}},
	}
	if out, err := probe.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: user namespaces refused: %v %s", sandbox.ErrUnavailable, err, bytes.TrimSpace(out))
	}
	d.cg = detectCgroups(d.opts.CgroupRoot, "herm")
	d.cg.sweep()
	if d.cg.mode == cgroupNone {
		d.logger.Warn("LOCAL SANDBOXES RUN WITHOUT MEMORY, PIDS AND CPU LIMITS: no usable cgroup hierarchy", "reason", d.cg.why)
	}
	d.quotas = projectQuotas(d.opts.Root)
	if !d.quotas {
		d.logger.Info("workspace disk quotas are enforced by accounting: the workspaces' file system has no project quotas (ext4 with prjquota, or xfs with pquota, would make them exact)")
	}
	return d.scanRanges()
}

// CgroupMode reports how limits are applied: "v2", "v1" or "none".
func (d *Driver) CgroupMode() string {
	if d.cg == nil {
		return string(cgroupNone)
	}
	return string(d.cg.mode)
}

// Ensure implements sandbox.Driver.
func (d *Driver) Ensure(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := d.Check(ctx); err != nil {
		return nil, err
	}
	if !validID(spec.DeploymentID) {
		return nil, fmt.Errorf("bad deployment id %q", spec.DeploymentID)
	}
	// The disk work (the uid range's reservation and its fsyncs, the
	// workspace) is done without d.mu, so that deployments are made side
	// by side; a second Ensure of the same deployment waits for the first.
	if err := d.settle(ctx, spec.DeploymentID); err != nil {
		return nil, err
	}
	if b, ok := d.boxes[spec.DeploymentID]; ok {
		b.setSpec(spec)
		d.mu.Unlock()
		return b, nil
	}
	done := make(chan struct{})
	d.opening[spec.DeploymentID] = done
	d.mu.Unlock()
	b, err := d.open(spec)
	d.mu.Lock()
	delete(d.opening, spec.DeploymentID)
	close(done)
	closed := d.closed
	if err == nil && !closed {
		d.boxes[spec.DeploymentID] = b
	}
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if closed {
		b.close(ctx)
		return nil, errors.New("local sandbox driver closed")
	}
	return b, nil
}

// settle takes d.mu once no Ensure of the deployment is under way, and
// returns with it held (unless it fails: the driver is closed, or ctx
// ended).
func (d *Driver) settle(ctx context.Context, id string) error {
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return errors.New("local sandbox driver closed")
		}
		wait, busy := d.opening[id]
		if !busy {
			return nil
		}
		d.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// open makes a deployment's box: reserves its uid range and opens its
// workspace. Called without d.mu, once per deployment at a time.
func (d *Driver) open(spec sandbox.Spec) (*box, error) {
	dir := filepath.Join(d.opts.Root, spec.DeploymentID)
	// A workspace keeps its range when the range is reserved for it (or
	// free, and now reserved); one whose range is another deployment's
	// (two servers allocated it before reservations existed) moves.
	k, ok := rangeOf(dir)
	if ok {
		var err error
		if ok, err = d.reserve(k, spec.DeploymentID); err != nil {
			return nil, err
		}
	}
	if !ok {
		var err error
		if k, err = d.allocRange(spec.DeploymentID); err != nil {
			return nil, err
		}
	}
	base := uidBase + k*uidRange
	owner := base + sandboxUID
	if fi, err := os.Stat(dir); err == nil && int(fi.Sys().(*syscall.Stat_t).Uid) != owner {
		// A workspace from before (another driver, another range): hand
		// every file to the sandbox user, the directory itself last (by
		// OpenWorkspace), so that an adoption cut short is done again.
		_ = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err == nil && p != dir {
				_ = os.Lchown(p, owner, owner)
			}
			return nil
		})
	}
	ws, err := sandbox.OpenWorkspace(dir, owner, owner)
	if err != nil {
		return nil, err
	}
	b := &box{d: d, id: spec.DeploymentID, base: base, ws: ws, netns: -1}
	b.setSpec(spec)
	return b, nil
}

func validID(id string) bool {
	return id != "" && filepath.Base(id) == id && id != "." && id != ".."
}

// Destroy implements sandbox.Driver. The workspace's contents go first,
// then its uid range's reservation, then its directory: a Destroy cut
// short and tried again still finds the range it must release.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("bad deployment id %q", id)
	}
	// An Ensure under way finishes first (its box is then destroyed).
	if err := d.settle(ctx, id); err != nil {
		return err
	}
	b := d.boxes[id]
	delete(d.boxes, id)
	var ks []int
	for k, owner := range d.ranges {
		if owner == id {
			ks = append(ks, k)
		}
	}
	d.mu.Unlock()
	if b != nil {
		b.close(ctx)
		ks = append(ks, (b.base-uidBase)/uidRange)
	}
	dir := filepath.Join(d.opts.Root, id)
	if k, ok := rangeOf(dir); ok {
		ks = append(ks, k)
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	var errs []error
	d.mu.Lock()
	for _, k := range ks {
		errs = append(errs, d.release(k, id))
	}
	d.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Close implements sandbox.Driver.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	boxes := d.boxes
	d.boxes = make(map[string]*box)
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, b := range boxes {
		wg.Go(func() { b.close(ctx) })
	}
	wg.Wait()
	return nil
}

// box is one deployment's sandbox.
type box struct {
	d    *Driver
	id   string
	base int
	ws   *sandbox.Workspace

	mu     sync.Mutex
	spec   sandbox.Spec
	netns  int       // fd of the persistent network namespace; -1 until made
	inst   *instance // the running init; nil when stopped
	active int       // commands in flight
	starts int       // instances started, to name each one's cgroup
	idle   *time.Timer
	gone   bool
}

// setSpec takes a deployment's (new) settings: the disk quota at once, the
// cgroup limits of a running sandbox too.
func (b *box) setSpec(spec sandbox.Spec) {
	b.mu.Lock()
	prev, first := b.spec, b.spec.DeploymentID == ""
	b.spec = spec
	inst := b.inst
	res := b.resources()
	b.mu.Unlock()
	b.ws.SetQuota(int64(spec.Resources.DiskMB) << 20)
	if b.d.quotas && (first || prev.Resources.DiskMB != spec.Resources.DiskMB) {
		if err := applyQuota(b.d.opts.Root, b.ws.Dir(), b.base, spec.Resources.DiskMB); err != nil {
			b.d.logger.Warn("workspace quota", "deployment_id", spec.DeploymentID, "err", err)
		}
	}
	if inst != nil && inst.cg != nil && !first && prev.Resources != spec.Resources {
		if _, err := b.d.cg.create(inst.cg.name, res); err != nil {
			b.d.logger.Warn("update sandbox limits", "deployment_id", spec.DeploymentID, "err", err)
		}
	}
}

func (b *box) Workspace() *sandbox.Workspace { return b.ws }

// resources are the deployment's limits with the server's defaults.
func (b *box) resources() herm.Resources {
	return sandbox.Limits(b.spec.Resources, b.d.opts.Defaults)
}

// Running reports whether the sandbox has a live init process.
func (b *box) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inst != nil && !b.inst.dead()
}

// Stop implements sandbox.Sandbox.
func (b *box) Stop(context.Context) error {
	b.mu.Lock()
	inst := b.inst
	b.inst = nil
	if b.idle != nil {
		b.idle.Stop()
	}
	b.mu.Unlock()
	if inst != nil {
		inst.stop()
	}
	return nil
}

func (b *box) close(ctx context.Context) {
	_ = b.Stop(ctx)
	b.mu.Lock()
	b.gone = true
	if b.netns >= 0 {
		unix.Close(b.netns)
		b.netns = -1
	}
	b.mu.Unlock()
	_ = b.ws.Close()
}

// Listen opens a listener inside the sandbox's network namespace, served by
// the calling (host) process: the hook for the egress proxy. addr is like
// "127.0.0.1:80": use a port below 1024, which the sandbox itself cannot
// bind (the namespace belongs to the host's user namespace), so that a
// command cannot take the port first.
func (b *box) Listen(network, addr string) (net.Listener, error) {
	b.mu.Lock()
	fd, err := b.netnsLocked()
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	err = inNetns(fd, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ProxyAddr is where a local sandbox's commands reach the host's egress
// proxy: a privileged port of the sandbox's own network namespace, which
// only the host can bind.
const ProxyAddr = "127.0.0.1:80"

// EgressListener returns a listener the host serves the deployment's egress
// proxy on, inside the sandbox's network namespace, and its address there.
func (b *box) EgressListener() (net.Listener, string, error) {
	ln, err := b.Listen("tcp", ProxyAddr)
	return ln, ProxyAddr, err
}

// netnsLocked returns the deployment's network namespace, made on first
// use: only loopback, up. b.mu is held.
func (b *box) netnsLocked() (int, error) {
	if b.gone {
		return -1, errors.New("sandbox destroyed")
	}
	if b.netns >= 0 {
		return b.netns, nil
	}
	fd, err := newNetns()
	if err != nil {
		return -1, err
	}
	b.netns = fd
	return fd, nil
}

// start launches the init (b.mu held).
func (b *box) startLocked() (*instance, error) {
	if b.gone {
		return nil, errors.New("sandbox destroyed")
	}
	if b.inst != nil && !b.inst.dead() {
		return b.inst, nil
	}
	if b.inst != nil {
		b.inst.stop() // died on its own: clean up
		b.inst = nil
	}
	nsfd, err := b.netnsLocked()
	if err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	if err := b.d.reap(b); err != nil {
		return nil, err
	}
	b.starts++
	inst, err := startInstance(b.d, b, nsfd, b.d.groupName(b.id, b.starts))
	if err != nil {
		return nil, err
	}
	b.inst = inst
	return inst, nil
}

// begin marks a command in flight and returns the running instance.
func (b *box) begin() (*instance, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inst, err := b.startLocked()
	if err != nil {
		return nil, err
	}
	b.active++
	if b.idle != nil {
		b.idle.Stop()
	}
	return inst, nil
}

// end marks a command done and arms the idle timer.
func (b *box) end(inst *instance) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active--
	if b.active > 0 || b.d.opts.IdleTimeout < 0 || b.inst != inst {
		return
	}
	if b.idle != nil {
		b.idle.Stop()
	}
	b.idle = time.AfterFunc(b.d.opts.IdleTimeout, func() {
		b.mu.Lock()
		if b.active > 0 || b.inst != inst {
			b.mu.Unlock()
			return
		}
		b.inst = nil
		b.mu.Unlock()
		inst.stop()
	})
}

// Exec implements sandbox.Sandbox.
func (b *box) Exec(ctx context.Context, req sandbox.ExecRequest) (*sandbox.ExecResult, error) {
	dir, err := sandbox.InsideDir(b.ws, req.Dir)
	if err != nil {
		return nil, err
	}
	defer b.ws.Invalidate()
	for attempt := 0; ; attempt++ {
		inst, err := b.begin()
		if err != nil {
			return nil, err
		}
		res, err := inst.exec(ctx, req, dir)
		b.end(inst)
		if errors.Is(err, agent.ErrNotStarted) && attempt == 0 && ctx.Err() == nil {
			continue // the sandbox stopped under us: start it again
		}
		return res, err
	}
}

// instance is one run of a sandbox's init.
type instance struct {
	cmd    *exec.Cmd
	client *agent.Client
	cg     *cgroup
	done   chan struct{} // closed when the init has exited
	errb   *agent.LimitedBuffer
}

// startInstance starts a sandbox's init in the cgroup named cgName (a
// stopping instance may still be removing its own).
func startInstance(d *Driver, b *box, nsfd int, cgName string) (*instance, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ctrl := fds[0]
	child := os.NewFile(uintptr(fds[1]), "control")
	defer child.Close()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		unix.Close(ctrl)
		return nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()

	inst := &instance{done: make(chan struct{}), errb: &agent.LimitedBuffer{Max: 8 << 10}}
	if d.cg != nil && d.cg.mode != cgroupNone {
		g, err := d.cg.create(cgName, b.resources())
		if err != nil {
			unix.Close(ctrl)
			return nil, fmt.Errorf("cgroup: %w", err)
		}
		inst.cg = g
	}
	cmd := exec.Command("/proc/self/exe", initArg)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"}
	cmd.ExtraFiles = []*os.File{cfgR, child}
	cmd.Stderr = inst.errb
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: b.base, Size: uidRange}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: b.base, Size: uidRange}},
		Credential:                 &syscall.Credential{Uid: 0, Gid: 0},
		GidMappingsEnableSetgroups: true,
		Pdeathsig:                  syscall.SIGKILL,
		Setsid:                     true,
	}
	// The init joins the network namespace by being forked from a thread
	// that entered it; that thread stays locked (and alive: Pdeathsig is
	// tied to it) until the init exits.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread's namespace is changed
		if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
			started <- fmt.Errorf("join network namespace: %w", err)
			return
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(inst.done)
	}()
	if err := <-started; err != nil {
		unix.Close(ctrl)
		if inst.cg != nil {
			_ = inst.cg.remove()
		}
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	inst.cmd = cmd
	fail := func(err error) (*instance, error) {
		unix.Close(ctrl)
		inst.stop()
		return nil, err
	}
	if inst.cg != nil {
		if err := inst.cg.add(cmd.Process.Pid); err != nil {
			return fail(fmt.Errorf("cgroup: %w", err))
		}
		// The init waits for its configuration: nothing runs yet.
		if err := d.othersRunning(b.id); err != nil {
			return fail(err)
		}
	}
	cfg, _ := json.Marshal(initConfig{
		Staging: d.staging, Workspace: b.ws.Dir(), RootFS: d.opts.RootFS, TmpMB: d.opts.TmpMB, Landlock: true,
		DiskMB: b.spec.Resources.DiskMB,
	})
	if _, err := cfgW.Write(cfg); err != nil {
		return fail(fmt.Errorf("configure sandbox: %w", err))
	}
	cfgW.Close()
	inst.client = agent.NewClient(ctrl, inst.failure)
	return inst, nil
}

func (in *instance) dead() bool {
	select {
	case <-in.done:
		return true
	default:
	}
	return in.client == nil || in.client.Broken()
}

// failure explains why the sandbox could not run a command.
func (in *instance) failure() error {
	select {
	case <-in.done:
	case <-time.After(time.Second):
	}
	msg := bytes.TrimSpace(in.errb.Bytes())
	state := "still running"
	select {
	case <-in.done:
		if in.cmd != nil && in.cmd.ProcessState != nil {
			state = in.cmd.ProcessState.String()
		}
	default:
	}
	if len(msg) == 0 {
		return fmt.Errorf("the sandbox stopped (init: %s)", state)
	}
	return fmt.Errorf("the sandbox stopped (init: %s): %s", state, msg)
}

func (in *instance) exec(ctx context.Context, req sandbox.ExecRequest, dir string) (*sandbox.ExecResult, error) {
	res, err := in.client.Exec(ctx, req, dir, sandbox.BaseEnv("/workspace", req.Env))
	if err == nil && res.Signal == "SIGKILL" && !res.TimedOut && in.cg != nil {
		if oom, _ := in.cg.events(); oom > 0 {
			res.Signal = "SIGKILL (out of memory)"
		}
	}
	return res, err
}

// stop kills the init, which ends every process of the sandbox, and
// removes its cgroup.
func (in *instance) stop() {
	if in.cmd != nil && in.cmd.Process != nil {
		_ = in.cmd.Process.Signal(syscall.SIGKILL)
		<-in.done
	}
	if in.client != nil {
		in.client.Close()
	}
	if in.cg != nil {
		if err := in.cg.remove(); err != nil {
			slog.Default().Warn("remove sandbox cgroup", "err", err)
		}
	}
}

// newNetns makes a network namespace with loopback up and returns a
// descriptor that keeps it alive.
func newNetns() (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread leaves the host's namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{-1, err}
			return
		}
		if err := loopbackUp(); err != nil {
			ch <- result{-1, err}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

func loopbackUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr)
}

// inNetns runs fn on a thread inside the network namespace fd.
func inNetns(fd int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread's namespace is changed
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}
