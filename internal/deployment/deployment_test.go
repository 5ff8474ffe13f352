package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/runner"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/sqlite"
)

// fakeProv is a Provisioner that records its calls, fails as told, and
// can hold provisioning until released.
type fakeProv struct {
	mu           sync.Mutex
	provisionErr error
	hold         chan struct{} // Provision waits for it (or its ctx) when set
	destroyFails int           // the first destroyFails destroys fail
	onDestroy    func(d *herm.Deployment)
	provisioned  []string
	destroys     int
	destroyed    []string
}

func (p *fakeProv) Provision(ctx context.Context, d *herm.Deployment) error {
	p.mu.Lock()
	hold, err := p.hold, p.provisionErr
	p.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.provisioned = append(p.provisioned, d.ID)
	return err
}

func (p *fakeProv) Destroy(ctx context.Context, d *herm.Deployment) error {
	p.mu.Lock()
	on := p.onDestroy
	p.destroys++
	fail := p.destroys <= p.destroyFails
	if !fail {
		p.destroyed = append(p.destroyed, d.ID)
	}
	p.mu.Unlock()
	if on != nil {
		on(d)
	}
	if fail {
		return errors.New("sandbox busy")
	}
	return nil
}

func (p *fakeProv) counts() (provisioned, destroys, destroyed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.provisioned), p.destroys, len(p.destroyed)
}

type env struct {
	svc    *Service
	store  store.Store
	runner *runner.Runner
	prov   *fakeProv
}

// newEnv builds a Service on a real SQLite store in dir, with a runner
// that is not started (runs sent to it stay queued).
func newEnv(t testing.TB, dir string, prov *fakeProv) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir+"/herm.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	elog := eventlog.New(st, logger, eventlog.Options{})
	ids := herm.NewIDGen(nil)
	r := runner.New(st, elog, nil, ids, nil, logger, runner.Options{})
	rules := herm.Rules{DefaultModel: "demo/demo", SandboxTypes: []string{"local"}, DefaultSandbox: "local"}
	svc := New(st, elog, r, prov, rules, ids, nil, logger)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		elog.Close()
		st.Close()
	})
	return &env{svc: svc, store: st, runner: r, prov: prov}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ready creates a deployment and waits until it is ready.
func (e *env) ready(t testing.TB) *herm.Deployment {
	t.Helper()
	d, err := e.svc.Create(context.Background(), input())
	if err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, d.ID, herm.DeploymentReady)
	return d
}

func (e *env) waitStatus(t testing.TB, id string, want herm.DeploymentStatus) *herm.Deployment {
	t.Helper()
	var d *herm.Deployment
	waitFor(t, "deployment "+string(want), func() bool {
		var err error
		d, err = e.svc.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return d.Status == want
	})
	return d
}

// statusEvents returns the statuses of a deployment's deployment_status
// events, in order.
func (e *env) statusEvents(t testing.TB, id string) []string {
	t.Helper()
	evs, err := e.store.ListEvents(context.Background(), id, 0, 100, store.EventFilter{Types: []string{herm.EventDeploymentStatus}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		var p struct{ Status string }
		if err := json.Unmarshal(ev.Data, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Status)
	}
	return out
}

func str(s string) *string { return &s }

func input() *herm.DeploymentInput {
	return &herm.DeploymentInput{CustomerID: str("cus_1"), Name: str("Acme"), SystemPrompt: str("Be helpful.")}
}

func TestCreateProvisionsToReady(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, t.TempDir(), &fakeProv{})
	d, err := e.svc.Create(ctx, input())
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != herm.DeploymentProvisioning || d.ConfigVersion != 1 || !strings.HasPrefix(d.ID, herm.PrefixDeployment) ||
		!strings.HasPrefix(d.ThreadID, herm.PrefixThread) || d.Model != "demo/demo" || d.CreatedAt.IsZero() {
		t.Fatalf("created %+v", d)
	}
	th, err := e.store.GetThread(ctx, d.ID, d.ThreadID)
	if err != nil || !th.IsDefault || th.Title != herm.DefaultThreadTitle {
		t.Fatalf("default thread %+v %v", th, err)
	}
	got := e.waitStatus(t, d.ID, herm.DeploymentReady)
	if got.Error != nil || got.ConfigVersion != 1 {
		t.Fatalf("ready %+v", got)
	}
	if p, _, _ := e.prov.counts(); p != 1 {
		t.Fatalf("provisioned %d times", p)
	}
	if evs := e.statusEvents(t, d.ID); strings.Join(evs, ",") != "provisioning,ready" {
		t.Fatalf("status events %v", evs)
	}
}

