package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOptions configure the PostgreSQL notifier and leader.
type PostgresOptions struct {
	// ConnString is the database's URL (postgres://...).
	ConnString string
	// Retry is how long a lost connection waits before it is opened again,
	// and how often the leader checks its connection and a follower tries
	// for the lock (default 2 s).
	Retry time.Duration
	// LockKey names the leadership's advisory lock (default: one per
	// schema, LeaderLock and the connection's current schema).
	LockKey int64
	Logger  *slog.Logger
}

// LeaderLock names the advisory lock the leader holds by default (with the
// schema's name: clusters on several schemas of one database lead each
// their own).
const LeaderLock = "herm.leader"

func (o *PostgresOptions) defaults() {
	if o.Retry <= 0 {
		o.Retry = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// listenWait bounds one wait for a notification, so that channels
// subscribed meanwhile are listened to soon.
const listenWait = 500 * time.Millisecond

// PostgresNotifier is a Notifier over PostgreSQL's LISTEN/NOTIFY: a
// connection of its own listens (opened again when it is lost), a pool
// sends.
type PostgresNotifier struct {
	opts PostgresOptions
	// suffix ends the database's names of this schema's channels:
	// NOTIFY is database-wide, and clusters on several schemas of one
	// database must not hear each other.
	suffix string
	h      *hub
	pool   *pgxpool.Pool
	cancel context.CancelFunc
	done   chan struct{}
	ready  atomic.Bool // the listening connection is up with every channel
}

// NewPostgresNotifier connects and starts listening; channels are the ones
// it listens to from the start (others are added as they are subscribed).
func NewPostgresNotifier(ctx context.Context, opts PostgresOptions, channels ...string) (*PostgresNotifier, error) {
	opts.defaults()
	pool, err := pgxpool.New(ctx, opts.ConnString)
	if err != nil {
		return nil, err
	}
	var schema *string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		pool.Close()
		return nil, err
	}
	if schema == nil {
		pool.Close()
		return nil, errNoSchema
	}
	h := fnv.New32a()
	h.Write([]byte(*schema))
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n := &PostgresNotifier{opts: opts, suffix: fmt.Sprintf("_%08x", h.Sum32()), h: newHub(), pool: pool, cancel: cancel, done: make(chan struct{})}
	go n.listen(life, channels)
	return n, nil
}

// Notify sends payload on channel through the database.
func (n *PostgresNotifier) Notify(ctx context.Context, channel, payload string) error {
	if err := check(channel, payload); err != nil {
		return err
	}
	_, err := n.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel+n.suffix, payload)
	return err
}

// NotifyQuery is the statement (and its arguments) that sends a signal
// from inside a caller's transaction: it goes out only if that commits.
func (n *PostgresNotifier) NotifyQuery(channel, payload string) (string, []any) {
	return "SELECT pg_notify($1, $2)", []any{channel + n.suffix, payload}
}

// Subscribe returns channel's payloads from now on (a channel not listened
// to yet is listened to within half a second).
func (n *PostgresNotifier) Subscribe(channel string) (<-chan string, func()) {
	return n.h.subscribe(channel)
}

// Listening reports whether the listening connection is up.
func (n *PostgresNotifier) Listening() bool { return n.ready.Load() }

// Close stops listening and closes the connections.
func (n *PostgresNotifier) Close() error {
	n.cancel()
	<-n.done
	n.pool.Close()
	n.h.close()
	return nil
}

func (n *PostgresNotifier) listen(ctx context.Context, initial []string) {
	defer close(n.done)
	for ctx.Err() == nil {
		if err := n.listenOnce(ctx, initial); err != nil && ctx.Err() == nil {
			n.opts.Logger.Warn("cluster: the notification connection was lost; opening it again", "err", err)
		}
		n.ready.Store(false)
		select {
		case <-ctx.Done():
		case <-time.After(n.opts.Retry):
		}
	}
}

// listenOnce serves one listening connection until it fails or ctx ends.
func (n *PostgresNotifier) listenOnce(ctx context.Context, initial []string) error {
	conn, err := pgx.Connect(ctx, n.opts.ConnString)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	listened := map[string]bool{}
	for ctx.Err() == nil {
		for _, c := range slices.Concat(initial, n.h.channels()) {
			if listened[c] {
				continue
			}
			if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{c + n.suffix}.Sanitize()); err != nil {
				return err
			}
			listened[c] = true
		}
		n.ready.Store(true)
		wctx, cancel := context.WithTimeout(ctx, listenWait)
		note, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if c, ok := strings.CutSuffix(note.Channel, n.suffix); ok {
				n.h.deliver(c, note.Payload)
			}
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			if conn.IsClosed() {
				return errors.New("the connection closed while waiting")
			}
		default:
			return err
		}
	}
	return nil
}

