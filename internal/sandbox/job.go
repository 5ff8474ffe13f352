package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// Background jobs: commands started in the background whose output,
// input, exit status and signals are reachable later, on every driver,
// through nothing but Exec of small shell scripts and files under JobDir.
//
// A job runs under a wrapper shell (the background command itself, whose
// pid Exec reports) that
//   - holds the job's input pipe <id>.in open for writing, so the command
//     sees end of input only when asked (a FIFO with no writer left gives
//     end of file);
//   - reads requests from the control pipe <id>.ctl in a child loop: "eof"
//     closes the input, "TERM" and "INT" go to the whole process group,
//     "KILL" to the command (whose pid it wrote to <id>.pid);
//   - waits for the command, writes its exit status to <id>.exit, and then
//     ends whatever the command left in its process group.
//
// Requests go through the wrapper because a sandbox's commands may not see
// each other's processes: the local driver starts each command in a PID
// namespace of its own. They do see /proc of the sandbox, where a job's
// wrapper is found by its pid and the marker on its script's first line.
//
// <id>.json, written by StartJob, says what was started. Everything the
// sandbox wrote (the whole of JobDir) is the sandbox's to change: it is
// read as untrusted data.

// JobDir holds the files of background jobs.
const JobDir = ".herm/bg"

// States of a Job.
const (
	JobRunning = "running"
	JobExited  = "exited"
	// JobLost is a job that ended without an exit status: its sandbox
	// stopped, or its wrapper was killed from outside.
	JobLost = "lost"
)

// The signals SignalJob sends.
const (
	SignalTerm = "TERM"
	SignalInt  = "INT"
	SignalKill = "KILL"
)

// ValidJobSignal reports whether SignalJob sends sig.
func ValidJobSignal(sig string) bool {
	return sig == SignalTerm || sig == SignalInt || sig == SignalKill
}

// MaxJobInput is the most bytes one WriteJob writes.
const MaxJobInput = 1 << 20

// jobInputTimeout bounds a write to a job's input (a job that does not
// read its input blocks the writer once the pipe is full).
const jobInputTimeout = 10 * time.Second

// jobStartWait bounds how long StartJob waits for the wrapper to be ready
// to take requests.
const jobStartWait = 5 * time.Second

// Job is a background job and what is known of it now.
type Job struct {
	ID        string    `json:"id"`
	Command   string    `json:"command"`
	PID       int       `json:"pid"` // the wrapper's, as Exec reported it
	StartedAt time.Time `json:"started_at"`

	State    string    `json:"-"` // JobRunning, JobExited or JobLost
	ExitCode int       `json:"-"` // when exited (128+n after signal n); -1 when the status is unreadable
	EndedAt  time.Time `json:"-"` // when exited: when the status was written
	Output   int64     `json:"-"` // bytes in the log
	// InputClosed: the job's input was closed (WriteJob with eof), or it
	// ended.
	InputClosed bool `json:"-"`
}

// Log is the job's output file (stdout and stderr).
func (j *Job) Log() string { return JobLog(j.ID) }

