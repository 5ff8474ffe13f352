package main

import (
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

// Memory: seeded through the API, recorded by the agent's memory tool,
// shown at the start of the next run, kept as files in the workspace,
// searchable, editable and deletable; off with features.memory false.
func TestMemories(t *testing.T) {
	script := llmtest.NewScript(
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c1", "memory", `{"action":"add","content":"Prefers bold colors in ad concepts."}`)}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c2", "memory", `{"action":"list"}`)}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c3", "memory", `{"action":"replace","memory_id":"mem_nope","content":"x"}`)}},
		words("Noted."),
		words("Hello again."),
		words("Hi."),
	)
	s := transcriptServer(t, script, nil)
	id := s.createReady(nil)["deployment_id"].(string)
	base := "/v1/deployments/" + id + "/memories"

	seeded := s.must(201, "POST", base, map[string]any{"content": "Their brand color is teal."})
	if seeded["source"] != "api" || !strings.HasPrefix(str(seeded["memory_id"]), "mem_") {
		t.Fatalf("seeded %v", seeded)
	}
	if again := s.must(200, "POST", base, map[string]any{"content": "their brand color is teal."}); again["memory_id"] != seeded["memory_id"] {
		t.Fatalf("the same fact again: %v", again)
	}
	for _, bad := range []map[string]any{{}, {"content": "  "}, {"content": strings.Repeat("x", 2001)}} {
		if r := s.do("POST", base, bad); r.status != 400 {
			t.Errorf("memory %v: %d %s", bad, r.status, r.body)
		}
	}

	run := s.sendAndWait(id, "I like bold colors")
	res := s.toolResults(id, str(run["run_id"]))
	if len(res) != 3 || !strings.Contains(str(res[0]["result"]), "remembered mem_") ||
		!strings.Contains(str(res[1]["result"]), "Their brand color is teal.") || res[2]["is_error"] != true {
		t.Fatalf("memory tool: %v", res)
	}
	// Each change is a memory event: the API's of the deployment, the
	// tool's of its run.
	var sources []string
	for _, e := range s.events(id, "memory") {
		if e["change"] != "created" || (e["source"] == "agent") != (e["run_id"] == run["run_id"]) {
			t.Fatalf("memory event %v", e)
		}
		sources = append(sources, str(e["source"]))
	}
	if strings.Join(sources, ",") != "api,agent" {
		t.Fatalf("memory events' sources %v", sources)
	}
	// The first run already saw the seeded memory.
	if sys := script.Requests()[0].System; !strings.Contains(sys, "Their brand color is teal.") {
		t.Fatalf("system prompt without the seeded memory:\n%s", sys)
	}

	list := s.must(200, "GET", base, nil)["data"].([]any)
	if len(list) != 2 {
		t.Fatalf("memories %v", list)
	}
	agent := list[0].(map[string]any)
	if agent["source"] != "agent" || agent["content"] != "Prefers bold colors in ad concepts." {
		t.Fatalf("newest memory %v", agent)
	}
	// A file in the workspace, auditable like any other.
	files := s.must(200, "GET", "/v1/deployments/"+id+"/files?path=.herm/memory", nil)["entries"].([]any)
	if len(files) != 2 {
		t.Fatalf("memory files %v", files)
	}
	if got := s.must(200, "GET", base+"?q=BOLD+concepts", nil)["data"].([]any); len(got) != 1 {
		t.Fatalf("q filter: %v", got)
	}
	if got := s.must(200, "GET", base+"?limit=1", nil); len(got["data"].([]any)) != 1 || got["next_cursor"] == nil {
		t.Fatalf("page: %v", got)
	} else if rest := s.must(200, "GET", base+"?limit=1&cursor="+str(got["next_cursor"]), nil); len(rest["data"].([]any)) != 1 || rest["next_cursor"] != nil {
		t.Fatalf("second page: %v", rest)
	}

	// The next run sees both; an edit and a deletion show in the one after.
	s.sendAndWait(id, "hello")
	if sys := script.Requests()[len(script.Requests())-1].System; !strings.Contains(sys, "Prefers bold colors") || !strings.Contains(sys, "brand color is teal") {
		t.Fatalf("the next run's system prompt:\n%s", sys)
	}
	mid := str(seeded["memory_id"])
	if up := s.must(200, "PATCH", base+"/"+mid, map[string]any{"content": "Their brand color is navy."}); up["content"] != "Their brand color is navy." || up["updated_at"] == up["created_at"] {
		t.Fatalf("patched %v", up)
	}
	s.must(204, "DELETE", base+"/"+str(agent["memory_id"]), nil)
	if r := s.do("GET", base+"/"+str(agent["memory_id"]), nil); r.status != 404 {
		t.Fatalf("deleted memory: %d", r.status)
	}
	if r := s.do("GET", base+"/../../etc", nil); r.status != 404 && r.status != 400 {
		t.Fatalf("odd id: %d", r.status)
	}

	// Off: no memory tool, no memories in the prompt (they stay, for later).
	s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"features": map[string]any{"memory": false}})
	s.sendAndWait(id, "hi")
	last := script.Requests()[len(script.Requests())-1]
	if strings.Contains(last.System, "navy") {
		t.Fatalf("memories shown with memory off:\n%s", last.System)
	}
	for _, tl := range last.Tools {
		if tl.Name == "memory" {
			t.Fatal("the memory tool is offered with memory off")
		}
	}
}
