package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

func threadTests() []test {
	return []test{
		{"Thread/CreateGetList", func(t *testing.T, f *fixture) {
			d, other := f.deployment(), f.deployment()
			def, err := f.s.GetThread(f.ctx, d.ID, d.ThreadID)
			f.must(err)
			var threads []*herm.Thread
			for range 3 {
				threads = append(threads, f.thread(d.ID))
			}
			f.thread(other.ID)

			got, err := f.s.GetThread(f.ctx, d.ID, threads[0].ID)
			f.must(err)
			wantDiff(t, "thread", threads[0], got)
			_, err = f.s.GetThread(f.ctx, other.ID, threads[0].ID)
			wantCode(t, err, herm.ENotFound) // another deployment's thread
			_, err = f.s.GetThread(f.ctx, d.ID, "thr_nope")
			wantCode(t, err, herm.ENotFound)

			tests := []struct {
				name string
				page herm.Page
				want []*herm.Thread
			}{
				{"all", herm.Page{}, []*herm.Thread{threads[2], threads[1], threads[0], def}},
				{"first page", herm.Page{Limit: 3}, []*herm.Thread{threads[2], threads[1], threads[0]}},
				{"second page", herm.Page{Limit: 3, Cursor: threads[0].ID}, []*herm.Thread{def}},
				{"past the end", herm.Page{Limit: 3, Cursor: def.ID}, nil},
			}
			for _, tc := range tests {
				got, err := f.s.ListThreads(f.ctx, d.ID, tc.page)
				f.must(err)
				wantDiff(t, tc.name, tc.want, got, cmpopts.EquateEmpty())
			}
		}},
		{"Thread/CreateErrors", func(t *testing.T, f *fixture) {
			d := f.deployment()
			th := f.thread(d.ID)
			dup := *th
			wantCode(t, f.s.CreateThread(f.ctx, &dup), herm.EConflict)
			orphan := &herm.Thread{ID: f.id(herm.PrefixThread), DeploymentID: "dep_nope", Title: "x", CreatedAt: at(0), LastActivityAt: at(0)}
			wantCode(t, f.s.CreateThread(f.ctx, orphan), herm.ENotFound)
		}},
		{"Thread/TitleAndTouch", func(t *testing.T, f *fixture) {
			d, other := f.deployment(), f.deployment()
			th := f.thread(d.ID)
			f.must(f.s.UpdateThreadTitle(f.ctx, d.ID, th.ID, "Renamed"))
			wantCode(t, f.s.UpdateThreadTitle(f.ctx, other.ID, th.ID, "Hijacked"), herm.ENotFound)
			wantCode(t, f.s.UpdateThreadTitle(f.ctx, d.ID, "thr_nope", "x"), herm.ENotFound)
			f.must(f.s.TouchThread(f.ctx, th.ID, at(time.Hour)))
			wantCode(t, f.s.TouchThread(f.ctx, "thr_nope", at(time.Hour)), herm.ENotFound)
			got, err := f.s.GetThread(f.ctx, d.ID, th.ID)
			f.must(err)
			th.Title, th.LastActivityAt = "Renamed", at(time.Hour)
			wantDiff(t, "thread", th, got)
		}},
		{"Thread/DerivedStatus", func(t *testing.T, f *fixture) {
			d := f.deployment()
			tests := []struct {
				runs []herm.RunStatus
				want herm.ThreadStatus
			}{
				{nil, herm.ThreadIdle},
				{[]herm.RunStatus{herm.RunQueued}, herm.ThreadRunning},
				{[]herm.RunStatus{herm.RunRunning}, herm.ThreadRunning},
				{[]herm.RunStatus{herm.RunWaitingOnHuman}, herm.ThreadWaitingOnHuman},
				{[]herm.RunStatus{herm.RunCompleted, herm.RunError, herm.RunCancelled}, herm.ThreadIdle},
				{[]herm.RunStatus{herm.RunCompleted, herm.RunQueued}, herm.ThreadRunning},
				{[]herm.RunStatus{herm.RunWaitingOnHuman, herm.RunQueued}, herm.ThreadWaitingOnHuman},
				{[]herm.RunStatus{herm.RunQueued, herm.RunWaitingOnHuman}, herm.ThreadWaitingOnHuman},
			}
			want := map[string]herm.ThreadStatus{d.ThreadID: herm.ThreadIdle}
			for _, tc := range tests {
				th := f.thread(d.ID)
				for i, st := range tc.runs {
					f.run(d.ID, th.ID, st, at(time.Duration(i)*time.Second))
				}
				got, err := f.s.GetThread(f.ctx, d.ID, th.ID)
				f.must(err)
				if got.Status != tc.want {
					t.Errorf("runs %v: thread status %q, want %q", tc.runs, got.Status, tc.want)
				}
				want[th.ID] = tc.want
			}
			list, err := f.s.ListThreads(f.ctx, d.ID, herm.Page{Limit: 100})
			f.must(err)
			got := map[string]herm.ThreadStatus{}
			for _, th := range list {
				got[th.ID] = th.Status
			}
			wantDiff(t, "listed statuses", want, got)
		}},
		{"Thread/MessageCount", func(t *testing.T, f *fixture) {
			d := f.deployment()
			th := f.thread(d.ID)
			r := f.run(d.ID, th.ID, herm.RunRunning, at(0))
			for i := range 3 {
				f.message(d.ID, th.ID, r.ID, false, at(time.Duration(i)*time.Second))
			}
			p1 := f.message(d.ID, th.ID, r.ID, true, at(10*time.Second))
			f.message(d.ID, th.ID, r.ID, true, at(11*time.Second))
			count := func() int {
				t.Helper()
				got, err := f.s.GetThread(f.ctx, d.ID, th.ID)
				f.must(err)
				list, err := f.s.ListThreads(f.ctx, d.ID, herm.Page{Limit: 1})
				f.must(err)
				if len(list) != 1 || list[0].MessageCount != got.MessageCount {
					t.Fatalf("ListThreads disagrees with GetThread: %+v vs %d", list, got.MessageCount)
				}
				return got.MessageCount
			}
			if n := count(); n != 3 {
				t.Fatalf("MessageCount = %d, want 3 (pending messages do not count)", n)
			}
			f.must(f.s.TakeMessage(f.ctx, p1.ID, at(time.Minute)))
			if n := count(); n != 4 {
				t.Fatalf("MessageCount after take = %d, want 4", n)
			}
		}},
		{"Thread/Delete", func(t *testing.T, f *fixture) {
			d, other := f.deployment(), f.deployment()
			th, keep := f.thread(d.ID), f.thread(d.ID)
			var runs []*herm.Run
			for _, tt := range []*herm.Thread{th, keep} {
				r := f.run(d.ID, tt.ID, herm.RunRunning, at(0))
				runs = append(runs, r)
				f.message(d.ID, tt.ID, r.ID, false, at(time.Second))
				f.message(d.ID, tt.ID, r.ID, true, at(2*time.Second))
				f.must(f.s.AppendStep(f.ctx, &herm.RunStep{RunID: r.ID, Index: 0, Kind: herm.StepModel, Data: json.RawMessage(`{"text":"hi"}`), CreatedAt: at(0)}))
				f.must(f.s.AppendEvents(f.ctx, []*herm.Event{event(d.ID, tt.ID, r.ID, herm.EventMessage, 1)}))
			}

			wantCode(t, f.s.DeleteThread(f.ctx, other.ID, th.ID), herm.ENotFound)
			wantCode(t, f.s.DeleteThread(f.ctx, d.ID, "thr_nope"), herm.ENotFound)
			f.must(f.s.DeleteThread(f.ctx, d.ID, th.ID))
			wantCode(t, f.s.DeleteThread(f.ctx, d.ID, th.ID), herm.ENotFound)

			_, err := f.s.GetThread(f.ctx, d.ID, th.ID)
			wantCode(t, err, herm.ENotFound)
			_, err = f.s.GetRun(f.ctx, d.ID, runs[0].ID)
			wantCode(t, err, herm.ENotFound)
			checkEmpty(t, f, d.ID, th.ID, runs[0].ID, false)
			// The event log keeps the thread's events.
			evs, err := f.s.ListEvents(f.ctx, d.ID, 0, 0, store.EventFilter{ThreadID: th.ID})
			f.must(err)
			if len(evs) != 1 {
				t.Fatalf("events of the deleted thread = %d, want 1", len(evs))
			}

			// The other thread keeps everything.
			if _, err := f.s.GetRun(f.ctx, d.ID, runs[1].ID); err != nil {
				t.Fatal(err)
			}
			msgs, err := f.s.ListMessages(f.ctx, keep.ID, 0)
			f.must(err)
			pending, err := f.s.PendingMessages(f.ctx, runs[1].ID)
			f.must(err)
			steps, err := f.s.ListSteps(f.ctx, runs[1].ID)
			f.must(err)
			if len(msgs) != 1 || len(pending) != 1 || len(steps) != 1 {
				t.Fatalf("kept thread: %d messages, %d pending, %d steps; want 1 each", len(msgs), len(pending), len(steps))
			}
		}},
	}
}

