package herm_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	herm "github.com/hermhq/herm/sdk/go"
)

// TestSubmitToolOutputs runs a custom tool round trip: the deployment
// declares a custom tool, the demo model calls it, the run stops with
// requires_action and lists the call, SubmitToolOutputs answers it and the
// run completes with the output in the model's context.
func TestSubmitToolOutputs(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	tool := herm.CustomTool{
		Name: "lookup_order", Description: "Look an order up.",
		InputSchema: json.RawMessage(`{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"string"}}}`),
	}
	d := readyDeployment(t, c, herm.DeploymentCreateParams{CustomTools: []herm.CustomTool{tool}})
	if len(d.CustomTools) != 1 || d.CustomTools[0].Name != "lookup_order" || !strings.Contains(string(d.CustomTools[0].InputSchema), "order_id") {
		t.Fatalf("deployment custom_tools %+v", d.CustomTools)
	}
	st, err := c.Events.Stream(ctx, d.DeploymentID, herm.EventStreamParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sent, err := c.Messages.Send(ctx, d.DeploymentID, herm.MessageSendParams{Content: `/tool lookup_order {"order_id":"A1"}`})
	if err != nil {
		t.Fatal(err)
	}
	var r *herm.Run
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r, err = c.Runs.Get(ctx, d.DeploymentID, sent.RunID); err != nil {
			t.Fatal(err)
		}
		if r.Status == herm.RunWaitingOnHuman || r.Ended() || time.Now().After(deadline) {
			break
		}
	}
	if r.Status != herm.RunWaitingOnHuman || r.StopReason != "requires_action" || r.RequiredAction == nil ||
		r.RequiredAction.Type != "submit_tool_outputs" || len(r.RequiredAction.ToolCalls) != 1 {
		t.Fatalf("waiting run %+v", r)
	}
	call := r.RequiredAction.ToolCalls[0]
	var args map[string]any
	if err := json.Unmarshal(call.Arguments, &args); err != nil || call.Name != "lookup_order" || args["order_id"] != "A1" {
		t.Fatalf("pending call %+v (%v)", call, err)
	}

	_, err = c.Runs.SubmitToolOutputs(ctx, d.DeploymentID, sent.RunID, nil)
	var he *herm.Error
	if !errors.As(err, &he) || he.Status != 400 || he.Code != "validation_error" {
		t.Fatalf("no outputs: %v", err)
	}
	r, err = c.Runs.SubmitToolOutputs(ctx, d.DeploymentID, sent.RunID, []herm.ToolOutput{{ToolCallID: call.ID, Output: "A1 shipped on Monday"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.RunID != sent.RunID || r.RequiredAction != nil {
		t.Fatalf("answered run %+v", r)
	}
	evs := runEvents(t, st, sent.RunID)
	var sawCall, sawWait bool
	for _, ev := range evs {
		switch ev.Type {
		case "tool_call":
			var tc herm.ToolCallEvent
			if err := ev.Decode(&tc); err != nil {
				t.Fatal(err)
			}
			sawCall = sawCall || (tc.ToolCallID == call.ID && tc.Origin == "custom" && tc.RequiresAction)
		case "run_status":
			var rs herm.RunStatusEvent
			if err := ev.Decode(&rs); err != nil {
				t.Fatal(err)
			}
			if rs.StopReason == "requires_action" {
				sawWait = rs.RequiredAction != nil && len(rs.RequiredAction.ToolCalls) == 1 && rs.RequiredAction.ToolCalls[0].ID == call.ID
			}
		}
	}
	if !sawCall || !sawWait {
		t.Fatalf("events (custom tool_call %v, requires_action run_status %v): %+v", sawCall, sawWait, evs)
	}
	if r, err = c.Runs.Get(ctx, d.DeploymentID, sent.RunID); err != nil || r.Status != herm.RunCompleted {
		t.Fatalf("run after the outputs %+v %v", r, err)
	}
	th, err := c.Threads.Get(ctx, d.DeploymentID, r.ThreadID)
	if err != nil {
		t.Fatal(err)
	}
	if last := th.Messages[len(th.Messages)-1]; !strings.Contains(last.Content, "A1 shipped on Monday") {
		t.Fatalf("the final answer does not carry the output: %+v", last)
	}
	_, err = c.Runs.SubmitToolOutputs(ctx, d.DeploymentID, sent.RunID, []herm.ToolOutput{{ToolCallID: call.ID, Output: "again"}})
	if !errors.As(err, &he) || he.Status != 409 || he.Code != "conflict" {
		t.Fatalf("outputs to a finished run: %v", err)
	}
}
