// Package process is the unisolated development sandbox driver: commands
// run as plain host processes of the server's user, in the workspace
// directory. It isolates nothing: any command can read the host's files and
// reach its network. It exists for machines where no isolating driver
// works, and only when the operator asks for it (--sandbox process).
package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
)

// Name is the driver's sandbox.type.
const Name = "process"

// NameNone is the sandbox.type of deployments on a server where no driver
// can run code: they have a workspace (files API, file tools) and no code
// execution.
const NameNone = "none"

// Driver runs commands as host processes.
type Driver struct {
	root   string // workspaces live in root/<deployment id>
	noExec string // when set, Exec is refused with this reason

	mu    sync.Mutex
	boxes map[string]*box
}

// New returns a driver keeping workspaces under root.
func New(root string) *Driver {
	return &Driver{root: root, boxes: make(map[string]*box)}
}

// NewWorkspaceOnly returns the "none" driver: workspaces without code
// execution; why says why no driver can run code here.
func NewWorkspaceOnly(root, why string) *Driver {
	d := New(root)
	d.noExec = why
	return d
}

// Name implements sandbox.Driver.
func (d *Driver) Name() string {
	if d.noExec != "" {
		return NameNone
	}
	return Name
}

// Check implements sandbox.Driver.
func (d *Driver) Check(context.Context) error {
	if _, err := os.Stat("/bin/sh"); err != nil {
		return fmt.Errorf("%w: /bin/sh: %v", sandbox.ErrUnavailable, err)
	}
	return nil
}

// Ensure implements sandbox.Driver.
func (d *Driver) Ensure(_ context.Context, spec sandbox.Spec) (sandbox.Sandbox, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if b, ok := d.boxes[spec.DeploymentID]; ok {
		b.ws.SetQuota(int64(spec.Resources.DiskMB) << 20)
		return b, nil
	}
	ws, err := sandbox.OpenWorkspace(filepath.Join(d.root, spec.DeploymentID), -1, -1)
	if err != nil {
		return nil, err
	}
	ws.SetQuota(int64(spec.Resources.DiskMB) << 20)
	b := &box{ws: ws, bg: make(map[int]*exec.Cmd), noExec: d.noExec}
	d.boxes[spec.DeploymentID] = b
	return b, nil
}

// Destroy implements sandbox.Driver.
func (d *Driver) Destroy(ctx context.Context, id string) error {
	d.mu.Lock()
	b := d.boxes[id]
	delete(d.boxes, id)
	d.mu.Unlock()
	if b != nil {
		_ = b.Stop(ctx)
	}
	if id == "" || filepath.Base(id) != id {
		return fmt.Errorf("bad deployment id %q", id)
	}
	return os.RemoveAll(filepath.Join(d.root, id))
}

// Close implements sandbox.Driver.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	boxes := d.boxes
	d.boxes = make(map[string]*box)
	d.mu.Unlock()
	for _, b := range boxes {
		_ = b.Stop(ctx)
	}
	return nil
}

type box struct {
	ws     *sandbox.Workspace
	noExec string

	mu sync.Mutex
	bg map[int]*exec.Cmd // background commands by pid
}

func (b *box) Workspace() *sandbox.Workspace { return b.ws }

func (b *box) Stop(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for pid := range b.bg {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	return nil
}

func (b *box) Exec(ctx context.Context, req sandbox.ExecRequest) (*sandbox.ExecResult, error) {
	if b.noExec != "" {
		return nil, herm.Errorf(herm.EUnavailable, "code execution is not available on this server: %s", b.noExec)
	}
	dir, err := b.dir(req.Dir)
	if err != nil {
		return nil, err
	}
	defer b.ws.Invalidate() // the command may have changed files
	cmd := exec.Command("/bin/sh", "-c", req.Command)
	cmd.Dir = dir
	cmd.Env = sandbox.BaseEnv(b.ws.Dir(), req.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if req.Background {
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start: %w", err)
		}
		pid := cmd.Process.Pid
		b.mu.Lock()
		b.bg[pid] = cmd
		b.mu.Unlock()
		go func() {
			_ = cmd.Wait()
			b.mu.Lock()
			delete(b.bg, pid)
			b.mu.Unlock()
		}()
		return &sandbox.ExecResult{PID: pid, Duration: time.Since(start)}, nil
	}

	var copies sync.WaitGroup
	var closers []io.Closer
	pipe := func(w io.Writer) (*os.File, error) {
		if w == nil {
			return nil, nil
		}
		r, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		closers = append(closers, r)
		copies.Go(func() { _, _ = io.Copy(w, r) })
		return pw, nil
	}
	stdout, err := pipe(req.Stdout)
	if err != nil {
		return nil, err
	}
	stderr, err := pipe(req.Stderr)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr, cmd.Stdin = stdout, stderr, req.Stdin
	startErr := cmd.Start()
	if stdout != nil {
		stdout.Close()
	}
	if stderr != nil {
		stderr.Close()
	}
	if startErr != nil {
		for _, c := range closers {
			c.Close()
		}
		copies.Wait()
		return nil, fmt.Errorf("start: %w", startErr)
	}
	pgid := cmd.Process.Pid
	done := make(chan struct{})
	watched := make(chan struct{})
	var timedOut bool
	var ctxErr error
	go func() {
		defer close(watched)
		var timeout <-chan time.Time
		if req.Timeout > 0 {
			t := time.NewTimer(req.Timeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-done:
			return
		case <-timeout:
			timedOut = true
		case <-ctx.Done():
			ctxErr = ctx.Err()
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}()
	waitErr := cmd.Wait()
	// A foreground command's processes end with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	close(done)
	<-watched
	waitCopies(&copies, closers)
	res := result(cmd.ProcessState, waitErr, timedOut, time.Since(start))
	if ctxErr != nil {
		return res, ctxErr
	}
	return res, nil
}

// waitCopies waits for the output to drain; a process that left the group
// and still holds a pipe is not waited for long.
func waitCopies(copies *sync.WaitGroup, closers []io.Closer) {
	drained := make(chan struct{})
	go func() { copies.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		for _, c := range closers {
			c.Close()
		}
		<-drained
		return
	}
	for _, c := range closers {
		c.Close()
	}
}

func result(ps *os.ProcessState, waitErr error, timedOut bool, d time.Duration) *sandbox.ExecResult {
	if ps == nil {
		return &sandbox.ExecResult{ExitCode: -1, TimedOut: timedOut, Duration: d}
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	var ee *exec.ExitError
	if !ok && !errors.As(waitErr, &ee) {
		return &sandbox.ExecResult{ExitCode: ps.ExitCode(), TimedOut: timedOut, Duration: d}
	}
	sig := 0
	if ws.Signaled() {
		sig = int(ws.Signal())
	}
	return sandbox.StatusResult(ws.ExitStatus(), sig, timedOut, d)
}

// dir resolves a request's working directory inside the workspace.
func (b *box) dir(p string) (string, error) {
	e, err := b.ws.Stat(p)
	if err != nil {
		return "", err
	}
	if !e.Dir {
		return "", herm.Errorf(herm.EInvalid, "dir %q: not a directory", p)
	}
	return b.ws.HostPath(e.Name), nil
}