func messageTests() []test {
	return []test{
		{"Message/History", func(t *testing.T, f *fixture) {
			d := f.deployment()
			th := f.thread(d.ID)
			r := f.run(d.ID, th.ID, herm.RunRunning, at(0))
			var hist []*herm.Message
			for i := range 5 {
				m := &herm.Message{
					ID: f.id(herm.PrefixMessage), DeploymentID: d.ID, ThreadID: th.ID, RunID: r.ID,
					Role: []string{herm.RoleUser, herm.RoleAgent}[i%2], Content: "message " + string(rune('a'+i)),
					CreatedAt: at(time.Duration(i+1) * time.Second),
				}
				if i == 0 {
					m.Attachments = []herm.Attachment{{Type: herm.AttachImage, URL: "https://x.example/a.png"}, {Type: herm.AttachFile, URL: "https://x.example/b.pdf"}}
				}
				if i == 1 {
					m.Attachments = []herm.Attachment{}
					m.RunID = "" // a message outside any run
				}
				f.must(f.s.CreateMessage(f.ctx, m))
				hist = append(hist, m)
			}
			// A later ID with an earlier time sorts by time.
			early := f.message(d.ID, th.ID, r.ID, false, at(1500*time.Millisecond))
			hist = append(hist[:1], append([]*herm.Message{early}, hist[1:]...)...)
			f.message(d.ID, th.ID, r.ID, true, at(3*time.Second)) // pending: not history
			f.message(d.ID, f.thread(d.ID).ID, "", false, at(time.Second))

			got, err := f.s.ListMessages(f.ctx, th.ID, 0)
			f.must(err)
			wantDiff(t, "history", hist, got)
			got, err = f.s.ListMessages(f.ctx, th.ID, 2)
			f.must(err)
			wantDiff(t, "newest 2", hist[len(hist)-2:], got)
			got, err = f.s.ListMessages(f.ctx, th.ID, 100)
			f.must(err)
			wantDiff(t, "limit above size", hist, got)
			got, err = f.s.ListMessages(f.ctx, "thr_nope", 0)
			f.must(err)
			if len(got) != 0 {
				t.Fatalf("messages of a missing thread: %d", len(got))
			}
		}},
		{"Message/PendingAndTake", func(t *testing.T, f *fixture) {
			d := f.deployment()
			th := f.thread(d.ID)
			r1 := f.run(d.ID, th.ID, herm.RunRunning, at(0))
			r2 := f.run(d.ID, th.ID, herm.RunQueued, at(time.Second))
			h := f.message(d.ID, th.ID, r1.ID, false, at(5*time.Second))
			p2 := f.message(d.ID, th.ID, r1.ID, true, at(2*time.Second))
			p1 := f.message(d.ID, th.ID, r1.ID, true, at(1*time.Second))
			other := f.message(d.ID, th.ID, r2.ID, true, at(3*time.Second))

			pending, err := f.s.PendingMessages(f.ctx, r1.ID)
			f.must(err)
			wantDiff(t, "pending of r1", []*herm.Message{p1, p2}, pending)
			pending, err = f.s.PendingMessages(f.ctx, r2.ID)
			f.must(err)
			wantDiff(t, "pending of r2", []*herm.Message{other}, pending)

			f.must(f.s.TakeMessage(f.ctx, p1.ID, at(time.Minute)))
			wantCode(t, f.s.TakeMessage(f.ctx, p1.ID, at(2*time.Minute)), herm.ENotFound)
			wantCode(t, f.s.TakeMessage(f.ctx, h.ID, at(2*time.Minute)), herm.ENotFound)
			wantCode(t, f.s.TakeMessage(f.ctx, "msg_nope", at(2*time.Minute)), herm.ENotFound)

			pending, err = f.s.PendingMessages(f.ctx, r1.ID)
			f.must(err)
			wantDiff(t, "pending after take", []*herm.Message{p2}, pending)
			hist, err := f.s.ListMessages(f.ctx, th.ID, 0)
			f.must(err)
			taken := *p1
			taken.Pending, taken.CreatedAt = false, at(time.Minute)
			wantDiff(t, "history after take", []*herm.Message{h, &taken}, hist)
		}},
		{"Message/CreateErrors", func(t *testing.T, f *fixture) {
			d := f.deployment()
			m := f.message(d.ID, d.ThreadID, "", false, at(0))
			dup := *m
			wantCode(t, f.s.CreateMessage(f.ctx, &dup), herm.EConflict)
			orphan := *m
			orphan.ID, orphan.ThreadID = f.id(herm.PrefixMessage), "thr_nope"
			wantCode(t, f.s.CreateMessage(f.ctx, &orphan), herm.ENotFound)
		}},
	}
}
