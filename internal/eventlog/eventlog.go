// Package eventlog is the spine of Herm: every observable thing a run does is
// an event appended to the store with a per-deployment sequence before anyone
// sees it. Appends are group-committed (whatever queued up while one batch
// was being written goes into the next, in one transaction), so persisting
// token deltas is cheap. After a batch commits its events are published to
// in-process subscribers; a subscriber that falls behind is dropped and
// catches up from the store. With several nodes on one store, each tells
// the others what it committed and publishes what they committed
// (remote.go).
package eventlog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Options tune a Log. Zero values mean defaults.
type Options struct {
	// MaxBatch is the most events written in one transaction (default 1024).
	MaxBatch int
	// Queue is the capacity of the append queue (default 16384); appends
	// block when it is full.
	Queue int
	// SubscriberBuffer is each subscriber's channel capacity (default 4096).
	SubscriberBuffer int
	// OnAppend, when set, is called with the number of events after every
	// committed batch (metrics).
	OnAppend func(n int)
	// AppendTimeout bounds each batch's write (default 30 s): appends do
	// not end with their callers' contexts, but a store that hangs must
	// not hold the writer, and every appender behind it, forever.
	AppendTimeout time.Duration
	// Signal, when set, is told after commits the highest sequence each
	// deployment reached, so that other nodes on the same store publish
	// the events to their subscribers (they call Appended). It runs on a
	// goroutine of its own, coalesced per deployment: a slow signal delays
	// signals, never appends. Nil on a single node.
	Signal func(deploymentID string, seq int64)
	// RemotePoll is how often, with Signal set, the deployments this
	// node's subscribers follow are checked for events other nodes
	// appended whose signal was lost (default 2 s).
	RemotePoll time.Duration
}

// Log appends events to a store and fans them out to subscribers.
type Log struct {
	store  store.Store
	logger *slog.Logger
	opts   Options
	broker *Broker

	queue chan *pending

	// mu guards closed; appenders hold it for reading while they send on
	// queue, so that Close never closes queue under a sender.
	mu      sync.RWMutex
	closed  bool
	stopped chan struct{}

	// With other nodes on the store (Options.Signal): signals out,
	// events in.
	signals *signaller
	remote  *fetcher
	quit    chan struct{}
	helpers sync.WaitGroup
}

// pending is one queued append: events, or a flush marker (evs nil).
type pending struct {
	evs  []*herm.Event
	done chan error // nil for fire-and-forget
}

// New returns a running Log. Stop it with Close.
func New(s store.Store, logger *slog.Logger, opts Options) *Log {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.Queue <= 0 {
		opts.Queue = 16384
	}
	if opts.SubscriberBuffer <= 0 {
		opts.SubscriberBuffer = 4096
	}
	if opts.AppendTimeout <= 0 {
		opts.AppendTimeout = 30 * time.Second
	}
	if opts.RemotePoll <= 0 {
		opts.RemotePoll = 2 * time.Second
	}
	l := &Log{
		store:   s,
		logger:  logger,
		opts:    opts,
		broker:  NewBroker(opts.SubscriberBuffer),
		queue:   make(chan *pending, opts.Queue),
		stopped: make(chan struct{}),
		quit:    make(chan struct{}),
	}
	go l.writer()
	if opts.Signal != nil {
		l.signals = &signaller{send: opts.Signal, pending: map[string]int64{}, wake: make(chan struct{}, 1)}
		l.remote = &fetcher{l: l, wanted: map[string]int64{}, wake: make(chan struct{}, 1)}
		l.helpers.Go(func() { l.signals.run(l.quit) })
		l.helpers.Go(func() { l.remote.run(l.quit, opts.RemotePoll) })
	}
	return l
}

// ErrClosed is returned by appends after Close.
var ErrClosed = errors.New("event log is closed")

// Append durably appends events (in order, each deployment's sequence
// increasing by one) and publishes them; it returns once they are committed.
// The events get their Seq and CreatedAt set.
func (l *Log) Append(ctx context.Context, evs ...*herm.Event) error {
	p := &pending{evs: evs, done: make(chan error, 1)}
	if err := l.enqueue(ctx, p); err != nil {
		return err
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The events may still be committed; the caller just stops waiting.
		return ctx.Err()
	}
}

