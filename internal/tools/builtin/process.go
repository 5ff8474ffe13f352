package builtin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/tools"
)

const (
	// maxProcessRead bounds the output one read returns: with what is
	// around it, less than the agent's preview of a result (16 KiB), so
	// that the model sees where to read on.
	maxProcessRead = 12 << 10
	// defaultTailLines is how much of the output read returns by default.
	defaultTailLines = 100
	maxTailLines     = 10000
	// maxProcessList bounds the processes list shows (the newest).
	maxProcessList = 50
	// killWait is how long kill waits for the process to end.
	killWait = 5 * time.Second
)

type processArgs struct {
	Action    string `json:"action" enum:"list,read,write,kill" jsonschema:"list: the background processes; read: a process's output; write: send text to its input; kill: send it a signal."`
	ID        string `json:"id,omitempty" jsonschema:"read, write, kill: the process id, which shell's result and list give (the tool call id of the shell call that started it)."`
	TailLines *int   `json:"tail_lines,omitempty" minimum:"1" maximum:"10000" jsonschema:"read: return the last this many lines of the output (default 100; at most 12 KiB)."`
	Offset    *int64 `json:"offset,omitempty" minimum:"0" jsonschema:"read: return the output from this byte on instead (at most 12 KiB); every read says the offset to read on from."`
	Input     string `json:"input,omitempty" jsonschema:"write: the text to write to the process's input, as is: end a line with \\n (at most 1 MiB)."`
	EOF       bool   `json:"eof,omitempty" jsonschema:"write: close the process's input after writing (it reads end of input then)."`
	Signal    string `json:"signal,omitempty" enum:"TERM,INT,KILL" jsonschema:"kill: the signal (default TERM; INT is Ctrl-C; KILL cannot be caught, use it when TERM does not end the process)."`
}

// newProcess is the tool that manages what shell started in the
// background (sandbox.Job): every action runs through the sandbox, so it
// works on every driver.
func newProcess(get getFunc) Tool {
	return newTool("process",
		"Manage the processes started with shell and background: true, each named by the process id shell's result gives. "+
			"list: each one's id, state (running, or exited with its exit code), pid, start time, output size and command. "+
			"read: a process's output (the last lines, or from a byte offset to follow it). "+
			"write: send text to its input, a pipe that stays open until a write with eof. "+
			"kill: send TERM (default), INT or KILL to it and its process group.",
		true,
		func(ctx context.Context, c tools.Call, a processArgs) (tools.Result, error) {
			switch {
			case a.Action == "":
				return errResult("action is required: list, read, write or kill"), nil
			case a.Action != "list" && a.Action != "read" && a.Action != "write" && a.Action != "kill":
				return errResult("action %q: must be list, read, write or kill", a.Action), nil
			case a.Action == "list" && a.ID != "":
				return errResult("list takes no id"), nil
			case a.Action != "list" && a.ID == "":
				return errResult("id is required for %s (list gives the ids)", a.Action), nil
			case a.Action != "list" && !sandbox.ValidJobID(a.ID):
				return errResult("id %q is not a process id (list gives the ids)", a.ID), nil
			}
			if a.Action != "read" && (a.TailLines != nil || a.Offset != nil) {
				return errResult("tail_lines and offset are for read"), nil
			}
			if a.Action != "write" && (a.Input != "" || a.EOF) {
				return errResult("input and eof are for write"), nil
			}
			if a.Action != "kill" && a.Signal != "" {
				return errResult("signal is for kill"), nil
			}
			sb, err := get(ctx, c.Deployment)
			if err != nil {
				return tools.Result{}, fmt.Errorf("sandbox: %w", err)
			}
			var res tools.Result
			switch a.Action {
			case "list":
				res, err = listProcesses(ctx, sb)
			case "read":
				res, err = readProcess(ctx, sb, a)
			case "write":
				res, err = writeProcess(ctx, sb, a)
			case "kill":
				res, err = killProcess(ctx, sb, a)
			}
			if ctx.Err() != nil {
				return tools.Result{}, ctx.Err()
			}
			if err != nil {
				// What the model can react to (an unknown id, a process that
				// is not running, no code execution here) is a result.
				if herm.ErrorCode(err) != herm.EInternal {
					return errResult("%s", herm.ErrorMessage(err)), nil
				}
				return tools.Result{}, fmt.Errorf("process %s: %w", a.Action, err)
			}
			return res, nil
		})
}

