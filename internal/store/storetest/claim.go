package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hermhq/herm/internal/herm"
)

// claimAll claims runs for owner until there is none left and returns their
// IDs in claim order.
func (f *fixture) claimAll(owner string, now time.Time) []string {
	f.t.Helper()
	f.must(f.s.OwnEverything(f.ctx, owner))
	var ids []string
	for range 1000 {
		r, err := f.claim(owner, now, now.Add(time.Minute))
		f.must(err)
		if r == nil {
			return ids
		}
		ids = append(ids, r.ID)
	}
	f.t.Fatal("ClaimRun never returned nil")
	return nil
}

// claim makes owner the owner of every deployment (as a node that
// adopted them) and claims a run for it.
func (f *fixture) claim(owner string, now, leaseUntil time.Time) (*herm.Run, error) {
	f.t.Helper()
	f.must(f.s.OwnEverything(f.ctx, owner))
	return f.s.ClaimRun(f.ctx, owner, now, leaseUntil)
}

// renew renews owner's leases until leaseUntil and returns run's lease
// among them.
func (f *fixture) renew(owner, runID string, leaseUntil time.Time) (herm.Lease, bool) {
	f.t.Helper()
	leases, err := f.s.RenewLeases(f.ctx, owner, leaseUntil)
	f.must(err)
	for _, l := range leases {
		if l.RunID == runID {
			return l, true
		}
	}
	return herm.Lease{}, false
}

// finish completes a claimed run as its owner.
func (f *fixture) finish(r *herm.Run, owner string, now time.Time) {
	f.t.Helper()
	f.must(f.s.CompleteRun(f.ctx, r.ID, owner, herm.StopEndTurn, now))
}

