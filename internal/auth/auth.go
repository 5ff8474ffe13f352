// Package auth issues and checks API keys. Keys are random secrets shown
// once; only their SHA-256 is stored.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// KeyPrefix starts every key this server issues.
const KeyPrefix = "herm_sk_"

// Keys manages API keys.
type Keys struct {
	store store.Store
	ids   *herm.IDGen
	now   func() time.Time

	mu      sync.Mutex
	touched map[string]time.Time // key ID → last recorded use
}

// New returns a Keys.
func New(s store.Store, ids *herm.IDGen, now func() time.Time) *Keys {
	if now == nil {
		now = time.Now
	}
	return &Keys{store: s, ids: ids, now: now, touched: make(map[string]time.Time)}
}

// Hash returns the stored form of a key.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Create issues a key with a name and scopes, limited to one customer's
// deployments when customerID is set, and returns it with its secret,
// which is never available again. EInvalid for unknown or missing scopes,
// and for admin on a customer's key (it could mint keys for any customer).
func (k *Keys) Create(ctx context.Context, name string, scopes []string, customerID string) (*herm.APIKey, string, error) {
	if err := validate(name, scopes, customerID); err != nil {
		return nil, "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", err
	}
	secret := KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	key, err := k.store1(ctx, name, scopes, customerID, secret)
	return key, secret, err
}

func (k *Keys) store1(ctx context.Context, name string, scopes []string, customerID, secret string) (*herm.APIKey, error) {
	key := &herm.APIKey{
		ID: k.ids.New(herm.PrefixKey), Name: name, Scopes: slices.Clone(scopes), CustomerID: customerID,
		Hash: Hash(secret), Prefix: secret[:min(len(secret), len(KeyPrefix)+4)], CreatedAt: k.now().UTC(),
	}
	if err := k.store.CreateAPIKey(ctx, key); err != nil {
		return nil, err
	}
	return key, nil
}

func validate(name string, scopes []string, customerID string) error {
	if strings.TrimSpace(name) == "" || len(name) > 200 || strings.ContainsRune(name, 0) || !utf8.ValidString(name) {
		return herm.Errorf(herm.EInvalid, "name is required (1 to 200 characters of UTF-8 text without NUL)")
	}
	if len(scopes) == 0 {
		return herm.Errorf(herm.EInvalid, "scopes is required: any of %s", strings.Join(herm.Scopes(), ", "))
	}
	for _, s := range scopes {
		if !slices.Contains(herm.Scopes(), s) {
			return herm.Errorf(herm.EInvalid, "scopes: unknown scope %q (known: %s)", s, strings.Join(herm.Scopes(), ", "))
		}
		if s == herm.ScopeAdmin && customerID != "" {
			return herm.Errorf(herm.EInvalid, "scopes: a customer's key (customer_id set) may hold only %s and %s, not admin", herm.ScopeRead, herm.ScopeWrite)
		}
	}
	if customerID != "" && (strings.TrimSpace(customerID) != customerID || len(customerID) > 255 || !utf8.ValidString(customerID) || strings.ContainsRune(customerID, 0)) {
		return herm.Errorf(herm.EInvalid, "customer_id must be 1 to 255 characters with no surrounding spaces")
	}
	return nil
}

// Ensure makes sure a key with exactly this secret and every scope exists
// (HERM_API_KEY bootstrap).
func (k *Keys) Ensure(ctx context.Context, name, secret string) error {
	key, err := k.store.APIKeyByHash(ctx, Hash(secret))
	if err == nil && key.RevokedAt == nil {
		return nil
	}
	if err == nil {
		return herm.Errorf(herm.EConflict, "the bootstrap key (HERM_API_KEY) was revoked; unset it or choose another")
	}
	if !herm.IsCode(err, herm.ENotFound) {
		return err
	}
	_, err = k.store1(ctx, name, herm.Scopes(), "", secret)
	if herm.IsCode(err, herm.EConflict) {
		// Another node of the cluster, starting at the same time, stored it.
		if key, err := k.store.APIKeyByHash(ctx, Hash(secret)); err == nil && key.RevokedAt == nil {
			return nil
		}
	}
	return err
}

// Authenticate returns the live key whose secret this is. EUnauthorized.
func (k *Keys) Authenticate(ctx context.Context, secret string) (*herm.APIKey, error) {
	if secret == "" {
		return nil, herm.Errorf(herm.EUnauthorized, "missing API key: send Authorization: Bearer <key>")
	}
	key, err := k.store.APIKeyByHash(ctx, Hash(secret))
	if herm.IsCode(err, herm.ENotFound) || (err == nil && key.RevokedAt != nil) {
		return nil, herm.Errorf(herm.EUnauthorized, "invalid or revoked API key")
	}
	if err != nil {
		return nil, err
	}
	k.touch(ctx, key.ID)
	return key, nil
}

// touch records a key's use at most once a minute, to keep reads cheap.
func (k *Keys) touch(ctx context.Context, id string) {
	now := k.now()
	k.mu.Lock()
	last, ok := k.touched[id]
	if ok && now.Sub(last) < time.Minute {
		k.mu.Unlock()
		return
	}
	k.touched[id] = now
	k.mu.Unlock()
	_ = k.store.TouchAPIKey(ctx, id, now.UTC())
}

// List lists live keys.
func (k *Keys) List(ctx context.Context, p herm.Page) ([]*herm.APIKey, error) {
	return k.store.ListAPIKeys(ctx, p)
}

// Revoke revokes a key. ENotFound.
func (k *Keys) Revoke(ctx context.Context, id string) error {
	return k.store.RevokeAPIKey(ctx, id, k.now().UTC())
}

// Count counts live keys.
func (k *Keys) Count(ctx context.Context) (int, error) { return k.store.CountAPIKeys(ctx) }
