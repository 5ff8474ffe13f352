package builtin

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// waitLog waits until a background process's log is want.
func (e *env) waitLog(t *testing.T, id, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := e.sb.Workspace().ReadFile(".herm/bg/"+id+".log", 0)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s.log = %q, want %q", id, b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pidPattern matches the pids in results, which change from run to run.
var pidPattern = regexp.MustCompile(`pid (was )?[1-9][0-9]*`)

func noPIDs(s string) string { return pidPattern.ReplaceAllString(s, "pid ${1}N") }

// A background command's whole life through the process tool: input
// written and closed, its output read, listed, a second one (whose id is
// not the first's) killed.
func TestProcess(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	e := newEnv(t, Options{Now: func() time.Time { return start }})
	if got := ok(t, e.call(t, "process", map[string]any{"action": "list"})); got != "no background processes (shell with background: true starts one)" {
		t.Errorf("empty list: %q", got)
	}
	ok(t, e.call(t, "shell", map[string]any{"command": `while read -r l; do echo "got $l"; done; echo closed`, "background": true}))

	if got := ok(t, e.call(t, "process", map[string]any{"action": "write", "id": "call_1", "input": "hello\n"})); got != "wrote 6 bytes to the input of call_1" {
		t.Errorf("write: %q", got)
	}
	e.waitLog(t, "call_1", "got hello\n")
	got := noPIDs(ok(t, e.call(t, "process", map[string]any{"action": "read", "id": "call_1"})))
	want := `call_1: running, pid N; started 2025-01-02T03:04:05Z; output 10 bytes; command: while read -r l; do echo "got $l"; done; echo closed
--- output, 10 bytes ---
got hello
---
[read what comes next with offset 10]`
	if got != want {
		t.Errorf("read:\n%s\nwant:\n%s", got, want)
	}
	if got := ok(t, e.call(t, "process", map[string]any{"action": "read", "id": "call_1", "offset": 10})); !strings.HasSuffix(got, "\nno output after byte 10\n[read what comes next with offset 10]") {
		t.Errorf("read at the end: %q", got)
	}
	if got := ok(t, e.call(t, "process", map[string]any{"action": "write", "id": "call_1", "input": "no newline"})); got != "wrote 10 bytes to the input of call_1 (with no newline at the end: a program reading lines waits for one)" {
		t.Errorf("write without a newline: %q", got)
	}
	if got := ok(t, e.call(t, "process", map[string]any{"action": "write", "id": "call_1", "input": "\n", "eof": true})); got != "wrote 1 byte to the input of call_1 and closed it" {
		t.Errorf("write and close: %q", got)
	}
	e.waitLog(t, "call_1", "got hello\ngot no newline\nclosed\n")

	// The second background call with this call id gets another id.
	r := ok(t, e.call(t, "shell", map[string]any{"command": "sleep 1000", "background": true}))
	if !strings.HasSuffix(r, ", output in .herm/bg/call_1-2.log; process id call_1-2") {
		t.Fatalf("second start: %q", r)
	}
	got = noPIDs(ok(t, e.call(t, "process", map[string]any{"action": "list"})))
	wantList := regexp.MustCompile(`^2 background processes, oldest first:
call_1: exited, exit code 0, at \S+ \(pid was N\); started 2025-01-02T03:04:05Z; output 32 bytes; command: while read -r l; do echo "got \$l"; done; echo closed
call_1-2: running, pid N; started 2025-01-02T03:04:05Z; output 0 bytes; command: sleep 1000$`)
	if !wantList.MatchString(got) {
		t.Errorf("list:\n%s", got)
	}
	got = noPIDs(ok(t, e.call(t, "process", map[string]any{"action": "kill", "id": "call_1-2"})))
	if got != "sent SIGTERM to call_1-2 (pid N) and its process group: it exited, exit code 143 (SIGTERM)" {
		t.Errorf("kill: %q", got)
	}
	got = noPIDs(ok(t, e.call(t, "process", map[string]any{"action": "kill", "id": "call_1-2", "signal": "KILL"})))
	if !regexp.MustCompile(`^call_1-2 is not running: exited, exit code 143 \(SIGTERM\), at \S+ \(pid was N\); nothing to kill$`).MatchString(got) {
		t.Errorf("kill again: %q", got)
	}

	// What the model can get wrong.
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{}, "action is required"},
		{map[string]any{"action": "stop", "id": "call_1"}, `action "stop": must be list, read, write or kill`},
		{map[string]any{"action": "read"}, "id is required for read (list gives the ids)"},
		{map[string]any{"action": "list", "id": "call_1"}, "list takes no id"},
		{map[string]any{"action": "read", "id": "../../etc/passwd"}, `id "../../etc/passwd" is not a process id`},
		{map[string]any{"action": "kill", "id": "call_1;reboot"}, `id "call_1;reboot" is not a process id`},
		{map[string]any{"action": "read", "id": "call_9"}, `there is no background process "call_9"`},
		{map[string]any{"action": "read", "id": "call_1", "offset": 0, "tail_lines": 3}, "give tail_lines or offset, not both"},
		{map[string]any{"action": "read", "id": "call_1", "offset": 33}, "offset 33 is past the end of the output (32 bytes)"},
		{map[string]any{"action": "read", "id": "call_1", "tail_lines": 0}, "tail_lines must be between 1 and 10000"},
		{map[string]any{"action": "read", "id": "call_1", "signal": "KILL"}, "signal is for kill"},
		{map[string]any{"action": "kill", "id": "call_1", "input": "x"}, "input and eof are for write"},
		{map[string]any{"action": "write", "id": "call_1", "offset": 3}, "tail_lines and offset are for read"},
		{map[string]any{"action": "write", "id": "call_1"}, "input is empty"},
		{map[string]any{"action": "write", "id": "call_1", "input": "x"}, "background process call_1 has exited (exit code 0)"},
		{map[string]any{"action": "kill", "id": "call_1", "signal": "STOP"}, `signal "STOP": must be TERM, INT or KILL`},
	} {
		failed(t, e.call(t, "process", tc.args), tc.want)
	}
}

