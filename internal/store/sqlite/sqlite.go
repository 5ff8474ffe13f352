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
// The schema is a list of embedded, numbered migrations (migrations/*.sql),
// applied in order by Migrate and recorded in schema_migrations.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hermhq/herm/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
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
	querier // the Querier methods outside a transaction

	path string
	opts Options
	// wdb has one connection: it runs every write and every transaction.
	wdb *sql.DB
	// rdb is a pool of read-only connections for reads outside transactions.
	rdb *sql.DB

	// mu guards the statements of the AppendEvents hot path, prepared on
	// wdb once the schema exists (see prepare).
	mu           sync.Mutex
	bumpSeq      *sql.Stmt
	insertEvent  *sql.Stmt
	insertEvents *sql.Stmt

	// hooks is whether webhooks exist (hooksUnknown, hooksNone, hooksSome),
	// so that appending events costs nothing more while there are none.
	hooks atomic.Int32
}

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

	s := &Store{path: path, opts: o}
	s.querier.s = s
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
	s.wdb = wdb
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
	s.rdb = rdb

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

// Close releases the database. It does not wait for transactions in flight.
func (s *Store) Close() error {
	var errs []error
	bump, one, chunk := s.eventStmts()
	for _, st := range []*sql.Stmt{bump, one, chunk} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, s.rdb.Close(), s.wdb.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Ping checks that both the writer and the read pool answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.wdb.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// InTx runs fn in one write transaction (BEGIN IMMEDIATE on the single writer
// connection), committed when fn returns nil and rolled back otherwise or
// when fn panics (the panic goes on). fn's error is returned unchanged.
//
// Every query of q, reads included, runs in the transaction. fn must not call
// write methods of the Store itself (rather than q): they would wait for the
// writer connection that the transaction holds until ctx ends.
func (s *Store) InTx(ctx context.Context, fn func(q store.Querier) error) error {
	return s.inTx(ctx, func(q *querier) error { return fn(q) })
}

func (s *Store) inTx(ctx context.Context, fn func(q *querier) error) (err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// fn panicked (or Commit was never reached): undo, and let the
			// panic go on.
			_ = tx.Rollback()
		}
	}()
	if err := fn(&querier{s: s, tx: tx}); err != nil {
		done = true
		_ = tx.Rollback()
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// dbtx is what *sql.DB and *sql.Tx have in common.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
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
func (q *querier) r() dbtx {
	if q.tx != nil {
		return q.tx
	}
	return q.s.rdb
}

// w returns where single-statement writes go.
func (q *querier) w() dbtx {
	if q.tx != nil {
		return q.tx
	}
	return q.s.wdb
}

// atomic runs fn in the current transaction, or in a new one.
func (q *querier) atomic(ctx context.Context, fn func(q *querier) error) error {
	if q.tx != nil {
		return fn(q)
	}
	return q.s.inTx(ctx, fn)
}

// stmt returns a prepared statement of the store usable in q's transaction.
func (q *querier) stmt(ctx context.Context, st *sql.Stmt) *sql.Stmt {
	if q.tx != nil {
		return q.tx.StmtContext(ctx, st)
	}
	return st
}
