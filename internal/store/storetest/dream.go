package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

func dreamTests() []test {
	return []test{
		{"Dream/Candidates", func(t *testing.T, f *fixture) {
			dreaming := func() *herm.Deployment {
				d, th := f.newDeployment("cus_1")
				d.Features.Dreaming = true
				f.must(f.s.CreateDeployment(f.ctx, d, th))
				return d
			}
			idle := dreaming()
			busy := dreaming()
			f.run(busy.ID, busy.ThreadID, herm.RunRunning, at(0))
			queued := dreaming()
			f.run(queued.ID, queued.ThreadID, herm.RunQueued, at(0))
			f.deployment() // dreaming off
			f.must(f.s.OwnEverything(f.ctx, "n1"))

			got, err := f.s.DreamCandidates(f.ctx, "n1", at(time.Hour), at(time.Hour), 10)
			f.must(err)
			wantDiff(t, "candidates", []string{idle.ID}, got)
			if got, err := f.s.DreamCandidates(f.ctx, "n2", at(time.Hour), at(time.Hour), 10); err != nil || len(got) != 0 {
				t.Fatalf("a node that owns nothing got %v, %v", got, err)
			}
			// Activity after idleSince: not idle.
			if got, err := f.s.DreamCandidates(f.ctx, "n1", at(-time.Hour), at(time.Hour), 10); err != nil || len(got) != 0 {
				t.Fatalf("candidates active since: %v, %v", got, err)
			}

			won, err := f.s.ClaimDream(f.ctx, idle.ID, at(2*time.Hour), at(time.Hour), at(time.Hour))
			f.must(err)
			if !won {
				t.Fatal("the claim of an idle deployment lost")
			}
			if won, err := f.s.ClaimDream(f.ctx, idle.ID, at(2*time.Hour), at(time.Hour), at(time.Hour)); err != nil || won {
				t.Fatalf("a second claim within the period: %v, %v", won, err)
			}
			if won, err := f.s.ClaimDream(f.ctx, busy.ID, at(2*time.Hour), at(time.Hour), at(time.Hour)); err != nil || won {
				t.Fatalf("the claim of a busy deployment: %v, %v", won, err)
			}
			if got, err := f.s.DreamCandidates(f.ctx, "n1", at(time.Hour), at(time.Hour), 10); err != nil || len(got) != 0 {
				t.Fatalf("candidates after the dream: %v, %v", got, err)
			}
			// A day later it may dream again.
			if got, err := f.s.DreamCandidates(f.ctx, "n1", at(time.Hour), at(26*time.Hour), 10); err != nil || len(got) != 1 {
				t.Fatalf("candidates a day later: %v, %v", got, err)
			}
		}},
		{"Dream/RaceClaimsOnce", func(t *testing.T, f *fixture) {
			d, th := f.newDeployment("cus_1")
			d.Features.Dreaming = true
			f.must(f.s.CreateDeployment(f.ctx, d, th))
			other := f.another()
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := range 8 {
				s := f.s
				if i%2 == 1 {
					s = other
				}
				wg.Go(func() {
					won, err := s.ClaimDream(f.ctx, d.ID, at(2*time.Hour), at(time.Hour), at(time.Hour))
					if err != nil {
						t.Error(err)
					}
					if won {
						wins.Add(1)
					}
				})
			}
			wg.Wait()
			if n := wins.Load(); n != 1 {
				t.Fatalf("%d claims won, want 1", n)
			}
		}},
		{"Dream/CreateListResolve", func(t *testing.T, f *fixture) {
			d := f.deployment()
			before, after := "likes tea", "Likes tea."
			var dreams []*herm.Dream
			for i, st := range []string{herm.DreamApplied, herm.DreamProposed, herm.DreamProposed} {
				dr := &herm.Dream{
					ID: f.id(herm.PrefixDream), DeploymentID: d.ID, RunID: f.id(herm.PrefixRun), Status: st,
					Changes:   []herm.DreamChange{{Op: "update", MemoryID: "mem_1", Before: &before, After: &after}, {Op: "delete", MemoryID: "mem_2", Before: &before}},
					CreatedAt: at(time.Duration(i) * time.Second),
				}
				f.must(f.s.CreateDream(f.ctx, dr))
				dreams = append(dreams, dr)
			}
			got, err := f.s.GetDream(f.ctx, d.ID, dreams[0].ID)
			f.must(err)
			wantDiff(t, "dream", dreams[0], got)
			_, err = f.s.GetDream(f.ctx, "dep_other", dreams[0].ID)
			wantCode(t, err, herm.ENotFound)

			list, err := f.s.ListDreams(f.ctx, d.ID, "", 2)
			f.must(err)
			wantDiff(t, "first page", []*herm.Dream{dreams[2], dreams[1]}, list)
			list, err = f.s.ListDreams(f.ctx, d.ID, dreams[1].ID, 2)
			f.must(err)
			wantDiff(t, "second page", []*herm.Dream{dreams[0]}, list)

			res, err := f.s.ResolveDream(f.ctx, d.ID, dreams[1].ID, herm.DreamDiscarded, at(time.Minute))
			f.must(err)
			if res.Status != herm.DreamDiscarded || res.ResolvedAt == nil || !res.ResolvedAt.Equal(at(time.Minute)) {
				t.Fatalf("resolved: %+v", res)
			}
			_, err = f.s.ResolveDream(f.ctx, d.ID, dreams[1].ID, herm.DreamApplied, at(time.Minute))
			wantCode(t, err, herm.EConflict)
			_, err = f.s.ResolveDream(f.ctx, d.ID, dreams[0].ID, herm.DreamApplied, at(time.Minute))
			wantCode(t, err, herm.EConflict)
			_, err = f.s.ResolveDream(f.ctx, d.ID, "drm_none", herm.DreamApplied, at(time.Minute))
			wantCode(t, err, herm.ENotFound)

			// Racing resolutions: one wins.
			other := f.another()
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i, st := range []string{herm.DreamApplied, herm.DreamDiscarded, herm.DreamApplied, herm.DreamDiscarded} {
				s := f.s
				if i%2 == 1 {
					s = other
				}
				wg.Go(func() {
					if _, err := s.ResolveDream(f.ctx, d.ID, dreams[2].ID, st, at(time.Minute)); err == nil {
						wins.Add(1)
					} else if herm.ErrorCode(err) != herm.EConflict {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n := wins.Load(); n != 1 {
				t.Fatalf("%d resolutions won, want 1", n)
			}
		}},
	}
}
