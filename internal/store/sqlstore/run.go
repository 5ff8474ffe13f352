package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/hermhq/herm/internal/herm"
)

const runColumns = `id, deployment_id, thread_id, status, trigger_info, automation_id, config_version, model,
	usage, error, stop_reason, cancel_requested, lease_owner, lease_expires_at, created_at, started_at, completed_at,
	output_schema, output`

func scanRun(sc scanner) (*herm.Run, error) {
	var r herm.Run
	var trigger, automationID, usage string
	var errInfo sql.NullString
	var lease, created int64
	var started, completed sql.NullInt64
	var schema, output sql.NullString
	err := sc.Scan(&r.ID, &r.DeploymentID, &r.ThreadID, &r.Status, &trigger, &automationID, &r.ConfigVersion, &r.Model,
		&usage, &errInfo, &r.StopReason, &r.CancelRequested, &r.LeaseOwner, &lease, &created, &started, &completed,
		&schema, &output)
	if err != nil {
		return nil, err
	}
	if schema.Valid {
		r.OutputSchema = json.RawMessage(schema.String)
	}
	if output.Valid {
		r.Output = json.RawMessage(output.String)
	}
	if err := fromJSON(trigger, &r.Trigger); err != nil {
		return nil, err
	}
	if err := fromJSON(usage, &r.Usage); err != nil {
		return nil, err
	}
	if r.Error, err = fromErrorInfoJSON(errInfo); err != nil {
		return nil, err
	}
	r.LeaseExpiresAt, r.CreatedAt = fromLeaseMicros(lease), fromMicros(created)
	r.StartedAt, r.CompletedAt = fromNullMicros(started), fromNullMicros(completed)
	return &r, nil
}

func (q *querier) listRuns(ctx context.Context, op, query string, args ...any) ([]*herm.Run, error) {
	return list(ctx, q, q.r(), op, query, scanRun, args...)
}

// createRun is CreateRun's statement; %s is the Dialect's RunSeq: seq,
// the queue order, is the database's.
const createRun = `INSERT INTO runs (` + runColumns + `, seq)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, %s)`

// CreateRun stores r, lease fields included (ENotFound when its thread does
// not exist, EConflict when the ID is taken).
func (q *querier) CreateRun(ctx context.Context, r *herm.Run) error {
	trigger, err := toJSON(r.Trigger)
	if err != nil {
		return err
	}
	usage, err := toJSON(r.Usage)
	if err != nil {
		return err
	}
	errInfo, err := errorInfoJSON(r.Error)
	if err != nil {
		return err
	}
	_, err = q.w().ExecContext(ctx, q.s.sql.createRun,
		r.ID, r.DeploymentID, r.ThreadID, r.Status, trigger, r.Trigger.AutomationID, r.ConfigVersion, r.Model,
		usage, errInfo, r.StopReason, boolInt(r.CancelRequested), r.LeaseOwner, leaseMicros(r.LeaseExpiresAt),
		micros(r.CreatedAt), microsPtr(r.StartedAt), microsPtr(r.CompletedAt), rawJSON(r.OutputSchema), rawJSON(r.Output))
	return q.dbErr("create run", err, msgs{notFound: "thread not found", conflict: "a run with this ID already exists"})
}

