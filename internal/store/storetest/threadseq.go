package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// statusEvent returns an unsaved run_status event.
func statusEvent(deploymentID, threadID string, status herm.RunStatus, n int) *herm.Event {
	e := event(deploymentID, threadID, "run_1", herm.EventRunStatus, n)
	e.Data = json.RawMessage(fmt.Sprintf(`{"status":%q,"n":%d}`, status, n))
	return e
}

// hidden stores a new hidden deployment (of a new agent), with its
// default thread: the events of its threads, sessions' threads, are
// numbered in their threads' sequences.
func (f *fixture) hidden() *herm.Deployment {
	f.t.Helper()
	a := f.agent()
	d, t := f.hiddenDeployment(a.ID, "user-1")
	got, created, err := f.s.EnsureAgentDeployment(f.ctx, d, t)
	f.must(err)
	if !created || got.ID != d.ID || got.AgentID != a.ID {
		f.t.Fatalf("hidden deployment %+v, created %v", got, created)
	}
	return got
}

// threadSeqs returns the events' numbers in their threads' sequences.
func threadSeqs(evs []*herm.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.ThreadSeq
	}
	return out
}

// wantThreadBounds checks ThreadEventBounds.
func (f *fixture) wantThreadBounds(deploymentID, threadID string, first, last int64) {
	f.t.Helper()
	gotFirst, gotLast, err := f.s.ThreadEventBounds(f.ctx, deploymentID, threadID)
	f.must(err)
	if gotFirst != first || gotLast != last {
		f.t.Fatalf("ThreadEventBounds(%s) = (%d, %d), want (%d, %d)", threadID, gotFirst, gotLast, first, last)
	}
}

// threadEvents lists a thread's events in its sequence, page by page
// (pages of 7).
func (f *fixture) threadEvents(deploymentID, threadID string) []*herm.Event {
	f.t.Helper()
	var out []*herm.Event
	var after int64
	for {
		page, err := f.s.ListThreadEvents(f.ctx, deploymentID, threadID, after, 7)
		f.must(err)
		if len(page) > 7 {
			f.t.Fatalf("ListThreadEvents returned %d events, limit 7", len(page))
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].ThreadSeq
	}
}

// wantThreadSequence checks that a thread's events in its sequence are
// numbered 1 … n without a gap, in the order of their deployment's
// sequence, and returns them.
func (f *fixture) wantThreadSequence(deploymentID, threadID string, n int) []*herm.Event {
	f.t.Helper()
	evs := f.threadEvents(deploymentID, threadID)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	wantDiff(f.t, "thread seqs of "+threadID, want, threadSeqs(evs), cmpopts.EquateEmpty())
	for i, e := range evs {
		if e.ThreadID != threadID || e.DeploymentID != deploymentID || !herm.InThreadSequence(e) {
			f.t.Fatalf("ListThreadEvents(%s) returned %+v", threadID, e)
		}
		if i > 0 && e.Seq <= evs[i-1].Seq {
			f.t.Fatalf("%s: thread seq %d has seq %d, after %d", threadID, e.ThreadSeq, e.Seq, evs[i-1].Seq)
		}
	}
	f.wantThreadBounds(deploymentID, threadID, min(1, int64(n)), int64(n))
	return evs
}

