package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hermhq/herm/internal/herm"
)

// ownedDeployment stores a deployment owned by owner ("" for none).
func (f *fixture) ownedDeployment(owner string) *herm.Deployment {
	f.t.Helper()
	d, t := f.newDeployment("cus_1")
	d.Owner = owner
	f.must(f.s.CreateDeployment(f.ctx, d, t))
	return d
}

func nodeTests() []test {
	return []test{
		{"Node/Registration", func(t *testing.T, f *fixture) {
			f.must(f.s.JoinNode(f.ctx, "node-a", "a1", at(0), at(time.Minute)))
			f.must(f.s.JoinNode(f.ctx, "node-b", "b1", at(0), at(2*time.Minute)))
			live, err := f.s.LiveNodes(f.ctx, at(30*time.Second))
			f.must(err)
			wantDiff(t, "live nodes", []string{"node-a", "node-b"}, live)
			// Expired at its expiry time.
			live, err = f.s.LiveNodes(f.ctx, at(time.Minute))
			f.must(err)
			wantDiff(t, "live nodes when a's registration expires", []string{"node-b"}, live)
			f.must(f.s.HeartbeatNode(f.ctx, "node-a", "a1", at(3*time.Minute)))
			live, err = f.s.LiveNodes(f.ctx, at(2*time.Minute))
			f.must(err)
			wantDiff(t, "live nodes after a's heartbeat", []string{"node-a"}, live)

			// A second process registers as node-a: the first one's
			// heartbeat fails, and its leave changes nothing.
			f.must(f.s.JoinNode(f.ctx, "node-a", "a2", at(time.Minute), at(4*time.Minute)))
			wantCode(t, f.s.HeartbeatNode(f.ctx, "node-a", "a1", at(5*time.Minute)), herm.EConflict)
			f.must(f.s.LeaveNode(f.ctx, "node-a", "a1", at(time.Minute)))
			live, err = f.s.LiveNodes(f.ctx, at(time.Minute))
			f.must(err)
			wantDiff(t, "live nodes after a stale leave", []string{"node-a", "node-b"}, live)
			f.must(f.s.HeartbeatNode(f.ctx, "node-a", "a2", at(5*time.Minute)))
			f.must(f.s.LeaveNode(f.ctx, "node-a", "a2", at(time.Minute)))
			wantCode(t, f.s.HeartbeatNode(f.ctx, "node-a", "a2", at(5*time.Minute)), herm.EConflict)
			live, err = f.s.LiveNodes(f.ctx, at(time.Minute))
			f.must(err)
			wantDiff(t, "live nodes after a left", []string{"node-b"}, live)

			// Nodes dead for a day are forgotten when one joins.
			f.must(f.s.JoinNode(f.ctx, "node-c", "c1", at(25*time.Hour), at(25*time.Hour+time.Minute)))
			f.must(f.s.HeartbeatNode(f.ctx, "node-c", "c1", at(26*time.Hour)))
			wantCode(t, f.s.HeartbeatNode(f.ctx, "node-b", "b1", at(26*time.Hour)), herm.EConflict)
		}},
		{"Node/OwnersClaim", func(t *testing.T, f *fixture) {
			// Only a deployment's owner claims its runs.
			f.must(f.s.JoinNode(f.ctx, "node-a", "a1", at(0), at(time.Hour)))
			f.must(f.s.JoinNode(f.ctx, "node-b", "b1", at(0), at(time.Hour)))
			da, db, none := f.ownedDeployment("node-a"), f.ownedDeployment("node-b"), f.ownedDeployment("")
			got, err := f.s.GetDeployment(f.ctx, da.ID)
			f.must(err)
			if got.Owner != "node-a" {
				t.Fatalf("owner %q, want node-a", got.Owner)
			}
			ra := f.run(da.ID, da.ThreadID, herm.RunQueued, at(time.Second))
			rb := f.run(db.ID, db.ThreadID, herm.RunQueued, at(2*time.Second))
			f.run(none.ID, none.ThreadID, herm.RunQueued, at(3*time.Second))
			claim := func(owner string) []string {
				var ids []string
				for {
					r, err := f.s.ClaimRun(f.ctx, owner, at(time.Minute), at(2*time.Minute))
					f.must(err)
					if r == nil {
						return ids
					}
					ids = append(ids, r.ID)
				}
			}
			wantDiff(t, "node-a's claims", []string{ra.ID}, claim("node-a"))
			wantDiff(t, "node-b's claims", []string{rb.ID}, claim("node-b"))
			wantDiff(t, "node-c's claims", []string(nil), claim("node-c"))

			for owner, want := range map[string][]string{"node-a": {da.ID}, "node-b": {db.ID}, "": {da.ID, db.ID, none.ID}} {
				ids, err := f.s.ListDeploymentIDsByStatus(f.ctx, herm.DeploymentReady, owner)
				f.must(err)
				wantDiff(t, "ready deployments of "+owner, want, ids, cmpopts.SortSlices(func(x, y string) bool { return x < y }))
			}
		}},
		{"Node/Adopt", func(t *testing.T, f *fixture) {
			f.must(f.s.JoinNode(f.ctx, "node-a", "a1", at(0), at(time.Hour)))
			f.must(f.s.JoinNode(f.ctx, "node-b", "b1", at(0), at(time.Hour)))
			idle := f.ownedDeployment("")            // no work: nobody needs to adopt it
			queued := f.ownedDeployment("")          // a queued run
			owned := f.ownedDeployment("node-a")     // work, and a live owner
			orphan := f.ownedDeployment("node-dead") // work, and an owner that is not registered
			provisioning := f.ownedDeployment("")
			f.must(f.s.SetDeploymentStatus(f.ctx, provisioning.ID, herm.DeploymentProvisioning, nil, at(0)))
			f.run(queued.ID, queued.ThreadID, herm.RunQueued, at(time.Second))
			f.run(owned.ID, owned.ThreadID, herm.RunQueued, at(time.Second))
			r := f.leased(orphan, "node-dead") // leased until at(time.Hour)

			sorted := cmpopts.SortSlices(func(x, y string) bool { return x < y })
			ids, err := f.s.AdoptableDeployments(f.ctx, at(time.Minute), 0)
			f.must(err)
			wantDiff(t, "adoptable while the dead node's lease runs", []string{queued.ID, provisioning.ID}, ids, sorted)
			ids, err = f.s.AdoptableDeployments(f.ctx, at(time.Hour), 0)
			f.must(err)
			// At at(time.Hour) node-a's registration has expired too.
			wantDiff(t, "adoptable once leases and registrations expired", []string{queued.ID, owned.ID, orphan.ID, provisioning.ID}, ids, sorted)
			ids, err = f.s.AdoptableDeployments(f.ctx, at(time.Hour), 1)
			f.must(err)
			if len(ids) != 1 {
				t.Fatalf("limit 1: %v", ids)
			}
			_ = idle

			// One adopter wins; the owner keeps it while it lives.
			ok, err := f.s.AdoptDeployment(f.ctx, orphan.ID, "node-b", at(time.Minute))
			f.must(err)
			if !ok {
				t.Fatal("node-b could not adopt a deployment whose owner is not registered")
			}
			ok, err = f.s.AdoptDeployment(f.ctx, orphan.ID, "node-a", at(time.Minute))
			f.must(err)
			if ok {
				t.Fatal("node-a adopted a deployment node-b owns")
			}
			ok, err = f.s.AdoptDeployment(f.ctx, owned.ID, "node-b", at(time.Minute))
			f.must(err)
			if ok {
				t.Fatal("node-b adopted a deployment of a live node")
			}
			ok, err = f.s.AdoptDeployment(f.ctx, owned.ID, "node-b", at(time.Hour))
			f.must(err)
			if !ok {
				t.Fatal("node-b could not adopt the deployment of a node whose registration expired")
			}
			// The adopter takes the dead node's run over once its lease expired.
			got, err := f.s.ClaimRun(f.ctx, "node-b", at(time.Minute), at(2*time.Minute))
			f.must(err)
			if got != nil && got.ID == r.ID {
				t.Fatal("a run was taken over before its lease expired")
			}
			ok, err = f.s.AdoptDeployment(f.ctx, "dep_missing", "node-b", at(time.Minute))
			if ok || err != nil {
				t.Fatalf("adopting a missing deployment: %v, %v", ok, err)
			}
		}},
		{"Node/LeasesAndLeave", func(t *testing.T, f *fixture) {
			// A node's heartbeat renews all its runs' leases in one
			// statement and sees their cancels; leaving lets go of its runs
			// and deployments at once.
			f.must(f.s.JoinNode(f.ctx, "node-a", "a1", at(0), at(time.Hour)))
			f.must(f.s.JoinNode(f.ctx, "node-b", "b1", at(0), at(time.Hour)))
			da, db := f.ownedDeployment("node-a"), f.ownedDeployment("node-b")
			a1, a2, b1 := f.leased(da, "node-a"), f.leased(da, "node-a"), f.leased(db, "node-b")
			_, err := f.s.CancelRun(f.ctx, a2.ID, at(time.Second))
			f.must(err)
			leases, err := f.s.RenewLeases(f.ctx, "node-a", at(2*time.Hour))
			f.must(err)
			wantDiff(t, "renewed leases", []herm.Lease{{RunID: a1.ID}, {RunID: a2.ID, CancelRequested: true}}, leases,
				cmpopts.SortSlices(func(x, y herm.Lease) bool { return x.RunID < y.RunID }))
			for _, r := range []*herm.Run{a1, a2} {
				if got := f.getRun(r); !got.LeaseExpiresAt.Equal(at(2 * time.Hour)) {
					t.Fatalf("lease of %s until %v", r.ID, got.LeaseExpiresAt)
				}
			}
			if got := f.getRun(b1); !got.LeaseExpiresAt.Equal(at(time.Hour)) {
				t.Fatalf("another node's lease changed: %v", got.LeaseExpiresAt)
			}

			f.must(f.s.LeaveNode(f.ctx, "node-a", "a1", at(time.Minute)))
			d, err := f.s.GetDeployment(f.ctx, da.ID)
			f.must(err)
			if d.Owner != "" {
				t.Fatalf("a left node still owns %s", d.Owner)
			}
			ids, err := f.s.AdoptableDeployments(f.ctx, at(time.Minute), 0)
			f.must(err)
			wantDiff(t, "adoptable after the leave", []string{da.ID}, ids)
			ok, err := f.s.AdoptDeployment(f.ctx, da.ID, "node-b", at(time.Minute))
			f.must(err)
			if !ok {
				t.Fatal("not adopted")
			}
			var got []string
			for range 3 {
				r, err := f.s.ClaimRun(f.ctx, "node-b", at(time.Minute), at(time.Hour))
				f.must(err)
				if r != nil {
					got = append(got, r.ID)
				}
			}
			wantDiff(t, "runs node-b takes over at once", []string{a1.ID, a2.ID}, got, cmpopts.SortSlices(func(x, y string) bool { return x < y }))
			if leases, err := f.s.RenewLeases(f.ctx, "node-a", at(2*time.Hour)); err != nil || len(leases) != 0 {
				t.Fatalf("node-a renewed %v, %v after leaving", leases, err)
			}
			// A leave of any incarnation ("": a restart of the node).
			f.must(f.s.LeaveNode(f.ctx, "node-b", "", at(time.Minute)))
			if live, _ := f.s.LiveNodes(f.ctx, at(time.Minute)); len(live) != 0 {
				t.Fatalf("live after leaving: %v", live)
			}
		}},
		{"Node/OwnEverything", func(t *testing.T, f *fixture) {
			f.must(f.s.JoinNode(f.ctx, "node-a", "a1", at(0), at(time.Hour)))
			f.must(f.s.JoinNode(f.ctx, "node-b", "b1", at(0), at(time.Hour)))
			da, none := f.ownedDeployment("node-a"), f.ownedDeployment("")
			f.must(f.s.OwnEverything(f.ctx, "node-b"))
			for _, d := range []*herm.Deployment{da, none} {
				got, err := f.s.GetDeployment(f.ctx, d.ID)
				f.must(err)
				if got.Owner != "node-b" {
					t.Fatalf("owner %q", got.Owner)
				}
			}
			if live, _ := f.s.LiveNodes(f.ctx, at(time.Minute)); len(live) != 1 || live[0] != "node-b" {
				t.Fatalf("live nodes %v", live)
			}
		}},
		{"Race/TwoAdopters", func(t *testing.T, f *fixture) {
			// Two nodes adopt the same orphan at once: exactly one wins.
			other := f.another()
			f.must(f.s.JoinNode(f.ctx, "node-a", "a1", at(0), at(time.Hour)))
			f.must(f.s.JoinNode(f.ctx, "node-b", "b1", at(0), at(time.Hour)))
			for i := range rounds {
				d := f.ownedDeployment("")
				f.run(d.ID, d.ThreadID, herm.RunQueued, at(time.Duration(i)*time.Second))
				var okA, okB bool
				var errA, errB error
				race(func() {
					okA, errA = f.s.AdoptDeployment(f.ctx, d.ID, "node-a", at(time.Minute))
				}, func() {
					okB, errB = other.AdoptDeployment(f.ctx, d.ID, "node-b", at(time.Minute))
				})
				f.must(errA)
				f.must(errB)
				if okA == okB {
					t.Fatalf("round %d: adopted by a %v, by b %v; want exactly one", i, okA, okB)
				}
			}
		}},
	}
}

