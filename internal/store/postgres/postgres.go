// Package postgres is the PostgreSQL backend of store.Store, on
// github.com/jackc/pgx/v5 through its database/sql driver (pgx/v5/stdlib).
//
// The store's methods are store/sqlstore's, as are store/sqlite's: the
// queries are the same, written with '?' placeholders that are rebound to
// $1, $2, …, and the schema is the same, translated (migrations/*.sql,
// applied by Migrate and recorded in schema_migrations). Times are BIGINT
// unix microseconds, as in SQLite. This package opens the database,
// migrates it and says what is PostgreSQL's own (dialect).
//
// Unlike SQLite, PostgreSQL runs writes concurrently, and transactions
// (InTx) are not serialised with each other: every state change is one
// guarded statement (a run transition takes the run row first), what a
// transaction decides on it holds (FOR NO KEY UPDATE: a thread and its
// active runs, a steering request's run), ClaimRun and ClaimDeliveries skip
// rows other claims hold (FOR UPDATE SKIP LOCKED), and AppendEvents appends
// a batch of one deployment in one statement and locks the deployment rows
// of a batch of several in ID order.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/sqlstore"
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
	*base // the store's methods

	opts Options
	db   *sql.DB
}

// base is sqlstore.Store, embedded under a name that is not exported.
type base = sqlstore.Store

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
	s := &Store{base: sqlstore.New(dialect(), db, db, o.Now), opts: o, db: db}
	if !o.SkipMigrate {
		if err := s.Migrate(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// dialect is what PostgreSQL does differently from SQLite.
func dialect() sqlstore.Dialect {
	const cost = `(usage::jsonb->>'cost_usd')::double precision`
	return sqlstore.Dialect{
		Name:       "postgres",
		Numbered:   true,
		Violation:  violation,
		SkipLocked: ` FOR UPDATE SKIP LOCKED`,
		LockRows:   ` FOR NO KEY UPDATE`, // the lock an UPDATE takes
		RunSeq:     `DEFAULT`,            // nextval('runs_seq_seq')
		UsageCost:  cost,
		// The thread's runs are deleted first, adding what they cost in the
		// same statement: a delete waits for a concurrent UpdateRun of the
		// run and returns the usage that one wrote, so that no cost is lost.
		SpendThreadRuns: `WITH gone AS (
				DELETE FROM runs WHERE thread_id = ? AND deployment_id = ? RETURNING usage)
			UPDATE deployments SET spent_deleted_usd = spent_deleted_usd + (
				SELECT COALESCE(SUM(` + cost + `), 0) FROM gone)
			WHERE id = ?`,
		JSONHas: func(array, value string) string {
			return array + `::jsonb @> jsonb_build_array(` + value + `)`
		},
		JSONEntry: func(obj string) string {
			return `(` + obj + `::jsonb ->> CAST(? AS TEXT)) = CAST(? AS TEXT)`
		},
		// CacheWebhooks: no, another node may create a webhook at any time.
		InsertEvents: insertEvents,
		AppendOne:    appendOne,
	}
}

// SQLSTATE codes of constraint violations.
const (
	codeUnique     = "23505"
	codeForeignKey = "23503"
)

// violation tells which constraint a driver error reports violated, from
// its SQLSTATE.
func violation(err error) sqlstore.Violation {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return sqlstore.NoViolation
	}
	switch e.Code {
	case codeUnique:
		return sqlstore.Unique
	case codeForeignKey:
		return sqlstore.ForeignKey
	}
	return sqlstore.NoViolation
}
