package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Run transitions (store.RunTransitions). Each changes the run row with one
// UPDATE whose WHERE holds the precondition; one that also depends on other
// tables first takes the run row with a guarded no-op UPDATE (where writers
// run concurrently, its row lock is held until the transaction ends), then
// checks them, then writes, so that it is serialised with every other
// transition of the run: under READ COMMITTED, an UPDATE that waited for a
// concurrent one re-checks its WHERE on the row as that one left it. SQLite
// serialises all writers anyway (BEGIN IMMEDIATE), across connections and
// processes. A transition that matches no row asks why (runState) to return
// the right error.

// A lease is held while now < lease_expires_at: it has expired at its
// expiry time itself, so that ReleaseRunsOf(now) makes runs claimable by a
// ClaimRun(now) at once.

// claimRun is ClaimRun's statement; each %[1]s is the Dialect's SkipLocked.
// Its candidates are the WHERE: the oldest running run whose lease expired,
// else the oldest queued run of a thread that has no running or waiting run
// and no older queued run ("oldest" in the order the database took the runs
// in, seq, not by any server's clock). COALESCE evaluates the second only
// when the first finds none. The last line checks the candidate again as
// the UPDATE finds it (where a concurrent claim may have changed it).
const claimRun = `UPDATE runs SET
		status = 'running', lease_owner = ?, lease_expires_at = ?, started_at = COALESCE(started_at, ?)
	WHERE id = COALESCE(
		(SELECT x.id FROM runs x WHERE x.status = 'running' AND x.lease_expires_at <= ?
			AND EXISTS (SELECT 1 FROM deployments d WHERE d.id = x.deployment_id AND d.owner = ?)
			ORDER BY x.seq LIMIT 1%[1]s),
		(SELECT r.id FROM runs r
			WHERE r.status = 'queued' AND EXISTS (SELECT 1 FROM deployments d WHERE d.id = r.deployment_id AND d.owner = ?) AND NOT EXISTS (
				SELECT 1 FROM runs o WHERE o.thread_id = r.thread_id AND (
					o.status IN ('running', 'waiting_on_human') OR (o.status = 'queued' AND o.seq < r.seq)))
			ORDER BY r.seq LIMIT 1%[1]s))
		AND (status = 'queued' OR (status = 'running' AND lease_expires_at <= ?))
	RETURNING ` + runColumns

// ClaimRun leases the oldest startable run of the deployments owner owns
// to owner, in one statement (claimRun). Where writers run concurrently, each candidate is taken FOR
// UPDATE SKIP LOCKED, so that concurrent claims take different runs without
// waiting for each other. A queued run another claim holds is skipped, and
// so are the younger runs of its thread (it is still queued in this
// statement's snapshot): two claims never take two runs of one thread.
func (q *querier) ClaimRun(ctx context.Context, owner string, now, leaseUntil time.Time) (*herm.Run, error) {
	at := any(micros(now)) // (boxed once for its three uses)
	claim := stmt{q, q.prepared(ctx, q.s.hotStmts().claim), q.s.sql.claimRun}
	r, err := scanRun(claim.queryRow(ctx, owner, micros(leaseUntil), at, at, owner, owner, at))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, q.dbErr("claim run", err, msgs{})
	}
	return r, nil
}

// runState returns what a transition that matched no row needs to say
// why: the run's status, lease owner and cancel flag (ENotFound when the
// run does not exist).
func (q *querier) runState(ctx context.Context, op, runID string) (status herm.RunStatus, owner string, cancel bool, err error) {
	err = q.r().QueryRowContext(ctx, `SELECT status, lease_owner, cancel_requested FROM runs WHERE id = ?`, runID).
		Scan(&status, &owner, &cancel)
	return status, owner, cancel, q.dbErr(op, err, msgs{notFound: "run not found"})
}

