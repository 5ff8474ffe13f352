package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Transactions are not serialised (store.Store.InTx): these race tests run
// what a caller does in one on one handle against what another does on a
// second handle of the database, and check that the guarded statements
// (and ActiveRuns' hold on a thread) decide, not the order the reads came
// in. The "While" tests make the interleaving that breaks an unguarded
// read-then-write happen every time: the second transaction starts while
// the first holds what it took and has not committed.

// settle is how long interleave lets the other side reach the database.
const settle = 30 * time.Millisecond

// interleave runs before in a transaction on the fixture's store; then
// starts other (meant to use a second handle) and, once other had the time
// to reach the database and wait for what before took, runs after (when
// set) in the same transaction and commits. It returns the transaction's
// error and other's.
func (f *fixture) interleave(before func(q store.Querier) error, other func() error, after func(q store.Querier) error) (txErr, otherErr error) {
	done := make(chan error, 1)
	started := false
	txErr = f.s.InTx(f.ctx, func(q store.Querier) error {
		if err := before(q); err != nil {
			return err
		}
		started = true
		go func() { done <- other() }()
		time.Sleep(settle)
		if after != nil {
			return after(q)
		}
		return nil
	})
	if !started {
		f.t.Fatalf("the first transaction failed before the other started: %v", txErr)
	}
	return txErr, <-done
}

// provisioning stores a deployment in status provisioning.
func (f *fixture) provisioning() *herm.Deployment {
	f.t.Helper()
	d, th := f.newDeployment("cus_1")
	d.Status = herm.DeploymentProvisioning
	f.must(f.s.CreateDeployment(f.ctx, d, th))
	return d
}

// wantDeployment fails the test unless the stored deployment has status
// want, configuration version version and name name.
func (f *fixture) wantDeployment(id string, status herm.DeploymentStatus, version int, name string) {
	f.t.Helper()
	got, err := f.s.GetDeployment(f.ctx, id)
	f.must(err)
	if got.Status != status || got.ConfigVersion != version || got.Name != name {
		f.t.Fatalf("deployment is %s at version %d named %q, want %s at %d named %q",
			got.Status, got.ConfigVersion, got.Name, status, version, name)
	}
}

// refusedWhileDeleting runs op (on a second handle) while a transaction
// that begins d's deletion commits, and wants op refused (EConflict) and d
// deleting and unchanged otherwise.
func (f *fixture) refusedWhileDeleting(d *herm.Deployment, op func() error) {
	f.t.Helper()
	txErr, err := f.interleave(func(q store.Querier) error {
		return q.SetDeploymentStatus(f.ctx, d.ID, herm.DeploymentDeleting, nil, at(time.Minute))
	}, op, nil)
	f.must(txErr)
	wantCode(f.t, err, herm.EConflict)
	f.wantDeployment(d.ID, herm.DeploymentDeleting, 1, d.Name)
}

// waiting stores a run of a new thread of d waiting on a pending steering
// request.
func (f *fixture) waiting(d *herm.Deployment) (*herm.Run, *herm.SteeringRequest) {
	f.t.Helper()
	r := f.leased(d, "node-a")
	f.must(f.s.WaitForHuman(f.ctx, r.ID, "node-a"))
	return r, f.steering(r, "call_1", at(time.Hour))
}

// sendTo is what a Send in mode reject does to a thread in its
// transaction: the thread's active runs, then a queued run when there is
// none (EConflict otherwise).
func (f *fixture) sendTo(q store.Querier, d *herm.Deployment, threadID string) error {
	active, err := q.ActiveRuns(f.ctx, threadID)
	if err != nil {
		return err
	}
	if len(active) > 0 {
		return herm.Errorf(herm.EConflict, "the thread has an active run (%s)", active[0].ID)
	}
	return q.CreateRun(f.ctx, &herm.Run{
		ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: threadID, Status: herm.RunQueued,
		Trigger: herm.Trigger{Type: herm.TriggerMessage}, CreatedAt: at(time.Minute),
	})
}

