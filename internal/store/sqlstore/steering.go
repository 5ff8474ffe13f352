package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

const steeringColumns = `id, deployment_id, thread_id, run_id, tool_call_id, kind, summary, tool, arguments, options,
	status, decision, message, created_at, expires_at, resolved_at`

func scanSteering(sc scanner) (*herm.SteeringRequest, error) {
	var s herm.SteeringRequest
	var args, options string
	var created, expires int64
	var resolved sql.NullInt64
	err := sc.Scan(&s.ID, &s.DeploymentID, &s.ThreadID, &s.RunID, &s.ToolCallID, &s.Kind, &s.Summary, &s.Tool, &args, &options,
		&s.Status, &s.Decision, &s.Message, &created, &expires, &resolved)
	if err != nil {
		return nil, err
	}
	s.Arguments = []byte(args)
	if err := fromJSON(options, &s.Options); err != nil {
		return nil, err
	}
	s.CreatedAt, s.ExpiresAt, s.ResolvedAt = fromMicros(created), fromMicros(expires), fromNullMicros(resolved)
	return &s, nil
}

func (q *querier) listSteering(ctx context.Context, op, query string, args ...any) ([]*herm.SteeringRequest, error) {
	return list(ctx, q, q.r(), op, query, scanSteering, args...)
}

// CreateSteeringRequest stores s.
func (q *querier) CreateSteeringRequest(ctx context.Context, s *herm.SteeringRequest) error {
	args := string(s.Arguments)
	if len(s.Arguments) == 0 {
		args = "{}"
	}
	options, err := toJSON(s.Options)
	if err != nil {
		return err
	}
	_, err = q.w().ExecContext(ctx, `INSERT INTO steering_requests (`+steeringColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.DeploymentID, s.ThreadID, s.RunID, s.ToolCallID, s.Kind, s.Summary, s.Tool, args, options,
		s.Status, s.Decision, s.Message, micros(s.CreatedAt), micros(s.ExpiresAt), microsPtr(s.ResolvedAt))
	return q.dbErr("create steering request", err, msgs{
		notFound: "run not found",
		conflict: "the run already has a steering request for this tool call",
	})
}

// GetSteeringRequest returns a request of the deployment.
func (q *querier) GetSteeringRequest(ctx context.Context, deploymentID, id string) (*herm.SteeringRequest, error) {
	s, err := scanSteering(q.r().QueryRowContext(ctx, `SELECT `+steeringColumns+` FROM steering_requests
		WHERE id = ? AND deployment_id = ?`, id, deploymentID))
	return s, q.dbErr("get steering request", err, msgs{notFound: "steering request not found"})
}

// SteeringRequestFor returns the request of a run's tool call.
func (q *querier) SteeringRequestFor(ctx context.Context, runID, toolCallID string) (*herm.SteeringRequest, error) {
	s, err := scanSteering(q.r().QueryRowContext(ctx, `SELECT `+steeringColumns+` FROM steering_requests
		WHERE run_id = ? AND tool_call_id = ?`, runID, toolCallID))
	return s, q.dbErr("get steering request", err, msgs{notFound: "steering request not found"})
}

// ListSteeringRequests lists requests matching f, newest first.
func (q *querier) ListSteeringRequests(ctx context.Context, f herm.SteeringFilter) ([]*herm.SteeringRequest, error) {
	query := `SELECT ` + steeringColumns + ` FROM steering_requests WHERE 1 = 1`
	var args []any
	for _, c := range []struct{ col, v string }{
		{"deployment_id", f.DeploymentID}, {"run_id", f.RunID}, {"status", f.Status}, {"kind", f.Kind},
	} {
		if c.v != "" {
			query += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	if f.NotKind != "" {
		query += ` AND kind <> ?`
		args = append(args, f.NotKind)
	}
	query, args = newestFirst(query, args, f.Cursor, f.Limit)
	return q.listSteering(ctx, "list steering requests", query, args...)
}

// ResolveSteeringRequest takes the request's run (as a run transition
// would: the run first, then the request), then records the decision if
// the request is still pending.
func (q *querier) ResolveSteeringRequest(ctx context.Context, id, decision, message string, at time.Time) error {
	return q.atomic(ctx, func(q *querier) error {
		if err := q.hold(ctx, "resolve steering request", q.s.sql.holdRequestRun, id); err != nil {
			return err
		}
		res, err := q.w().ExecContext(ctx, `UPDATE steering_requests SET status = 'resolved', decision = ?, message = ?, resolved_at = ?
			WHERE id = ? AND status = 'pending'`, decision, message, micros(at), id)
		n, err := q.count("resolve steering request", res, err)
		if err != nil || n == 1 {
			return err
		}
		var status string
		err = q.w().QueryRowContext(ctx, `SELECT status FROM steering_requests WHERE id = ?`, id).Scan(&status)
		if err != nil {
			return q.dbErr("resolve steering request", err, msgs{notFound: "steering request not found"})
		}
		return conflict("the steering request is already %s", status)
	})
}

// ExpiredSteeringRequests returns pending requests past their expiry.
func (q *querier) ExpiredSteeringRequests(ctx context.Context, now time.Time, limit int) ([]*herm.SteeringRequest, error) {
	return q.listSteering(ctx, "expired steering requests", `SELECT `+steeringColumns+` FROM steering_requests
		WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, micros(now), pageLimit(limit, defaultLimit))
}
