package builtin

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/sandbox"
)

func TestShell(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tests := []struct {
		name    string
		command string
		want    string
		isError bool
	}{
		{"stdout", "echo hello", "exit code: 0\n--- stdout ---\nhello", false},
		{"no output", "true", "exit code: 0\n(no output)", false},
		{"exit code and stderr", "echo out; echo err >&2; exit 3", "exit code: 3\n--- stdout ---\nout\n--- stderr ---\nerr", true},
		{"stderr only", "echo oops >&2; false", "exit code: 1\n--- stderr ---\noops", true},
		{"no trailing newline", "printf abc", "exit code: 0\n--- stdout ---\nabc", false},
		{"killed", "kill -9 $$", "exit code: 137 (killed by SIGKILL)\n(no output)", true},
		{"multi-line", "for i in 1 2 3; do\n  echo line $i\ndone", "exit code: 0\n--- stdout ---\nline 1\nline 2\nline 3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(t, "shell", map[string]any{"command": tt.command})
			if r.Content != tt.want || r.IsError != tt.isError {
				t.Errorf("got %+v\nwant content %q, IsError %v", r, tt.want, tt.isError)
			}
		})
	}
}

func TestShellRunsInWorkspace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ok(t, e.call(t, "shell", map[string]any{"command": "mkdir -p d && echo made > d/f.txt"}))
	if got := e.readFile(t, "d/f.txt"); got != "made\n" {
		t.Errorf("d/f.txt = %q", got)
	}
	e.writeFile(t, "in.txt", "from host")
	out := ok(t, e.call(t, "shell", map[string]any{"command": "cat in.txt"}))
	if !strings.HasSuffix(out, "--- stdout ---\nfrom host") {
		t.Errorf("cat in.txt = %q", out)
	}
}

func TestShellArguments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	failed(t, e.call(t, "shell", map[string]any{"command": "  "}), "command is required")
	failed(t, e.call(t, "shell", map[string]any{"command": "true", "timeout_s": 0}), "timeout_s must be between 1 and 3600")
	failed(t, e.call(t, "shell", map[string]any{"command": "true", "timeout_s": 3601}), "timeout_s must be between 1 and 3600")
	failed(t, e.call(t, "shell", map[string]any{"command": "true", "timeout_s": "10"}), `field "timeout_s" must be an integer`)
}

func TestShellTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	start := time.Now()
	r := e.call(t, "shell", map[string]any{"command": "echo before; sleep 5; echo after", "timeout_s": 1})
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %v", d)
	}
	failed(t, r, "timed out after 1 s; the command's processes were killed")
	if !strings.Contains(r.Content, "--- stdout ---\nbefore") || strings.Contains(r.Content, "\nafter") {
		t.Errorf("content = %q", r.Content)
	}
}

func TestShellCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := e.callErr(ctx, "shell", map[string]any{"command": "sleep 5"})
	if err != context.Canceled {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestShellBackground(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.call(t, "shell", map[string]any{"command": "echo started; sleep 0.2; echo done >&2", "background": true})
	if !regexp.MustCompile(`^started in the background, pid [1-9][0-9]*, output in \.herm/bg/call_1\.log; process id call_1$`).MatchString(ok(t, r)) {
		t.Fatalf("content = %q", r.Content)
	}
	log := filepath.Join(e.sb.Workspace().Dir(), ".herm", "bg", "call_1.log")
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(log)
		if string(b) == "started\ndone\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log = %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShellQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.sb.Workspace().SetQuota(64 << 10)
	r := e.call(t, "shell", map[string]any{"command": "head -c 200000 /dev/zero > big.bin"})
	failed(t, r, "workspace disk quota exceeded: the workspace uses 195.3 KiB of its 64.0 KiB; delete files to free space")
	if !strings.HasPrefix(r.Content, "exit code: 0\n") {
		t.Errorf("content = %q", r.Content)
	}
	r = e.call(t, "shell", map[string]any{"command": "rm big.bin"})
	if got := ok(t, r); got != "exit code: 0\n(no output)" {
		t.Errorf("after rm: %q", got)
	}
}

func TestShellOutputCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.call(t, "shell", map[string]any{"command": "echo first; head -c 3000000 /dev/zero | tr '\\0' a; echo; echo last"})
	out := ok(t, r)
	if len(out) > maxStreamBytes+200 {
		t.Errorf("output is %d bytes", len(out))
	}
	if !strings.HasPrefix(out, "exit code: 0\n--- stdout ---\nfirst\naaa") || !strings.HasSuffix(out, "aaa\nlast") {
		t.Errorf("output starts %q and ends %q", out[:40], out[len(out)-40:])
	}
	if !strings.Contains(out, "\n[... 1951436 bytes left out of 3000012 ...]\n") {
		t.Errorf("no truncation note in the output")
	}
}

func TestCapBuffer(t *testing.T) {
	t.Parallel()
	b := newCapBuffer(10)
	for _, s := range []string{"ab", "cd"} {
		b.Write([]byte(s))
	}
	if got := b.String(); got != "abcd" {
		t.Errorf("small = %q", got)
	}
	b.Write([]byte("efghij"))
	if got := b.String(); got != "abcdefghij" {
		t.Errorf("full = %q", got)
	}
	b.Write([]byte("k"))
	if got, want := b.String(), "abcde\n[... 1 byte left out of 11 ...]\ngh"+"ijk"; got != want {
		t.Errorf("one over = %q, want %q", got, want)
	}
	for _, c := range "lmnopqrstuvwxyz" {
		b.Write([]byte(string(c)))
	}
	if got, want := b.String(), "abcde\n[... 16 bytes left out of 26 ...]\nvwxyz"; got != want {
		t.Errorf("many = %q, want %q", got, want)
	}
	b.Write([]byte("0123456789"))
	if got, want := b.String(), "abcde\n[... 26 bytes left out of 36 ...]\n56789"; got != want {
		t.Errorf("big write = %q, want %q", got, want)
	}
}

func TestLogName(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	if got := logName("toolu_01AB-cd", now); got != "toolu_01AB-cd" {
		t.Errorf("got %q", got)
	}
	if got := logName("../../etc/x y", now); got != "______etc_x_y" {
		t.Errorf("got %q", got)
	}
	if got := logName("-x", now); got != "_x" {
		t.Errorf("got %q", got)
	}
	if got := logName("", now); got != "bg_20250102T030405_000000006" || !sandbox.ValidJobID(got) {
		t.Errorf("got %q", got)
	}
}

// A workspace over its quota starts no background process (its record
// cannot be written): nothing runs that the process tool could not find.
func TestShellBackgroundOverQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.sb.Workspace().SetQuota(64 << 10)
	e.call(t, "shell", map[string]any{"command": "head -c 200000 /dev/zero > big.bin"})
	r := e.call(t, "shell", map[string]any{"command": "touch ran", "background": true})
	failed(t, r, "the command could not be run: path \".herm/bg/call_1.json\": workspace disk quota exceeded")
	if got := ok(t, e.call(t, "process", map[string]any{"action": "list"})); !strings.HasPrefix(got, "no background processes") {
		t.Errorf("list: %q", got)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(e.sb.Workspace().Dir(), "ran")); err == nil {
		t.Error("the command ran")
	}
}
