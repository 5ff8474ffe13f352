package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

const (
	sqlBumpSeq = `UPDATE deployments SET event_seq = event_seq + ? WHERE id = ? RETURNING event_seq`
	// Multi-row inserts amortise the per-statement cost of the driver;
	// eventChunk rows of 7 values stay far below SQLite's variable limit.
	eventChunk     = 16
	sqlInsertEvent = `INSERT INTO events (deployment_id, seq, thread_id, run_id, type, data, created_at) VALUES `
	eventValues    = `(?, ?, ?, ?, ?, ?, ?)`
)

// prepare prepares the statements of the AppendEvents hot path, once the
// schema is there.
func (s *Store) prepare(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bumpSeq != nil {
		return nil
	}
	bump, err := s.wdb.PrepareContext(ctx, sqlBumpSeq)
	if err != nil {
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	one, err := s.wdb.PrepareContext(ctx, sqlInsertEvent+eventValues)
	if err != nil {
		_ = bump.Close()
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	chunk, err := s.wdb.PrepareContext(ctx, sqlInsertEvent+strings.TrimSuffix(strings.Repeat(eventValues+", ", eventChunk), ", "))
	if err != nil {
		_ = bump.Close()
		_ = one.Close()
		return fmt.Errorf("sqlite: prepare: %w", err)
	}
	s.bumpSeq, s.insertEvent, s.insertEvents = bump, one, chunk
	return nil
}

// eventStmts returns the prepared AppendEvents statements, nil before the
// schema was migrated.
func (s *Store) eventStmts() (bump, one, chunk *sql.Stmt) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bumpSeq, s.insertEvent, s.insertEvents
}

// AppendEvents assigns each event the next sequence of its deployment and
// stores the batch in one transaction. Per deployment of the batch, one
// UPDATE … RETURNING reserves a block of sequence numbers (the row lock of
// the write transaction makes the block exclusive); the events then take
// them in slice order and are inserted in chunks of multi-row INSERTs.
// Each event's Seq is set, and its CreatedAt (set from the store's clock
// when zero) is normalised to UTC microseconds, as stored.
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
	inCallersTx := q.tx != nil
	return q.atomic(ctx, func(q *querier) error {
		bump, one, chunk := q.s.eventStmts()
		if bump == nil {
			return fmt.Errorf("sqlite: append events: the schema is not migrated")
		}
		bump, one, chunk = q.stmt(ctx, bump), q.stmt(ctx, one), q.stmt(ctx, chunk)

		// Count the events per deployment, in order of first appearance.
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
		for i := range blocks {
			b := &blocks[i]
			var last int64
			if err := bump.QueryRowContext(ctx, b.n, b.id).Scan(&last); err != nil {
				return dbErr("append events", err, msgs{notFound: "deployment not found"})
			}
			b.next = last - b.n + 1
		}

		args := make([]any, 0, 7*min(len(evs), eventChunk))
		for start := 0; start < len(evs); start += eventChunk {
			part := evs[start:min(start+eventChunk, len(evs))]
			args = args[:0]
			for _, e := range part {
				b := &blocks[index[e.DeploymentID]]
				e.Seq = b.next
				b.next++
				if e.CreatedAt.IsZero() {
					e.CreatedAt = now
				} else {
					e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
				}
				args = append(args, e.DeploymentID, e.Seq, e.ThreadID, e.RunID, e.Type, rawJSON(e.Data), micros(e.CreatedAt))
			}
			var err error
			if len(part) == eventChunk {
				_, err = chunk.ExecContext(ctx, args...)
			} else {
				for i := 0; i < len(args) && err == nil; i += 7 {
					_, err = one.ExecContext(ctx, args[i:i+7]...)
				}
			}
			if err != nil {
				return dbErr("append events", err, msgs{conflict: "event sequence already taken"})
			}
		}
		for _, b := range blocks {
			if err := q.enqueueDeliveries(ctx, b.id, b.next-b.n, b.next-1, now, inCallersTx); err != nil {
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
// purge does not hold the write lock against appends for long.
func (q *querier) DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error) {
	if q.tx != nil {
		res, err := q.tx.ExecContext(ctx, `DELETE FROM events WHERE created_at < ?`, micros(t))
		if err != nil {
			return 0, dbErr("delete events", err, msgs{})
		}
		if _, err := q.tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE created_at < ?`, micros(t)); err != nil {
			return 0, dbErr("delete deliveries", err, msgs{})
		}
		return affected(res)
	}
	// Their webhook deliveries go first (a delivery of an event that is
	// gone would fail anyway).
	for {
		res, err := q.s.wdb.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
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
		res, err := q.s.wdb.ExecContext(ctx, `DELETE FROM events WHERE (deployment_id, seq) IN (
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
