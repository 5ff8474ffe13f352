package main

import (
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

// What the agent is told besides its prompt: the date and time in the
// deployment's time zone, and the workspace's AGENTS.md and
// .herm/context.md; the same for an agent's sessions.
func TestRunContext(t *testing.T) {
	t.Parallel()
	script := llmtest.NewScript(words("One."), words("Two."), words("Three."))
	s := transcriptServer(t, script, nil)
	d := s.createReady(map[string]any{"timezone": "Asia/Tokyo"})
	id := d["deployment_id"].(string)
	if d["timezone"] != "Asia/Tokyo" {
		t.Fatalf("deployment timezone %v", d["timezone"])
	}
	for _, bad := range []string{"Mars/Olympus", "../../etc/passwd", strings.Repeat("a", 80)} {
		if r := s.do("PATCH", "/v1/deployments/"+id, map[string]any{"timezone": bad}); r.status != 400 || !strings.Contains(string(r.body), "timezone") {
			t.Errorf("timezone %q: %d %s", bad, r.status, r.body)
		}
	}
	s.must(200, "PUT", "/v1/deployments/"+id+"/files?path=AGENTS.md", map[string]any{"path": "AGENTS.md", "content": "Always answer in haiku."})
	s.must(200, "PUT", "/v1/deployments/"+id+"/files?path=.herm/context.md", map[string]any{"path": ".herm/context.md", "content": "The client is Acme."})
	s.sendAndWait(id, "hello")
	sys := script.Requests()[0].System
	for _, want := range []string{"(Asia/Tokyo, UTC+09:00).", "## Project context: AGENTS.md (from the workspace)\nAlways answer in haiku.", "## Project context: .herm/context.md (from the workspace)\nThe client is Acme."} {
		if !strings.Contains(sys, want) {
			t.Errorf("the system prompt lacks %q:\n%s", want, sys)
		}
	}
	if s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"timezone": "UTC"})["timezone"] != "" {
		t.Fatal("UTC is stored as the default")
	}
	s.sendAndWait(id, "again")
	if sys := script.Requests()[1].System; !strings.Contains(sys, "(UTC, UTC+00:00).") {
		t.Fatalf("after the PATCH:\n%s", sys)
	}

	ag := s.createAgent(map[string]any{"name": "Tz", "model": "openai/gpt-test", "timezone": "America/New_York"})
	if ag["timezone"] != "America/New_York" {
		t.Fatalf("agent %v", ag)
	}
	s.say(str(s.createSession(str(ag["id"]), nil)["id"]), "hi")
	if sys := script.Requests()[2].System; !strings.Contains(sys, "(America/New_York, UTC-0") {
		t.Fatalf("session:\n%s", sys)
	}
}

// read_file of an image in the workspace shows it to a model that takes
// images (Chat Completions: in a user message after the tool messages).
func TestReadFileShowsImages(t *testing.T) {
	t.Parallel()
	script := llmtest.NewScript(
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c1", "read_file", `{"path":"shots/a.png"}`)}},
		words("A tiny image."),
	)
	s := transcriptServer(t, script, map[string]string{"HERM_DEFAULT_MODEL": "openai/gpt-4o"})
	id := s.createReady(nil)["deployment_id"].(string)
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
	if r := s.do("PUT", "/v1/deployments/"+id+"/files?path=shots/a.png", []byte(png), "Content-Type", "application/octet-stream"); r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	run := s.sendAndWait(id, "what is in shots/a.png?")
	res := s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || res[0]["is_error"] != false || !strings.Contains(str(res[0]["result"]), "is an image (image/png") || !strings.Contains(str(res[0]["result"]), "shown to you as an image") {
		t.Fatalf("read_file result: %v", res)
	}
	var images []llm.Image
	for _, m := range script.Requests()[1].Messages {
		images = append(images, m.Images...)
	}
	if len(images) != 1 || string(images[0].Data) != png || images[0].MediaType != "image/png" {
		t.Fatalf("images sent to the model: %+v", images)
	}
}