// A process that ignores TERM is still running after kill, and KILL ends
// it.
func TestProcessKillStubborn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ok(t, e.call(t, "shell", map[string]any{"command": "trap '' TERM; echo ready; sleep 1000", "background": true}))
	e.waitLog(t, "call_1", "ready\n")
	r := e.call(t, "process", map[string]any{"action": "kill", "id": "call_1"})
	failed(t, r, "it is still running after 5 s (it may still be shutting down, or it ignores SIGTERM; signal KILL ends it)")
	got := noPIDs(ok(t, e.call(t, "process", map[string]any{"action": "kill", "id": "call_1", "signal": "KILL"})))
	if got != "sent SIGKILL to call_1 (pid N); its process group ends with it: it exited, exit code 137 (SIGKILL)" {
		t.Errorf("kill: %q", got)
	}
}

func TestProcessRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ok(t, e.call(t, "shell", map[string]any{"command": "seq 1 20000", "background": true}))
	var all strings.Builder
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&all, "%d\n", i)
	}
	e.waitLog(t, "call_1", all.String())
	size := all.Len() // 108894
	read := func(args map[string]any) string {
		args["action"], args["id"] = "read", "call_1"
		out := ok(t, e.call(t, "process", args))
		_, body, _ := strings.Cut(out, "\n") // after the line about the process
		return body
	}
	var last100 strings.Builder
	for i := 19901; i <= 20000; i++ {
		fmt.Fprintf(&last100, "%d\n", i)
	}
	if got, want := read(map[string]any{}), fmt.Sprintf("--- the last 100 lines of the output, bytes %d-%d of %d (read earlier output with offset) ---\n%s---", size-600, size, size, last100.String()); got != want {
		t.Errorf("default read:\n%.200s", got)
	}
	if got := read(map[string]any{"tail_lines": 2}); got != fmt.Sprintf("--- the last 2 lines of the output, bytes %d-%d of %d (read earlier output with offset) ---\n19999\n20000\n---", size-12, size, size) {
		t.Errorf("tail_lines 2:\n%s", got)
	}
	// Many lines: at most 12 KiB of them, whole.
	got := read(map[string]any{"tail_lines": 10000})
	if !strings.HasPrefix(got, "--- the last ") || len(got) > maxProcessRead+200 || !strings.HasSuffix(got, "\n20000\n---") {
		t.Errorf("tail_lines 10000: %d bytes: %.100s", len(got), got)
	}
	if got := read(map[string]any{"offset": 0}); !strings.HasPrefix(got, "--- output, bytes 0-12288 of 108894 ---\n1\n2\n") || !strings.HasSuffix(got, "\n[more output follows: read on with offset 12288]") {
		t.Errorf("offset 0: %.80s … %s", got, got[len(got)-80:])
	}
	if got := read(map[string]any{"offset": size - 6}); got != fmt.Sprintf("--- output, bytes %d-%d of %d ---\n20000\n---", size-6, size, size) {
		t.Errorf("offset at the end:\n%s", got)
	}
}

func TestTailLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxProcessRead+10)
	tests := []struct {
		name, in string
		n        int
		want     string
		from     int64
	}{
		{"empty", "", 3, "", 0},
		{"fewer lines", "a\nb\n", 3, "a\nb\n", 0},
		{"the last two", "a\nb\nc\n", 2, "b\nc\n", 2},
		{"no final newline", "a\nb\nc", 2, "b\nc", 2},
		{"one line longer than the window", long, 1, long[10:], 10},
		{"a cut line is left out", long + "\nlast\n", 5, "last\n", int64(len(long) + 1)},
	}
	for _, tt := range tests {
		got, from, err := tailLines(bytes.NewReader([]byte(tt.in)), int64(len(tt.in)), tt.n)
		if err != nil || string(got) != tt.want || from != tt.from {
			t.Errorf("%s: %q from %d (%v), want %q from %d", tt.name, got, from, err, tt.want, tt.from)
		}
	}
	if got := trimPartialRune([]byte("aé")[:2]); string(got) != "a" {
		t.Errorf("trimPartialRune = %q", got)
	}
	if got := trimPartialRune([]byte("aé")); string(got) != "aé" {
		t.Errorf("trimPartialRune = %q", got)
	}
}
