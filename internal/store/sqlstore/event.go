package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

const (
	// sqlBumpSeq reserves the next n numbers of a deployment's sequence,
	// with n and the deployment, and returns the last and whether the
	// deployment is hidden (an agent's, whose threads are sessions: only
	// their events are numbered in their threads' sequences). No row when
	// the deployment does not exist.
	sqlBumpSeq = `UPDATE deployments SET event_seq = event_seq + ? WHERE id = ? RETURNING event_seq, agent_id IS NOT NULL`
	// sqlBumpThreadSeq reserves the next n numbers of a thread's sequence,
	// with n, the thread and its deployment (a hidden one), and returns the
	// last: no row when the thread does not exist in that deployment (its
	// events are then not numbered, and no counter is made that no thread
	// deletion would remove).
	sqlBumpThreadSeq = `INSERT INTO thread_event_seqs (thread_id, seq)
		SELECT id, CAST(? AS BIGINT) FROM threads WHERE id = ? AND deployment_id = ?
		ON CONFLICT (thread_id) DO UPDATE SET seq = thread_event_seqs.seq + excluded.seq
		RETURNING seq`
	// Multi-row inserts amortise the per-statement cost of the driver;
	// eventChunk rows of eventArgs values stay far below SQLite's variable
	// limit.
	eventChunk     = 16
	eventArgs      = 8
	sqlInsertEvent = `INSERT%s INTO events (deployment_id, seq, thread_id, run_id, type, data, created_at, thread_seq) VALUES `
	eventValues    = `(?, ?, ?, ?, ?, ?, ?, ?)`
)

// hotStmts are the statements of the hot paths, prepared once on the
// writer (Prepare): the SQLite driver parses a statement at every call
// otherwise. AppendEvents' (the sequence bumps and the inserts) and
// ClaimRun's, the loop's largest statement.
type hotStmts struct {
	bump, thread, one, chunk, claim *sql.Stmt
}

func (h hotStmts) all() []*sql.Stmt { return []*sql.Stmt{h.bump, h.thread, h.one, h.chunk, h.claim} }

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
		{&st.thread, sqlBumpThreadSeq},
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
// (sqlBumpSeq, prepared in q's transaction or nil) and returns the last,
// and whether the deployment is hidden.
func (q *querier) bumpSeq(ctx context.Context, bump *sql.Stmt, n int64, deploymentID string) (last int64, hidden bool, err error) {
	var row *sql.Row
	if bump != nil {
		row = bump.QueryRowContext(ctx, n, deploymentID)
	} else {
		row = q.w().QueryRowContext(ctx, sqlBumpSeq, n, deploymentID)
	}
	err = row.Scan(&last, &hidden)
	return last, hidden, err
}

// bumpThreadSeq reserves the next n numbers of a thread's sequence with
// bump (sqlBumpThreadSeq, prepared in q's transaction or nil) and returns
// the last; ok is false when the thread does not exist in the deployment.
func (q *querier) bumpThreadSeq(ctx context.Context, bump *sql.Stmt, n int64, threadID, deploymentID string) (last int64, ok bool, err error) {
	var row *sql.Row
	if bump != nil {
		row = bump.QueryRowContext(ctx, n, threadID, deploymentID)
	} else {
		row = q.w().QueryRowContext(ctx, sqlBumpThreadSeq, n, threadID, deploymentID)
	}
	switch err := row.Scan(&last); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	return last, true, nil
}

// ThreadLast is the last number of a thread's sequence after an append
// (Dialect.AppendOne), of a thread of a hidden deployment: the batch's
// events in that sequence took the numbers up to it.
type ThreadLast struct {
	ThreadID string
	Last     int64
}

// threadBlock is a batch's events in one thread's sequence: n of them,
// numbered from next on (0 while unknown, and when the thread does not
// exist in the deployment or the deployment is not hidden: the events are
// then not numbered).
type threadBlock struct {
	deploymentID, threadID string
	n, next                int64
}

