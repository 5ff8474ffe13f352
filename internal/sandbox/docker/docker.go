// Package docker is the sandbox driver on a Docker engine: one long-lived
// container per deployment (docker-init as PID 1, a non-root user, a
// read-only root, no capabilities, no-new-privileges, no network, memory,
// CPU and pids limits), with the workspace bind-mounted at /workspace and,
// optionally, gVisor's runsc as the runtime (the "gvisor" type).
//
// Commands do not go through docker exec (~50 ms each): the server's own
// binary is bind-mounted read-only into the container and runs there as its
// agent, connected to the server over a unix socket in a bind-mounted
// directory, exactly like the local driver's init (internal/sandbox/agent).
//
// Servers of a cluster may share the engine: its names keep one container
// per deployment, a server starts it only when no other server's agent runs
// in it (one whose server died stops by itself), and kills only the runs
// it started itself.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/agent"
)

// Options configure the driver. Zero values mean defaults.
type Options struct {
	// Name is the sandbox.type (default "docker"; "gvisor" with runsc).
	Name string
	// Host is the engine's address (default: DOCKER_HOST, else the
	// engine's default socket).
	Host string
	// Image is the containers' image; it must exist on the engine.
	Image string
	// Runtime is the OCI runtime ("" = the engine's default; "runsc").
	Runtime string
	// HostUsr bind-mounts the host's /usr read-only, for images that are
	// only a skeleton (bin, lib → usr/...), so that the host's tools run.
	HostUsr bool
	// Root holds the workspaces (Root/<deployment id>); StateDir the
	// control sockets (default Root/../sandbox/<Name>).
	Root, StateDir string
	// Binary is the host path of this program, mounted as the agent
	// (default: os.Executable). It must run in the image: build it with
	// CGO_ENABLED=0, or use HostUsr.
	Binary string
	// UID is the containers' user and the owner of workspace files
	// (default 1000).
	UID int
	// IdleTimeout stops a container with no command for this long
	// (default 10 minutes; negative never stops).
	IdleTimeout time.Duration
	// Defaults are the limits of deployments that set none (default:
	// 1 CPU, 1024 MB, 512 pids).
	Defaults herm.Resources
	// TmpMB is the size of /tmp (default 256).
	TmpMB  int
	Logger *slog.Logger
}

// Driver runs sandboxes as Docker containers.
type Driver struct {
	opts Options
	cli  *client.Client

	checkOnce sync.Once
	checkErr  error

	mu     sync.Mutex
	boxes  map[string]*box
	closed bool
}

// New returns the driver; Check tells whether the engine and image are there.
func New(opts Options) (*Driver, error) {
	if opts.Name == "" {
		opts.Name = "docker"
	}
	if opts.Root == "" {
		return nil, errors.New("docker sandbox: no workspace root")
	}
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(filepath.Dir(opts.Root), "sandbox", opts.Name)
	}
	if opts.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		opts.Binary = exe
	}
	if opts.UID == 0 {
		opts.UID = 1000
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
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var copts []client.Opt // API versions are negotiated by default
	if opts.Host != "" {
		copts = append(copts, client.WithHost(opts.Host))
	} else {
		copts = append(copts, client.WithHostFromEnv())
	}
	cli, err := client.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Driver{opts: opts, cli: cli, boxes: make(map[string]*box)}, nil
}

// Name implements sandbox.Driver.
func (d *Driver) Name() string { return d.opts.Name }

// DefaultLimits are the limits of a sandbox that sets none.
func (d *Driver) DefaultLimits() herm.Resources { return d.opts.Defaults }

// Check implements sandbox.Driver: the engine answers, the image exists.
func (d *Driver) Check(ctx context.Context) error {
	d.checkOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := d.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			d.checkErr = fmt.Errorf("%w: docker engine: %v", sandbox.ErrUnavailable, err)
			return
		}
		if d.opts.Image == "" {
			d.checkErr = fmt.Errorf("%w: no image configured", sandbox.ErrUnavailable)
			return
		}
		if _, err := d.cli.ImageInspect(ctx, d.opts.Image); err != nil {
			d.checkErr = fmt.Errorf("%w: image %s: %v", sandbox.ErrUnavailable, d.opts.Image, err)
			return
		}
		if _, err := os.Stat(d.opts.Binary); err != nil {
			d.checkErr = fmt.Errorf("%w: agent binary: %v", sandbox.ErrUnavailable, err)
			return
		}
		for _, dir := range []string{d.opts.Root, d.opts.StateDir} {
			if err := os.MkdirAll(dir, 0o711); err != nil {
				d.checkErr = fmt.Errorf("%w: %v", sandbox.ErrUnavailable, err)
				return
			}
		}
		d.sweep()
	})
	return d.checkErr
}

