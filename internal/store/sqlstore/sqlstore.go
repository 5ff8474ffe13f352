// Package sqlstore implements store.Store once, over database/sql, for the
// SQL backends: store/sqlite and store/postgres open their database, migrate
// its schema and pass New a Dialect that says what differs between the
// engines; every store method is written here, once.
//
// The queries are written with '?' placeholders (rebound once each to $1,
// $2, … for a Dialect that is Numbered) in SQL that both engines accept.
// Both schemas store times as BIGINT unix microseconds UTC and JSON as TEXT.
// Where the engines must differ, the Dialect carries the fragment or
// statement: the claim clause (FOR UPDATE SKIP LOCKED where writers run
// concurrently), the clause that holds the rows a read decides on, JSON
// functions, how a run's queue order is taken, the statement that counts a
// deleted thread's cost, and how AppendEvents inserts its rows.
//
// Transactions are not serialised with each other: every state change is
// one guarded statement whose WHERE holds its precondition (see
// transition.go), and what a transaction must hold while it decides (a
// thread and its active runs, the run of a steering request) it takes
// first, in the order store.Store.InTx gives, so that the store is correct
// both where the engine serialises all writers (SQLite) and where it runs
// them concurrently with row locks (PostgreSQL under READ COMMITTED).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Dialect is what differs between the SQL engines. Everything else about
// the store is shared.
type Dialect struct {
	// Name prefixes the store's internal errors ("sqlite: get run: …").
	Name string
	// Numbered is whether the driver takes $1, $2, … rather than '?'.
	Numbered bool
	// Violation tells which constraint a driver error reports violated.
	Violation func(err error) Violation
	// SkipLocked ends the sub-SELECT that picks the rows a claim takes
	// (ClaimRun, ClaimDeliveries): " FOR UPDATE SKIP LOCKED" where writers
	// run concurrently, so that concurrent claims take different rows
	// without waiting for each other; "" where writers are serialised.
	SkipLocked string
	// LockRows ends a SELECT, in a transaction, so that the transaction
	// holds the rows it finds until it ends, as an UPDATE of them would
	// (" FOR NO KEY UPDATE"): ActiveRuns, DeleteThread and
	// ResolveSteeringRequest take a thread or a run so before they decide.
	// "" where writers are serialised (those SELECTs are then not run).
	LockRows string
	// RunSeq is the value CreateRun gives runs.seq, the queue order, which
	// the database takes (a subquery, or DEFAULT for a sequence).
	RunSeq string
	// UsageCost is the SQL expression of the cost in USD that a runs row's
	// usage column (JSON) records.
	UsageCost string
	// SpendThreadRuns is the statement that DeleteThread runs first, with the
	// thread ID, the deployment ID and the deployment ID again: it adds what
	// the thread's runs cost (UsageCost) to the deployment's
	// spent_deleted_usd. It may delete the runs as it reads them; those it
	// leaves go with the thread (ON DELETE CASCADE).
	SpendThreadRuns string
	// JSONHas returns the SQL condition that the JSON array of strings array
	// holds the string value (both SQL expressions).
	JSONHas func(array, value string) string
	// JSONEntry returns the SQL condition that the JSON object of strings
	// obj (an SQL expression) maps the key of the first placeholder to the
	// string of the second.
	JSONEntry func(obj string) string
	// CacheWebhooks lets the store remember that no webhook exists, so that
	// appending events costs nothing more while there are none: only where
	// no other process writes the database.
	CacheWebhooks bool
	// InsertEvents, when set, inserts the rows of events whose Seq,
	// ThreadSeq (0: NULL) and CreatedAt are set, and returns the driver's
	// error. When nil, multi-row INSERTs do (see Prepare).
	InsertEvents func(ctx context.Context, db DBTX, evs []*herm.Event) error
	// InsertEventsOr is the conflict clause of those multi-row INSERTs
	// (" OR FAIL", or ""). Inside a transaction, SQLite keeps a statement
	// journal of the pages that a statement which may abort halfway (a
	// multi-row INSERT OR ABORT, the default) changes, so that it can undo
	// that statement alone: in memory up to 64 KiB, then in a temporary
	// file, page by page, for the rest of the transaction. A batch of
	// events gets there (an INSERT per eventChunk rows, each rebalancing
	// the right-hand leaves of the table and its three indexes). OR FAIL
	// needs no statement journal: a failing INSERT keeps the rows before
	// the failing one, as the chunks before it are kept anyway, and an
	// error of AppendEvents means that its transaction is rolled back.
	InsertEventsOr string
	// AppendOne, when set, appends events of one deployment in one statement,
	// with no transaction of its own: it reserves their sequence numbers and,
	// when the deployment is hidden (as sqlBumpSeq tells), after its row is
	// locked, the numbers of the threads' sequences that the events marked
	// numbered take (those of threads that exist in the deployment, as
	// sqlBumpThreadSeq does), inserts the events and their webhook
	// deliveries, and returns the first sequence (sql.ErrNoRows when the
	// deployment does not exist) and each numbered thread's last number
	// (none when the deployment is not hidden). Their CreatedAt is set; now
	// is when deliveries are due and made.
	AppendOne func(ctx context.Context, db DBTX, evs []*herm.Event, numbered []bool, now time.Time) (first int64, threads []ThreadLast, err error)
}