// threadBlocks returns the threads of a batch's events that are in their
// thread's sequence (herm.InThreadSequence), in order of first appearance,
// and for each event the index of its block (-1 for the others). With
// numbers, only the events of the deployments it accepts.
func threadBlocks(evs []*herm.Event, numbers func(deploymentID string) bool) (blocks []threadBlock, of []int) {
	of = make([]int, len(evs))
	var index map[[2]string]int // past a few blocks
	for i, e := range evs {
		of[i] = -1
		if (numbers != nil && !numbers(e.DeploymentID)) || !herm.InThreadSequence(e) {
			continue
		}
		b := -1
		if index != nil {
			if j, ok := index[[2]string{e.DeploymentID, e.ThreadID}]; ok {
				b = j
			}
		} else {
			b = slices.IndexFunc(blocks, func(t threadBlock) bool {
				return t.threadID == e.ThreadID && t.deploymentID == e.DeploymentID
			})
		}
		if b < 0 {
			b = len(blocks)
			blocks = append(blocks, threadBlock{deploymentID: e.DeploymentID, threadID: e.ThreadID})
			if index != nil {
				index[[2]string{e.DeploymentID, e.ThreadID}] = b
			} else if len(blocks) == 8 {
				index = make(map[[2]string]int, 16)
				for j, t := range blocks {
					index[[2]string{t.deploymentID, t.threadID}] = j
				}
			}
		}
		blocks[b].n++
		of[i] = b
	}
	return blocks, of
}

