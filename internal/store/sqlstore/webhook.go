package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

const webhookColumns = `id, url, events, deployment_id, secret, created_at`

// Store.hooks states.
const (
	hooksUnknown int32 = iota
	hooksNone
	hooksSome
)

func scanWebhook(sc scanner) (*herm.Webhook, error) {
	var w herm.Webhook
	var events string
	var created int64
	if err := sc.Scan(&w.ID, &w.URL, &events, &w.DeploymentID, &w.Secret, &created); err != nil {
		return nil, err
	}
	if err := fromJSON(events, &w.Events); err != nil {
		return nil, err
	}
	w.CreatedAt = fromMicros(created)
	return &w, nil
}

// CreateWebhook stores w.
func (q *querier) CreateWebhook(ctx context.Context, w *herm.Webhook) error {
	events, err := toJSON(w.Events)
	if err != nil {
		return err
	}
	_, err = q.w().ExecContext(ctx, `INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		w.ID, w.URL, events, w.DeploymentID, w.Secret, micros(w.CreatedAt))
	if err == nil && q.s.d.CacheWebhooks {
		q.s.hooks.Store(hooksSome) // (a rolled-back create only costs appends an empty join)
	}
	return q.dbErr("create webhook", err, msgs{conflict: "a webhook with this ID already exists"})
}

// GetWebhook returns a webhook.
func (q *querier) GetWebhook(ctx context.Context, id string) (*herm.Webhook, error) {
	w, err := scanWebhook(q.r().QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	return w, q.dbErr("get webhook", err, msgs{notFound: "webhook not found"})
}

// ListWebhooks lists webhooks newest first.
func (q *querier) ListWebhooks(ctx context.Context, p herm.Page) ([]*herm.Webhook, error) {
	return listNewest(ctx, q, "list webhooks", `SELECT `+webhookColumns+` FROM webhooks`, scanWebhook, p)
}

// listNewest runs query (a SELECT of one table with no WHERE) for a page of
// its rows by descending id, after p's cursor.
func listNewest[T any](ctx context.Context, q *querier, op, query string, scan func(scanner) (T, error), p herm.Page) ([]T, error) {
	query, args := newestFirst(query+` WHERE 1 = 1`, nil, p.Cursor, p.Limit)
	return list(ctx, q, q.r(), op, query, scan, args...)
}

// ResealWebhook replaces a webhook's encrypted secret if it is still old.
func (q *querier) ResealWebhook(ctx context.Context, id string, old, secret []byte) error {
	_, err := q.w().ExecContext(ctx, `UPDATE webhooks SET secret = ? WHERE id = ? AND secret = ?`, secret, id, old)
	return q.dbErr("reseal webhook", err, msgs{})
}

// DeleteWebhook removes a webhook and its deliveries.
func (q *querier) DeleteWebhook(ctx context.Context, id string) error {
	return q.atomic(ctx, func(q *querier) error {
		res, err := q.w().ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err := q.changed("delete webhook", res, err, notFound("webhook")); err != nil {
			return err
		}
		_, err = q.w().ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = ?`, id)
		if q.s.d.CacheWebhooks {
			q.s.hooks.Store(hooksUnknown) // counted again at the next append
		}
		return q.dbErr("delete webhook", err, msgs{})
	})
}

const deliveryColumns = `id, webhook_id, deployment_id, seq, event_type, status, attempts, next_attempt_at,
	response_status, last_error, created_at, delivered_at`

func scanDelivery(sc scanner) (*herm.Delivery, error) {
	var d herm.Delivery
	var next, created int64
	var status sql.NullInt64
	var lastErr sql.NullString
	var delivered sql.NullInt64
	if err := sc.Scan(&d.ID, &d.WebhookID, &d.DeploymentID, &d.Seq, &d.EventType, &d.Status, &d.Attempts, &next,
		&status, &lastErr, &created, &delivered); err != nil {
		return nil, err
	}
	d.NextAttemptAt, d.CreatedAt, d.DeliveredAt = fromMicros(next), fromMicros(created), fromNullMicros(delivered)
	d.ResponseStatus, d.LastError = int(status.Int64), lastErr.String
	return &d, nil
}

// enqueueDeliveries is the statement of enqueueDeliveries; %s is the
// condition that webhook w wants event e's type.
const enqueueDeliveries = `INSERT INTO webhook_deliveries
		(webhook_id, deployment_id, seq, event_type, status, attempts, next_attempt_at, created_at)
	SELECT w.id, e.deployment_id, e.seq, e.type, 'pending', 0, ?, ?
	FROM events e JOIN webhooks w ON w.deployment_id = '' OR w.deployment_id = e.deployment_id
	WHERE e.deployment_id = ? AND e.seq BETWEEN ? AND ?
		AND %s
	ORDER BY e.seq, w.id`