func guardTests() []test {
	return []test{
		{"Deployment/StatusFrom", func(t *testing.T, f *fixture) {
			d := f.provisioning()
			info := &herm.ErrorInfo{Code: "provisioning_failed", Message: "no space left"}
			f.must(f.s.SetDeploymentStatusFrom(f.ctx, d.ID, herm.DeploymentProvisioning, herm.DeploymentError, info, at(time.Hour)))
			got, err := f.s.GetDeployment(f.ctx, d.ID)
			f.must(err)
			want := d.Clone()
			want.Status, want.Error, want.UpdatedAt = herm.DeploymentError, info, at(time.Hour)
			wantDiff(t, "deployment", want, got)
			// From another status: nothing changes.
			wantCode(t, f.s.SetDeploymentStatusFrom(f.ctx, d.ID, herm.DeploymentProvisioning, herm.DeploymentReady, nil, at(2*time.Hour)), herm.EConflict)
			got, err = f.s.GetDeployment(f.ctx, d.ID)
			f.must(err)
			wantDiff(t, "deployment after a refused move", want, got)
			wantCode(t, f.s.SetDeploymentStatusFrom(f.ctx, "dep_nope", herm.DeploymentProvisioning, herm.DeploymentReady, nil, at(0)), herm.ENotFound)
		}},
		{"Deployment/UpdateWhileDeleting", func(t *testing.T, f *fixture) {
			d := f.deployment()
			f.must(f.s.SetDeploymentStatus(f.ctx, d.ID, herm.DeploymentDeleting, nil, at(time.Minute)))
			u := d.Clone()
			u.ConfigVersion, u.Name = 2, "renamed"
			wantCode(t, f.s.UpdateDeploymentConfig(f.ctx, u), herm.EConflict)
			f.wantDeployment(d.ID, herm.DeploymentDeleting, 1, d.Name)
			_, err := f.s.DeploymentVersion(f.ctx, d.ID, 2)
			wantCode(t, err, herm.ENotFound)
		}},
		{"Race/DeleteVsProvisioned", func(t *testing.T, f *fixture) {
			// A deletion and the end of provisioning at once: the
			// deployment ends deleting either way (provisioning's move is
			// refused, or comes first and is overwritten).
			other := f.another()
			refused := 0
			for i := range rounds {
				d := f.provisioning()
				var deleteErr, provisionedErr error
				race(func() {
					deleteErr = f.s.SetDeploymentStatus(f.ctx, d.ID, herm.DeploymentDeleting, nil, at(time.Minute))
				}, func() {
					provisionedErr = other.SetDeploymentStatusFrom(f.ctx, d.ID, herm.DeploymentProvisioning, herm.DeploymentReady, nil, at(time.Minute))
				})
				f.must(deleteErr)
				if !won(t, "provisioned", provisionedErr) {
					refused++
				}
				if got, err := f.s.GetDeployment(f.ctx, d.ID); err != nil || got.Status != herm.DeploymentDeleting {
					t.Fatalf("round %d: deployment %+v (%v), want deleting", i, got, err)
				}
			}
			t.Logf("provisioning's move refused %d times of %d", refused, rounds)
		}},
		{"Race/ProvisionedWhileDeleting", func(t *testing.T, f *fixture) {
			// Provisioning ends while a deletion is being committed: its
			// move waits for the deletion and is then refused.
			other := f.another()
			d := f.provisioning()
			f.refusedWhileDeleting(d, func() error {
				return other.SetDeploymentStatusFrom(f.ctx, d.ID, herm.DeploymentProvisioning, herm.DeploymentReady, nil, at(time.Minute))
			})
		}},
		{"Race/TwoConfigUpdates", func(t *testing.T, f *fixture) {
			// Two updates of one version: one is stored (as the
			// deployment and as its version), the other is a conflict.
			other := f.another()
			d := f.deployment()
			for i := range rounds {
				v := 2 + i
				update := func(s store.Store, name string) func() error {
					u := d.Clone()
					u.ConfigVersion, u.Name, u.UpdatedAt = v, fmt.Sprintf("%s %d", name, v), at(time.Duration(v)*time.Minute)
					return func() error { return s.UpdateDeploymentConfig(f.ctx, u) }
				}
				a, b := update(f.s, "a"), update(other, "b")
				var errA, errB error
				race(func() { errA = a() }, func() { errB = b() })
				wonA, wonB := won(t, "a", errA), won(t, "b", errB)
				if wonA == wonB {
					t.Fatalf("round %d: a %v, b %v: want exactly one to win", i, errA, errB)
				}
				name := fmt.Sprintf("b %d", v)
				if wonA {
					name = fmt.Sprintf("a %d", v)
				}
				f.wantDeployment(d.ID, herm.DeploymentReady, v, name)
				ver, err := f.s.DeploymentVersion(f.ctx, d.ID, v)
				f.must(err)
				if ver.Name != name {
					t.Fatalf("round %d: version %d is named %q, want %q", i, v, ver.Name, name)
				}
			}
		}},
		{"Race/ConfigUpdateWhileDeleting", func(t *testing.T, f *fixture) {
			// An update read the deployment before its deletion began and
			// is stored while the deletion commits: refused.
			other := f.another()
			d := f.deployment()
			u := d.Clone()
			u.ConfigVersion, u.Name = 2, "late"
			f.refusedWhileDeleting(d, func() error { return other.UpdateDeploymentConfig(f.ctx, u) })
		}},
		{"Race/TwoResolves", func(t *testing.T, f *fixture) {
			// One request answered on two nodes at once: one decision is
			// recorded, the other answer is a conflict.
			other := f.another()
			d := f.deployment()
			for i := range rounds {
				_, sr := f.waiting(d)
				var approveErr, denyErr error
				race(func() {
					approveErr = f.s.ResolveSteeringRequest(f.ctx, sr.ID, herm.DecisionApprove, "yes", at(time.Minute))
				}, func() {
					denyErr = other.ResolveSteeringRequest(f.ctx, sr.ID, herm.DecisionDeny, "no", at(time.Minute))
				})
				approved, denied := won(t, "approve", approveErr), won(t, "deny", denyErr)
				if approved == denied {
					t.Fatalf("round %d: approve %v, deny %v: want exactly one to win", i, approveErr, denyErr)
				}
				want := herm.DecisionDeny
				if approved {
					want = herm.DecisionApprove
				}
				got, err := f.s.GetSteeringRequest(f.ctx, d.ID, sr.ID)
				f.must(err)
				if got.Status != herm.SteeringResolved || got.Decision != want {
					t.Fatalf("round %d: request %s %q, want resolved %q", i, got.Status, got.Decision, want)
				}
			}
		}},
		{"Race/ResolveWhileCancelling", func(t *testing.T, f *fixture) {
			// A cancel takes a waiting run, then denies its request; an
			// answer to that request arrives in between. The answer takes
			// the run first too (no deadlock: it would hold the request
			// and wait for the run, the cancel the other way round), waits
			// for the cancel, and finds the request resolved.
			other := f.another()
			d := f.deployment()
			r, sr := f.waiting(d)
			var cancelResumed, answerResumed bool
			txErr, answerErr := f.interleave(func(q store.Querier) error {
				_, err := q.CancelRun(f.ctx, r.ID, at(time.Minute))
				return err
			}, func() error {
				return other.InTx(f.ctx, func(q store.Querier) error {
					if err := q.ResolveSteeringRequest(f.ctx, sr.ID, herm.DecisionApprove, "", at(time.Minute)); err != nil {
						return err
					}
					var err error
					answerResumed, err = q.ResumeRun(f.ctx, r.ID)
					return err
				})
			}, func(q store.Querier) error {
				if err := q.ResolveSteeringRequest(f.ctx, sr.ID, herm.DecisionDeny, "the run was cancelled", at(time.Minute)); err != nil {
					return err
				}
				var err error
				cancelResumed, err = q.ResumeRun(f.ctx, r.ID)
				return err
			})
			f.must(txErr)
			wantCode(t, answerErr, herm.EConflict)
			got, err := f.s.GetSteeringRequest(f.ctx, d.ID, sr.ID)
			f.must(err)
			if got.Decision != herm.DecisionDeny || !cancelResumed || answerResumed {
				t.Fatalf("request %q; resumed by the cancel %v, by the answer %v", got.Decision, cancelResumed, answerResumed)
			}
			if run := f.wantStatus(r, herm.RunRunning); !run.CancelRequested {
				t.Fatal("the resumed run has no cancel requested")
			}
		}},
		{"Race/TwoSends", func(t *testing.T, f *fixture) {
			// Two sends that start a run only on an idle thread (mode
			// reject), on two nodes at once: one run.
			other := f.another()
			d := f.deployment()
			for i := range rounds {
				th := f.thread(d.ID)
				var errA, errB error
				race(func() {
					errA = f.s.InTx(f.ctx, func(q store.Querier) error { return f.sendTo(q, d, th.ID) })
				}, func() {
					errB = other.InTx(f.ctx, func(q store.Querier) error { return f.sendTo(q, d, th.ID) })
				})
				if a, b := won(t, "a", errA), won(t, "b", errB); a == b {
					t.Fatalf("round %d: a %v, b %v: want exactly one run", i, errA, errB)
				}
				active, err := f.s.ActiveRuns(f.ctx, th.ID)
				f.must(err)
				if len(active) != 1 {
					t.Fatalf("round %d: %d active runs", i, len(active))
				}
			}
		}},
		{"Race/SendWhileSending", func(t *testing.T, f *fixture) {
			// A send finds the thread idle and has not stored its run yet
			// when another send looks: that one waits and sees the run.
			other := f.another()
			d := f.deployment()
			th := f.thread(d.ID)
			txErr, otherErr := f.interleave(func(q store.Querier) error {
				active, err := q.ActiveRuns(f.ctx, th.ID)
				if err == nil && len(active) > 0 {
					err = fmt.Errorf("%d active runs on a new thread", len(active))
				}
				return err
			}, func() error {
				return other.InTx(f.ctx, func(q store.Querier) error { return f.sendTo(q, d, th.ID) })
			}, func(q store.Querier) error {
				return q.CreateRun(f.ctx, &herm.Run{
					ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: th.ID, Status: herm.RunQueued,
					Trigger: herm.Trigger{Type: herm.TriggerMessage}, CreatedAt: at(time.Minute),
				})
			})
			f.must(txErr)
			wantCode(t, otherErr, herm.EConflict)
		}},
		{"Race/CompleteWhileSending", func(t *testing.T, f *fixture) {
			// A send found the thread's run running and steers a message
			// into it; the run's completion arrives in between: it waits
			// for the send and sees the input (the steer never finds the
			// run ended).
			other := f.another()
			d := f.deployment()
			r := f.leased(d, "node-a")
			txErr, completeErr := f.interleave(func(q store.Querier) error {
				active, err := q.ActiveRuns(f.ctx, r.ThreadID)
				if err == nil && (len(active) != 1 || active[0].ID != r.ID) {
					err = fmt.Errorf("active runs %+v, want %s", active, r.ID)
				}
				return err
			}, func() error {
				return other.CompleteRun(f.ctx, r.ID, "node-a", herm.StopEndTurn, at(time.Minute))
			}, func(q store.Querier) error {
				if _, err := q.SteerRun(f.ctx, r.ID); err != nil {
					return err
				}
				return q.CreateMessage(f.ctx, &herm.Message{
					ID: f.id(herm.PrefixMessage), DeploymentID: d.ID, ThreadID: r.ThreadID, RunID: r.ID,
					Role: herm.RoleUser, Content: "also this", Pending: true, CreatedAt: at(time.Minute),
				})
			})
			f.must(txErr)
			wantIs(t, completeErr, store.ErrInputPending)
			f.wantStatus(r, herm.RunRunning)
		}},
		{"Race/SendWhileCompleting", func(t *testing.T, f *fixture) {
			// A run is being completed when a send reads the thread's
			// active runs: the send waits and does not see it.
			other := f.another()
			d := f.deployment()
			r := f.leased(d, "node-a")
			var active []*herm.Run
			txErr, sendErr := f.interleave(func(q store.Querier) error {
				return q.CompleteRun(f.ctx, r.ID, "node-a", herm.StopEndTurn, at(time.Minute))
			}, func() error {
				return other.InTx(f.ctx, func(q store.Querier) error {
					var err error
					active, err = q.ActiveRuns(f.ctx, r.ThreadID)
					return err
				})
			}, nil)
			f.must(txErr)
			f.must(sendErr)
			if len(active) != 0 {
				t.Fatalf("the send saw %s %s as active", active[0].ID, active[0].Status)
			}
		}},
	}
}