// setThreadSeqs numbers the events of each block from its next on, and
// sets the others' ThreadSeq to 0 (all of them when of is nil).
func setThreadSeqs(evs []*herm.Event, blocks []threadBlock, of []int) {
	for i, e := range evs {
		e.ThreadSeq = 0
		if of == nil {
			continue
		}
		if b := of[i]; b >= 0 && blocks[b].next > 0 {
			e.ThreadSeq = blocks[b].next
			blocks[b].next++
		}
	}
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
//
// The events of hidden deployments (an agent's, whose threads are
// sessions) in their thread's sequence (herm.InThreadSequence) are
// numbered in it too (ThreadSeq, 0 for the others): the sequence bump
// returns whether the deployment is hidden (no query more), and after the
// deployments' rows are locked, one upsert of thread_event_seqs per thread
// of the batch in a hidden deployment (sqlBumpThreadSeq; with AppendOne,
// in its statement, conditional on the bump's flag) reserves a block of
// the thread's numbers, which its events take in slice order. The other
// deployments' events cost no counter and no entry of the partial index
// events_thread_seq: nothing reads a first-generation thread's sequence.
// Only a deployment's own threads are numbered, under its lock: an event
// whose thread does not exist in its deployment (deleted, say) is stored
// without a number.
//
// Migration 0018's comment speaks of every thread's events: until the
// bump returned the flag, all threads were numbered, and first-generation
// threads keep the numbers and counters given until then (unread).
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
		// The statement numbers the marked events only when the
		// deployment is hidden.
		threads, of := threadBlocks(evs, nil)
		numbered := make([]bool, len(evs))
		for i, b := range of {
			numbered[i] = b >= 0
		}
		first, lasts, err := one(ctx, q.w().raw(), evs, numbered, now)
		if err != nil {
			return q.dbErr("append events", err, msgs{notFound: "deployment not found", conflict: "event sequence already taken"})
		}
		for _, l := range lasts {
			for i := range threads {
				if t := &threads[i]; t.threadID == l.ThreadID {
					t.next = l.Last - t.n + 1
					break
				}
			}
		}
		for i, e := range evs {
			e.Seq = first + int64(i)
		}
		setThreadSeqs(evs, threads, of)
		return nil
	}
	inCallersTx := q.tx != nil
	return q.atomic(ctx, func(q *querier) error {
		st := q.s.hotStmts()

		// Count the events per deployment, in order of first appearance.
		type block struct {
			id     string
			n      int64
			next   int64
			hidden bool
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
		anyHidden := false
		for _, i := range order {
			b := &blocks[i]
			last, hidden, err := q.bumpSeq(ctx, bump, b.n, b.id)
			if err != nil {
				return q.dbErr("append events", err, msgs{notFound: "deployment not found"})
			}
			b.next, b.hidden = last-b.n+1, hidden
			anyHidden = anyHidden || hidden
		}
		for _, e := range evs {
			b := &blocks[index[e.DeploymentID]]
			e.Seq = b.next
			b.next++
		}
		// Then the sequences of the hidden deployments' threads, under
		// their deployments' locks.
		var threads []threadBlock
		var of []int
		if anyHidden {
			threads, of = threadBlocks(evs, func(id string) bool { return blocks[index[id]].hidden })
		}
		if len(threads) > 0 {
			bump := q.prepared(ctx, st.thread)
			for i := range threads {
				t := &threads[i]
				last, ok, err := q.bumpThreadSeq(ctx, bump, t.n, t.threadID, t.deploymentID)
				if err != nil {
					return q.dbErr("append events", err, msgs{})
				}
				if ok {
					t.next = last - t.n + 1
				}
			}
		}
		setThreadSeqs(evs, threads, of)

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
	args := make([]any, 0, eventArgs*min(len(evs), eventChunk))
	for start := 0; start < len(evs); start += eventChunk {
		part := evs[start:min(start+eventChunk, len(evs))]
		args = args[:0]
		for _, e := range part {
			var threadSeq any // NULL outside the thread's sequence
			if e.ThreadSeq > 0 {
				threadSeq = e.ThreadSeq
			}
			args = append(args, e.DeploymentID, e.Seq, e.ThreadID, e.RunID, e.Type, rawJSON(e.Data), micros(e.CreatedAt), threadSeq)
		}
		var err error
		if len(part) == eventChunk {
			_, err = chunk.exec(ctx, args...)
		} else {
			for i := 0; i < len(args) && err == nil; i += eventArgs {
				_, err = one.exec(ctx, args[i:i+eventArgs]...)
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
	b.WriteString(`SELECT ` + eventColumns + ` FROM events
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

// ListThreadEvents returns a thread's events in its sequence after a
// number, in order.
func (q *querier) ListThreadEvents(ctx context.Context, deploymentID, threadID string, after int64, limit int) ([]*herm.Event, error) {
	return list(ctx, q, q.r(), "list thread events", `SELECT `+eventColumns+` FROM events
		WHERE thread_id = ? AND thread_seq > ? AND deployment_id = ?
		ORDER BY thread_seq LIMIT ?`, scanEvent, threadID, after, deploymentID, pageLimit(limit, defaultEventsLimit))
}

// eventColumns are the columns scanEvent reads.
const eventColumns = `deployment_id, seq, thread_id, run_id, type, data, created_at, thread_seq`

func scanEvent(sc scanner) (*herm.Event, error) {
	var e herm.Event
	var data []byte
	var created int64
	var threadSeq sql.NullInt64
	if err := sc.Scan(&e.DeploymentID, &e.Seq, &e.ThreadID, &e.RunID, &e.Type, &data, &created, &threadSeq); err != nil {
		return nil, err
	}
	e.Data, e.CreatedAt, e.ThreadSeq = fromRawJSON(data), fromMicros(created), threadSeq.Int64
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

// ThreadEventBounds returns the lowest retained and the last assigned
// number of a thread's sequence.
func (q *querier) ThreadEventBounds(ctx context.Context, deploymentID, threadID string) (first, last int64, err error) {
	err = q.r().QueryRowContext(ctx, `SELECT
			COALESCE((SELECT MIN(thread_seq) FROM events
				WHERE thread_id = t.id AND thread_seq IS NOT NULL AND deployment_id = t.deployment_id), 0),
			COALESCE((SELECT seq FROM thread_event_seqs WHERE thread_id = t.id), 0)
		FROM threads t WHERE t.id = ? AND t.deployment_id = ?`, threadID, deploymentID).Scan(&first, &last)
	if err != nil {
		return 0, 0, q.dbErr("thread event bounds", err, msgs{notFound: "thread not found"})
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
