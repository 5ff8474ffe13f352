package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

func (f *fixture) steering(run *herm.Run, callID string, expires time.Time) *herm.SteeringRequest {
	f.t.Helper()
	s := &herm.SteeringRequest{
		ID: f.id(herm.PrefixSteering), DeploymentID: run.DeploymentID, ThreadID: run.ThreadID, RunID: run.ID,
		ToolCallID: callID, Kind: herm.SteeringApproval, Summary: "run rm", Tool: "shell",
		Arguments: json.RawMessage(`{"command":"rm -rf build"}`), Options: []string{}, Status: herm.SteeringPending,
		CreatedAt: at(0), ExpiresAt: expires,
	}
	f.must(f.s.CreateSteeringRequest(f.ctx, s))
	return s
}

func steeringTests() []test {
	return []test{
		{"Steering/CreateGetList", func(t *testing.T, f *fixture) {
			d, other := f.deployment(), f.deployment()
			run := f.run(d.ID, d.ThreadID, herm.RunWaitingOnHuman, at(0))
			a := f.steering(run, "call_1", at(time.Hour))
			q := &herm.SteeringRequest{
				ID: f.id(herm.PrefixSteering), DeploymentID: d.ID, ThreadID: d.ThreadID, RunID: run.ID, ToolCallID: "call_2",
				Kind: herm.SteeringQuestion, Summary: "Blue or green?", Tool: "ask_human", Arguments: json.RawMessage(`{"question":"Blue or green?"}`),
				Options: []string{"blue", "green"}, Status: herm.SteeringPending, CreatedAt: at(time.Second), ExpiresAt: at(time.Hour),
			}
			f.must(f.s.CreateSteeringRequest(f.ctx, q))
			got, err := f.s.GetSteeringRequest(f.ctx, d.ID, a.ID)
			f.must(err)
			wantDiff(t, "request", a, got)
			got, err = f.s.SteeringRequestFor(f.ctx, run.ID, "call_2")
			f.must(err)
			wantDiff(t, "request by call", q, got)
			_, err = f.s.GetSteeringRequest(f.ctx, other.ID, a.ID)
			wantCode(t, err, herm.ENotFound)
			_, err = f.s.SteeringRequestFor(f.ctx, run.ID, "call_9")
			wantCode(t, err, herm.ENotFound)
			dup := *a
			dup.ID = f.id(herm.PrefixSteering)
			wantCode(t, f.s.CreateSteeringRequest(f.ctx, &dup), herm.EConflict)
			orphan := *a
			orphan.ID, orphan.RunID = f.id(herm.PrefixSteering), "run_nope"
			wantCode(t, f.s.CreateSteeringRequest(f.ctx, &orphan), herm.ENotFound)

			list, err := f.s.ListSteeringRequests(f.ctx, herm.SteeringFilter{DeploymentID: d.ID})
			f.must(err)
			wantDiff(t, "list", []*herm.SteeringRequest{q, a}, list)
			list, err = f.s.ListSteeringRequests(f.ctx, herm.SteeringFilter{DeploymentID: d.ID, Limit: 1, Cursor: q.ID})
			f.must(err)
			wantDiff(t, "page", []*herm.SteeringRequest{a}, list)
			list, err = f.s.ListSteeringRequests(f.ctx, herm.SteeringFilter{DeploymentID: other.ID})
			f.must(err)
			if len(list) != 0 {
				t.Fatalf("another deployment lists %d", len(list))
			}
		}},
		{"Steering/KindFilters", func(t *testing.T, f *fixture) {
			d := f.deployment()
			run := f.run(d.ID, d.ThreadID, herm.RunWaitingOnHuman, at(0))
			other := f.run(d.ID, f.thread(d.ID).ID, herm.RunWaitingOnHuman, at(0))
			approval := f.steering(run, "call_1", at(time.Hour))
			custom := func(r *herm.Run, callID string, created time.Duration) *herm.SteeringRequest {
				c := &herm.SteeringRequest{
					ID: f.id(herm.PrefixSteering), DeploymentID: d.ID, ThreadID: r.ThreadID, RunID: r.ID, ToolCallID: callID,
					Kind: herm.SteeringCustomTool, Summary: "The agent calls the custom tool lookup_order", Tool: "lookup_order",
					Arguments: json.RawMessage(`{"order_id":"A1"}`), Options: []string{}, Status: herm.SteeringPending,
					CreatedAt: at(created), ExpiresAt: at(time.Hour),
				}
				f.must(f.s.CreateSteeringRequest(f.ctx, c))
				return c
			}
			c2 := custom(run, "call_2", time.Second)
			c3 := custom(run, "call_3", 2*time.Second)
			elsewhere := custom(other, "call_1", 3*time.Second)
			for _, c := range []struct {
				name string
				f    herm.SteeringFilter
				want []*herm.SteeringRequest
			}{
				{"kind", herm.SteeringFilter{RunID: run.ID, Kind: herm.SteeringCustomTool}, []*herm.SteeringRequest{c3, c2}},
				{"not kind", herm.SteeringFilter{RunID: run.ID, NotKind: herm.SteeringCustomTool}, []*herm.SteeringRequest{approval}},
				{"deployment, not kind", herm.SteeringFilter{DeploymentID: d.ID, NotKind: herm.SteeringCustomTool}, []*herm.SteeringRequest{approval}},
				{"deployment, kind", herm.SteeringFilter{DeploymentID: d.ID, Kind: herm.SteeringCustomTool}, []*herm.SteeringRequest{elsewhere, c3, c2}},
				{"kind, page", herm.SteeringFilter{DeploymentID: d.ID, Kind: herm.SteeringCustomTool, Limit: 1, Cursor: c3.ID}, []*herm.SteeringRequest{c2}},
				{"other kind", herm.SteeringFilter{RunID: run.ID, Kind: herm.SteeringQuestion}, nil},
				{"neither", herm.SteeringFilter{RunID: run.ID}, []*herm.SteeringRequest{c3, c2, approval}},
			} {
				list, err := f.s.ListSteeringRequests(f.ctx, c.f)
				f.must(err)
				wantDiff(t, c.name, c.want, list)
			}
			f.must(f.s.ResolveSteeringRequest(f.ctx, c2.ID, herm.DecisionAnswer, "shipped", at(time.Minute)))
			list, err := f.s.ListSteeringRequests(f.ctx, herm.SteeringFilter{RunID: run.ID, Status: herm.SteeringPending, Kind: herm.SteeringCustomTool})
			f.must(err)
			wantDiff(t, "pending, kind", []*herm.SteeringRequest{c3}, list)
			list, err = f.s.ListSteeringRequests(f.ctx, herm.SteeringFilter{RunID: run.ID, Status: herm.SteeringResolved, NotKind: herm.SteeringApproval})
			f.must(err)
			c2.Status, c2.Decision, c2.Message, c2.ResolvedAt = herm.SteeringResolved, herm.DecisionAnswer, "shipped", ptr(at(time.Minute))
			wantDiff(t, "resolved, not kind", []*herm.SteeringRequest{c2}, list)
		}},
		{"Steering/Resolve", func(t *testing.T, f *fixture) {
			d := f.deployment()
			run := f.run(d.ID, d.ThreadID, herm.RunWaitingOnHuman, at(0))
			a := f.steering(run, "call_1", at(time.Hour))
			f.must(f.s.ResolveSteeringRequest(f.ctx, a.ID, herm.DecisionDeny, "no", at(time.Minute)))
			got, err := f.s.GetSteeringRequest(f.ctx, d.ID, a.ID)
			f.must(err)
			a.Status, a.Decision, a.Message, a.ResolvedAt = herm.SteeringResolved, herm.DecisionDeny, "no", ptr(at(time.Minute))
			wantDiff(t, "resolved", a, got)
			wantCode(t, f.s.ResolveSteeringRequest(f.ctx, a.ID, herm.DecisionApprove, "", at(time.Hour)), herm.EConflict)
			wantCode(t, f.s.ResolveSteeringRequest(f.ctx, "str_nope", herm.DecisionApprove, "", at(time.Hour)), herm.ENotFound)
			pending, err := f.s.ListSteeringRequests(f.ctx, herm.SteeringFilter{DeploymentID: d.ID, Status: herm.SteeringPending})
			f.must(err)
			if len(pending) != 0 {
				t.Fatalf("still pending: %v", pending)
			}
		}},
		{"Steering/Expired", func(t *testing.T, f *fixture) {
			d := f.deployment()
			run := f.run(d.ID, d.ThreadID, herm.RunWaitingOnHuman, at(0))
			late := f.steering(run, "call_1", at(2*time.Hour))
			early := f.steering(run, "call_2", at(time.Hour))
			resolved := f.steering(run, "call_3", at(time.Minute))
			f.must(f.s.ResolveSteeringRequest(f.ctx, resolved.ID, herm.DecisionApprove, "", at(time.Second)))
			got, err := f.s.ExpiredSteeringRequests(f.ctx, at(time.Hour), 10)
			f.must(err)
			if len(got) != 1 || got[0].ID != early.ID {
				t.Fatalf("expired at 1h: %v", got)
			}
			got, err = f.s.ExpiredSteeringRequests(f.ctx, at(3*time.Hour), 10)
			f.must(err)
			if len(got) != 2 || got[0].ID != early.ID || got[1].ID != late.ID {
				t.Fatalf("expired at 3h: %v", got)
			}
		}},
		{"Steering/ResumeRun", func(t *testing.T, f *fixture) {
			d := f.deployment()
			run := f.run(d.ID, d.ThreadID, herm.RunWaitingOnHuman, at(0))
			// A waiting run is not claimed, even with an expired lease.
			if ids := f.claimAll("node-a", at(time.Hour)); len(ids) != 0 {
				t.Fatalf("claimed a waiting run: %v", ids)
			}
			// Not while a request of it is pending.
			sr := f.steering(run, "call_0", at(time.Hour))
			resumed, err := f.s.ResumeRun(f.ctx, run.ID)
			f.must(err)
			if resumed || f.getRun(run).Status != herm.RunWaitingOnHuman {
				t.Fatalf("resumed with a pending request: %v", resumed)
			}
			f.must(f.s.ResolveSteeringRequest(f.ctx, sr.ID, herm.DecisionApprove, "", at(time.Minute)))
			resumed, err = f.s.ResumeRun(f.ctx, run.ID)
			f.must(err)
			if !resumed {
				t.Fatal("ResumeRun = false with no pending request")
			}
			if got := f.getRun(run); got.Status != herm.RunRunning || got.LeaseOwner != "" {
				t.Fatalf("resumed: %+v", got)
			}
			if ids := f.claimAll("node-b", at(time.Second)); len(ids) != 1 || ids[0] != run.ID {
				t.Fatalf("claim after resume: %v", ids)
			}
			_, err = f.s.ResumeRun(f.ctx, run.ID)
			wantCode(t, err, herm.EConflict)
			_, err = f.s.ResumeRun(f.ctx, "run_nope")
			wantCode(t, err, herm.ENotFound)
			// Deleting the run deletes its requests.
			f.steering(run, "call_1", at(time.Hour))
			f.must(f.s.DeleteThread(f.ctx, d.ID, d.ThreadID))
			list, err := f.s.ListSteeringRequests(f.ctx, herm.SteeringFilter{DeploymentID: d.ID})
			f.must(err)
			if len(list) != 0 {
				t.Fatalf("requests of a deleted run: %v", list)
			}
		}},
	}
}