func TestCreateProvisioningFails(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"a domain error says its message", herm.Errorf(herm.EUnavailable, "no uid range left"), "no uid range left"},
		{"another error is described", errors.New("mkdir: disk full"), "provisioning failed: mkdir: disk full"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, t.TempDir(), &fakeProv{provisionErr: c.err})
			d, err := e.svc.Create(context.Background(), input())
			if err != nil {
				t.Fatal(err)
			}
			got := e.waitStatus(t, d.ID, herm.DeploymentError)
			if got.Error == nil || got.Error.Code != "provisioning_failed" || got.Error.Message != c.want {
				t.Fatalf("error %+v", got.Error)
			}
			if evs := e.statusEvents(t, d.ID); strings.Join(evs, ",") != "provisioning,error" {
				t.Fatalf("status events %v", evs)
			}
		})
	}
}

func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, t.TempDir(), &fakeProv{})
	in := input()
	in.Name = str("")
	if _, err := e.svc.Create(ctx, in); !herm.IsCode(err, herm.EInvalid) || !strings.Contains(herm.ErrorMessage(err), "name") {
		t.Fatalf("invalid create: %v", err)
	}
	in = input()
	in.RestoreSnapshotID = str("snap_1")
	if _, err := e.svc.Create(ctx, in); !herm.IsCode(err, herm.EInvalid) || !strings.Contains(herm.ErrorMessage(err), "restore_snapshot_id") {
		t.Fatalf("restore without snapshots: %v", err)
	}
	l, err := e.svc.List(ctx, herm.DeploymentFilter{Page: herm.Page{Limit: 10}})
	if err != nil || len(l) != 0 {
		t.Fatalf("refused creates stored %d deployments (%v)", len(l), err)
	}
	if p, _, _ := e.prov.counts(); p != 0 {
		t.Fatalf("provisioned %d", p)
	}
}

// Provisioning interrupted by a stop stays provisioning, and the next
// start resumes it.
func TestStartResumesProvisioning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	held := &fakeProv{hold: make(chan struct{})}
	e := newEnv(t, dir, held)
	d, err := e.svc.Create(context.Background(), input())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.svc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.Get(ctx, d.ID); got.Status != herm.DeploymentProvisioning {
		t.Fatalf("after an interrupted provisioning: %s", got.Status)
	}
	// A second service on the same database (as after a restart).
	e2 := newEnv(t, dir, &fakeProv{})
	if err := e2.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e2.waitStatus(t, d.ID, herm.DeploymentReady)
	if p, _, _ := e2.prov.counts(); p != 1 {
		t.Fatalf("resumed provisioning ran %d times", p)
	}
}

// A deletion while provisioning: provisioning's result (ready) does not
// undo it, and the deletion is carried out once provisioning ended.
func TestDeleteWhileProvisioning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	held := &fakeProv{hold: make(chan struct{})}
	e := newEnv(t, t.TempDir(), held)
	d, err := e.svc.Create(ctx, input())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Delete(ctx, d.ID, false); err != nil {
		t.Fatal(err)
	}
	close(held.hold)
	waitFor(t, "provisioning to end", func() bool {
		e.svc.mu.Lock()
		defer e.svc.mu.Unlock()
		return len(e.svc.inflight) == 0
	})
	if got, _ := e.svc.Get(ctx, d.ID); got.Status != herm.DeploymentDeleting {
		t.Fatalf("after provisioning ended: %s, want deleting", got.Status)
	}
	if evs := e.statusEvents(t, d.ID); strings.Join(evs, ",") != "provisioning,deleting" {
		t.Fatalf("status events %v", evs)
	}
	if err := e.svc.resume(ctx); err != nil { // what Run does every few seconds
		t.Fatal(err)
	}
	waitFor(t, "the rows to go", func() bool {
		_, err := e.svc.Get(ctx, d.ID)
		return herm.IsCode(err, herm.ENotFound)
	})
}

// meddler is a store on which another writer changes a deployment just
// before each of the first n UpdateDeploymentConfig calls.
type meddler struct {
	store.Store
	mu     sync.Mutex
	n      int
	meddle func(ctx context.Context, s store.Store) error
}

func (m *meddler) UpdateDeploymentConfig(ctx context.Context, d *herm.Deployment) error {
	m.mu.Lock()
	meddle := m.n > 0
	m.n--
	m.mu.Unlock()
	if meddle {
		if err := m.meddle(ctx, m.Store); err != nil {
			return err
		}
	}
	return m.Store.UpdateDeploymentConfig(ctx, d)
}

