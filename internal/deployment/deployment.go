// Package deployment manages deployments' lives: create with validation and
// asynchronous provisioning behind a Provisioner, updates with the contract's
// merge rules and config versions, and deletion (cancel runs, destroy the
// sandbox and workspace, remove the rows).
//
// With several nodes, a deployment's sandbox is its owner node's
// (deployments.owner): the node that creates a deployment owns it and
// provisions it; a deletion asked of another node is carried out by the
// owner, which alone runs the sandbox it destroys (a node whose owner died
// is adopted by another first, see the runner).
package deployment

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Provisioner prepares and removes a deployment's sandbox and workspace.
// Provision must be idempotent: it may run again for a deployment that was
// provisioning when the server stopped.
type Provisioner interface {
	Provision(ctx context.Context, d *herm.Deployment) error
	Destroy(ctx context.Context, d *herm.Deployment) error
}

// Snapshotter is implemented by provisioners that keep workspace
// snapshots: a deletion with retain_filesystem reserves one (taken by
// Destroy before the workspace goes), and a creation with
// restore_snapshot_id starts from one (restored by Provision).
type Snapshotter interface {
	ReserveSnapshot(ctx context.Context, d *herm.Deployment, snapshotID string) error
	RestoreInto(ctx context.Context, d *herm.Deployment, snapshotID string) error
}

// Runner is what deletion needs of the runner: the deployment's runs
// cancelled (threadID "": all of them) before its sandbox goes.
type Runner interface {
	CancelAll(ctx context.Context, deploymentID, threadID string) error
}

// Service is the deployment lifecycle.
type Service struct {
	store  store.Store
	log    *eventlog.Log
	runner Runner
	prov   Provisioner
	rules  herm.Rules
	ids    *herm.IDGen
	now    func() time.Time
	logger *slog.Logger
	// changed is told of each configuration change and deletion once it
	// is committed (OnChange).
	changed func(before, after *herm.Deployment)

	// node is this node's id (SetNode); tell asks the other nodes to look
	// at a deployment (nil on a single node).
	node string
	tell func(deploymentID string)
	wake chan struct{}

	wg       sync.WaitGroup
	mu       sync.Mutex
	ctx      context.Context // background work; cancelled by Stop
	cancel   context.CancelFunc
	stopped  bool
	inflight map[string]bool // deployments being provisioned or destroyed here
}

// New returns a Service. Call Start to resume unfinished provisioning and
// deletions, and Stop to wait for background work.
func New(s store.Store, log *eventlog.Log, r Runner, p Provisioner, rules herm.Rules, ids *herm.IDGen, now func() time.Time, logger *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if rules.NewSkillID == nil {
		rules.NewSkillID = func() string { return ids.New("skl_") }
	}
	if rules.Now == nil {
		rules.Now = now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{store: s, log: log, runner: r, prov: p, rules: rules, ids: ids, now: now, logger: logger, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), inflight: map[string]bool{}}
}

// SetNode names this node (the owner of the deployments it creates) and,
// with other nodes on the store, how to ask them to look at a deployment
// (tell: a deletion for its owner). Set it before Start.
func (s *Service) SetNode(id string, tell func(deploymentID string)) {
	s.node, s.tell = id, tell
}

// Wake makes Run look for the provisioning and deletions of this node's
// deployments now (it adopted one, or another node asked).
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// ownerPoll is how often Run looks for work of this node's deployments
// that nobody announced.
const ownerPoll = 5 * time.Second

// OnChange sets what is called after a deployment's configuration change
// commits (with the deployment before and after it) and after a deleted
// deployment's rows are removed (after nil): what the server keeps per
// deployment outside the store, such as MCP sessions, follows. Set it
// before Start.
func (s *Service) OnChange(fn func(before, after *herm.Deployment)) { s.changed = fn }

// Rules returns the validation rules in force.
func (s *Service) Rules() herm.Rules { return s.rules }

// Start resumes the provisioning and deletions of this node's deployments
// that a previous process left unfinished.
func (s *Service) Start(ctx context.Context) error {
	return s.resume(ctx)
}

// Run resumes, until ctx ends, the provisioning and deletions of the
// deployments this node comes to own (adopted from a dead node, or a
// deletion asked of another node).
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(ownerPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		if err := s.resume(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("look for provisioning and deletions to carry out", "err", err)
		}
	}
}

