package sandbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/hermhq/herm/internal/herm"
)

// Manager holds the server's enabled drivers and the sandboxes of its
// deployments. It provisions and destroys them (the control plane's
// Provisioner) and hands them to tools.
type Manager struct {
	drivers map[string]Driver
	def     string

	mu    sync.Mutex
	boxes map[string]Sandbox // deployment ID → its sandbox, once ensured
}

// NewManager returns a manager of drivers; def names the default driver.
func NewManager(def string, drivers ...Driver) (*Manager, error) {
	m := &Manager{drivers: make(map[string]Driver), def: def, boxes: make(map[string]Sandbox)}
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

func spec(d *herm.Deployment) Spec {
	return Spec{DeploymentID: d.ID, Resources: d.Sandbox.Resources, Network: d.Sandbox.Network}
}

// Provision prepares a deployment's sandbox (idempotent).
func (m *Manager) Provision(ctx context.Context, d *herm.Deployment) error {
	_, err := m.Get(ctx, d)
	return err
}

// Get returns a deployment's sandbox, ensuring it first when this process
// has not yet (after a restart, say).
func (m *Manager) Get(ctx context.Context, d *herm.Deployment) (Sandbox, error) {
	m.mu.Lock()
	sb, ok := m.boxes[d.ID]
	m.mu.Unlock()
	if ok {
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
	m.boxes[d.ID] = sb
	return sb, nil
}

// Destroy stops a deployment's sandbox and removes its workspace.
func (m *Manager) Destroy(ctx context.Context, d *herm.Deployment) error {
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