func budgetTests() []test {
	return []test{
		{"Deployment/BudgetAndSpend", func(t *testing.T, f *fixture) {
			d, th := f.newDeployment("cus_1")
			budget := 12.5
			d.BudgetUSD = &budget
			f.must(f.s.CreateDeployment(f.ctx, d, th))
			got, err := f.s.GetDeployment(f.ctx, d.ID)
			f.must(err)
			if got.BudgetUSD == nil || *got.BudgetUSD != 12.5 {
				t.Fatalf("budget %v", got.BudgetUSD)
			}
			got.BudgetUSD, got.ConfigVersion = nil, 2
			f.must(f.s.UpdateDeploymentConfig(f.ctx, got))
			again, err := f.s.GetDeployment(f.ctx, d.ID)
			f.must(err)
			if again.BudgetUSD != nil {
				t.Fatalf("budget after removal %v", *again.BudgetUSD)
			}
			v1, err := f.s.DeploymentVersion(f.ctx, d.ID, 1)
			f.must(err)
			if v1.BudgetUSD == nil || *v1.BudgetUSD != 12.5 {
				t.Fatalf("version 1's budget %v", v1.BudgetUSD)
			}

			spent, err := f.s.DeploymentSpend(f.ctx, d.ID)
			f.must(err)
			if spent != 0 {
				t.Fatalf("spent with no runs %v", spent)
			}
			other := f.deployment()
			for i, c := range []*float64{ptr(0.25), nil, ptr(1.5)} {
				f.costlyRun(d.ID, d.ThreadID, c, at(time.Duration(i)*time.Second))
			}
			f.costlyRun(other.ID, other.ThreadID, ptr(100.0), at(0))
			spent, err = f.s.DeploymentSpend(f.ctx, d.ID)
			f.must(err)
			if spent != 1.75 {
				t.Fatalf("spent %v, want 1.75", spent)
			}
			// Deleting a thread does not give its cost back.
			th2 := f.thread(d.ID)
			f.costlyRun(d.ID, th2.ID, ptr(2.0), at(time.Hour))
			f.must(f.s.DeleteThread(f.ctx, d.ID, th2.ID))
			spent, err = f.s.DeploymentSpend(f.ctx, d.ID)
			f.must(err)
			if spent != 3.75 {
				t.Fatalf("spent after deleting a thread %v, want 3.75", spent)
			}
		}},
	}
}