func threadSeqTests() []test {
	return []test{
		{"ThreadSeq/Assigned", func(t *testing.T, f *fixture) {
			// Several appends to hidden deployments, batches of one
			// deployment and of several, threads mixed, and events outside
			// the sequences.
			d, e := f.hidden(), f.hidden()
			t1, t2, t3 := d.ThreadID, f.thread(d.ID).ID, e.ThreadID
			f.wantThreadBounds(d.ID, t1, 0, 0)
			one := []*herm.Event{
				event(d.ID, t1, "run_1", herm.EventMessage, 1),          // t1: 1
				event(d.ID, t1, "run_1", herm.EventToken, 2),            // t1: 2
				event(d.ID, t1, "run_1", herm.EventUsage, 3),            // not shown
				statusEvent(d.ID, t1, herm.RunQueued, 4),                // not shown
				statusEvent(d.ID, t2, herm.RunRunning, 5),               // t2: 1
				event(d.ID, "", "", herm.EventDeploymentStatus, 6),      // deployment-level
				event(d.ID, t2, "run_2", herm.EventToken, 7),            // t2: 2
				event(d.ID, t1, "run_1", herm.EventSteeringRequest, 8),  // not shown
				event(d.ID, t1, "run_1", herm.EventSteeringResolved, 9), // t1: 3
			}
			f.must(f.s.AppendEvents(f.ctx, one))
			wantDiff(t, "first batch", []int64{1, 2, 0, 0, 1, 0, 2, 0, 3}, threadSeqs(one))
			two := []*herm.Event{
				event(e.ID, t3, "run_3", herm.EventToken, 10),      // t3: 1
				event(d.ID, t1, "run_1", herm.EventToolCall, 11),   // t1: 4
				event(e.ID, t3, "run_3", herm.EventMemory, 12),     // not shown
				event(d.ID, t2, "run_2", herm.EventMessage, 13),    // t2: 3
				event(e.ID, t1, "run_1", herm.EventToken, 14),      // t1 is not e's thread
				event(d.ID, t1, "run_1", herm.EventToolResult, 15), // t1: 5
				event(e.ID, t3, "run_3", herm.EventCompaction, 16), // t3: 2
				statusEvent(e.ID, t3, herm.RunCompleted, 17),       // t3: 3
				event(d.ID, "thr_nope", "", herm.EventToken, 18),   // no such thread
			}
			f.must(f.s.AppendEvents(f.ctx, two))
			wantDiff(t, "second batch", []int64{1, 4, 0, 3, 0, 5, 2, 3, 0}, threadSeqs(two))
			hidden := []*herm.Event{event(d.ID, t1, "", herm.EventEgress, 19), event(d.ID, "", "", herm.EventUsage, 20)}
			f.must(f.s.AppendEvents(f.ctx, hidden))
			wantDiff(t, "batch outside the sequences", []int64{0, 0}, threadSeqs(hidden))
			strange := []*herm.Event{event(e.ID, t1, "run_1", herm.EventMessage, 19), event(e.ID, "thr_nope", "", herm.EventToken, 20)}
			f.must(f.s.AppendEvents(f.ctx, strange))
			wantDiff(t, "batch of e in threads not e's", []int64{0, 0}, threadSeqs(strange))
			last := []*herm.Event{event(d.ID, t2, "run_2", herm.EventWarning, 21)}
			f.must(f.s.AppendEvents(f.ctx, last))
			wantDiff(t, "last", []int64{4}, threadSeqs(last))
			lastT1 := []*herm.Event{event(d.ID, t1, "run_1", herm.EventReasoning, 22)}
			f.must(f.s.AppendEvents(f.ctx, lastT1))
			wantDiff(t, "last of t1", []int64{6}, threadSeqs(lastT1))

			// Stored as assigned.
			wantDiff(t, "events of d", slices.Concat(one, []*herm.Event{two[1], two[3], two[5], two[8]}, hidden, last, lastT1), f.allEvents(d.ID))
			wantDiff(t, "events of e", slices.Concat([]*herm.Event{two[0], two[2], two[4], two[6], two[7]}, strange), f.allEvents(e.ID))
			wantDiff(t, "t1", []*herm.Event{one[0], one[1], one[8], two[1], two[5], lastT1[0]}, f.wantThreadSequence(d.ID, t1, 6))
			wantDiff(t, "t2", []*herm.Event{one[4], one[6], two[3], last[0]}, f.wantThreadSequence(d.ID, t2, 4))
			wantDiff(t, "t3", []*herm.Event{two[0], two[6], two[7]}, f.wantThreadSequence(e.ID, t3, 3))
			// A thread is listed only in its own deployment.
			got, err := f.s.ListThreadEvents(f.ctx, e.ID, t1, 0, 0)
			f.must(err)
			if len(got) != 0 {
				t.Fatalf("t1's events in e: %d", len(got))
			}
			wantCode(t, errOnly(f.s.ThreadEventBounds(f.ctx, e.ID, t1)), herm.ENotFound)
			wantCode(t, errOnly(f.s.ThreadEventBounds(f.ctx, d.ID, "thr_nope")), herm.ENotFound)
		}},
		{"ThreadSeq/FirstGeneration", func(t *testing.T, f *fixture) {
			// A first-generation deployment's threads (no session's) are
			// not numbered: neither in batches of its own (one statement
			// where the backend has it) nor beside a hidden deployment's
			// events (a batch of two deployments), whose threads are.
			p, h := f.deployment(), f.hidden()
			t1, t2 := p.ThreadID, f.thread(p.ID).ID
			own := []*herm.Event{
				event(p.ID, t1, "run_1", herm.EventMessage, 1),
				event(p.ID, t1, "run_1", herm.EventToken, 2),
				statusEvent(p.ID, t2, herm.RunRunning, 3),
				event(p.ID, t2, "run_2", herm.EventToolCall, 4),
				event(p.ID, t1, "run_1", herm.EventUsage, 5),
			}
			own[1].ThreadSeq = 42 // whatever the caller left there
			f.must(f.s.AppendEvents(f.ctx, own))
			wantDiff(t, "batch of p", []int64{0, 0, 0, 0, 0}, threadSeqs(own))
			mixed := []*herm.Event{
				event(p.ID, t1, "run_1", herm.EventToken, 6),
				event(h.ID, h.ThreadID, "run_3", herm.EventMessage, 7), // 1
				event(p.ID, t2, "run_2", herm.EventToolResult, 8),
				event(h.ID, h.ThreadID, "run_3", herm.EventToken, 9), // 2
				event(h.ID, t1, "run_3", herm.EventToken, 10),        // t1 is not h's thread
			}
			f.must(f.s.AppendEvents(f.ctx, mixed))
			wantDiff(t, "batch of p and h", []int64{0, 1, 0, 2, 0}, threadSeqs(mixed))
			single := []*herm.Event{event(p.ID, t2, "run_2", herm.EventMessage, 11)}
			f.must(f.s.AppendEvents(f.ctx, single))
			wantDiff(t, "one event of p", []int64{0}, threadSeqs(single))

			// Stored without numbers; the threads' sequences are empty.
			wantDiff(t, "events of p", slices.Concat(own, []*herm.Event{mixed[0], mixed[2]}, single), f.allEvents(p.ID))
			for _, th := range []string{t1, t2} {
				f.wantThreadBounds(p.ID, th, 0, 0)
				got, err := f.s.ListThreadEvents(f.ctx, p.ID, th, 0, 0)
				f.must(err)
				if len(got) != 0 {
					t.Fatalf("ListThreadEvents(%s) of a first-generation deployment: %d events", th, len(got))
				}
			}
			wantDiff(t, "h's thread", []*herm.Event{mixed[1], mixed[3]}, f.wantThreadSequence(h.ID, h.ThreadID, 2))
		}},
		{"ThreadSeq/ListPages", func(t *testing.T, f *fixture) {
			d := f.hidden()
			t1, t2 := d.ThreadID, f.thread(d.ID).ID
			var evs, ofT1 []*herm.Event
			for i := range 30 {
				th, typ := t1, herm.EventToken
				switch i % 5 {
				case 1:
					th = t2
				case 3:
					typ = herm.EventUsage
				}
				e := event(d.ID, th, "run_1", typ, i+1)
				evs = append(evs, e)
				if th == t1 && typ != herm.EventUsage {
					ofT1 = append(ofT1, e)
				}
			}
			// In batches of 4.
			for i := 0; i < len(evs); i += 4 {
				f.must(f.s.AppendEvents(f.ctx, evs[i:min(i+4, len(evs))]))
			}
			n := int64(len(ofT1)) // 18
			tests := []struct {
				name  string
				after int64
				limit int
				want  []*herm.Event
			}{
				{"all", 0, 0, ofT1},
				{"limit", 0, 3, ofT1[:3]},
				{"after", 5, 0, ofT1[5:]},
				{"after and limit", 5, 4, ofT1[5:9]},
				{"last", n - 1, 0, ofT1[n-1:]},
				{"after the end", n, 0, nil},
				{"far after the end", n + 100, 10, nil},
			}
			for _, tc := range tests {
				got, err := f.s.ListThreadEvents(f.ctx, d.ID, t1, tc.after, tc.limit)
				f.must(err)
				wantDiff(t, tc.name, tc.want, got, cmpopts.EquateEmpty())
			}
			wantDiff(t, "pages", ofT1, f.wantThreadSequence(d.ID, t1, int(n)))
			f.wantThreadSequence(d.ID, t2, 6)
			for _, c := range []struct{ dep, thread string }{{d.ID, "thr_nope"}, {"dep_nope", t1}} {
				got, err := f.s.ListThreadEvents(f.ctx, c.dep, c.thread, 0, 0)
				f.must(err)
				if len(got) != 0 {
					t.Fatalf("ListThreadEvents(%s, %s): %d events", c.dep, c.thread, len(got))
				}
			}
			// The default limit is 100.
			many := make([]*herm.Event, 120)
			for i := range many {
				many[i] = event(d.ID, t2, "run_2", herm.EventToken, 100+i)
			}
			f.must(f.s.AppendEvents(f.ctx, many))
			got, err := f.s.ListThreadEvents(f.ctx, d.ID, t2, 0, 0)
			f.must(err)
			if len(got) != 100 || got[99].ThreadSeq != 100 {
				t.Fatalf("ListThreadEvents with no limit: %d events", len(got))
			}
		}},
		{"ThreadSeq/Retention", func(t *testing.T, f *fixture) {
			// Retention moves a thread's first number; its counter stays,
			// and the sequence goes on.
			d := f.hidden()
			t1, t2 := d.ThreadID, f.thread(d.ID).ID
			var evs []*herm.Event
			for i := range 10 { // created at 1s … 10s
				evs = append(evs, event(d.ID, []string{t1, t2}[i%2], "run_1", herm.EventToken, i+1))
			}
			f.must(f.s.AppendEvents(f.ctx, evs))
			f.wantThreadBounds(d.ID, t1, 1, 5)
			n, err := f.s.DeleteEventsBefore(f.ctx, at(6*time.Second)) // 1s … 5s
			f.must(err)
			if n != 5 {
				t.Fatalf("DeleteEventsBefore = %d, want 5", n)
			}
			f.wantThreadBounds(d.ID, t1, 4, 5) // 7s, 9s are left
			f.wantThreadBounds(d.ID, t2, 3, 5) // 6s, 8s, 10s
			wantDiff(t, "kept of t2", []*herm.Event{evs[5], evs[7], evs[9]}, f.threadEvents(d.ID, t2))
			next := []*herm.Event{event(d.ID, t1, "run_1", herm.EventToken, 11)}
			f.must(f.s.AppendEvents(f.ctx, next))
			wantDiff(t, "next after retention", []int64{6}, threadSeqs(next))

			_, err = f.s.DeleteEventsBefore(f.ctx, at(time.Hour))
			f.must(err)
			f.wantThreadBounds(d.ID, t1, 0, 6) // an emptied sequence remembers its last number
			f.wantThreadBounds(d.ID, t2, 0, 5)
			next = []*herm.Event{event(d.ID, t2, "run_1", herm.EventToken, 12)}
			f.must(f.s.AppendEvents(f.ctx, next))
			wantDiff(t, "next after emptying", []int64{6}, threadSeqs(next))
			f.wantThreadBounds(d.ID, t2, 6, 6)
		}},
		{"ThreadSeq/CounterGoesWithThread", func(t *testing.T, f *fixture) {
			// Deleting a thread, or its deployment, removes its counter: a
			// thread made again under the same ID (which IDs never are)
			// starts from 1.
			d := f.hidden()
			th := f.thread(d.ID)
			f.must(f.s.AppendEvents(f.ctx, []*herm.Event{event(d.ID, th.ID, "", herm.EventMessage, 1), event(d.ID, d.ThreadID, "", herm.EventMessage, 2)}))
			f.must(f.s.DeleteThread(f.ctx, d.ID, th.ID))
			wantCode(t, errOnly(f.s.ThreadEventBounds(f.ctx, d.ID, th.ID)), herm.ENotFound)
			// Events of the deleted thread are stored, not numbered.
			gone := []*herm.Event{event(d.ID, th.ID, "", herm.EventMessage, 3)}
			f.must(f.s.AppendEvents(f.ctx, gone))
			wantDiff(t, "event of a deleted thread", []int64{0}, threadSeqs(gone))
			again := *th
			again.Status = ""
			f.must(f.s.CreateThread(f.ctx, &again))
			_, err := f.s.DeleteEventsBefore(f.ctx, at(time.Hour)) // the old thread's numbered events
			f.must(err)
			f.wantThreadBounds(d.ID, th.ID, 0, 0)
			evs := []*herm.Event{event(d.ID, th.ID, "", herm.EventMessage, 4)}
			f.must(f.s.AppendEvents(f.ctx, evs))
			wantDiff(t, "first of the thread made again", []int64{1}, threadSeqs(evs))

			// The deployment: its threads' counters go with it.
			f.must(f.s.AppendEvents(f.ctx, []*herm.Event{event(d.ID, d.ThreadID, "", herm.EventMessage, 5)}))
			f.wantThreadBounds(d.ID, d.ThreadID, 2, 2)
			f.must(f.s.DeleteDeployment(f.ctx, d.ID))
			d2, t2 := f.hiddenDeployment(d.AgentID, d.UserKey)
			d2.ID, d2.ThreadID, t2.ID, t2.DeploymentID = d.ID, d.ThreadID, d.ThreadID, d.ID
			f.must(f.s.CreateDeployment(f.ctx, d2, t2))
			f.wantThreadBounds(d.ID, d.ThreadID, 0, 0)
			evs = []*herm.Event{event(d.ID, d.ThreadID, "", herm.EventMessage, 6)}
			f.must(f.s.AppendEvents(f.ctx, evs))
			wantDiff(t, "first of the deployment made again", []int64{1}, threadSeqs(evs))
		}},
		{"ThreadSeq/DeletedWhileAppending", func(t *testing.T, f *fixture) {
			// A thread's deletion commits while an append of its events
			// waits for the deployment (its row lock; SQLite's write
			// lock): the append succeeds, its events unnumbered.
			other := f.another()
			d, e := f.hidden(), f.hidden()
			numbered := 0
			for i := range rounds / 4 {
				th := f.thread(d.ID)
				f.must(f.s.AppendEvents(f.ctx, []*herm.Event{event(d.ID, th.ID, "", herm.EventMessage, i)}))
				appended := make(chan error, 1)
				var evs []*herm.Event
				f.must(f.s.InTx(f.ctx, func(q store.Querier) error {
					if err := q.DeleteThread(f.ctx, d.ID, th.ID); err != nil {
						return err
					}
					evs = []*herm.Event{event(d.ID, th.ID, "", herm.EventToken, i), event(d.ID, d.ThreadID, "", herm.EventToken, i)}
					if i%2 == 1 {
						evs[1] = event(e.ID, e.ThreadID, "", herm.EventToken, i) // two deployments
					}
					go func() { appended <- other.AppendEvents(f.ctx, evs) }()
					time.Sleep(50 * time.Millisecond) // let the append reach the database
					return nil
				}))
				f.must(<-appended)
				if evs[0].ThreadSeq != 0 {
					t.Fatalf("round %d: event of the deleted thread numbered %d", i, evs[0].ThreadSeq)
				}
				if i%2 == 0 {
					numbered++
				}
			}
			f.wantThreadSequence(d.ID, d.ThreadID, numbered)
			f.wantThreadSequence(e.ID, e.ThreadID, rounds/4-numbered)
		}},
		{"ThreadSeq/ConcurrentAppends", func(t *testing.T, f *fixture) {
			// Writers on two handles append to a deployment's two threads
			// at once, in batches of one deployment (one statement where
			// the backend has it) and of two: each thread's sequence ends
			// 1 … n, and each batch's events of a thread are consecutive.
			other := f.another()
			d, e := f.hidden(), f.hidden()
			t1, t2, t3 := d.ThreadID, f.thread(d.ID).ID, e.ThreadID
			const writers, batches = 6, 20
			var mu sync.Mutex
			count := map[string]int{}
			var wg sync.WaitGroup
			for w := range writers {
				s := []store.Store{f.s, other}[w%2]
				wg.Go(func() {
					for i := range batches {
						var batch []*herm.Event
						for j := range 1 + (w+i)%4 {
							switch (w + i + j) % 5 {
							case 0:
								batch = append(batch, event(d.ID, t1, "run_1", herm.EventToken, j))
							case 1:
								batch = append(batch, event(d.ID, t2, "run_2", herm.EventToken, j))
							case 2:
								batch = append(batch, event(d.ID, t1, "run_1", herm.EventUsage, j))
							case 3:
								batch = append(batch, event(d.ID, t2, "run_2", herm.EventMessage, j))
							case 4:
								if w%3 == 0 { // a batch of two deployments
									batch = append(batch, event(e.ID, t3, "run_3", herm.EventToken, j))
								} else {
									batch = append(batch, event(d.ID, t1, "run_1", herm.EventMessage, j))
								}
							}
						}
						if err := s.AppendEvents(f.ctx, batch); err != nil {
							t.Errorf("AppendEvents: %v", err)
							return
						}
						prev := map[string]int64{}
						mu.Lock()
						for _, ev := range batch {
							if !herm.InThreadSequence(ev) {
								if ev.ThreadSeq != 0 {
									t.Errorf("%s event numbered %d", ev.Type, ev.ThreadSeq)
								}
								continue
							}
							count[ev.ThreadID]++
							if p, ok := prev[ev.ThreadID]; ok && ev.ThreadSeq != p+1 {
								t.Errorf("batch's thread seqs not consecutive: %d then %d", p, ev.ThreadSeq)
							}
							prev[ev.ThreadID] = ev.ThreadSeq
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			f.wantThreadSequence(d.ID, t1, count[t1])
			f.wantThreadSequence(d.ID, t2, count[t2])
			f.wantThreadSequence(e.ID, t3, count[t3])
			t.Logf("numbered %v", count)
		}},
		{"ThreadSeq/TouchThenAppend", func(t *testing.T, f *fixture) {
			// Transactions that update a thread and then append to it (as
			// a Send does: TouchThread, then AppendEvents under the
			// deployment's lock) run against appends to the same threads
			// that take the deployment's lock and then the threads'
			// counters: none deadlocks, and the sequences stay whole.
			other := f.another()
			d, e := f.hidden(), f.hidden()
			t1, t2 := d.ThreadID, f.thread(d.ID).ID
			var mu sync.Mutex
			count := map[string]int{}
			add := func(evs []*herm.Event) {
				mu.Lock()
				defer mu.Unlock()
				for _, ev := range evs {
					if herm.InThreadSequence(ev) {
						count[ev.ThreadID]++
					}
				}
			}
			send := func(s store.Store, th string, i int) func() {
				return func() {
					evs := []*herm.Event{event(d.ID, th, "", herm.EventMessage, i), statusEvent(d.ID, th, herm.RunQueued, i)}
					err := s.InTx(f.ctx, func(q store.Querier) error {
						if err := q.TouchThread(f.ctx, th, at(time.Duration(i)*time.Second)); err != nil {
							return err
						}
						time.Sleep(time.Millisecond) // hold the thread a while
						return q.AppendEvents(f.ctx, evs)
					})
					if err != nil {
						t.Errorf("send: %v", err)
						return
					}
					add(evs)
				}
			}
			appendBoth := func(s store.Store, i int, deployments int) func() {
				return func() {
					evs := []*herm.Event{event(d.ID, t2, "run_2", herm.EventToken, i), event(d.ID, t1, "run_1", herm.EventToken, i)}
					if deployments == 2 {
						evs = append(evs, event(e.ID, e.ThreadID, "", herm.EventToken, i))
					}
					if err := s.AppendEvents(f.ctx, evs); err != nil {
						t.Errorf("append: %v", err)
						return
					}
					add(evs)
				}
			}
			for i := range rounds * 2 {
				var wg sync.WaitGroup
				start := make(chan struct{})
				for _, fn := range []func(){
					send(f.s, t1, i), send(other, t2, i),
					appendBoth(other, i, 1), appendBoth(f.s, i, 2),
				} {
					wg.Go(func() { <-start; fn() })
				}
				close(start)
				wg.Wait()
				if t.Failed() {
					return
				}
			}
			f.wantThreadSequence(d.ID, t1, count[t1])
			f.wantThreadSequence(d.ID, t2, count[t2])
			f.wantThreadSequence(e.ID, e.ThreadID, count[e.ThreadID])
		}},
	}
}

// errOnly returns the error of a call that returns two values before it.
func errOnly[A, B any](_ A, _ B, err error) error { return err }
