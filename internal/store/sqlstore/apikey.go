package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

const apiKeyColumns = `id, name, scopes, hash, prefix, created_at, last_used_at, revoked_at, customer_id`

func scanAPIKey(sc scanner) (*herm.APIKey, error) {
	var k herm.APIKey
	var scopes string
	var created int64
	var used, revoked sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Name, &scopes, &k.Hash, &k.Prefix, &created, &used, &revoked, &k.CustomerID); err != nil {
		return nil, err
	}
	if err := fromJSON(scopes, &k.Scopes); err != nil {
		return nil, err
	}
	k.CreatedAt, k.LastUsed, k.RevokedAt = fromMicros(created), fromNullMicros(used), fromNullMicros(revoked)
	return &k, nil
}

// CreateAPIKey stores k.
func (q *querier) CreateAPIKey(ctx context.Context, k *herm.APIKey) error {
	scopes, err := toJSON(k.Scopes)
	if err != nil {
		return err
	}
	_, err = q.w().ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, scopes, k.Hash, k.Prefix, micros(k.CreatedAt), microsPtr(k.LastUsed), microsPtr(k.RevokedAt), k.CustomerID)
	return q.dbErr("create api key", err, msgs{conflict: "an API key with this ID or secret already exists"})
}

// APIKeyByHash returns the key with this hash.
func (q *querier) APIKeyByHash(ctx context.Context, hash string) (*herm.APIKey, error) {
	k, err := scanAPIKey(q.r().QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if err != nil {
		return nil, q.dbErr("get api key", err, msgs{notFound: "API key not found"})
	}
	return k, nil
}

// ListAPIKeys lists the keys that are not revoked, newest first.
func (q *querier) ListAPIKeys(ctx context.Context, p herm.Page) ([]*herm.APIKey, error) {
	query, args := newestFirst(`SELECT `+apiKeyColumns+` FROM api_keys WHERE revoked_at IS NULL`, nil, p.Cursor, p.Limit)
	return list(ctx, q, q.r(), "list api keys", query, scanAPIKey, args...)
}

// RevokeAPIKey marks a key revoked.
func (q *querier) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := q.w().ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, micros(at), id)
	return q.changed("revoke api key", res, err, notFound("API key"))
}

// CountAPIKeys counts the keys that are not revoked.
func (q *querier) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	err := q.r().QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL`).Scan(&n)
	return n, q.dbErr("count api keys", err, msgs{})
}

// TouchAPIKey records a key's last use.
func (q *querier) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	res, err := q.w().ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, micros(at), id)
	return q.changed("touch api key", res, err, notFound("API key"))
}

// GetIdempotency returns a stored response.
func (q *querier) GetIdempotency(ctx context.Context, keyID, key string) (*herm.Idempotency, error) {
	r := herm.Idempotency{KeyID: keyID, Key: key}
	var created int64
	err := q.r().QueryRowContext(ctx, `SELECT request_hash, status_code, content_type, body, created_at
		FROM idempotency WHERE key_id = ? AND key = ?`, keyID, key).
		Scan(&r.RequestHash, &r.StatusCode, &r.ContentType, &r.Body, &created)
	if err != nil {
		return nil, q.dbErr("get idempotency", err, msgs{notFound: "idempotency key not found"})
	}
	r.CreatedAt = fromMicros(created)
	return &r, nil
}

// PutIdempotency stores a response.
func (q *querier) PutIdempotency(ctx context.Context, r *herm.Idempotency) error {
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	_, err := q.w().ExecContext(ctx, `INSERT INTO idempotency
		(key_id, key, request_hash, status_code, content_type, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.KeyID, r.Key, r.RequestHash, r.StatusCode, r.ContentType, body, micros(r.CreatedAt))
	return q.dbErr("put idempotency", err, msgs{conflict: "a response is already stored for this idempotency key"})
}

// DeleteIdempotencyBefore removes responses created before t.
func (q *querier) DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := q.w().ExecContext(ctx, `DELETE FROM idempotency WHERE created_at < ?`, micros(t))
	return q.count("delete idempotency", res, err)
}

// ReserveIdempotency stores r (StatusCode 0: a request in progress) unless
// a row for its (KeyID, Key) exists, which it returns instead (nil when r
// was stored: the caller holds the key).
func (q *querier) ReserveIdempotency(ctx context.Context, r *herm.Idempotency) (*herm.Idempotency, error) {
	res, err := q.w().ExecContext(ctx, `INSERT INTO idempotency
		(key_id, key, request_hash, status_code, content_type, body, created_at) VALUES (?, ?, ?, 0, '', ?, ?)
		ON CONFLICT (key_id, key) DO NOTHING`,
		r.KeyID, r.Key, r.RequestHash, []byte{}, micros(r.CreatedAt))
	if n, err := q.count("reserve idempotency", res, err); err != nil || n == 1 {
		return nil, err
	}
	prev, err := q.GetIdempotency(ctx, r.KeyID, r.Key)
	if herm.IsCode(err, herm.ENotFound) {
		return nil, herm.Errorf(herm.EConflict, "the idempotency key was released meanwhile; retry")
	}
	return prev, err
}

// TakeIdempotency takes over a row read earlier (an expired response, or a
// reservation whose request died), as a new reservation r, only if it is
// still the row read (created at was): EConflict otherwise.
func (q *querier) TakeIdempotency(ctx context.Context, r *herm.Idempotency, was time.Time) error {
	res, err := q.w().ExecContext(ctx, `UPDATE idempotency SET request_hash = ?, status_code = 0, content_type = '', body = ?, created_at = ?
		WHERE key_id = ? AND key = ? AND created_at = ?`,
		r.RequestHash, []byte{}, micros(r.CreatedAt), r.KeyID, r.Key, micros(was))
	return q.changed("take idempotency", res, err, herm.Errorf(herm.EConflict, "another request took this Idempotency-Key meanwhile"))
}

// CompleteIdempotency stores the response of the reservation r (its
// StatusCode, ContentType and Body); EConflict when the reservation is no
// longer r's (taken over as dead).
func (q *querier) CompleteIdempotency(ctx context.Context, r *herm.Idempotency) error {
	body := r.Body
	if body == nil {
		body = []byte{}
	}
	res, err := q.w().ExecContext(ctx, `UPDATE idempotency SET status_code = ?, content_type = ?, body = ?
		WHERE key_id = ? AND key = ? AND status_code = 0 AND created_at = ?`,
		r.StatusCode, r.ContentType, body, r.KeyID, r.Key, micros(r.CreatedAt))
	return q.changed("complete idempotency", res, err, herm.Errorf(herm.EConflict, "the reservation of this Idempotency-Key was taken over"))
}

// ReleaseIdempotency removes the reservation r (its request had no result
// to keep: the client may retry).
func (q *querier) ReleaseIdempotency(ctx context.Context, r *herm.Idempotency) error {
	_, err := q.w().ExecContext(ctx, `DELETE FROM idempotency WHERE key_id = ? AND key = ? AND status_code = 0 AND created_at = ?`,
		r.KeyID, r.Key, micros(r.CreatedAt))
	return q.dbErr("release idempotency", err, msgs{})
}
