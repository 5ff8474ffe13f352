package eventlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// TestTx checks the order of a transaction's events: events emitted
// before come first, the transaction's own are published only once it
// committed, and a failed one publishes and stores nothing.
func TestTx(t *testing.T) {
	t.Parallel()
	st := newStore(t, "dep_a")
	l := newLog(t, st, eventlog.Options{})
	sub := l.Subscribe("dep_a")
	defer sub.Close()
	ctx := t.Context()

	l.Emit(token("dep_a", 1))
	boom := errors.New("boom")
	err := l.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		return []*herm.Event{token("dep_a", 2)}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx = %v, want boom", err)
	}
	err = l.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		return []*herm.Event{token("dep_a", 3)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.ListEvents(ctx, "dep_a", 0, 0, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var deltas []string
	for _, e := range stored {
		var d struct{ Delta string }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		deltas = append(deltas, d.Delta)
	}
	if len(deltas) != 2 || deltas[0] != "1" || deltas[1] != "3" {
		t.Fatalf("stored deltas %v, want [1 3]", deltas)
	}
	for _, want := range []int64{1, 2} {
		select {
		case e := <-sub.C():
			if e.Seq != want {
				t.Fatalf("published seq %d, want %d", e.Seq, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("seq %d not published", want)
		}
	}
	select {
	case e := <-sub.C():
		t.Fatalf("published more: seq %d", e.Seq)
	default:
	}
}

// hangingStore is a store whose appends hang until their context ends.
type hangingStore struct{ store.Store }

func (hangingStore) AppendEvents(ctx context.Context, evs []*herm.Event) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestAppendTimeout checks that a store that hangs fails the append after
// AppendTimeout instead of holding the writer forever.
func TestAppendTimeout(t *testing.T) {
	t.Parallel()
	l := newLog(t, hangingStore{newStore(t, "dep_a")}, eventlog.Options{AppendTimeout: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := l.Append(ctx, token("dep_a", 1))
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("Append = %v (caller's context: %v), want the writer's deadline", err, ctx.Err())
	}
}
