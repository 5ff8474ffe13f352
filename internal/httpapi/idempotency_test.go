package httpapi

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/auth"
	"github.com/hermhq/herm/internal/herm"
)

// An Idempotency-Key is held by a row in the store, not by this process:
// a request another server is running under it (a reservation) is a 409;
// one whose server died (a reservation past the stale time) is run again.
func TestIdempotencyReservations(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, Config{})
	ctx := context.Background()
	k, err := e.store.APIKeyByHash(ctx, auth.Hash(e.writer))
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"title": "t"}
	b, _ := json.Marshal(body)
	hash := requestHash(httptest.NewRequest("POST", "/v1/deployments/dep_a/threads", nil), compactJSON(b))
	reserve := func(key, hash string, at time.Time) {
		prev, err := e.store.ReserveIdempotency(ctx, &herm.Idempotency{KeyID: k.ID, Key: key, RequestHash: hash, CreatedAt: at})
		if err != nil || prev != nil {
			t.Fatalf("reserve %s: %+v %v", key, prev, err)
		}
	}
	post := func(key string) apiResponse {
		return e.do(t, e.writer, "POST", "/v1/deployments/dep_a/threads", body, "Idempotency-Key", key)
	}
	reserve("busy", hash, time.Now().UTC())
	if r := post("busy"); envelope(t, r, 409, "conflict") == "" || !strings.Contains(string(r.body), "in progress") {
		t.Fatalf("a key another server holds: %d %s", r.status, r.body)
	}
	reserve("other", "another request", time.Now().UTC())
	if r := post("other"); envelope(t, r, 409, "conflict") == "" || !strings.Contains(string(r.body), "different request") {
		t.Fatalf("a key held for another request: %d %s", r.status, r.body)
	}
	reserve("dead", hash, time.Now().UTC().Add(-idempotencyStale-time.Minute))
	first := post("dead")
	if first.status != 201 {
		t.Fatalf("a dead reservation's key: %d %s", first.status, first.body)
	}
	again := post("dead")
	if again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
		t.Fatalf("the retry: %d %s", again.status, again.body)
	}
	// A request that keeps no result (a validation error is a result; a
	// 5xx is not) leaves the key free: here, a 4xx is kept.
	bad := e.do(t, e.writer, "POST", "/v1/deployments/dep_a/threads", map[string]any{"title": strings.Repeat("x", 10000)}, "Idempotency-Key", "bad")
	if bad.status != 400 {
		t.Fatalf("bad: %d", bad.status)
	}
	if got, err := e.store.GetIdempotency(ctx, k.ID, "bad"); err != nil || got.StatusCode != 400 {
		t.Fatalf("the 400 kept: %+v %v", got, err)
	}
}
