// Package deployment manages deployments' lives: create with validation and
// asynchronous provisioning behind a Provisioner, updates with the contract's
// merge rules and config versions, and deletion (cancel runs, destroy the
// sandbox and workspace, remove the rows).
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

	wg      sync.WaitGroup
	mu      sync.Mutex
	ctx     context.Context // background work; cancelled by Stop
	cancel  context.CancelFunc
	stopped bool
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
	return &Service{store: s, log: log, runner: r, prov: p, rules: rules, ids: ids, now: now, logger: logger, ctx: ctx, cancel: cancel}
}

// OnChange sets what is called after a deployment's configuration change
// commits (with the deployment before and after it) and after a deleted
// deployment's rows are removed (after nil): what the server keeps per
// deployment outside the store, such as MCP sessions, follows. Set it
// before Start.
func (s *Service) OnChange(fn func(before, after *herm.Deployment)) { s.changed = fn }

// Rules returns the validation rules in force.
func (s *Service) Rules() herm.Rules { return s.rules }

// Start resumes provisioning and deletions that a previous process left
// unfinished.
func (s *Service) Start(ctx context.Context) error {
	for _, st := range []herm.DeploymentStatus{herm.DeploymentProvisioning, herm.DeploymentDeleting} {
		ids, err := s.store.ListDeploymentIDsByStatus(ctx, st)
		if err != nil {
			return err
		}
		for _, id := range ids {
			d, err := s.store.GetDeployment(ctx, id)
			if err != nil {
				continue
			}
			if st == herm.DeploymentProvisioning {
				s.goBackground(func(ctx context.Context) { s.provision(ctx, d) })
			} else {
				s.goBackground(func(ctx context.Context) { s.destroy(ctx, d) })
			}
		}
	}
	return nil
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
	d, err := herm.NewDeployment(ctx, in, s.rules)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	d.ID = s.ids.New(herm.PrefixDeployment)
	d.Status = herm.DeploymentProvisioning
	d.ConfigVersion = 1
	d.CreatedAt, d.UpdatedAt = now, now
	t := &herm.Thread{
		ID: s.ids.New(herm.PrefixThread), DeploymentID: d.ID, Title: herm.DefaultThreadTitle,
		IsDefault: true, CreatedAt: now, LastActivityAt: now,
	}
	d.ThreadID = t.ID
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
	s.goBackground(func(ctx context.Context) { s.provision(ctx, cp) })
	return d, nil
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

// setStatus moves a deployment from status from to status to, with its event.
func (s *Service) setStatus(ctx context.Context, id string, from, to herm.DeploymentStatus, info *herm.ErrorInfo) error {
	return s.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		d, err := q.GetDeployment(ctx, id)
		if err != nil {
			return nil, err
		}
		if from != "" && d.Status != from {
			return nil, herm.Errorf(herm.EConflict, "deployment is %s", d.Status)
		}
		if err := q.SetDeploymentStatus(ctx, id, to, info, s.now().UTC()); err != nil {
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
	// The update is validated outside the transaction (a url skill is
	// fetched then) and stored only if nobody changed the deployment
	// meanwhile; otherwise it is applied again to the newer version.
	for attempt := 0; ; attempt++ {
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
		stale := false
		err = s.store.InTx(ctx, func(q store.Querier) error {
			cur, err := q.GetDeployment(ctx, id)
			if err != nil {
				return err
			}
			if cur.Status == herm.DeploymentDeleting {
				return herm.Errorf(herm.EConflict, "deployment %s is being deleted", id)
			}
			if cur.ConfigVersion != d.ConfigVersion {
				stale = true
				return nil
			}
			return q.UpdateDeploymentConfig(ctx, u)
		})
		if err != nil {
			return nil, err
		}
		if !stale {
			if s.changed != nil {
				s.changed(d, u)
			}
			return u, nil
		}
		if in.IfConfigVersion != 0 || attempt == 2 {
			return nil, errChangedMeanwhile(id)
		}
	}
}

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
	s.goBackground(func(ctx context.Context) { s.destroy(ctx, d) })
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
