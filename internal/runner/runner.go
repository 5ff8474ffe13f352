// Package runner executes runs as durable state machines: it claims queued
// runs from the store (one active run per thread, threads in parallel),
// holds a renewed lease on each, resumes runs whose runner died, cancels runs
// promptly, and implements the four ways a message meets an active run
// (steer, queue, interrupt, reject).
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
	"time"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Options tune a Runner. Zero values mean defaults.
type Options struct {
	// Owner names this runner in leases (default host-pid-random).
	Owner string
	// Lease is how long a claim lasts without renewal (default 30 s); it is
	// renewed every third of it.
	Lease time.Duration
	// Poll is how often the store is checked for work nobody announced,
	// such as expired leases (default 1 s).
	Poll time.Duration
	// MaxConcurrent is the most runs executing at once (default 256).
	MaxConcurrent int
	// ReleaseOnStart makes Start take over every run leased by another
	// owner at once. Right for a single-node server (SQLite), whose previous
	// process is known to be gone; wrong when several nodes share a store.
	ReleaseOnStart bool
	// SteeringCheck is how often steering requests past their expiry are
	// resolved as timeout (default 30 s).
	SteeringCheck time.Duration
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

	wake chan struct{}
	sem  chan struct{}

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
	if now == nil {
		now = time.Now
	}
	return &Runner{
		store: s, log: log, agent: a, ids: ids, now: now, logger: logger, opts: opts,
		wake:   make(chan struct{}, 1),
		sem:    make(chan struct{}, opts.MaxConcurrent),
		active: make(map[string]*execution),
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
	if r.opts.ReleaseOnStart {
		n, err := r.store.ReleaseRunsOf(ctx, r.opts.Owner, r.now())
		if err != nil {
			return fmt.Errorf("release orphaned runs: %w", err)
		}
		if n > 0 {
			r.logger.Info("resuming runs left by a previous process", "runs", n)
		}
	}
	loopCtx, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	r.started, r.stop, r.done = true, stop, make(chan struct{})
	go r.loop(loopCtx)
	return nil
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
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

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
	for {
		if now := r.now(); now.Sub(lastExpiry) >= r.opts.SteeringCheck {
			lastExpiry = now
			r.expireSteering(ctx)
		}
		r.claimAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
		}
	}
}

// claimAll starts as many claimable runs as there are free slots.
func (r *Runner) claimAll(ctx context.Context) {
	for {
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
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.sem; r.Wake() }()
			r.execute(ctx, run)
		}()
	}
}

// execute runs one claimed run until it ends or this runner lets go of it.
func (r *Runner) execute(parent context.Context, run *herm.Run) {
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
	me := &execution{cancel: cancel}
	r.active[run.ID] = me
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		if r.active[run.ID] == me { // a later execution of the run may have taken the slot
			delete(r.active, run.ID)
		}
		r.mu.Unlock()
	}()

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

	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		r.renew(ctx, run, cancel)
	}()
	err = r.agent.Execute(ctx, run, cfg, r.opts.Owner)
	cancel(agent.ErrStopped) // ends the renewal
	<-renewDone
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

// renew keeps the lease until ctx ends; it cancels the run when a cancel is
// requested (possibly through another node) or the lease is lost.
func (r *Runner) renew(ctx context.Context, run *herm.Run, cancel context.CancelCauseFunc) {
	t := time.NewTicker(r.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		got, err := r.store.RenewLease(ctx, run.ID, r.opts.Owner, r.now().Add(r.opts.Lease))
		switch {
		case herm.IsCode(err, herm.EConflict), herm.IsCode(err, herm.ENotFound):
			cancel(agent.ErrStopped)
			return
		case err != nil:
			if ctx.Err() == nil {
				r.logger.Warn("renew lease", "run_id", run.ID, "err", err)
			}
		case got.CancelRequested:
			cancel(agent.ErrCancelled)
		}
	}
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
	cancel context.CancelCauseFunc
}
