package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
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

// hotStmts are the statements of the hot paths, prepared once on the
// writer (Prepare): the SQLite driver parses a statement at every call
// otherwise. AppendEvents' (the sequence bump and the inserts) and
// ClaimRun's, the loop's largest statement.
type hotStmts struct {
	bump, one, chunk, claim *sql.Stmt
}

func (h hotStmts) all() []*sql.Stmt { return []*sql.Stmt{h.bump, h.one, h.chunk, h.claim} }

// Prepare prepares the statements of the hot paths on the writer, once the
// schema is there: the backend calls it after migrating. Until then they
// run unprepared, which is all that a driver that caches prepared
// statements itself (pgx) needs.
func (s *Store) Prepare(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hot.bump != nil {
		return nil
	}
	var st hotStmts
	for _, p := range []struct {
		to    **sql.Stmt
		query string
	}{
		{&st.bump, sqlBumpSeq},
		{&st.one, s.sql.insertEvent},
		{&st.chunk, s.sql.insertEvents},
		{&st.claim, s.sql.claimRun},
	} {
		prepared, err := s.wdb.PrepareContext(ctx, s.rebind(p.query))
		if err != nil {
			for _, done := range st.all() {
				if done != nil {
					_ = done.Close()
				}
			}
			return fmt.Errorf("%s: prepare: %w", s.d.Name, err)
		}
		*p.to = prepared
	}
	s.hot = st
	return nil
}

// hotStmts returns the prepared statements of the hot paths, nil before
// Prepare.
func (s *Store) hotStmts() hotStmts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hot
}

// prepared returns st, a statement prepared on the writer (or nil), usable
// in q's transaction.
func (q *querier) prepared(ctx context.Context, st *sql.Stmt) *sql.Stmt {
	if st != nil && q.tx != nil {
		return q.tx.StmtContext(ctx, st)
	}
	return st
}

// stmt is a statement of the hot path: prepared (usable in q's
// transaction), or its text when it was not.
type stmt struct {
	q     *querier
	st    *sql.Stmt
	query string
}

func (s stmt) exec(ctx context.Context, args ...any) (sql.Result, error) {
	if s.st != nil {
		return s.st.ExecContext(ctx, args...)
	}
	return s.q.w().ExecContext(ctx, s.query, args...)
}

func (s stmt) queryRow(ctx context.Context, args ...any) *sql.Row {
	if s.st != nil {
		return s.st.QueryRowContext(ctx, args...)
	}
	return s.q.w().QueryRowContext(ctx, s.query, args...)
}

// bumpSeq reserves the next n sequence numbers of a deployment with bump
// (sqlBumpSeq, prepared in q's transaction or nil) and returns the last.
func (q *querier) bumpSeq(ctx context.Context, bump *sql.Stmt, n int64, deploymentID string) (int64, error) {
	var row *sql.Row
	if bump != nil {
		row = bump.QueryRowContext(ctx, n, deploymentID)
	} else {
		row = q.w().QueryRowContext(ctx, sqlBumpSeq, n, deploymentID)
	}
	var last int64
	err := row.Scan(&last)
	return last, err
}

// AppendEvents assigns each event the next sequence of its deployment and
// stores the batch: with Dialect.AppendOne, the events of one deployment
// (the usual batch) in one statement; otherwise in one transaction. Per
// deployment of the batch, one UPDATE … RETURNING reserves a block of
// sequence numbers (the row lock it takes, held until commit, makes the
// block exclusive; deployments are locked in ID order, so that concurrent
// batches of several deployments do not deadlock); the events then take
// them in slice order and are inserted (Dialect.InsertEvents, or chunks of
// multi-row INSERTs). Each event's Seq is set, and its CreatedAt (set from
// the store's clock when zero) is normalised to UTC microseconds, as
// stored.
func (q *querier) AppendEvents(ctx context.Context, evs []*herm.Event) error {
	if len(evs) == 0 {
		return nil
	}
	for _, e := range evs {
		if e == nil {
			return herm.Errorf(herm.EInvalid, "event is nil")
		}
	}
	now := q.s.now().UTC().Truncate(time.Microsecond)
	for _, e := range evs {
		if e.CreatedAt.IsZero() {
			e.CreatedAt = now
		} else {
			e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
		}
	}
	if one := q.s.d.AppendOne; one != nil && !slices.ContainsFunc(evs, func(e *herm.Event) bool { return e.DeploymentID != evs[0].DeploymentID }) {
		first, err := one(ctx, q.w().raw(), evs, now)
		if err != nil {
			return q.dbErr("append events", err, msgs{notFound: "deployment not found", conflict: "event sequence already taken"})
		}
		for i, e := range evs {
			e.Seq = first + int64(i)
		}
		return nil
	}
	inCallersTx := q.tx != nil
	return q.atomic(ctx, func(q *querier) error {
		st := q.s.hotStmts()

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
		// Deployments are locked in ID order.
		var small [4]int
		order := small[:0]
		for i := range blocks {
			order = append(order, i)
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(blocks[a].id, blocks[b].id) })
		bump := q.prepared(ctx, st.bump)
		for _, i := range order {
			b := &blocks[i]
			last, err := q.bumpSeq(ctx, bump, b.n, b.id)
			if err != nil {
				return q.dbErr("append events", err, msgs{notFound: "deployment not found"})
			}
			b.next = last - b.n + 1
		}
		for _, e := range evs {
			b := &blocks[index[e.DeploymentID]]
			e.Seq = b.next
			b.next++
		}

		var err error
		if insert := q.s.d.InsertEvents; insert != nil {
			err = insert(ctx, q.w().raw(), evs)
		} else {
			err = q.insertEvents(ctx, st, evs)
		}
		if err != nil {
			return q.dbErr("append events", err, msgs{conflict: "event sequence already taken"})
		}
		for _, b := range blocks {
			if err := q.enqueueDeliveries(ctx, b.id, b.next-b.n, b.next-1, now, inCallersTx); err != nil {
				return err
			}
		}
		return nil
	})
}