// enqueueDeliveries writes a pending delivery of each of a deployment's
// events from seq first to last for every webhook that wants it (inside
// AppendEvents' transaction). With Dialect.CacheWebhooks it remembers
// whether webhooks exist, so that appends cost nothing more while there
// are none; in a caller's transaction, which may have changed webhooks and
// may still roll back, "none" is not remembered. Without it, another
// process may create a webhook at any time (and the join costs little
// while there are none).
func (q *querier) enqueueDeliveries(ctx context.Context, deploymentID string, first, last int64, now time.Time, inCallersTx bool) error {
	if q.s.d.CacheWebhooks {
		switch q.s.hooks.Load() {
		case hooksNone:
			return nil
		case hooksUnknown:
			var some bool
			if err := q.w().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks)`).Scan(&some); err != nil {
				return q.dbErr("enqueue deliveries", err, msgs{})
			}
			if !some {
				if !inCallersTx {
					q.s.hooks.CompareAndSwap(hooksUnknown, hooksNone)
				}
				return nil
			}
			q.s.hooks.CompareAndSwap(hooksUnknown, hooksSome)
		}
	}
	_, err := q.w().ExecContext(ctx, q.s.sql.enqueueDeliveries, micros(now), micros(now), deploymentID, first, last)
	return q.dbErr("enqueue deliveries", err, msgs{})
}

// ListDeliveries lists a webhook's deliveries newest first, those with an
// ID below before (0: from the newest), at most limit.
func (q *querier) ListDeliveries(ctx context.Context, webhookID string, before int64, limit int) ([]*herm.Delivery, error) {
	query, args := `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE webhook_id = ?`, []any{webhookID}
	if before > 0 {
		query += ` AND id < ?`
		args = append(args, before)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, pageLimit(limit, defaultLimit))
	return q.deliveries(ctx, q.r(), "list deliveries", query, args...)
}

func (q *querier) deliveries(ctx context.Context, db conn, op, query string, args ...any) ([]*herm.Delivery, error) {
	return list(ctx, q, db, op, query, scanDelivery, args...)
}

// claimDeliveries is ClaimDeliveries' statement; %s is the Dialect's
// SkipLocked: deliveries that another claim holds are skipped, not waited
// for.
const claimDeliveries = `WITH c AS (
		SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
		ORDER BY id LIMIT ?%s)
	UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id IN (SELECT id FROM c)
	RETURNING ` + deliveryColumns

// ClaimDeliveries takes up to limit pending deliveries that are due at now,
// oldest first, and leases them until now+lease (their next attempt, should
// this process stop before it finishes them).
func (q *querier) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*herm.Delivery, error) {
	if q.tx == nil {
		// Most calls find nothing due: ask a reader first, not the writer,
		// and without locking.
		var due bool
		err := q.r().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?)`, micros(now)).Scan(&due)
		if err != nil {
			return nil, q.dbErr("claim deliveries", err, msgs{})
		}
		if !due {
			return nil, nil
		}
	}
	var out []*herm.Delivery
	err := q.atomic(ctx, func(q *querier) error {
		var err error
		out, err = q.deliveries(ctx, q.w(), "claim deliveries", q.s.sql.claimDeliveries,
			micros(now), noLimit(limit), micros(now.Add(lease)))
		return err
	})
	// RETURNING has no order.
	slices.SortFunc(out, func(a, b *herm.Delivery) int { return cmp.Compare(a.ID, b.ID) })
	return out, err
}

// UpdateDelivery records an attempt's outcome (status, attempts, next
// attempt, response, error, delivery time).
func (q *querier) UpdateDelivery(ctx context.Context, d *herm.Delivery) error {
	var status any
	if d.ResponseStatus != 0 {
		status = d.ResponseStatus
	}
	var lastErr any
	if d.LastError != "" {
		lastErr = d.LastError
	}
	res, err := q.w().ExecContext(ctx, `UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
			response_status = ?, last_error = ?, delivered_at = ? WHERE id = ?`,
		d.Status, d.Attempts, micros(d.NextAttemptAt), status, lastErr, microsPtr(d.DeliveredAt), d.ID)
	return q.changed("update delivery", res, err, notFound("delivery"))
}
