// Package postgres is the PostgreSQL backend of store.Store, on
// github.com/jackc/pgx/v5 through its database/sql driver (pgx/v5/stdlib).
//
// It mirrors store/sqlite file by file: the queries are the same, written
// with '?' placeholders that rebind turns into $1, $2, …, and the schema is
// the same, translated (migrations/*.sql, applied by Migrate and recorded in
// schema_migrations). Times are BIGINT unix microseconds, as in SQLite.
//
// Unlike SQLite, PostgreSQL runs writes concurrently: every run transition is
// one guarded statement that takes the run row first (see transition.go),
// ClaimRun and ClaimDeliveries skip rows other claims hold (FOR UPDATE SKIP
// LOCKED), and AppendEvents locks deployment rows in ID order. InTx keeps the
// store contract that write transactions are serialised with a transaction-
// scoped advisory lock (per schema), taken first.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hermhq/herm/internal/store"
)

// Options tune a Store. The zero value (and nil) means defaults.
type Options struct {
	// SkipMigrate leaves the schema as it is on Open; call Migrate yourself.
	SkipMigrate bool
	// MaxConns is the size of the connection pool (default 10).
	MaxConns int
	// Now is the clock used where the store sets a time itself (the
	// CreatedAt of appended events); time.Now when nil.
	Now func() time.Time
}

// Store is a PostgreSQL database. It implements store.Store.
type Store struct {
	querier // the Querier methods outside a transaction

	opts Options
	db   *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string; run-time parameters such as search_path may be given in
// it) and, unless opts.SkipMigrate, brings its schema up to date.
func Open(ctx context.Context, url string, opts *Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	return OpenConfig(ctx, cfg, opts)
}

// OpenConfig is Open with a parsed connection configuration.
func OpenConfig(ctx context.Context, cfg *pgx.ConnConfig, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(o.MaxConns)
	db.SetMaxIdleConns(o.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{opts: o, db: db}
	s.querier.s = s
	if !o.SkipMigrate {
		if err := s.Migrate(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close releases the database. It does not wait for transactions in flight.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("postgres: close: %w", err)
	}
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// sqlTxLock serialises the store's write transactions (InTx): a transaction-
// scoped advisory lock, one per schema, released at commit or rollback.
const sqlTxLock = `SELECT pg_advisory_xact_lock(hashtext('herm.tx.' || current_schema()))`

// InTx runs fn in one transaction, committed when fn returns nil and rolled
// back otherwise or when fn panics (the panic goes on). fn's error is
// returned unchanged.
//
// The transaction first takes an advisory lock that every InTx of this
// database schema takes, so that, as the store contract says, a read
// followed by a write inside fn sees no interleaving change made by another
// InTx (on any handle or node). Single-statement writes and the store's own
// multi-statement operations do not take it: they are guarded statements.
// Every query of q, reads included, runs in the transaction.
func (s *Store) InTx(ctx context.Context, fn func(q store.Querier) error) error {
	return s.inTx(ctx, true, func(q *querier) error { return fn(q) })
}

func (s *Store) inTx(ctx context.Context, serialise bool, fn func(q *querier) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr("begin", err, msgs{})
	}
	done := false
	defer func() {
		if !done {
			// fn panicked (or Commit was never reached): undo, and let the
			// panic go on.
			_ = tx.Rollback()
		}
	}()
	if serialise {
		if _, err := tx.ExecContext(ctx, sqlTxLock); err != nil {
			done = true
			_ = tx.Rollback()
			return dbErr("begin", err, msgs{})
		}
	}
	if err := fn(&querier{s: s, tx: tx}); err != nil {
		done = true
		_ = tx.Rollback()
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return dbErr("commit", err, msgs{})
	}
	return nil
}

// dbtx is what *sql.DB and *sql.Tx have in common.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries written with '?' placeholders (see rebind).
type conn struct{ d dbtx }

func (c conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.d.ExecContext(ctx, rebind(query), args...)
}

func (c conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.d.QueryContext(ctx, rebind(query), args...)
}

func (c conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.d.QueryRowContext(ctx, rebind(query), args...)
}

// rebound caches rebind's results: queries are few and built from constants.
var rebound sync.Map

// rebind replaces the '?' placeholders of query (outside quoted strings and
// identifiers) by $1, $2, … in order.
func rebind(query string) string {
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
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
	out := b.String()
	rebound.Store(query, out)
	return out
}

// querier implements store.Querier, inside a transaction (tx set) or outside
// one (tx nil: single statements run on the pool, and multi-statement
// operations get their own transaction).
type querier struct {
	s  *Store
	tx *sql.Tx
}

var _ store.Querier = (*querier)(nil)

// r returns where reads go.
func (q *querier) r() conn { return q.w() }

// w returns where writes go.
func (q *querier) w() conn {
	if q.tx != nil {
		return conn{q.tx}
	}
	return conn{q.s.db}
}

// atomic runs fn in the current transaction, or in a new one (which does
// not take InTx's lock: the store's own operations are guarded statements).
func (q *querier) atomic(ctx context.Context, fn func(q *querier) error) error {
	if q.tx != nil {
		return fn(q)
	}
	return q.s.inTx(ctx, false, fn)
}
