package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/sandbox/agent"
	"github.com/hermhq/herm/internal/sandbox/local"
)

// TestMain removes the binary that crash tests build.
func TestMain(m *testing.M) {
	local.MaybeRunInit() // in-process servers start sandboxes from this binary
	agent.MaybeRunInContainer()
	dir, err := os.MkdirTemp("", "herm-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binDir holds the binary built for the crash tests (set once by TestMain).
var binDir string

// buildOnce builds herm once per test binary run (crash tests need a real
// process to kill).
var buildOnce = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "herm")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a herm serve child process.
type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	exited chan error
}

func startProc(t *testing.T, dataDir string, env ...string) *proc {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	// The memory observer off, as in startServer (its call would take
	// the scripted turns of later runs); env may turn it on.
	cmd.Env = append(os.Environ(), "HERM_API_KEY="+testKey, "HERM_LOG_FORMAT=json", "HERM_MEMORY_OBSERVER=false")
	cmd.Env = append(cmd.Env, env...)
	pr, pw := io.Pipe()
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = io.MultiWriter(pw, p.stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := listeningURL(sc.Text()); ok {
				found <- u
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case p.url = <-found:
	case err := <-p.exited:
		t.Fatalf("herm exited: %v\n%s", err, p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("herm did not start:\n%s", p.stderr.String())
	}
	return p
}

// client returns a test server handle that talks to the process.
func (p *proc) client(t *testing.T) *server {
	return &server{t: t, url: p.url, key: testKey}
}

// TestKill9DuringStreamingRun kills the server with SIGKILL while a model
// response is streaming, restarts it on the same data dir and checks that
// the run completes, that the event log has no gap and no duplicate, and
// that no run is left running.
func TestKill9DuringStreamingRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	gate := make(chan struct{})
	defer close(gate)
	script := llmtest.NewScript(
		llmtest.Turn{Words: []string{"Partial ", "answer ", "that ", "never ", "ends"}, Gate: gate},
		llmtest.Turn{Words: []string{"The ", "whole ", "answer."}},
	)
	fake := llmtest.NewOpenAIServer(script)
	defer fake.Close()
	env := []string{"OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + fake.BaseURL(), "HERM_DEFAULT_MODEL=openai/gpt-test"}
	dir := t.TempDir()

	p := startProc(t, dir, env...)
	s := p.client(t)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "write it"})
	runID := sent["run_id"].(string)
	// Wait until the first token is in the durable log: the stream is mid-way.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(string(s.do("GET", "/v1/deployments/"+id+"/events?types=token", nil, "Accept", "application/json").body), "Partial") {
		if time.Now().After(deadline) {
			t.Fatalf("no token event:\n%s", p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited

	p2 := startProc(t, dir, env...)
	s2 := p2.client(t)
	run := s2.waitRun(id, runID, "completed", "error", "cancelled")
	if run["status"] != "completed" {
		t.Fatalf("run after restart: %v\n%s", run, p2.stderr.String())
	}
	checkLog(t, s2, id)
	if attempts := checkTurns(t, s2.allEvents(id), runID); attempts[1] != 2 {
		t.Fatalf("attempts by turn %v: the redo is attempt 2", attempts)
	}
	th := s2.must(200, "GET", "/v1/deployments/"+id+"/threads/"+d["thread_id"].(string), nil)
	msgs := th["messages"].([]any)
	if last := msgs[len(msgs)-1].(map[string]any); last["content"] != "The whole answer." || last["run_id"] != runID {
		t.Fatalf("final message %v", last)
	}
	if n := len(script.Requests()); n != 2 {
		t.Fatalf("model called %d times, want 2 (the unrecorded turn is redone once)", n)
	}
	for _, st := range []string{"running", "queued"} {
		l := s2.must(200, "GET", "/v1/deployments/"+id+"/runs?status="+st, nil)
		if len(l["data"].([]any)) != 0 {
			t.Fatalf("runs left %s: %v", st, l)
		}
	}
}

// TestSIGTERMLeavesRunsToResume stops the server gracefully during a run:
// it exits 0 promptly, and the next start finishes the run.
func TestSIGTERMLeavesRunsToResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	gate := make(chan struct{})
	defer close(gate)
	script := llmtest.NewScript(
		llmtest.Turn{Words: []string{"Stalled"}, Gate: gate},
		llmtest.Turn{Words: []string{"Finished."}},
	)
	fake := llmtest.NewOpenAIServer(script)
	defer fake.Close()
	env := []string{"OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + fake.BaseURL(), "HERM_DEFAULT_MODEL=openai/gpt-test"}
	dir := t.TempDir()
	p := startProc(t, dir, env...)
	s := p.client(t)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	st := s.openStream("/v1/deployments/" + id + "/events")
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "go"})
	runID := sent["run_id"].(string)
	st.until(t, func(e sseEvent) bool { return e.typ == "token" })

	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(12 * time.Second):
		t.Fatalf("did not exit within 10 s\n%s", p.stderr.String())
	}
	t.Logf("graceful shutdown took %v", time.Since(start))
	// The open stream was closed cleanly.
	for range st.events {
	}

	p2 := startProc(t, dir, env...)
	run := p2.client(t).waitRun(id, runID, "completed", "error", "cancelled")
	if run["status"] != "completed" {
		t.Fatalf("run after restart: %v", run)
	}
	checkLog(t, p2.client(t), id)
	if attempts := checkTurns(t, p2.client(t).allEvents(id), runID); attempts[1] != 2 {
		t.Fatalf("attempts by turn %v: the redo is attempt 2", attempts)
	}
}

// checkLog reads the whole event log and checks its sequence is 1..N.
func checkLog(t *testing.T, s *server, depID string) {
	t.Helper()
	r := s.do("GET", "/v1/deployments/"+depID+"/events?limit=1000", nil, "Accept", "application/json")
	var page struct {
		Data []struct {
			Sequence int64  `json:"sequence"`
			EventID  string `json:"event_id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(bytes.NewReader(r.body)).Decode(&page); err != nil {
		t.Fatal(err)
	}
	for i, e := range page.Data {
		if e.Sequence != int64(i+1) || e.EventID != fmt.Sprintf("evt_%d", i+1) {
			t.Fatalf("event %d: sequence %d id %s — a gap or duplicate", i, e.Sequence, e.EventID)
		}
	}
	if len(page.Data) == 0 {
		t.Fatal("empty log")
	}
}