// JobLog is the output file of the job id.
func JobLog(id string) string { return JobDir + "/" + id + ".log" }

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,119}$`)

// ValidJobID reports whether id has the form of a job id: 1 to 120 ASCII
// letters, digits, '_' and '-', not starting with '-' (so that it is a
// file name, a shell word and no command's option).
func ValidJobID(id string) bool { return jobIDPattern.MatchString(id) }

func checkJobID(id string) error {
	if !ValidJobID(id) {
		return herm.Errorf(herm.EInvalid, "id %q: not a process id (ids are made of letters, digits, '_' and '-', and do not start with '-')", id)
	}
	return nil
}

// StartJob starts command in the background as job id, or as id-2, id-3,
// … when a job id exists already (ids are never reused: a job's files
// outlive it). It returns once the job takes input and requests (or after
// a few seconds); now is its start time.
func StartJob(ctx context.Context, sb Sandbox, id, command string, now time.Time) (*Job, error) {
	if err := checkJobID(id); err != nil {
		return nil, err
	}
	ws := sb.Workspace()
	if err := ws.MkdirAll(JobDir); err != nil {
		return nil, err
	}
	// Claim an id (creating <id>.json exclusively) and make its pipes.
	var ids []string
	for i := 1; i <= 20; i++ {
		c := id
		if i > 1 {
			c = fmt.Sprintf("%s-%d", id, i)
		}
		if ValidJobID(c) {
			ids = append(ids, c)
		}
	}
	claim := "cd " + JobDir + " || exit 1\n" +
		"for id in " + strings.Join(ids, " ") + "; do\n" +
		"  if (set -C; : >\"$id.json\") 2>/dev/null; then\n" +
		"    rm -f \"$id.in\" \"$id.ctl\" \"$id.pid\" \"$id.exit\"\n" +
		"    mkfifo -m 600 \"$id.in\" \"$id.ctl\" || { rm -f \"$id.json\"; exit 1; }\n" +
		"    echo \"$id\"; exit 0\n" +
		"  fi\n" +
		"  [ -e \"$id.json\" ] || { echo \"cannot create $id.json\" >&2; exit 1; }\n" +
		"done\n" +
		"exit 2\n"
	out, err := execScript(ctx, sb, claim, nil, 30*time.Second)
	if err != nil {
		return nil, err
	}
	switch {
	case out.code == 2:
		return nil, herm.Errorf(herm.EConflict, "the background process ids %s to %s are all taken", ids[0], ids[len(ids)-1])
	case out.code != 0:
		return nil, fmt.Errorf("prepare background job: exit code %d: %s", out.code, out.stderr)
	}
	j := &Job{ID: strings.TrimSpace(out.stdout), Command: command, StartedAt: now.UTC(), State: JobRunning}
	if !ValidJobID(j.ID) {
		return nil, fmt.Errorf("prepare background job: unexpected id %q", out.stdout)
	}
	record := JobDir + "/" + j.ID + ".json"
	write := func() error {
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		_, err = ws.WriteFile(record, bytes.NewReader(b))
		return err
	}
	// The record is written before the job starts, so that a workspace
	// at its quota refuses it before anything runs.
	if err := write(); err != nil {
		_ = removeJob(ws, j.ID)
		return nil, err
	}
	r, err := sb.Exec(ctx, ExecRequest{Command: jobScript(j.ID, command), Background: true})
	if err != nil {
		_ = removeJob(ws, j.ID)
		return nil, err
	}
	j.PID = r.PID
	werr := write()
	// The wrapper is ready once the command wrote its pid (or already
	// ended): a request sent before it opens its control pipe would be
	// lost.
	err = poll(ctx, jobStartWait, func() bool {
		return exists(ws, JobDir+"/"+j.ID+".pid") || exists(ws, JobDir+"/"+j.ID+".exit")
	})
	if werr != nil {
		// A job nobody can find must not run.
		_, _ = execScript(context.WithoutCancel(ctx), sb, "printf 'KILL\\n' 1<>"+JobDir+"/"+j.ID+".ctl", nil, 10*time.Second)
		return nil, werr
	}
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return j, nil
}

// jobScript is the wrapper of a job (see the comment at the top). Its
// first line is the marker alive looks for.
func jobScript(id, command string) string {
	return "# herm-bg[" + id + "]\n" +
		"b=" + JobDir + "/" + id + "\n" +
		`trap : TERM INT HUP
