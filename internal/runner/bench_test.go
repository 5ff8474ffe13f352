package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
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
// tool, the tool call, and a final model turn — everything recorded in the
// store and appended to the event log as in production, on each backend
// (PostgreSQL with HERM_TEST_POSTGRES_URL). "ns/step" is per model call.
// idle is how many other deployments, ready and owned by the node but
// without work, the store holds besides the benchmark's.
func BenchmarkRunSteps(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for _, idle := range []int{0, 10000} {
				b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) { runSteps(b, newEnvOn(b, be.open(b)), idle) })
			}
		})
	}
}

func runSteps(b *testing.B, e *env, idle int) {
	call := llmtest.Turn{Words: []string{"Checking."}, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "echo", Arguments: json.RawMessage(`{"text":"x"}`)}}}
	final := llmtest.Turn{Words: []string{"Done", "."}}
	e.start()
	e.idle(idle)
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