// An update whose deployment another writer (another node) changed after
// it was read is applied again to the newer version; with if_version it is
// refused; and it is refused when the deployment began to be deleted.
func TestUpdateAfterConcurrentChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, t.TempDir(), &fakeProv{})
	d := e.ready(t)
	prompt := func(ctx context.Context, s store.Store) error {
		cur, err := s.GetDeployment(ctx, d.ID)
		if err != nil {
			return err
		}
		cur.ConfigVersion++
		cur.SystemPrompt = "Changed by another node."
		return s.UpdateDeploymentConfig(ctx, cur)
	}
	m := &meddler{Store: e.store, n: 1, meddle: prompt}
	e.svc.store = m

	u, err := e.svc.Update(ctx, d.ID, &herm.DeploymentInput{Name: str("Mine")})
	if err != nil {
		t.Fatal(err)
	}
	if u.ConfigVersion != 3 || u.Name != "Mine" || u.SystemPrompt != "Changed by another node." {
		t.Fatalf("update applied again: %+v", u)
	}
	if got, _ := e.svc.Get(ctx, d.ID); got.ConfigVersion != 3 || got.Name != "Mine" || got.SystemPrompt != "Changed by another node." {
		t.Fatalf("stored %+v", got)
	}

	// With if_config_version, the change meanwhile is a conflict.
	m.mu.Lock()
	m.n = 1
	m.mu.Unlock()
	_, err = e.svc.Update(ctx, d.ID, &herm.DeploymentInput{Name: str("Stale"), IfConfigVersion: 3})
	if !herm.IsCode(err, herm.EConflict) || !strings.Contains(herm.ErrorMessage(err), "meanwhile") {
		t.Fatalf("update of a version changed meanwhile: %v", err)
	}
	// Changed before every attempt: refused after the last.
	m.mu.Lock()
	m.n = updateAttempts
	m.mu.Unlock()
	if _, err := e.svc.Update(ctx, d.ID, &herm.DeploymentInput{Name: str("Never")}); !herm.IsCode(err, herm.EConflict) {
		t.Fatalf("update always changed meanwhile: %v", err)
	}
	if got, _ := e.svc.Get(ctx, d.ID); got.ConfigVersion != 4+updateAttempts || got.Name != "Mine" {
		t.Fatalf("stored after refusals %+v", got)
	}

	// Deleted meanwhile: refused as such.
	m.mu.Lock()
	m.n, m.meddle = 1, func(ctx context.Context, s store.Store) error {
		return s.SetDeploymentStatus(ctx, d.ID, herm.DeploymentDeleting, nil, time.Now())
	}
	m.mu.Unlock()
	_, err = e.svc.Update(ctx, d.ID, &herm.DeploymentInput{Name: str("Late")})
	if !herm.IsCode(err, herm.EConflict) || !strings.Contains(herm.ErrorMessage(err), "deleted") {
		t.Fatalf("update of a deployment deleted meanwhile: %v", err)
	}
	if got, _ := e.svc.Get(ctx, d.ID); got.Name != "Mine" {
		t.Fatalf("stored after a refused update %+v", got)
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, t.TempDir(), &fakeProv{})
	d := e.ready(t)
	for i, name := range []string{"One", "Two", "Three"} {
		u, err := e.svc.Update(ctx, d.ID, &herm.DeploymentInput{Name: str(name)})
		if err != nil {
			t.Fatal(err)
		}
		if u.ConfigVersion != i+2 || u.Name != name || u.Status != herm.DeploymentReady {
			t.Fatalf("update %d: %+v", i, u)
		}
		if got, _ := e.svc.Get(ctx, d.ID); got.ConfigVersion != i+2 || got.Name != name {
			t.Fatalf("stored %+v", got)
		}
	}
	// An update for the version read applies; one for an older version
	// is a conflict and changes nothing.
	u, err := e.svc.Update(ctx, d.ID, &herm.DeploymentInput{Name: str("Four"), IfConfigVersion: 4})
	if err != nil || u.ConfigVersion != 5 {
		t.Fatalf("update of the current version: %+v %v", u, err)
	}
	if _, err := e.svc.Update(ctx, d.ID, &herm.DeploymentInput{Name: str("Stale"), IfConfigVersion: 4}); !herm.IsCode(err, herm.EConflict) {
		t.Fatalf("update of an old version: %v", err)
	}
	// A refused update changes nothing either.
	if _, err := e.svc.Update(ctx, d.ID, &herm.DeploymentInput{CustomerID: str("cus_2")}); !herm.IsCode(err, herm.EInvalid) {
		t.Fatalf("immutable: %v", err)
	}
	if got, _ := e.svc.Get(ctx, d.ID); got.ConfigVersion != 5 || got.Name != "Four" || got.CustomerID != "cus_1" {
		t.Fatalf("stored after refusals %+v", got)
	}
	if _, err := e.svc.Update(ctx, "dep_nope", &herm.DeploymentInput{Name: str("x")}); !herm.IsCode(err, herm.ENotFound) {
		t.Fatalf("unknown deployment: %v", err)
	}
	// A deployment being deleted cannot be changed.
	e.prov.mu.Lock()
	e.prov.destroyFails = 1 << 30
	e.prov.mu.Unlock()
	if _, _, err := e.svc.Delete(ctx, d.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Update(ctx, d.ID, &herm.DeploymentInput{Name: str("x")}); !herm.IsCode(err, herm.EConflict) || !strings.Contains(herm.ErrorMessage(err), "deleted") {
		t.Fatalf("update while deleting: %v", err)
	}
}

