package runner_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/runner"
	"github.com/hermhq/herm/internal/tools"
)

// askFirst makes the echo tool always_ask on the env's deployment.
func (e *env) askFirst() {
	e.t.Helper()
	d, err := e.store.GetDeployment(context.Background(), e.dep.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	d.Tools = map[string]herm.ToolSettings{"echo": {Permission: herm.PermissionAlwaysAsk}}
	d.ConfigVersion++
	if err := e.store.UpdateDeploymentConfig(context.Background(), d); err != nil {
		e.t.Fatal(err)
	}
	e.dep = d
}

// pending waits for the run's pending steering request.
func (e *env) pending(runID string) *herm.SteeringRequest {
	e.t.Helper()
	e.wait(runID, herm.RunWaitingOnHuman)
	list, err := e.store.ListSteeringRequests(context.Background(), herm.SteeringFilter{RunID: runID, Status: herm.SteeringPending})
	if err != nil || len(list) != 1 {
		e.t.Fatalf("pending requests %v %v", list, err)
	}
	return list[0]
}

func echoCall(id string) llmtest.Turn {
	return llmtest.Turn{ToolCalls: []llm.ToolCall{{ID: id, Name: "echo", Arguments: json.RawMessage(`{"text":"ping"}`)}}}
}

// toolResult is what the model was told about a call.
func (e *env) toolResult(callID string) string {
	e.t.Helper()
	for _, req := range e.script.Requests() {
		for _, m := range req.Messages {
			if m.Role == llm.RoleTool && m.ToolCallID == callID {
				return m.Content
			}
		}
	}
	e.t.Fatalf("no result for %s was sent to the model", callID)
	return ""
}

func TestApprovalRunsTheToolOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.askFirst()
	e.script.Push(echoCall("call_1"), llmtest.Turn{Words: []string{"Done."}})
	e.start()
	res := e.send("go", "", "")
	sr := e.pending(res.Run.ID)
	if sr.Kind != herm.SteeringApproval || sr.Tool != "echo" || string(sr.Arguments) != `{"text":"ping"}` || !strings.Contains(sr.Summary, "echo") {
		t.Fatalf("request %+v", sr)
	}
	if e.echo.calls.Load() != 0 {
		t.Fatal("the tool ran before the approval")
	}
	if _, err := e.runner.Resolve(context.Background(), e.dep.ID, sr.ID, herm.DecisionApprove, ""); err != nil {
		t.Fatal(err)
	}
	e.wait(res.Run.ID, herm.RunCompleted)
	if n := e.echo.calls.Load(); n != 1 {
		t.Fatalf("the tool ran %d times", n)
	}
	if got := e.toolResult("call_1"); got != "echo: ping" {
		t.Fatalf("result %q", got)
	}
	// Answering twice is a conflict.
	if _, err := e.runner.Resolve(context.Background(), e.dep.ID, sr.ID, herm.DecisionDeny, ""); !herm.IsCode(err, herm.EConflict) {
		t.Fatalf("second answer: %v", err)
	}
	equal(t, runEvents(e.events(), res.Run.ID), []string{"run_status:queued", "message:user", "run_status:running", "usage",
		"tool_call", "steering_request", "run_status:waiting_on_human", "steering_resolved", "run_status:running", "tool_result",
		"token", "message:agent", "usage", "run_status:completed"})
}

func TestDenyNeverRunsTheTool(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.askFirst()
	e.script.Push(echoCall("call_1"), llmtest.Turn{Words: []string{"OK."}})
	e.start()
	res := e.send("go", "", "")
	sr := e.pending(res.Run.ID)
	if _, err := e.runner.Resolve(context.Background(), e.dep.ID, sr.ID, herm.DecisionDeny, "not on a Friday"); err != nil {
		t.Fatal(err)
	}
	e.wait(res.Run.ID, herm.RunCompleted)
	if e.echo.calls.Load() != 0 {
		t.Fatal("a denied tool ran")
	}
	if got := e.toolResult("call_1"); !strings.Contains(got, "denied") || !strings.Contains(got, "not on a Friday") {
		t.Fatalf("the model was told %q", got)
	}
}

func TestQuestionAnsweredByAMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(
		llmtest.Turn{ToolCalls: []llm.ToolCall{{ID: "call_q", Name: agent.AskHuman, Arguments: json.RawMessage(`{"question":"Blue or green?","options":["blue","green"]}`)}}},
		llmtest.Turn{Words: []string{"Green it is."}},
	)
	e.start()
	res := e.send("paint it", "", "")
	sr := e.pending(res.Run.ID)
	if sr.Kind != herm.SteeringQuestion || sr.Summary != "Blue or green?" || len(sr.Options) != 2 {
		t.Fatalf("request %+v", sr)
	}
	if _, err := e.runner.Resolve(context.Background(), e.dep.ID, sr.ID, herm.DecisionApprove, ""); !herm.IsCode(err, herm.EInvalid) {
		t.Fatalf("approving a question: %v", err)
	}
	// A plain message to the waiting thread answers it.
	sent := e.send("green", "", "")
	if sent.Run.ID != res.Run.ID || !sent.Steered {
		t.Fatalf("send while waiting: %+v", sent)
	}
	e.wait(res.Run.ID, herm.RunCompleted)
	if got := e.toolResult("call_q"); got != "The human answered: green" {
		t.Fatalf("the model was told %q", got)
	}
	got, err := e.store.GetSteeringRequest(context.Background(), e.dep.ID, sr.ID)
	if err != nil || got.Decision != herm.DecisionAnswer || got.Message != "green" {
		t.Fatalf("resolved %+v %v", got, err)
	}
}

func TestSteeringTimeout(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, runner.Options{SteeringCheck: 10 * time.Millisecond}, agent.Options{MaxSteps: 10, SteeringTimeout: 200 * time.Millisecond})
	e.askFirst()
	e.script.Push(echoCall("call_1"), llmtest.Turn{Words: []string{"OK."}})
	e.start()
	res := e.send("go", "", "")
	sr := e.pending(res.Run.ID)
	e.wait(res.Run.ID, herm.RunCompleted)
	if e.echo.calls.Load() != 0 {
		t.Fatal("a timed-out approval ran the tool")
	}
	got, _ := e.store.GetSteeringRequest(context.Background(), e.dep.ID, sr.ID)
	if got.Decision != herm.DecisionTimeout {
		t.Fatalf("decision %q", got.Decision)
	}
	if !strings.Contains(e.toolResult("call_1"), "none came in time") {
		t.Fatalf("the model was told %q", e.toolResult("call_1"))
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.askFirst()
	e.script.Push(echoCall("call_1"))
	e.start()
	res := e.send("go", "", "")
	sr := e.pending(res.Run.ID)
	if _, err := e.runner.Cancel(context.Background(), e.dep.ID, res.Run.ID); err != nil {
		t.Fatal(err)
	}
	if r := e.waitEnded(res.Run.ID); r.Status != herm.RunCancelled {
		t.Fatalf("run %s: %+v", r.Status, r.Error)
	}
	got, _ := e.store.GetSteeringRequest(context.Background(), e.dep.ID, sr.ID)
	if got.Status != herm.SteeringResolved || got.Decision != herm.DecisionDeny || e.echo.calls.Load() != 0 {
		t.Fatalf("after cancel: %+v, %d calls", got, e.echo.calls.Load())
	}
	// The announced call ends: its tool_result says it was cancelled.
	found := false
	for _, ev := range e.events() {
		if ev.Type == herm.EventToolResult && strings.Contains(string(ev.Data), `"the tool call was cancelled"`) && strings.Contains(string(ev.Data), `"call_1"`) {
			found = true
		}
	}
	if !found {
		t.Fatal("no tool_result for the cancelled call")
	}
	evs := runEvents(e.events(), res.Run.ID)
	if i, j := slices.Index(evs, "tool_call"), slices.Index(evs, "tool_result"); i < 0 || j < i {
		t.Fatalf("events %v", evs)
	}
}

// A waiting run survives a restart of the runner (a new process on the same
// store) and resumes after the answer.
func TestWaitingSurvivesRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.askFirst()
	e.script.Push(echoCall("call_1"), llmtest.Turn{Words: []string{"Done."}})
	e.start()
	res := e.send("go", "", "")
	sr := e.pending(res.Run.ID)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.runner.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	e2 := e.restart(runner.Options{ReleaseOnStart: true})
	if r := e2.wait(res.Run.ID, herm.RunWaitingOnHuman); r.Status != herm.RunWaitingOnHuman {
		t.Fatal(r.Status)
	}
	if _, err := e2.runner.Resolve(context.Background(), e.dep.ID, sr.ID, herm.DecisionApprove, ""); err != nil {
		t.Fatal(err)
	}
	e2.wait(res.Run.ID, herm.RunCompleted)
	if n := e.echo.calls.Load(); n != 1 {
		t.Fatalf("the tool ran %d times", n)
	}
}