// Violation is the kind of constraint a driver error reports violated.
type Violation int

// Violations.
const (
	NoViolation Violation = iota
	// Unique is a uniqueness (or primary key) violation.
	Unique
	// ForeignKey is a foreign key violation.
	ForeignKey
)

// DBTX is what *sql.DB and *sql.Tx have in common.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store is a SQL database. It implements store.Store.
type Store struct {
	querier // the Querier methods outside a transaction

	d   Dialect
	sql queries
	now func() time.Time
	// wdb runs every write and every transaction.
	wdb *sql.DB
	// rdb runs reads outside transactions: a pool of read-only connections,
	// or wdb itself.
	rdb *sql.DB

	// rebound maps a query to its numbered form (Dialect.Numbered): queries
	// are few and built from constants.
	rebound sync.Map

	// mu guards the prepared statements of the hot paths.
	mu  sync.Mutex
	hot hotStmts

	// hooks is whether webhooks exist (hooksUnknown, hooksNone, hooksSome),
	// with Dialect.CacheWebhooks.
	hooks atomic.Int32
}

var _ store.Store = (*Store)(nil)

// New returns the store of a database whose schema the backend migrates.
// Writes and transactions go to wdb, reads outside transactions to rdb (wdb
// again when the engine has no separate read pool). now is the clock for
// the times the store sets itself (the CreatedAt of appended events).
func New(d Dialect, wdb, rdb *sql.DB, now func() time.Time) *Store {
	s := &Store{d: d, sql: newQueries(d), now: now, wdb: wdb, rdb: rdb}
	s.querier.s = s
	return s
}

// Close releases the database. It does not wait for transactions in flight.
func (s *Store) Close() error {
	var errs []error
	for _, st := range s.hotStmts().all() {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.rdb != s.wdb {
		errs = append(errs, s.rdb.Close())
	}
	errs = append(errs, s.wdb.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: close: %w", s.d.Name, err)
	}
	return nil
}

// Ping checks that the writer and the read pool answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.wdb.PingContext(ctx); err != nil {
		return fmt.Errorf("%s: ping: %w", s.d.Name, err)
	}
	if s.rdb != s.wdb {
		if err := s.rdb.PingContext(ctx); err != nil {
			return fmt.Errorf("%s: ping: %w", s.d.Name, err)
		}
	}
	return nil
}

// InTx runs fn in one write transaction, committed when fn returns nil and
// rolled back otherwise or when fn panics (the panic goes on). fn's error is
// returned unchanged. Every query of q, reads included, runs in the
// transaction. Nothing serialises it with other transactions (see
// store.Store.InTx): the store's writes are guarded statements.
func (s *Store) InTx(ctx context.Context, fn func(q store.Querier) error) error {
	return s.inTx(ctx, func(q *querier) error { return fn(q) })
}

func (s *Store) inTx(ctx context.Context, fn func(q *querier) error) error {
	return s.Tx(ctx, func(tx *sql.Tx) error {
		return fn(&querier{s: s, tx: tx})
	})
}

// Tx runs fn in a transaction on the writer: committed when fn returns nil
// and rolled back otherwise or when fn panics (the panic goes on). fn's
// error is returned unchanged. The backends migrate with it.
func (s *Store) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return s.dbErr("begin", err, msgs{})
	}
	done := false
	defer func() {
		if !done {
			// fn panicked (or Commit was never reached): undo, and let the
			// panic go on.
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		done = true
		_ = tx.Rollback()
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return s.dbErr("commit", err, msgs{})
	}
	return nil
}

// rebind returns query with the Dialect's placeholders.
func (s *Store) rebind(query string) string {
	if !s.d.Numbered {
		return query
	}
	if v, ok := s.rebound.Load(query); ok {
		return v.(string)
	}
	out := number(query)
	s.rebound.Store(query, out)
	return out
}

