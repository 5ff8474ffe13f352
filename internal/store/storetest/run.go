package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hermhq/herm/internal/herm"
)

// getRun reads a run back.
func (f *fixture) getRun(r *herm.Run) *herm.Run {
	f.t.Helper()
	got, err := f.s.GetRun(f.ctx, r.DeploymentID, r.ID)
	f.must(err)
	return got
}

func runTests() []test {
	return []test{
		{"Run/CreateAndGet", func(t *testing.T, f *fixture) {
			d := f.deployment()
			full := &herm.Run{
				ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: d.ThreadID, Status: herm.RunError,
				Trigger:       herm.Trigger{Type: herm.TriggerAutomation, AutomationID: "aut_1"},
				ConfigVersion: 3, Model: "anthropic/claude",
				Usage: herm.Usage{InputTokens: 1200, OutputTokens: 340, CacheReadTokens: 1000, ToolCalls: 4, ModelCalls: 5,
					CostUSD: ptr(0.0125)},
				Error:           &herm.ErrorInfo{Code: "model_error", Message: "overloaded"},
				StopReason:      herm.StopError,
				CancelRequested: true,
				LeaseOwner:      "node-a", LeaseExpiresAt: at(time.Minute),
				CreatedAt: at(0), StartedAt: ptr(at(time.Second)), CompletedAt: ptr(at(time.Hour)),
			}
			queued := &herm.Run{
				ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: d.ThreadID, Status: herm.RunQueued,
				Trigger: herm.Trigger{Type: herm.TriggerMessage}, CreatedAt: at(time.Second),
			}
			for _, r := range []*herm.Run{full, queued} {
				f.must(f.s.CreateRun(f.ctx, r))
				wantDiff(t, "run", r, f.getRun(r))
			}
			other := f.deployment()
			_, err := f.s.GetRun(f.ctx, other.ID, full.ID)
			wantCode(t, err, herm.ENotFound)
			_, err = f.s.GetRun(f.ctx, d.ID, "run_nope")
			wantCode(t, err, herm.ENotFound)
			dup := *queued
			wantCode(t, f.s.CreateRun(f.ctx, &dup), herm.EConflict)
			orphan := *queued
			orphan.ID, orphan.ThreadID = f.id(herm.PrefixRun), "thr_nope"
			wantCode(t, f.s.CreateRun(f.ctx, &orphan), herm.ENotFound)
		}},
		{"Run/ListAndActive", func(t *testing.T, f *fixture) {
			d, other := f.deployment(), f.deployment()
			a, b := d.ThreadID, f.thread(d.ID).ID
			n := 0
			mk := func(thread string, st herm.RunStatus, automation string) *herm.Run {
				n++
				r := &herm.Run{
					ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: thread, Status: st,
					Trigger: herm.Trigger{Type: herm.TriggerMessage}, CreatedAt: at(time.Duration(n) * time.Second),
				}
				if automation != "" {
					r.Trigger = herm.Trigger{Type: herm.TriggerAutomation, AutomationID: automation}
				}
				f.must(f.s.CreateRun(f.ctx, r))
				return r
			}
			r := []*herm.Run{
				mk(a, herm.RunCompleted, ""),      // 0
				mk(a, herm.RunError, "aut_1"),     // 1
				mk(b, herm.RunCompleted, "aut_1"), // 2
				mk(a, herm.RunWaitingOnHuman, ""), // 3
				mk(b, herm.RunRunning, "aut_2"),   // 4
				mk(a, herm.RunQueued, ""),         // 5
				mk(b, herm.RunQueued, "aut_1"),    // 6
				mk(a, herm.RunCancelled, "aut_1"), // 7
			}
			f.run(other.ID, other.ThreadID, herm.RunQueued, at(0))

			tests := []struct {
				name   string
				filter herm.RunFilter
				want   []*herm.Run
			}{
				{"deployment", herm.RunFilter{DeploymentID: d.ID}, []*herm.Run{r[7], r[6], r[5], r[4], r[3], r[2], r[1], r[0]}},
				{"page 1", herm.RunFilter{DeploymentID: d.ID, Page: herm.Page{Limit: 3}}, []*herm.Run{r[7], r[6], r[5]}},
				{"page 2", herm.RunFilter{DeploymentID: d.ID, Page: herm.Page{Limit: 3, Cursor: r[5].ID}}, []*herm.Run{r[4], r[3], r[2]}},
				{"thread", herm.RunFilter{DeploymentID: d.ID, ThreadID: b}, []*herm.Run{r[6], r[4], r[2]}},
				{"status", herm.RunFilter{DeploymentID: d.ID, Status: herm.RunQueued}, []*herm.Run{r[6], r[5]}},
				{"thread and status", herm.RunFilter{DeploymentID: d.ID, ThreadID: a, Status: herm.RunQueued}, []*herm.Run{r[5]}},
				{"automation", herm.RunFilter{DeploymentID: d.ID, AutomationID: "aut_1"}, []*herm.Run{r[7], r[6], r[2], r[1]}},
				{"automation page", herm.RunFilter{DeploymentID: d.ID, AutomationID: "aut_1", Page: herm.Page{Limit: 2, Cursor: r[6].ID}}, []*herm.Run{r[2], r[1]}},
				{"automation and status", herm.RunFilter{DeploymentID: d.ID, AutomationID: "aut_1", Status: herm.RunCompleted}, []*herm.Run{r[2]}},
				{"thread only", herm.RunFilter{ThreadID: a, Page: herm.Page{Limit: 2}}, []*herm.Run{r[7], r[5]}},
				{"no match", herm.RunFilter{DeploymentID: d.ID, AutomationID: "aut_9"}, nil},
				{"trigger message", herm.RunFilter{DeploymentID: d.ID, TriggerType: herm.TriggerMessage}, []*herm.Run{r[5], r[3], r[0]}},
				{"trigger automation", herm.RunFilter{DeploymentID: d.ID, TriggerType: herm.TriggerAutomation, Page: herm.Page{Limit: 2}}, []*herm.Run{r[7], r[6]}},
				{"trigger dreaming", herm.RunFilter{DeploymentID: d.ID, TriggerType: herm.TriggerDreaming}, nil},
			}
			for _, tc := range tests {
				got, err := f.s.ListRuns(f.ctx, tc.filter)
				f.must(err)
				wantDiff(t, tc.name, tc.want, got, cmpopts.EquateEmpty())
			}

			active, err := f.s.ActiveRuns(f.ctx, a)
			f.must(err)
			wantDiff(t, "active runs of a", []*herm.Run{r[3], r[5]}, active)
			active, err = f.s.ActiveRuns(f.ctx, b)
			f.must(err)
			wantDiff(t, "active runs of b", []*herm.Run{r[4], r[6]}, active)
		}},
		{"Run/UpdateRun", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.run(d.ID, d.ThreadID, herm.RunQueued, at(0))
			claimed, err := f.claim("node-a", at(time.Second), at(time.Minute))
			f.must(err)

			// UpdateRun stores config_version, model and usage, nothing else.
			u := *claimed
			u.ConfigVersion, u.Model = 2, "m"
			u.Usage = herm.Usage{InputTokens: 1, CostUSD: ptr(0.5)}
			u.Status, u.Error, u.StopReason = herm.RunCancelled, &herm.ErrorInfo{Code: "c", Message: "m"}, herm.StopCancelled
			u.StartedAt, u.CompletedAt = ptr(at(time.Hour)), ptr(at(time.Hour))
			u.Trigger, u.CreatedAt = herm.Trigger{Type: herm.TriggerAPI}, at(time.Hour)
			u.LeaseOwner, u.LeaseExpiresAt, u.CancelRequested = "x", at(time.Hour), true
			f.must(f.s.UpdateRun(f.ctx, &u, "node-a"))
			want := *claimed
			want.ConfigVersion, want.Model, want.Usage = u.ConfigVersion, u.Model, u.Usage
			wantDiff(t, "updated run", &want, f.getRun(r))

			// Fields can be cleared again.
			want.Usage.CostUSD = nil
			f.must(f.s.UpdateRun(f.ctx, &want, "node-a"))
			wantDiff(t, "cleared run", &want, f.getRun(r))

			// It tells of a cancel requested since the run was read.
			if want.CancelRequested {
				t.Fatal("UpdateRun reported a cancel nobody requested")
			}
			if _, err := f.s.CancelRun(f.ctx, r.ID, at(2*time.Second)); err != nil {
				t.Fatal(err)
			}
			f.must(f.s.UpdateRun(f.ctx, &want, "node-a"))
			if !want.CancelRequested {
				t.Fatal("UpdateRun did not report the requested cancel")
			}

			missing := *r
			missing.ID = "run_nope"
			wantCode(t, f.s.UpdateRun(f.ctx, &missing, "node-a"), herm.ENotFound)
			// A run that is not leased is not updated.
			q := f.run(d.ID, f.thread(d.ID).ID, herm.RunQueued, at(0))
			wantCode(t, f.s.UpdateRun(f.ctx, q, ""), herm.EConflict)
		}},
		{"Run/UpdateRunLease", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.run(d.ID, d.ThreadID, herm.RunQueued, at(0))
			claimed, err := f.claim("node-a", at(time.Second), at(time.Minute))
			f.must(err)
			if claimed == nil || claimed.ID != r.ID {
				t.Fatalf("ClaimRun = %+v, want %s", claimed, r.ID)
			}
			u := *claimed
			u.ConfigVersion, u.Model = 1, "demo/echo"
			wantCode(t, f.s.UpdateRun(f.ctx, &u, "node-b"), herm.EConflict)
			if got := f.getRun(r); got.ConfigVersion != 0 {
				t.Fatalf("a refused update changed the run: %+v", got)
			}
			f.must(f.s.UpdateRun(f.ctx, &u, "node-a"))

			// Once another node took the run over, the first owner's
			// updates are refused.
			taken, err := f.claim("node-b", at(2*time.Minute), at(3*time.Minute))
			f.must(err)
			if taken == nil || taken.ID != r.ID || taken.LeaseOwner != "node-b" {
				t.Fatalf("takeover ClaimRun = %+v", taken)
			}
			wantCode(t, f.s.UpdateRun(f.ctx, &u, "node-a"), herm.EConflict)
			f.must(f.s.UpdateRun(f.ctx, &u, "node-b"))
			// A waiting or finished run holds no lease.
			f.must(f.s.WaitForHuman(f.ctx, r.ID, "node-b"))
			wantCode(t, f.s.UpdateRun(f.ctx, &u, "node-b"), herm.EConflict)
			if got := f.getRun(r); got.Status != herm.RunWaitingOnHuman {
				t.Fatalf("status = %s, want waiting_on_human", got.Status)
			}
		}},
		{"Run/RenewLeases", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.run(d.ID, d.ThreadID, herm.RunQueued, at(0))
			_, err := f.claim("node-a", at(time.Second), at(time.Minute))
			f.must(err)

			if l, ok := f.renew("node-a", r.ID, at(2*time.Minute)); !ok || l.CancelRequested {
				t.Fatalf("renew: held %v, %+v", ok, l)
			}
			if got := f.getRun(r); !got.LeaseExpiresAt.Equal(at(2*time.Minute)) || got.LeaseOwner != "node-a" {
				t.Fatalf("after renew: lease %v owner %q", got.LeaseExpiresAt, got.LeaseOwner)
			}
			if _, ok := f.renew("node-b", r.ID, at(3*time.Minute)); ok {
				t.Fatal("another node renewed the lease")
			}
			if got := f.getRun(r); !got.LeaseExpiresAt.Equal(at(2 * time.Minute)) {
				t.Fatalf("another node's renewal moved the lease to %v", got.LeaseExpiresAt)
			}

			_, err = f.s.CancelRun(f.ctx, r.ID, at(2*time.Minute))
			f.must(err)
			if l, ok := f.renew("node-a", r.ID, at(3*time.Minute)); !ok || !l.CancelRequested {
				t.Fatalf("renew after a cancel: held %v, %+v; want the cancel shown", ok, l)
			}

			// A run that left running has no lease to renew.
			f.must(f.s.EndCancelled(f.ctx, r.ID, "node-a", at(3*time.Minute)))
			if _, ok := f.renew("node-a", r.ID, at(4*time.Minute)); ok {
				t.Fatal("renewed the lease of a cancelled run")
			}
			w := f.run(d.ID, f.thread(d.ID).ID, herm.RunQueued, at(time.Hour))
			_, err = f.claim("node-a", at(time.Hour), at(2*time.Hour))
			f.must(err)
			f.must(f.s.WaitForHuman(f.ctx, w.ID, "node-a"))
			if _, ok := f.renew("node-a", w.ID, at(2*time.Hour)); ok {
				t.Fatal("renewed the lease of a waiting run")
			}
		}},
		{"Run/ReleaseRunsOf", func(t *testing.T, f *fixture) {
			d := f.deployment()
			mk := func(st herm.RunStatus, owner string, created time.Duration) *herm.Run {
				r := &herm.Run{
					ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: f.thread(d.ID).ID, Status: st,
					Trigger: herm.Trigger{Type: herm.TriggerMessage}, LeaseOwner: owner, LeaseExpiresAt: at(time.Hour),
					CreatedAt: at(created), StartedAt: ptr(at(created)),
				}
				f.must(f.s.CreateRun(f.ctx, r))
				return r
			}
			ra := mk(herm.RunRunning, "node-a", 0)
			rb := mk(herm.RunRunning, "node-b", time.Second)
			rc := mk(herm.RunRunning, "node-c", 2*time.Second)
			mk(herm.RunWaitingOnHuman, "node-a", 3*time.Second)
			now := at(time.Minute)
			n, err := f.s.ReleaseRunsOf(f.ctx, "node-b", now)
			f.must(err)
			if n != 2 {
				t.Fatalf("ReleaseRunsOf = %d, want 2", n)
			}
			// Released runs are claimable at once, oldest first; the
			// excepted owner's lease holds.
			var claimed []string
			for {
				r, err := f.claim("node-b", now, now.Add(time.Minute))
				f.must(err)
				if r == nil {
					break
				}
				if r.LeaseOwner != "node-b" || r.StartedAt == nil || !r.StartedAt.Equal(r.CreatedAt) {
					t.Fatalf("claimed %+v", r)
				}
				claimed = append(claimed, r.ID)
			}
			wantDiff(t, "claimed", []string{ra.ID, rc.ID}, claimed)
			if got := f.getRun(rb); !got.LeaseExpiresAt.Equal(at(time.Hour)) {
				t.Fatalf("excepted owner's lease changed to %v", got.LeaseExpiresAt)
			}
		}},
		{"Run/CountByStatus", func(t *testing.T, f *fixture) {
			d := f.deployment()
			want := map[herm.RunStatus]int64{herm.RunQueued: 3, herm.RunRunning: 1, herm.RunCompleted: 2, herm.RunError: 1}
			for st, n := range want {
				for range n {
					f.run(d.ID, f.thread(d.ID).ID, st, at(0))
				}
			}
			got, err := f.s.CountRunsByStatus(f.ctx)
			f.must(err)
			for st, n := range got { // statuses without runs may be absent or 0
				if n == 0 {
					delete(got, st)
				}
			}
			wantDiff(t, "counts", want, got)
		}},
	}
}