// GetRun returns a run of a deployment.
func (q *querier) GetRun(ctx context.Context, deploymentID, runID string) (*herm.Run, error) {
	r, err := scanRun(q.r().QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ? AND deployment_id = ?`, runID, deploymentID))
	if err != nil {
		return nil, q.dbErr("get run", err, msgs{notFound: "run not found"})
	}
	return r, nil
}

// ListRuns lists runs matching f, newest first.
func (q *querier) ListRuns(ctx context.Context, f herm.RunFilter) ([]*herm.Run, error) {
	query := `SELECT ` + runColumns + ` FROM runs WHERE 1 = 1`
	var args []any
	for _, c := range []struct{ col, v string }{
		{"deployment_id", f.DeploymentID}, {"thread_id", f.ThreadID},
		{"status", string(f.Status)}, {"automation_id", f.AutomationID},
	} {
		if c.v != "" {
			query += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	if f.AutomationID != "" {
		query += ` AND automation_id <> ''` // lets the planner use the partial index
	}
	if f.TriggerType != "" {
		// trigger_info is herm.Trigger as encoding/json writes it: type first.
		query += ` AND trigger_info LIKE ?`
		args = append(args, `{"type":"`+f.TriggerType+`"%`)
	}
	query, args = newestFirst(query, args, f.Cursor, f.Limit)
	return q.listRuns(ctx, "list runs", query, args...)
}

// activeRuns is ActiveRuns' SELECT (ending with Dialect.LockRows in a
// transaction).
const activeRuns = `SELECT ` + runColumns + ` FROM runs
	WHERE thread_id = ? AND status IN ('queued', 'running', 'waiting_on_human')
	ORDER BY created_at, id`

// ActiveRuns returns a thread's queued, running and waiting runs, oldest
// first. In a transaction, where writers run concurrently, it first takes
// the thread's row and then those of the runs it returns, held until the
// transaction ends: another ActiveRuns of the thread (a Send) waits for it,
// and so does any transition of these runs, so that what it returned stays
// true. Under READ COMMITTED the runs' SELECT, a statement after the
// thread's, sees every run created by a transaction that held the thread
// before, and one that waited for a run's lock reads the run as the
// transition left it (a run that ended meanwhile is not returned).
func (q *querier) ActiveRuns(ctx context.Context, threadID string) ([]*herm.Run, error) {
	if q.tx == nil || q.s.d.LockRows == "" {
		return q.listRuns(ctx, "active runs", q.s.sql.activeRuns, threadID)
	}
	if err := q.hold(ctx, "active runs", q.s.sql.holdThread, threadID); err != nil {
		return nil, err
	}
	return q.listRuns(ctx, "active runs", q.s.sql.activeRunsHeld, threadID)
}

// UpdateRun stores r's config_version, model and usage while owner holds
// the lease of the running run; an expired lease that no one else claimed
// still counts as held. ENotFound when the run does not exist.
func (q *querier) UpdateRun(ctx context.Context, r *herm.Run, owner string) error {
	usage, err := toJSON(r.Usage)
	if err != nil {
		return err
	}
	var cancel int
	err = q.w().QueryRowContext(ctx, `UPDATE runs SET config_version = ?, model = ?, usage = ?
		WHERE id = ? AND status = 'running' AND lease_owner = ? RETURNING cancel_requested`,
		r.ConfigVersion, r.Model, usage, r.ID, owner).Scan(&cancel)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return q.leaseLost(ctx, r.ID)
	case err != nil:
		return q.dbErr("update run", err, msgs{})
	}
	if cancel != 0 {
		r.CancelRequested = true
	}
	return nil
}

// CountRunsByStatus counts runs per status (statuses without runs are
// absent).
func (q *querier) CountRunsByStatus(ctx context.Context) (map[herm.RunStatus]int64, error) {
	rows, err := q.r().QueryContext(ctx, `SELECT status, COUNT(*) FROM runs GROUP BY status`)
	if err != nil {
		return nil, q.dbErr("count runs", err, msgs{})
	}
	defer rows.Close()
	out := map[herm.RunStatus]int64{}
	for rows.Next() {
		var s herm.RunStatus
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, q.dbErr("count runs", err, msgs{})
		}
		out[s] = n
	}
	return out, q.dbErr("count runs", rows.Err(), msgs{})
}

// AppendStep stores a transcript step (EConflict if the index is taken,
// ENotFound when the run does not exist).
func (q *querier) AppendStep(ctx context.Context, s *herm.RunStep) error {
	_, err := q.w().ExecContext(ctx, `INSERT INTO run_steps (run_id, idx, kind, data, created_at) VALUES (?, ?, ?, ?, ?)`,
		s.RunID, s.Index, s.Kind, rawJSON(s.Data), micros(s.CreatedAt))
	return q.dbErr("append step", err, msgs{notFound: "run not found", conflict: "this step of the run already exists"})
}

func scanStep(sc scanner) (*herm.RunStep, error) {
	var s herm.RunStep
	var data []byte
	var created int64
	if err := sc.Scan(&s.RunID, &s.Index, &s.Kind, &data, &created); err != nil {
		return nil, err
	}
	s.Data, s.CreatedAt = fromRawJSON(data), fromMicros(created)
	return &s, nil
}

// ListSteps returns a run's steps in index order.
func (q *querier) ListSteps(ctx context.Context, runID string) ([]*herm.RunStep, error) {
	return list(ctx, q, q.r(), "list steps", `SELECT run_id, idx, kind, data, created_at FROM run_steps WHERE run_id = ? ORDER BY idx`, scanStep, runID)
}

// deploymentSpend is DeploymentSpend's statement; %s is the Dialect's
// UsageCost.
const deploymentSpend = `SELECT COALESCE((SELECT SUM(%s) FROM runs WHERE deployment_id = ?), 0)
	+ COALESCE((SELECT spent_deleted_usd FROM deployments WHERE id = ?), 0)`

// DeploymentSpend sums the cost of a deployment's runs, those of deleted
// threads included.
func (q *querier) DeploymentSpend(ctx context.Context, deploymentID string) (float64, error) {
	var sum sql.NullFloat64
	err := q.r().QueryRowContext(ctx, q.s.sql.deploymentSpend, deploymentID, deploymentID).Scan(&sum)
	if err != nil {
		return 0, q.dbErr("deployment spend", err, msgs{})
	}
	return sum.Float64, nil
}

// LatestCompaction returns the newest compaction step of a thread's runs.
func (q *querier) LatestCompaction(ctx context.Context, threadID string) (*herm.RunStep, error) {
	s, err := scanStep(q.r().QueryRowContext(ctx, `SELECT s.run_id, s.idx, s.kind, s.data, s.created_at
		FROM run_steps s JOIN runs r ON r.id = s.run_id
		WHERE r.thread_id = ? AND s.kind = 'compaction'
		ORDER BY s.created_at DESC, s.run_id DESC, s.idx DESC LIMIT 1`, threadID))
	if err != nil {
		return nil, q.dbErr("latest compaction", err, msgs{notFound: "no compaction"})
	}
	return s, nil
}

// SetRunOutput stores the output of the running run held by owner, ahead of
// its completion in the same transaction.
func (q *querier) SetRunOutput(ctx context.Context, runID, owner string, output json.RawMessage) error {
	return q.leased(ctx, "set run output", `UPDATE runs SET output = ?
		WHERE id = ? AND status = 'running' AND lease_owner = ?`, runID, owner, rawJSON(output))
}
