// Package runner executes runs as durable state machines: it claims queued
// runs from the store (one active run per thread, threads in parallel) of
// the deployments its node owns, holds a lease on each (renewed for all of
// them at once by the node's heartbeat), resumes runs whose node died,
// cancels runs promptly (on any node), and implements the four ways a
// message meets an active run (steer, queue, interrupt, reject).
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/cluster"
	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Options tune a Runner. Zero values mean defaults.
type Options struct {
	// Owner names this runner's node in leases and in the nodes table
	// (default host-pid-random); stable across restarts, so that a node
	// that restarts lets go of its own leases and nobody else's.
	Owner string
	// Lease is how long a node's registration and its runs' leases last
	// without renewal (default 30 s); they are renewed every third of it.
	Lease time.Duration
	// Poll is how often the store is checked for work nobody announced,
	// such as expired leases (default 1 s).
	Poll time.Duration
	// MaxConcurrent is the most runs executing at once (default 256).
	MaxConcurrent int
	// ReleaseOnStart makes Start take over every run leased by another
	// owner, and forget every other node, at once. Right for a single-node
	// server (SQLite), whose previous process is known to be gone; wrong
	// when several nodes share a store (a node then releases only what
	// its own previous process held).
	ReleaseOnStart bool
	// SteeringCheck is how often steering requests past their expiry are
	// resolved as timeout (default 30 s).
	SteeringCheck time.Duration
	// Signals, when set, carries wake-ups and cancels to the runners of
	// other nodes on the same store (and theirs to this one). Nil on a
	// single node.
	Signals cluster.Notifier
	// Leader decides whether this node runs the steering-timeout sweep
	// (default: always).
	Leader cluster.Leader
	// OnAdopt, when set, is told of each deployment this node adopted (it
	// may have provisioning or a deletion to carry out).
	OnAdopt func(deploymentID string)
	// ObservePoll is how often the memory observer looks for ended runs it
	// has not observed, besides after each run that ends here (default
	// 10 s).
	ObservePoll time.Duration
	// ObserveTimeout bounds one observation (default 2 min).
	ObserveTimeout time.Duration
	// DreamAfter is how long a deployment must have been idle before it
	// dreams (default 1 h), DreamEvery the least time between two of its
	// dreams (default 24 h); the dreaming worker looks every DreamPoll
	// (default DreamAfter, at most 1 min). The agent's Dreaming option is
	// the switch.
	DreamAfter, DreamEvery, DreamPoll time.Duration
}

// Runner claims and executes runs.
type Runner struct {
	store  store.Store
	log    *eventlog.Log
	agent  *agent.Agent
	ids    *herm.IDGen
	now    func() time.Time
	logger *slog.Logger
	opts   Options

	wake        chan struct{}
	observeWake chan struct{}
	adoptDue    atomic.Bool // look for deployments to adopt at the next pass
	sem         chan struct{}
	incarnation string        // this process's registration of the node
	evicted     chan struct{} // closed when another process took the node's registration

	mu      sync.Mutex
	active  map[string]*execution // run ID → the execution running it here
	started bool
	stop    context.CancelCauseFunc
	done    chan struct{}
	wg      sync.WaitGroup
}

// New returns a Runner; call Start to begin executing runs.
func New(s store.Store, log *eventlog.Log, a *agent.Agent, ids *herm.IDGen, now func() time.Time, logger *slog.Logger, opts Options) *Runner {
	if opts.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.SteeringCheck <= 0 {
		opts.SteeringCheck = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 256
	}
	if opts.ObservePoll <= 0 {
		opts.ObservePoll = 10 * time.Second
	}
	if opts.ObserveTimeout <= 0 {
		opts.ObserveTimeout = 2 * time.Minute
	}
	if opts.DreamAfter <= 0 {
		opts.DreamAfter = time.Hour
	}
	if opts.DreamEvery <= 0 {
		opts.DreamEvery = 24 * time.Hour
	}
	if opts.DreamPoll <= 0 {
		opts.DreamPoll = min(opts.DreamAfter, time.Minute)
	}
	if opts.Leader == nil {
		opts.Leader = cluster.Always{}
	}
	if now == nil {
		now = time.Now
	}
	return &Runner{
		store: s, log: log, agent: a, ids: ids, now: now, logger: logger, opts: opts,
		wake:        make(chan struct{}, 1),
		observeWake: make(chan struct{}, 1),
		sem:         make(chan struct{}, opts.MaxConcurrent),
		active:      make(map[string]*execution),
		incarnation: newIncarnation(),
		evicted:     make(chan struct{}),
	}
}

