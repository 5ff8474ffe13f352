package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// rounds is how many times each race runs.
const rounds = 20

// race runs a and b at the same time, a on the fixture's store and b on a
// second handle on its database, and waits for both.
func race(a, b func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { <-start; a() })
	wg.Go(func() { <-start; b() })
	close(start)
	wg.Wait()
}

// won reports whether a transition won: nil. Losing is an EConflict;
// anything else fails the test.
func won(t *testing.T, what string, err error) bool {
	t.Helper()
	if err != nil && herm.ErrorCode(err) != herm.EConflict {
		t.Errorf("%s: %v", what, err)
	}
	return err == nil
}

func raceTests() []test {
	return []test{
		{"Race/TwoClaims", func(t *testing.T, f *fixture) {
			// Two nodes claim at once: each run is claimed once, and never
			// two runs of one thread.
			other := f.another()
			d := f.deployment()
			threads := []string{d.ThreadID, f.thread(d.ID).ID, f.thread(d.ID).ID}
			var want []string
			for i := range rounds {
				r := f.run(d.ID, threads[i%len(threads)], herm.RunQueued, at(time.Duration(i)*time.Second))
				if i < len(threads) {
					want = append(want, r.ID)
				}
			}
			var mu sync.Mutex
			claimed := map[string]string{}
			claim := func(s store.Store, owner string) func() {
				return func() {
					for {
						r, err := s.ClaimRun(f.ctx, owner, at(time.Hour), at(2*time.Hour))
						if err != nil {
							t.Errorf("ClaimRun(%s): %v", owner, err)
							return
						}
						if r == nil {
							return
						}
						mu.Lock()
						if prev, ok := claimed[r.ID]; ok {
							t.Errorf("run %s claimed by %s and %s", r.ID, prev, owner)
						}
						claimed[r.ID] = owner
						mu.Unlock()
					}
				}
			}
			// (Two claimers of one node: a deployment's runs are claimed by
			// its owner only.)
			f.must(f.s.OwnEverything(f.ctx, "node-a"))
			race(claim(f.s, "node-a"), claim(other, "node-a"))
			var got []string
			for id := range claimed {
				got = append(got, id)
			}
			slices.Sort(want)
			slices.Sort(got)
			wantDiff(t, "claimed runs (the oldest of each thread)", want, got)
		}},
		{"Race/ClaimOneRun", func(t *testing.T, f *fixture) {
			other := f.another()
			d := f.deployment()
			f.must(f.s.OwnEverything(f.ctx, "node-a"))
			for i := range rounds {
				r := f.run(d.ID, f.thread(d.ID).ID, herm.RunQueued, at(time.Duration(i)*time.Second))
				var ra, rb *herm.Run
				var errA, errB error
				race(func() {
					ra, errA = f.s.ClaimRun(f.ctx, "node-a", at(time.Hour), at(2*time.Hour))
				}, func() {
					rb, errB = other.ClaimRun(f.ctx, "node-a", at(time.Hour), at(2*time.Hour))
				})
				f.must(errA)
				f.must(errB)
				if (ra == nil) == (rb == nil) {
					t.Fatalf("round %d: claims %+v and %+v, want exactly one", i, ra, rb)
				}
				f.must(f.s.CompleteRun(f.ctx, r.ID, "node-a", herm.StopEndTurn, at(time.Hour)))
			}
		}},
		{"Race/SteerVsComplete", func(t *testing.T, f *fixture) {
			// A message steered into a run and the run's completion: the
			// run either takes the message (completion refused) or is
			// completed (steering refused); a completed run never has
			// pending input.
			other := f.another()
			d := f.deployment()
			var steered, completed int
			for i := range rounds {
				r := f.leased(d, "node-a")
				var steerErr, completeErr error
				race(func() {
					steerErr = f.s.InTx(f.ctx, func(q store.Querier) error {
						if _, err := q.SteerRun(f.ctx, r.ID); err != nil {
							return err
						}
						return q.CreateMessage(f.ctx, &herm.Message{
							ID: f.id(herm.PrefixMessage), DeploymentID: d.ID, ThreadID: r.ThreadID, RunID: r.ID,
							Role: herm.RoleUser, Content: "also this", Pending: true, CreatedAt: at(time.Minute),
						})
					})
				}, func() {
					completeErr = other.CompleteRun(f.ctx, r.ID, "node-a", herm.StopEndTurn, at(time.Minute))
				})
				s, c := won(t, "steer", steerErr), won(t, "complete", completeErr)
				if s == c {
					t.Fatalf("round %d: steer %v, complete %v: want exactly one to win", i, steerErr, completeErr)
				}
				pending, err := f.s.PendingMessages(f.ctx, r.ID)
				f.must(err)
				if s {
					steered++
					wantIs(t, completeErr, store.ErrInputPending)
					f.wantStatus(r, herm.RunRunning)
					if len(pending) != 1 {
						t.Fatalf("round %d: steered run has %d pending messages", i, len(pending))
					}
				} else {
					completed++
					f.wantStatus(r, herm.RunCompleted)
					if len(pending) != 0 {
						t.Fatalf("round %d: completed run has %d pending messages", i, len(pending))
					}
				}
			}
			t.Logf("steered %d, completed %d", steered, completed)
		}},
		{"Race/CompleteWhileSteering", func(t *testing.T, f *fixture) {
			// The completion arrives while the steering transaction holds
			// the run (SteerRun done, its message not yet written): it
			// must wait for that transaction and then see the input, not
			// decide on what it read before (write skew).
			other := f.another()
			d := f.deployment()
			r := f.leased(d, "node-a")
			steered := make(chan struct{})
			completed := make(chan error, 1)
			err := f.s.InTx(f.ctx, func(q store.Querier) error {
				if _, err := q.SteerRun(f.ctx, r.ID); err != nil {
					return err
				}
				go func() {
					close(steered)
					completed <- other.CompleteRun(f.ctx, r.ID, "node-a", herm.StopEndTurn, at(time.Minute))
				}()
				<-steered
				time.Sleep(20 * time.Millisecond) // let the completion reach the database
				return q.CreateMessage(f.ctx, &herm.Message{
					ID: f.id(herm.PrefixMessage), DeploymentID: d.ID, ThreadID: r.ThreadID, RunID: r.ID,
					Role: herm.RoleUser, Content: "also this", Pending: true, CreatedAt: at(time.Minute),
				})
			})
			f.must(err)
			wantIs(t, <-completed, store.ErrInputPending)
			f.wantStatus(r, herm.RunRunning)
		}},
		{"Race/RenewVsTakeover", func(t *testing.T, f *fixture) {
			// A lease expires while its owner renews it and another node
			// claims the run: exactly one of them holds it afterwards.
			other := f.another()
			d := f.deployment()
			for i := range rounds {
				r := f.leased(d, "node-a")                 // leased until at(time.Hour)
				f.must(f.s.OwnEverything(f.ctx, "node-b")) // node-b adopted the deployment
				now := at(time.Hour + time.Duration(i)*time.Second)
				var renewed bool
				var claimErr error
				var claimed *herm.Run
				race(func() {
					_, renewed = f.renew("node-a", r.ID, now.Add(time.Minute))
				}, func() {
					claimed, claimErr = other.ClaimRun(f.ctx, "node-b", now, now.Add(time.Minute))
				})
				f.must(claimErr)
				took := claimed != nil
				if renewed == took || took && claimed.ID != r.ID {
					t.Fatalf("round %d: renewed %v, claimed %+v: want exactly one", i, renewed, claimed)
				}
				want := "node-a"
				if took {
					want = "node-b"
				}
				if got := f.getRun(r); got.LeaseOwner != want {
					t.Fatalf("round %d: leased to %q, want %q", i, got.LeaseOwner, want)
				}
				f.must(f.s.FailRun(f.ctx, r.ID, want, &herm.ErrorInfo{Code: "x", Message: "x"}, now))
			}
		}},
		{"Race/CancelVsClaim", func(t *testing.T, f *fixture) {
			// Cancelling a queued run while a node claims it: either it is
			// cancelled and never claimed, or claimed with its cancel
			// requested (the owner ends it).
			other := f.another()
			d := f.deployment()
			f.must(f.s.OwnEverything(f.ctx, "node-b"))
			for i := range rounds {
				r := f.run(d.ID, f.thread(d.ID).ID, herm.RunQueued, at(time.Duration(i)*time.Second))
				var cancelled, claimed *herm.Run
				var cancelErr, claimErr error
				race(func() {
					cancelled, cancelErr = f.s.CancelRun(f.ctx, r.ID, at(time.Hour))
				}, func() {
					claimed, claimErr = other.ClaimRun(f.ctx, "node-b", at(time.Hour), at(2*time.Hour))
				})
				f.must(cancelErr)
				f.must(claimErr)
				got := f.getRun(r)
				switch {
				case claimed == nil:
					if cancelled.Status != herm.RunCancelled || got.Status != herm.RunCancelled {
						t.Fatalf("round %d: unclaimed run is %s (cancel saw %s)", i, got.Status, cancelled.Status)
					}
				default:
					if claimed.ID != r.ID || cancelled.Status != herm.RunRunning || got.Status != herm.RunRunning || !got.CancelRequested {
						t.Fatalf("round %d: claimed %s; cancel saw %s; stored %+v", i, claimed.ID, cancelled.Status, got)
					}
					f.must(other.EndCancelled(f.ctx, r.ID, "node-b", at(time.Hour)))
				}
			}
		}},
		{"Race/CancelVsComplete", func(t *testing.T, f *fixture) {
			// The owner completes while a cancel arrives: the run ends
			// completed either way (a requested cancel does not undo a
			// finished turn), and a cancel after the end is refused.
			other := f.another()
			d := f.deployment()
			for i := range rounds {
				r := f.leased(d, "node-a")
				var cancelErr, completeErr error
				var cancelled *herm.Run
				race(func() {
					cancelled, cancelErr = f.s.CancelRun(f.ctx, r.ID, at(time.Minute))
				}, func() {
					completeErr = other.CompleteRun(f.ctx, r.ID, "node-a", herm.StopEndTurn, at(time.Minute))
				})
				f.must(completeErr)
				got := f.wantStatus(r, herm.RunCompleted)
				if won(t, "cancel", cancelErr) {
					if cancelled.Status != herm.RunRunning || !got.CancelRequested {
						t.Fatalf("round %d: cancel won on a %s run; stored %+v", i, cancelled.Status, got)
					}
				} else if got.CancelRequested {
					t.Fatalf("round %d: a refused cancel left cancel_requested", i)
				}
			}
		}},
		{"Race/CancelVsWaitForHuman", func(t *testing.T, f *fixture) {
			// A run pausing for a human while a cancel arrives: either the
			// pause is refused (the owner ends the run) or the cancel
			// finds the run waiting (and denies its requests).
			other := f.another()
			d := f.deployment()
			for i := range rounds {
				r := f.leased(d, "node-a")
				var cancelled *herm.Run
				var cancelErr, waitErr error
				race(func() {
					cancelled, cancelErr = f.s.CancelRun(f.ctx, r.ID, at(time.Minute))
				}, func() {
					waitErr = other.WaitForHuman(f.ctx, r.ID, "node-a")
				})
				f.must(cancelErr)
				if won(t, "wait", waitErr) {
					if cancelled.Status != herm.RunWaitingOnHuman {
						t.Fatalf("round %d: the run paused, but the cancel saw it %s", i, cancelled.Status)
					}
				} else {
					wantIs(t, waitErr, store.ErrCancelRequested)
					if cancelled.Status != herm.RunRunning {
						t.Fatalf("round %d: the pause was refused, but the cancel saw the run %s", i, cancelled.Status)
					}
					f.wantStatus(r, herm.RunRunning)
				}
			}
		}},
		{"Race/TwoAnswers", func(t *testing.T, f *fixture) {
			// A run waits on two requests; each is answered on its own
			// node, each answer resuming the run if nothing else is
			// pending: the run resumes exactly once, after both.
			other := f.another()
			d := f.deployment()
			for i := range rounds {
				r := f.leased(d, "node-a")
				f.must(f.s.WaitForHuman(f.ctx, r.ID, "node-a"))
				s1, s2 := f.steering(r, "call_1", at(time.Hour)), f.steering(r, "call_2", at(time.Hour))
				answer := func(s store.Store, sr *herm.SteeringRequest, resumed *bool, errp *error) func() {
					return func() {
						*errp = s.InTx(f.ctx, func(q store.Querier) error {
							if err := q.ResolveSteeringRequest(f.ctx, sr.ID, herm.DecisionApprove, "", at(time.Minute)); err != nil {
								return err
							}
							var err error
							*resumed, err = q.ResumeRun(f.ctx, r.ID)
							return err
						})
					}
				}
				var r1, r2 bool
				var e1, e2 error
				race(answer(f.s, s1, &r1, &e1), answer(other, s2, &r2, &e2))
				f.must(e1)
				f.must(e2)
				if r1 == r2 {
					t.Fatalf("round %d: resumed by the first answer %v, by the second %v: want exactly one", i, r1, r2)
				}
				if got := f.wantStatus(r, herm.RunRunning); got.LeaseOwner != "" {
					t.Fatalf("round %d: resumed run still leased to %q", i, got.LeaseOwner)
				}
			}
		}},
		{"Race/EndsOfOneRun", func(t *testing.T, f *fixture) {
			// Two ends of one run (a completion on one handle, a failure
			// on the other, as a panicking execution and its loop might):
			// one wins, the run ends once.
			other := f.another()
			d := f.deployment()
			for i := range rounds {
				r := f.leased(d, "node-a")
				var completeErr, failErr error
				race(func() {
					completeErr = f.s.CompleteRun(f.ctx, r.ID, "node-a", herm.StopEndTurn, at(time.Minute))
				}, func() {
					failErr = other.FailRun(f.ctx, r.ID, "node-a", &herm.ErrorInfo{Code: "internal_error", Message: "x"}, at(time.Minute))
				})
				c, fl := won(t, "complete", completeErr), won(t, "fail", failErr)
				if c == fl {
					t.Fatalf("round %d: complete %v, fail %v: want exactly one to win", i, completeErr, failErr)
				}
				got := f.getRun(r)
				if c && (got.Status != herm.RunCompleted || got.Error != nil) || fl && (got.Status != herm.RunError || got.Error == nil) {
					t.Fatalf("round %d: complete won %v; stored %+v", i, c, got)
				}
			}
		}},
	}
}
