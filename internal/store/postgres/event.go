package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store/sqlstore"
)

// AppendEvents passes the columns of a batch as arrays (unnest), one
// statement for any number of events.

const (
	// sqlInsertEvents inserts the whole batch; a thread_seq of 0 is NULL.
	sqlInsertEvents = `INSERT INTO events (deployment_id, seq, thread_id, run_id, type, data, created_at, thread_seq)
		SELECT d, s, t, r, ty, da, c, NULLIF(ts, 0)
		FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
			AS v(d, s, t, r, ty, da, c, ts)`
	// sqlAppendOne appends the events of one deployment in one statement
	// (no transaction of its own to begin and commit): it reserves their
	// sequence numbers (b, which also tells whether the deployment is
	// hidden), then, in a hidden deployment, their threads' (t), inserts
	// them and their webhook deliveries, and returns the first sequence
	// (no row when the deployment does not exist) with each numbered
	// thread's last number (NULL when none).
	//
	// $9 marks the events in their thread's sequence. v numbers them per
	// thread (r) and counts them (n). k takes the threads among them that
	// exist in the deployment, FOR KEY SHARE (as the foreign key check of
	// t's insert would), only when b says the deployment is hidden (an
	// InitPlan: a first-generation deployment's append reads no thread and
	// writes no counter, and its events' thread_seq is NULL): a thread
	// whose deletion committed after the statement began is passed over
	// (its events are not numbered) rather than failing that check. k and
	// t read b, so that they run after b's UPDATE has locked the
	// deployment's row: the thread counters are taken under it, as in
	// AppendEvents' transaction, never before it (see migration 0018).
	sqlAppendOne = `WITH b AS (
			UPDATE deployments SET event_seq = event_seq + $1 WHERE id = $2
			RETURNING event_seq - $1 AS base, agent_id IS NOT NULL AS hidden),
		v AS (
			SELECT u.*,
				row_number() OVER (PARTITION BY u.thread_id, u.numbered ORDER BY u.i) AS r,
				count(*) OVER (PARTITION BY u.thread_id, u.numbered) AS n
			FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $9::boolean[])
				WITH ORDINALITY AS u(thread_id, run_id, type, data, created_at, numbered, i)),
		k AS (
			SELECT th.id, v.n
			FROM v JOIN threads th ON th.id = v.thread_id AND th.deployment_id = $2
			WHERE (SELECT hidden FROM b) AND v.numbered AND v.r = 1
			FOR KEY SHARE OF th),
		t AS (
			INSERT INTO thread_event_seqs AS s (thread_id, seq)
			SELECT k.id, k.n FROM b, k
			ON CONFLICT (thread_id) DO UPDATE SET seq = s.seq + excluded.seq
			RETURNING thread_id, seq),
		e AS (
			INSERT INTO events (deployment_id, seq, thread_id, run_id, type, data, created_at, thread_seq)
			SELECT $2, b.base + v.i, v.thread_id, v.run_id, v.type, v.data, v.created_at, t.seq - v.n + v.r
			FROM b, v LEFT JOIN t ON v.numbered AND t.thread_id = v.thread_id
			RETURNING seq, type),
		d AS (
			INSERT INTO webhook_deliveries
				(webhook_id, deployment_id, seq, event_type, status, attempts, next_attempt_at, created_at)
			SELECT w.id, $2, e.seq, e.type, 'pending', 0, $8, $8
			FROM e JOIN webhooks w ON (w.deployment_id = '' OR w.deployment_id = $2)
				AND w.events::jsonb @> jsonb_build_array(e.type)
			ORDER BY e.seq, w.id)
		SELECT b.base + 1, t.thread_id, t.seq FROM b LEFT JOIN t ON true`
)

// columns are the columns of a batch of events, as arrays.
type columns struct {
	deps, threads, runs, types []string
	seqs, threadSeqs, created  []int64
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
		c.deps, c.seqs, c.threadSeqs = make([]string, n), make([]int64, n), make([]int64, n)
	}
	for i, e := range evs {
		c.threads[i], c.runs[i], c.types[i], c.created[i] = e.ThreadID, e.RunID, e.Type, e.CreatedAt.UnixMicro()
		if withKeys {
			c.deps[i], c.seqs[i], c.threadSeqs[i] = e.DeploymentID, e.Seq, e.ThreadSeq
		}
		if e.Data != nil {
			d := string(e.Data)
			c.data[i] = &d
		}
	}
	return c
}

// appendOne is the dialect's AppendOne: sqlAppendOne.
func appendOne(ctx context.Context, db sqlstore.DBTX, evs []*herm.Event, numbered []bool, now time.Time) (int64, []sqlstore.ThreadLast, error) {
	c := columnsOf(evs, false)
	rows, err := db.QueryContext(ctx, sqlAppendOne, int64(len(evs)), evs[0].DeploymentID,
		c.threads, c.runs, c.types, c.data, c.created, now.UnixMicro(), numbered)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var first int64
	var threads []sqlstore.ThreadLast
	found := false
	for rows.Next() {
		var thread sql.NullString
		var last sql.NullInt64
		if err := rows.Scan(&first, &thread, &last); err != nil {
			return 0, nil, err
		}
		found = true
		if thread.Valid {
			threads = append(threads, sqlstore.ThreadLast{ThreadID: thread.String, Last: last.Int64})
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	if !found {
		return 0, nil, sql.ErrNoRows
	}
	return first, threads, rows.Close()
}

// insertEvents is the dialect's InsertEvents: sqlInsertEvents.
func insertEvents(ctx context.Context, db sqlstore.DBTX, evs []*herm.Event) error {
	c := columnsOf(evs, true)
	_, err := db.ExecContext(ctx, sqlInsertEvents, c.deps, c.seqs, c.threads, c.runs, c.types, c.data, c.created, c.threadSeqs)
	return err
}
