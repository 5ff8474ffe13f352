package postgres_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// BenchmarkAppendEvents measures the event log's hot path: batches of token
// deltas appended to one deployment, as the event log's group commit sends
// them; the same benchmark as the sqlite store's, on the database of
// HERM_TEST_POSTGRES_URL (skipped without it). Run with -benchtime to taste;
// "events/s" is the figure to watch.
func BenchmarkAppendEvents(b *testing.B) {
	for _, size := range []int{1, 100, 500} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := open(b, schema(b), nil)
			ctx := b.Context()
			now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			d := &herm.Deployment{ID: "dep_bench", CustomerID: "cus_1", Status: herm.DeploymentReady, CreatedAt: now, UpdatedAt: now}
			if err := s.CreateDeployment(ctx, d, &herm.Thread{ID: "thr_bench", CreatedAt: now, LastActivityAt: now}); err != nil {
				b.Fatal(err)
			}
			data := json.RawMessage(`{"message_id":"msg_01JD7Z8Q4M2V3X5Y6Z7A8B9C0D","delta":"Hello, world! "}`)
			evs := make([]*herm.Event, size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				for j := range evs {
					evs[j] = &herm.Event{
						DeploymentID: d.ID, ThreadID: "thr_bench", RunID: "run_bench", Type: herm.EventToken,
						Data: data, CreatedAt: now.Add(time.Duration(i*size+j) * time.Microsecond),
					}
				}
				if err := s.AppendEvents(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
