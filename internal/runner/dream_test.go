package runner_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/runner"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/tools"
)

// dreamEnv is an env whose agent dreams over memories in a temporary
// workspace.
func dreamEnv(t *testing.T) (*env, *agent.Agent, *memory.Store, *sandbox.Workspace) {
	t.Helper()
	ws, err := sandbox.OpenWorkspace(t.TempDir(), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	mem := memory.New(herm.NewIDGen(nil), nil)
	aopts := agent.Options{MaxSteps: 10, Dreaming: true, Memories: mem,
		Workspace: func(context.Context, *herm.Deployment) (*sandbox.Workspace, error) { return ws, nil }}
	e := newEnvWith(t, runner.Options{}, aopts)
	ag := agent.New(e.store, e.log, e.models, tools.NewCatalog(tools.NewRegistry(), tools.CatalogOptions{}), e.ids, nil, e.logger, aopts)
	return e, ag, mem, ws
}

// A deployment over its budget, with features.dreaming or features.memory
// off, or without memories does not dream: no model call, no dream (one
// with all of them does).
func TestDreamSkipped(t *testing.T) {
	e, ag, mem, ws := dreamEnv(t)
	ctx := context.Background()
	for i, change := range []func(d *herm.Deployment){
		func(d *herm.Deployment) { d.Features.Dreaming = true }, // no memories yet
		func(d *herm.Deployment) { zero := 0.0; d.BudgetUSD = &zero },
		func(d *herm.Deployment) { d.BudgetUSD = nil; d.Features.Dreaming = false },
		func(d *herm.Deployment) { d.Features.Dreaming = true; d.Features.Memory = false },
		func(d *herm.Deployment) { // the control, whose dream changes nothing: applied, though reviewed
			budget := 1.0
			d.BudgetUSD, d.Features.Memory, d.Features.DreamingReview = &budget, true, true
		},
	} {
		if i == 1 {
			if _, _, err := mem.Create(ws, "Works in Lisbon.", memory.SourceAPI); err != nil {
				t.Fatal(err)
			}
		}
		d, err := e.store.GetDeployment(ctx, e.dep.ID)
		if err != nil {
			t.Fatal(err)
		}
		change(d)
		d.ConfigVersion++
		if err := e.store.UpdateDeploymentConfig(ctx, d); err != nil {
			t.Fatal(err)
		}
		dream, err := ag.Dream(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if (dream != nil) != (i == 4) || dream != nil && (dream.Status != herm.DreamApplied || len(dream.Changes) != 0) {
			t.Fatalf("case %d: dream %+v", i, dream)
		}
	}
	if n := len(e.script.Requests()); n != 1 {
		t.Fatalf("%d model calls, want only the control's", n)
	}
	runs, err := e.store.ListRuns(ctx, herm.RunFilter{DeploymentID: e.dep.ID, TriggerType: herm.TriggerDreaming})
	if err != nil || len(runs) != 1 || runs[0].Status != herm.RunCompleted || runs[0].Usage.ModelCalls != 1 {
		t.Fatalf("dream runs %v, %v", runs, err)
	}
}

// A dream whose model call fails is recorded as failed, its run in error,
// and changes nothing.
func TestDreamFailed(t *testing.T) {
	e, ag, mem, ws := dreamEnv(t)
	ctx := context.Background()
	m, _, err := mem.Create(ws, "Works in Lisbon.", memory.SourceAPI)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.store.GetDeployment(ctx, e.dep.ID)
	if err != nil {
		t.Fatal(err)
	}
	d.Features.Dreaming = true
	d.ConfigVersion++
	if err := e.store.UpdateDeploymentConfig(ctx, d); err != nil {
		t.Fatal(err)
	}
	e.script.Push(llmtest.Turn{Err: errors.New("boom")})
	dream, err := ag.Dream(ctx, d.ID)
	if err == nil || dream == nil || dream.Status != herm.DreamFailed || dream.ResolvedAt == nil || len(dream.Changes) != 0 {
		t.Fatalf("dream %+v, %v", dream, err)
	}
	run, err := e.store.GetRun(ctx, d.ID, dream.RunID)
	if err != nil || run.Status != herm.RunError || run.Trigger.Type != herm.TriggerDreaming {
		t.Fatalf("run %+v, %v", run, err)
	}
	if got, err := mem.Get(ws, m.ID); err != nil || got.Content != "Works in Lisbon." {
		t.Fatalf("memory %+v, %v", got, err)
	}
	stored, err := e.store.GetDream(ctx, d.ID, dream.ID)
	if err != nil || stored.Status != herm.DreamFailed {
		t.Fatalf("stored dream %+v, %v", stored, err)
	}
}