func compactionTests() []test {
	return []test{
		{"Step/LatestCompaction", func(t *testing.T, f *fixture) {
			d := f.deployment()
			other := f.thread(d.ID)
			_, err := f.s.LatestCompaction(f.ctx, d.ThreadID)
			wantCode(t, err, herm.ENotFound)
			r1 := f.run(d.ID, d.ThreadID, herm.RunCompleted, at(0))
			r2 := f.run(d.ID, d.ThreadID, herm.RunCompleted, at(time.Minute))
			r3 := f.run(d.ID, other.ID, herm.RunCompleted, at(time.Hour))
			step := func(r *herm.Run, idx int, kind string, created time.Time) *herm.RunStep {
				s := &herm.RunStep{RunID: r.ID, Index: idx, Kind: kind, Data: json.RawMessage(`{"summary":"s` + r.ID + `"}`), CreatedAt: created}
				f.must(f.s.AppendStep(f.ctx, s))
				return s
			}
			step(r1, 0, herm.StepCompaction, at(time.Second))
			want := step(r2, 0, herm.StepCompaction, at(2*time.Minute))
			step(r2, 1, herm.StepModel, at(3*time.Minute))
			step(r3, 0, herm.StepCompaction, at(2*time.Hour)) // another thread
			got, err := f.s.LatestCompaction(f.ctx, d.ThreadID)
			f.must(err)
			wantDiff(t, "latest", want, got)
		}},
	}
}

