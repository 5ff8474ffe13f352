package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/auth"
	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store/sqlite"
)

// TestStreamSurvivesBeingDropped appends events much faster than a stream
// with a tiny subscriber buffer can take them live: the subscription is
// dropped again and again, and the stream fills every gap from the store.
// The client must see every event once, in order.
func TestStreamSurvivesBeingDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/herm.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	elog := eventlog.New(st, logger, eventlog.Options{SubscriberBuffer: 2, MaxBatch: 50})
	defer elog.Close()
	ids := herm.NewIDGen(nil)
	keys := auth.New(st, ids, nil)
	if err := keys.Ensure(ctx, "test", "k"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	d := &herm.Deployment{ID: "dep_x", CustomerID: "c", Name: "n", Runtime: "hermes", Model: "demo/demo", SystemPrompt: "p",
		Status: herm.DeploymentReady, ConfigVersion: 1, ThreadID: "thr_x", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateDeployment(ctx, d, &herm.Thread{ID: "thr_x", DeploymentID: "dep_x", IsDefault: true, CreatedAt: now, LastActivityAt: now}); err != nil {
		t.Fatal(err)
	}
	srv := New(Config{RateLimit: -1}, Deps{Store: st, Log: elog, Keys: keys, IDs: ids, Logger: logger})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.CloseStreams()

	req, _ := http.NewRequest("GET", ts.URL+"/v1/deployments/dep_x/events?types=token", nil)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Wait until the stream is subscribed, then flood it.
	waitUntil(t, "the stream to subscribe", func() bool { return elog.Broker().Subscribers() > 0 })
	const n = 3000
	go func() {
		for i := 1; i <= n; i++ {
			typ := herm.EventToken
			if i%3 == 0 {
				typ = herm.EventUsage // filtered out: the cursor must still advance
			}
			elog.Emit(herm.NewEvent("dep_x", "thr_x", "run_x", typ, map[string]int{"i": i}))
		}
	}()
	sc := bufio.NewScanner(resp.Body)
	want := 1
	deadline := time.AfterFunc(20*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var p struct {
			Sequence int64 `json:"sequence"`
			Type     string
			I        int
		}
		if err := json.Unmarshal([]byte(line[6:]), &p); err != nil {
			t.Fatal(err)
		}
		for want%3 == 0 {
			want++
		}
		if p.Sequence != int64(want) || p.I != want || p.Type != "token" {
			t.Fatalf("got %+v, want token %d", p, want)
		}
		want++
		if want > n-1 { // n is a usage event: n-1 is the last token
			break
		}
	}
	if want <= n-1 {
		t.Fatalf("stream stopped at %d of %d: %v", want, n, sc.Err())
	}
}

// A stream opened with a key that is then revoked ends (at its next ping);
// a reconnect gets 401.
func TestStreamEndsWhenItsKeyIsRevoked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/herm.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	elog := eventlog.New(st, logger, eventlog.Options{})
	defer elog.Close()
	ids := herm.NewIDGen(nil)
	keys := auth.New(st, ids, nil)
	k, secret, err := keys.Create(ctx, "frontend", []string{herm.ScopeRead}, "c")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	d := &herm.Deployment{ID: "dep_x", CustomerID: "c", Name: "n", Runtime: "hermes", Model: "demo/demo", SystemPrompt: "p",
		Status: herm.DeploymentReady, ConfigVersion: 1, ThreadID: "thr_x", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateDeployment(ctx, d, &herm.Thread{ID: "thr_x", DeploymentID: "dep_x", IsDefault: true, CreatedAt: now, LastActivityAt: now}); err != nil {
		t.Fatal(err)
	}
	srv := New(Config{RateLimit: -1, PingInterval: 20 * time.Millisecond}, Deps{Store: st, Log: elog, Keys: keys, IDs: ids, Logger: logger})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.CloseStreams()
	open := func() *http.Response {
		req, _ := http.NewRequest("GET", ts.URL+"/v1/deployments/dep_x/events", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := open()
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if err := keys.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); ended <- err }()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("the stream broke instead of ending: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stream of a revoked key goes on")
	}
	if r := open(); r.StatusCode != 401 {
		t.Fatalf("reconnect: %d", r.StatusCode)
	}
}
