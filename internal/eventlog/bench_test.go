package eventlog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
)

// BenchmarkEmitDelivered measures events appended to SQLite and delivered
// to a live subscriber, end to end: writers Emit token deltas (as runs do),
// the group commit persists them, the subscriber receives them. "events/s"
// counts events the subscriber received.
func BenchmarkEmitDelivered(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			st := newStore(b, "dep_a")
			l := eventlog.New(st, discard(), eventlog.Options{SubscriberBuffer: 1 << 20})
			defer l.Close()
			sub := l.Subscribe("dep_a")
			defer sub.Close()
			total := b.N
			received := make(chan struct{})
			go func() {
				n := 0
				for range sub.C() {
					if n++; n == total {
						close(received)
						return
					}
				}
			}()
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < total; i += writers {
						l.Emit(herm.NewEvent("dep_a", "thr_dep_a", "run_1", herm.EventToken, map[string]string{"delta": "Hello, world! "}))
					}
				}()
			}
			wg.Wait()
			<-received
			b.StopTimer()
			if sub.Dropped() {
				b.Fatal("subscriber dropped")
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendLatency measures one waiting Append (a state change such as
// run_status), i.e. the commit latency a run step pays.
func BenchmarkAppendLatency(b *testing.B) {
	st := newStore(b, "dep_a")
	l := eventlog.New(st, discard(), eventlog.Options{})
	defer l.Close()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if err := l.Append(ctx, herm.NewEvent("dep_a", "", "", herm.EventRunStatus, map[string]string{"status": "running"})); err != nil {
			b.Fatal(err)
		}
	}
}