[ -p "$b.in" ] && [ -p "$b.ctl" ] || { echo 'herm: the pipes of this job are missing' >"$b.log"; echo 126 >"$b.exit"; exit 126; }
exec 3<>"$b.in" 4<>"$b.ctl"
(trap '' TERM INT HUP
while read -r r <&4; do
case $r in
eof) exec 3>&-; rm -f "$b.in" ;;
KILL) read -r c <"$b.pid" && kill -s KILL "$c" ;;
TERM|INT) kill -s "$r" 0 ;;
esac
done) &
l=$!
exec 3>&- 4>&-
/bin/sh -c 'echo $$ >"$0"; exec /bin/sh -c "$1"' "$b.pid" ` + shellQuote(command) + ` <"$b.in" >"$b.log" 2>&1
s=$?
echo "$s" >"$b.exit"
kill -s KILL "$l"
rm -f "$b.in" "$b.ctl" "$b.pid"
kill -s KILL 0
`
}

// aliveFunc is a shell function: alive ID PID succeeds when PID is the
// wrapper of job ID (the third word of its command line is the script,
// whose first line is the marker). The marker is never spelled out in
// this script, nor in any argument, so no checking process matches it.
const aliveFunc = `alive() { tr '\0' '\n' <"/proc/$2/cmdline" 2>/dev/null | { read -r a; read -r b; read -r c; [ "$c" = "# herm-bg[$1]" ]; }; }
`

// Jobs returns the deployment's jobs, oldest first.
func Jobs(ctx context.Context, sb Sandbox) ([]Job, error) {
	ws := sb.Workspace()
	entries, _, err := ws.List(JobDir)
	if herm.ErrorCode(err) == herm.ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var jobs []Job
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name, ".json")
		if !ok || e.Dir || !ValidJobID(id) {
			continue
		}
		j, err := readJob(ws, id)
		if err != nil {
			continue // being started, or not a job's
		}
		jobs = append(jobs, *j)
	}
	slices.SortFunc(jobs, func(a, b Job) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	ptrs := make([]*Job, len(jobs))
	for i := range jobs {
		ptrs[i] = &jobs[i]
	}
	if err := checkAlive(ctx, sb, ptrs); err != nil {
		return nil, err
	}
	return jobs, nil
}

// GetJob returns the job id; not_found when there is none.
func GetJob(ctx context.Context, sb Sandbox, id string) (*Job, error) {
	if err := checkJobID(id); err != nil {
		return nil, err
	}
	j, err := readJob(sb.Workspace(), id)
	if err != nil {
		return nil, err
	}
	if err := checkAlive(ctx, sb, []*Job{j}); err != nil {
		return nil, err
	}
	return j, nil
}

// readJob reads what the files say of a job; a job without an exit status
// is taken as running.
func readJob(ws *Workspace, id string) (*Job, error) {
	b, err := ws.ReadFile(JobDir+"/"+id+".json", 1<<20)
	if herm.ErrorCode(err) == herm.ENotFound {
		return nil, herm.Errorf(herm.ENotFound, "there is no background process %q", id)
	}
	if err != nil {
		return nil, err
	}
	var j Job
	if err := json.Unmarshal(b, &j); err != nil || j.ID != id || j.PID <= 0 {
		return nil, herm.Errorf(herm.ENotFound, "there is no background process %q (its record %s is not valid)", id, JobDir+"/"+id+".json")
	}
	j.State = JobRunning
	if e, err := ws.Stat(j.Log()); err == nil {
		j.Output = e.Size
	}
	if e, err := ws.Stat(JobDir + "/" + id + ".exit"); err == nil && !e.Dir {
		if b, err := ws.ReadFile(JobDir+"/"+id+".exit", 64); err == nil && len(bytes.TrimSpace(b)) > 0 {
			j.State, j.EndedAt, j.InputClosed = JobExited, e.ModifiedAt, true
			j.ExitCode, err = strconv.Atoi(string(bytes.TrimSpace(b)))
			if err != nil {
				j.ExitCode = -1
			}
		}
	}
	if j.State == JobRunning && !exists(ws, JobDir+"/"+id+".in") {
		j.InputClosed = true
	}
	return &j, nil
}

// checkAlive marks the jobs without an exit status whose wrapper is gone
// as lost, with one command in the sandbox.
func checkAlive(ctx context.Context, sb Sandbox, jobs []*Job) error {
	var script strings.Builder
	script.WriteString(aliveFunc)
	n := 0
	for _, j := range jobs {
		if j.State == JobRunning {
			fmt.Fprintf(&script, "alive %s %d && echo %s\n", j.ID, j.PID, j.ID)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	script.WriteString("exit 0\n")
	out, err := execScript(ctx, sb, script.String(), nil, 30*time.Second)
	if err != nil {
		return err
	}
	alive := map[string]bool{}
	for _, id := range strings.Fields(out.stdout) {
		alive[id] = true
	}
	for _, j := range jobs {
		if j.State == JobRunning && !alive[j.ID] {
			// The status may have been written meanwhile.
			if again, err := readJob(sb.Workspace(), j.ID); err == nil && again.State == JobExited {
				*j = *again
				continue
			}
			j.State, j.InputClosed = JobLost, true
		}
	}
	return nil
}

// Exit statuses of the request scripts.
const (
	codeInputClosed = 3
	codeNotRunning  = 4
)

// WriteJob writes input to a job's input, then closes it if eof.
func WriteJob(ctx context.Context, sb Sandbox, id, input string, eof bool) error {
	j, err := GetJob(ctx, sb, id)
	if err != nil {
		return err
	}
	if len(input) > MaxJobInput {
		return herm.Errorf(herm.ETooLarge, "the input is %d bytes; at most %d can be written at once", len(input), MaxJobInput)
	}
	if err := running(j); err != nil {
		return err
	}
	if j.InputClosed {
		return herm.Errorf(herm.EConflict, "the input of background process %s is closed", id)
	}
	b := JobDir + "/" + id
	script := aliveFunc +
		fmt.Sprintf("alive %s %d || exit %d\n", id, j.PID, codeNotRunning) +
		fmt.Sprintf("[ -p %s.in ] || exit %d\n", b, codeInputClosed)
	if input != "" {
		script += "cat >" + b + ".in || exit 1\n"
	}
	if eof {
		script += "printf 'eof\\n' 1<>" + b + ".ctl\n"
	}
	out, err := execScript(ctx, sb, script, strings.NewReader(input), jobInputTimeout)
	if err != nil {
		return err
	}
	switch {
	case out.timedOut:
		return herm.Errorf(herm.EConflict, "background process %s did not take the input within %d s (is it reading its input?); part of it may have been written", id, int(jobInputTimeout/time.Second))
	case out.code == codeNotRunning:
		return herm.Errorf(herm.EConflict, "background process %s is not running", id)
	case out.code == codeInputClosed:
		return herm.Errorf(herm.EConflict, "the input of background process %s is closed", id)
	case out.code != 0:
		return fmt.Errorf("write to background job %s: exit code %d: %s", id, out.code, out.stderr)
	}
	if eof {
		// The wrapper removes the pipe once it closed it.
		_ = poll(ctx, 2*time.Second, func() bool { return !exists(sb.Workspace(), b+".in") })
	}
	return nil
}

// SignalJob asks a job's wrapper to send sig (one of JobSignals): TERM and
// INT to the job's process group, KILL to its command (and the wrapper
// ends the rest of the group once the command is gone).
func SignalJob(ctx context.Context, sb Sandbox, id, sig string) error {
	if !ValidJobSignal(sig) {
		return herm.Errorf(herm.EInvalid, "signal %q: must be TERM, INT or KILL", sig)
	}
	j, err := GetJob(ctx, sb, id)
	if err != nil {
		return err
	}
	if err := running(j); err != nil {
		return err
	}
	b := JobDir + "/" + id
	script := aliveFunc +
		fmt.Sprintf("alive %s %d && [ -p %s.ctl ] || exit %d\n", id, j.PID, b, codeNotRunning) +
		fmt.Sprintf("printf '%s\\n' 1<>%s.ctl\n", sig, b)
	out, err := execScript(ctx, sb, script, nil, 30*time.Second)
	if err != nil {
		return err
	}
	switch {
	case out.code == codeNotRunning:
		return herm.Errorf(herm.EConflict, "background process %s is not running", id)
	case out.code != 0:
		return fmt.Errorf("signal background job %s: exit code %d: %s", id, out.code, out.stderr)
	}
	return nil
}

// WaitJob waits at most d for a running job to end and returns it as it
// is then.
func WaitJob(ctx context.Context, sb Sandbox, id string, d time.Duration) (*Job, error) {
	if err := checkJobID(id); err != nil {
		return nil, err
	}
	ws := sb.Workspace()
	err := poll(ctx, d, func() bool {
		j, err := readJob(ws, id)
		return err != nil || j.State != JobRunning
	})
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return GetJob(ctx, sb, id)
}

func running(j *Job) error {
	switch j.State {
	case JobExited:
		return herm.Errorf(herm.EConflict, "background process %s has exited (exit code %d)", j.ID, j.ExitCode)
	case JobLost:
		return herm.Errorf(herm.EConflict, "background process %s is not running (it ended without an exit status: its sandbox stopped, or it was killed from outside)", j.ID)
	}
	return nil
}

// removeJob removes a job's files.
func removeJob(ws *Workspace, id string) error {
	var errs []error
	for _, ext := range []string{".json", ".in", ".ctl", ".pid", ".exit", ".log"} {
		if err := ws.Remove(JobDir + "/" + id + ext); err != nil && herm.ErrorCode(err) != herm.ENotFound {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type scriptResult struct {
	code           int
	timedOut       bool
	stdout, stderr string
}

// execScript runs a short script in the sandbox and returns its exit code
// and output (each at most 64 KiB).
func execScript(ctx context.Context, sb Sandbox, script string, stdin *strings.Reader, timeout time.Duration) (scriptResult, error) {
	stdout, stderr := &limitBuffer{max: 64 << 10}, &limitBuffer{max: 64 << 10}
	req := ExecRequest{Command: script, Stdout: stdout, Stderr: stderr, Timeout: timeout}
	if stdin != nil {
		req.Stdin = stdin
	}
	r, err := sb.Exec(ctx, req)
	if ctx.Err() != nil {
		return scriptResult{}, ctx.Err()
	}
	if err != nil {
		return scriptResult{}, err
	}
	return scriptResult{code: r.ExitCode, timedOut: r.TimedOut, stdout: stdout.String(), stderr: strings.TrimSpace(stderr.String())}, nil
}

// limitBuffer keeps the first max bytes written to it.
type limitBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (l *limitBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// poll calls done every 20 ms until it returns true (nil), d passes or ctx
// ends (an error).
func poll(ctx context.Context, d time.Duration, done func() bool) error {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return errors.New("timed out")
		case <-tick.C:
		}
	}
	return nil
}

func exists(ws *Workspace, p string) bool {
	_, err := ws.Stat(p)
	return err == nil
}

// shellQuote quotes s as one word for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