// Owner returns the name this runner uses in leases.
func (r *Runner) Owner() string { return r.opts.Owner }

// Start begins claiming runs. Runs left by a crashed process are resumed.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("runner already started")
	}
	if err := r.join(ctx); err != nil {
		return fmt.Errorf("register node %s: %w", r.opts.Owner, err)
	}
	loopCtx, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	r.started, r.stop, r.done = true, stop, make(chan struct{})
	r.wg.Go(func() { r.heartbeat(loopCtx) })
	r.wg.Go(func() { r.observeLoop(loopCtx) })
	r.wg.Go(func() { r.dreamLoop(loopCtx) })
	if r.opts.Signals != nil {
		wakes, stopWakes := r.opts.Signals.Subscribe(cluster.Wake)
		cancels, stopCancels := r.opts.Signals.Subscribe(cluster.Cancel)
		r.wg.Go(func() {
			defer stopWakes()
			defer stopCancels()
			r.listen(loopCtx, wakes, cancels)
		})
	}
	go r.loop(loopCtx)
	return nil
}

// listen acts on other nodes' signals: a wake-up looks for work, a cancel
// interrupts the run if it executes here.
func (r *Runner) listen(ctx context.Context, wakes, cancels <-chan string) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-wakes:
			if !ok {
				return
			}
			// Another node's work may be a deployment nobody owns (its
			// owner stopped or deleted it elsewhere).
			r.adoptDue.Store(true)
			r.Wake()
		case id, ok := <-cancels:
			if !ok {
				return
			}
			r.cancelLocal(id)
		}
	}
}

// signal tells the other nodes, best effort: a lost signal costs latency
// (the leases' renewals see cancels; the loop polls for work).
func (r *Runner) signal(ctx context.Context, channel, payload string) {
	if r.opts.Signals == nil {
		return
	}
	if err := r.opts.Signals.Notify(context.WithoutCancel(ctx), channel, payload); err != nil {
		r.logger.Warn("signal other nodes", "channel", channel, "err", err)
	}
}

// wakeAll makes this node's runner and the other nodes' look for work of
// a deployment.
func (r *Runner) wakeAll(ctx context.Context, deploymentID string) {
	r.Wake()
	r.signal(ctx, cluster.Wake, deploymentID)
}

// interrupt cancels a run wherever it executes.
func (r *Runner) interrupt(ctx context.Context, runID string) {
	r.cancelLocal(runID)
	r.signal(ctx, cluster.Cancel, runID)
}

// Stop stops claiming, interrupts executing runs so that they can be resumed
// (by the next start or another node) and waits for them, at most until ctx
// ends. Safe to call more than once.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	if !r.started || r.stop == nil {
		r.mu.Unlock()
		return nil
	}
	stop, done := r.stop, r.done
	r.stop = nil
	r.mu.Unlock()

	stop(agent.ErrStopped)
	<-done
	finished := make(chan struct{})
	go func() { r.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		r.leave()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Evicted is closed when another process registered as this runner's node
// (two servers with one node id); this one executes nothing any more and
// should stop.
func (r *Runner) Evicted() <-chan struct{} { return r.evicted }

// Wake makes the runner look for work now.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.opts.Poll)
	defer t.Stop()
	lastExpiry := time.Time{}
	// The adoption query runs at start, at each poll and when work may be
	// a deployment this node does not own (another node's wake-up, a send
	// to such a deployment), not at the wake-ups of this node's own work:
	// those are the loop's hot path.
	adopt := true
	for {
		if now := r.now(); now.Sub(lastExpiry) >= r.opts.SteeringCheck && r.opts.Leader.IsLeader() {
			lastExpiry = now
			r.expireSteering(ctx)
		}
		if r.adoptDue.Swap(false) || adopt {
			r.adopt(ctx)
		}
		r.claimAll(ctx)
		adopt = false
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
			adopt = true
		}
	}
}

// claimAll starts as many claimable runs as there are free slots.
func (r *Runner) claimAll(ctx context.Context) {
	for {
		select {
		case <-r.evicted:
			return
		default:
		}
		select {
		case r.sem <- struct{}{}:
		default:
			return // full; a finishing run wakes us
		}
		now := r.now()
		run, err := r.store.ClaimRun(ctx, r.opts.Owner, now, now.Add(r.opts.Lease))
		if err != nil || run == nil {
			<-r.sem
			if err != nil && ctx.Err() == nil {
				r.logger.Error("claim run", "err", err)
			}
			return
		}
		// After the claim committed: a heartbeat that started later sees it.
		claimed := r.now()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.sem; r.Wake(); r.wakeObserver() }()
			r.execute(ctx, run, claimed)
		}()
	}
}