// PostgresLeader is a Leader over a PostgreSQL advisory lock held on a
// connection of its own: the node whose connection holds the lock leads;
// when that connection is lost (the node died, or the network), the
// database releases the lock and another node takes it within Retry. For
// up to Retry after a lost connection two nodes may both think they lead:
// singletons must be safe to run twice (they are guarded statements).
type PostgresLeader struct {
	opts   PostgresOptions
	leader atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewPostgresLeader starts trying for the leadership.
func NewPostgresLeader(ctx context.Context, opts PostgresOptions) *PostgresLeader {
	opts.defaults()
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &PostgresLeader{opts: opts, cancel: cancel, done: make(chan struct{})}
	go l.run(life)
	return l
}

// IsLeader reports whether this node holds the lock.
func (l *PostgresLeader) IsLeader() bool { return l.leader.Load() }

// Close gives the leadership up (the lock is released with its
// connection).
func (l *PostgresLeader) Close() error {
	l.once.Do(func() {
		l.cancel()
		<-l.done
	})
	return nil
}

func (l *PostgresLeader) run(ctx context.Context) {
	defer close(l.done)
	for ctx.Err() == nil {
		if err := l.hold(ctx); err != nil && ctx.Err() == nil {
			l.opts.Logger.Warn("cluster: the leadership connection was lost; trying again", "err", err)
		}
		l.leader.Store(false)
		select {
		case <-ctx.Done():
		case <-time.After(l.opts.Retry):
		}
	}
}

// hold opens a connection and, on it, tries for the lock every Retry and
// checks the connection while it holds it.
func (l *PostgresLeader) hold(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, l.opts.ConnString)
	if err != nil {
		return err
	}
	defer func() {
		l.leader.Store(false) // before the lock goes, not after
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx) // releases the lock
	}()
	tick := time.NewTicker(l.opts.Retry)
	defer tick.Stop()
	for {
		if l.leader.Load() {
			if err := conn.Ping(ctx); err != nil {
				return err
			}
		} else {
			key := l.opts.LockKey
			if key == 0 {
				if key, err = schemaLock(ctx, conn, LeaderLock); err != nil {
					return err
				}
			}
			var got bool
			if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
				return err
			}
			if got {
				l.opts.Logger.Info("cluster: this node leads")
				l.leader.Store(true)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Servers names the advisory lock of a schema that every server holds
// shared while it runs, and `herm migrate` exclusively.
const Servers = "herm.servers"

// ErrAnotherServer says that the lock is held in a mode that excludes the
// one asked for.
const ErrAnotherServer = clusterError("herm servers are using this PostgreSQL schema (stop them first)")

// Exclusive takes the advisory lock of name and the connection's current
// schema on a connection of its own, so that nobody holding it shared or
// exclusively runs on that schema while the caller does. It fails at once
// with ErrAnotherServer when the lock is held; release gives it up. If the
// connection is lost the lock goes with it; lost reports that (checked
// every Retry), and the caller should stop.
func Exclusive(ctx context.Context, opts PostgresOptions, name string) (release func(), lost <-chan struct{}, err error) {
	return hold(ctx, opts, name, false)
}

// Shared takes the advisory lock of name and the current schema in shared
// mode, as Exclusive does otherwise: any number of holders, and nobody
// exclusive meanwhile.
func Shared(ctx context.Context, opts PostgresOptions, name string) (release func(), lost <-chan struct{}, err error) {
	return hold(ctx, opts, name, true)
}

func hold(ctx context.Context, opts PostgresOptions, name string, shared bool) (release func(), lost <-chan struct{}, err error) {
	opts.defaults()
	conn, err := pgx.Connect(ctx, opts.ConnString)
	if err != nil {
		return nil, nil, err
	}
	key, err := schemaLock(ctx, conn, name)
	if err != nil {
		_ = conn.Close(ctx)
		return nil, nil, err
	}
	lock, unlock := "pg_try_advisory_lock", "pg_advisory_unlock"
	if shared {
		lock, unlock = "pg_try_advisory_lock_shared", "pg_advisory_unlock_shared"
	}
	var got bool
	if err := conn.QueryRow(ctx, "SELECT "+lock+"($1)", key).Scan(&got); err != nil {
		_ = conn.Close(ctx)
		return nil, nil, err
	}
	if !got {
		_ = conn.Close(ctx)
		return nil, nil, ErrAnotherServer
	}
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	gone := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(opts.Retry)
		defer tick.Stop()
		for {
			select {
			case <-life.Done():
				return
			case <-tick.C:
				if err := conn.Ping(life); err != nil && life.Err() == nil {
					opts.Logger.Error("cluster: the connection holding this server's database lock was lost", "err", err)
					close(gone)
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			cctx, cancelClose := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancelClose()
			// Unlocked now, not when the server gets round to ending the
			// closed connection's session: a server started right after
			// this one stopped must find it free.
			_, _ = conn.Exec(cctx, "SELECT "+unlock+"($1)", key)
			_ = conn.Close(cctx)
		})
	}, gone, nil
}

// schemaLock returns the advisory lock key of name in the connection's
// current schema, as the database resolves it (search_path in the URL, a
// role's setting, the default), not as a URL spells it.
func schemaLock(ctx context.Context, conn *pgx.Conn, name string) (int64, error) {
	var key *int64
	if err := conn.QueryRow(ctx, "SELECT hashtextextended($1 || '.' || current_schema(), 0)", name).Scan(&key); err != nil {
		return 0, err
	}
	if key == nil {
		return 0, errNoSchema
	}
	return *key, nil
}

const errNoSchema = clusterError("cluster: the connection has no current schema (check search_path)")