// leaseLost returns the error of a lease check that matched no row:
// ENotFound when the run does not exist, EConflict otherwise.
func (q *querier) leaseLost(ctx context.Context, runID string) error {
	status, owner, _, err := q.runState(ctx, "check lease", runID)
	if err != nil {
		return err
	}
	return conflict("the run's lease is lost (it is %s, held by %q)", status, owner)
}

// leased runs a guarded UPDATE of a running run held by owner (query ends
// with "WHERE id = ? AND status = 'running' AND lease_owner = ?", args
// before those two): EConflict when it matched nothing.
func (q *querier) leased(ctx context.Context, op, query, runID, owner string, args ...any) error {
	res, err := q.w().ExecContext(ctx, query, append(args, runID, owner)...)
	n, err := q.count(op, res, err)
	if err == nil && n == 0 {
		return q.leaseLost(ctx, runID)
	}
	return err
}

// ReleaseRun expires owner's lease on a running run as of now.
func (q *querier) ReleaseRun(ctx context.Context, runID, owner string, now time.Time) error {
	return q.leased(ctx, "release run", `UPDATE runs SET
			lease_expires_at = CASE WHEN lease_expires_at < ? THEN lease_expires_at ELSE ? END
		WHERE id = ? AND status = 'running' AND lease_owner = ?`, runID, owner, micros(now), micros(now))
}

// ReleaseRunsOf expires, as of now, the leases of the running runs of every
// owner but exceptOwner.
func (q *querier) ReleaseRunsOf(ctx context.Context, exceptOwner string, now time.Time) (int64, error) {
	res, err := q.w().ExecContext(ctx, `UPDATE runs SET lease_expires_at = ?
		WHERE status = 'running' AND lease_owner <> ? AND lease_expires_at > ?`, micros(now), exceptOwner, micros(now))
	return q.count("release runs", res, err)
}

// SteerRun takes the row of a queued or running run (a no-op write) and
// returns it.
func (q *querier) SteerRun(ctx context.Context, runID string) (*herm.Run, error) {
	r, err := scanRun(q.w().QueryRowContext(ctx, `UPDATE runs SET status = status
		WHERE id = ? AND status IN ('queued', 'running') RETURNING `+runColumns, runID))
	if errors.Is(err, sql.ErrNoRows) {
		status, _, _, err := q.runState(ctx, "steer run", runID)
		if err != nil {
			return nil, err
		}
		return nil, conflict("the run is %s: it takes no more input", status)
	}
	if err != nil {
		return nil, q.dbErr("steer run", err, msgs{})
	}
	return r, nil
}

