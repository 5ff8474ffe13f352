package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata/transcripts")

// Transcript tests run whole conversations against the fake OpenAI server
// (the real wire format, through the real provider) and compare the
// deployment's event log, normalized, with a golden file:
//
//	go test ./cmd/herm -run Transcript -update   # after an intended change

// idPattern matches our IDs; they are renumbered by first appearance.
var idPattern = regexp.MustCompile(`\b(dep|thr|run|msg|str|evt|req|key|snap)_[0-9A-Z]{26}\b`)

var (
	portPattern = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	timePattern = regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?( ?[A-Z]{3}|Z)?`)
)

// normalize turns events into stable JSON lines: IDs renumbered, times and
// sequences dropped, estimates of sizes replaced.
func normalize(t *testing.T, events []map[string]any) []string {
	t.Helper()
	ids := map[string]string{}
	count := map[string]int{}
	var out []string
	for _, e := range events {
		for _, k := range []string{"created_at", "sequence", "event_id", "expires_at", "deployment_id"} {
			delete(e, k)
		}
		for _, k := range []string{"tokens_before", "tokens_after", "input_tokens", "output_tokens"} {
			if _, ok := e[k]; ok {
				e[k] = "<n>"
			}
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		line := portPattern.ReplaceAllString(string(b), "127.0.0.1:<port>")
		line = timePattern.ReplaceAllString(line, "<time>")
		line = idPattern.ReplaceAllStringFunc(line, func(id string) string {
			if r, ok := ids[id]; ok {
				return r
			}
			prefix := id[:strings.IndexByte(id, '_')]
			count[prefix]++
			ids[id] = fmt.Sprintf("%s_%d", prefix, count[prefix])
			return ids[id]
		})
		out = append(out, line)
	}
	return out
}

// golden compares a deployment's whole event log with testdata.
func (s *server) golden(name, dep string) {
	t := s.t
	t.Helper()
	got := normalize(t, s.events(dep, ""))
	path := filepath.Join("testdata", "transcripts", name+".jsonl")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with: go test ./cmd/herm -run Transcript -update)", err)
	}
	want := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("transcript %s changed (-want +got); if intended: go test ./cmd/herm -run Transcript -update\n%s", name, d)
	}
}

// transcriptServer starts a server whose default model is the fake OpenAI
// server playing script.
func transcriptServer(t *testing.T, script *llmtest.Script, env map[string]string) *server {
	t.Helper()
	fake := llmtest.NewOpenAIServer(script)
	t.Cleanup(fake.Close)
	vars := map[string]string{"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.BaseURL(), "HERM_DEFAULT_MODEL": "openai/gpt-test"}
	for k, v := range env {
		vars[k] = v
	}
	return startServer(t, vars)
}

func call(id, name, args string) llm.ToolCall {
	return llm.ToolCall{ID: id, Name: name, Arguments: json.RawMessage(args)}
}

func words(ws ...string) llmtest.Turn { return llmtest.Turn{Words: ws} }

func TestTranscripts(t *testing.T) {
	askWrite := map[string]any{"tools": map[string]any{"write_file": map[string]any{"permission": "always_ask"}}}
	writeCall := llmtest.Turn{Words: []string{"Writing it."}, ToolCalls: []llm.ToolCall{call("call_w", "write_file", `{"path":"a.txt","content":"hello"}`)}}

	t.Run("Approve", func(t *testing.T) {
		s := transcriptServer(t, llmtest.NewScript(writeCall, words("Done", ".")), nil)
		id := s.createReady(askWrite)["deployment_id"].(string)
		run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "write a.txt"})["run_id"].(string)
		s.waitStatus(id, run, "waiting_on_human")
		s.must(200, "POST", "/v1/deployments/"+id+"/steering_requests/"+s.pendingRequest(id)["steering_request_id"].(string), map[string]any{"decision": "approve"})
		s.waitStatus(id, run, "completed")
		s.golden("approve", id)
	})
	t.Run("Deny", func(t *testing.T) {
		s := transcriptServer(t, llmtest.NewScript(writeCall, words("Understood", ".")), nil)
		id := s.createReady(askWrite)["deployment_id"].(string)
		run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "write a.txt"})["run_id"].(string)
		s.waitStatus(id, run, "waiting_on_human")
		s.must(200, "POST", "/v1/deployments/"+id+"/steering_requests/"+s.pendingRequest(id)["steering_request_id"].(string), map[string]any{"decision": "deny", "message": "not now"})
		s.waitStatus(id, run, "completed")
		s.golden("deny", id)
	})
	t.Run("Timeout", func(t *testing.T) {
		s := transcriptServer(t, llmtest.NewScript(writeCall, words("No", " answer", ".")), map[string]string{"HERM_STEERING_TIMEOUT": "300ms"})
		id := s.createReady(askWrite)["deployment_id"].(string)
		run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "write a.txt"})["run_id"].(string)
		s.waitStatus(id, run, "completed")
		s.golden("timeout", id)
	})
	t.Run("RestartWhileWaiting", func(t *testing.T) {
		dir := t.TempDir()
		script := llmtest.NewScript(writeCall, words("Done", "."))
		s := transcriptServer(t, script, map[string]string{"HERM_DATA_DIR": dir})
		id := s.createReady(askWrite)["deployment_id"].(string)
		run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "write a.txt"})["run_id"].(string)
		s.waitStatus(id, run, "waiting_on_human")
		s.stop()
		s2 := transcriptServer(t, script, map[string]string{"HERM_DATA_DIR": dir})
		s2.must(200, "POST", "/v1/deployments/"+id+"/steering_requests/"+s2.pendingRequest(id)["steering_request_id"].(string), map[string]any{"decision": "approve"})
		s2.waitStatus(id, run, "completed")
		if r := s2.do("GET", "/v1/deployments/"+id+"/files/content?path=a.txt", nil); string(r.body) != "hello" {
			t.Fatalf("a.txt %q", r.body)
		}
		s2.golden("restart_while_waiting", id)
	})
	t.Run("CancelDuringTool", func(t *testing.T) {
		gate := make(chan struct{})
		defer close(gate)
		// The tool is web_fetch of a server that never answers.
		hang := newHangingServer(t, gate)
		script := llmtest.NewScript(llmtest.Turn{ToolCalls: []llm.ToolCall{call("call_f", "web_fetch", `{"url":"`+hang+`"}`)}})
		s := transcriptServer(t, script, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})
		id := s.createReady(map[string]any{"sandbox": map[string]any{"network": map[string]any{"egress": "proxy", "allowed_hosts": []string{"127.0.0.1"}}}})["deployment_id"].(string)
		run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "fetch it"})["run_id"].(string)
		deadline := time.Now().Add(10 * time.Second)
		for len(s.events(id, "tool_call")) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the tool did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.must(202, "POST", "/v1/deployments/"+id+"/runs/"+run+"/cancel", nil)
		s.waitStatus(id, run, "cancelled")
		s.golden("cancel_during_tool", id)
	})
	t.Run("ParallelCalls", func(t *testing.T) {
		script := llmtest.NewScript(
			llmtest.Turn{ToolCalls: []llm.ToolCall{
				call("call_1", "write_file", `{"path":"one.txt","content":"1"}`),
				call("call_2", "write_file", `{"path":"two.txt","content":"2"}`),
				call("call_3", "read_file", `{"path":"missing.txt"}`),
			}},
			words("All", " done."),
		)
		s := transcriptServer(t, script, nil)
		id := s.createReady(nil)["deployment_id"].(string)
		run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "write two files"})["run_id"].(string)
		s.waitStatus(id, run, "completed")
		s.golden("parallel_calls", id)
	})
	t.Run("Compaction", func(t *testing.T) {
		// A model with a tiny window: the third message needs the first
		// two summarized (the summary is the script's third turn).
		script := llmtest.NewScript(words("First", " answer."), words("Second", " answer."), words("They asked twice."), words("Third", " answer."))
		s := transcriptServer(t, script, map[string]string{"HERM_CONFIG": writeConfig(t, "context_windows:\n  gpt-test: 2600\ncompact_at: 0.9\n")})
		id := s.createReady(map[string]any{"features": map[string]any{"steering": false}})["deployment_id"].(string)
		long := strings.Repeat("a long message that takes room ", 40)
		for i := 1; i <= 3; i++ {
			run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": fmt.Sprintf("message %d: %s", i, long)})["run_id"].(string)
			s.waitStatus(id, run, "completed")
		}
		if len(s.events(id, "compaction")) == 0 {
			t.Fatalf("no compaction; requests: %d", len(script.Requests()))
		}
		s.golden("compaction", id)
	})
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "herm.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newHangingServer answers no request until gate closes (or the client
// gives up).
func newHangingServer(t *testing.T, gate chan struct{}) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/slow"
}

// Attachments: a data URL image reaches the model as image input (in the
// OpenAI wire format) and the workspace; an https file is fetched under the
// egress policy; one that cannot be fetched ends the run with an error
// naming it; a bad data URL is a 400 at send time.
func TestAttachments(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/report.csv" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		w.Write([]byte("a,b\n1,2\n"))
	}))
	defer files.Close()
	script := llmtest.NewScript(words("A tiny image."), words("Got the file."), words("I cannot see images."))
	s := transcriptServer(t, script, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1", "HERM_DEFAULT_MODEL": "openai/gpt-4o"})
	id := s.createReady(map[string]any{"sandbox": map[string]any{"network": map[string]any{"egress": "proxy", "allowed_hosts": []string{"127.0.0.1"}}}})["deployment_id"].(string)

	dataURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "what is this?", "attachments": []any{map[string]any{"type": "image", "url": dataURL}}})
	run := sent["run_id"].(string)
	s.waitStatus(id, run, "completed")
	req := script.Requests()[0]
	last := req.Messages[len(req.Messages)-1]
	if len(last.Images) != 1 || string(last.Images[0].Data) != string(png) || last.Images[0].MediaType != "image/png" {
		t.Fatalf("the model got images %+v in %q", last.Images, last.Content)
	}
	path := "attachments/" + run + "/1-image.png"
	if !strings.Contains(last.Content, path) {
		t.Fatalf("the agent was not told the path: %q", last.Content)
	}
	if r := s.do("GET", "/v1/deployments/"+id+"/files/content?path="+path, nil); string(r.body) != string(png) {
		t.Fatalf("%s: %d", path, r.status)
	}

	sent = s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "read the report", "attachments": []any{map[string]any{"type": "file", "url": strings.Replace(files.URL, "http://", "https://", 1) + "/report.csv"}}})
	run = sent["run_id"].(string)
	r := s.waitStatus(id, run, "completed", "error")
	// The fake file server speaks plain http: the https fetch fails, and
	// the run says which attachment.
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["error"]), "attachment 1") {
		t.Fatalf("run %v", r)
	}

	// A model that takes no images (an unknown one behind a custom base
	// URL) is told the file's path, and that it cannot see it.
	s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"model": "openai/text-only-test"})
	sent = s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "and this?", "attachments": []any{map[string]any{"type": "image", "url": dataURL}}})
	s.waitStatus(id, sent["run_id"].(string), "completed")
	reqs := script.Requests()
	msgs := reqs[len(reqs)-1].Messages
	for _, m := range msgs {
		if len(m.Images) > 0 {
			t.Fatalf("a text-only model got images: %q", m.Content)
		}
	}
	if c := msgs[len(msgs)-1].Content; !strings.Contains(c, "1-image.png") || strings.Contains(c, "also shown to you") || !strings.Contains(c, "not shown to you (your model takes no image input)") {
		t.Fatalf("the text-only model was told %q", c)
	}

	for _, bad := range []map[string]any{
		{"type": "image", "url": "data:image/png;base64,@@@"},
		{"type": "image", "url": "data:text/plain,hello"},
		{"type": "file", "url": "http://example.com/x"},
		{"type": "sticker", "url": dataURL},
	} {
		if r := s.do("POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "x", "attachments": []any{bad}}); r.status != 400 {
			t.Errorf("%v: %d %s", bad, r.status, r.body)
		}
	}
}