// execute runs one run claimed at claimed until it ends or this runner
// lets go of it.
func (r *Runner) execute(parent context.Context, run *herm.Run, claimed time.Time) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	log := r.logger.With("run_id", run.ID, "deployment_id", run.DeploymentID)
	defer func() {
		if p := recover(); p != nil {
			log.Error("run panicked", "panic", p)
			r.fail(run, &herm.ErrorInfo{Code: "internal_error", Message: "the run failed because of an internal error"})
		}
	}()

	r.mu.Lock()
	me := &execution{cancel: cancel, claimed: claimed}
	r.active[run.ID] = me
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.active[run.ID] == me { // a later execution of the run may have taken the slot
			delete(r.active, run.ID)
		}
		r.mu.Unlock()
	}()

	// A cancel signalled between the claim and the line above found no
	// execution to interrupt; it is in the store, and prepare's UpdateRun
	// reads it.
	cfg, err := r.prepare(ctx, run)
	if err != nil {
		if ctx.Err() == nil && !herm.IsCode(err, herm.EConflict) {
			log.Error("prepare run", "err", err)
			r.fail(run, &herm.ErrorInfo{Code: "internal_error", Message: "the run could not start: " + herm.ErrorMessage(err)})
		}
		return
	}
	if run.CancelRequested {
		cancel(agent.ErrCancelled)
	}

	err = r.agent.Execute(ctx, run, cfg, r.opts.Owner)
	switch {
	case err == nil:
	case errors.Is(err, agent.ErrStopped), herm.IsCode(err, herm.EConflict):
		// Shutdown or lease lost: the run resumes later, here or elsewhere.
		log.Info("run interrupted; it will resume", "reason", err)
		if parent.Err() != nil {
			r.release(run) // shutdown: anyone may take it over at once
		}
	default:
		log.Error("run failed", "err", err)
		r.fail(run, &herm.ErrorInfo{Code: "internal_error", Message: "the run failed because of an internal error"})
	}
}

// prepare pins the run's configuration version (first start) and records
// the running status.
func (r *Runner) prepare(ctx context.Context, run *herm.Run) (*herm.Deployment, error) {
	dep, err := r.store.GetDeployment(ctx, run.DeploymentID)
	if err != nil {
		return nil, err
	}
	if run.ConfigVersion == 0 {
		run.ConfigVersion, run.Model = dep.ConfigVersion, dep.Model
	}
	cfg, err := r.store.DeploymentVersion(ctx, run.DeploymentID, run.ConfigVersion)
	if err != nil {
		return nil, err
	}
	err = r.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		if err := q.UpdateRun(ctx, run, r.opts.Owner); err != nil {
			return nil, err
		}
		return []*herm.Event{herm.NewEvent(run.DeploymentID, run.ThreadID, run.ID, herm.EventRunStatus, map[string]any{
			"status": herm.RunRunning, "stop_reason": nil, "error": nil,
		})}, nil
	})
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// fail ends a run with an error, best effort.
func (r *Runner) fail(run *herm.Run, e *herm.ErrorInfo) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.agent.Fail(ctx, run, r.opts.Owner, e); err != nil {
		r.logger.Error("record run failure", "run_id", run.ID, "err", err)
	}
}

// release lets go of the lease of a run interrupted by a shutdown, best
// effort (it expires anyway).
func (r *Runner) release(run *herm.Run) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.store.ReleaseRun(ctx, run.ID, r.opts.Owner, r.now()); err != nil && !herm.IsCode(err, herm.EConflict) {
		r.logger.Warn("release run", "run_id", run.ID, "err", err)
	}
}

// cancelLocal interrupts a run executing on this node.
func (r *Runner) cancelLocal(runID string) {
	r.mu.Lock()
	var cancel context.CancelCauseFunc
	if e := r.active[runID]; e != nil {
		cancel = e.cancel
	}
	r.mu.Unlock()
	if cancel != nil {
		cancel(agent.ErrCancelled)
	}
}

// execution is one execution of a run on this runner.
type execution struct {
	cancel  context.CancelCauseFunc
	claimed time.Time // when its claim was made (the lease's start)
}
