package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hermhq/herm/internal/herm"
)

func (f *fixture) apiKey(n int) *herm.APIKey {
	f.t.Helper()
	k := &herm.APIKey{
		ID: f.id(herm.PrefixKey), Name: fmt.Sprintf("key %d", n), Scopes: []string{herm.ScopeRead},
		Hash: fmt.Sprintf("hash-%d", n), Prefix: fmt.Sprintf("hk_%d", n), CreatedAt: at(time.Duration(n) * time.Second),
	}
	f.must(f.s.CreateAPIKey(f.ctx, k))
	return k
}

func apiKeyTests() []test {
	return []test{
		{"APIKey/CreateAndGet", func(t *testing.T, f *fixture) {
			for _, k := range []*herm.APIKey{
				{ID: f.id(herm.PrefixKey), Name: "ci", Scopes: []string{herm.ScopeRead, herm.ScopeWrite},
					Hash: "h1", Prefix: "hk_live_ab", CreatedAt: at(0)},
				{ID: f.id(herm.PrefixKey), Name: "admin", Scopes: []string{herm.ScopeAdmin},
					Hash: "h2", Prefix: "hk_live_cd", CreatedAt: at(time.Second), LastUsed: ptr(at(time.Minute)), RevokedAt: ptr(at(time.Hour))},
			} {
				f.must(f.s.CreateAPIKey(f.ctx, k))
				got, err := f.s.APIKeyByHash(f.ctx, k.Hash)
				f.must(err)
				wantDiff(t, "key", k, got)
			}
		}},
		{"APIKey/Conflict", func(t *testing.T, f *fixture) {
			k := f.apiKey(1)
			sameID := *k
			sameID.Hash = "other"
			wantCode(t, f.s.CreateAPIKey(f.ctx, &sameID), herm.EConflict)
			sameHash := *k
			sameHash.ID = f.id(herm.PrefixKey)
			wantCode(t, f.s.CreateAPIKey(f.ctx, &sameHash), herm.EConflict)
			n, err := f.s.CountAPIKeys(f.ctx)
			f.must(err)
			if n != 1 {
				t.Fatalf("CountAPIKeys = %d, want 1", n)
			}
		}},
		{"APIKey/NotFound", func(t *testing.T, f *fixture) {
			_, err := f.s.APIKeyByHash(f.ctx, "nope")
			wantCode(t, err, herm.ENotFound)
			wantCode(t, f.s.RevokeAPIKey(f.ctx, "key_nope", at(0)), herm.ENotFound)
			wantCode(t, f.s.TouchAPIKey(f.ctx, "key_nope", at(0)), herm.ENotFound)
		}},
		{"APIKey/ListRevokeCount", func(t *testing.T, f *fixture) {
			var keys []*herm.APIKey
			for i := range 5 {
				keys = append(keys, f.apiKey(i))
			}
			f.must(f.s.RevokeAPIKey(f.ctx, keys[1].ID, at(time.Hour)))
			wantCode(t, f.s.RevokeAPIKey(f.ctx, keys[1].ID, at(2*time.Hour)), herm.ENotFound)

			n, err := f.s.CountAPIKeys(f.ctx)
			f.must(err)
			if n != 4 {
				t.Fatalf("CountAPIKeys = %d, want 4", n)
			}
			revoked, err := f.s.APIKeyByHash(f.ctx, keys[1].Hash)
			f.must(err)
			if revoked.RevokedAt == nil || !revoked.RevokedAt.Equal(at(time.Hour)) {
				t.Fatalf("RevokedAt = %v, want %v", revoked.RevokedAt, at(time.Hour))
			}

			var pages [][]*herm.APIKey
			cursor := ""
			for range 3 {
				page, err := f.s.ListAPIKeys(f.ctx, herm.Page{Limit: 2, Cursor: cursor})
				f.must(err)
				pages = append(pages, page)
				if len(page) > 0 {
					cursor = page[len(page)-1].ID
				}
			}
			want := [][]*herm.APIKey{{keys[4], keys[3]}, {keys[2], keys[0]}, nil}
			wantDiff(t, "pages", want, pages, cmpopts.EquateEmpty())
		}},
		{"APIKey/Touch", func(t *testing.T, f *fixture) {
			k := f.apiKey(1)
			for _, when := range []time.Time{at(time.Minute), at(time.Hour)} {
				f.must(f.s.TouchAPIKey(f.ctx, k.ID, when))
				got, err := f.s.APIKeyByHash(f.ctx, k.Hash)
				f.must(err)
				if got.LastUsed == nil || !got.LastUsed.Equal(when) {
					t.Fatalf("LastUsed = %v, want %v", got.LastUsed, when)
				}
			}
		}},
	}
}

