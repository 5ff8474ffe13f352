package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// leased stores a running run of a new thread of d, leased to owner for an
// hour from at(0).
func (f *fixture) leased(d *herm.Deployment, owner string) *herm.Run {
	f.t.Helper()
	r := &herm.Run{
		ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: f.thread(d.ID).ID, Status: herm.RunRunning,
		Trigger: herm.Trigger{Type: herm.TriggerMessage}, LeaseOwner: owner, LeaseExpiresAt: at(time.Hour),
		CreatedAt: at(0), StartedAt: ptr(at(0)),
	}
	f.must(f.s.CreateRun(f.ctx, r))
	return r
}

// wantStatus fails the test unless the run's stored status is want.
func (f *fixture) wantStatus(r *herm.Run, want herm.RunStatus) *herm.Run {
	f.t.Helper()
	got := f.getRun(r)
	if got.Status != want {
		f.t.Fatalf("run %s is %s, want %s", r.ID, got.Status, want)
	}
	return got
}

// wantIs fails the test unless err is an EConflict wrapping target.
func wantIs(t *testing.T, err, target error) {
	t.Helper()
	if herm.ErrorCode(err) != herm.EConflict || !errors.Is(err, target) {
		t.Fatalf("error = %v, want a conflict wrapping %v", err, target)
	}
}