func (s *Service) resume(ctx context.Context) error {
	for _, st := range []herm.DeploymentStatus{herm.DeploymentProvisioning, herm.DeploymentDeleting} {
		ids, err := s.store.ListDeploymentIDsByStatus(ctx, st, s.node)
		if err != nil {
			return err
		}
		for _, id := range ids {
			d, err := s.store.GetDeployment(ctx, id)
			if err != nil {
				continue
			}
			if st == herm.DeploymentProvisioning {
				s.once(d.ID, func(ctx context.Context) { s.provision(ctx, d) })
			} else {
				s.once(d.ID, func(ctx context.Context) { s.destroy(ctx, d) })
			}
		}
	}
	return nil
}

// once runs fn in the background unless work on the deployment already
// runs here.
func (s *Service) once(id string, fn func(ctx context.Context)) {
	s.mu.Lock()
	if s.inflight[id] {
		s.mu.Unlock()
		return
	}
	s.inflight[id] = true
	s.mu.Unlock()
	s.goBackground(func(ctx context.Context) {
		defer func() {
			s.mu.Lock()
			delete(s.inflight, id)
			s.mu.Unlock()
		}()
		fn(ctx)
	})
}

// Stop cancels background work and waits for it, at most until ctx ends.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) goBackground(fn func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}

// Create validates in, stores the deployment with its default thread and
// starts provisioning. It returns at once with status provisioning.
func (s *Service) Create(ctx context.Context, in *herm.DeploymentInput) (*herm.Deployment, error) {
	d, t, err := s.newDeployment(ctx, in, 1)
	if err != nil {
		return nil, err
	}
	if d.RestoreSnapshotID != "" {
		sn, ok := s.prov.(Snapshotter)
		if !ok {
			return nil, herm.Errorf(herm.EInvalid, "restore_snapshot_id is not supported by this server")
		}
		if err := sn.RestoreInto(ctx, d, d.RestoreSnapshotID); err != nil {
			return nil, err
		}
	}
	err = s.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		if err := q.CreateDeployment(ctx, d, t); err != nil {
			return nil, err
		}
		return []*herm.Event{herm.NewEvent(d.ID, "", "", herm.EventDeploymentStatus, map[string]any{"status": d.Status, "error": nil})}, nil
	})
	if err != nil {
		return nil, err
	}
	cp := d.Clone()
	s.once(d.ID, func(ctx context.Context) { s.provision(ctx, cp) })
	return d, nil
}

// newDeployment validates in and makes a new deployment of this node,
// provisioning, at configuration version version, with its default
// thread.
func (s *Service) newDeployment(ctx context.Context, in *herm.DeploymentInput, version int) (*herm.Deployment, *herm.Thread, error) {
	d, err := herm.NewDeployment(ctx, in, s.rules)
	if err != nil {
		return nil, nil, err
	}
	now := s.now().UTC()
	d.ID = s.ids.New(herm.PrefixDeployment)
	d.Owner = s.node
	d.Status = herm.DeploymentProvisioning
	d.ConfigVersion = version
	d.CreatedAt, d.UpdatedAt = now, now
	t := &herm.Thread{
		ID: s.ids.New(herm.PrefixThread), DeploymentID: d.ID, Title: herm.DefaultThreadTitle,
		IsDefault: true, CreatedAt: now, LastActivityAt: now,
	}
	d.ThreadID = t.ID
	return d, t, nil
}

func (s *Service) provision(ctx context.Context, d *herm.Deployment) {
	err := s.prov.Provision(ctx, d)
	if ctx.Err() != nil {
		return // stopping: provisioning resumes at the next start
	}
	status, info := herm.DeploymentReady, (*herm.ErrorInfo)(nil)
	if err != nil {
		s.logger.Error("provisioning failed", "deployment_id", d.ID, "err", err)
		status, info = herm.DeploymentError, &herm.ErrorInfo{Code: "provisioning_failed", Message: herm.ErrorMessage(err)}
		var he *herm.Error
		if !errors.As(err, &he) {
			info.Message = "provisioning failed: " + err.Error()
		}
	}
	if err := s.setStatus(ctx, d.ID, herm.DeploymentProvisioning, status, info); err != nil && !herm.IsCode(err, herm.ENotFound) && !herm.IsCode(err, herm.EConflict) {
		s.logger.Error("record provisioning result", "deployment_id", d.ID, "err", err)
	}
}

// setStatus moves a deployment to status to (from status from, unless
// from is "": any), with its event. The move is one guarded statement: a
// deployment that left from meanwhile (a deletion while provisioning, on
// any node) is an EConflict and keeps its status.
func (s *Service) setStatus(ctx context.Context, id string, from, to herm.DeploymentStatus, info *herm.ErrorInfo) error {
	return s.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		var err error
		if from == "" {
			err = q.SetDeploymentStatus(ctx, id, to, info, s.now().UTC())
		} else {
			err = q.SetDeploymentStatusFrom(ctx, id, from, to, info, s.now().UTC())
		}
		if err != nil {
			return nil, err
		}
		return []*herm.Event{herm.NewEvent(id, "", "", herm.EventDeploymentStatus, map[string]any{"status": to, "error": info})}, nil
	})
}

