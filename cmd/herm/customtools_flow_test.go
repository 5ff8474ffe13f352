package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// A run waiting for tool outputs ends cancelled when it is cancelled or
// interrupted (a send with mode interrupt), its call gets an error result,
// and outputs posted afterwards are a 409.
func TestToolOutputsAfterCancelAndInterrupt(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DEMO_WORD_DELAY": "0s"})
	id := s.createReady(map[string]any{"custom_tools": []any{lookupTool}})["deployment_id"].(string)
	for _, how := range []string{"cancel", "interrupt"} {
		run, waiting := s.waitingOnTool(id, how)
		callID := pendingIDs(waiting)[0]
		if how == "cancel" {
			s.must(202, "POST", "/v1/deployments/"+id+"/runs/"+run+"/cancel", nil)
		} else {
			next := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "never mind", "mode": "interrupt"})
			if next["run_id"] == run {
				t.Fatalf("interrupt joined the waiting run: %v", next)
			}
			defer s.waitRun(id, next["run_id"].(string), "completed")
		}
		r := s.waitRun(id, run, "cancelled", "completed", "error")
		if r["status"] != "cancelled" || r["required_action"] != nil {
			t.Fatalf("%s: run %v", how, r)
		}
		res := s.do("POST", "/v1/deployments/"+id+"/runs/"+run+"/tool_outputs", map[string]any{"tool_outputs": []any{map[string]any{"tool_call_id": callID, "output": "late"}}})
		if res.status != 409 || res.errCode(t) != "conflict" {
			t.Fatalf("%s: outputs after the end: %d %s", how, res.status, res.body)
		}
		var results []map[string]any
		for _, e := range s.toolResults(id, run) {
			if e["tool_call_id"] == callID {
				results = append(results, e)
			}
		}
		if len(results) != 1 || results[0]["is_error"] != true || !strings.Contains(str(results[0]["result"]), "cancelled") {
			t.Fatalf("%s: the call's results %v", how, results)
		}
	}
}

// A message in steer mode (the default) to a run waiting for tool outputs
// is a 409 that changes nothing; mode queue queues it behind the run, which
// goes on once the outputs arrive.
func TestSteerWhileWaitingForToolOutputs(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DEMO_WORD_DELAY": "0s"})
	id := s.createReady(map[string]any{"custom_tools": []any{lookupTool}})["deployment_id"].(string)
	run, waiting := s.waitingOnTool(id, "S1")
	for _, body := range []map[string]any{{"content": "hurry up"}, {"content": "hurry up", "mode": "steer"}} {
		r := s.do("POST", "/v1/deployments/"+id+"/messages", body)
		if r.status != 409 || r.errCode(t) != "conflict" || !strings.Contains(string(r.body), "tool_outputs") {
			t.Fatalf("steer %v: %d %s", body, r.status, r.body)
		}
	}
	s.unchanged(id, run, waiting)
	queued := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "and then?", "mode": "queue"})
	next := queued["run_id"].(string)
	if next == run || queued["steered"] == true {
		t.Fatalf("queued: %v", queued)
	}
	if r := s.must(200, "GET", "/v1/deployments/"+id+"/runs/"+next, nil); r["status"] != "queued" {
		t.Fatalf("the queued run while the first waits: %v", r)
	}
	s.unchanged(id, run, waiting)
	s.must(200, "POST", "/v1/deployments/"+id+"/runs/"+run+"/tool_outputs", map[string]any{"tool_outputs": []any{map[string]any{"tool_call_id": pendingIDs(waiting)[0], "output": "S1 shipped"}}})
	s.waitRun(id, run, "completed")
	s.waitRun(id, next, "completed")
}

// A turn that calls a custom tool and an approval-gated tool (in that
// order) follows the documented order: the approval first (the run waits
// on it, tool_outputs is a 409 meanwhile), the approved tool runs, then the
// run waits for the custom call's output, and the answer completes it.
func TestCustomToolAfterApproval(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DEMO_WORD_DELAY": "0s"})
	id := s.createReady(map[string]any{"custom_tools": []any{lookupTool}, "tools": map[string]any{"write_file": map[string]any{"permission": "always_ask"}}})["deployment_id"].(string)
	run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "/tool lookup_order {\"order_id\":\"M1\"}\n/tool write_file {\"path\": \"note.txt\", \"content\": \"noted\"}"})["run_id"].(string)
	r := s.waitRun(id, run, "waiting_on_human")
	if r["required_action"] != nil {
		t.Fatalf("the run waits for outputs before the approval: %v", r)
	}
	sr := s.pendingRequest(id)
	if sr["kind"] != "approval" || sr["tool"] != "write_file" {
		t.Fatalf("pending %v", sr)
	}
	path := "/v1/deployments/" + id + "/runs/" + run + "/tool_outputs"
	if res := s.do("POST", path, map[string]any{"tool_outputs": []any{map[string]any{"tool_call_id": "call_demo_1", "output": "early"}}}); res.status != 409 || res.errCode(t) != "conflict" {
		t.Fatalf("outputs during the approval: %d %s", res.status, res.body)
	}
	s.must(200, "POST", "/v1/deployments/"+id+"/steering_requests/"+sr["steering_request_id"].(string), map[string]any{"decision": "approve"})
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if r = s.must(200, "GET", "/v1/deployments/"+id+"/runs/"+run, nil); r["required_action"] != nil {
			break
		}
	}
	ids := pendingIDs(r)
	if len(ids) != 1 {
		t.Fatalf("after the approval: %v", r)
	}
	if f := s.do("GET", "/v1/deployments/"+id+"/files/content?path=note.txt", nil); string(f.body) != "noted" {
		t.Fatalf("the approved tool did not run before the wait: %d %s", f.status, f.body)
	}
	s.must(200, "POST", path, map[string]any{"tool_outputs": []any{map[string]any{"tool_call_id": ids[0], "output": "M1 shipped"}}})
	s.waitRun(id, run, "completed")
	// The log: the write_file result, then the wait for the custom call, then its result.
	var order []string
	for _, e := range s.events(id, "") {
		if e["run_id"] != run {
			continue
		}
		switch {
		case e["type"] == "tool_result":
			order = append(order, "result:"+str(e["tool"]))
		case e["type"] == "run_status" && e["stop_reason"] == "requires_action" && e["required_action"] != nil:
			order = append(order, "requires_action")
		case e["type"] == "steering_request":
			order = append(order, "approval")
		}
	}
	want := []string{"approval", "result:write_file", "requires_action", "result:lookup_order"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}
