package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/runner"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/sqlite"
	"github.com/hermhq/herm/internal/tools"
)

// models resolves every model to one provider (the scripted one unless a
// test uses another).
type models struct {
	mu     sync.Mutex
	p      llm.Provider
	byName map[string]llm.Provider // full names some tests route elsewhere
}

func (m *models) Resolve(full string) (llm.Provider, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.byName[full]; ok {
		_, name, _ := strings.Cut(full, "/")
		return p, name, nil
	}
	return m.p, "test", nil
}

// useModel makes every model call go to p.
func (e *env) useModel(p llm.Provider) {
	e.models.mu.Lock()
	e.models.p = p
	e.models.mu.Unlock()
}

// echoTool returns its "text" argument and counts its calls.
type echoTool struct{ calls atomic.Int32 }

func (t *echoTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "echo", Description: "echoes text", InputSchema: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`)}
}
func (t *echoTool) Origin() string { return tools.OriginBuiltin }
func (t *echoTool) Call(_ context.Context, _ tools.Call, args json.RawMessage) (tools.Result, error) {
	t.calls.Add(1)
	var a struct{ Text string }
	if err := json.Unmarshal(args, &a); err != nil {
		return tools.Result{Content: "bad args", IsError: true}, nil
	}
	return tools.Result{Content: "echo: " + a.Text}, nil
}

type env struct {
	models *models
	t      testing.TB
	store  store.Store
	log    *eventlog.Log
	runner *runner.Runner
	script *llmtest.Script
	echo   *echoTool
	ids    *herm.IDGen
	dep    *herm.Deployment
	path   string // the database file
	logger *slog.Logger
	aopts  agent.Options
}

// otherNode returns a second runner on its own handle of e's database,
// with its own event log and agent (as another node would have), using
// e's model script and tools; it is stopped with the test.
func (e *env) otherNode(opts runner.Options) *runner.Runner {
	e.t.Helper()
	st, err := sqlite.Open(context.Background(), e.path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	elog := eventlog.New(st, e.logger, eventlog.Options{})
	ag := agent.New(st, elog, e.models, tools.NewCatalog(tools.NewRegistry(e.echo), tools.CatalogOptions{}), e.ids, nil, e.logger, e.aopts)
	if opts.Poll == 0 {
		opts.Poll = 20 * time.Millisecond
	}
	rn := runner.New(st, elog, ag, e.ids, nil, e.logger, opts)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rn.Stop(ctx)
		elog.Close()
		st.Close()
	})
	return rn
}

func newEnv(t testing.TB, opts runner.Options) *env {
	t.Helper()
	return newEnvWith(t, opts, agent.Options{MaxSteps: 10})
}

func newEnvWith(t testing.TB, opts runner.Options, aopts agent.Options, extra ...tools.Tool) *env {
	t.Helper()
	ctx := context.Background()
	path := t.TempDir() + "/herm.db"
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("HERM_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	elog := eventlog.New(st, logger, eventlog.Options{})
	script := llmtest.NewScript()
	echo := &echoTool{}
	ids := herm.NewIDGen(nil)
	mods := &models{p: llmtest.Provider{Script: script}}
	ag := agent.New(st, elog, mods, tools.NewCatalog(tools.NewRegistry(append([]tools.Tool{echo}, extra...)...), tools.CatalogOptions{}), ids, nil, logger, aopts)
	if opts.Poll == 0 {
		opts.Poll = 20 * time.Millisecond
	}
	rn := runner.New(st, elog, ag, ids, nil, logger, opts)
	e := &env{models: mods, t: t, store: st, log: elog, runner: rn, script: script, echo: echo, ids: ids, path: path, logger: logger, aopts: aopts}
	e.dep = e.newDeployment()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rn.Stop(ctx)
		elog.Close()
		st.Close()
	})
	return e
}

func (e *env) newDeployment() *herm.Deployment {
	now := time.Now().UTC()
	d := &herm.Deployment{
		ID: e.ids.New(herm.PrefixDeployment), CustomerID: "cus_1", Name: "test", Runtime: "hermes", Model: "test/model",
		SystemPrompt: "be brief", Status: herm.DeploymentReady, Features: herm.DefaultFeatures(),
		Sandbox: herm.Sandbox{Enabled: true, Type: "local"}, ConfigVersion: 1, CreatedAt: now, UpdatedAt: now,
		Secrets: map[string]string{}, Tools: map[string]herm.ToolSettings{}, Metadata: map[string]string{},
	}
	th := &herm.Thread{ID: e.ids.New(herm.PrefixThread), DeploymentID: d.ID, Title: "Default", IsDefault: true, CreatedAt: now, LastActivityAt: now}
	d.ThreadID = th.ID
	if err := e.store.CreateDeployment(context.Background(), d, th); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) start() {
	e.t.Helper()
	if err := e.runner.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) send(content, threadID, mode string) *herm.SendResult {
	e.t.Helper()
	res, err := e.runner.Send(context.Background(), herm.SendParams{DeploymentID: e.dep.ID, ThreadID: threadID, Content: content, Mode: mode})
	if err != nil {
		e.t.Fatalf("send %q: %v", content, err)
	}
	return res
}

// wait polls until the run has the status (tests must not sleep blindly).
func (e *env) wait(runID string, want herm.RunStatus) *herm.Run {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := e.store.GetRun(context.Background(), e.dep.ID, runID)
		if err != nil {
			e.t.Fatal(err)
		}
		if r.Status == want {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %s is %s, want %s", runID, r.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) events() []*herm.Event {
	e.t.Helper()
	if err := e.log.Flush(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	evs, err := e.store.ListEvents(context.Background(), e.dep.ID, 0, 10000, store.EventFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// runEvents lists the run's event types in order, with token deltas merged.
func runEvents(evs []*herm.Event, runID string) []string {
	var out []string
	for _, ev := range evs {
		if ev.RunID != runID {
			continue
		}
		name := ev.Type
		var f map[string]any
		_ = json.Unmarshal(ev.Data, &f)
		if s, ok := f["status"].(string); ok && ev.Type == herm.EventRunStatus {
			name += ":" + s
		}
		if role, ok := f["role"].(string); ok {
			name += ":" + role
		}
		if len(out) > 0 && name == "token" && out[len(out)-1] == "token" {
			continue
		}
		out = append(out, name)
	}
	return out
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	}
}

func checkSequence(t *testing.T, evs []*herm.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has sequence %d: the log has a gap or a duplicate", i, ev.Seq)
		}
	}
}

func TestRunCompletes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(llmtest.Turn{Words: []string{"Hello", " there"}})
	e.start()
	res := e.send("hi", "", "")
	if res.Steered || res.Run.Status != herm.RunQueued {
		t.Fatalf("send result %+v", res)
	}
	run := e.wait(res.Run.ID, herm.RunCompleted)
	if run.StopReason != herm.StopEndTurn || run.Usage.ModelCalls != 1 || run.Usage.OutputTokens != 2 || run.ConfigVersion != 1 || run.Model != "test/model" {
		t.Fatalf("run %+v", run)
	}
	evs := e.events()
	checkSequence(t, evs)
	equal(t, runEvents(evs, run.ID), []string{"run_status:queued", "message:user", "run_status:running", "token", "message:agent", "usage", "run_status:completed"})

	msgs, err := e.store.ListMessages(context.Background(), e.dep.ThreadID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Role != "user" || msgs[1].Role != "agent" || msgs[1].Content != "Hello there" || msgs[1].RunID != run.ID {
		t.Fatalf("history %+v", msgs)
	}
	req := e.script.Requests()[0]
	if !strings.HasPrefix(req.System, "be brief\n\nCurrent date and time: ") || len(req.Messages) != 1 || req.Messages[0].Content != "hi" {
		t.Fatalf("model request %+v", req)
	}

	// A second run sees the first one's history.
	res2 := e.send("again", "", "")
	e.wait(res2.Run.ID, herm.RunCompleted)
	req = e.script.Requests()[1]
	if len(req.Messages) != 3 || req.Messages[1].Role != llm.RoleAssistant || req.Messages[2].Content != "again" {
		t.Fatalf("second request %+v", req.Messages)
	}
}

func TestToolCallTurn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(
		llmtest.Turn{Words: []string{"Let me check."}, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "echo", Arguments: json.RawMessage(`{"text":"ping"}`)}}},
		llmtest.Turn{Words: []string{"Done."}},
	)
	e.start()
	res := e.send("use the tool", "", "")
	run := e.wait(res.Run.ID, herm.RunCompleted)
	if e.echo.calls.Load() != 1 || run.Usage.ToolCalls != 1 || run.Usage.ModelCalls != 2 {
		t.Fatalf("calls %d, run usage %+v", e.echo.calls.Load(), run.Usage)
	}
	evs := e.events()
	equal(t, runEvents(evs, run.ID), []string{"run_status:queued", "message:user", "run_status:running", "token", "message:agent", "usage",
		"tool_call", "tool_result", "token", "message:agent", "usage", "run_status:completed"})
	for _, ev := range evs {
		if ev.Type == herm.EventToolResult {
			var f map[string]any
			_ = json.Unmarshal(ev.Data, &f)
			if f["result"] != "echo: ping" || f["origin"] != "builtin" || f["tool"] != "echo" || f["is_error"] != false || f["tool_call_id"] != "call_1" {
				t.Fatalf("tool_result %s", ev.Data)
			}
		}
	}
	second := e.script.Requests()[1].Messages
	last := second[len(second)-1]
	if last.Role != llm.RoleTool || last.ToolCallID != "call_1" || last.Content != "echo: ping" {
		t.Fatalf("tool result not sent back: %+v", last)
	}
	if offered := e.script.Requests()[0].Tools; len(offered) != 3 || offered[0].Name != "echo" || offered[1].Name != agent.AskHuman || offered[2].Name != agent.Subagents {
		t.Fatalf("tools offered: %+v", offered)
	}
}

func TestUnknownToolIsReportedToTheModel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(
		llmtest.Turn{ToolCalls: []llm.ToolCall{{ID: "c1", Name: "nope", Arguments: json.RawMessage(`{}`)}}},
		llmtest.Turn{Words: []string{"ok"}},
	)
	e.start()
	run := e.wait(e.send("x", "", "").Run.ID, herm.RunCompleted)
	msgs := e.script.Requests()[1].Messages
	if last := msgs[len(msgs)-1]; !last.IsError || last.Content != `unknown tool "nope"` {
		t.Fatalf("last message %+v", last)
	}
	_ = run
}

func TestSteerFoldsIntoActiveRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	gate := make(chan struct{})
	e.script.Push(llmtest.Turn{Words: []string{"Working", " on it"}, Gate: gate}, llmtest.Turn{Words: []string{"Noted."}})
	e.start()
	first := e.send("start", "", "")
	<-e.script.Started()
	steer := e.send("also this", "", herm.SendSteer)
	if !steer.Steered || steer.Run.ID != first.Run.ID {
		t.Fatalf("steer result %+v", steer)
	}
	close(gate)
	run := e.wait(first.Run.ID, herm.RunCompleted)
	if run.Usage.ModelCalls != 2 {
		t.Fatalf("the run must take one more turn for the steering input: %+v", run.Usage)
	}
	msgs := e.script.Requests()[1].Messages
	if last := msgs[len(msgs)-1]; last.Role != llm.RoleUser || last.Content != "also this" {
		t.Fatalf("steering input not given to the model: %+v", msgs)
	}
	runs, _ := e.store.ListRuns(context.Background(), herm.RunFilter{DeploymentID: e.dep.ID, Page: herm.Page{Limit: 10}})
	if len(runs) != 1 {
		t.Fatalf("steering must not start a run: %d runs", len(runs))
	}
}

func TestQueueInterruptReject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	gate := make(chan struct{})
	e.script.Push(llmtest.Turn{Words: []string{"slow"}, Gate: gate})
	e.start()
	first := e.send("one", "", "")
	<-e.script.Started()

	queued := e.send("two", "", herm.SendQueue)
	if queued.Steered || queued.Run.ID == first.Run.ID || queued.Run.Status != herm.RunQueued {
		t.Fatalf("queue result %+v", queued)
	}
	if _, err := e.runner.Send(context.Background(), herm.SendParams{DeploymentID: e.dep.ID, Content: "three", Mode: herm.SendReject}); !herm.IsCode(err, herm.EConflict) {
		t.Fatalf("reject: %v", err)
	}
	inter := e.send("four", "", herm.SendInterrupt)
	cancelled := e.wait(first.Run.ID, herm.RunCancelled)
	if cancelled.StopReason != herm.StopCancelled {
		t.Fatalf("interrupted run %+v", cancelled)
	}
	e.wait(queued.Run.ID, herm.RunCancelled)
	e.wait(inter.Run.ID, herm.RunCompleted)
	// The rejected message left nothing behind.
	msgs, _ := e.store.ListMessages(context.Background(), e.dep.ThreadID, 0)
	for _, m := range msgs {
		if m.Content == "three" {
			t.Fatal("a rejected message was stored")
		}
	}
}

func TestCancelAbortsModelCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(llmtest.Turn{Words: []string{"never", "ends"}, Gate: make(chan struct{})})
	e.start()
	res := e.send("go", "", "")
	<-e.script.Started()
	if _, err := e.runner.Cancel(context.Background(), e.dep.ID, res.Run.ID); err != nil {
		t.Fatal(err)
	}
	run := e.wait(res.Run.ID, herm.RunCancelled)
	if run.StopReason != herm.StopCancelled || run.CompletedAt == nil {
		t.Fatalf("run %+v", run)
	}
	if _, err := e.runner.Cancel(context.Background(), e.dep.ID, res.Run.ID); !herm.IsCode(err, herm.EConflict) {
		t.Fatalf("cancel of a finished run: %v", err)
	}
	evs := e.events()
	got := runEvents(evs, run.ID)
	if got[len(got)-1] != "run_status:cancelled" {
		t.Fatalf("events %v", got)
	}
}

func TestThreadsRunInParallel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	gate := make(chan struct{})
	e.script.Push(llmtest.Turn{Words: []string{"a"}, Gate: gate}, llmtest.Turn{Words: []string{"b"}, Gate: gate})
	e.start()
	a := e.send("one", "", "")
	b := e.send("two", herm.NewThread, "")
	if a.Run.ThreadID == b.Run.ThreadID {
		t.Fatal("thread_id new must create a thread")
	}
	for range 2 {
		select {
		case <-e.script.Started():
		case <-time.After(5 * time.Second):
			t.Fatal("the two threads' runs did not run at the same time")
		}
	}
	close(gate)
	e.wait(a.Run.ID, herm.RunCompleted)
	e.wait(b.Run.ID, herm.RunCompleted)
}

func TestModelErrorEndsRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(llmtest.Turn{Err: &llm.Error{Provider: "test", StatusCode: 400, Type: "invalid_request_error", Message: "bad"}})
	e.start()
	run := e.wait(e.send("x", "", "").Run.ID, herm.RunError)
	if run.Error == nil || run.Error.Code != "model_error" || run.StopReason != herm.StopError {
		t.Fatalf("run %+v", run)
	}
}

// TestResumeAfterCrash builds the state a crash leaves behind — a running
// run whose last model turn asked for two tool calls, one of which had
// started and never finished — and checks that a new runner resumes it: the
// started call is reported as interrupted and never re-run, the other one
// runs, and the run completes.
func TestResumeAfterCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{ReleaseOnStart: true})
	ctx := context.Background()
	now := time.Now().UTC()
	run := &herm.Run{ID: e.ids.New(herm.PrefixRun), DeploymentID: e.dep.ID, ThreadID: e.dep.ThreadID, Status: herm.RunRunning,
		Trigger: herm.Trigger{Type: herm.TriggerMessage}, ConfigVersion: 1, Model: "test/model", LeaseOwner: "dead-node",
		LeaseExpiresAt: now.Add(time.Hour), CreatedAt: now, StartedAt: &now}
	if err := e.store.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	msg := &herm.Message{ID: e.ids.New(herm.PrefixMessage), DeploymentID: e.dep.ID, ThreadID: e.dep.ThreadID, RunID: run.ID, Role: "user", Content: "do two things", CreatedAt: now}
	if err := e.store.CreateMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	step := func(i int, kind string, v any) {
		b, _ := json.Marshal(v)
		if err := e.store.AppendStep(ctx, &herm.RunStep{RunID: run.ID, Index: i, Kind: kind, Data: b, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	step(0, herm.StepInput, herm.StepInputData{MessageID: msg.ID, Content: msg.Content})
	step(1, herm.StepModel, herm.StepModelData{ToolCalls: []herm.StepToolCall{
		{ID: "c1", Name: "echo", Arguments: json.RawMessage(`{"text":"first"}`)},
		{ID: "c2", Name: "echo", Arguments: json.RawMessage(`{"text":"second"}`)},
	}, StopReason: "tool_use"})
	step(2, herm.StepToolStart, herm.StepToolData{ToolCallID: "c1", Tool: "echo", Origin: "builtin"})

	e.script.Push(llmtest.Turn{Words: []string{"resumed"}})
	e.start()
	done := e.wait(run.ID, herm.RunCompleted)
	if got := e.echo.calls.Load(); got != 1 {
		t.Fatalf("echo ran %d times; the interrupted call must not run again and the other must run once", got)
	}
	msgs := e.script.Requests()[0].Messages
	var results []llm.Message
	for _, m := range msgs {
		if m.Role == llm.RoleTool {
			results = append(results, m)
		}
	}
	if len(results) != 2 || results[0].ToolCallID != "c1" || !results[0].IsError || results[1].ToolCallID != "c2" || results[1].Content != "echo: second" {
		t.Fatalf("tool results given to the model: %+v", results)
	}
	if done.LeaseOwner == "dead-node" {
		t.Fatal("the run was not taken over")
	}
}

// TestRedoUnrecordedModelTurn builds the state a crash in the middle of a
// run's second model turn leaves behind — the first turn recorded with its
// tool call and result, the second started (model_start) and never
// recorded — and checks that the resumed run redoes only the second turn:
// one model call, which sees the first turn once, no tool run again, and
// the run ends with two recorded model turns.
func TestRedoUnrecordedModelTurn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{ReleaseOnStart: true})
	ctx := context.Background()
	now := time.Now().UTC()
	run := &herm.Run{ID: e.ids.New(herm.PrefixRun), DeploymentID: e.dep.ID, ThreadID: e.dep.ThreadID, Status: herm.RunRunning,
		Trigger: herm.Trigger{Type: herm.TriggerMessage}, ConfigVersion: 1, Model: "test/model", LeaseOwner: "dead",
		LeaseExpiresAt: now.Add(time.Hour), CreatedAt: now, StartedAt: &now, Usage: herm.Usage{ModelCalls: 1, ToolCalls: 1}}
	if err := e.store.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	msg := &herm.Message{ID: e.ids.New(herm.PrefixMessage), DeploymentID: e.dep.ID, ThreadID: e.dep.ThreadID, RunID: run.ID, Role: "user", Content: "hello", CreatedAt: now}
	if err := e.store.CreateMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	for i, s := range []struct {
		kind string
		data any
	}{
		{herm.StepInput, herm.StepInputData{MessageID: msg.ID, Content: msg.Content}},
		{herm.StepModelStart, herm.StepModelStartData{Turn: 1, Attempt: 1}},
		{herm.StepModel, herm.StepModelData{ToolCalls: []herm.StepToolCall{{ID: "c1", Name: "echo", Arguments: json.RawMessage(`{"text":"one"}`)}},
			StopReason: "tool_use", Usage: herm.Usage{ModelCalls: 1}}},
		{herm.StepToolStart, herm.StepToolData{ToolCallID: "c1", Tool: "echo", Origin: "builtin"}},
		{herm.StepToolResult, herm.StepToolData{ToolCallID: "c1", Tool: "echo", Origin: "builtin", Result: "echo: one"}},
		{herm.StepModelStart, herm.StepModelStartData{Turn: 2, Attempt: 1}},
	} {
		b, _ := json.Marshal(s.data)
		if err := e.store.AppendStep(ctx, &herm.RunStep{RunID: run.ID, Index: i, Kind: s.kind, Data: b, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	e.script.Push(llmtest.Turn{Words: []string{"done"}})
	e.start()
	done := e.wait(run.ID, herm.RunCompleted)
	if done.Usage.ModelCalls != 2 || done.Usage.ToolCalls != 1 {
		t.Fatalf("usage %+v, want 2 model calls (one before the crash) and 1 tool call", done.Usage)
	}
	if got := e.echo.calls.Load(); got != 0 {
		t.Fatalf("echo ran %d times after the crash; its call had a result", got)
	}
	reqs := e.script.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d model calls after the crash, want 1 (the unrecorded turn)", len(reqs))
	}
	var roles []string
	for _, m := range reqs[0].Messages {
		roles = append(roles, string(m.Role))
	}
	equal(t, roles, []string{string(llm.RoleUser), string(llm.RoleAssistant), string(llm.RoleTool)})
	steps, err := e.store.ListSteps(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range steps[6:] {
		kinds = append(kinds, s.Kind)
	}
	// The redo is the turn's second attempt, then the turn is recorded.
	equal(t, kinds, []string{herm.StepModelStart, herm.StepModel})
	var start herm.StepModelStartData
	if err := json.Unmarshal(steps[6].Data, &start); err != nil || start != (herm.StepModelStartData{Turn: 2, Attempt: 2}) {
		t.Fatalf("redo started %+v (%v), want turn 2 attempt 2", start, err)
	}
}

func TestStopLeavesRunForResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(llmtest.Turn{Words: []string{"stuck"}, Gate: make(chan struct{})})
	e.start()
	res := e.send("x", "", "")
	<-e.script.Started()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.runner.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := e.store.GetRun(ctx, e.dep.ID, res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != herm.RunRunning {
		t.Fatalf("a stopped server must leave the run to resume, got %s", r.Status)
	}
	if err := e.runner.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("second stop: %v", err)
	}
}

// TestMaxStepsWithPendingInput: a run that reaches its step limit ends even
// when steering input is waiting, and that input lands in the history.
func TestMaxStepsWithPendingInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	gate := make(chan struct{})
	loop := llmtest.Turn{ToolCalls: []llm.ToolCall{{ID: "c", Name: "echo", Arguments: json.RawMessage(`{"text":"again"}`)}}}
	turns := []llmtest.Turn{{ToolCalls: loop.ToolCalls, Gate: gate}}
	for range 9 {
		turns = append(turns, loop)
	}
	e.script.Push(turns...)
	e.script.Default = &loop
	e.start()
	res := e.send("loop forever", "", "")
	<-e.script.Started()
	e.send("late input", "", herm.SendSteer)
	close(gate)
	run := e.wait(res.Run.ID, herm.RunCompleted)
	if run.StopReason != herm.StopMaxSteps || run.Usage.ModelCalls != 10 {
		t.Fatalf("run %+v", run)
	}
	msgs, _ := e.store.ListMessages(context.Background(), e.dep.ThreadID, 0)
	found := false
	for _, m := range msgs {
		found = found || m.Content == "late input"
	}
	if !found {
		t.Fatal("steering input left pending after the run ended")
	}
	pending, _ := e.store.PendingMessages(context.Background(), run.ID)
	if len(pending) != 0 {
		t.Fatalf("%d messages still pending", len(pending))
	}
}

func TestCancelledQueuedRunKeepsItsMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	gate := make(chan struct{})
	defer close(gate)
	e.script.Push(llmtest.Turn{Words: []string{"busy"}, Gate: gate})
	e.start()
	e.send("first", "", "")
	<-e.script.Started()
	q := e.send("second", "", herm.SendQueue)
	if _, err := e.runner.Cancel(context.Background(), e.dep.ID, q.Run.ID); err != nil {
		t.Fatal(err)
	}
	e.wait(q.Run.ID, herm.RunCancelled)
	msgs, _ := e.store.ListMessages(context.Background(), e.dep.ThreadID, 0)
	if len(msgs) == 0 || msgs[len(msgs)-1].Content != "second" {
		t.Fatalf("history %+v", msgs)
	}
}
