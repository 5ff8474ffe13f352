// Package sandbox defines where a deployment's code runs: a Driver (local
// namespaces, docker, gvisor, the unisolated process driver for development)
// prepares one Sandbox per deployment, with a persistent workspace mounted at
// /workspace, and runs commands in it. Every driver passes the same
// conformance suite (sandbox/sandboxtest).
//
// Files are not a driver concern: every driver keeps the workspace in a host
// directory, and Workspace gives confined access to it from the host.
package sandbox

import (
	"context"
	"errors"
	"io"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hermhq/herm/internal/herm"
)

// Spec describes a deployment's sandbox.
type Spec struct {
	DeploymentID string
	Resources    herm.Resources
	Network      herm.Network
}

// Driver manages the sandboxes of one type.
type Driver interface {
	// Name is the sandbox.type value ("local", "docker", "gvisor", "process").
	Name() string
	// Check reports whether the driver can run on this machine.
	Check(ctx context.Context) error
	// Ensure prepares a deployment's sandbox (idempotent: it is called again
	// after a restart) and returns it. It need not start a process: a
	// sandbox starts on its first Exec and may stop when idle.
	Ensure(ctx context.Context, spec Spec) (Sandbox, error)
	// Destroy stops a deployment's sandbox and removes its workspace and
	// every resource it holds. Destroying an unknown deployment is not an
	// error.
	Destroy(ctx context.Context, deploymentID string) error
	// Close stops every running sandbox; workspaces stay (server shutdown).
	Close(ctx context.Context) error
}

// Sandbox is one deployment's execution environment.
type Sandbox interface {
	// Workspace is confined host access to the files at /workspace.
	Workspace() *Workspace
	// Exec runs a command and waits for it (unless Background). It returns
	// an error only when the command could not be run at all; a command
	// that fails, is killed or times out is a result.
	Exec(ctx context.Context, req ExecRequest) (*ExecResult, error)
	// Stop kills every process of the sandbox, background ones included.
	// The next Exec starts it again; the workspace stays.
	Stop(ctx context.Context) error
}

// ExecRequest is a command to run in a sandbox.
type ExecRequest struct {
	// Command runs with /bin/sh -c.
	Command string
	// Dir is the working directory relative to /workspace ("" = /workspace).
	Dir string
	// Env adds environment variables.
	Env map[string]string
	// Timeout kills the command's whole process tree (0 = no limit).
	Timeout time.Duration
	// Stdout and Stderr receive the output as it is produced (nil discards).
	Stdout, Stderr io.Writer
	// Stdin, when set, is the command's input.
	Stdin io.Reader
	// Background starts the command and returns at once (with its PID); it
	// keeps running until it exits or the sandbox stops. Stdin, Stdout,
	// Stderr and Timeout are ignored: its output is discarded unless the
	// command redirects it (the shell tool sends it to a log file).
	Background bool
}

// ExecResult is how a command ended.
type ExecResult struct {
	// ExitCode is the command's exit status, or 128+signal when a signal
	// killed it (as a shell reports it).
	ExitCode int
	// Signal names the signal that killed it, if any ("SIGKILL").
	Signal string
	// TimedOut is true when the timeout killed it.
	TimedOut bool
	// PID is the process id inside the sandbox (background commands).
	PID      int
	Duration time.Duration
}

// ErrUnavailable is returned by Check when a driver cannot run here.
var ErrUnavailable = errors.New("sandbox driver unavailable")

// ErrInUse is returned by a command that would start a deployment's
// sandbox while another server (sharing the data dir, or the Docker
// engine) still runs it: two servers never run one sandbox. The error
// passes once that server stops it, or dies.
var ErrInUse = errors.New("the sandbox is running under another server")

// StatusResult converts a process's wait status into a result.
func StatusResult(code, signal int, timedOut bool, d time.Duration) *ExecResult {
	r := &ExecResult{ExitCode: code, TimedOut: timedOut, Duration: d}
	if signal > 0 {
		r.ExitCode = 128 + signal
		r.Signal = unix.SignalName(syscall.Signal(signal))
	}
	return r
}

// BaseEnv is the environment every sandboxed command starts with; a
// request's Env is added to it.
func BaseEnv(home string, extra map[string]string) []string {
	env := map[string]string{
		"PATH":   "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
		"HOME":   home,
		"LANG":   "C.UTF-8",
		"TERM":   "dumb",
		"TMPDIR": "/tmp",
		"USER":   "user",
	}
	for k, v := range extra {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Limits returns r with def's values where r sets none.
func Limits(r, def herm.Resources) herm.Resources {
	if r.CPU == 0 {
		r.CPU = def.CPU
	}
	if r.MemoryMB == 0 {
		r.MemoryMB = def.MemoryMB
	}
	if r.PIDs == 0 {
		r.PIDs = def.PIDs
	}
	return r
}

// InsideDir resolves a request's working directory (relative to the
// workspace) to its path inside a sandbox that mounts the workspace at
// /workspace; it must be a directory of the workspace.
func InsideDir(ws *Workspace, dir string) (string, error) {
	e, err := ws.Stat(dir)
	if err != nil {
		return "", err
	}
	if !e.Dir {
		return "", herm.Errorf(herm.EInvalid, "dir %q: not a directory", dir)
	}
	if e.Name == "." {
		return "/workspace", nil
	}
	return "/workspace/" + e.Name, nil
}
