package postgres

import (
	"context"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store/sqlstore"
)

// AppendEvents passes the columns of a batch as arrays (unnest), one
// statement for any number of events.

const (
	// sqlInsertEvents inserts the whole batch.
	sqlInsertEvents = `INSERT INTO events (deployment_id, seq, thread_id, run_id, type, data, created_at)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])`
	// sqlAppendOne appends the events of one deployment in one statement
	// (no transaction of its own to begin and commit): it reserves their
	// sequence numbers, inserts them and their webhook deliveries, and
	// returns the first sequence (no row when the deployment does not
	// exist).
	sqlAppendOne = `WITH b AS (
			UPDATE deployments SET event_seq = event_seq + $1 WHERE id = $2 RETURNING event_seq - $1 AS base),
		e AS (
			INSERT INTO events (deployment_id, seq, thread_id, run_id, type, data, created_at)
			SELECT $2, b.base + v.i, v.thread_id, v.run_id, v.type, v.data, v.created_at
			FROM b, unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])
				WITH ORDINALITY AS v(thread_id, run_id, type, data, created_at, i)
			RETURNING seq, type),
		d AS (
			INSERT INTO webhook_deliveries
				(webhook_id, deployment_id, seq, event_type, status, attempts, next_attempt_at, created_at)
			SELECT w.id, $2, e.seq, e.type, 'pending', 0, $8, $8
			FROM e JOIN webhooks w ON (w.deployment_id = '' OR w.deployment_id = $2)
				AND w.events::jsonb @> jsonb_build_array(e.type)
			ORDER BY e.seq, w.id)
		SELECT base + 1 FROM b`
)

// columns are the columns of a batch of events, as arrays.
type columns struct {
	deps, threads, runs, types []string
	seqs, created              []int64
	data                       []*string
}

// columnsOf returns the columns of evs; deployments and sequences only
// when withKeys.
func columnsOf(evs []*herm.Event, withKeys bool) columns {
	n := len(evs)
	c := columns{
		threads: make([]string, n), runs: make([]string, n), types: make([]string, n),
		created: make([]int64, n), data: make([]*string, n),
	}
	if withKeys {
		c.deps, c.seqs = make([]string, n), make([]int64, n)
	}
	for i, e := range evs {
		c.threads[i], c.runs[i], c.types[i], c.created[i] = e.ThreadID, e.RunID, e.Type, e.CreatedAt.UnixMicro()
		if withKeys {
			c.deps[i], c.seqs[i] = e.DeploymentID, e.Seq
		}
		if e.Data != nil {
			d := string(e.Data)
			c.data[i] = &d
		}
	}
	return c
}

// appendOne is the dialect's AppendOne: sqlAppendOne.
func appendOne(ctx context.Context, db sqlstore.DBTX, evs []*herm.Event, now time.Time) (int64, error) {
	c := columnsOf(evs, false)
	var first int64
	err := db.QueryRowContext(ctx, sqlAppendOne, int64(len(evs)), evs[0].DeploymentID,
		c.threads, c.runs, c.types, c.data, c.created, now.UnixMicro()).Scan(&first)
	return first, err
}

// insertEvents is the dialect's InsertEvents: sqlInsertEvents.
func insertEvents(ctx context.Context, db sqlstore.DBTX, evs []*herm.Event) error {
	c := columnsOf(evs, true)
	_, err := db.ExecContext(ctx, sqlInsertEvents, c.deps, c.seqs, c.threads, c.runs, c.types, c.data, c.created)
	return err
}
