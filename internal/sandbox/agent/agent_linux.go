// Package agent is the process that runs commands inside a sandbox, and
// the server's client for it. The protocol: JSON messages over a
// SOCK_SEQPACKET unix socket; an exec request carries the command's stdin,
// stdout and stderr as file descriptors (SCM_RIGHTS), so output flows from
// the command straight to the server through pipes, and the agent only
// starts, kills and reaps.
package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// request is a message from the server.
type request struct {
	Op   string   `json:"op"` // "exec" or "kill"
	ID   uint64   `json:"id"`
	Argv []string `json:"argv,omitempty"`
	Dir  string   `json:"dir,omitempty"`
	Env  []string `json:"env,omitempty"`
}

// reply is a message from the agent.
type reply struct {
	Op     string `json:"op"` // "started", "failed" or "exited"
	ID     uint64 `json:"id"`
	PID    int    `json:"pid,omitempty"`
	Error  string `json:"error,omitempty"`
	Code   int    `json:"code,omitempty"`
	Signal int    `json:"signal,omitempty"`
}

const maxMessage = 1 << 20

// Options say how the agent isolates commands.
type Options struct {
	// NestedPID starts each command as the init of a new PID namespace,
	// as user UID:GID (the agent must hold CAP_SYS_ADMIN and CAP_SETUID in
	// its user namespace): when the command ends, or is killed, its whole
	// process tree ends. Without it, each command leads a new session and
	// its process group is killed.
	NestedPID bool
	UID, GID  uint32
}

// Serve runs commands for the server until the control socket closes;
// then it returns, and the caller exits, which ends the sandbox.
func Serve(ctrl *os.File, opts Options) error {
	fd := int(ctrl.Fd())
	// Only fd is used below: without this, the garbage collector may
	// finalize ctrl and close the socket under the agent.
	defer runtime.KeepAlive(ctrl)
	// The control socket is the agent's alone: a command holding it could
	// read other commands' requests and forge their results.
	unix.CloseOnExec(fd)
	var (
		wmu   sync.Mutex
		mu    sync.Mutex
		procs = make(map[uint64]*os.Process)
	)
	send := func(r reply) {
		b, _ := json.Marshal(r)
		wmu.Lock()
		defer wmu.Unlock()
		_ = unix.Sendmsg(fd, b, nil, nil, 0)
	}
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(3*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return nil // the server closed the socket: stop the sandbox
		}
		var files []*os.File
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err == nil {
				for _, m := range msgs {
					fds, err := unix.ParseUnixRights(&m)
					if err != nil {
						continue
					}
					for _, f := range fds {
						files = append(files, os.NewFile(uintptr(f), "fd"))
					}
				}
			}
		}
		var req request
		if err := json.Unmarshal(buf[:n], &req); err != nil {
			closeAll(files)
			continue
		}
		switch req.Op {
		case "kill":
			// Under mu: a command in procs is not reaped yet, so its pid
			// (and process group) cannot have been reused.
			mu.Lock()
			if p := procs[req.ID]; p != nil {
				kill(p.Pid, opts)
			}
			mu.Unlock()
			closeAll(files)
		case "exec":
			cmd, err := startCommand(req, files, opts)
			closeAll(files)
			if err != nil {
				send(reply{Op: "failed", ID: req.ID, Error: err.Error()})
				continue
			}
			mu.Lock()
			procs[req.ID] = cmd.Process
			mu.Unlock()
			send(reply{Op: "started", ID: req.ID, PID: cmd.Process.Pid})
			go func(id uint64) {
				// Wait for the exit without reaping: until it is reaped the
				// command's pid stays taken, so its group can be killed
				// without hitting a new process that reused the number.
				var info unix.Siginfo
				for {
					err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
					if err != unix.EINTR {
						break
					}
				}
				mu.Lock()
				if !opts.NestedPID {
					// A command's processes end with it (with NestedPID the
					// kernel ends its PID namespace).
					kill(cmd.Process.Pid, opts)
				}
				delete(procs, id)
				mu.Unlock()
				_ = cmd.Wait()
				r := reply{Op: "exited", ID: id}
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
					r.Code = ws.ExitStatus()
					if ws.Signaled() {
						r.Signal = int(ws.Signal())
					}
				}
				send(r)
			}(req.ID)
		default:
			closeAll(files)
		}
	}
}

// kill ends a command's whole process tree: with NestedPID, killing the
// command (its namespace's init) does; otherwise its process group.
func kill(pid int, opts Options) {
	if opts.NestedPID {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// startCommand starts a command in a new session; with NestedPID as the
// sandbox user, with no capabilities, as the init of a new PID namespace.
func startCommand(req request, files []*os.File, opts Options) (*exec.Cmd, error) {
	if len(req.Argv) == 0 {
		return nil, errors.New("empty command")
	}
	if len(files) != 3 {
		return nil, fmt.Errorf("want 3 descriptors, got %d", len(files))
	}
	for _, kv := range req.Env {
		if !envOK(kv) {
			return nil, fmt.Errorf("bad environment entry %q", kv)
		}
	}
	path, err := exec.LookPath(req.Argv[0])
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        req.Argv,
		Dir:         req.Dir,
		Env:         req.Env,
		Stdin:       files[0],
		Stdout:      files[1],
		Stderr:      files[2],
		SysProcAttr: &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL},
	}
	if opts.NestedPID {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: opts.UID, Gid: opts.GID, Groups: []uint32{}}
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// envOK reports a well-formed environment entry.
func envOK(kv string) bool {
	k, _, ok := strings.Cut(kv, "=")
	return ok && k != "" && !strings.ContainsRune(kv, 0)
}