// With features.steering off there are no pauses and no ask_human.
func TestSteeringOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.askFirst()
	d := e.dep.Clone()
	d.Features.Steering = false
	d.ConfigVersion++
	if err := e.store.UpdateDeploymentConfig(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	e.script.Push(echoCall("call_1"), llmtest.Turn{Words: []string{"Done."}})
	e.start()
	res := e.send("go", "", "")
	e.wait(res.Run.ID, herm.RunCompleted)
	if e.echo.calls.Load() != 1 {
		t.Fatal("the tool did not run")
	}
	for _, tl := range e.script.Requests()[0].Tools {
		if tl.Name == agent.AskHuman {
			t.Fatal("ask_human offered with steering off")
		}
	}
}

// restart starts a second runner (another process, in effect) on the same
// store, with the same model script and tool.
func (e *env) restart(opts runner.Options) *env {
	e.t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ag := agent.New(e.store, e.log, &models{p: llmtest.Provider{Script: e.script}}, tools.NewCatalog(tools.NewRegistry(e.echo), tools.CatalogOptions{}), e.ids, nil, logger, agent.Options{MaxSteps: 10})
	opts.Poll, opts.Owner = 20*time.Millisecond, "second"
	rn := runner.New(e.store, e.log, ag, e.ids, nil, logger, opts)
	if err := rn.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rn.Stop(ctx)
	})
	e2 := *e
	e2.runner = rn
	return &e2
}

func (e *env) waitEnded(runID string) *herm.Run {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := e.store.GetRun(context.Background(), e.dep.ID, runID)
		if err != nil {
			e.t.Fatal(err)
		}
		if !r.Status.Active() {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %s is still %s", runID, r.Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A budget stops spending: the run stops before the model call that would
// pass it, and new runs get 402.
func TestBudget(t *testing.T) {
	t.Parallel()
	// Each scripted call reports 10 input tokens: at $100,000 per million
	// that is $1 a call.
	e := newEnvWith(t, runner.Options{}, agent.Options{MaxSteps: 10, Prices: llm.Prices{"test/": {Input: 100_000}}})
	d := e.dep.Clone()
	budget := 2.5
	d.BudgetUSD = &budget
	d.ConfigVersion++
	if err := e.store.UpdateDeploymentConfig(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	e.script.Push(echoCall("c1"), echoCall("c2"), echoCall("c3"), echoCall("c4"), llmtest.Turn{Words: []string{"done"}})
	e.start()
	res := e.send("spend", "", "")
	run := e.waitEnded(res.Run.ID)
	if run.Status != herm.RunError || run.Error == nil || run.Error.Code != herm.EInsufficientCredit {
		t.Fatalf("run %s %+v", run.Status, run.Error)
	}
	if run.Usage.ModelCalls != 3 || run.Usage.CostUSD == nil || *run.Usage.CostUSD != 3 {
		t.Fatalf("usage %+v (cost %v)", run.Usage, run.Usage.CostUSD)
	}
	_, err := e.runner.Send(context.Background(), herm.SendParams{DeploymentID: e.dep.ID, Content: "more"})
	if !herm.IsCode(err, herm.EInsufficientCredit) {
		t.Fatalf("a new run over budget: %v", err)
	}
	spent, err := e.store.DeploymentSpend(context.Background(), e.dep.ID)
	if err != nil || spent != 3 {
		t.Fatalf("spent %v %v", spent, err)
	}
}

// slowTool sleeps and records how many calls ran at once.
type slowTool struct {
	inflight, peak atomic.Int32
}

func (t *slowTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "slow", Description: "sleeps", InputSchema: json.RawMessage(`{"type":"object"}`)}
}
func (t *slowTool) Origin() string { return tools.OriginBuiltin }
func (t *slowTool) Call(ctx context.Context, c tools.Call, _ json.RawMessage) (tools.Result, error) {
	n := t.inflight.Add(1)
	defer t.inflight.Add(-1)
	for {
		p := t.peak.Load()
		if n <= p || t.peak.CompareAndSwap(p, n) {
			break
		}
	}
	select {
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
	}
	return tools.Result{Content: "slept " + c.ID}, nil
}

func TestParallelToolCalls(t *testing.T) {
	t.Parallel()
	slow := &slowTool{}
	e := newEnvWith(t, runner.Options{}, agent.Options{MaxSteps: 10}, slow)
	call := func(id, name, args string) llm.ToolCall {
		return llm.ToolCall{ID: id, Name: name, Arguments: json.RawMessage(args)}
	}
	e.script.Push(
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("a", "slow", `{}`), call("b", "slow", `{}`), call("c", "slow", `{}`)}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("d", "echo", `{"text":"1"}`), call("q", agent.AskHuman, `{"question":"ok?"}`), call("e", "echo", `{"text":"2"}`)}},
		llmtest.Turn{Words: []string{"done"}},
	)
	e.start()
	res := e.send("go", "", "")
	sr := e.pending(res.Run.ID)
	if p := slow.peak.Load(); p != 3 {
		t.Fatalf("%d of 3 independent calls ran at once", p)
	}
	// The question pauses alone: the call before it ran, the one after not.
	if n := e.echo.calls.Load(); n != 1 {
		t.Fatalf("echo ran %d times before the question was answered", n)
	}
	if _, err := e.runner.Resolve(context.Background(), e.dep.ID, sr.ID, herm.DecisionAnswer, "yes"); err != nil {
		t.Fatal(err)
	}
	e.wait(res.Run.ID, herm.RunCompleted)
	if n := e.echo.calls.Load(); n != 2 {
		t.Fatalf("echo ran %d times", n)
	}
	// Results go back in the model's order.
	reqs := e.script.Requests()
	var order []string
	for _, m := range reqs[1].Messages {
		if m.Role == llm.RoleTool {
			order = append(order, m.ToolCallID)
		}
	}
	if strings.Join(order, ",") != "a,b,c" {
		t.Fatalf("results in order %v", order)
	}
	order = nil
	for _, m := range reqs[2].Messages {
		if m.Role == llm.RoleTool {
			order = append(order, m.ToolCallID)
		}
	}
	if strings.Join(order, ",") != "a,b,c,d,q,e" {
		t.Fatalf("results in order %v", order)
	}
}

