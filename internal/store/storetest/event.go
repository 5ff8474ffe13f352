package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// wantBounds checks EventBounds.
func (f *fixture) wantBounds(deploymentID string, first, last int64) {
	f.t.Helper()
	gotFirst, gotLast, err := f.s.EventBounds(f.ctx, deploymentID)
	f.must(err)
	if gotFirst != first || gotLast != last {
		f.t.Fatalf("EventBounds = (%d, %d), want (%d, %d)", gotFirst, gotLast, first, last)
	}
}

// allEvents lists every event of a deployment.
func (f *fixture) allEvents(deploymentID string) []*herm.Event {
	f.t.Helper()
	var out []*herm.Event
	var after int64
	for {
		page, err := f.s.ListEvents(f.ctx, deploymentID, after, 1000, store.EventFilter{})
		f.must(err)
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

func eventTests() []test {
	return []test{
		{"Event/SequenceAcrossCalls", func(t *testing.T, f *fixture) {
			d := f.deployment()
			f.wantBounds(d.ID, 0, 0)
			first := f.appendEvents(d.ID, 3)
			wantDiff(t, "first seqs", []int64{1, 2, 3}, seqs(first))
			second := f.appendEvents(d.ID, 2)
			wantDiff(t, "second seqs", []int64{4, 5}, seqs(second))
			one := f.appendEvents(d.ID, 1)
			wantDiff(t, "third seqs", []int64{6}, seqs(one))
			f.must(f.s.AppendEvents(f.ctx, nil)) // nothing to do
			f.wantBounds(d.ID, 1, 6)

			got, err := f.s.ListEvents(f.ctx, d.ID, 0, 0, store.EventFilter{})
			f.must(err)
			wantDiff(t, "events", slices.Concat(first, second, one), got)
		}},
		{"Event/MixedBatch", func(t *testing.T, f *fixture) {
			a, b := f.deployment(), f.deployment()
			f.appendEvents(b.ID, 2)
			batch := []*herm.Event{
				event(a.ID, "", "", herm.EventToken, 1),
				event(b.ID, "", "", herm.EventToken, 2),
				event(a.ID, "", "", herm.EventToken, 3),
				event(a.ID, "", "", herm.EventToken, 4),
				event(b.ID, "", "", herm.EventToken, 5),
			}
			f.must(f.s.AppendEvents(f.ctx, batch))
			wantDiff(t, "seqs", []int64{1, 3, 2, 3, 4}, seqs(batch))
			next := []*herm.Event{event(b.ID, "", "", herm.EventToken, 6), event(a.ID, "", "", herm.EventToken, 7)}
			f.must(f.s.AppendEvents(f.ctx, next))
			wantDiff(t, "next seqs", []int64{5, 4}, seqs(next))
			f.wantBounds(a.ID, 1, 4)
			f.wantBounds(b.ID, 1, 5)

			gotA := f.allEvents(a.ID)
			wantDiff(t, "events of a", []*herm.Event{batch[0], batch[2], batch[3], next[1]}, gotA)
			gotB := f.allEvents(b.ID)
			wantDiff(t, "events of b", []int64{1, 2, 3, 4, 5}, seqs(gotB))
		}},
		{"Event/CreatedAt", func(t *testing.T, f *fixture) {
			d := f.deployment()
			unset := &herm.Event{DeploymentID: d.ID, Type: herm.EventUsage}
			set := event(d.ID, "", "", herm.EventUsage, 7)
			f.must(f.s.AppendEvents(f.ctx, []*herm.Event{unset, set}))
			if unset.CreatedAt.IsZero() {
				t.Fatal("AppendEvents left CreatedAt zero")
			}
			if !set.CreatedAt.Equal(at(7 * time.Second)) {
				t.Fatalf("AppendEvents changed a set CreatedAt to %v", set.CreatedAt)
			}
			wantDiff(t, "events", []*herm.Event{unset, set}, f.allEvents(d.ID))
		}},
		{"Event/UnknownDeploymentAppendsNothing", func(t *testing.T, f *fixture) {
			d := f.deployment()
			err := f.s.AppendEvents(f.ctx, []*herm.Event{
				event(d.ID, "", "", herm.EventToken, 1),
				event("dep_nope", "", "", herm.EventToken, 2),
			})
			wantCode(t, err, herm.ENotFound)
			f.wantBounds(d.ID, 0, 0)
			if evs := f.allEvents(d.ID); len(evs) != 0 {
				t.Fatalf("a failed batch left %d events", len(evs))
			}
			wantDiff(t, "seqs after failure", []int64{1}, seqs(f.appendEvents(d.ID, 1)))
			evs, err := f.s.ListEvents(f.ctx, "dep_nope", 0, 0, store.EventFilter{})
			f.must(err)
			if len(evs) != 0 {
				t.Fatalf("events of a missing deployment: %d", len(evs))
			}
		}},
		{"Event/ListFilters", func(t *testing.T, f *fixture) {
			d, other := f.deployment(), f.deployment()
			t1, t2 := d.ThreadID, f.thread(d.ID).ID
			evs := []*herm.Event{
				event(d.ID, "", "", herm.EventDeploymentStatus, 1),    // 1
				event(d.ID, t1, "run_1", herm.EventRunStatus, 2),      // 2
				event(d.ID, t1, "run_1", herm.EventToken, 3),          // 3
				event(d.ID, t2, "run_2", herm.EventRunStatus, 4),      // 4
				event(d.ID, t1, "run_1", herm.EventMessage, 5),        // 5
				event(d.ID, t2, "run_2", herm.EventToken, 6),          // 6
				event(d.ID, t2, "", herm.EventMessage, 7),             // 7
				event(d.ID, t1, "run_3", herm.EventToolCall, 8),       // 8
				event(d.ID, "", "", herm.EventDeploymentStatus, 9),    // 9
				event(other.ID, t1, "run_1", herm.EventRunStatus, 10), // other deployment
			}
			f.must(f.s.AppendEvents(f.ctx, evs))
			pick := func(seqs ...int) []*herm.Event {
				var out []*herm.Event
				for _, s := range seqs {
					out = append(out, evs[s-1])
				}
				return out
			}
			tests := []struct {
				name   string
				after  int64
				limit  int
				filter store.EventFilter
				want   []*herm.Event
			}{
				{"all", 0, 0, store.EventFilter{}, pick(1, 2, 3, 4, 5, 6, 7, 8, 9)},
				{"after", 6, 0, store.EventFilter{}, pick(7, 8, 9)},
				{"limit", 0, 3, store.EventFilter{}, pick(1, 2, 3)},
				{"after and limit", 3, 2, store.EventFilter{}, pick(4, 5)},
				{"after the end", 9, 0, store.EventFilter{}, nil},
				{"thread", 0, 0, store.EventFilter{ThreadID: t1}, pick(2, 3, 5, 8)},
				{"thread after", 3, 0, store.EventFilter{ThreadID: t2}, pick(4, 6, 7)},
				{"thread limit", 0, 2, store.EventFilter{ThreadID: t2}, pick(4, 6)},
				{"run", 0, 0, store.EventFilter{RunID: "run_1"}, pick(2, 3, 5)},
				{"type", 0, 0, store.EventFilter{Types: []string{herm.EventToken}}, pick(3, 6)},
				{"types", 0, 0, store.EventFilter{Types: []string{herm.EventMessage, herm.EventDeploymentStatus}}, pick(1, 5, 7, 9)},
				{"thread and types", 0, 0, store.EventFilter{ThreadID: t1, Types: []string{herm.EventRunStatus, herm.EventToolCall}}, pick(2, 8)},
				{"thread and run", 0, 0, store.EventFilter{ThreadID: t1, RunID: "run_3"}, pick(8)},
				{"no match", 0, 0, store.EventFilter{RunID: "run_9"}, nil},
			}
			for _, tc := range tests {
				got, err := f.s.ListEvents(f.ctx, d.ID, tc.after, tc.limit, tc.filter)
				f.must(err)
				wantDiff(t, tc.name, tc.want, got, cmpopts.EquateEmpty())
				for _, e := range got {
					if !tc.filter.Match(e) {
						t.Errorf("%s: event %d does not match the filter", tc.name, e.Seq)
					}
				}
			}
		}},
		{"Event/Retention", func(t *testing.T, f *fixture) {
			a, b := f.deployment(), f.deployment()
			f.appendEvents(a.ID, 10) // created at 1s … 10s
			f.appendEvents(b.ID, 4)  // 1s … 4s
			n, err := f.s.DeleteEventsBefore(f.ctx, at(6*time.Second))
			f.must(err)
			if n != 5+4 {
				t.Fatalf("DeleteEventsBefore = %d, want 9", n)
			}
			f.wantBounds(a.ID, 6, 10) // the first moves, the last stays
			f.wantBounds(b.ID, 0, 4)  // an emptied log still remembers its last sequence
			wantDiff(t, "kept", []int64{6, 7, 8, 9, 10}, seqs(f.allEvents(a.ID)))
			wantDiff(t, "next after retention", []int64{5}, seqs(f.appendEvents(b.ID, 1)))
			f.wantBounds(b.ID, 5, 5)

			n, err = f.s.DeleteEventsBefore(f.ctx, at(time.Hour))
			f.must(err)
			if n != 6 {
				t.Fatalf("second DeleteEventsBefore = %d, want 6", n)
			}
			f.wantBounds(a.ID, 0, 10)
			wantDiff(t, "next after emptying", []int64{11}, seqs(f.appendEvents(a.ID, 1)))
		}},
		{"Event/ConcurrentAppends", func(t *testing.T, f *fixture) {
			deps := []*herm.Deployment{f.deployment(), f.deployment()}
			const writers, batches = 8, 25
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range batches {
						// Batches of 1–3 events, some for both deployments.
						var batch []*herm.Event
						for j := range 1 + (w+i)%3 {
							d := deps[(w+i+j)%2]
							batch = append(batch, event(d.ID, "", "", herm.EventToken, w*1000+i))
						}
						if err := f.s.AppendEvents(f.ctx, batch); err != nil {
							t.Errorf("AppendEvents: %v", err)
							return
						}
						for j := 1; j < len(batch); j++ {
							if batch[j].DeploymentID == batch[j-1].DeploymentID && batch[j].Seq != batch[j-1].Seq+1 {
								t.Errorf("batch seqs not consecutive: %d then %d", batch[j-1].Seq, batch[j].Seq)
							}
						}
					}
				})
			}
			wg.Wait()
			total := int64(0)
			for _, d := range deps {
				evs := f.allEvents(d.ID)
				want := make([]int64, len(evs))
				for i := range want {
					want[i] = int64(i + 1)
				}
				wantDiff(t, fmt.Sprint("seqs of ", d.ID), want, seqs(evs))
				f.wantBounds(d.ID, min(1, int64(len(evs))), int64(len(evs)))
				total += int64(len(evs))
			}
			want := int64(0)
			for w := range writers {
				for i := range batches {
					want += int64(1 + (w+i)%3)
				}
			}
			if total != want {
				t.Fatalf("%d events stored, want %d", total, want)
			}
		}},
	}
}
