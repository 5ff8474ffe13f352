package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hermhq/herm/internal/herm"
)

// Manager holds the server's enabled drivers and the sandboxes of its
// deployments. It provisions and destroys them (the control plane's
// Provisioner) and hands them to tools.
type Manager struct {
	drivers map[string]Driver
	def     string
	noExec  map[string]bool // drivers that cannot run code

	snaps   *Snapshots // nil: no snapshots
	prepare func(ctx context.Context, d *herm.Deployment, sb Sandbox) (map[string]string, error)
	forget  func(deploymentID string)

	mu       sync.Mutex
	boxes    map[string]Sandbox // deployment ID → its sandbox, once ensured
	watching func(deploymentID string) bool
	notify   func(deploymentID string, c Change)
}

// OnChange makes the manager report workspace changes of the deployments
// watching says are watched: changes made through the workspace (file tools,
// files API) and, found by comparing the workspace before and after, those
// made by commands.
func (m *Manager) OnChange(watching func(deploymentID string) bool, notify func(deploymentID string, c Change)) {
	m.mu.Lock()
	m.watching, m.notify = watching, notify
	m.mu.Unlock()
}

// NoExec marks a driver as one that cannot run code (the "none" driver).
func (m *Manager) NoExec(name string) {
	m.noExec[name] = true
}

// CanExec reports whether a deployment may run code: its sandbox is enabled
// and its driver runs code.
func (m *Manager) CanExec(d *herm.Deployment) bool {
	_, ok := m.drivers[d.Sandbox.Type]
	return ok && d.Sandbox.Enabled && !m.noExec[d.Sandbox.Type]
}

// NewManager returns a manager of drivers; def names the default driver.
func NewManager(def string, drivers ...Driver) (*Manager, error) {
	m := &Manager{drivers: make(map[string]Driver), def: def, boxes: make(map[string]Sandbox), noExec: make(map[string]bool)}
	for _, d := range drivers {
		if _, dup := m.drivers[d.Name()]; dup {
			return nil, fmt.Errorf("sandbox driver %q registered twice", d.Name())
		}
		m.drivers[d.Name()] = d
	}
	if _, ok := m.drivers[def]; !ok {
		return nil, fmt.Errorf("default sandbox driver %q is not enabled (enabled: %v)", def, m.Types())
	}
	return m, nil
}

