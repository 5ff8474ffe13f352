package retention

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type fakeStore struct {
	mu          sync.Mutex
	events, idm []time.Time // the cutoffs asked for
	fail        bool
}

func (f *fakeStore) DeleteEventsBefore(_ context.Context, t time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, t)
	if f.fail {
		return 0, errors.New("disk on fire")
	}
	return 3, nil
}

func (f *fakeStore) DeleteIdempotencyBefore(_ context.Context, t time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idm = append(f.idm, t)
	return 0, nil
}

type fakeSnaps struct{ n int }

func (f *fakeSnaps) Sweep() (int, error) { f.n++; return 0, nil }

// Run sweeps at once and then every hour, each time with cutoffs counted
// back from now, until its context ends; a failing store does not stop
// the rest.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, snaps := &fakeStore{fail: true}, &fakeSnaps{}
		s := New(st, snaps, Options{Events: 48 * time.Hour})
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		synctest.Wait()
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		cancel()
		<-done
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.events) != 2 || snaps.n != 2 || len(st.idm) != 2 {
			t.Fatalf("%d event sweeps, %d idempotency sweeps, %d snapshot sweeps; want 2 each", len(st.events), len(st.idm), snaps.n)
		}
		if !st.events[0].Equal(start.Add(-48*time.Hour)) || !st.events[1].Equal(start.Add(time.Hour-48*time.Hour)) {
			t.Fatalf("event cutoffs %v, start %v", st.events, start)
		}
		if !st.idm[0].Equal(start.Add(-24 * time.Hour)) {
			t.Fatalf("idempotency cutoff %v", st.idm[0])
		}
	})
}