// sweep removes the directories a server killed while placing a socket
// left in the state dir (a young one may be another server's, in use).
func (d *Driver) sweep() {
	entries, _ := os.ReadDir(d.opts.StateDir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && e.IsDir() && strings.HasPrefix(e.Name(), ".sock-") && time.Since(fi.ModTime()) > time.Minute {
			_ = os.RemoveAll(filepath.Join(d.opts.StateDir, e.Name()))
		}
	}
}

func validID(id string) bool {
	return id != "" && filepath.Base(id) == id && id != "." && id != ".."
}

func containerName(id string) string { return "herm-" + id }

// Ensure implements sandbox.Driver.
func (d *Driver) Ensure(ctx context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	if err := d.Check(ctx); err != nil {
		return nil, err
	}
	if !validID(spec.DeploymentID) {
		return nil, fmt.Errorf("bad deployment id %q", spec.DeploymentID)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("docker sandbox driver closed")
	}
	if b, ok := d.boxes[spec.DeploymentID]; ok {
		b.setSpec(ctx, spec)
		return b, nil
	}
	ws, err := sandbox.OpenWorkspace(filepath.Join(d.opts.Root, spec.DeploymentID), d.opts.UID, d.opts.UID)
	if err != nil {
		return nil, err
	}
	b := &box{d: d, id: spec.DeploymentID, ws: ws}
	b.setSpec(ctx, spec)
	d.boxes[spec.DeploymentID] = b
	return b, nil
}

// Destroy implements sandbox.Driver.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("bad deployment id %q", id)
	}
	d.mu.Lock()
	b := d.boxes[id]
	delete(d.boxes, id)
	d.mu.Unlock()
	if b != nil {
		_ = b.Stop(ctx)
		_ = b.ws.Close()
	}
	if _, err := d.cli.ContainerRemove(ctx, containerName(id), client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container: %w", err)
	}
	_ = os.RemoveAll(filepath.Join(d.opts.StateDir, id))
	return os.RemoveAll(filepath.Join(d.opts.Root, id))
}

// Close implements sandbox.Driver: containers stop, and stay.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	boxes := d.boxes
	d.boxes = make(map[string]*box)
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, b := range boxes {
		wg.Go(func() {
			_ = b.Stop(ctx)
			_ = b.ws.Close()
		})
	}
	wg.Wait()
	return d.cli.Close()
}

// egressSocket is the host proxy's socket in the container's state dir.
const egressSocket = "egress.sock"

// EgressListener returns the unix listener the host serves the
// deployment's egress proxy on, and where commands reach it in the
// container: agent.RelayAddr, where the agent listens (before any command
// runs) and relays each connection to this socket, bind-mounted from the
// host. The container has no other network.
func (b *box) EgressListener() (net.Listener, string, error) {
	var ln *net.UnixListener
	err := b.placeSocket(egressSocket, func(path string) error {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			return err
		}
		l.SetUnlinkOnClose(false) // its name moves; a name left behind just refuses connections
		ln = l
		return nil
	})
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		return nil, "", err
	}
	return ln, agent.RelayAddr, nil
}

