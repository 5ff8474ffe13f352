package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermhq/herm/internal/sandbox"
)

// killGrace is how long a killed command may take to be reported ended.
const killGrace = 10 * time.Second

// ErrNotStarted is wrapped by Exec's errors when the agent was gone before
// the command started: running it again in a restarted sandbox is safe.
var ErrNotStarted = errors.New("the command did not start")

// Client is the server's end of a sandbox agent's control socket.
type Client struct {
	ctrl    int           // the socket; -1 once closed
	failure func() error  // why the sandbox stopped, when it has
	closed  chan struct{} // closed when the socket is at its end

	wmu     sync.Mutex // serialises sends; guards ctrl
	mu      sync.Mutex
	nextID  uint64
	waiters map[uint64]chan reply
	broken  bool
}

// NewClient takes over the socket fd. failure explains, once the agent is
// gone, why (say, the init's stderr); nil gives a generic message.
func NewClient(fd int, failure func() error) *Client {
	if failure == nil {
		failure = func() error { return errors.New("the sandbox stopped") }
	}
	c := &Client{ctrl: fd, failure: failure, closed: make(chan struct{}), waiters: make(map[uint64]chan reply)}
	go c.readLoop()
	return c
}

// Broken reports whether the agent is gone.
func (c *Client) Broken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}

// Done is closed when the agent's socket has closed.
func (c *Client) Done() <-chan struct{} { return c.closed }

// Close shuts the socket down: the agent exits, and with it every process
// it started.
func (c *Client) Close() {
	c.wmu.Lock()
	if c.ctrl >= 0 {
		_ = unix.Shutdown(c.ctrl, unix.SHUT_RDWR)
	}
	c.wmu.Unlock()
}

// readLoop dispatches the agent's replies until the socket closes.
func (c *Client) readLoop() {
	buf := make([]byte, 64<<10)
	for {
		n, _, _, _, err := unix.Recvmsg(c.ctrl, buf, nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			break
		}
		var r reply
		if json.Unmarshal(buf[:n], &r) != nil {
			continue
		}
		c.mu.Lock()
		ch := c.waiters[r.ID]
		if r.Op == "exited" || r.Op == "failed" {
			delete(c.waiters, r.ID) // the last reply about this command
		}
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- r: // at most two replies per command: never blocks
			default:
			}
		}
	}
	// The agent is gone (or going): fail every waiter.
	c.wmu.Lock()
	unix.Close(c.ctrl)
	c.ctrl = -1
	c.wmu.Unlock()
	c.mu.Lock()
	c.broken = true
	ws := c.waiters
	c.waiters = make(map[uint64]chan reply)
	c.mu.Unlock()
	for _, ch := range ws {
		close(ch)
	}
	close(c.closed)
}

func (c *Client) send(r request, files []*os.File) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ctrl < 0 {
		return errors.New("sandbox control socket closed")
	}
	return unix.Sendmsg(c.ctrl, b, oob, nil, 0)
}

// Exec runs a command through the agent, in dir (a path inside the
// sandbox), with env as its whole environment.
func (c *Client) Exec(ctx context.Context, req sandbox.ExecRequest, dir string, env []string) (*sandbox.ExecResult, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	childFiles := []*os.File{devnull, devnull, devnull}
	var copies sync.WaitGroup
	var readers []*os.File
	var toClose []*os.File
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
	}()
	if !req.Background {
		if req.Stdin != nil {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			toClose = append(toClose, r)
			childFiles[0] = r
			go func() {
				_, _ = io.Copy(w, req.Stdin)
				w.Close()
			}()
		}
		for i, out := range []io.Writer{req.Stdout, req.Stderr} {
			if out == nil {
				out = io.Discard
			}
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			toClose = append(toClose, w)
			readers = append(readers, r)
			childFiles[i+1] = w
			copies.Go(func() { _, _ = io.Copy(out, r) })
		}
	}
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()

	c.mu.Lock()
	if c.broken {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrNotStarted, c.failure())
	}
	c.nextID++
	id := c.nextID
	ch := make(chan reply, 2)
	c.waiters[id] = ch
	c.mu.Unlock()
	forget := true // a background command's waiter goes with its exit
	defer func() {
		if forget {
			c.mu.Lock()
			delete(c.waiters, id)
			c.mu.Unlock()
		}
	}()

	start := time.Now()
	argv := []string{"/bin/sh", "-c", req.Command}
	if err := c.send(request{Op: "exec", ID: id, Argv: argv, Dir: dir, Env: env}, childFiles); err != nil {
		c.Close() // the agent is gone; the read loop will notice
		return nil, fmt.Errorf("%w: sandbox control: %w", ErrNotStarted, err)
	}
	// Our copies of the child's ends must go, or the output never ends.
	for _, f := range toClose {
		f.Close()
	}
	toClose = nil

	var r reply
	var ok bool
	select {
	case r, ok = <-ch:
	case <-ctx.Done():
		_ = c.send(request{Op: "kill", ID: id}, nil)
		return nil, ctx.Err()
	}
	if !ok {
		return nil, fmt.Errorf("%w: %w", ErrNotStarted, c.failure())
	}
	if r.Op == "failed" {
		return nil, fmt.Errorf("start command: %s", r.Error)
	}
	if req.Background {
		forget = false
		return &sandbox.ExecResult{PID: r.PID, Duration: time.Since(start)}, nil
	}
	var timeout <-chan time.Time
	if req.Timeout > 0 {
		t := time.NewTimer(req.Timeout - time.Since(start))
		defer t.Stop()
		timeout = t.C
	}
	timedOut := false
	var ctxErr error
	done := ctx.Done()
	var grace <-chan time.Time // after a kill: how long the exit may take
	killed := func() {
		_ = c.send(request{Op: "kill", ID: id}, nil)
		if grace == nil {
			grace = time.After(killGrace)
		}
	}
	for {
		select {
		case r, ok = <-ch:
		case <-timeout:
			timedOut, timeout = true, nil
			killed()
			continue
		case <-done:
			ctxErr, done = ctx.Err(), nil
			killed()
			continue
		case <-grace:
			// The agent did not report the killed command's end: it is
			// not trustworthy any more; stopping it ends the sandbox.
			c.Close()
			return nil, errors.New("the sandbox did not end a killed command; it was stopped")
		}
		break
	}
	if !ok {
		return nil, c.failure()
	}
	// Every process of the command is gone (the agent ends its whole
	// tree), so the pipes reach their end; a process that escaped holding
	// a pipe is not waited for long.
	drained := make(chan struct{})
	go func() { copies.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		for _, r := range readers {
			r.Close()
		}
		<-drained
	}
	res := sandbox.StatusResult(r.Code, r.Signal, timedOut, time.Since(start))
	return res, ctxErr
}

// LimitedBuffer keeps the first Max bytes written to it (a process's
// stderr, to explain its failure).
type LimitedBuffer struct {
	mu  sync.Mutex
	Max int
	buf bytes.Buffer
}

func (l *LimitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.Max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Bytes returns what was kept.
func (l *LimitedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes())
}