func stepTests() []test {
	return []test{
		{"Step/AppendAndList", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.run(d.ID, d.ThreadID, herm.RunRunning, at(0))
			other := f.run(d.ID, d.ThreadID, herm.RunQueued, at(time.Second))
			steps := []*herm.RunStep{
				{RunID: r.ID, Index: 0, Kind: herm.StepInput, Data: json.RawMessage(`{"message_id":"msg_1","content":"hi"}`), CreatedAt: at(0)},
				{RunID: r.ID, Index: 1, Kind: herm.StepModel, Data: json.RawMessage(`{"text":"hello","tool_calls":[{"id":"c1","name":"bash","arguments":{"cmd":"ls"}}],"usage":{"input_tokens":3}}`), CreatedAt: at(time.Second)},
				{RunID: r.ID, Index: 2, Kind: herm.StepToolStart, Data: json.RawMessage(`{"tool_call_id":"c1","tool":"bash"}`), CreatedAt: at(2 * time.Second)},
				{RunID: r.ID, Index: 3, Kind: herm.StepToolResult, Data: json.RawMessage(`{"tool_call_id":"c1","result":"a\nb"}`), CreatedAt: at(3 * time.Second)},
			}
			for _, i := range []int{2, 0, 3, 1} { // stored out of order, listed in order
				f.must(f.s.AppendStep(f.ctx, steps[i]))
			}
			f.must(f.s.AppendStep(f.ctx, &herm.RunStep{RunID: other.ID, Index: 0, Kind: herm.StepInput, Data: json.RawMessage(`{}`), CreatedAt: at(0)}))

			got, err := f.s.ListSteps(f.ctx, r.ID)
			f.must(err)
			wantDiff(t, "steps", steps, got)

			dup := *steps[1]
			dup.Kind = herm.StepInput
			wantCode(t, f.s.AppendStep(f.ctx, &dup), herm.EConflict)
			wantCode(t, f.s.AppendStep(f.ctx, &herm.RunStep{RunID: "run_nope", Index: 0, Kind: herm.StepInput, Data: json.RawMessage(`{}`), CreatedAt: at(0)}), herm.ENotFound)
			got, err = f.s.ListSteps(f.ctx, r.ID)
			f.must(err)
			wantDiff(t, "steps after conflict", steps, got)
			got, err = f.s.ListSteps(f.ctx, "run_nope")
			f.must(err)
			if len(got) != 0 {
				t.Fatalf("steps of a missing run: %d", len(got))
			}
		}},
	}
}
