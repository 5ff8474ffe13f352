package runner_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/runner"
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
		res := e.send("go", "", "")
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
