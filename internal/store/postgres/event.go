package postgres

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

const (
	sqlBumpSeq = `UPDATE deployments SET event_seq = event_seq + $1 WHERE id = $2 RETURNING event_seq`
	// One INSERT of the whole batch, its columns passed as arrays.
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

// appendOne appends events of one deployment with sqlAppendOne.
func (q *querier) appendOne(ctx context.Context, evs []*herm.Event, now time.Time) error {
	n := len(evs)
	threads, runs, types := make([]string, n), make([]string, n), make([]string, n)
	created := make([]int64, n)
	data := make([]*string, n)
	for i, e := range evs {
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		} else {
			e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
		}
		threads[i], runs[i], types[i], created[i] = e.ThreadID, e.RunID, e.Type, micros(e.CreatedAt)
		if e.Data != nil {
			d := string(e.Data)
			data[i] = &d
		}
	}
	var first int64
	err := q.w().d.QueryRowContext(ctx, sqlAppendOne, int64(n), evs[0].DeploymentID,
		threads, runs, types, data, created, micros(now)).Scan(&first)
	if err != nil {
		return dbErr("append events", err, msgs{notFound: "deployment not found", conflict: "event sequence already taken"})
	}
	for i, e := range evs {
		e.Seq = first + int64(i)
	}
	return nil
}

