package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

var lookupTool = map[string]any{
	"name": "lookup_order", "description": "Look an order up in the shop's system.",
	"input_schema": map[string]any{
		"type": "object", "required": []string{"order_id"},
		"properties": map[string]any{"order_id": map[string]any{"type": "string"}},
	},
}

// toolMessages returns the tool results a model request carried, by call.
func toolMessages(req llm.Request) map[string]llm.Message {
	out := map[string]llm.Message{}
	for _, m := range req.Messages {
		if m.Role == llm.RoleTool {
			out[m.ToolCallID] = m
		}
	}
	return out
}

func pendingIDs(run map[string]any) []string {
	ra, _ := run["required_action"].(map[string]any)
	if ra == nil || ra["type"] != "submit_tool_outputs" {
		return nil
	}
	var ids []string
	for _, c := range ra["tool_calls"].([]any) {
		ids = append(ids, c.(map[string]any)["id"].(string))
	}
	return ids
}

// A custom tool round trip survives kill -9 while the run waits: the
// calls are validated (an invalid one goes back to the model, never to the
// client), listed in required_action, answered after the restart, and the
// model gets the outputs.
func TestKill9WhileWaitingForToolOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	script := llmtest.NewScript(
		llmtest.Turn{Words: []string{"Looking."}, ToolCalls: []llm.ToolCall{
			call("c1", "lookup_order", `{"order_id":"A1"}`),
			call("c2", "lookup_order", `{"order_id":5}`),
			call("c3", "lookup_order", `{"order_id":"B2"}`),
		}},
		llmtest.Turn{Words: []string{"A1 shipped, B2 is late."}},
	)
	fake := llmtest.NewOpenAIServer(script)
	defer fake.Close()
	env := []string{"HERM_RATE_LIMIT=-1", "OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + fake.BaseURL(), "HERM_DEFAULT_MODEL=openai/gpt-test"}
	dir := t.TempDir()
	p := startProc(t, dir, env...)
	s := p.client(t)
	d := s.createReady(map[string]any{"custom_tools": []any{lookupTool}})
	id := d["deployment_id"].(string)
	run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "Where are my orders?"})["run_id"].(string)
	r := s.waitStatus(id, run, "waiting_on_human")
	if got := strings.Join(pendingIDs(r), ","); got != "c1,c3" || r["stop_reason"] != "requires_action" {
		t.Fatalf("waiting run: %v", r)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited

	p2 := startProc(t, dir, env...)
	s2 := p2.client(t)
	r = s2.waitStatus(id, run, "waiting_on_human")
	if got := strings.Join(pendingIDs(r), ","); got != "c1,c3" {
		t.Fatalf("after the restart: %v", r)
	}
	path := "/v1/deployments/" + id + "/runs/" + run + "/tool_outputs"
	for _, bad := range []struct {
		outputs []any
		names   []string
	}{
		{[]any{map[string]any{"tool_call_id": "c1", "output": "x"}}, []string{"c3"}},
		{[]any{map[string]any{"tool_call_id": "c1", "output": "x"}, map[string]any{"tool_call_id": "c3", "output": "y"}, map[string]any{"tool_call_id": "c2", "output": "z"}}, []string{"c2"}},
		{[]any{map[string]any{"tool_call_id": "c1", "output": "x"}, map[string]any{"tool_call_id": "c3", "output": "y"}, map[string]any{"tool_call_id": "c3", "output": "y"}}, []string{"c3"}},
	} {
		res := s2.do("POST", path, map[string]any{"tool_outputs": bad.outputs})
		if res.status != 400 || res.errCode(t) != "validation_error" {
			t.Fatalf("%v: %d %s", bad.outputs, res.status, res.body)
		}
		for _, n := range bad.names {
			if !strings.Contains(string(res.body), `\"`+n+`\"`) {
				t.Errorf("%v: the error does not name %s: %s", bad.outputs, n, res.body)
			}
		}
	}
	out := s2.must(200, "POST", path, map[string]any{"tool_outputs": []any{
		map[string]any{"tool_call_id": "c3", "output": "B2: late"},
		map[string]any{"tool_call_id": "c1", "output": "A1: shipped"},
	}})
	if out["required_action"] != nil {
		t.Fatalf("answered run: %v", out)
	}
	s2.waitStatus(id, run, "completed")
	if res := s2.do("POST", path, map[string]any{"tool_outputs": []any{map[string]any{"tool_call_id": "c1", "output": "again"}}}); res.status != 409 || res.errCode(t) != "conflict" {
		t.Fatalf("outputs to a finished run: %d %s", res.status, res.body)
	}
	reqs := script.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model calls", len(reqs))
	}
	got := toolMessages(reqs[1])
	if got["c1"].Content != "A1: shipped" || got["c3"].Content != "B2: late" {
		t.Fatalf("the model got %+v", got)
	}
	if !strings.Contains(got["c2"].Content, "input schema") {
		t.Fatalf("the invalid call's result: %+v", got["c2"])
	}
	var offered bool
	for _, tl := range reqs[0].Tools {
		if tl.Name == "lookup_order" {
			var schema map[string]any
			offered = json.Unmarshal(tl.InputSchema, &schema) == nil && schema["type"] == "object"
		}
	}
	if !offered {
		t.Fatalf("the custom tool was not offered: %+v", reqs[0].Tools)
	}
	checkLog(t, s2, id)
}
