package herm

import (
	"context"
	"slices"
	"time"
)

// API key scopes.
const (
	ScopeRead  = "deployments:read"
	ScopeWrite = "deployments:write"
	ScopeAdmin = "admin"
)

// Scopes lists every scope.
func Scopes() []string { return []string{ScopeRead, ScopeWrite, ScopeAdmin} }

// APIKey is a credential for the API. Only a hash of the secret is stored.
type APIKey struct {
	ID     string
	Name   string
	Scopes []string
	// CustomerID limits the key to this customer's deployments ("" = every
	// customer): it reaches /v1/deployments/** and GET /v1/models only,
	// never holds admin, and references only this customer's own secrets.
	CustomerID string
	Hash       string // hex SHA-256 of the whole key
	Prefix     string // the first characters of the key, to recognise it
	CreatedAt  time.Time
	LastUsed   *time.Time
	RevokedAt  *time.Time
}

// Allows reports whether the key grants scope; admin implies every scope.
func (k *APIKey) Allows(scope string) bool {
	return slices.Contains(k.Scopes, ScopeAdmin) || slices.Contains(k.Scopes, scope)
}

type keyCustomerCtx struct{}

// WithKeyCustomer returns ctx carrying the customer a request's API key is
// limited to (validation and the vault refuse what such a key may not do).
func WithKeyCustomer(ctx context.Context, customerID string) context.Context {
	if customerID == "" {
		return ctx
	}
	return context.WithValue(ctx, keyCustomerCtx{}, customerID)
}

// KeyCustomer returns the customer the request's API key is limited to,
// if it is.
func KeyCustomer(ctx context.Context) (string, bool) {
	c, ok := ctx.Value(keyCustomerCtx{}).(string)
	return c, ok
}

// Idempotency is a stored response to a POST with an Idempotency-Key.
type Idempotency struct {
	KeyID       string // the API key that made the request
	Key         string // the Idempotency-Key header
	RequestHash string // method, path and body
	StatusCode  int
	ContentType string
	Body        []byte
	CreatedAt   time.Time
}
