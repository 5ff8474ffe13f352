package sqlstore

import (
	"context"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// Nodes and what they own (store.Store's node methods). A node is alive
// while its row's expires_at is after now; a deployment's owner is alive
// while its node is; a run's lease is renewed with its node's
// registration (HeartbeatNode, then RenewLeases), two statements per node
// whatever the number of its runs or deployments.

// forgetNodesAfter is how long a dead node's row is kept (it names the
// owner of deployments nobody adopted yet; past this it is noise).
const forgetNodesAfter = 24 * time.Hour

// liveOwner is the condition that deployments d has a live owner; its one
// argument is now.
const liveOwner = `EXISTS (SELECT 1 FROM nodes n WHERE n.id = d.owner AND n.expires_at > ?)`

// JoinNode registers a node (or registers it again: a restarted node takes
// its row over with a new incarnation). alone, for a single server whose
// other processes are known to be gone, forgets every other node and gives
// the node every deployment.
func (q *querier) JoinNode(ctx context.Context, id, incarnation string, now, expires time.Time) error {
	return q.atomic(ctx, func(q *querier) error {
		if _, err := q.w().ExecContext(ctx, `DELETE FROM nodes WHERE expires_at < ?`, micros(now.Add(-forgetNodesAfter))); err != nil {
			return q.dbErr("join node", err, msgs{})
		}
		_, err := q.w().ExecContext(ctx, `INSERT INTO nodes (id, incarnation, started_at, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET incarnation = excluded.incarnation, started_at = excluded.started_at, expires_at = excluded.expires_at`,
			id, incarnation, micros(now), micros(expires))
		return q.dbErr("join node", err, msgs{})
	})
}

// OwnEverything makes node the owner of every deployment and forgets every
// other node: a single server, whose other processes are known to be gone.
func (q *querier) OwnEverything(ctx context.Context, node string) error {
	return q.atomic(ctx, func(q *querier) error {
		if _, err := q.w().ExecContext(ctx, `DELETE FROM nodes WHERE id <> ?`, node); err != nil {
			return q.dbErr("own every deployment", err, msgs{})
		}
		_, err := q.w().ExecContext(ctx, `UPDATE deployments SET owner = ? WHERE owner IS NULL OR owner <> ?`, node, node)
		return q.dbErr("own every deployment", err, msgs{})
	})
}

// HeartbeatNode keeps a node's registration alive until expires, if
// incarnation still holds it (EConflict otherwise: another process
// registered the node, or it left).
func (q *querier) HeartbeatNode(ctx context.Context, id, incarnation string, expires time.Time) error {
	res, err := q.w().ExecContext(ctx, `UPDATE nodes SET expires_at = ? WHERE id = ? AND incarnation = ?`, micros(expires), id, incarnation)
	return q.changed("node heartbeat", res, err, conflict("node %s is registered by another process, or left", id))
}

// LeaveNode unregisters a node (any incarnation when incarnation is ""):
// its deployments have no owner any more and the leases of its running runs
// expire as of now, so that other nodes take them over at once. Nothing
// happens when incarnation does not hold the node.
func (q *querier) LeaveNode(ctx context.Context, id, incarnation string, now time.Time) error {
	return q.atomic(ctx, func(q *querier) error {
		res, err := q.w().ExecContext(ctx, `DELETE FROM nodes WHERE id = ? AND (? = '' OR incarnation = ?)`, id, incarnation, incarnation)
		n, err := q.count("leave node", res, err)
		if err != nil || (n == 0 && incarnation != "") {
			return err
		}
		if _, err := q.w().ExecContext(ctx, `UPDATE deployments SET owner = NULL WHERE owner = ?`, id); err != nil {
			return q.dbErr("leave node", err, msgs{})
		}
		_, err = q.w().ExecContext(ctx, `UPDATE runs SET lease_expires_at = ?
			WHERE status = 'running' AND lease_owner = ? AND lease_expires_at > ?`, micros(now), id, micros(now))
		return q.dbErr("leave node", err, msgs{})
	})
}

// LiveNodes returns the IDs of the nodes alive at now.
func (q *querier) LiveNodes(ctx context.Context, now time.Time) ([]string, error) {
	return list(ctx, q, q.r(), "live nodes", `SELECT id FROM nodes WHERE expires_at > ? ORDER BY id`, scanString, micros(now))
}

// RenewLeases extends until leaseUntil the lease of every running run
// owner holds, and returns them.
func (q *querier) RenewLeases(ctx context.Context, owner string, leaseUntil time.Time) ([]herm.Lease, error) {
	return list(ctx, q, q.w(), "renew leases", `UPDATE runs SET lease_expires_at = ?
		WHERE status = 'running' AND lease_owner = ? RETURNING id, cancel_requested`, func(sc scanner) (herm.Lease, error) {
		var l herm.Lease
		var cancel int
		err := sc.Scan(&l.RunID, &cancel)
		l.CancelRequested = cancel != 0
		return l, err
	}, micros(leaseUntil), owner)
}

// AdoptableDeployments returns up to limit deployments without a live
// owner that have work: a queued run, a running run whose lease expired,
// or provisioning or a deletion to carry out.
func (q *querier) AdoptableDeployments(ctx context.Context, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		limit = -1 // all
	}
	at := micros(now)
	// Driven by the few rows with work (runs_status, runs_lease and
	// deployments_status), not by every deployment: the runner asks at
	// every wake-up.
	return list(ctx, q, q.r(), "adoptable deployments", `SELECT d.id FROM deployments d
		WHERE d.id IN (
			SELECT deployment_id FROM runs WHERE status = 'queued'
			UNION SELECT deployment_id FROM runs WHERE status = 'running' AND lease_expires_at <= ?
			UNION SELECT id FROM deployments WHERE status IN ('provisioning', 'deleting'))
		AND (d.owner IS NULL OR NOT `+liveOwner+`)
		ORDER BY d.id LIMIT ?`, scanString, at, at, noLimit(limit))
}

// AdoptDeployment makes node the owner of a deployment that has no live
// owner (or is node's already), and reports whether it did.
func (q *querier) AdoptDeployment(ctx context.Context, deploymentID, node string, now time.Time) (bool, error) {
	res, err := q.w().ExecContext(ctx, `UPDATE deployments SET owner = ?
		WHERE id = ? AND (owner IS NULL OR owner = ? OR NOT EXISTS (
			SELECT 1 FROM nodes n WHERE n.id = deployments.owner AND n.expires_at > ?))`, node, deploymentID, node, micros(now))
	n, err := q.count("adopt deployment", res, err)
	return n == 1, err
}

func scanString(sc scanner) (string, error) {
	var s string
	err := sc.Scan(&s)
	return s, err
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
