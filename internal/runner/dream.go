package runner

import (
	"context"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// The dreaming worker. Every DreamPoll it lists the deployments this node
// owns that have features.dreaming on, have been idle for DreamAfter (no
// queued, running or waiting run; no thread active and no run ended since)
// and have not dreamed for DreamEvery (store.DreamCandidates), claims each
// with one guarded statement (store.ClaimDream: deployments.dreamed_at, so
// two nodes never dream one deployment at once) and has the agent dream
// for it, one at a time. The claim comes before the model call: a dream
// cut short (shutdown, crash, model error) waits for the next period.

func (r *Runner) dreamLoop(ctx context.Context) {
	t := time.NewTicker(r.opts.DreamPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.evicted:
			return
		case <-t.C:
		}
		r.dreamAll(ctx)
	}
}

// dreamAll dreams for the deployments that may dream now.
func (r *Runner) dreamAll(ctx context.Context) {
	if !r.agent.Dreams() {
		return
	}
	now := r.now()
	idleSince, dreamedBefore := now.Add(-r.opts.DreamAfter), now.Add(-r.opts.DreamEvery)
	ids, err := r.store.DreamCandidates(ctx, r.opts.Owner, idleSince, dreamedBefore, 10)
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Error("list deployments to dream", "err", err)
		}
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		won, err := r.store.ClaimDream(ctx, id, r.now(), idleSince, dreamedBefore)
		if err != nil || !won {
			if err != nil && ctx.Err() == nil {
				r.logger.Error("claim a dream", "deployment_id", id, "err", err)
			}
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, r.opts.ObserveTimeout)
		if _, err := r.agent.Dream(dctx, id); err != nil && ctx.Err() == nil {
			r.logger.Warn("dream", "deployment_id", id, "err", err)
		}
		cancel()
	}
}

// ApplyDream makes a proposed dream's changes (agent.ApplyDream).
func (r *Runner) ApplyDream(ctx context.Context, deploymentID, dreamID string) (*herm.Dream, error) {
	return r.agent.ApplyDream(ctx, deploymentID, dreamID)
}

// DiscardDream discards a proposed dream (agent.DiscardDream).
func (r *Runner) DiscardDream(ctx context.Context, deploymentID, dreamID string) (*herm.Dream, error) {
	return r.agent.DiscardDream(ctx, deploymentID, dreamID)
}