// CompleteRun takes the row of the running run held by owner, checks that
// no input is pending, then completes it.
func (q *querier) CompleteRun(ctx context.Context, runID, owner, stopReason string, at time.Time) error {
	return q.atomic(ctx, func(q *querier) error {
		if err := q.leased(ctx, "complete run", `UPDATE runs SET status = status
			WHERE id = ? AND status = 'running' AND lease_owner = ?`, runID, owner); err != nil {
			return err
		}
		var pending bool
		err := q.w().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE run_id = ? AND pending = 1)`, runID).Scan(&pending)
		if err != nil {
			return q.dbErr("complete run", err, msgs{})
		}
		if pending {
			return &herm.Error{Code: herm.EConflict, Message: "the run has pending input", Err: store.ErrInputPending}
		}
		_, err = q.w().ExecContext(ctx, `UPDATE runs SET status = 'completed', stop_reason = ?, error = NULL, completed_at = ?
			WHERE id = ?`, stopReason, micros(at), runID)
		return q.dbErr("complete run", err, msgs{})
	})
}

// FailRun ends a running run held by owner in error.
func (q *querier) FailRun(ctx context.Context, runID, owner string, e *herm.ErrorInfo, at time.Time) error {
	errInfo, err := errorInfoJSON(e)
	if err != nil {
		return err
	}
	return q.leased(ctx, "fail run", `UPDATE runs SET status = 'error', stop_reason = ?, error = ?, completed_at = ?
		WHERE id = ? AND status = 'running' AND lease_owner = ?`, runID, owner, herm.StopError, errInfo, micros(at))
}

// EndCancelled ends a running run held by owner as cancelled.
func (q *querier) EndCancelled(ctx context.Context, runID, owner string, at time.Time) error {
	return q.leased(ctx, "end cancelled run", `UPDATE runs SET status = 'cancelled', stop_reason = ?, error = NULL, completed_at = ?
		WHERE id = ? AND status = 'running' AND lease_owner = ?`, runID, owner, herm.StopCancelled, micros(at))
}

// CancelRun cancels a queued run at once and requests the cancel of a
// running or waiting one. (The SET expressions read the row as it was.)
func (q *querier) CancelRun(ctx context.Context, runID string, at time.Time) (*herm.Run, error) {
	r, err := scanRun(q.w().QueryRowContext(ctx, `UPDATE runs SET cancel_requested = 1,
			status = CASE status WHEN 'queued' THEN 'cancelled' ELSE status END,
			stop_reason = CASE status WHEN 'queued' THEN ? ELSE stop_reason END,
			completed_at = CASE status WHEN 'queued' THEN ? ELSE completed_at END
		WHERE id = ? AND status IN ('queued', 'running', 'waiting_on_human') RETURNING `+runColumns,
		herm.StopCancelled, micros(at), runID))
	if errors.Is(err, sql.ErrNoRows) {
		status, _, _, err := q.runState(ctx, "cancel run", runID)
		if err != nil {
			return nil, err
		}
		return nil, conflict("run %s already ended (%s)", runID, status)
	}
	if err != nil {
		return nil, q.dbErr("cancel run", err, msgs{})
	}
	return r, nil
}

// WaitForHuman moves a running run held by owner, whose cancel nobody
// requested, to waiting_on_human.
func (q *querier) WaitForHuman(ctx context.Context, runID, owner string) error {
	res, err := q.w().ExecContext(ctx, `UPDATE runs SET status = 'waiting_on_human'
		WHERE id = ? AND status = 'running' AND lease_owner = ? AND cancel_requested = 0`, runID, owner)
	if n, err := q.count("wait for human", res, err); err != nil || n == 1 {
		return err
	}
	status, holder, cancel, err := q.runState(ctx, "wait for human", runID)
	switch {
	case err != nil:
		return err
	case status == herm.RunRunning && holder == owner && cancel:
		return &herm.Error{Code: herm.EConflict, Message: "the run is being cancelled", Err: store.ErrCancelRequested}
	}
	return conflict("the run's lease is lost (it is %s, held by %q)", status, holder)
}

// ResumeRun takes the row of a waiting run, checks that none of its
// steering requests is pending, then makes it running and claimable.
func (q *querier) ResumeRun(ctx context.Context, runID string) (bool, error) {
	resumed := false
	err := q.atomic(ctx, func(q *querier) error {
		res, err := q.w().ExecContext(ctx, `UPDATE runs SET status = status WHERE id = ? AND status = 'waiting_on_human'`, runID)
		if n, err := q.count("resume run", res, err); err != nil {
			return err
		} else if n == 0 {
			status, _, _, err := q.runState(ctx, "resume run", runID)
			if err != nil {
				return err
			}
			return conflict("the run is %s, not waiting_on_human", status)
		}
		var pending bool
		err = q.w().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM steering_requests WHERE run_id = ? AND status = 'pending')`, runID).Scan(&pending)
		if err != nil || pending {
			return q.dbErr("resume run", err, msgs{})
		}
		_, err = q.w().ExecContext(ctx, `UPDATE runs SET status = 'running', lease_owner = '', lease_expires_at = 0 WHERE id = ?`, runID)
		resumed = err == nil
		return q.dbErr("resume run", err, msgs{})
	})
	return resumed && err == nil, err
}
