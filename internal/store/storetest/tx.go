package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

func txTests() []test {
	return []test{
		{"Tx/Commit", func(t *testing.T, f *fixture) {
			d, th := f.newDeployment("cus_1")
			r := &herm.Run{ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: th.ID, Status: herm.RunQueued,
				Trigger: herm.Trigger{Type: herm.TriggerMessage}, CreatedAt: at(0)}
			err := f.s.InTx(f.ctx, func(q store.Querier) error {
				if err := q.CreateDeployment(f.ctx, d, th); err != nil {
					return err
				}
				if err := q.CreateRun(f.ctx, r); err != nil {
					return err
				}
				return q.AppendEvents(f.ctx, []*herm.Event{event(d.ID, th.ID, r.ID, herm.EventRunStatus, 1)})
			})
			f.must(err)
			if _, err := f.s.GetDeployment(f.ctx, d.ID); err != nil {
				t.Fatal(err)
			}
			wantDiff(t, "run", r, f.getRun(r))
			f.wantBounds(d.ID, 1, 1)
		}},
		{"Tx/ReadsSeeOwnWrites", func(t *testing.T, f *fixture) {
			d, th := f.newDeployment("cus_1")
			err := f.s.InTx(f.ctx, func(q store.Querier) error {
				if err := q.CreateDeployment(f.ctx, d, th); err != nil {
					return err
				}
				if _, err := q.GetDeployment(f.ctx, d.ID); err != nil {
					return err
				}
				r := &herm.Run{ID: f.id(herm.PrefixRun), DeploymentID: d.ID, ThreadID: th.ID, Status: herm.RunQueued,
					Trigger: herm.Trigger{Type: herm.TriggerMessage}, CreatedAt: at(0)}
				if err := q.CreateRun(f.ctx, r); err != nil {
					return err
				}
				got, err := q.GetThread(f.ctx, d.ID, th.ID)
				if err != nil {
					return err
				}
				if got.Status != herm.ThreadRunning {
					t.Errorf("thread status in tx = %s, want running", got.Status)
				}
				if err := q.OwnEverything(f.ctx, "node-a"); err != nil {
					return err
				}
				claimed, err := q.ClaimRun(f.ctx, "node-a", at(time.Second), at(time.Minute))
				if err != nil {
					return err
				}
				if claimed == nil || claimed.ID != r.ID {
					t.Errorf("ClaimRun in tx = %+v, want %s", claimed, r.ID)
				}
				if err := q.AppendEvents(f.ctx, []*herm.Event{event(d.ID, "", "", herm.EventToken, 1)}); err != nil {
					return err
				}
				evs, err := q.ListEvents(f.ctx, d.ID, 0, 0, store.EventFilter{})
				if err != nil {
					return err
				}
				if len(evs) != 1 {
					t.Errorf("events in tx = %d, want 1", len(evs))
				}
				return nil
			})
			f.must(err)
		}},
		{"Tx/RollbackOnError", func(t *testing.T, f *fixture) {
			a := f.deployment()
			b, bt := f.newDeployment("cus_1")
			errBoom := errors.New("boom")
			err := f.s.InTx(f.ctx, func(q store.Querier) error {
				if err := q.CreateDeployment(f.ctx, b, bt); err != nil {
					return err
				}
				if err := q.AppendEvents(f.ctx, []*herm.Event{event(a.ID, "", "", herm.EventToken, 1), event(a.ID, "", "", herm.EventToken, 2)}); err != nil {
					return err
				}
				if err := q.CreateAPIKey(f.ctx, &herm.APIKey{ID: "key_1", Hash: "h", Scopes: []string{herm.ScopeAdmin}, CreatedAt: at(0)}); err != nil {
					return err
				}
				u := a.Clone()
				u.ConfigVersion, u.Name = 2, "changed"
				if err := q.UpdateDeploymentConfig(f.ctx, u); err != nil {
					return err
				}
				if err := q.SetDeploymentStatus(f.ctx, a.ID, herm.DeploymentError, nil, at(time.Hour)); err != nil {
					return err
				}
				return errBoom
			})
			if err != errBoom { // InTx returns fn's error unchanged, not wrapped
				t.Fatalf("InTx = %v, want fn's error unchanged", err)
			}
			_, err = f.s.GetDeployment(f.ctx, b.ID)
			wantCode(t, err, herm.ENotFound)
			f.wantBounds(a.ID, 0, 0)
			got, err := f.s.GetDeployment(f.ctx, a.ID)
			f.must(err)
			wantDiff(t, "deployment after rollback", a, got)
			n, err := f.s.CountAPIKeys(f.ctx)
			f.must(err)
			if n != 0 {
				t.Fatalf("API keys after rollback = %d", n)
			}
			wantDiff(t, "seqs after rollback", []int64{1}, seqs(f.appendEvents(a.ID, 1)))
		}},
		{"Tx/RollbackOnStoreError", func(t *testing.T, f *fixture) {
			var inner error
			err := f.s.InTx(f.ctx, func(q store.Querier) error {
				k := &herm.APIKey{ID: "key_1", Hash: "h1", Scopes: []string{herm.ScopeRead}, CreatedAt: at(0)}
				if err := q.CreateAPIKey(f.ctx, k); err != nil {
					return err
				}
				dup := *k
				dup.ID = "key_2"
				inner = q.CreateAPIKey(f.ctx, &dup)
				return inner
			})
			wantCode(t, err, herm.EConflict)
			if err != inner { // InTx returns fn's error unchanged, not wrapped
				t.Fatalf("InTx = %v, want fn's error %v unchanged", err, inner)
			}
			_, err = f.s.APIKeyByHash(f.ctx, "h1")
			wantCode(t, err, herm.ENotFound)
		}},
		{"Tx/RollbackOnPanic", func(t *testing.T, f *fixture) {
			func() {
				defer func() {
					if p := recover(); p != "boom" {
						t.Fatalf("recovered %v, want the panic of fn", p)
					}
				}()
				_ = f.s.InTx(f.ctx, func(q store.Querier) error {
					f.must(q.CreateAPIKey(f.ctx, &herm.APIKey{ID: "key_1", Hash: "h1", Scopes: []string{herm.ScopeRead}, CreatedAt: at(0)}))
					panic("boom")
				})
			}()
			_, err := f.s.APIKeyByHash(f.ctx, "h1")
			wantCode(t, err, herm.ENotFound)
			// The store is still usable.
			f.apiKey(2)
			f.must(f.s.InTx(f.ctx, func(q store.Querier) error {
				_, err := q.CountAPIKeys(f.ctx)
				return err
			}))
		}},
		{"Tx/CancelledContext", func(t *testing.T, f *fixture) {
			ctx, cancel := context.WithCancel(f.ctx)
			cancel()
			err := f.s.InTx(ctx, func(q store.Querier) error {
				return q.CreateAPIKey(ctx, &herm.APIKey{ID: "key_1", Hash: "h1", Scopes: []string{herm.ScopeRead}, CreatedAt: at(0)})
			})
			if err == nil {
				t.Fatal("InTx with a cancelled context succeeded")
			}
			_, err = f.s.APIKeyByHash(f.ctx, "h1")
			wantCode(t, err, herm.ENotFound)
		}},
	}
}

