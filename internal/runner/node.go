package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"time"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/herm"
)

// A node is one runner on the store: it registers in the nodes table and
// keeps its registration alive with a heartbeat, which also renews the
// leases of every run it executes — two statements per node and period,
// whatever the number of runs or deployments. A deployment has at most one
// owner node (deployments.owner), alive while the node's registration is;
// only the owner claims the deployment's runs, so its sandbox, egress
// proxy and MCP sessions live on one node. A deployment with work and no
// live owner is adopted by one of the live nodes, chosen by rendezvous
// hashing, so that a dead node's deployments spread over the others.

// adoptBatch is the most ownerless deployments looked at per pass.
const adoptBatch = 100

func newIncarnation() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// join registers the node. A single node (ReleaseOnStart: the previous
// process is known to be gone) forgets every other registration and takes
// every run over at once; a node of a cluster lets go of what its own
// previous process held (its runs resume at once, its deployments go to
// whichever node the hashing picks) and of nothing else.
func (r *Runner) join(ctx context.Context) error {
	now := r.now()
	if err := r.store.LeaveNode(ctx, r.opts.Owner, "", now); err != nil {
		return err
	}
	if r.opts.ReleaseOnStart {
		n, err := r.store.ReleaseRunsOf(ctx, r.opts.Owner, now)
		if err != nil {
			return err
		}
		if n > 0 {
			r.logger.Info("resuming runs left by another process", "runs", n)
		}
	}
	if err := r.store.JoinNode(ctx, r.opts.Owner, r.incarnation, now, now.Add(r.opts.Lease)); err != nil {
		return err
	}
	if r.opts.ReleaseOnStart {
		return r.store.OwnEverything(ctx, r.opts.Owner)
	}
	return nil
}

// leave unregisters the node at shutdown: its deployments and the leases
// of the runs it was executing go at once, not when they expire.
func (r *Runner) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.store.LeaveNode(ctx, r.opts.Owner, r.incarnation, r.now()); err != nil {
		r.logger.Warn("leave the cluster", "err", err)
	}
}

// heartbeat keeps the node's registration and its runs' leases alive
// every third of the lease until ctx ends. It cancels a run whose lease
// is lost or whose cancel was requested (possibly through another node),
// and stops every run when it could not renew for two thirds of the lease:
// another node may take them over soon, and a run must never execute
// twice.
func (r *Runner) heartbeat(ctx context.Context) {
	t := time.NewTicker(r.opts.Lease / 3)
	defer t.Stop()
	renewed := r.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		started := r.now()
		until := started.Add(r.opts.Lease)
		err := r.store.HeartbeatNode(ctx, r.opts.Owner, r.incarnation, until)
		if herm.IsCode(err, herm.EConflict) {
			r.logger.Error("another process registered as this node (two servers with one HERM_NODE_ID?); this one stops executing runs", "node_id", r.opts.Owner, "err", err)
			close(r.evicted)
			r.fence()
			return
		}
		if err == nil {
			var leases []herm.Lease
			if leases, err = r.store.RenewLeases(ctx, r.opts.Owner, until); err == nil {
				renewed = started
				r.check(leases, started)
			}
		}
		if err != nil && ctx.Err() == nil {
			r.logger.Warn("renew this node's leases", "err", err)
			if r.now().Sub(renewed) >= 2*r.opts.Lease/3 {
				r.logger.Error("could not renew this node's leases for two thirds of the lease; stopping its runs, which other nodes may take over", "err", err)
				r.fence()
			}
		}
	}
}

// check applies a renewal: runs claimed before it started and not renewed
// by it lost their lease; runs whose cancel was requested end.
func (r *Runner) check(leases []herm.Lease, started time.Time) {
	held := make(map[string]bool, len(leases))
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range leases {
		held[l.RunID] = true
		if e := r.active[l.RunID]; e != nil && l.CancelRequested {
			e.cancel(agent.ErrCancelled)
		}
	}
	for id, e := range r.active {
		if !held[id] && e.claimed.Before(started) {
			r.logger.Warn("the run's lease was lost; it stops here", "run_id", id)
			e.cancel(agent.ErrStopped)
		}
	}
}

// fence stops every run executing here (they resume wherever a node
// claims them).
func (r *Runner) fence() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.active {
		e.cancel(agent.ErrStopped)
	}
}

// adopt takes over the ownerless deployments with work that the hashing
// gives to this node.
func (r *Runner) adopt(ctx context.Context) {
	now := r.now()
	ids, err := r.store.AdoptableDeployments(ctx, now, adoptBatch)
	if err != nil || len(ids) == 0 {
		if err != nil && ctx.Err() == nil {
			r.logger.Warn("look for deployments without an owner", "err", err)
		}
		return
	}
	nodes, err := r.store.LiveNodes(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Warn("list live nodes", "err", err)
		}
		return
	}
	for _, id := range ids {
		if pick(id, nodes, r.opts.Owner) != r.opts.Owner {
			continue
		}
		ok, err := r.store.AdoptDeployment(ctx, id, r.opts.Owner, now)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				r.logger.Warn("adopt deployment", "deployment_id", id, "err", err)
			}
		case ok:
			r.logger.Info("this node owns the deployment now", "deployment_id", id)
			if r.opts.OnAdopt != nil {
				r.opts.OnAdopt(id)
			}
		}
	}
}

// pick returns the node the rendezvous hashing gives a deployment to, of
// nodes and self (self counts as live even before its registration is
// seen).
func pick(deploymentID string, nodes []string, self string) string {
	best, bestScore := self, score(deploymentID, self)
	for _, n := range nodes {
		if s := score(deploymentID, n); s > bestScore || (s == bestScore && n < best) {
			best, bestScore = n, s
		}
	}
	return best
}

func score(deploymentID, node string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(deploymentID))
	h.Write([]byte{0})
	h.Write([]byte(node))
	return h.Sum64()
}