// Reasoning the provider streams becomes reasoning events, before the
// answer's tokens.
func TestReasoningEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(llmtest.Turn{Reasoning: []string{"Let me ", "think."}, Words: []string{"Answer."}})
	e.start()
	res := e.send("why?", "", "")
	e.wait(res.Run.ID, herm.RunCompleted)
	var got []string
	for _, ev := range e.events() {
		if ev.RunID == res.Run.ID && (ev.Type == herm.EventReasoning || ev.Type == herm.EventToken) {
			var d struct{ Delta string }
			_ = json.Unmarshal(ev.Data, &d)
			got = append(got, ev.Type+":"+d.Delta)
		}
	}
	if strings.Join(got, "|") != "reasoning:Let me |reasoning:think.|token:Answer." {
		t.Fatalf("events %v", got)
	}
}

// A model that reuses a tool call ID in a later turn does not get the
// earlier approval for free: each call is approved on its own.
func TestReusedCallIDNeedsItsOwnApproval(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.askFirst()
	e.script.Push(echoCall("call_1"), echoCall("call_1"), llmtest.Turn{Words: []string{"done"}})
	e.start()
	res := e.send("go", "", "")
	first := e.pending(res.Run.ID)
	if _, err := e.runner.Resolve(context.Background(), e.dep.ID, first.ID, herm.DecisionApprove, ""); err != nil {
		t.Fatal(err)
	}
	second := e.pending(res.Run.ID)
	if second.ID == first.ID || second.ToolCallID == first.ToolCallID {
		t.Fatalf("the second call reused the first request: %+v", second)
	}
	if n := e.echo.calls.Load(); n != 1 {
		t.Fatalf("echo ran %d times before the second approval", n)
	}
	if _, err := e.runner.Resolve(context.Background(), e.dep.ID, second.ID, herm.DecisionApprove, ""); err != nil {
		t.Fatal(err)
	}
	e.wait(res.Run.ID, herm.RunCompleted)
	if n := e.echo.calls.Load(); n != 2 {
		t.Fatalf("echo ran %d times", n)
	}
}
