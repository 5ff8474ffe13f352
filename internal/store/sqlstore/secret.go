package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

const secretColumns = `id, name, customer_id, allowed_hosts, ciphertext, created_at, rotated_at`

func scanSecret(sc scanner) (*herm.Secret, error) {
	var s herm.Secret
	var hosts string
	var created int64
	var rotated sql.NullInt64
	if err := sc.Scan(&s.ID, &s.Name, &s.CustomerID, &hosts, &s.Ciphertext, &created, &rotated); err != nil {
		return nil, err
	}
	if err := fromJSON(hosts, &s.AllowedHosts); err != nil {
		return nil, err
	}
	s.CreatedAt, s.RotatedAt = fromMicros(created), fromNullMicros(rotated)
	return &s, nil
}

// CreateSecret stores s.
func (q *querier) CreateSecret(ctx context.Context, s *herm.Secret) error {
	hosts, err := toJSON(s.AllowedHosts)
	if err != nil {
		return err
	}
	_, err = q.w().ExecContext(ctx, `INSERT INTO secrets (`+secretColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Name, s.CustomerID, hosts, s.Ciphertext, micros(s.CreatedAt), microsPtr(s.RotatedAt))
	return q.dbErr("create secret", err, msgs{conflict: "a secret with this ID already exists"})
}

// GetSecret returns a secret.
func (q *querier) GetSecret(ctx context.Context, id string) (*herm.Secret, error) {
	s, err := scanSecret(q.r().QueryRowContext(ctx, `SELECT `+secretColumns+` FROM secrets WHERE id = ?`, id))
	return s, q.dbErr("get secret", err, msgs{notFound: "secret not found"})
}

// ListSecrets lists secrets newest first.
func (q *querier) ListSecrets(ctx context.Context, p herm.Page) ([]*herm.Secret, error) {
	return listNewest(ctx, q, "list secrets", `SELECT `+secretColumns+` FROM secrets`, scanSecret, p)
}

// RotateSecret replaces a secret's ciphertext.
func (q *querier) RotateSecret(ctx context.Context, id string, ciphertext []byte, at time.Time) error {
	res, err := q.w().ExecContext(ctx, `UPDATE secrets SET ciphertext = ?, rotated_at = ? WHERE id = ?`, ciphertext, micros(at), id)
	return q.changed("rotate secret", res, err, notFound("secret"))
}

// ResealSecret replaces a secret's ciphertext if it is still old.
func (q *querier) ResealSecret(ctx context.Context, id string, old, ciphertext []byte) error {
	_, err := q.w().ExecContext(ctx, `UPDATE secrets SET ciphertext = ? WHERE id = ? AND ciphertext = ?`, ciphertext, id, old)
	return q.dbErr("reseal secret", err, msgs{})
}

// DeleteSecret removes a secret.
func (q *querier) DeleteSecret(ctx context.Context, id string) error {
	res, err := q.w().ExecContext(ctx, `DELETE FROM secrets WHERE id = ?`, id)
	return q.changed("delete secret", res, err, notFound("secret"))
}