// placeSocket makes a unix socket in the container's state dir, which the
// container can write to: bound in a fresh directory only root can reach,
// given to the container's user there, then renamed into place (a rename
// replaces a name and never follows it, so a symlink the container put
// there cannot redirect the chown).
func (b *box) placeSocket(name string, bind func(path string) error) error {
	dir, err := b.stateDir()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(b.d.opts.StateDir, ".sock-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p := filepath.Join(tmp, name)
	if err := bind(p); err != nil {
		return err
	}
	if err := os.Chown(p, b.d.opts.UID, b.d.opts.UID); err != nil {
		return err
	}
	if err := os.Chmod(p, 0o600); err != nil {
		return err
	}
	return os.Rename(p, filepath.Join(dir, name))
}

// stateDir makes the container's control directory (bind-mounted at
// /run/herm), owned by the container's user.
func (b *box) stateDir() (string, error) {
	dir := filepath.Join(b.d.opts.StateDir, b.id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return dir, os.Chown(dir, b.d.opts.UID, b.d.opts.UID)
}

type box struct {
	d  *Driver
	id string
	ws *sandbox.Workspace

	mu     sync.Mutex
	spec   sandbox.Spec
	conn   *agent.Client // nil when stopped
	run    string        // the StartedAt of the container's run this box started ("": none)
	active int
	idle   *time.Timer
}

// setSpec takes a deployment's (new) settings; a running container's
// limits change at once.
func (b *box) setSpec(ctx context.Context, spec sandbox.Spec) {
	b.mu.Lock()
	changed := b.spec.DeploymentID != "" && b.spec.Resources != spec.Resources
	b.spec = spec
	running := b.conn != nil && !b.conn.Broken()
	r := b.config().HostConfig.Resources
	b.mu.Unlock()
	b.ws.SetQuota(int64(spec.Resources.DiskMB) << 20)
	if changed && running {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := b.updateLimits(ctx, containerName(b.id), r); err != nil {
			b.d.opts.Logger.Warn("update sandbox limits", "deployment_id", b.id, "err", err)
		}
	}
}

func (b *box) Workspace() *sandbox.Workspace { return b.ws }

func (b *box) resources() herm.Resources {
	return sandbox.Limits(b.spec.Resources, b.d.opts.Defaults)
}

// Running reports whether the container's agent is connected.
func (b *box) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn != nil && !b.conn.Broken()
}

// Stop implements sandbox.Sandbox: the container is killed (every process
// ends) and kept. Only a run this box started is killed: the container may
// be another server's by now (a server sharing the engine that took the
// deployment over).
func (b *box) Stop(ctx context.Context) error {
	b.mu.Lock()
	conn, run := b.conn, b.run
	b.conn, b.run = nil, ""
	if b.idle != nil {
		b.idle.Stop()
	}
	b.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	if run == "" {
		return nil
	}
	return b.kill(context.WithoutCancel(ctx), run)
}

// kill kills the container if its current run is run.
func (b *box) kill(ctx context.Context, run string) error {
	name := containerName(b.id)
	insp, err := b.d.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if s := insp.Container.State; s == nil || !s.Running || s.StartedAt != run {
		return nil
	}
	_, err = b.d.cli.ContainerKill(ctx, name, client.ContainerKillOptions{Signal: "KILL"})
	if err != nil && !errdefs.IsNotFound(err) && !strings.Contains(err.Error(), "is not running") {
		return err
	}
	b.waitStopped(ctx, name)
	return nil
}

// config is the container's definition.
func (b *box) config() client.ContainerCreateOptions {
	o := b.d.opts
	r := b.resources()
	pids := int64(r.PIDs)
	init := true
	binds := []string{
		b.ws.Dir() + ":/workspace:rw",
		filepath.Join(o.StateDir, b.id) + ":/run/herm:rw",
		o.Binary + ":/.herm/herm:ro",
	}
	if o.HostUsr {
		binds = append(binds, "/usr:/usr:ro")
	}
	uid := fmt.Sprint(o.UID)
	return client.ContainerCreateOptions{
		Name: containerName(b.id),
		Config: &container.Config{
			Image:      o.Image,
			User:       uid + ":" + uid,
			Hostname:   "sandbox",
			WorkingDir: "/workspace",
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", "HOME=/workspace"},
			Entrypoint: []string{"/.herm/herm"},
			Cmd:        []string{agent.ContainerArg, "/run/herm/ctl.sock", "/run/herm/" + egressSocket},
			Labels:     map[string]string{"dev.herm.deployment": b.id},
		},
		HostConfig: &container.HostConfig{
			Binds:          binds,
			Init:           &init,
			ReadonlyRootfs: true,
			Tmpfs:          map[string]string{"/tmp": fmt.Sprintf("rw,nosuid,nodev,size=%dm,mode=1777", o.TmpMB)},
			CapDrop:        []string{"ALL"},
			SecurityOpt:    []string{"no-new-privileges"},
			NetworkMode:    "none",
			Runtime:        o.Runtime,
			Resources: container.Resources{
				Memory:     int64(r.MemoryMB) << 20,
				MemorySwap: int64(r.MemoryMB) << 20, // no swap beyond the limit
				NanoCPUs:   int64(r.CPU * 1e9),
				PidsLimit:  &pids,
			},
		},
	}
}

// start (re)starts the container and waits for its agent (b.mu held).
func (b *box) startLocked(ctx context.Context) (*agent.Client, error) {
	if b.conn != nil && !b.conn.Broken() {
		return b.conn, nil
	}
	b.conn = nil
	cli := b.d.cli
	name := containerName(b.id)
	if _, err := b.stateDir(); err != nil { // bind-mounted: made before the container
		return nil, fmt.Errorf("control directory: %w", err)
	}
	if err := b.prepareContainer(ctx, name); err != nil {
		return nil, err
	}
	lfd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(lfd)
	if err := b.placeSocket("ctl.sock", func(path string) error { return unix.Bind(lfd, &unix.SockaddrUnix{Name: path}) }); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := unix.Listen(lfd, 1); err != nil {
		return nil, err
	}
	if err := b.updateLimits(ctx, name, b.config().HostConfig.Resources); err != nil {
		return nil, err
	}
	if _, err := cli.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
		return nil, fmt.Errorf("start container: %w", err)
	}
	fd, err := accept(ctx, lfd, 20*time.Second)
	if err != nil {
		_, _ = cli.ContainerKill(context.WithoutCancel(ctx), name, client.ContainerKillOptions{Signal: "KILL"})
		return nil, fmt.Errorf("the container's agent did not connect: %w%s", err, b.logsHint(ctx, name))
	}
	b.conn = agent.NewClient(fd, func() error { return errors.New("the sandbox container stopped") })
	if insp, err := cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{}); err == nil && insp.Container.State != nil {
		b.run = insp.Container.State.StartedAt
	}
	return b.conn, nil
}