func transitionTests() []test {
	return []test{
		{"Transition/SteerRun", func(t *testing.T, f *fixture) {
			d := f.deployment()
			q := f.run(d.ID, d.ThreadID, herm.RunQueued, at(0))
			got, err := f.s.SteerRun(f.ctx, q.ID)
			f.must(err)
			wantDiff(t, "steered run", f.getRun(q), got)
			running := f.leased(d, "node-a")
			_, err = f.s.SteerRun(f.ctx, running.ID)
			f.must(err)
			for _, st := range []herm.RunStatus{herm.RunWaitingOnHuman, herm.RunCompleted, herm.RunError, herm.RunCancelled} {
				r := f.run(d.ID, f.thread(d.ID).ID, st, at(0))
				_, err := f.s.SteerRun(f.ctx, r.ID)
				wantCode(t, err, herm.EConflict)
			}
			_, err = f.s.SteerRun(f.ctx, "run_nope")
			wantCode(t, err, herm.ENotFound)
		}},
		{"Transition/CompleteRun", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.leased(d, "node-a")
			m := f.message(d.ID, r.ThreadID, r.ID, true, at(time.Second))
			wantIs(t, f.s.CompleteRun(f.ctx, r.ID, "node-a", herm.StopEndTurn, at(time.Minute)), store.ErrInputPending)
			before := f.wantStatus(r, herm.RunRunning)
			if before.CompletedAt != nil || before.StopReason != "" {
				t.Fatalf("a refused completion changed the run: %+v", before)
			}
			f.must(f.s.TakeMessage(f.ctx, m.ID, at(time.Second)))
			wantCode(t, f.s.CompleteRun(f.ctx, r.ID, "node-b", herm.StopEndTurn, at(time.Minute)), herm.EConflict)
			f.must(f.s.CompleteRun(f.ctx, r.ID, "node-a", herm.StopMaxSteps, at(time.Minute)))
			want := *before
			want.Status, want.StopReason, want.CompletedAt = herm.RunCompleted, herm.StopMaxSteps, ptr(at(time.Minute))
			wantDiff(t, "completed run", &want, f.getRun(r))
			wantCode(t, f.s.CompleteRun(f.ctx, r.ID, "node-a", herm.StopEndTurn, at(time.Hour)), herm.EConflict)
			wantCode(t, f.s.CompleteRun(f.ctx, "run_nope", "node-a", herm.StopEndTurn, at(time.Hour)), herm.ENotFound)
			// Only a running run completes.
			q := f.run(d.ID, f.thread(d.ID).ID, herm.RunQueued, at(0))
			wantCode(t, f.s.CompleteRun(f.ctx, q.ID, "", herm.StopEndTurn, at(time.Hour)), herm.EConflict)
			f.wantStatus(q, herm.RunQueued)
		}},
		{"Transition/FailRun", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.leased(d, "node-a")
			m := f.message(d.ID, r.ThreadID, r.ID, true, at(time.Second))
			e := &herm.ErrorInfo{Code: "model_error", Message: "overloaded"}
			wantCode(t, f.s.FailRun(f.ctx, r.ID, "node-b", e, at(time.Minute)), herm.EConflict)
			before := f.wantStatus(r, herm.RunRunning)
			f.must(f.s.FailRun(f.ctx, r.ID, "node-a", e, at(time.Minute)))
			want := *before
			want.Status, want.StopReason, want.Error, want.CompletedAt = herm.RunError, herm.StopError, e, ptr(at(time.Minute))
			wantDiff(t, "failed run", &want, f.getRun(r))
			// Its input is the caller's to release.
			pending, err := f.s.PendingMessages(f.ctx, r.ID)
			f.must(err)
			if len(pending) != 1 || pending[0].ID != m.ID {
				t.Fatalf("pending after FailRun: %v", pending)
			}
			wantCode(t, f.s.FailRun(f.ctx, r.ID, "node-a", e, at(time.Hour)), herm.EConflict)
			wantCode(t, f.s.FailRun(f.ctx, "run_nope", "node-a", e, at(time.Hour)), herm.ENotFound)
		}},
		{"Transition/EndCancelled", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.leased(d, "node-a")
			_, err := f.s.CancelRun(f.ctx, r.ID, at(time.Second))
			f.must(err)
			wantCode(t, f.s.EndCancelled(f.ctx, r.ID, "node-b", at(time.Minute)), herm.EConflict)
			before := f.wantStatus(r, herm.RunRunning)
			f.must(f.s.EndCancelled(f.ctx, r.ID, "node-a", at(time.Minute)))
			want := *before
			want.Status, want.StopReason, want.CompletedAt = herm.RunCancelled, herm.StopCancelled, ptr(at(time.Minute))
			wantDiff(t, "cancelled run", &want, f.getRun(r))
			wantCode(t, f.s.EndCancelled(f.ctx, r.ID, "node-a", at(time.Hour)), herm.EConflict)
			wantCode(t, f.s.EndCancelled(f.ctx, "run_nope", "node-a", at(time.Hour)), herm.ENotFound)
		}},
		{"Transition/CancelRun", func(t *testing.T, f *fixture) {
			d := f.deployment()
			// A queued run ends at once.
			q := f.run(d.ID, d.ThreadID, herm.RunQueued, at(0))
			got, err := f.s.CancelRun(f.ctx, q.ID, at(time.Minute))
			f.must(err)
			want := *q
			want.Status, want.StopReason, want.CompletedAt, want.CancelRequested = herm.RunCancelled, herm.StopCancelled, ptr(at(time.Minute)), true
			wantDiff(t, "cancelled queued run", &want, got)
			wantDiff(t, "stored cancelled run", &want, f.getRun(q))
			if ids := f.claimAll("node-a", at(time.Hour)); len(ids) != 0 {
				t.Fatalf("claimed a cancelled run: %v", ids)
			}
			// A running or waiting one is asked to end.
			for _, st := range []herm.RunStatus{herm.RunRunning, herm.RunWaitingOnHuman} {
				r := f.leased(d, "node-a")
				if st == herm.RunWaitingOnHuman {
					f.must(f.s.WaitForHuman(f.ctx, r.ID, "node-a"))
				}
				before := f.wantStatus(r, st)
				got, err := f.s.CancelRun(f.ctx, r.ID, at(time.Minute))
				f.must(err)
				want := *before
				want.CancelRequested = true
				wantDiff(t, "cancel requested", &want, got)
				wantDiff(t, "stored cancel requested", &want, f.getRun(r))
			}
			for _, st := range []herm.RunStatus{herm.RunCompleted, herm.RunError, herm.RunCancelled} {
				r := f.run(d.ID, f.thread(d.ID).ID, st, at(0))
				_, err := f.s.CancelRun(f.ctx, r.ID, at(time.Minute))
				wantCode(t, err, herm.EConflict)
				if f.getRun(r).CancelRequested {
					t.Fatalf("a refused cancel changed a %s run", st)
				}
			}
			_, err = f.s.CancelRun(f.ctx, "run_nope", at(time.Minute))
			wantCode(t, err, herm.ENotFound)
		}},
		{"Transition/WaitForHuman", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.leased(d, "node-a")
			wantCode(t, f.s.WaitForHuman(f.ctx, r.ID, "node-b"), herm.EConflict)
			f.must(f.s.WaitForHuman(f.ctx, r.ID, "node-a"))
			f.wantStatus(r, herm.RunWaitingOnHuman)
			wantCode(t, f.s.WaitForHuman(f.ctx, r.ID, "node-a"), herm.EConflict)
			wantCode(t, f.s.WaitForHuman(f.ctx, "run_nope", "node-a"), herm.ENotFound)
			// A cancel requested first wins: nobody would end a waiting run.
			c := f.leased(d, "node-a")
			_, err := f.s.CancelRun(f.ctx, c.ID, at(time.Second))
			f.must(err)
			wantIs(t, f.s.WaitForHuman(f.ctx, c.ID, "node-a"), store.ErrCancelRequested)
			f.wantStatus(c, herm.RunRunning)
		}},
		{"Transition/ReleaseRun", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.leased(d, "node-a")
			wantCode(t, f.s.ReleaseRun(f.ctx, r.ID, "node-b", at(time.Minute)), herm.EConflict)
			if ids := f.claimAll("node-b", at(time.Minute)); len(ids) != 0 {
				t.Fatalf("claimed a leased run: %v", ids)
			}
			f.must(f.s.ReleaseRun(f.ctx, r.ID, "node-a", at(time.Minute)))
			got := f.wantStatus(r, herm.RunRunning)
			if !got.LeaseExpiresAt.Equal(at(time.Minute)) {
				t.Fatalf("lease expires at %v after release, want %v", got.LeaseExpiresAt, at(time.Minute))
			}
			wantDiff(t, "claims after release", ids(r), f.claimAll("node-b", at(time.Minute)))
			wantCode(t, f.s.ReleaseRun(f.ctx, r.ID, "node-a", at(time.Minute)), herm.EConflict)
			wantCode(t, f.s.ReleaseRun(f.ctx, "run_nope", "node-a", at(time.Minute)), herm.ENotFound)
		}},
		{"Transition/InTxRollsBack", func(t *testing.T, f *fixture) {
			// A transition inside a transaction that fails is undone.
			d := f.deployment()
			r := f.leased(d, "node-a")
			boom := errors.New("boom")
			err := f.s.InTx(f.ctx, func(q store.Querier) error {
				if err := q.CompleteRun(f.ctx, r.ID, "node-a", herm.StopEndTurn, at(time.Minute)); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("InTx = %v, want boom", err)
			}
			f.wantStatus(r, herm.RunRunning)
		}},
	}
}