func automationTests() []test {
	newAutomation := func(f *fixture, d *herm.Deployment, next time.Time) *herm.Automation {
		return &herm.Automation{ID: f.id(herm.PrefixAutomation), DeploymentID: d.ID, Name: "n", Schedule: "hourly", Cron: "0 * * * *",
			Timezone: "UTC", Instructions: "x", ThreadID: d.ThreadID, Enabled: true, MissedRunPolicy: herm.MissedRunOnce,
			Overlap: herm.OverlapSkip, NextRunAt: ptr(next), CreatedAt: at(0), UpdatedAt: at(0)}
	}
	return []test{
		{"Automation/CRUD", func(t *testing.T, f *fixture) {
			d := f.deployment()
			a := newAutomation(f, d, at(time.Hour))
			f.must(f.s.CreateAutomation(f.ctx, a))
			wantCode(t, f.s.CreateAutomation(f.ctx, a), herm.EConflict)
			missing := newAutomation(f, d, at(time.Hour))
			missing.DeploymentID = "dep_missing"
			wantCode(t, f.s.CreateAutomation(f.ctx, missing), herm.ENotFound)
			got, err := f.s.GetAutomation(f.ctx, d.ID, a.ID)
			f.must(err)
			wantDiff(t, "stored automation", a, got)
			_, err = f.s.GetAutomation(f.ctx, "dep_other", a.ID)
			wantCode(t, err, herm.ENotFound)

			b := newAutomation(f, d, at(2*time.Hour))
			f.must(f.s.CreateAutomation(f.ctx, b))
			list, err := f.s.ListAutomations(f.ctx, d.ID, herm.Page{})
			f.must(err)
			wantDiff(t, "list (newest first)", []*herm.Automation{b, a}, list)
			list, err = f.s.ListAutomations(f.ctx, d.ID, herm.Page{Limit: 1, Cursor: b.ID})
			f.must(err)
			wantDiff(t, "second page", []*herm.Automation{a}, list)

			// Versions: a change is stored only over the version it was
			// made from.
			stale := *got
			got.Name = "renamed"
			f.must(f.s.UpdateAutomation(f.ctx, got))
			if got.Version != a.Version+1 {
				t.Fatalf("version %d after an update of %d", got.Version, a.Version)
			}
			stale.Instructions = "lost update"
			wantCode(t, f.s.UpdateAutomation(f.ctx, &stale), herm.EConflict)
			now, err := f.s.GetAutomation(f.ctx, d.ID, a.ID)
			f.must(err)
			wantDiff(t, "after a refused stale update", got, now)
			gone := *got
			gone.ID = "auto_missing"
			wantCode(t, f.s.UpdateAutomation(f.ctx, &gone), herm.ENotFound)

			f.must(f.s.DeleteAutomation(f.ctx, d.ID, a.ID))
			wantCode(t, f.s.DeleteAutomation(f.ctx, d.ID, a.ID), herm.ENotFound)
			_, err = f.s.GetAutomation(f.ctx, d.ID, a.ID)
			wantCode(t, err, herm.ENotFound)
		}},
		{"Automation/ToCheck", func(t *testing.T, f *fixture) {
			d := f.deployment()
			due := newAutomation(f, d, at(time.Hour))
			later := newAutomation(f, d, at(3*time.Hour))
			retry := newAutomation(f, d, at(3*time.Hour))
			retry.RetryAt = ptr(at(time.Hour))
			disabled := newAutomation(f, d, at(time.Hour))
			disabled.Enabled = false
			watching := newAutomation(f, d, at(3*time.Hour))
			watching.LastRunID, watching.LastRunStatus = "run_1", string(herm.RunRunning)
			ended := newAutomation(f, d, at(3*time.Hour))
			ended.LastRunID, ended.LastRunStatus = "run_2", string(herm.RunCompleted)
			for _, a := range []*herm.Automation{due, later, retry, disabled, watching, ended} {
				f.must(f.s.CreateAutomation(f.ctx, a))
			}
			got, err := f.s.AutomationsToCheck(f.ctx, at(time.Hour), 100)
			f.must(err)
			byID := cmpopts.SortSlices(func(x, y *herm.Automation) bool { return x.ID < y.ID })
			wantDiff(t, "to check at the due time", []*herm.Automation{due, retry, watching}, got, byID)
			got, err = f.s.AutomationsToCheck(f.ctx, at(time.Hour-time.Microsecond), 100)
			f.must(err)
			wantDiff(t, "to check just before", []*herm.Automation{watching}, got, byID)
			// Firing records the next due time: no longer due.
			due.NextRunAt = ptr(at(2 * time.Hour))
			f.must(f.s.UpdateAutomation(f.ctx, due))
			got, err = f.s.AutomationsToCheck(f.ctx, at(time.Hour), 100)
			f.must(err)
			wantDiff(t, "to check after the firing", []*herm.Automation{retry, watching}, got, byID)
			got, err = f.s.AutomationsToCheck(f.ctx, at(time.Hour), 1)
			f.must(err)
			if len(got) != 1 {
				t.Fatalf("limit 1: %d", len(got))
			}
			// A deployment's automations go with it.
			f.must(f.s.DeleteDeployment(f.ctx, d.ID))
			_, err = f.s.GetAutomation(f.ctx, d.ID, due.ID)
			wantCode(t, err, herm.ENotFound)
		}},
		{"Race/TwoFirings", func(t *testing.T, f *fixture) {
			// Two schedulers record a firing of the automation they both
			// read: exactly one is stored.
			other := f.another()
			d := f.deployment()
			a := newAutomation(f, d, at(time.Hour))
			f.must(f.s.CreateAutomation(f.ctx, a))
			for i := range rounds {
				read, err := f.s.GetAutomation(f.ctx, d.ID, a.ID)
				f.must(err)
				x, y := *read, *read
				x.LastRunID, y.LastRunID = "run_x", "run_y"
				x.NextRunAt, y.NextRunAt = ptr(at(time.Duration(i+2)*time.Hour)), ptr(at(time.Duration(i+2)*time.Hour))
				var errX, errY error
				var wg sync.WaitGroup
				start := make(chan struct{})
				wg.Go(func() { <-start; errX = f.s.UpdateAutomation(f.ctx, &x) })
				wg.Go(func() { <-start; errY = other.UpdateAutomation(f.ctx, &y) })
				close(start)
				wg.Wait()
				if won(t, "x", errX) == won(t, "y", errY) {
					t.Fatalf("round %d: both or neither stored (%v, %v)", i, errX, errY)
				}
			}
		}},
	}
}