// Types lists the enabled drivers' names, sorted.
func (m *Manager) Types() []string {
	out := make([]string, 0, len(m.drivers))
	for name := range m.drivers {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Default is the default driver's name.
func (m *Manager) Default() string { return m.def }

// Has reports whether a driver is enabled.
func (m *Manager) Has(name string) bool { return slices.Contains(m.Types(), name) }

func (m *Manager) driver(d *herm.Deployment) (Driver, error) {
	drv, ok := m.drivers[d.Sandbox.Type]
	if !ok {
		return nil, herm.Errorf(herm.EUnavailable, "sandbox type %q is not enabled on this server (enabled: %v)", d.Sandbox.Type, m.Types())
	}
	return drv, nil
}

// Limits returns the resource limits a deployment's sandbox has: those it
// sets, and its driver's defaults for the others. Drivers that apply no
// limits (process, none) report them as set.
func (m *Manager) Limits(d *herm.Deployment) herm.Resources {
	if drv, ok := m.drivers[d.Sandbox.Type].(interface{ DefaultLimits() herm.Resources }); ok {
		return Limits(d.Sandbox.Resources, drv.DefaultLimits())
	}
	return d.Sandbox.Resources
}

func spec(d *herm.Deployment) Spec {
	return Spec{DeploymentID: d.ID, Resources: d.Sandbox.Resources, Network: d.Sandbox.Network}
}

// SetPrepare sets what runs each time a deployment's sandbox is handed out
// (the egress proxy, say): the environment it returns is added to every
// command's.
func (m *Manager) SetPrepare(fn func(ctx context.Context, d *herm.Deployment, sb Sandbox) (map[string]string, error), forget func(deploymentID string)) {
	m.prepare, m.forget = fn, forget
}

// SetSnapshots enables workspace snapshots, kept in snaps.
func (m *Manager) SetSnapshots(snaps *Snapshots) { m.snaps = snaps }

// Snapshots returns the snapshot store (nil when not enabled).
func (m *Manager) Snapshots() *Snapshots { return m.snaps }

// CheckSnapshot reports whether a snapshot can start a new deployment of a
// customer: it exists, is ready and belongs to that customer (another
// customer's is reported as not found).
func (m *Manager) CheckSnapshot(id, customerID string) error {
	if m.snaps == nil {
		return herm.Errorf(herm.EInvalid, "snapshots are not enabled on this server")
	}
	meta, err := m.snaps.Get(id)
	if err != nil {
		return err
	}
	if meta.CustomerID != customerID {
		return herm.Errorf(herm.ENotFound, "snapshot %q not found", id)
	}
	if meta.Status != SnapshotReady {
		return herm.Errorf(herm.EConflict, "snapshot %q is not ready yet (its deployment is still being deleted)", id)
	}
	return nil
}

// ReserveSnapshot records that destroying d keeps a snapshot of its
// workspace under snapshotID.
func (m *Manager) ReserveSnapshot(_ context.Context, d *herm.Deployment, snapshotID string) error {
	if m.snaps == nil {
		return herm.Errorf(herm.EInvalid, "retain_filesystem: snapshots are not enabled on this server")
	}
	return m.snaps.Reserve(snapshotID, d)
}

// RestoreInto records that provisioning d starts its workspace from a
// snapshot.
func (m *Manager) RestoreInto(_ context.Context, d *herm.Deployment, snapshotID string) error {
	if m.snaps == nil {
		return herm.Errorf(herm.EInvalid, "restore_snapshot_id: snapshots are not enabled on this server")
	}
	return m.snaps.MarkRestore(d.ID, snapshotID)
}

// Provision prepares a deployment's sandbox (idempotent), with its
// workspace restored from a snapshot when its creation asked for one.
func (m *Manager) Provision(ctx context.Context, d *herm.Deployment) error {
	// Not Get: what SetPrepare's hook starts (an egress proxy, a CA) waits
	// for the first command, so that an idle deployment costs no goroutines
	// or descriptors.
	sb, err := m.get(ctx, d)
	if err != nil {
		return err
	}
	if m.snaps == nil {
		return nil
	}
	if id := m.snaps.RestoreFor(d.ID); id != "" {
		if err := m.snaps.Restore(ctx, id, sb.Workspace()); err != nil {
			return fmt.Errorf("restore snapshot %s: %w", id, err)
		}
		return m.snaps.Restored(d.ID)
	}
	return nil
}

// Workspace returns a deployment's workspace, ensuring its sandbox first
// when this process has not yet, without preparing it for commands (no
// SetPrepare hook): for the server's own reads and writes of files.
func (m *Manager) Workspace(ctx context.Context, d *herm.Deployment) (*Workspace, error) {
	sb, err := m.get(ctx, d)
	if err != nil {
		return nil, err
	}
	return sb.Workspace(), nil
}

// Get returns a deployment's sandbox, ensuring it first when this process
// has not yet (after a restart, say), prepared (SetPrepare) for commands.
func (m *Manager) Get(ctx context.Context, d *herm.Deployment) (Sandbox, error) {
	sb, err := m.get(ctx, d)
	if err != nil || m.prepare == nil {
		return sb, err
	}
	env, err := m.prepare(ctx, d, sb)
	if err != nil {
		return nil, err
	}
	if w, ok := sb.(*watched); ok {
		m.mu.Lock()
		w.env = env
		m.mu.Unlock()
	}
	return sb, nil
}

func (m *Manager) get(ctx context.Context, d *herm.Deployment) (Sandbox, error) {
	m.mu.Lock()
	sb, ok := m.boxes[d.ID]
	var last Spec
	if w, isW := sb.(*watched); isW {
		last = w.spec
	}
	m.mu.Unlock()
	if ok {
		if w, isW := sb.(*watched); isW && !sameSpec(last, spec(d)) {
			// The deployment's resources or network changed: the driver
			// takes the new settings (Ensure is idempotent).
			drv, err := m.driver(d)
			if err != nil {
				return nil, err
			}
			if _, err := drv.Ensure(ctx, spec(d)); err != nil {
				return nil, err
			}
			m.mu.Lock()
			w.spec = spec(d)
			m.mu.Unlock()
		}
		return sb, nil
	}
	drv, err := m.driver(d)
	if err != nil {
		return nil, err
	}
	sb, err = drv.Ensure(ctx, spec(d))
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.boxes[d.ID]; ok {
		return prev, nil // ensured concurrently; both handles name the same sandbox
	}
	id := d.ID
	sb.Workspace().OnChange(func(c Change) {
		if c.Path == ".herm" || strings.HasPrefix(c.Path, ".herm/") {
			return // the agent's own files (outputs, memory, todo)
		}
		if watching, notify := m.watchers(); watching != nil && watching(id) {
			notify(id, c)
		}
	})
	w := &watched{Sandbox: sb, m: m, id: id, spec: spec(d)}
	m.boxes[d.ID] = w
	return w, nil
}

func (m *Manager) watchers() (func(string) bool, func(string, Change)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.watching, m.notify
}

// watched reports the changes a command makes to a watched workspace.
type watched struct {
	Sandbox
	m    *Manager
	id   string
	spec Spec              // as last ensured (guarded by m.mu)
	env  map[string]string // added to every command's (guarded by m.mu)
}

func sameSpec(a, b Spec) bool {
	return a.DeploymentID == b.DeploymentID && a.Resources == b.Resources && a.Network.Egress == b.Network.Egress &&
		slices.Equal(a.Network.AllowedHosts, b.Network.AllowedHosts)
}

// Unwrap returns the driver's sandbox.
func (w *watched) Unwrap() Sandbox { return w.Sandbox }

func (w *watched) Exec(ctx context.Context, req ExecRequest) (*ExecResult, error) {
	w.m.mu.Lock()
	if len(w.env) > 0 {
		merged := make(map[string]string, len(req.Env)+len(w.env))
		for k, v := range req.Env {
			merged[k] = v
		}
		for k, v := range w.env {
			merged[k] = v
		}
		req.Env = merged
	}
	w.m.mu.Unlock()
	watching, notify := w.m.watchers()
	if watching == nil || !watching(w.id) || req.Background {
		return w.Sandbox.Exec(ctx, req)
	}
	before := snapshot(w.Workspace())
	res, err := w.Sandbox.Exec(ctx, req)
	if before != nil {
		if after := snapshot(w.Workspace()); after != nil {
			thread, run := herm.RunOf(ctx)
			for _, c := range diff(before, after) {
				c.ThreadID, c.RunID = thread, run
				notify(w.id, c)
			}
		}
	}
	return res, err
}

// fileState is what a snapshot records of a file.
type fileState struct {
	size    int64
	modTime int64
}

// maxSnapshot is the most files compared around a command; a larger
// workspace's command changes are not reported.
const maxSnapshot = 20000

func snapshot(ws *Workspace) map[string]fileState {
	out := make(map[string]fileState)
	err := fs.WalkDir(ws.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p == ".herm" || d.Name() == ".git" {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if len(out) >= maxSnapshot {
			return errTooMany
		}
		if fi, err := d.Info(); err == nil {
			out[p] = fileState{fi.Size(), fi.ModTime().UnixNano()}
		}
		return nil
	})
	if err != nil {
		return nil
	}
	return out
}

var errTooMany = errors.New("too many files")

func diff(before, after map[string]fileState) []Change {
	var out []Change
	for p, a := range after {
		b, ok := before[p]
		switch {
		case !ok:
			out = append(out, Change{Kind: ChangeCreated, Path: p, Size: a.size})
		case a != b:
			out = append(out, Change{Kind: ChangeModified, Path: p, Size: a.size})
		}
	}
	for p, b := range before {
		if _, ok := after[p]; !ok {
			out = append(out, Change{Kind: ChangeDeleted, Path: p, Size: b.size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Destroy stops a deployment's sandbox and removes its workspace, after
// taking the snapshots its deletion reserved.
func (m *Manager) Destroy(ctx context.Context, d *herm.Deployment) error {
	if m.snaps != nil {
		if pending := m.snaps.PendingFor(d.ID); len(pending) > 0 {
			sb, err := m.get(ctx, d)
			if err != nil {
				return err
			}
			if err := sb.Stop(ctx); err != nil { // nothing writes while it is taken
				return err
			}
			for _, meta := range pending {
				if err := m.snaps.Take(ctx, meta, sb.Workspace()); err != nil {
					return err
				}
			}
		}
		_ = m.snaps.Restored(d.ID) // a restore that never ran
	}
	if m.forget != nil {
		m.forget(d.ID)
	}
	m.mu.Lock()
	sb := m.boxes[d.ID]
	delete(m.boxes, d.ID)
	m.mu.Unlock()
	if sb != nil {
		_ = sb.Workspace().Close()
	}
	drv, err := m.driver(d)
	if err != nil {
		return err
	}
	return drv.Destroy(ctx, d.ID)
}

// Check reports the drivers that cannot run here.
func (m *Manager) Check(ctx context.Context) error {
	var errs []error
	for _, name := range m.Types() {
		if err := m.drivers[name].Check(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Close stops every sandbox; workspaces stay.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	for id, sb := range m.boxes {
		_ = sb.Workspace().Close()
		delete(m.boxes, id)
	}
	m.mu.Unlock()
	var errs []error
	for _, name := range m.Types() {
		if err := m.drivers[name].Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
