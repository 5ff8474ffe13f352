// Package retention removes what the server keeps only for a time: events
// past the event retention (with their webhook deliveries), stored
// idempotent responses after a day, and expired workspace snapshots.
package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/hermhq/herm/internal/cluster"
)

// Store deletes old rows (store.Store).
type Store interface {
	// DeleteEventsBefore removes events created before t and returns how
	// many.
	DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error)
	// DeleteIdempotencyBefore removes stored responses created before t.
	DeleteIdempotencyBefore(ctx context.Context, t time.Time) (int64, error)
}

// Snapshots removes expired snapshots (sandbox.Snapshots).
type Snapshots interface {
	Sweep() (int, error)
}

// Options configure a Sweeper; zero fields mean the defaults.
type Options struct {
	// Events is how long events are kept (default 30 days).
	Events time.Duration
	// Idempotency is how long idempotent responses are kept (default 24 h).
	Idempotency time.Duration
	// Every is the time between sweeps (default 1 h).
	Every time.Duration
	// Leader decides whether this node sweeps (default: always); a node
	// that does not lead asks again every few seconds.
	Leader cluster.Leader
	Now    func() time.Time
	Logger *slog.Logger
}

// Sweeper applies retention.
type Sweeper struct {
	store Store
	snaps Snapshots // nil: no snapshots
	opts  Options
}

// New returns a Sweeper of st and snaps (which may be nil).
func New(st Store, snaps Snapshots, opts Options) *Sweeper {
	if opts.Events <= 0 {
		opts.Events = 30 * 24 * time.Hour
	}
	if opts.Idempotency <= 0 {
		opts.Idempotency = 24 * time.Hour
	}
	if opts.Every <= 0 {
		opts.Every = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Leader == nil {
		opts.Leader = cluster.Always{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{store: st, snaps: snaps, opts: opts}
}

// Run sweeps now and then every opts.Every until ctx ends, while this
// node leads.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.opts.Leader.IsLeader() {
			s.Sweep(ctx)
			t.Reset(s.opts.Every)
		} else {
			t.Reset(min(s.opts.Every, cluster.FollowerRetry))
		}
	}
}

// Sweep removes what is past its retention once; failures are logged.
func (s *Sweeper) Sweep(ctx context.Context) {
	now := s.opts.Now()
	log := s.opts.Logger
	if n, err := s.store.DeleteEventsBefore(ctx, now.Add(-s.opts.Events)); err != nil && ctx.Err() == nil {
		log.Warn("event retention", "err", err)
	} else if n > 0 {
		log.Info("event retention removed old events", "events", n)
	}
	if _, err := s.store.DeleteIdempotencyBefore(ctx, now.Add(-s.opts.Idempotency)); err != nil && ctx.Err() == nil {
		log.Warn("idempotency retention", "err", err)
	}
	if s.snaps == nil {
		return
	}
	if n, err := s.snaps.Sweep(); err != nil {
		log.Warn("snapshot retention", "err", err)
	} else if n > 0 {
		log.Info("snapshot retention removed expired snapshots", "snapshots", n)
	}
}