// Get returns a deployment. ENotFound.
func (s *Service) Get(ctx context.Context, id string) (*herm.Deployment, error) {
	return s.store.GetDeployment(ctx, id)
}

// List lists deployments.
func (s *Service) List(ctx context.Context, f herm.DeploymentFilter) ([]*herm.Deployment, error) {
	return s.store.ListDeployments(ctx, f)
}

// Update applies a patch and bumps the config version. ENotFound, EInvalid,
// EConflict while the deployment is being deleted.
func (s *Service) Update(ctx context.Context, id string, in *herm.DeploymentInput) (*herm.Deployment, error) {
	// The update is validated outside any transaction (a url skill is
	// fetched then) and stored only if nobody changed or began deleting the
	// deployment meanwhile (UpdateDeploymentConfig's guard, on any node);
	// otherwise the deployment is read again and the update applied to the
	// newer version, or refused.
	for range updateAttempts {
		d, err := s.store.GetDeployment(ctx, id)
		if err != nil {
			return nil, err
		}
		if d.Status == herm.DeploymentDeleting {
			return nil, herm.Errorf(herm.EConflict, "deployment %s is being deleted", id)
		}
		if in.IfConfigVersion != 0 && d.ConfigVersion != in.IfConfigVersion {
			return nil, errChangedMeanwhile(id)
		}
		u, err := herm.ApplyUpdate(ctx, d, in, s.rules)
		if err != nil {
			return nil, err
		}
		u.ConfigVersion = d.ConfigVersion + 1
		u.UpdatedAt = s.now().UTC()
		err = s.store.UpdateDeploymentConfig(ctx, u)
		if herm.IsCode(err, herm.EConflict) {
			continue // changed or being deleted since read: read it again
		}
		if err != nil {
			return nil, err
		}
		if s.changed != nil {
			s.changed(d, u)
		}
		return u, nil
	}
	return nil, errChangedMeanwhile(id)
}

// updateAttempts is how many times Update applies a patch to the version it
// reads when another change is stored before it.
const updateAttempts = 3

func errChangedMeanwhile(id string) error {
	return herm.Errorf(herm.EConflict, "deployment %s was changed by another request meanwhile; read it again and retry", id)
}

