package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/herm"
)

// waitingOnTool sends a message that makes the demo model call lookup_order
// and returns the run, waiting for its output.
func (s *server) waitingOnTool(dep, orderID string) (string, map[string]any) {
	s.t.Helper()
	run := s.must(202, "POST", "/v1/deployments/"+dep+"/messages", map[string]any{"content": `/tool lookup_order {"order_id":"` + orderID + `"}`})["run_id"].(string)
	r := s.waitRun(dep, run, "waiting_on_human")
	if len(pendingIDs(r)) != 1 || r["stop_reason"] != "requires_action" {
		s.t.Fatalf("run %s waiting: %v", run, r)
	}
	return run, r
}

// unchanged checks that a run waiting for tool outputs still waits for the
// same calls.
func (s *server) unchanged(dep, run string, before map[string]any) {
	s.t.Helper()
	r := s.must(200, "GET", "/v1/deployments/"+dep+"/runs/"+run, nil)
	if r["status"] != "waiting_on_human" || !reflect.DeepEqual(r["required_action"], before["required_action"]) {
		s.t.Fatalf("run %s changed: %v (was %v)", run, r, before)
	}
}

// TestToolOutputsAccess plays the attacks on POST .../tool_outputs: another
// customer's key, a run posted under another deployment's path, a read-only
// key, a run waiting on an approval, and the steering API reaching the
// hidden custom_tool rows. Each is refused and the waiting runs stay as
// they were; the right key then answers its own run.
func TestToolOutputsAccess(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DEMO_WORD_DELAY": "0s"})
	a := s.createReady(map[string]any{"customer_id": "cus_a", "custom_tools": []any{lookupTool}})["deployment_id"].(string)
	b := s.createReady(map[string]any{"customer_id": "cus_b", "custom_tools": []any{lookupTool}})["deployment_id"].(string)
	runA, waitA := s.waitingOnTool(a, "A1")
	runB, waitB := s.waitingOnTool(b, "B1")
	out := func(r map[string]any, output string) map[string]any {
		return map[string]any{"tool_outputs": []any{map[string]any{"tool_call_id": pendingIDs(r)[0], "output": output}}}
	}
	path := func(dep, run string) string { return "/v1/deployments/" + dep + "/runs/" + run }

	keyA := *s
	keyA.key = s.must(201, "POST", "/v1/api_keys", map[string]any{"name": "cus_a", "scopes": []string{"deployments:read", "deployments:write"}, "customer_id": "cus_a"})["key"].(string)
	for _, c := range []struct{ method, path string }{
		{"GET", path(b, runB)},
		{"POST", path(b, runB) + "/tool_outputs"},
		{"POST", path(a, runB) + "/tool_outputs"}, // B's run under A's path
	} {
		var body any
		if c.method == "POST" {
			body = out(waitB, "from A")
		}
		if r := keyA.do(c.method, c.path, body); r.status != 404 || r.errCode(t) != "not_found" {
			t.Fatalf("customer A's key: %s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	// Even an admin key cannot answer a run under another deployment's path.
	if r := s.do("POST", path(a, runB)+"/tool_outputs", out(waitB, "crossed")); r.status != 404 || r.errCode(t) != "not_found" {
		t.Fatalf("B's run under A's path: %d %s", r.status, r.body)
	}
	if r := s.do("POST", path(b, runA)+"/tool_outputs", out(waitA, "crossed")); r.status != 404 || r.errCode(t) != "not_found" {
		t.Fatalf("A's run under B's path: %d %s", r.status, r.body)
	}
	reader := *s
	reader.key = s.must(201, "POST", "/v1/api_keys", map[string]any{"name": "reader", "scopes": []string{"deployments:read"}})["key"].(string)
	if r := reader.do("POST", path(a, runA)+"/tool_outputs", out(waitA, "read only")); r.status != 403 || r.errCode(t) != "forbidden" {
		t.Fatalf("a deployments:read key: %d %s", r.status, r.body)
	}
	s.unchanged(a, runA, waitA)
	s.unchanged(b, runB, waitB)

	// The custom_tool rows are not steering requests as far as the API goes.
	rows, err := s.app.store.ListSteeringRequests(t.Context(), herm.SteeringFilter{RunID: runA, Limit: 10})
	if err != nil || len(rows) != 1 || rows[0].Kind != herm.SteeringCustomTool {
		t.Fatalf("stored rows of run A: %v %v", rows, err)
	}
	hidden := rows[0].ID
	for _, q := range []string{"", "?status=pending", "?run_id=" + runA} {
		l := s.must(200, "GET", "/v1/deployments/"+a+"/steering_requests"+q, nil)
		if data := l["data"].([]any); len(data) != 0 {
			t.Fatalf("steering list%s shows %v", q, data)
		}
	}
	if r := s.do("GET", "/v1/deployments/"+a+"/steering_requests/"+hidden, nil); r.status != 404 || r.errCode(t) != "not_found" {
		t.Fatalf("GET the hidden row: %d %s", r.status, r.body)
	}
	for _, d := range []string{"answer", "approve", "deny"} {
		if r := s.do("POST", "/v1/deployments/"+a+"/steering_requests/"+hidden, map[string]any{"decision": d, "message": "via steering"}); r.status != 404 || r.errCode(t) != "not_found" {
			t.Fatalf("%s the hidden row: %d %s", d, r.status, r.body)
		}
	}
	s.unchanged(a, runA, waitA)

	// A run waiting on an approval is not waiting for tool outputs.
	c := s.createReady(map[string]any{"custom_tools": []any{lookupTool}, "tools": map[string]any{"write_file": map[string]any{"permission": "always_ask"}}})["deployment_id"].(string)
	runC := s.must(202, "POST", "/v1/deployments/"+c+"/messages", map[string]any{"content": `/tool write_file {"path": "x.txt", "content": "x"}`})["run_id"].(string)
	s.waitRun(c, runC, "waiting_on_human")
	sr := s.pendingRequest(c)
	r := s.do("POST", path(c, runC)+"/tool_outputs", map[string]any{"tool_outputs": []any{map[string]any{"tool_call_id": sr["tool_call_id"], "output": "x"}}})
	if r.status != 409 || r.errCode(t) != "conflict" || !strings.Contains(string(r.body), "not waiting for tool outputs") {
		t.Fatalf("outputs for a run waiting on an approval: %d %s", r.status, r.body)
	}
	if again := s.pendingRequest(c); again["steering_request_id"] != sr["steering_request_id"] || again["status"] != "pending" {
		t.Fatalf("the approval after the outputs: %v", again)
	}

	// The owner's key answers its own run.
	keyA.must(200, "POST", path(a, runA)+"/tool_outputs", out(waitA, "A1 shipped"))
	s.waitRun(a, runA, "completed")
	s.unchanged(b, runB, waitB)
}