// ids returns the runs' IDs.
func ids(runs ...*herm.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

func claimTests() []test {
	return []test{
		{"Claim/Empty", func(t *testing.T, f *fixture) {
			r, err := f.claim("node-a", at(0), at(time.Minute))
			if r != nil || err != nil {
				t.Fatalf("ClaimRun on an empty store = %+v, %v; want nil, nil", r, err)
			}
		}},
		{"Claim/QueuedInOrderPerThread", func(t *testing.T, f *fixture) {
			d := f.deployment()
			q1 := f.run(d.ID, d.ThreadID, herm.RunQueued, at(time.Second))
			q2 := f.run(d.ID, d.ThreadID, herm.RunQueued, at(2*time.Second))
			q3 := f.run(d.ID, d.ThreadID, herm.RunQueued, at(2*time.Second)) // same time as q2: ID order

			now, until := at(time.Minute), at(2*time.Minute)
			got, err := f.claim("node-a", now, until)
			f.must(err)
			want := *q1
			want.Status, want.LeaseOwner, want.LeaseExpiresAt, want.StartedAt = herm.RunRunning, "node-a", until, ptr(now)
			wantDiff(t, "claimed run", &want, got)
			wantDiff(t, "stored run", &want, f.getRun(q1))

			// One active run per thread: the next starts when q1 ended.
			for _, next := range []*herm.Run{q2, q3} {
				wantDiff(t, "claims while the previous run is active", []string(nil), f.claimAll("node-a", now))
				f.finish(got, "node-a", now)
				got, err = f.claim("node-a", now, until)
				f.must(err)
				if got == nil || got.ID != next.ID {
					t.Fatalf("claimed %+v, want %s", got, next.ID)
				}
			}
			wantDiff(t, "claims at the end", []string(nil), f.claimAll("node-a", now))
		}},
		{"Claim/ThreadsInParallel", func(t *testing.T, f *fixture) {
			d, e := f.deployment(), f.deployment()
			b, c := f.thread(d.ID), f.thread(d.ID)
			e1 := f.run(e.ID, e.ThreadID, herm.RunQueued, at(500*time.Millisecond))
			a1 := f.run(d.ID, d.ThreadID, herm.RunQueued, at(1*time.Second))
			b1 := f.run(d.ID, b.ID, herm.RunQueued, at(2*time.Second))
			c1 := f.run(d.ID, c.ID, herm.RunQueued, at(3*time.Second))
			a2 := f.run(d.ID, d.ThreadID, herm.RunQueued, at(4*time.Second))
			wantDiff(t, "claims", ids(e1, a1, b1, c1), f.claimAll("node-a", at(time.Minute)))
			f.finish(a1, "node-a", at(time.Minute))
			wantDiff(t, "claims after a1", ids(a2), f.claimAll("node-a", at(time.Minute)))
		}},
		{"Claim/InsertionOrderNotClocks", func(t *testing.T, f *fixture) {
			// Runs queue in the order the database took them in, whatever
			// the created_at (another server's clock) or the id says.
			d := f.deployment()
			low, high := f.id(herm.PrefixRun), f.id(herm.PrefixRun)
			late := &herm.Run{ID: high, DeploymentID: d.ID, ThreadID: d.ThreadID, Status: herm.RunQueued,
				Trigger: herm.Trigger{Type: herm.TriggerMessage}, CreatedAt: at(time.Hour)} // a clock an hour ahead
			early := &herm.Run{ID: low, DeploymentID: d.ID, ThreadID: d.ThreadID, Status: herm.RunQueued,
				Trigger: herm.Trigger{Type: herm.TriggerMessage}, CreatedAt: at(time.Second)}
			f.must(f.s.CreateRun(f.ctx, late))
			f.must(f.s.CreateRun(f.ctx, early))
			other := f.thread(d.ID)
			f.must(f.s.CreateRun(f.ctx, &herm.Run{ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: other.ID, Status: herm.RunQueued,
				Trigger: herm.Trigger{Type: herm.TriggerMessage}, CreatedAt: at(0)}))
			got := f.claimAll("node-a", at(2*time.Hour))
			if len(got) != 2 || got[0] != high {
				t.Fatalf("claims %v: want %s (taken in first) first, and only one run of its thread", got, high)
			}
			f.must(f.s.CompleteRun(f.ctx, high, "node-a", herm.StopEndTurn, at(2*time.Hour)))
			wantDiff(t, "claims after the first ended", []string{low}, f.claimAll("node-a", at(2*time.Hour)))
		}},
		{"Claim/OneActiveRunPerThreadInTheSchema", func(t *testing.T, f *fixture) {
			// Whatever writes the rows, a thread never has two running or
			// waiting runs: the database refuses the second.
			d := f.deployment()
			active := func(status herm.RunStatus) error {
				return f.s.CreateRun(f.ctx, &herm.Run{ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: d.ThreadID, Status: status,
					Trigger: herm.Trigger{Type: herm.TriggerMessage}, LeaseOwner: "node-a", LeaseExpiresAt: at(time.Hour),
					CreatedAt: at(0), StartedAt: ptr(at(0))})
			}
			f.must(active(herm.RunRunning))
			wantCode(t, active(herm.RunRunning), herm.EConflict)
			wantCode(t, active(herm.RunWaitingOnHuman), herm.EConflict)
			other := f.thread(d.ID)
			f.must(f.s.CreateRun(f.ctx, &herm.Run{ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: other.ID, Status: herm.RunRunning,
				Trigger: herm.Trigger{Type: herm.TriggerMessage}, LeaseOwner: "node-a", LeaseExpiresAt: at(time.Hour), CreatedAt: at(0), StartedAt: ptr(at(0))}))
		}},
		{"Claim/WaitingOnHumanNeverClaimed", func(t *testing.T, f *fixture) {
			d := f.deployment()
			w := &herm.Run{
				ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: d.ThreadID, Status: herm.RunWaitingOnHuman,
				Trigger: herm.Trigger{Type: herm.TriggerMessage}, LeaseOwner: "node-gone", LeaseExpiresAt: at(time.Second),
				CreatedAt: at(0), StartedAt: ptr(at(0)),
			}
			f.must(f.s.CreateRun(f.ctx, w))
			q := f.run(d.ID, d.ThreadID, herm.RunQueued, at(time.Second))
			// A thread with a running run (lease held) blocks its queue too.
			busy := f.thread(d.ID)
			r := &herm.Run{
				ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: busy.ID, Status: herm.RunRunning,
				Trigger: herm.Trigger{Type: herm.TriggerMessage}, LeaseOwner: "node-b", LeaseExpiresAt: at(2 * time.Hour),
				CreatedAt: at(0), StartedAt: ptr(at(0)),
			}
			f.must(f.s.CreateRun(f.ctx, r))
			f.run(d.ID, busy.ID, herm.RunQueued, at(time.Second))

			wantDiff(t, "claims", []string(nil), f.claimAll("node-a", at(time.Hour)))
			// The waiting run resumes (claimed first, its lease expired) and
			// ends.
			resumed, err := f.s.ResumeRun(f.ctx, w.ID)
			f.must(err)
			if !resumed {
				t.Fatal("ResumeRun of a run without requests = false")
			}
			wantDiff(t, "claims of the resumed run", ids(w), f.claimAll("node-a", at(time.Hour)))
			f.must(f.s.EndCancelled(f.ctx, w.ID, "node-a", at(time.Hour)))
			wantDiff(t, "claims after the waiting run ended", ids(q), f.claimAll("node-a", at(time.Hour)))
		}},
		{"Claim/ExpiredLease", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.run(d.ID, d.ThreadID, herm.RunQueued, at(0))
			start := at(time.Second)
			first, err := f.claim("node-a", start, start.Add(time.Minute))
			f.must(err)
			if first == nil || first.ID != r.ID {
				t.Fatalf("first claim = %+v", first)
			}
			wantDiff(t, "claims before expiry", []string(nil), f.claimAll("node-b", start.Add(30*time.Second)))

			later, until := start.Add(2*time.Minute), start.Add(3*time.Minute)
			got, err := f.claim("node-b", later, until)
			f.must(err)
			want := *first
			want.LeaseOwner, want.LeaseExpiresAt = "node-b", until // StartedAt stays
			wantDiff(t, "reclaimed run", &want, got)
			if _, ok := f.renew("node-a", r.ID, until); ok {
				t.Fatal("the node that lost the run renewed its lease")
			}
		}},
		{"Claim/ExpiredBeforeQueued", func(t *testing.T, f *fixture) {
			d := f.deployment()
			running := func(created, expires time.Duration) *herm.Run {
				r := &herm.Run{
					ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: f.thread(d.ID).ID, Status: herm.RunRunning,
					Trigger: herm.Trigger{Type: herm.TriggerMessage}, LeaseOwner: "node-gone", LeaseExpiresAt: at(expires),
					CreatedAt: at(created), StartedAt: ptr(at(created)),
				}
				f.must(f.s.CreateRun(f.ctx, r))
				return r
			}
			qc := f.run(d.ID, d.ThreadID, herm.RunQueued, at(time.Second))
			ra := running(10*time.Second, 20*time.Second)
			rb := running(5*time.Second, 30*time.Second)
			running(2*time.Second, 2*time.Hour) // lease still held
			// Expired runs first, in the order they were taken in.
			wantDiff(t, "claims", ids(ra, rb, qc), f.claimAll("node-a", at(time.Minute)))
		}},
		{"Claim/Concurrent", func(t *testing.T, f *fixture) {
			d := f.deployment()
			var first []string
			for i := range 4 {
				th := f.thread(d.ID)
				for j := range 3 {
					r := f.run(d.ID, th.ID, herm.RunQueued, at(time.Duration(j*10+i)*time.Second))
					if j == 0 {
						first = append(first, r.ID)
					}
				}
			}
			var mu sync.Mutex
			var claimed []string
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for {
						r, err := f.claim("node-"+string(rune('a'+w)), at(time.Hour), at(2*time.Hour))
						if err != nil {
							t.Errorf("ClaimRun: %v", err)
							return
						}
						if r == nil {
							return
						}
						mu.Lock()
						claimed = append(claimed, r.ID)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			slices.Sort(first)
			wantDiff(t, "claimed runs", first, claimed, cmpopts.SortSlices(func(a, b string) bool { return a < b }))
		}},
	}
}