// insertEvents inserts events in chunks of multi-row INSERTs.
func (q *querier) insertEvents(ctx context.Context, st hotStmts, evs []*herm.Event) error {
	one := stmt{q, q.prepared(ctx, st.one), q.s.sql.insertEvent}
	chunk := stmt{q, q.prepared(ctx, st.chunk), q.s.sql.insertEvents}
	args := make([]any, 0, 7*min(len(evs), eventChunk))
	for start := 0; start < len(evs); start += eventChunk {
		part := evs[start:min(start+eventChunk, len(evs))]
		args = args[:0]
		for _, e := range part {
			args = append(args, e.DeploymentID, e.Seq, e.ThreadID, e.RunID, e.Type, rawJSON(e.Data), micros(e.CreatedAt))
		}
		var err error
		if len(part) == eventChunk {
			_, err = chunk.exec(ctx, args...)
		} else {
			for i := 0; i < len(args) && err == nil; i += 7 {
				_, err = one.exec(ctx, args[i:i+7]...)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
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

	out, err := list(ctx, q, q.r(), "list events", b.String(), scanEvent, args...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func scanEvent(sc scanner) (*herm.Event, error) {
	var e herm.Event
	var data []byte
	var created int64
	if err := sc.Scan(&e.DeploymentID, &e.Seq, &e.ThreadID, &e.RunID, &e.Type, &data, &created); err != nil {
		return nil, err
	}
	e.Data, e.CreatedAt = fromRawJSON(data), fromMicros(created)
	return &e, nil
}

// EventBounds returns the lowest retained and the last assigned sequence.
func (q *querier) EventBounds(ctx context.Context, deploymentID string) (first, last int64, err error) {
	err = q.r().QueryRowContext(ctx, `SELECT
			COALESCE((SELECT MIN(seq) FROM events WHERE deployment_id = d.id), 0),
			d.event_seq
		FROM deployments d WHERE d.id = ?`, deploymentID).Scan(&first, &last)
	if err != nil {
		return 0, 0, q.dbErr("event bounds", err, msgs{notFound: "deployment not found"})
	}
	return first, last, nil
}

// deleteChunk is how many events one retention statement removes at most.
const deleteChunk = 5000

// DeleteEventsBefore removes events created before t. Outside a transaction
// it deletes in chunks, each in its own implicit transaction, so that a large
// purge holds neither SQLite's write lock against appends nor many row locks
// (in one large transaction) for long.
func (q *querier) DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error) {
	if q.tx != nil {
		res, err := q.w().ExecContext(ctx, `DELETE FROM events WHERE created_at < ?`, micros(t))
		n, err := q.count("delete events", res, err)
		if err != nil {
			return 0, err
		}
		if _, err := q.w().ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE created_at < ?`, micros(t)); err != nil {
			return 0, q.dbErr("delete deliveries", err, msgs{})
		}
		return n, nil
	}
	// Their webhook deliveries go first (a delivery of an event that is
	// gone would fail anyway).
	for {
		res, err := q.w().ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
			SELECT id FROM webhook_deliveries WHERE created_at < ? LIMIT ?)`, micros(t), deleteChunk)
		if n, err := q.count("delete deliveries", res, err); err != nil || n < deleteChunk {
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
		n, err := q.count("delete events", res, err)
		total += n
		if err != nil || n < deleteChunk {
			return total, err
		}
	}
}