// AppendEvents assigns each event the next sequence of its deployment and
// stores the batch: the events of one deployment (the usual batch) in one
// statement (appendOne), those of several in one transaction. Per deployment of the batch, one
// UPDATE … RETURNING reserves a block of sequence numbers (the row lock it
// takes, held until commit, makes the block exclusive; deployments are
// locked in ID order, so that concurrent batches of several deployments do
// not deadlock); the events then take them in slice order and are inserted
// by one statement. Each event's Seq is set, and its CreatedAt (set from the
// store's clock when zero) is normalised to UTC microseconds, as stored.
func (q *querier) AppendEvents(ctx context.Context, evs []*herm.Event) error {
	if len(evs) == 0 {
		return nil
	}
	for _, e := range evs {
		if e == nil {
			return herm.Errorf(herm.EInvalid, "event is nil")
		}
	}
	now := q.s.opts.Now().UTC().Truncate(time.Microsecond)
	if !slices.ContainsFunc(evs, func(e *herm.Event) bool { return e.DeploymentID != evs[0].DeploymentID }) {
		return q.appendOne(ctx, evs, now)
	}
	return q.atomic(ctx, func(q *querier) error {
		// Count the events per deployment.
		type block struct {
			id   string
			n    int64
			next int64
		}
		var blocks []block
		index := make(map[string]int, 2)
		for _, e := range evs {
			i, ok := index[e.DeploymentID]
			if !ok {
				i = len(blocks)
				index[e.DeploymentID] = i
				blocks = append(blocks, block{id: e.DeploymentID})
			}
			blocks[i].n++
		}
		order := make([]int, len(blocks))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(blocks[a].id, blocks[b].id) })
		for _, i := range order {
			b := &blocks[i]
			var last int64
			if err := q.w().d.QueryRowContext(ctx, sqlBumpSeq, b.n, b.id).Scan(&last); err != nil {
				return dbErr("append events", err, msgs{notFound: "deployment not found"})
			}
			b.next = last - b.n + 1
		}

		n := len(evs)
		deps, threads, runs, types := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seqs, created := make([]int64, n), make([]int64, n)
		data := make([]*string, n)
		for i, e := range evs {
			b := &blocks[index[e.DeploymentID]]
			e.Seq = b.next
			b.next++
			if e.CreatedAt.IsZero() {
				e.CreatedAt = now
			} else {
				e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
			}
			deps[i], seqs[i], threads[i], runs[i], types[i], created[i] = e.DeploymentID, e.Seq, e.ThreadID, e.RunID, e.Type, micros(e.CreatedAt)
			if e.Data != nil {
				d := string(e.Data)
				data[i] = &d
			}
		}
		if _, err := q.w().d.ExecContext(ctx, sqlInsertEvents, deps, seqs, threads, runs, types, data, created); err != nil {
			return dbErr("append events", err, msgs{conflict: "event sequence already taken"})
		}
		for _, b := range blocks {
			if err := q.enqueueDeliveries(ctx, b.id, b.next-b.n, b.next-1, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListEvents returns a deployment's events after a sequence, oldest first.
func (q *querier) ListEvents(ctx context.Context, deploymentID string, after int64, limit int, f store.EventFilter) ([]*herm.Event, error) {
	var b strings.Builder
	b.WriteString(`SELECT deployment_id, seq, thread_id, run_id, type, data, created_at FROM events
		WHERE deployment_id = ? AND seq > ?`)
	args := []any{deploymentID, after}
	if f.ThreadID != "" {
		b.WriteString(` AND thread_id = ?`)
		args = append(args, f.ThreadID)
	}
	if f.RunID != "" {
		b.WriteString(` AND run_id = ?`)
		args = append(args, f.RunID)
	}
	if len(f.Types) > 0 {
		b.WriteString(` AND type IN (` + placeholders(len(f.Types)) + `)`)
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	b.WriteString(` ORDER BY seq LIMIT ?`)
	args = append(args, pageLimit(limit, defaultEventsLimit))

	rows, err := q.r().QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, dbErr("list events", err, msgs{})
	}
	defer rows.Close()
	var out []*herm.Event
	for rows.Next() {
		var e herm.Event
		var data []byte
		var created int64
		if err := rows.Scan(&e.DeploymentID, &e.Seq, &e.ThreadID, &e.RunID, &e.Type, &data, &created); err != nil {
			return nil, dbErr("list events", err, msgs{})
		}
		e.Data, e.CreatedAt = fromRawJSON(data), fromMicros(created)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list events", err, msgs{})
	}
	return out, nil
}

// EventBounds returns the lowest retained and the last assigned sequence.
func (q *querier) EventBounds(ctx context.Context, deploymentID string) (first, last int64, err error) {
	err = q.r().QueryRowContext(ctx, `SELECT
			COALESCE((SELECT MIN(seq) FROM events WHERE deployment_id = d.id), 0),
			d.event_seq
		FROM deployments d WHERE d.id = ?`, deploymentID).Scan(&first, &last)
	if err != nil {
		return 0, 0, dbErr("event bounds", err, msgs{notFound: "deployment not found"})
	}
	return first, last, nil
}

// deleteChunk is how many events one retention statement removes at most.
const deleteChunk = 5000

// DeleteEventsBefore removes events created before t. Outside a transaction
// it deletes in chunks, each in its own implicit transaction, so that a large
// purge does not hold many row locks (and bloat one transaction) for long.
func (q *querier) DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error) {
	if q.tx != nil {
		res, err := q.w().ExecContext(ctx, `DELETE FROM events WHERE created_at < ?`, micros(t))
		if err != nil {
			return 0, dbErr("delete events", err, msgs{})
		}
		if _, err := q.w().ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE created_at < ?`, micros(t)); err != nil {
			return 0, dbErr("delete deliveries", err, msgs{})
		}
		return affected(res)
	}
	// Their webhook deliveries go first (a delivery of an event that is
	// gone would fail anyway).
	for {
		res, err := q.w().ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries WHERE created_at < ? LIMIT ?)`, micros(t), deleteChunk)
		if err != nil {
			return 0, dbErr("delete deliveries", err, msgs{})
		}
		if n, err := affected(res); err != nil || n < deleteChunk {
			if err != nil {
				return 0, err
			}
			break
		}
	}
	var total int64
	for {
		res, err := q.w().ExecContext(ctx, `DELETE FROM events WHERE (deployment_id, seq) IN (
			SELECT deployment_id, seq FROM events WHERE created_at < ? LIMIT ?)`, micros(t), deleteChunk)
		if err != nil {
			return total, dbErr("delete events", err, msgs{})
		}
		n, err := affected(res)
		total += n
		if err != nil || n < deleteChunk {
			return total, err
		}
	}
}