// Emit queues events for appending without waiting for the commit (token
// deltas). Order with later Appends, Emits and Flushes from the same
// goroutine is kept. A failed commit is logged.
func (l *Log) Emit(evs ...*herm.Event) {
	_ = l.enqueue(context.Background(), &pending{evs: evs})
}

// Flush waits until every event queued before it is committed.
func (l *Log) Flush(ctx context.Context) error {
	return l.Append(ctx)
}

// Publish fans out events that the caller appended itself inside its own
// store transaction (store.Querier.AppendEvents), after that transaction
// committed. Call Flush before such a transaction so that events emitted
// earlier get lower sequence numbers.
func (l *Log) Publish(evs ...*herm.Event) {
	for _, e := range evs {
		l.broker.Publish(e)
	}
	if l.signals != nil {
		l.signals.add(evs)
	}
	if l.opts.OnAppend != nil && len(evs) > 0 {
		l.opts.OnAppend(len(evs))
	}
}

// Tx runs fn in one store transaction and appends the events fn returns in
// that same transaction, then publishes them once it committed. Events
// queued before (token deltas) are flushed first, so that they come before.
// fn's error, or a failed commit, is returned and nothing is published; a
// caller changes its in-memory state only after Tx returned nil.
func (l *Log) Tx(ctx context.Context, fn func(q store.Querier) ([]*herm.Event, error)) error {
	if err := l.Flush(ctx); err != nil {
		return err
	}
	var evs []*herm.Event
	err := l.store.InTx(ctx, func(q store.Querier) error {
		var err error
		if evs, err = fn(q); err != nil || len(evs) == 0 {
			return err
		}
		return q.AppendEvents(ctx, evs)
	})
	if err != nil {
		return err
	}
	l.Publish(evs...)
	return nil
}

// Subscribe returns a live subscription to a deployment's events. Close it
// when done.
func (l *Log) Subscribe(deploymentID string) *Subscription {
	return l.broker.Subscribe(deploymentID)
}

// Broker returns the log's fan-out.
func (l *Log) Broker() *Broker { return l.broker }

func (l *Log) enqueue(ctx context.Context, p *pending) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	select {
	case l.queue <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting appends, commits what is queued and stops the writer.
func (l *Log) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.stopped
		return
	}
	l.closed = true
	l.mu.Unlock()
	close(l.queue)
	<-l.stopped
	close(l.quit)
	l.helpers.Wait()
	l.broker.CloseAll()
}

// writer is the single goroutine that commits batches.
func (l *Log) writer() {
	defer close(l.stopped)
	var batch []*pending
	for {
		p, ok := <-l.queue
		if !ok {
			return
		}
		batch = append(batch[:0], p)
		n := len(p.evs)
		// Take whatever else is already queued, up to MaxBatch events.
	drain:
		for n < l.opts.MaxBatch {
			select {
			case q, ok := <-l.queue:
				if !ok {
					break drain
				}
				batch = append(batch, q)
				n += len(q.evs)
			default:
				break drain
			}
		}
		l.commit(batch, n)
	}
}

func (l *Log) commit(batch []*pending, n int) {
	var err error
	if n > 0 {
		evs := make([]*herm.Event, 0, n)
		for _, p := range batch {
			evs = append(evs, p.evs...)
		}
		// Appends must not be lost because a caller's context ended.
		err = l.append(evs)
		if err == nil {
			l.Publish(evs...)
		} else if len(batch) > 1 {
			// One bad event (say, of a deleted deployment) must not sink
			// the others: retry each append on its own.
			for _, p := range batch {
				if len(p.evs) == 0 {
					finish(p, nil)
					continue
				}
				e := l.append(p.evs)
				if e == nil {
					l.Publish(p.evs...)
				} else if p.done == nil {
					l.logger.Error("event append failed", "err", e, "events", len(p.evs))
				}
				finish(p, e)
			}
			return
		} else if batch[0].done == nil {
			l.logger.Error("event append failed", "err", err, "events", n)
		}
	}
	for _, p := range batch {
		finish(p, err)
	}
}

// append writes one batch, within AppendTimeout.
func (l *Log) append(evs []*herm.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.AppendTimeout)
	defer cancel()
	return l.store.AppendEvents(ctx, evs)
}

func finish(p *pending, err error) {
	if p.done != nil {
		p.done <- err
	}
}