// Delete starts deleting a deployment: its status becomes deleting at once;
// active runs are cancelled, the sandbox and workspace destroyed and the
// rows removed in the background. ENotFound; EInvalid for retain_filesystem
// (snapshots are not supported yet).
func (s *Service) Delete(ctx context.Context, id string, retainFilesystem bool) (d *herm.Deployment, snapshotID string, err error) {
	d, err = s.store.GetDeployment(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if retainFilesystem {
		sn, ok := s.prov.(Snapshotter)
		if !ok {
			return nil, "", herm.Errorf(herm.EInvalid, "retain_filesystem=true is not supported by this server")
		}
		snapshotID = s.ids.New(herm.PrefixSnapshot)
		if err := sn.ReserveSnapshot(ctx, d, snapshotID); err != nil {
			return nil, "", err
		}
	}
	if d.Status != herm.DeploymentDeleting {
		if err := s.setStatus(ctx, id, "", herm.DeploymentDeleting, nil); err != nil {
			return nil, "", err
		}
		d.Status = herm.DeploymentDeleting
	}
	if d.Owner == s.node || s.tell == nil {
		s.once(d.ID, func(ctx context.Context) { s.destroy(ctx, d) })
	} else {
		// Its owner runs its sandbox, and destroys it (or, if the owner is
		// dead, the node that adopts it).
		s.tell(d.ID)
	}
	return d, snapshotID, nil
}

// destroyRetry is the wait before a failed sandbox destroy is tried again.
const destroyRetry = time.Minute

func (s *Service) destroy(ctx context.Context, d *herm.Deployment) {
	log := s.logger.With("deployment_id", d.ID)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.runner.CancelAll(cctx, d.ID, ""); err != nil {
		if ctx.Err() != nil {
			return
		}
		log.Warn("runs did not stop in time; deleting anyway", "err", err)
	}
	// Until the sandbox is destroyed the deployment stays (deleting) and
	// the destroy is tried again: its workspace, or the snapshot to keep
	// of it, must not be lost.
	for {
		err := s.prov.Destroy(ctx, d)
		if err == nil {
			break
		}
		log.Error("destroy sandbox; trying again in a minute", "err", err)
		t := time.NewTimer(destroyRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return // the deletion resumes at the next start
		case <-t.C:
		}
	}
	if err := s.store.DeleteDeployment(ctx, d.ID); err != nil && !herm.IsCode(err, herm.ENotFound) {
		log.Error("delete deployment rows", "err", err)
		return
	}
	s.log.Broker().CloseDeployment(d.ID)
	if s.changed != nil {
		s.changed(d, nil)
	}
	log.Info("deployment deleted")
}

// EnsureForAgent returns the hidden deployment of an agent and a user key
// (see herm.Session), creating it when there is none: configured by in as
// configuration version version (the agent's), stored with its default
// thread and provisioned in the background like any deployment (one whose
// provisioning failed is provisioned again). Of concurrent calls for one
// pair, one creates it and the others get it.
func (s *Service) EnsureForAgent(ctx context.Context, agentID, userKey string, version int, in *herm.DeploymentInput) (*herm.Deployment, error) {
	if d, err := s.store.DeploymentForAgentUser(ctx, agentID, userKey); err == nil {
		if d.Status == herm.DeploymentError {
			// Its provisioning failed: try again, as its user is back.
			if err := s.setStatus(ctx, d.ID, herm.DeploymentError, herm.DeploymentProvisioning, nil); err == nil {
				d.Status, d.Error = herm.DeploymentProvisioning, nil
				cp := d.Clone()
				s.once(d.ID, func(ctx context.Context) { s.provision(ctx, cp) })
			} else if !herm.IsCode(err, herm.EConflict) {
				return nil, err
			}
		}
		return d, nil
	} else if !herm.IsCode(err, herm.ENotFound) {
		return nil, err
	}
	d, t, err := s.newDeployment(ctx, in, version)
	if err != nil {
		return nil, err
	}
	d.AgentID, d.UserKey = agentID, userKey
	var got *herm.Deployment
	var created bool
	err = s.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		var err error
		got, created, err = q.EnsureAgentDeployment(ctx, d, t)
		if err != nil || !created {
			return nil, err
		}
		return []*herm.Event{herm.NewEvent(d.ID, "", "", herm.EventDeploymentStatus, map[string]any{"status": d.Status, "error": nil})}, nil
	})
	if err != nil {
		return nil, err
	}
	if created {
		cp := got.Clone()
		s.once(got.ID, func(ctx context.Context) { s.provision(ctx, cp) })
	}
	return got, nil
}

// PutVersion records in as configuration version version of hidden
// deployment d unless d has that version, and makes it d's current
// configuration when it is newer (its sandbox follows the newest version
// its sessions use). A run pinned to a version runs with that version's
// configuration (herm.Run.ConfigVersion).
func (s *Service) PutVersion(ctx context.Context, d *herm.Deployment, version int, in *herm.DeploymentInput) error {
	if _, err := s.store.DeploymentVersion(ctx, d.ID, version); err == nil {
		return nil
	} else if !herm.IsCode(err, herm.ENotFound) {
		return err
	}
	u, err := herm.NewDeployment(ctx, in, s.rules)
	if err != nil {
		return err
	}
	u.ID, u.Owner, u.Status, u.ThreadID = d.ID, d.Owner, d.Status, d.ThreadID
	u.AgentID, u.UserKey, u.CreatedAt = d.AgentID, d.UserKey, d.CreatedAt
	u.ConfigVersion, u.UpdatedAt = version, s.now().UTC()
	if err := s.store.PutDeploymentVersion(ctx, u); err != nil {
		return err
	}
	if s.changed != nil && version > d.ConfigVersion {
		s.changed(d, u)
	}
	return nil
}

// WaitReady waits until deployment id is ready (a hidden deployment's
// first session message may come while it provisions), at most until ctx
// ends. ENotReady when it failed or is being deleted.
func (s *Service) WaitReady(ctx context.Context, id string) (*herm.Deployment, error) {
	wait := 20 * time.Millisecond
	for {
		d, err := s.store.GetDeployment(ctx, id)
		if err != nil {
			return nil, err
		}
		switch d.Status {
		case herm.DeploymentReady:
			return d, nil
		case herm.DeploymentProvisioning:
		default:
			msg := ""
			if d.Error != nil {
				msg = ": " + d.Error.Message
			}
			return nil, herm.Errorf(herm.ENotReady, "the session's workspace is %s%s", d.Status, msg)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, herm.Errorf(herm.ENotReady, "the session's workspace is still being provisioned; retry shortly")
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}
