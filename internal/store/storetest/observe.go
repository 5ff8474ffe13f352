package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

func observeTests() []test {
	return []test{
		{"Observation/ClaimsEndedRunsOnce", func(t *testing.T, f *fixture) {
			d := f.deployment()
			var ended []string
			for i, st := range []herm.RunStatus{herm.RunCompleted, herm.RunError, herm.RunCancelled} {
				ended = append(ended, f.run(d.ID, d.ThreadID, st, at(time.Duration(i)*time.Second)).ID)
			}
			f.run(d.ID, f.thread(d.ID).ID, herm.RunQueued, at(time.Minute))
			f.run(d.ID, f.thread(d.ID).ID, herm.RunRunning, at(time.Minute))
			f.must(f.s.OwnEverything(f.ctx, "n1"))
			if r, err := f.s.ClaimObservation(f.ctx, "n2"); err != nil || r != nil {
				t.Fatalf("a node that owns nothing claimed %v, %v", r, err)
			}
			var got []string
			for {
				r, err := f.s.ClaimObservation(f.ctx, "n1")
				f.must(err)
				if r == nil {
					break
				}
				got = append(got, r.ID)
			}
			wantDiff(t, "observed runs", ended, got)
		}},
		{"Observation/RaceClaimsEachRunOnce", func(t *testing.T, f *fixture) {
			d := f.deployment()
			const n = 20
			for i := range n {
				f.run(d.ID, d.ThreadID, herm.RunCompleted, at(time.Duration(i)*time.Second))
			}
			f.must(f.s.OwnEverything(f.ctx, "n1"))
			other := f.another()
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			for _, s := range []interface {
				ClaimObservation(ctx context.Context, owner string) (*herm.Run, error)
			}{f.s, other, f.s, other} {
				wg.Go(func() {
					for {
						r, err := s.ClaimObservation(f.ctx, "n1")
						if err != nil {
							t.Error(err)
							return
						}
						if r == nil {
							return
						}
						mu.Lock()
						seen[r.ID]++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(seen) != n {
				t.Fatalf("%d runs observed, want %d", len(seen), n)
			}
			for id, k := range seen {
				if k != 1 {
					t.Errorf("run %s claimed %d times", id, k)
				}
			}
		}},
		{"Observation/AddRunUsage", func(t *testing.T, f *fixture) {
			d := f.deployment()
			r := f.run(d.ID, d.ThreadID, herm.RunCompleted, at(0))
			other := f.another()
			var wg sync.WaitGroup
			for i := range 10 {
				s := f.s
				if i%2 == 1 {
					s = other
				}
				wg.Go(func() {
					if err := s.AddRunUsage(f.ctx, r.ID, herm.Usage{InputTokens: 10, OutputTokens: 1, CostUSD: ptr(0.5)}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			got, err := f.s.GetRun(f.ctx, d.ID, r.ID)
			f.must(err)
			if got.Usage.InputTokens != 100 || got.Usage.OutputTokens != 10 || got.Usage.CostUSD == nil || *got.Usage.CostUSD != 5 {
				t.Fatalf("usage %+v", got.Usage)
			}
			spent, err := f.s.DeploymentSpend(f.ctx, d.ID)
			f.must(err)
			if spent != 5 {
				t.Fatalf("spent %v, want 5", spent)
			}
			wantCode(t, f.s.AddRunUsage(f.ctx, "run_01JNFRR1MSBEFN4B44HKWMD5YD", herm.Usage{InputTokens: 1}), herm.ENotFound)
		}},
	}
}
