package runner_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/runner"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/tools"
)

// A run that ended while no observer took it (the server was killed
// between its end and the observation) is observed when a runner starts;
// once claimed, a run is not observed again (at most once). A single
// server (ReleaseOnStart) owns every deployment from its start.
func TestObserveLeftoverRun(t *testing.T) {
	ws, err := sandbox.OpenWorkspace(t.TempDir(), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	mem := memory.New(herm.NewIDGen(nil), nil)
	e := newEnvWith(t, runner.Options{ObservePoll: 20 * time.Millisecond, ReleaseOnStart: true}, agent.Options{MaxSteps: 10, MemoryObserver: true, Memories: mem,
		Workspace: func(context.Context, *herm.Deployment) (*sandbox.Workspace, error) { return ws, nil }})
	ctx := context.Background()
	// The crash state: a completed run, never observed.
	now := time.Now().UTC()
	r := &herm.Run{ID: e.ids.New(herm.PrefixRun), DeploymentID: e.dep.ID, ThreadID: e.dep.ThreadID, Status: herm.RunCompleted,
		Trigger: herm.Trigger{Type: herm.TriggerMessage}, ConfigVersion: 1, Model: e.dep.Model, CreatedAt: now}
	if err := e.store.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(herm.StepInputData{MessageID: e.ids.New(herm.PrefixMessage), Content: "I work in Lisbon."})
	if err := e.store.AppendStep(ctx, &herm.RunStep{RunID: r.ID, Index: 0, Kind: herm.StepInput, Data: data, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	e.script.Push(llmtest.Turn{Words: []string{`{"operations":[{"op":"add","memory_id":"","content":"Works in Lisbon."}]}`}})
	e.start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := mem.List(ws, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Content == "Works in Lisbon." && list[0].Source == memory.SourceObserver {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the leftover run was not observed: %v", list)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Its usage is the run's; nothing claims it again.
	deadline = time.Now().Add(10 * time.Second)
	for {
		got, err := e.store.GetRun(ctx, e.dep.ID, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Usage.InputTokens == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run usage %+v", got.Usage)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if again, err := e.store.ClaimObservation(ctx, e.runner.Owner()); err != nil || again != nil {
		t.Fatalf("claimed again: %v %v", again, err)
	}
	if n := len(e.script.Requests()); n != 1 {
		t.Fatalf("%d model calls, want 1", n)
	}
}

// A deployment whose budget is spent, or whose features.memory is off, is
// not observed: no model call (one within its budget, with memory on, is).
func TestObserveSkipped(t *testing.T) {
	ws, err := sandbox.OpenWorkspace(t.TempDir(), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	aopts := agent.Options{MaxSteps: 10, MemoryObserver: true, Memories: memory.New(herm.NewIDGen(nil), nil),
		Workspace: func(context.Context, *herm.Deployment) (*sandbox.Workspace, error) { return ws, nil }}
	e := newEnvWith(t, runner.Options{}, aopts)
	ag := agent.New(e.store, e.log, e.models, tools.NewCatalog(tools.NewRegistry(), tools.CatalogOptions{}), e.ids, nil, e.logger, aopts)
	ctx := context.Background()
	for _, change := range []func(d *herm.Deployment){
		func(d *herm.Deployment) { zero := 0.0; d.BudgetUSD = &zero },
		func(d *herm.Deployment) { d.BudgetUSD = nil; d.Features.Memory = false },
		func(d *herm.Deployment) { budget := 1.0; d.BudgetUSD = &budget; d.Features.Memory = true }, // the control
	} {
		d, err := e.store.GetDeployment(ctx, e.dep.ID)
		if err != nil {
			t.Fatal(err)
		}
		change(d)
		d.ConfigVersion++
		if err := e.store.UpdateDeploymentConfig(ctx, d); err != nil {
			t.Fatal(err)
		}
		r := &herm.Run{ID: e.ids.New(herm.PrefixRun), DeploymentID: d.ID, ThreadID: d.ThreadID, Status: herm.RunCompleted,
			Trigger: herm.Trigger{Type: herm.TriggerMessage}, ConfigVersion: 1, Model: d.Model, CreatedAt: time.Now().UTC()}
		if err := e.store.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(herm.StepInputData{MessageID: e.ids.New(herm.PrefixMessage), Content: "I work in Lisbon."})
		if err := e.store.AppendStep(ctx, &herm.RunStep{RunID: r.ID, Index: 0, Kind: herm.StepInput, Data: data, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := ag.Observe(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.script.Requests()); n != 1 {
		t.Fatalf("%d model calls, want only the control's", n)
	}
}
