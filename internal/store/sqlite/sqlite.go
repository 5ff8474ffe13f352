// Package sqlite is the SQLite backend of store.Store, on the pure-Go
// modernc.org/sqlite driver.
//
// The database runs in WAL mode with synchronous=NORMAL and foreign keys on.
// All writes go through one connection (SQLite has one writer anyway; a pool
// of writers would only trade waiting in Go for SQLITE_BUSY), each write
// transaction begins IMMEDIATE so that it holds the write lock from its first
// statement; reads outside transactions use a separate pool of read-only
// connections, which WAL lets run alongside the writer.
//
// InTx holds the writer connection until it ends: fn must call the methods
// of its Querier, not write methods of the Store itself, which would wait
// for that connection until ctx ends.
//
// The store's methods are store/sqlstore's; this package opens the
// database, migrates it and says what is SQLite's own (dialect). The schema
// is a list of embedded, numbered migrations (migrations/*.sql), applied in
// order by Migrate and recorded in schema_migrations.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/sqlstore"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// Options tune a Store. The zero value (and nil) means defaults.
type Options struct {
	// SkipMigrate leaves the schema as it is on Open; call Migrate yourself.
	SkipMigrate bool
	// Readers is the size of the read-only connection pool (default 4).
	Readers int
	// BusyTimeout is how long a connection waits for a lock held by another
	// one before failing with SQLITE_BUSY (default 5 s).
	BusyTimeout time.Duration
	// Now is the clock used where the store sets a time itself (the
	// CreatedAt of appended events); time.Now when nil.
	Now func() time.Time
}

// Store is a SQLite database. It implements store.Store.
type Store struct {
	*base // the store's methods

	path string
	opts Options
	// wdb has one connection: it runs every write and every transaction.
	wdb *sql.DB
	// rdb is a pool of read-only connections for reads outside transactions.
	rdb *sql.DB
}

// base is sqlstore.Store, embedded under a name that is not exported.
type base = sqlstore.Store

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database file at path and, unless
// opts.SkipMigrate, brings its schema up to date. path is a file name, not a
// URI, and must not contain '?'; ":memory:" is not supported, because the
// read pool and the writer must share one database.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case path == "":
		return nil, errors.New("sqlite: empty database path")
	case strings.ContainsAny(path, "?#"), path == ":memory:", strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("sqlite: unsupported database path %q: give a plain file name", path)
	}

	if err := private(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	busy := fmt.Sprint(o.BusyTimeout.Milliseconds())

	wq := url.Values{}
	wq.Add("_pragma", "busy_timeout("+busy+")")
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous(NORMAL)")
	wq.Add("_pragma", "foreign_keys(1)")
	wq.Set("_txlock", "immediate")
	wdb, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	// The first connection creates the file and switches it to WAL before
	// any reader opens it.
	if err := wdb.PingContext(ctx); err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout("+busy+")")
	rq.Add("_pragma", "foreign_keys(1)")
	rq.Set("_query_only", "1")
	rdb, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(o.Readers)
	rdb.SetMaxIdleConns(o.Readers)
	rdb.SetConnMaxIdleTime(5 * time.Minute)

	s := &Store{base: sqlstore.New(dialect(), wdb, rdb, o.Now), path: path, opts: o, wdb: wdb, rdb: rdb}

	if !o.SkipMigrate {
		if err := s.Migrate(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// private makes the database file readable and writable by the server's
// user only: it holds every conversation. SQLite would create it 0644 (less
// the umask) and gives its -wal and -shm files the database file's mode, so
// the file is created 0600 before SQLite opens it; files left readable by
// others (by an older version) are narrowed.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&^0o077); err != nil {
				return err
			}
		}
	}
	return nil
}

// dialect is what SQLite does differently from PostgreSQL.
func dialect() sqlstore.Dialect {
	const cost = `json_extract(usage, '$.cost_usd')`
	return sqlstore.Dialect{
		Name:      "sqlite",
		Violation: violation,
		// SkipLocked and LockRows: none, all writers are serialised (BEGIN
		// IMMEDIATE on the one writer connection).

		// One writer: MAX+1 is safe.
		RunSeq:    `(SELECT COALESCE(MAX(seq), 0) + 1 FROM runs)`,
		UsageCost: cost,
		// The thread's runs go with it; what they cost stays counted.
		SpendThreadRuns: `UPDATE deployments SET spent_deleted_usd = spent_deleted_usd + (
				SELECT COALESCE(SUM(` + cost + `), 0) FROM runs WHERE thread_id = ? AND deployment_id = ?)
			WHERE id = ?`,
		JSONHas: func(array, value string) string {
			return `EXISTS (SELECT 1 FROM json_each(` + array + `) WHERE json_each.value = ` + value + `)`
		},
		JSONEntry: func(obj string) string {
			return `EXISTS (SELECT 1 FROM json_each(` + obj + `) WHERE json_each.key = ? AND json_each.value = ?)`
		},
		// One process writes the database (LockDir).
		CacheWebhooks: true,
		// InsertEvents and AppendOne: the store's multi-row INSERTs,
		// prepared once migrated (Migrate), which need no statement
		// journal OR FAIL.
		InsertEventsOr: ` OR FAIL`,
	}
}

// violation tells which constraint a driver error reports violated, from
// its extended result code.
func violation(err error) sqlstore.Violation {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return sqlstore.NoViolation
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqlstore.Unique
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqlstore.ForeignKey
	}
	return sqlstore.NoViolation
}