// takeoverGrace is how long a container whose server died a moment ago is
// given to stop by itself: its agent ends when the connection to its
// server closes, and the container with it.
const takeoverGrace = 5 * time.Second

// prepareContainer leaves the deployment's container created and stopped,
// with this server's definition (b.mu held). The container may exist:
// stopped (idle, or its server gone), or running. A run this box started
// (its agent gone) is killed. Any other run is another server's: this
// machine's previous server process, or another server sharing the engine
// that ran the deployment before this one took it over; such a run ends by
// itself when that server dies (its agent loses the connection), so it is
// given takeoverGrace, and one still running after that belongs to a live
// server: the start fails (sandbox.ErrInUse), as two servers never run one
// sandbox. The engine's names make one container per deployment; a name
// taken while this server creates it is looked at again.
func (b *box) prepareContainer(ctx context.Context, name string) error {
	cli := b.d.cli
	var waited time.Time
	for changes := 0; ; {
		if changes > 10 {
			return fmt.Errorf("container %s keeps changing under this server", name)
		}
		insp, err := cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		switch {
		case errdefs.IsNotFound(err):
			if _, err := cli.ContainerCreate(ctx, b.config()); errdefs.IsConflict(err) {
				changes++
				continue // another server made it meanwhile
			} else if err != nil {
				return fmt.Errorf("create container: %w", err)
			}
			return nil
		case err != nil:
			return fmt.Errorf("inspect container: %w", err)
		}
		state := insp.Container.State
		if state != nil && (state.Running || state.Restarting) {
			if b.run != "" && state.StartedAt == b.run {
				if err := b.kill(ctx, b.run); err != nil {
					return fmt.Errorf("stop the container: %w", err)
				}
				b.run = ""
				changes++
				continue
			}
			if waited.IsZero() {
				waited = time.Now()
			}
			if time.Since(waited) > takeoverGrace {
				return fmt.Errorf("%w: deployment %s: its container %s is running with another server's agent connected (two servers must never run one sandbox; it starts here once that one stops; if no server runs it any more: docker rm -f %s)", sandbox.ErrInUse, b.id, name, name)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if outdated(insp.Container.Config, b.config().Config) {
			// Made by another version of this server (or another image):
			// the container holds nothing of value (the workspace is a bind
			// mount). Not forced: one that another server started meanwhile
			// is looked at again.
			if _, err := cli.ContainerRemove(ctx, name, client.ContainerRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
				return fmt.Errorf("remove outdated container: %w", err)
			}
			changes++
			continue
		}
		return nil
	}
}

// outdated reports whether an existing container was made from another
// definition than the one this server would make.
func outdated(have, want *container.Config) bool {
	return have == nil || have.Image != want.Image || !slices.Equal(have.Cmd, want.Cmd) || !slices.Equal(have.Entrypoint, want.Entrypoint) || have.User != want.User
}

// updateLimits applies the deployment's current resources to an existing
// container (they may have changed since it was created).
func (b *box) updateLimits(ctx context.Context, name string, r container.Resources) error {
	_, err := b.d.cli.ContainerUpdate(ctx, name, client.ContainerUpdateOptions{Resources: &r})
	if err != nil {
		return fmt.Errorf("update container limits: %w", err)
	}
	return nil
}

// died describes a command whose container died under it.
func (b *box) died(ctx context.Context, d time.Duration) *sandbox.ExecResult {
	why := "the sandbox stopped"
	insp, err := b.d.cli.ContainerInspect(context.WithoutCancel(ctx), containerName(b.id), client.ContainerInspectOptions{})
	if err == nil && insp.Container.State != nil && insp.Container.State.OOMKilled {
		why = "out of memory"
	}
	return &sandbox.ExecResult{ExitCode: 137, Signal: "SIGKILL (" + why + ")", Duration: d}
}

func (b *box) waitStopped(ctx context.Context, name string) {
	for range 100 {
		insp, err := b.d.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if err != nil || insp.Container.State == nil || !insp.Container.State.Running {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *box) logsHint(ctx context.Context, name string) string {
	insp, err := b.d.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil || insp.Container.State == nil {
		return ""
	}
	s := insp.Container.State
	return fmt.Sprintf(" (container %s, exit code %d %s)", s.Status, s.ExitCode, s.Error)
}

// accept waits for one connection on a listening socket.
func accept(ctx context.Context, lfd int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return -1, err
		}
		fds := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			return -1, err
		}
		if n > 0 {
			fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
			return fd, err
		}
	}
	return -1, errors.New("timed out")
}

func (b *box) begin(ctx context.Context) (*agent.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// A start is not abandoned halfway (a container left starting would
	// race the next one); it has its own time limit.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	c, err := b.startLocked(sctx)
	if err != nil {
		return nil, err
	}
	b.active++
	if b.idle != nil {
		b.idle.Stop()
	}
	return c, nil
}

func (b *box) end(c *agent.Client) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active--
	if b.active > 0 || b.d.opts.IdleTimeout < 0 || b.conn != c {
		return
	}
	if b.idle != nil {
		b.idle.Stop()
	}
	b.idle = time.AfterFunc(b.d.opts.IdleTimeout, func() {
		b.mu.Lock()
		idle := b.active == 0 && b.conn == c
		b.mu.Unlock()
		if idle {
			_ = b.Stop(context.Background())
		}
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
		c, err := b.begin(ctx)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		res, err := c.Exec(ctx, req, dir, sandbox.BaseEnv("/workspace", req.Env))
		b.end(c)
		if errors.Is(err, agent.ErrNotStarted) && attempt == 0 && ctx.Err() == nil {
			continue // the container went away under us: start it again
		}
		if err != nil && !errors.Is(err, agent.ErrNotStarted) && ctx.Err() == nil && c.Broken() {
			// The whole container died while the command ran (a memory or
			// process limit can take it down, gVisor's included): for the
			// caller the command was killed; the next one starts it again.
			return b.died(ctx, time.Since(start)), nil
		}
		return res, err
	}
}