// Delete: deleting at once, active runs cancelled before the sandbox is
// destroyed, then the rows removed.
func TestDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prov := &fakeProv{}
	e := newEnv(t, t.TempDir(), prov)
	d, err := e.svc.Create(ctx, input())
	if err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, d.ID, herm.DeploymentReady)
	// The runner is not started: these runs stay queued.
	var runIDs []string
	for _, th := range []string{"", herm.NewThread} {
		res, err := e.runner.Send(ctx, herm.SendParams{DeploymentID: d.ID, ThreadID: th, Content: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		runIDs = append(runIDs, res.Run.ID)
	}
	statusAtDestroy := map[string]herm.RunStatus{}
	prov.mu.Lock()
	prov.onDestroy = func(d *herm.Deployment) {
		for _, id := range runIDs {
			r, err := e.store.GetRun(context.Background(), d.ID, id)
			if err != nil {
				t.Error(err)
				return
			}
			statusAtDestroy[id] = r.Status
		}
	}
	prov.mu.Unlock()

	got, snap, err := e.svc.Delete(ctx, d.ID, false)
	if err != nil || got.Status != herm.DeploymentDeleting || snap != "" {
		t.Fatalf("delete: %+v %q %v", got, snap, err)
	}
	waitFor(t, "the rows to go", func() bool {
		_, err := e.svc.Get(ctx, d.ID)
		return herm.IsCode(err, herm.ENotFound)
	})
	if _, destroys, destroyed := prov.counts(); destroys != 1 || destroyed != 1 {
		t.Fatalf("%d destroys", destroys)
	}
	for _, id := range runIDs {
		if statusAtDestroy[id] != herm.RunCancelled {
			t.Errorf("run %s was %s when the sandbox was destroyed", id, statusAtDestroy[id])
		}
	}
	if _, _, err := e.svc.Delete(ctx, d.ID, false); !herm.IsCode(err, herm.ENotFound) {
		t.Fatalf("deleting again: %v", err)
	}
	// retain_filesystem needs a provisioner that keeps snapshots.
	d2, err := e.svc.Create(ctx, input())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Delete(ctx, d2.ID, true); !herm.IsCode(err, herm.EInvalid) || !strings.Contains(herm.ErrorMessage(err), "retain_filesystem") {
		t.Fatalf("retain_filesystem: %v", err)
	}
	if got, _ := e.svc.Get(ctx, d2.ID); got.Status == herm.DeploymentDeleting {
		t.Fatal("a refused delete started deleting")
	}
}

// A destroy that fails is tried again (the workspace must not be lost),
// and the deployment stays deleting until one succeeds. The retry waits a
// minute: synctest's clock makes that instant.
func TestDeleteRetriesFailedDestroy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		prov := &fakeProv{destroyFails: 3}
		e := newEnv(t, dir, prov)
		d, err := e.svc.Create(ctx, input())
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got, _ := e.svc.Get(ctx, d.ID); got.Status != herm.DeploymentReady {
			t.Fatalf("status %s", got.Status)
		}
		start := time.Now()
		if _, _, err := e.svc.Delete(ctx, d.ID, false); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			synctest.Wait() // the i-th destroy failed; the service waits
			if _, destroys, _ := prov.counts(); destroys != i {
				t.Fatalf("after %v: %d destroys, want %d", time.Since(start), destroys, i)
			}
			got, err := e.svc.Get(ctx, d.ID)
			if err != nil || got.Status != herm.DeploymentDeleting {
				t.Fatalf("after a failed destroy: %+v %v", got, err)
			}
			time.Sleep(time.Minute)
		}
		synctest.Wait()
		if _, destroys, destroyed := prov.counts(); destroys != 4 || destroyed != 1 {
			t.Fatalf("%d destroys, %d succeeded", destroys, destroyed)
		}
		if _, err := e.svc.Get(ctx, d.ID); !herm.IsCode(err, herm.ENotFound) {
			t.Fatalf("after the destroy succeeded: %v", err)
		}
		if evs := e.statusEvents(t, d.ID); len(evs) != 0 {
			t.Fatalf("events outlived the deployment: %v", evs)
		}
	})
}