func secretTests() []test {
	return []test{
		{"Secret/CRUD", func(t *testing.T, f *fixture) {
			a := &herm.Secret{ID: f.id(herm.PrefixSecret), Name: "a", CustomerID: "cus_1", AllowedHosts: []string{"api.example.com"},
				Ciphertext: []byte{1, 2, 3, 0, 255}, CreatedAt: at(0)}
			b := &herm.Secret{ID: f.id(herm.PrefixSecret), Name: "b", AllowedHosts: []string{}, Ciphertext: []byte{9}, CreatedAt: at(time.Second)}
			f.must(f.s.CreateSecret(f.ctx, a))
			f.must(f.s.CreateSecret(f.ctx, b))
			got, err := f.s.GetSecret(f.ctx, a.ID)
			f.must(err)
			wantDiff(t, "secret", a, got)
			wantCode(t, f.s.CreateSecret(f.ctx, a), herm.EConflict)
			list, err := f.s.ListSecrets(f.ctx, herm.Page{})
			f.must(err)
			wantDiff(t, "list", []*herm.Secret{b, a}, list)
			list, err = f.s.ListSecrets(f.ctx, herm.Page{Limit: 1, Cursor: b.ID})
			f.must(err)
			wantDiff(t, "page", []*herm.Secret{a}, list)
			f.must(f.s.RotateSecret(f.ctx, a.ID, []byte{7}, at(time.Hour)))
			got, err = f.s.GetSecret(f.ctx, a.ID)
			f.must(err)
			a.Ciphertext, a.RotatedAt = []byte{7}, ptr(at(time.Hour))
			wantDiff(t, "rotated", a, got)
			wantCode(t, f.s.RotateSecret(f.ctx, "sec_nope", []byte{1}, at(0)), herm.ENotFound)
			// A reseal replaces only the ciphertext it was computed from.
			f.must(f.s.ResealSecret(f.ctx, a.ID, []byte{6}, []byte{8}))
			got, err = f.s.GetSecret(f.ctx, a.ID)
			f.must(err)
			wantDiff(t, "reseal of a changed secret", a, got)
			f.must(f.s.ResealSecret(f.ctx, a.ID, []byte{7}, []byte{8}))
			got, err = f.s.GetSecret(f.ctx, a.ID)
			f.must(err)
			a.Ciphertext = []byte{8}
			wantDiff(t, "resealed", a, got)
			f.must(f.s.DeleteSecret(f.ctx, a.ID))
			_, err = f.s.GetSecret(f.ctx, a.ID)
			wantCode(t, err, herm.ENotFound)
			wantCode(t, f.s.DeleteSecret(f.ctx, a.ID), herm.ENotFound)
		}},
	}
}

// costlyRun stores a completed run of the thread that cost cost.
func (f *fixture) costlyRun(deploymentID, threadID string, cost *float64, created time.Time) {
	f.t.Helper()
	f.must(f.s.CreateRun(f.ctx, &herm.Run{
		ID: f.id(herm.PrefixRun), DeploymentID: deploymentID, ThreadID: threadID, Status: herm.RunCompleted,
		Trigger: herm.Trigger{Type: herm.TriggerMessage}, Usage: herm.Usage{CostUSD: cost}, CreatedAt: created,
	}))
}
