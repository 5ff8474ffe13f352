package eventlog_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store/sqlite"
)

// Two nodes on one store (two handles on one SQLite file, two Logs): the
// subscribers of one get, in order, the events the other appends; a lost
// signal is made up for by the poll.
func TestEventsOfAnotherNode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stA := newStoreAt(t, dir, "dep_a")
	stB, err := sqlite.Open(context.Background(), dir+"/herm.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stB.Close() })

	var b *eventlog.Log
	var drop atomic.Bool
	var signals atomic.Int64
	a := newLog(t, stA, eventlog.Options{Signal: func(dep string, seq int64) {
		signals.Add(1)
		if !drop.Load() {
			b.Appended(dep, seq)
		}
	}})
	b = newLog(t, stB, eventlog.Options{Signal: func(string, int64) {}, RemotePoll: 50 * time.Millisecond})

	// Nobody on B follows dep_a: a signal reads nothing.
	if err := a.Append(context.Background(), token("dep_a", 0)); err != nil {
		t.Fatal(err)
	}
	sub := b.Subscribe("dep_a")
	defer sub.Close()
	next := func() *herm.Event {
		t.Helper()
		select {
		case e, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription closed")
			}
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no event from the other node")
		}
		return nil
	}
	for i := 1; i <= 5; i++ {
		a.Emit(token("dep_a", i))
	}
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The first publish after subscribing may start after the subscriber's
	// own read of the store (it fills the gap itself); after that, every
	// event comes, in order.
	e := next()
	last := e.Seq
	for last < 6 {
		e := next()
		if e.Seq != last+1 {
			t.Fatalf("event %d after %d", e.Seq, last)
		}
		last = e.Seq
	}
	if signals.Load() == 0 {
		t.Fatal("no signal was sent")
	}

	// Signals lost: the poll finds the events.
	drop.Store(true)
	if err := a.Append(context.Background(), token("dep_a", 6), token("dep_a", 7)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{7, 8} {
		if e := next(); e.Seq != want {
			t.Fatalf("polled event %d, want %d", e.Seq, want)
		}
	}

	// B's own appends are not read back from the store twice.
	if err := b.Append(context.Background(), token("dep_a", 8)); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Seq != 9 {
		t.Fatalf("own event %d, want 9", e.Seq)
	}
	select {
	case e := <-sub.C():
		t.Fatalf("event %d published twice", e.Seq)
	case <-time.After(200 * time.Millisecond):
	}
}