// Stop ends a destroy that keeps failing (it does not wait out the
// retry), and the next start takes the deletion up again.
func TestStopDuringDestroyRetry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	e := newEnv(t, dir, &fakeProv{destroyFails: 1})
	d, err := e.svc.Create(ctx, input())
	if err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, d.ID, herm.DeploymentReady)
	if _, _, err := e.svc.Delete(ctx, d.ID, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first destroy", func() bool { _, n, _ := e.prov.counts(); return n == 1 })
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.svc.Stop(sctx); err != nil {
		t.Fatalf("stop while a destroy waits to retry: %v", err)
	}
	e2 := newEnv(t, dir, &fakeProv{})
	if err := e2.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resumed deletion", func() bool {
		_, err := e2.svc.Get(ctx, d.ID)
		return herm.IsCode(err, herm.ENotFound)
	})
}

// The hidden deployment of an agent and a user: made once (concurrent
// callers get the same), provisioned, provisioned again after a failed
// provisioning; PutVersion records a version once and makes it current
// only when it is newer.
func TestEnsureForAgent(t *testing.T) {
	hold := make(chan struct{})
	prov := &fakeProv{provisionErr: errors.New("no sandbox today"), hold: hold}
	e := newEnv(t, t.TempDir(), prov)
	ctx := context.Background()
	a := &herm.Agent{ID: "agt_1", Name: "A", Metadata: map[string]string{}, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := e.store.CreateAgent(ctx, a, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	for v := 2; v <= 3; v++ {
		a.CurrentVersion = v
		if err := e.store.UpdateAgent(ctx, a, json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	in := func(prompt string) *herm.DeploymentInput {
		i := input()
		i.SystemPrompt = &prompt
		return i
	}
	var wg sync.WaitGroup
	got := make([]*herm.Deployment, 4)
	for i := range got {
		wg.Go(func() {
			d, err := e.svc.EnsureForAgent(ctx, a.ID, "user:u1", 2, in("v2"))
			if err != nil {
				t.Error(err)
			}
			got[i] = d
		})
	}
	wg.Wait()
	d := got[0]
	for _, o := range got {
		if o == nil || o.ID != d.ID {
			t.Fatalf("concurrent calls got different deployments: %v %v", d, o)
		}
	}
	if d.ConfigVersion != 2 || d.AgentID != a.ID || d.UserKey != "user:u1" {
		t.Fatalf("deployment %+v", d)
	}
	close(hold) // the calls are done: let the provisioning (fail) happen
	e.waitStatus(t, d.ID, herm.DeploymentError)
	prov.mu.Lock()
	prov.provisionErr = nil
	prov.mu.Unlock()
	if _, err := e.svc.EnsureForAgent(ctx, a.ID, "user:u1", 3, in("v3")); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, d.ID, herm.DeploymentReady)
	if n, _, _ := prov.counts(); n != 2 {
		t.Fatalf("provisioned %d times, want 2", n)
	}

	// Versions: 3 becomes current; 1 is recorded but not current; 2 stays.
	if err := e.svc.PutVersion(ctx, d, 3, in("v3")); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PutVersion(ctx, d, 1, in("v1")); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PutVersion(ctx, d, 2, in("not v2")); err != nil {
		t.Fatal(err)
	}
	cur, err := e.svc.Get(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur.ConfigVersion != 3 || cur.SystemPrompt != "v3" {
		t.Fatalf("current %d %q", cur.ConfigVersion, cur.SystemPrompt)
	}
	for v, want := range map[int]string{1: "v1", 2: "v2", 3: "v3"} {
		dv, err := e.store.DeploymentVersion(ctx, d.ID, v)
		if err != nil || dv.SystemPrompt != want {
			t.Fatalf("version %d: %v %v", v, dv, err)
		}
	}
}
