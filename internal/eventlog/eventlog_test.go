package eventlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/sqlite"
)

func newStore(t testing.TB, deployments ...string) store.Store {
	t.Helper()
	return newStoreAt(t, t.TempDir(), deployments...)
}

func newStoreAt(t testing.TB, dir string, deployments ...string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), dir+"/herm.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	for _, id := range deployments {
		d := &herm.Deployment{ID: id, CustomerID: "c", Name: "n", Runtime: "hermes", Model: "demo/demo", SystemPrompt: "p",
			Status: herm.DeploymentReady, ConfigVersion: 1, ThreadID: "thr_" + id, CreatedAt: now, UpdatedAt: now}
		th := &herm.Thread{ID: "thr_" + id, DeploymentID: id, Title: "Default", IsDefault: true, CreatedAt: now, LastActivityAt: now}
		if err := st.CreateDeployment(context.Background(), d, th); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newLog(t *testing.T, st store.Store, opts eventlog.Options) *eventlog.Log {
	t.Helper()
	l := eventlog.New(st, discard(), opts)
	t.Cleanup(l.Close)
	return l
}

func token(dep string, i int) *herm.Event {
	return herm.NewEvent(dep, "", "", herm.EventToken, map[string]string{"delta": fmt.Sprint(i)})
}

func TestAppendAssignsSequencesAndPublishes(t *testing.T) {
	t.Parallel()
	st := newStore(t, "dep_a")
	l := newLog(t, st, eventlog.Options{})
	sub := l.Subscribe("dep_a")
	defer sub.Close()
	evs := []*herm.Event{token("dep_a", 1), token("dep_a", 2), token("dep_a", 3)}
	if err := l.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) || e.CreatedAt.IsZero() {
			t.Fatalf("event %d: seq %d created %v", i, e.Seq, e.CreatedAt)
		}
		got := <-sub.C()
		if got.Seq != e.Seq {
			t.Fatalf("published %d, want %d", got.Seq, e.Seq)
		}
	}
}

// TestEmitKeepsOrderUnderConcurrency emits from many goroutines to two
// deployments and checks the stored sequences are 1..N per deployment, with
// each goroutine's events in its own order.
func TestEmitKeepsOrderUnderConcurrency(t *testing.T) {
	t.Parallel()
	st := newStore(t, "dep_a", "dep_b")
	var batches int
	var mu sync.Mutex
	l := newLog(t, st, eventlog.Options{MaxBatch: 64, OnAppend: func(int) { mu.Lock(); batches++; mu.Unlock() }})
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dep := []string{"dep_a", "dep_b"}[w%2]
			for i := range each {
				l.Emit(herm.NewEvent(dep, "", fmt.Sprintf("run_%d", w), herm.EventToken, map[string]int{"i": i}))
			}
		}()
	}
	wg.Wait()
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, dep := range []string{"dep_a", "dep_b"} {
		evs, err := st.ListEvents(context.Background(), dep, 0, 100000, store.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != writers/2*each {
			t.Fatalf("%s: %d events", dep, len(evs))
		}
		next := map[string]int{}
		for i, e := range evs {
			if e.Seq != int64(i+1) {
				t.Fatalf("%s: event %d has sequence %d", dep, i, e.Seq)
			}
			var f struct{ I int }
			if err := json.Unmarshal(e.Data, &f); err != nil {
				t.Fatal(err)
			}
			if f.I != next[e.RunID] {
				t.Fatalf("%s %s: got %d, want %d: order lost", dep, e.RunID, f.I, next[e.RunID])
			}
			next[e.RunID]++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if batches >= writers*each {
		t.Fatalf("%d commits for %d events: no group commit", batches, writers*each)
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	t.Parallel()
	st := newStore(t, "dep_a")
	l := newLog(t, st, eventlog.Options{SubscriberBuffer: 4})
	slow := l.Subscribe("dep_a")
	fast := l.Subscribe("dep_a")
	for i := range 20 {
		if err := l.Append(context.Background(), token("dep_a", i)); err != nil {
			t.Fatal(err)
		}
		// The fast one keeps up.
		if e := <-fast.C(); e.Seq != int64(i+1) {
			t.Fatalf("fast subscriber got %d, want %d", e.Seq, i+1)
		}
	}
	// The slow one never read: it is dropped, its channel closed after what
	// it buffered, and publishing did not block.
	n := 0
	for range slow.C() {
		n++
	}
	if !slow.Dropped() || n != 4 {
		t.Fatalf("dropped %v after %d buffered events", slow.Dropped(), n)
	}
	if l.Broker().Subscribers() != 1 {
		t.Fatalf("subscribers %d", l.Broker().Subscribers())
	}
	fast.Close()
	fast.Close() // twice is fine
}

func TestBadAppendDoesNotSinkTheBatch(t *testing.T) {
	t.Parallel()
	st := newStore(t, "dep_a")
	l := newLog(t, st, eventlog.Options{})
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dep := "dep_a"
			if i%10 == 0 {
				dep = "dep_missing"
			}
			errs[i] = l.Append(context.Background(), token(dep, i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (i%10 == 0) != (err != nil) {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	evs, _ := st.ListEvents(context.Background(), "dep_a", 0, 1000, store.EventFilter{})
	if len(evs) != 45 {
		t.Fatalf("%d events stored, want 45", len(evs))
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	st := newStore(t, "dep_a")
	l := eventlog.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), eventlog.Options{})
	sub := l.Subscribe("dep_a")
	l.Emit(token("dep_a", 1))
	l.Close()
	l.Close()
	evs, _ := st.ListEvents(context.Background(), "dep_a", 0, 10, store.EventFilter{})
	if len(evs) != 1 {
		t.Fatal("Close must commit what was queued")
	}
	if err := l.Append(context.Background(), token("dep_a", 2)); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	for range sub.C() {
	}
	if sub.Dropped() {
		t.Fatal("closing is not dropping")
	}
}
