package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The control protocol between the server and the sandbox's init (the
// agent, PID 1 inside): JSON messages over a SOCK_SEQPACKET socket pair.
// An exec request carries the command's stdin, stdout and stderr as file
// descriptors (SCM_RIGHTS), so output flows from the command straight to
// the server through pipes; the agent only starts, kills and reaps.

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

// serveAgent runs commands for the server until the control socket closes;
// then the init exits, which ends every process of the sandbox.
func serveAgent(ctrl *os.File) error {
	fd := int(ctrl.Fd())
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
			mu.Lock()
			p := procs[req.ID]
			mu.Unlock()
			if p != nil {
				// The command is the init of its own PID namespace: killing
				// it kills everything it started.
				_ = p.Signal(syscall.SIGKILL)
			}
			closeAll(files)
		case "exec":
			cmd, err := startCommand(req, files)
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
				_ = cmd.Wait()
				mu.Lock()
				delete(procs, id)
				mu.Unlock()
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

// startCommand starts a command as the sandbox user, with no capabilities,
// as the init of a new PID namespace (so that its whole process tree ends
// with it), in a new session.
func startCommand(req request, files []*os.File) (*exec.Cmd, error) {
	if len(req.Argv) == 0 {
		return nil, errors.New("empty command")
	}
	if len(files) != 3 {
		return nil, fmt.Errorf("want 3 descriptors, got %d", len(files))
	}
	for _, kv := range req.Env {
		if !sandboxEnvOK(kv) {
			return nil, fmt.Errorf("bad environment entry %q", kv)
		}
	}
	path, err := exec.LookPath(req.Argv[0])
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:   path,
		Args:   req.Argv,
		Dir:    req.Dir,
		Env:    req.Env,
		Stdin:  files[0],
		Stdout: files[1],
		Stderr: files[2],
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWPID,
			Setsid:     true,
			Credential: &syscall.Credential{Uid: sandboxUID, Gid: sandboxGID, Groups: []uint32{}},
			Pdeathsig:  syscall.SIGKILL,
		},
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
