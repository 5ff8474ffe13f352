package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hermhq/herm/internal/herm"
)

// claimObservation is ClaimObservation's statement; %s is the Dialect's
// SkipLocked.
const claimObservation = `UPDATE runs SET observed = 1
	WHERE id = (SELECT r.id FROM runs r
		WHERE r.observed = 0 AND r.status IN ('completed', 'error', 'cancelled')
			AND EXISTS (SELECT 1 FROM deployments d WHERE d.id = r.deployment_id AND d.owner = ?)
		ORDER BY r.seq LIMIT 1%s)
		AND observed = 0
	RETURNING ` + runColumns

// ClaimObservation marks the oldest ended, unobserved run of owner's
// deployments observed and returns it (nil when there is none).
func (q *querier) ClaimObservation(ctx context.Context, owner string) (*herm.Run, error) {
	r, err := scanRun(q.w().QueryRowContext(ctx, q.s.sql.claimObservation, owner))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, q.dbErr("claim observation", err, msgs{})
	}
	return r, nil
}

// AddRunUsage adds u to a run's usage: a compare-and-set on the stored
// JSON, read again when another write changed it in between.
func (q *querier) AddRunUsage(ctx context.Context, runID string, u herm.Usage) error {
	for {
		var old string
		err := q.w().QueryRowContext(ctx, `SELECT usage FROM runs WHERE id = ?`, runID).Scan(&old)
		if err != nil {
			return q.dbErr("add run usage", err, msgs{notFound: "run not found"})
		}
		var total herm.Usage
		if err := fromJSON(old, &total); err != nil {
			return err
		}
		total.Add(u)
		next, err := toJSON(total)
		if err != nil {
			return err
		}
		res, err := q.w().ExecContext(ctx, `UPDATE runs SET usage = ? WHERE id = ? AND usage = ?`, next, runID, old)
		n, err := q.count("add run usage", res, err)
		if err != nil || n == 1 {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
