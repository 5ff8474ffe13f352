package builtin

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/tools"
)

const (
	defaultShellTimeout = 120 // seconds
	maxShellTimeout     = 3600
	// maxStreamBytes bounds what is kept of each of stdout and stderr: the
	// first and the last half of it.
	maxStreamBytes = 1 << 20
)

type shellArgs struct {
	Command    string `json:"command" jsonschema:"The command to run with /bin/sh -c. The working directory is /workspace."`
	TimeoutS   *int   `json:"timeout_s,omitempty" minimum:"1" maximum:"3600" jsonschema:"Seconds after which the command and every process it started are killed. Default 120. Ignored for background commands."`
	Background bool   `json:"background,omitempty" jsonschema:"Start the command and return at once (for servers and other long-running processes). Its output goes to .herm/bg/<tool call id>.log; its input is a pipe that stays open. The process tool lists it, reads its output, writes to its input and kills it."`
}

func newShell(get getFunc, now func() time.Time) Tool {
	return newTool("shell",
		"Run a shell command in the sandbox with /bin/sh -c, in /workspace. Returns the exit code, stdout and stderr. "+
			"Commands that run longer than timeout_s (default 120 s) are killed; use background for servers and other long-running processes.",
		true,
		func(ctx context.Context, c tools.Call, a shellArgs) (tools.Result, error) {
			if strings.TrimSpace(a.Command) == "" {
				return errResult("command is required"), nil
			}
			timeout := defaultShellTimeout
			if a.TimeoutS != nil {
				timeout = *a.TimeoutS
				if timeout < 1 || timeout > maxShellTimeout {
					return errResult("timeout_s must be between 1 and %d seconds", maxShellTimeout), nil
				}
			}
			sb, err := get(ctx, c.Deployment)
			if err != nil {
				return tools.Result{}, fmt.Errorf("sandbox: %w", err)
			}
			var res tools.Result
			if a.Background {
				res, err = background(ctx, sb, c.ID, a.Command, now())
			} else {
				res, err = foreground(ctx, sb, a.Command, time.Duration(timeout)*time.Second)
			}
			if err != nil {
				return res, err
			}
			ws := sb.Workspace()
			ws.Invalidate() // the command may have changed any file
			if qerr := ws.OverQuota(ctx); qerr != nil {
				if ctx.Err() != nil {
					return tools.Result{}, ctx.Err()
				}
				res.Content += "\n\n" + qerr.Error()
				res.IsError = true
			}
			return res, nil
		})
}

func foreground(ctx context.Context, sb sandbox.Sandbox, command string, timeout time.Duration) (tools.Result, error) {
	stdout, stderr := newCapBuffer(maxStreamBytes), newCapBuffer(maxStreamBytes)
	r, err := sb.Exec(ctx, sandbox.ExecRequest{Command: command, Timeout: timeout, Stdout: stdout, Stderr: stderr})
	if ctx.Err() != nil {
		return tools.Result{}, ctx.Err()
	}
	if err != nil {
		return execErr(err)
	}
	var b strings.Builder
	switch {
	case r.TimedOut:
		fmt.Fprintf(&b, "timed out after %d s; the command's processes were killed\n", int(timeout/time.Second))
	case r.Signal != "":
		fmt.Fprintf(&b, "exit code: %d (killed by %s)\n", r.ExitCode, r.Signal)
	default:
		fmt.Fprintf(&b, "exit code: %d\n", r.ExitCode)
	}
	out, errOut := stdout.String(), stderr.String()
	if out != "" {
		b.WriteString("--- stdout ---\n")
		b.WriteString(out)
		if !strings.HasSuffix(out, "\n") {
			b.WriteByte('\n')
		}
	}
	if errOut != "" {
		b.WriteString("--- stderr ---\n")
		b.WriteString(errOut)
		if !strings.HasSuffix(errOut, "\n") {
			b.WriteByte('\n')
		}
	}
	if out == "" && errOut == "" {
		b.WriteString("(no output)\n")
	}
	return tools.Result{
		Content: strings.TrimSuffix(b.String(), "\n"),
		IsError: r.TimedOut || r.ExitCode != 0,
	}, nil
}

// background starts a command as a sandbox job, whose id is the tool
// call's (made a file name).
func background(ctx context.Context, sb sandbox.Sandbox, callID, command string, now time.Time) (tools.Result, error) {
	j, err := sandbox.StartJob(ctx, sb, logName(callID, now), command, now)
	if ctx.Err() != nil {
		return tools.Result{}, ctx.Err()
	}
	if err != nil {
		return execErr(err)
	}
	return tools.Result{Content: fmt.Sprintf("started in the background, pid %d, output in %s; process id %s", j.PID, j.Log(), j.ID)}, nil
}

// execErr reports a command that could not be run: as a result when the
// sandbox says why (no code execution here, a bad request), else as an
// infrastructure failure.
func execErr(err error) (tools.Result, error) {
	if herm.ErrorCode(err) != herm.EInternal {
		return errResult("the command could not be run: %s", herm.ErrorMessage(err)), nil
	}
	return tools.Result{}, fmt.Errorf("exec: %w", err)
}

// logName makes a tool call id a job id (sandbox.ValidJobID): safe as a
// file name. A call without an id gets one from the time.
func logName(id string, now time.Time) string {
	var b strings.Builder
	for _, r := range id {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' && b.Len() > 0 {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 100 {
			break
		}
	}
	if b.Len() == 0 {
		return fmt.Sprintf("bg_%s_%09d", now.UTC().Format("20060102T150405"), now.Nanosecond())
	}
	return b.String()
}

// capBuffer keeps the first and the last half of at most limit bytes
// written to it, and counts the rest.
type capBuffer struct {
	mu    sync.Mutex
	head  []byte
	tail  []byte // ring of at most len(limit/2) bytes
	pos   int    // next write position in tail once it is full
	half  int
	total int64
}

func newCapBuffer(limit int) *capBuffer { return &capBuffer{half: limit / 2} }

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	b.total += int64(n)
	if room := b.half - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	if len(p) >= b.half {
		// Only the last half of p can stay.
		b.tail = append(b.tail[:0], p[len(p)-b.half:]...)
		b.pos = 0
		return n, nil
	}
	for len(p) > 0 {
		if len(b.tail) < b.half {
			k := min(b.half-len(b.tail), len(p))
			b.tail = append(b.tail, p[:k]...)
			p = p[k:]
			continue
		}
		k := copy(b.tail[b.pos:], p)
		b.pos = (b.pos + k) % b.half
		p = p[k:]
	}
	return n, nil
}

// String returns what was kept, with a note where bytes were left out.
func (b *capBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	tail := append(append([]byte(nil), b.tail[b.pos:]...), b.tail[:b.pos]...)
	kept := int64(len(b.head) + len(tail))
	s := string(b.head)
	if b.total > kept {
		s = strings.ToValidUTF8(s, "") + fmt.Sprintf("\n[... %s left out of %d ...]\n", plural(int(b.total-kept), "byte", "bytes"), b.total) + strings.ToValidUTF8(string(tail), "")
	} else {
		s += string(tail)
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
