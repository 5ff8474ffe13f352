package eventlog

import (
	"context"
	"sync"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Several nodes on one store: each node's subscribers see the events every
// node appends. A node tells the others, after each commit, the highest
// sequence each deployment reached (Options.Signal, coalesced on a
// goroutine of its own so that a slow signal never holds an append); a
// node told so (Appended) reads what its subscribers miss from the store
// once, for all of them, and publishes it. Signals are hints: a poll of the
// deployments with subscribers finds what a lost signal did not announce.

// remoteBatch is the most events read from the store per query.
const remoteBatch = 1000

// signaller coalesces the signals of committed events: per deployment,
// only the highest sequence not yet signalled.
type signaller struct {
	send func(deploymentID string, seq int64)

	mu      sync.Mutex
	pending map[string]int64
	wake    chan struct{}
}

func (s *signaller) add(evs []*herm.Event) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	for _, e := range evs {
		s.pending[e.DeploymentID] = max(s.pending[e.DeploymentID], e.Seq)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run sends pending signals until stop is closed, then sends what is left.
func (s *signaller) run(stop <-chan struct{}) {
	for {
		select {
		case <-s.wake:
		case <-stop:
			s.flush()
			return
		}
		s.flush()
	}
}

func (s *signaller) flush() {
	s.mu.Lock()
	batch := s.pending
	s.pending = make(map[string]int64, len(batch))
	s.mu.Unlock()
	for d, seq := range batch {
		s.send(d, seq)
	}
}

// fetcher reads from the store the events other nodes appended for the
// deployments this node's subscribers follow.
type fetcher struct {
	l *Log

	mu     sync.Mutex
	wanted map[string]int64 // deployment → the sequence to read through
	wake   chan struct{}
}

// Appended tells the log that another node committed a deployment's events
// through seq (a signal). If this node has subscribers to the deployment
// that have not seen them, they are read from the store and published.
// It does not block.
func (l *Log) Appended(deploymentID string, seq int64) {
	f := l.remote
	if f == nil {
		return
	}
	if high, ok := l.broker.highest(deploymentID); !ok || seq <= high {
		return
	}
	f.mu.Lock()
	f.wanted[deploymentID] = max(f.wanted[deploymentID], seq)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// run reads what is wanted until stop is closed, and polls the watched
// deployments every poll.
func (f *fetcher) run(stop <-chan struct{}, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-stop; cancel() }()
	for {
		select {
		case <-stop:
			return
		case <-f.wake:
		case <-t.C:
			f.poll(ctx)
		}
		f.mu.Lock()
		batch := f.wanted
		f.wanted = make(map[string]int64, len(batch))
		f.mu.Unlock()
		for d, seq := range batch {
			if ctx.Err() != nil {
				return
			}
			f.read(ctx, d, seq)
		}
	}
}

// poll asks the store for the last sequence of every deployment with
// subscribers (the safety net for lost signals).
func (f *fetcher) poll(ctx context.Context) {
	for d, high := range f.l.broker.watched() {
		if ctx.Err() != nil {
			return
		}
		_, last, err := f.l.store.EventBounds(ctx, d)
		if err == nil && last > high {
			f.mu.Lock()
			f.wanted[d] = max(f.wanted[d], last)
			f.mu.Unlock()
		}
	}
}

// read publishes a deployment's events after what its subscribers were
// given, through seq. With nothing published yet since they subscribed,
// only the last event is read: each subscriber has read the store up to
// where it subscribed and fills any gap before a published event itself.
func (f *fetcher) read(ctx context.Context, deploymentID string, seq int64) {
	for {
		high, ok := f.l.broker.highest(deploymentID)
		if !ok || high >= seq {
			return
		}
		if high == 0 {
			high = seq - 1
		}
		evs, err := f.l.store.ListEvents(ctx, deploymentID, high, remoteBatch, store.EventFilter{})
		if err != nil {
			if ctx.Err() == nil {
				f.l.logger.Warn("reading events appended by another node", "deployment_id", deploymentID, "err", err)
			}
			return
		}
		for _, e := range evs {
			f.l.broker.Publish(e)
		}
		if len(evs) < remoteBatch {
			return
		}
	}
}
