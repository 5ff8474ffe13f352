package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

const dreamColumns = `id, deployment_id, run_id, status, changes, error, created_at, resolved_at`

func scanDream(sc scanner) (*herm.Dream, error) {
	var d herm.Dream
	var changes string
	var created int64
	var resolved sql.NullInt64
	if err := sc.Scan(&d.ID, &d.DeploymentID, &d.RunID, &d.Status, &changes, &d.Error, &created, &resolved); err != nil {
		return nil, err
	}
	if err := fromJSON(changes, &d.Changes); err != nil {
		return nil, err
	}
	d.CreatedAt, d.ResolvedAt = fromMicros(created), fromNullMicros(resolved)
	return &d, nil
}

// idle is the condition, on the deployment row d, that the deployment is
// idle: no active run, and no thread active or run ended since ? (twice).
const idle = `NOT EXISTS (SELECT 1 FROM runs r WHERE r.deployment_id = d.id AND r.status IN ('queued', 'running', 'waiting_on_human'))
	AND NOT EXISTS (SELECT 1 FROM threads t WHERE t.deployment_id = d.id AND t.last_activity_at >= ?)
	AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.deployment_id = d.id AND r.completed_at >= ?)`

// DreamCandidates lists the ready deployments owner owns with
// features.dreaming on, idle since idleSince and not dreamed since
// dreamedBefore, oldest dream first.
func (q *querier) DreamCandidates(ctx context.Context, owner string, idleSince, dreamedBefore time.Time, limit int) ([]string, error) {
	// The features column is herm.Features as encoding/json writes it.
	query := `SELECT d.id FROM deployments d
		WHERE d.owner = ? AND d.status = 'ready' AND d.dreamed_at < ? AND d.features LIKE '%"dreaming":true%' AND ` + idle + `
		ORDER BY d.dreamed_at, d.id LIMIT ?`
	return list(ctx, q, q.r(), "dream candidates", query, func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	}, owner, micros(dreamedBefore), micros(idleSince), micros(idleSince), pageLimit(limit, 10))
}

// ClaimDream sets a deployment's dreamed_at to now when it is still idle
// and not dreamed since dreamedBefore: one guarded statement, so of two
// claimers one wins.
func (q *querier) ClaimDream(ctx context.Context, deploymentID string, now, idleSince, dreamedBefore time.Time) (bool, error) {
	res, err := q.w().ExecContext(ctx, `UPDATE deployments SET dreamed_at = ?
		WHERE id = ? AND dreamed_at < ? AND EXISTS (SELECT 1 FROM deployments d WHERE d.id = ? AND `+idle+`)`,
		micros(now), deploymentID, micros(dreamedBefore), deploymentID, micros(idleSince), micros(idleSince))
	n, err := q.count("claim dream", res, err)
	return n == 1, err
}

// CreateDream stores a dream.
func (q *querier) CreateDream(ctx context.Context, d *herm.Dream) error {
	changes, err := toJSON(nonNil(d.Changes))
	if err != nil {
		return err
	}
	_, err = q.w().ExecContext(ctx, `INSERT INTO dreams (`+dreamColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.DeploymentID, d.RunID, d.Status, changes, d.Error, micros(d.CreatedAt), microsPtr(d.ResolvedAt))
	return q.dbErr("create dream", err, msgs{notFound: "deployment not found", conflict: "a dream with this ID already exists"})
}

func nonNil(c []herm.DreamChange) []herm.DreamChange {
	if c == nil {
		return []herm.DreamChange{}
	}
	return c
}

// GetDream returns a dream of a deployment.
func (q *querier) GetDream(ctx context.Context, deploymentID, dreamID string) (*herm.Dream, error) {
	d, err := scanDream(q.r().QueryRowContext(ctx, `SELECT `+dreamColumns+` FROM dreams WHERE id = ? AND deployment_id = ?`, dreamID, deploymentID))
	if err != nil {
		return nil, q.dbErr("get dream", err, msgs{notFound: "dream not found"})
	}
	return d, nil
}

// ListDreams lists a deployment's dreams, newest first.
func (q *querier) ListDreams(ctx context.Context, deploymentID, cursor string, limit int) ([]*herm.Dream, error) {
	query, args := newestFirst(`SELECT `+dreamColumns+` FROM dreams WHERE deployment_id = ?`, []any{deploymentID}, cursor, limit)
	return list(ctx, q, q.r(), "list dreams", query, scanDream, args...)
}

// ResolveDream moves a proposed dream to status (applied or discarded).
func (q *querier) ResolveDream(ctx context.Context, deploymentID, dreamID, status string, at time.Time) (*herm.Dream, error) {
	d, err := scanDream(q.w().QueryRowContext(ctx, `UPDATE dreams SET status = ?, resolved_at = ?
		WHERE id = ? AND deployment_id = ? AND status = 'proposed' RETURNING `+dreamColumns, status, micros(at), dreamID, deploymentID))
	if errors.Is(err, sql.ErrNoRows) {
		cur, gerr := q.GetDream(ctx, deploymentID, dreamID)
		if gerr != nil {
			return nil, gerr
		}
		return nil, conflict("the dream is %s, not proposed", cur.Status)
	}
	if err != nil {
		return nil, q.dbErr("resolve dream", err, msgs{})
	}
	return d, nil
}
