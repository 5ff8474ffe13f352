package auth

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/sqlite"
)

// touchCounter is a real store that counts the key uses it is asked to
// record.
type touchCounter struct {
	store.Store
	mu      sync.Mutex
	touches []time.Time
}

func (s *touchCounter) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	s.touches = append(s.touches, at)
	s.mu.Unlock()
	return s.Store.TouchAPIKey(ctx, id, at)
}

func (s *touchCounter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.touches)
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newKeys(t testing.TB) (*Keys, *touchCounter, *clock) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/herm.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tc := &touchCounter{Store: st}
	clk := &clock{t: time.Date(2026, 6, 11, 18, 0, 0, 0, time.UTC)}
	return New(tc, herm.NewIDGen(clk.now), clk.now), tc, clk
}

func TestCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys, _, clk := newKeys(t)
	for _, c := range []struct {
		name     string
		key      string
		scopes   []string
		customer string
		mentions string // "" = accepted
	}{
		{"read", "ci", []string{herm.ScopeRead}, "", ""},
		{"every scope", "ci", herm.Scopes(), "", ""},
		{"a customer's read and write", "frontend", []string{herm.ScopeRead, herm.ScopeWrite}, "cus_1", ""},
		{"name at the limit", strings.Repeat("n", 200), []string{herm.ScopeRead}, "", ""},
		{"customer id at the limit", "k", []string{herm.ScopeRead}, strings.Repeat("c", 255), ""},
		{"no name", "", []string{herm.ScopeRead}, "", "name is required"},
		{"blank name", "  ", []string{herm.ScopeRead}, "", "name is required"},
		{"name too long", strings.Repeat("n", 201), []string{herm.ScopeRead}, "", "name is required (1 to 200"},
		{"no scopes", "k", nil, "", "scopes is required"},
		{"unknown scope", "k", []string{herm.ScopeRead, "root"}, "", `unknown scope "root"`},
		{"admin for a customer", "k", []string{herm.ScopeAdmin}, "cus_1", "not admin"},
		{"admin among others for a customer", "k", []string{herm.ScopeRead, herm.ScopeAdmin}, "cus_1", "not admin"},
		{"customer id with spaces", "k", []string{herm.ScopeRead}, " cus_1", "customer_id"},
		{"customer id too long", "k", []string{herm.ScopeRead}, strings.Repeat("c", 256), "customer_id"},
		{"customer id not UTF-8", "k", []string{herm.ScopeRead}, "c\xff", "customer_id"},
	} {
		key, secret, err := keys.Create(ctx, c.key, c.scopes, c.customer)
		if c.mentions != "" {
			if herm.ErrorCode(err) != herm.EInvalid || !strings.Contains(herm.ErrorMessage(err), c.mentions) || key != nil || secret != "" {
				t.Errorf("%s: %v, want a validation_error mentioning %q", c.name, err, c.mentions)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !strings.HasPrefix(secret, KeyPrefix) || len(secret) < len(KeyPrefix)+40 || !strings.HasPrefix(key.ID, herm.PrefixKey) {
			t.Errorf("%s: secret %q, id %q", c.name, secret, key.ID)
		}
		if key.Hash != Hash(secret) || strings.Contains(key.Hash, secret) || !strings.HasPrefix(secret, key.Prefix) || len(key.Prefix) != len(KeyPrefix)+4 {
			t.Errorf("%s: stored hash %q, prefix %q", c.name, key.Hash, key.Prefix)
		}
		if !slices.Equal(key.Scopes, c.scopes) || key.CustomerID != c.customer || !key.CreatedAt.Equal(clk.now()) {
			t.Errorf("%s: %+v", c.name, key)
		}
		got, err := keys.Authenticate(ctx, secret)
		if err != nil || got.ID != key.ID || !slices.Equal(got.Scopes, c.scopes) || got.CustomerID != c.customer {
			t.Errorf("%s: authenticate: %+v %v", c.name, got, err)
		}
	}
	// Two keys never share a secret.
	_, a, _ := keys.Create(ctx, "a", []string{herm.ScopeRead}, "")
	_, b, _ := keys.Create(ctx, "b", []string{herm.ScopeRead}, "")
	if a == b {
		t.Fatal("two keys with one secret")
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys, _, _ := newKeys(t)
	key, secret, err := keys.Create(ctx, "ci", []string{herm.ScopeRead}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, secret, mentions string
	}{
		{"missing", "", "missing API key"},
		{"unknown", KeyPrefix + "nope", "invalid or revoked"},
		{"with its scheme", "Bearer " + secret, "invalid or revoked"}, // the caller strips "Bearer "
		{"another case", strings.ToUpper(secret), "invalid or revoked"},
		{"a prefix of it", secret[:len(secret)-1], "invalid or revoked"},
	} {
		got, err := keys.Authenticate(ctx, c.secret)
		if got != nil || herm.ErrorCode(err) != herm.EUnauthorized || !strings.Contains(herm.ErrorMessage(err), c.mentions) {
			t.Errorf("%s: %+v %v", c.name, got, err)
		}
	}
	if n, err := keys.Count(ctx); err != nil || n != 1 {
		t.Fatalf("count %d %v", n, err)
	}
	if err := keys.Revoke(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := keys.Authenticate(ctx, secret); got != nil || herm.ErrorCode(err) != herm.EUnauthorized {
		t.Fatalf("revoked key: %+v %v", got, err)
	}
	if err := keys.Revoke(ctx, key.ID); !herm.IsCode(err, herm.ENotFound) {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := keys.Revoke(ctx, "key_nope"); !herm.IsCode(err, herm.ENotFound) {
		t.Fatalf("revoking an unknown key: %v", err)
	}
	if n, err := keys.Count(ctx); err != nil || n != 0 {
		t.Fatalf("count after revoking: %d %v", n, err)
	}
	l, err := keys.List(ctx, herm.Page{Limit: 10})
	if err != nil || len(l) != 0 {
		t.Fatalf("list lists a revoked key: %v %v", l, err)
	}
}

// HERM_API_KEY: the bootstrap key is created once with every scope, left
// alone when it exists, and refused when it was revoked.
func TestEnsure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys, _, _ := newKeys(t)
	const secret = "my-chosen-admin-key"
	for range 2 {
		if err := keys.Ensure(ctx, "bootstrap", secret); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := keys.Count(ctx); n != 1 {
		t.Fatalf("%d keys after ensuring one twice", n)
	}
	key, err := keys.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(key.Scopes, herm.Scopes()) || key.CustomerID != "" || key.Name != "bootstrap" || key.Prefix != secret[:len(KeyPrefix)+4] {
		t.Fatalf("bootstrap key %+v", key)
	}
	for _, s := range herm.Scopes() {
		if !key.Allows(s) {
			t.Errorf("bootstrap key lacks %s", s)
		}
	}
	if err := keys.Revoke(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if err := keys.Ensure(ctx, "bootstrap", secret); !herm.IsCode(err, herm.EConflict) || !strings.Contains(herm.ErrorMessage(err), "revoked") {
		t.Fatalf("ensuring a revoked key: %v", err)
	}
	if _, err := keys.Authenticate(ctx, secret); !herm.IsCode(err, herm.EUnauthorized) {
		t.Fatalf("a revoked bootstrap key came back: %v", err)
	}
	// Another secret is another key.
	if err := keys.Ensure(ctx, "bootstrap", secret+"2"); err != nil {
		t.Fatal(err)
	}
}

// A key's use is recorded at most once a minute (per key), with the
// clock's time.
func TestTouchThrottled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys, st, clk := newKeys(t)
	a, sa, _ := keys.Create(ctx, "a", []string{herm.ScopeRead}, "")
	_, sb, _ := keys.Create(ctx, "b", []string{herm.ScopeRead}, "")
	auth := func(secret string) {
		t.Helper()
		if _, err := keys.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	auth(sa)
	if st.count() != 1 {
		t.Fatalf("first use: %d touches", st.count())
	}
	first := clk.now()
	for range 5 {
		clk.add(10 * time.Second) // up to 50 s later
		auth(sa)
	}
	if st.count() != 1 {
		t.Fatalf("uses within a minute: %d touches", st.count())
	}
	auth(sb) // another key is recorded on its own
	if st.count() != 2 {
		t.Fatalf("another key: %d touches", st.count())
	}
	clk.add(10 * time.Second) // a minute after the first recorded use
	auth(sa)
	if st.count() != 3 {
		t.Fatalf("a minute later: %d touches", st.count())
	}
	got, err := st.APIKeyByHash(ctx, a.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsed == nil || !got.LastUsed.Equal(first.Add(time.Minute)) {
		t.Fatalf("last used %v, want %v", got.LastUsed, first.Add(time.Minute))
	}
	// A failed authentication records nothing.
	_, _ = keys.Authenticate(ctx, "nope")
	if st.count() != 3 {
		t.Fatalf("unknown key: %d touches", st.count())
	}
}

func TestAllows(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		scopes []string
		scope  string
		want   bool
	}{
		{[]string{herm.ScopeRead}, herm.ScopeRead, true},
		{[]string{herm.ScopeRead}, herm.ScopeWrite, false},
		{[]string{herm.ScopeWrite}, herm.ScopeRead, false},
		{[]string{herm.ScopeRead, herm.ScopeWrite}, herm.ScopeAdmin, false},
		{[]string{herm.ScopeAdmin}, herm.ScopeRead, true},
		{[]string{herm.ScopeAdmin}, herm.ScopeWrite, true},
	} {
		k := &herm.APIKey{Scopes: c.scopes}
		if got := k.Allows(c.scope); got != c.want {
			t.Errorf("%v allows %s: %v", c.scopes, c.scope, got)
		}
	}
}
