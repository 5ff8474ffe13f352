package sqlstore

import (
	"context"
	"slices"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// threadSelect selects threads (alias t) with their derived status and
// message count.
const threadSelect = `SELECT t.id, t.deployment_id, t.title, t.is_default, t.created_at, t.last_activity_at,
	CASE
		WHEN EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = t.id AND r.status = 'waiting_on_human') THEN 'waiting_on_human'
		WHEN EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = t.id AND r.status IN ('queued', 'running')) THEN 'running'
		ELSE 'idle'
	END,
	(SELECT COUNT(*) FROM messages m WHERE m.thread_id = t.id AND m.pending = 0)
	FROM threads t`

func scanThread(sc scanner) (*herm.Thread, error) {
	var t herm.Thread
	var created, active int64
	if err := sc.Scan(&t.ID, &t.DeploymentID, &t.Title, &t.IsDefault, &created, &active, &t.Status, &t.MessageCount); err != nil {
		return nil, err
	}
	t.CreatedAt, t.LastActivityAt = fromMicros(created), fromMicros(active)
	return &t, nil
}

// CreateThread stores t (ENotFound when its deployment does not exist,
// EConflict when the ID is taken).
func (q *querier) CreateThread(ctx context.Context, t *herm.Thread) error {
	_, err := q.w().ExecContext(ctx, `INSERT INTO threads (id, deployment_id, title, is_default, created_at, last_activity_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.DeploymentID, t.Title, boolInt(t.IsDefault), micros(t.CreatedAt), micros(t.LastActivityAt))
	return q.dbErr("create thread", err, msgs{notFound: "deployment not found", conflict: "a thread with this ID already exists"})
}

// GetThread returns a thread of a deployment.
func (q *querier) GetThread(ctx context.Context, deploymentID, threadID string) (*herm.Thread, error) {
	t, err := scanThread(q.r().QueryRowContext(ctx, threadSelect+` WHERE t.id = ? AND t.deployment_id = ?`, threadID, deploymentID))
	if err != nil {
		return nil, q.dbErr("get thread", err, msgs{notFound: "thread not found"})
	}
	return t, nil
}

// ListThreads lists a deployment's threads, newest first.
func (q *querier) ListThreads(ctx context.Context, deploymentID string, p herm.Page) ([]*herm.Thread, error) {
	query := threadSelect + ` WHERE t.deployment_id = ?`
	args := []any{deploymentID}
	if p.Cursor != "" {
		query += ` AND t.id < ?`
		args = append(args, p.Cursor)
	}
	query += ` ORDER BY t.id DESC LIMIT ?`
	args = append(args, pageLimit(p.Limit, defaultLimit))
	return list(ctx, q, q.r(), "list threads", query, scanThread, args...)
}

// UpdateThreadTitle renames a thread.
func (q *querier) UpdateThreadTitle(ctx context.Context, deploymentID, threadID, title string) error {
	res, err := q.w().ExecContext(ctx, `UPDATE threads SET title = ? WHERE id = ? AND deployment_id = ?`, title, threadID, deploymentID)
	return q.changed("update thread", res, err, notFound("thread"))
}

// TouchThread sets a thread's last activity (ENotFound).
func (q *querier) TouchThread(ctx context.Context, threadID string, at time.Time) error {
	res, err := q.w().ExecContext(ctx, `UPDATE threads SET last_activity_at = ? WHERE id = ?`, micros(at), threadID)
	return q.changed("touch thread", res, err, notFound("thread"))
}

// DeleteThread removes a thread; its messages go with it through ON DELETE
// CASCADE, and its runs (and with them their steps and steering requests)
// with it or before it, once their cost is added to the deployment's
// spent_deleted_usd (Dialect.SpendThreadRuns). It takes the thread first,
// then its runs (store.Store.InTx's order), as a Send does.
func (q *querier) DeleteThread(ctx context.Context, deploymentID, threadID string) error {
	return q.atomic(ctx, func(q *querier) error {
		if err := q.hold(ctx, "delete thread", q.s.sql.holdThread, threadID); err != nil {
			return err
		}
		if _, err := q.w().ExecContext(ctx, q.s.d.SpendThreadRuns, threadID, deploymentID, deploymentID); err != nil {
			return q.dbErr("delete thread", err, msgs{})
		}
		res, err := q.w().ExecContext(ctx, `DELETE FROM threads WHERE id = ? AND deployment_id = ?`, threadID, deploymentID)
		return q.changed("delete thread", res, err, notFound("thread"))
	})
}

const messageColumns = `id, deployment_id, thread_id, run_id, role, content, attachments, pending, created_at`

func scanMessage(sc scanner) (*herm.Message, error) {
	var m herm.Message
	var atts string
	var created int64
	if err := sc.Scan(&m.ID, &m.DeploymentID, &m.ThreadID, &m.RunID, &m.Role, &m.Content, &atts, &m.Pending, &created); err != nil {
		return nil, err
	}
	if err := fromJSON(atts, &m.Attachments); err != nil {
		return nil, err
	}
	m.CreatedAt = fromMicros(created)
	return &m, nil
}

func (q *querier) listMessages(ctx context.Context, op, query string, args ...any) ([]*herm.Message, error) {
	return list(ctx, q, q.r(), op, query, scanMessage, args...)
}

// CreateMessage stores m (ENotFound when its thread does not exist,
// EConflict when the ID is taken).
func (q *querier) CreateMessage(ctx context.Context, m *herm.Message) error {
	atts, err := toJSON(m.Attachments)
	if err != nil {
		return err
	}
	_, err = q.w().ExecContext(ctx, `INSERT INTO messages (`+messageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.DeploymentID, m.ThreadID, m.RunID, m.Role, m.Content, atts, boolInt(m.Pending), micros(m.CreatedAt))
	return q.dbErr("create message", err, msgs{notFound: "thread not found", conflict: "a message with this ID already exists"})
}

// ListMessages returns a thread's history, oldest first; with limit > 0,
// its newest limit messages.
func (q *querier) ListMessages(ctx context.Context, threadID string, limit int) ([]*herm.Message, error) {
	if limit <= 0 {
		return q.listMessages(ctx, "list messages", `SELECT `+messageColumns+` FROM messages
			WHERE thread_id = ? AND pending = 0 ORDER BY created_at, id`, threadID)
	}
	out, err := q.listMessages(ctx, "list messages", `SELECT `+messageColumns+` FROM messages
		WHERE thread_id = ? AND pending = 0 ORDER BY created_at DESC, id DESC LIMIT ?`, threadID, limit)
	slices.Reverse(out)
	return out, err
}

// PendingMessages returns a run's pending messages, oldest first.
func (q *querier) PendingMessages(ctx context.Context, runID string) ([]*herm.Message, error) {
	return q.listMessages(ctx, "pending messages", `SELECT `+messageColumns+` FROM messages
		WHERE run_id = ? AND pending = 1 ORDER BY created_at, id`, runID)
}

// TakeMessage moves a pending message into the history at time at.
func (q *querier) TakeMessage(ctx context.Context, messageID string, at time.Time) error {
	res, err := q.w().ExecContext(ctx, `UPDATE messages SET pending = 0, created_at = ? WHERE id = ? AND pending = 1`,
		micros(at), messageID)
	return q.changed("take message", res, err, notFound("pending message"))
}
