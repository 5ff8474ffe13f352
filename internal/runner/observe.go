package runner

import (
	"context"
	"time"
)

// The memory observer's worker. Runs do not wait for it: a run ends as
// before, and this loop, woken when a run ends here and every ObservePoll,
// claims ended runs nobody observed (store.ClaimObservation: the claim
// marks the run observed, so two nodes never both observe it) of the
// deployments this node owns, one at a time, and has the agent observe
// each. A run whose observation was claimed but cut short (the server
// stopped, the model failed) is not observed again: at most once.

// wakeObserver makes the observer look for ended runs now.
func (r *Runner) wakeObserver() {
	select {
	case r.observeWake <- struct{}{}:
	default:
	}
}

func (r *Runner) observeLoop(ctx context.Context) {
	t := time.NewTicker(r.opts.ObservePoll)
	defer t.Stop()
	for {
		r.observeAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.evicted:
			return
		case <-r.observeWake:
		case <-t.C:
		}
	}
}

// observeAll observes the claimable runs one after another.
func (r *Runner) observeAll(ctx context.Context) {
	for ctx.Err() == nil {
		run, err := r.store.ClaimObservation(ctx, r.opts.Owner)
		if err != nil {
			if ctx.Err() == nil {
				r.logger.Error("claim a run to observe", "err", err)
			}
			return
		}
		if run == nil {
			return
		}
		octx, cancel := context.WithTimeout(ctx, r.opts.ObserveTimeout)
		if err := r.agent.Observe(octx, run); err != nil && ctx.Err() == nil {
			r.logger.Warn("memory observer", "run_id", run.ID, "deployment_id", run.DeploymentID, "err", err)
		}
		cancel()
	}
}