func pageTests() []test {
	return []test{
		{"Page/DefaultLimits", func(t *testing.T, f *fixture) {
			d := f.deployment()
			for range 24 {
				f.deployment()
				f.thread(d.ID)
				f.run(d.ID, d.ThreadID, herm.RunCompleted, at(0))
			}
			f.run(d.ID, d.ThreadID, herm.RunCompleted, at(0))
			for i := range 25 {
				f.apiKey(i)
			}
			f.appendEvents(d.ID, 150)

			deps, err := f.s.ListDeployments(f.ctx, herm.DeploymentFilter{})
			f.must(err)
			threads, err := f.s.ListThreads(f.ctx, d.ID, herm.Page{})
			f.must(err)
			runs, err := f.s.ListRuns(f.ctx, herm.RunFilter{DeploymentID: d.ID})
			f.must(err)
			keys, err := f.s.ListAPIKeys(f.ctx, herm.Page{})
			f.must(err)
			evs, err := f.s.ListEvents(f.ctx, d.ID, 0, 0, store.EventFilter{})
			f.must(err)
			got := []int{len(deps), len(threads), len(runs), len(keys), len(evs)}
			wantDiff(t, "page sizes (deployments, threads, runs, keys, events)", []int{20, 20, 20, 20, 100}, got)
		}},
	}
}