// number replaces the '?' placeholders of query (outside quoted strings and
// identifiers) by $1, $2, … in order.
func number(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// conn runs the store's queries (written with '?') in a transaction (tx
// set) or on a pool. It calls them on the concrete types, not through
// DBTX, so that the arguments of a call need not escape to the heap.
type conn struct {
	tx *sql.Tx
	db *sql.DB
	s  *Store
}

// raw returns where c's queries run.
func (c conn) raw() DBTX {
	if c.tx != nil {
		return c.tx
	}
	return c.db
}

func (c conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if c.tx != nil {
		return c.tx.ExecContext(ctx, c.s.rebind(query), args...)
	}
	return c.db.ExecContext(ctx, c.s.rebind(query), args...)
}

func (c conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if c.tx != nil {
		return c.tx.QueryContext(ctx, c.s.rebind(query), args...)
	}
	return c.db.QueryContext(ctx, c.s.rebind(query), args...)
}

func (c conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if c.tx != nil {
		return c.tx.QueryRowContext(ctx, c.s.rebind(query), args...)
	}
	return c.db.QueryRowContext(ctx, c.s.rebind(query), args...)
}

// querier implements store.Querier, inside a transaction (tx set) or outside
// one (tx nil: reads go to the read pool, single-statement writes to the
// writer, and multi-statement operations get their own transaction).
type querier struct {
	s  *Store
	tx *sql.Tx
}

var _ store.Querier = (*querier)(nil)

// r returns where reads go.
func (q *querier) r() conn {
	if q.tx != nil {
		return conn{tx: q.tx, s: q.s}
	}
	return conn{db: q.s.rdb, s: q.s}
}

// w returns where writes go.
func (q *querier) w() conn {
	if q.tx != nil {
		return conn{tx: q.tx, s: q.s}
	}
	return conn{db: q.s.wdb, s: q.s}
}

// atomic runs fn in the current transaction, or in a new one.
func (q *querier) atomic(ctx context.Context, fn func(q *querier) error) error {
	if q.tx != nil {
		return fn(q)
	}
	return q.s.inTx(ctx, fn)
}

// hold runs query, a SELECT that ends with Dialect.LockRows (see queries),
// in q's transaction, so that it holds the rows query finds until it ends;
// where writers are serialised (no LockRows) it does nothing.
func (q *querier) hold(ctx context.Context, op, query string, args ...any) error {
	if q.s.d.LockRows == "" {
		return nil
	}
	if q.tx == nil {
		return fmt.Errorf("%s: %s: rows held outside a transaction", q.s.d.Name, op)
	}
	rows, err := q.tx.QueryContext(ctx, q.s.rebind(query), args...)
	if err != nil {
		return q.dbErr(op, err, msgs{})
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return q.dbErr(op, err, msgs{})
	}
	return q.dbErr(op, rows.Close(), msgs{})
}

// queries are the statements that depend on the Dialect, built once.
type queries struct {
	createRun, deploymentSpend, claimRun, claimObservation, claimDeliveries, enqueueDeliveries string
	// insertEvent and insertEvents insert one and eventChunk events.
	insertEvent, insertEvents string
	// activeRuns is ActiveRuns' SELECT, activeRunsHeld the same holding
	// its rows (in a transaction); holdThread and holdRequestRun hold a
	// thread and the run of a steering request (see hold).
	activeRuns, activeRunsHeld, holdThread, holdRequestRun string
}

func newQueries(d Dialect) queries {
	return queries{
		activeRuns:        activeRuns,
		activeRunsHeld:    activeRuns + d.LockRows,
		holdThread:        `SELECT id FROM threads WHERE id = ?` + d.LockRows,
		holdRequestRun:    `SELECT id FROM runs WHERE id = (SELECT run_id FROM steering_requests WHERE id = ?)` + d.LockRows,
		createRun:         fmt.Sprintf(createRun, d.RunSeq),
		deploymentSpend:   fmt.Sprintf(deploymentSpend, d.UsageCost),
		claimRun:          fmt.Sprintf(claimRun, d.SkipLocked),
		claimObservation:  fmt.Sprintf(claimObservation, d.SkipLocked),
		claimDeliveries:   fmt.Sprintf(claimDeliveries, d.SkipLocked),
		enqueueDeliveries: fmt.Sprintf(enqueueDeliveries, d.JSONHas("w.events", "e.type")),
		insertEvent:       fmt.Sprintf(sqlInsertEvent, d.InsertEventsOr) + eventValues,
		insertEvents:      fmt.Sprintf(sqlInsertEvent, d.InsertEventsOr) + strings.TrimSuffix(strings.Repeat(eventValues+", ", eventChunk), ", "),
	}
}
