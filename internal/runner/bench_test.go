package runner_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/runner"
	"github.com/hermhq/herm/internal/sandbox/sandboxtest"
	"github.com/hermhq/herm/internal/tools"
)

// BenchmarkRunSteps measures the loop's own cost per step with a model that
// answers instantly: each run is a message, a model turn that calls the echo
// tool, the tool call, and a final model turn — everything recorded in
// SQLite and appended to the event log as in production. "ns/step" is per
// model call.
func BenchmarkRunSteps(b *testing.B) {
	e := newEnv(b, runner.Options{})
	call := llmtest.Turn{Words: []string{"Checking."}, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "echo", Arguments: json.RawMessage(`{"text":"x"}`)}}}
	final := llmtest.Turn{Words: []string{"Done", "."}}
	e.start()
	sub := e.log.Subscribe(e.dep.ID)
	defer sub.Close()
	b.ResetTimer()
	for b.Loop() {
		e.script.Push(call, final)
		// Each run on a thread of its own: the loop's own cost, not a
		// history that grows with b.N.
		res := e.send("go", herm.NewThread, "")
		for ev := range sub.C() { // wait for the run's end without polling
			if ev.RunID == res.Run.ID && ev.Type == herm.EventRunStatus && strings.Contains(string(ev.Data), `"completed"`) {
				break
			}
		}
	}
	b.StopTimer()
	steps := float64(2 * b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/steps, "ns/step")
	b.ReportMetric(steps/b.Elapsed().Seconds(), "steps/s")
}

// blockTool runs until its call is cancelled (a long shell command, say).
type blockTool struct{ started chan struct{} }

func (t *blockTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "block", Description: "blocks", InputSchema: json.RawMessage(`{"type":"object"}`)}
}
func (t *blockTool) Origin() string { return tools.OriginBuiltin }
func (t *blockTool) Call(ctx context.Context, _ tools.Call, _ json.RawMessage) (tools.Result, error) {
	t.started <- struct{}{}
	<-ctx.Done()
	return tools.Result{}, ctx.Err()
}

// BenchmarkCancelDuringTool measures a cancel's effect: from Cancel, while
// a tool runs, to the run recorded cancelled (goal: well under a second).
func BenchmarkCancelDuringTool(b *testing.B) {
	block := &blockTool{started: make(chan struct{}, 1)}
	e := newEnvWith(b, runner.Options{}, agent.Options{MaxSteps: 10}, block)
	e.start()
	sub := e.log.Subscribe(e.dep.ID)
	defer sub.Close()
	var ds []time.Duration
	for b.Loop() {
		e.script.Push(llmtest.Turn{ToolCalls: []llm.ToolCall{{ID: "c1", Name: "block", Arguments: json.RawMessage(`{}`)}}})
		res := e.send("go", "", "")
		<-block.started
		t0 := time.Now()
		if _, err := e.runner.Cancel(context.Background(), e.dep.ID, res.Run.ID); err != nil {
			b.Fatal(err)
		}
		for ev := range sub.C() {
			if ev.RunID == res.Run.ID && ev.Type == herm.EventRunStatus && strings.Contains(string(ev.Data), `"cancelled"`) {
				break
			}
		}
		ds = append(ds, time.Since(t0))
	}
	sandboxtest.ReportPercentiles(b, ds)
}