func listProcesses(ctx context.Context, sb sandbox.Sandbox) (tools.Result, error) {
	jobs, err := sandbox.Jobs(ctx, sb)
	if err != nil {
		return tools.Result{}, err
	}
	if len(jobs) == 0 {
		return tools.Result{Content: "no background processes (shell with background: true starts one)"}, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s, oldest first:", plural(len(jobs), "background process", "background processes"))
	if len(jobs) > maxProcessList {
		fmt.Fprintf(&b, " (the %d oldest left out)", len(jobs)-maxProcessList)
		jobs = jobs[len(jobs)-maxProcessList:]
	}
	for _, j := range jobs {
		b.WriteString("\n")
		b.WriteString(describeJob(&j))
	}
	return tools.Result{Content: b.String()}, nil
}

// describeJob is one line about a job.
func describeJob(j *sandbox.Job) string {
	return fmt.Sprintf("%s: %s; started %s; output %s; command: %s", j.ID, jobState(j), j.StartedAt.UTC().Format(time.RFC3339),
		plural(int(j.Output), "byte", "bytes"), oneLine(j.Command, 100))
}

func jobState(j *sandbox.Job) string {
	switch j.State {
	case sandbox.JobExited:
		return fmt.Sprintf("exited, %s, at %s (pid was %d)", exitCode(j.ExitCode), j.EndedAt.UTC().Format(time.RFC3339), j.PID)
	case sandbox.JobLost:
		return fmt.Sprintf("ended without an exit status: its sandbox stopped, or it was killed from outside (pid was %d)", j.PID)
	}
	s := fmt.Sprintf("running, pid %d", j.PID)
	if j.InputClosed {
		s += ", input closed"
	}
	return s
}

func exitCode(code int) string {
	switch {
	case code < 0:
		return "exit code unknown"
	case code > 128 && code < 128+32:
		return fmt.Sprintf("exit code %d (%s)", code, unix.SignalName(syscall.Signal(code-128)))
	}
	return fmt.Sprintf("exit code %d", code)
}

// oneLine shortens a command for a listing: its first line, at most n
// runes.
func oneLine(s string, n int) string {
	s = strings.TrimSpace(s)
	first, _, multi := strings.Cut(s, "\n")
	if r := []rune(first); len(r) > n {
		return string(r[:n]) + "…"
	}
	if multi {
		return first + " …"
	}
	return first
}

func readProcess(ctx context.Context, sb sandbox.Sandbox, a processArgs) (tools.Result, error) {
	if a.TailLines != nil && a.Offset != nil {
		return errResult("give tail_lines or offset, not both"), nil
	}
	n := defaultTailLines
	if a.TailLines != nil {
		n = *a.TailLines
		if n < 1 || n > maxTailLines {
			return errResult("tail_lines must be between 1 and %d", maxTailLines), nil
		}
	}
	if a.Offset != nil && *a.Offset < 0 {
		return errResult("offset must not be negative"), nil
	}
	j, err := sandbox.GetJob(ctx, sb, a.ID)
	if err != nil {
		return tools.Result{}, err
	}
	var b strings.Builder
	b.WriteString(describeJob(j))
	f, err := sb.Workspace().Open(j.Log())
	if err != nil {
		fmt.Fprintf(&b, "\nno output (%s is not there)", j.Log())
		return tools.Result{Content: b.String()}, nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return tools.Result{}, err
	}
	size := fi.Size()
	var text []byte
	var from int64
	if a.Offset != nil {
		from = *a.Offset
		if from > size {
			return errResult("offset %d is past the end of the output (%s)", from, plural(int(size), "byte", "bytes")), nil
		}
		text, err = readAt(f, from, min(size, from+maxProcessRead))
		if err != nil {
			return tools.Result{}, err
		}
		if from+int64(len(text)) < size {
			text = trimPartialRune(text) // the next read starts at a character
		}
	} else {
		text, from, err = tailLines(f, size, n)
		if err != nil {
			return tools.Result{}, err
		}
	}
	to := from + int64(len(text))
	switch {
	case size == 0:
		b.WriteString("\nno output yet")
	case len(text) == 0:
		fmt.Fprintf(&b, "\nno output after byte %d", from)
	case a.Offset != nil:
		fmt.Fprintf(&b, "\n--- output, bytes %d-%d of %d ---\n", from, to, size)
	case from > 0:
		fmt.Fprintf(&b, "\n--- the last %s of the output, bytes %d-%d of %d (read earlier output with offset) ---\n", plural(strings.Count(strings.TrimSuffix(string(text), "\n"), "\n")+1, "line", "lines"), from, to, size)
	default:
		fmt.Fprintf(&b, "\n--- output, %s ---\n", plural(int(size), "byte", "bytes"))
	}
	if len(text) > 0 {
		b.WriteString(strings.ToValidUTF8(string(text), "\uFFFD"))
		if text[len(text)-1] != '\n' {
			b.WriteString("\n")
		}
		b.WriteString("---")
	}
	switch {
	case to < size:
		fmt.Fprintf(&b, "\n[more output follows: read on with offset %d]", to)
	case j.State == sandbox.JobRunning:
		fmt.Fprintf(&b, "\n[read what comes next with offset %d]", to)
	}
	return tools.Result{Content: b.String()}, nil
}

// trimPartialRune leaves out a character cut at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i > 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

func readAt(f io.ReaderAt, from, to int64) ([]byte, error) {
	buf := make([]byte, to-from)
	n, err := f.ReadAt(buf, from)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return buf[:n], nil
}

// tailLines returns the last n lines of the first size bytes of f, at most
// maxProcessRead bytes of them (whole lines unless one line is longer), and
// where they start.
func tailLines(f io.ReaderAt, size int64, n int) ([]byte, int64, error) {
	from := max(0, size-maxProcessRead)
	buf, err := readAt(f, from, size)
	if err != nil {
		return nil, 0, err
	}
	pos := len(buf)
	if pos > 0 && buf[pos-1] == '\n' {
		pos-- // the last line's newline
	}
	for range n {
		j := bytes.LastIndexByte(buf[:pos], '\n')
		if j < 0 {
			if from > 0 {
				// The window starts inside a line: leave that part out,
				// unless it is all there is.
				if k := bytes.IndexByte(buf, '\n'); k >= 0 && k+1 < len(buf) {
					return buf[k+1:], from + int64(k+1), nil
				}
			}
			return buf, from, nil
		}
		pos = j
	}
	return buf[pos+1:], from + int64(pos+1), nil
}

func writeProcess(ctx context.Context, sb sandbox.Sandbox, a processArgs) (tools.Result, error) {
	if a.Input == "" && !a.EOF {
		return errResult("input is empty: give the text to write, or eof: true to close the input"), nil
	}
	if err := sandbox.WriteJob(ctx, sb, a.ID, a.Input, a.EOF); err != nil {
		return tools.Result{}, err
	}
	var msg string
	switch {
	case a.Input == "":
		msg = fmt.Sprintf("closed the input of %s", a.ID)
	case a.EOF:
		msg = fmt.Sprintf("wrote %s to the input of %s and closed it", plural(len(a.Input), "byte", "bytes"), a.ID)
	default:
		msg = fmt.Sprintf("wrote %s to the input of %s", plural(len(a.Input), "byte", "bytes"), a.ID)
		if !strings.HasSuffix(a.Input, "\n") {
			msg += " (with no newline at the end: a program reading lines waits for one)"
		}
	}
	return tools.Result{Content: msg}, nil
}

func killProcess(ctx context.Context, sb sandbox.Sandbox, a processArgs) (tools.Result, error) {
	sig := a.Signal
	if sig == "" {
		sig = sandbox.SignalTerm
	}
	if !sandbox.ValidJobSignal(sig) {
		return errResult("signal %q: must be TERM, INT or KILL", sig), nil
	}
	j, err := sandbox.GetJob(ctx, sb, a.ID)
	if err != nil {
		return tools.Result{}, err
	}
	if j.State != sandbox.JobRunning {
		return tools.Result{Content: fmt.Sprintf("%s is not running: %s; nothing to kill", j.ID, jobState(j))}, nil
	}
	if err := sandbox.SignalJob(ctx, sb, j.ID, sig); err != nil {
		return tools.Result{}, err
	}
	sent := fmt.Sprintf("sent SIG%s to %s (pid %d) and its process group", sig, j.ID, j.PID)
	if sig == sandbox.SignalKill {
		sent = fmt.Sprintf("sent SIGKILL to %s (pid %d); its process group ends with it", j.ID, j.PID)
	}
	j, err = sandbox.WaitJob(ctx, sb, j.ID, killWait)
	if err != nil {
		return tools.Result{}, err
	}
	switch j.State {
	case sandbox.JobExited:
		return tools.Result{Content: fmt.Sprintf("%s: it exited, %s", sent, exitCode(j.ExitCode))}, nil
	case sandbox.JobLost:
		return tools.Result{Content: fmt.Sprintf("%s: it ended, without an exit status", sent)}, nil
	}
	msg := fmt.Sprintf("%s: it is still running after %d s (it may still be shutting down, or it ignores SIG%s", sent, int(killWait/time.Second), sig)
	if sig != sandbox.SignalKill {
		msg += "; signal KILL ends it"
	}
	return tools.Result{Content: msg + ")", IsError: true}, nil
}