func idempotencyTests() []test {
	return []test{
		{"Idempotency/PutGetConflict", func(t *testing.T, f *fixture) {
			r := &herm.Idempotency{
				KeyID: "key_1", Key: "idem-1", RequestHash: "POST /v1/deployments abc", StatusCode: 201,
				ContentType: "application/json", Body: []byte(`{"id":"dep_1"}`), CreatedAt: at(0),
			}
			f.must(f.s.PutIdempotency(f.ctx, r))
			got, err := f.s.GetIdempotency(f.ctx, "key_1", "idem-1")
			f.must(err)
			wantDiff(t, "response", r, got)

			again := *r
			again.StatusCode = 500
			wantCode(t, f.s.PutIdempotency(f.ctx, &again), herm.EConflict)

			// The same header value from another key is another request.
			other := *r
			other.KeyID = "key_2"
			f.must(f.s.PutIdempotency(f.ctx, &other))

			_, err = f.s.GetIdempotency(f.ctx, "key_1", "idem-2")
			wantCode(t, err, herm.ENotFound)
			_, err = f.s.GetIdempotency(f.ctx, "key_3", "idem-1")
			wantCode(t, err, herm.ENotFound)
		}},
		{"Idempotency/Reservation", func(t *testing.T, f *fixture) {
			mine := &herm.Idempotency{KeyID: "key_1", Key: "idem-r", RequestHash: "h1", CreatedAt: at(time.Second)}
			prev, err := f.s.ReserveIdempotency(f.ctx, mine)
			if err != nil || prev != nil {
				t.Fatalf("first reservation: %+v, %v", prev, err)
			}
			// A second request finds the reservation in progress.
			prev, err = f.s.ReserveIdempotency(f.ctx, &herm.Idempotency{KeyID: "key_1", Key: "idem-r", RequestHash: "h1", CreatedAt: at(2 * time.Second)})
			f.must(err)
			if prev == nil || prev.StatusCode != 0 || !prev.CreatedAt.Equal(at(time.Second)) {
				t.Fatalf("second reservation found %+v", prev)
			}
			// It keeps its response.
			mine.StatusCode, mine.ContentType, mine.Body = 201, "application/json", []byte(`{"ok":true}`)
			f.must(f.s.CompleteIdempotency(f.ctx, mine))
			got, err := f.s.GetIdempotency(f.ctx, "key_1", "idem-r")
			f.must(err)
			wantDiff(t, "kept response", mine, got)
			wantCode(t, f.s.CompleteIdempotency(f.ctx, mine), herm.EConflict) // no longer a reservation

			// Taking over an expired row is guarded by the row read.
			next := &herm.Idempotency{KeyID: "key_1", Key: "idem-r", RequestHash: "h2", CreatedAt: at(48 * time.Hour)}
			wantCode(t, f.s.TakeIdempotency(f.ctx, next, at(0)), herm.EConflict)
			f.must(f.s.TakeIdempotency(f.ctx, next, at(time.Second)))
			got, err = f.s.GetIdempotency(f.ctx, "key_1", "idem-r")
			f.must(err)
			if got.StatusCode != 0 || got.RequestHash != "h2" || len(got.Body) != 0 {
				t.Fatalf("after the take-over: %+v", got)
			}
			// A released reservation frees the key.
			f.must(f.s.ReleaseIdempotency(f.ctx, next))
			_, err = f.s.GetIdempotency(f.ctx, "key_1", "idem-r")
			wantCode(t, err, herm.ENotFound)
		}},
		{"Idempotency/ReservationRace", func(t *testing.T, f *fixture) {
			// Two servers reserving one key: exactly one holds it.
			other := f.another()
			for i := range 20 {
				key := fmt.Sprint("race-", i)
				var pa, pb *herm.Idempotency
				var ea, eb error
				race(func() {
					pa, ea = f.s.ReserveIdempotency(f.ctx, &herm.Idempotency{KeyID: "key_1", Key: key, RequestHash: "a", CreatedAt: at(time.Second)})
				}, func() {
					pb, eb = other.ReserveIdempotency(f.ctx, &herm.Idempotency{KeyID: "key_1", Key: key, RequestHash: "b", CreatedAt: at(time.Second)})
				})
				f.must(ea)
				f.must(eb)
				if (pa == nil) == (pb == nil) {
					t.Fatalf("round %d: both or neither held the key (%+v, %+v)", i, pa, pb)
				}
			}
		}},
		{"Idempotency/Expiry", func(t *testing.T, f *fixture) {
			for i := range 4 {
				f.must(f.s.PutIdempotency(f.ctx, &herm.Idempotency{
					KeyID: "key_1", Key: fmt.Sprint(i), StatusCode: 200, Body: []byte("{}"), CreatedAt: at(time.Duration(i) * time.Hour),
				}))
			}
			n, err := f.s.DeleteIdempotencyBefore(f.ctx, at(2*time.Hour))
			f.must(err)
			if n != 2 {
				t.Fatalf("DeleteIdempotencyBefore = %d, want 2", n)
			}
			for i, want := range []string{herm.ENotFound, herm.ENotFound, "", ""} {
				_, err := f.s.GetIdempotency(f.ctx, "key_1", fmt.Sprint(i))
				wantCode(t, err, want)
			}
			// A key can be used again once its response expired.
			f.must(f.s.PutIdempotency(f.ctx, &herm.Idempotency{KeyID: "key_1", Key: "0", StatusCode: 200, Body: []byte("{}"), CreatedAt: at(3 * time.Hour)}))
		}},
	}
}
