package main

import (
	"regexp"
	"testing"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

// The process tool end to end, as a model uses it: shell starts a read
// loop in the background, process writes a line to it, reads the answer
// back, lists it and kills it; in the local sandbox where this machine
// runs it, else in the process driver's.
func TestProcessTool(t *testing.T) {
	tc := func(id, name, args string) llmtest.Turn {
		return llmtest.Turn{ToolCalls: []llm.ToolCall{call(id, name, args)}}
	}
	script := llmtest.NewScript(
		tc("call_bg", "shell", `{"command": "while read -r l; do echo \"got $l\"; done", "background": true}`),
		tc("call_w", "process", `{"action": "write", "id": "call_bg", "input": "hello\n"}`),
		tc("call_wait", "shell", `{"command": "for i in $(seq 100); do grep -q 'got hello' .herm/bg/call_bg.log && exit 0; sleep 0.1; done; exit 1"}`),
		tc("call_r", "process", `{"action": "read", "id": "call_bg"}`),
		tc("call_l", "process", `{"action": "list"}`),
		tc("call_k", "process", `{"action": "kill", "id": "call_bg"}`),
		tc("call_l2", "process", `{"action": "list"}`),
		words("Done."),
	)
	s := transcriptServer(t, script, nil)
	if !localSandbox(t, s) {
		s.stop()
		s = transcriptServer(t, script, map[string]string{"HERM_SANDBOX": "process"})
	}
	t.Logf("sandbox driver: %s", s.app.sandboxes.Default())
	id := s.createReady(nil)["deployment_id"].(string)
	run := s.sendAndWait(id, "talk to a background process")
	if run["status"] != "completed" {
		t.Fatalf("run %v", run)
	}
	results := map[string]string{}
	for _, r := range s.toolResults(id, str(run["run_id"])) {
		if r["is_error"] != false {
			t.Errorf("%s failed: %v", r["tool_call_id"], r["result"])
		}
		results[str(r["tool_call_id"])] = str(r["result"])
	}
	const started = `started 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ`
	for call, want := range map[string]string{
		"call_bg": `^started in the background, pid \d+, output in \.herm/bg/call_bg\.log; process id call_bg$`,
		"call_w":  `^wrote 6 bytes to the input of call_bg$`,
		"call_r": `^call_bg: running, pid \d+; ` + started + `; output 10 bytes; command: while read -r l; do echo "got \$l"; done\n` +
			`--- output, 10 bytes ---\ngot hello\n---\n\[read what comes next with offset 10\]$`,
		"call_l":  `^1 background process, oldest first:\ncall_bg: running, pid \d+; ` + started + `; output 10 bytes; command: while read`,
		"call_k":  `^sent SIGTERM to call_bg \(pid \d+\) and its process group: it exited, exit code 143 \(SIGTERM\)$`,
		"call_l2": `^1 background process, oldest first:\ncall_bg: exited, exit code 143 \(SIGTERM\), at \S+ \(pid was \d+\); ` + started,
	} {
		if !regexp.MustCompile(want).MatchString(results[call]) {
			t.Errorf("%s: %q\ndoes not match %s", call, results[call], want)
		}
	}
}
