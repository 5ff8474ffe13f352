package sqlite_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// BenchmarkAppendEvents measures the event log's hot path: batches of token
// deltas appended to one first-generation deployment (its events are not
// numbered in their thread's sequence), as the event log's group commit sends
// them. Run with -benchtime to taste; "events/s" is the figure to watch.
func BenchmarkAppendEvents(b *testing.B) { benchmarkAppend(b, false) }

// BenchmarkAppendSessionEvents is BenchmarkAppendEvents on a hidden
// deployment's thread, a session's: every token event is numbered in its
// thread's sequence too, which is what the sessions' events cost.
func BenchmarkAppendSessionEvents(b *testing.B) { benchmarkAppend(b, true) }

func benchmarkAppend(b *testing.B, hidden bool) {
	for _, size := range []int{1, 100, 500} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s := open(b, "", nil)
			ctx := b.Context()
			now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			d := &herm.Deployment{ID: "dep_bench", CustomerID: "cus_1", Status: herm.DeploymentReady, CreatedAt: now, UpdatedAt: now}
			th := &herm.Thread{ID: "thr_bench", CreatedAt: now, LastActivityAt: now}
			if hidden {
				if err := s.CreateAgent(ctx, &herm.Agent{ID: "agt_bench", Name: "bench", CreatedAt: now, UpdatedAt: now}, json.RawMessage(`{}`)); err != nil {
					b.Fatal(err)
				}
				d.AgentID, d.UserKey = "agt_bench", "user_bench"
				if _, _, err := s.EnsureAgentDeployment(ctx, d, th); err != nil {
					b.Fatal(err)
				}
			} else if err := s.CreateDeployment(ctx, d, th); err != nil {
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
				if hidden && evs[size-1].ThreadSeq != int64((i+1)*size) {
					b.Fatalf("thread seq %d after %d batches", evs[size-1].ThreadSeq, i+1)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
