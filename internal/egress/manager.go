package egress

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/hermhq/herm/internal/herm"
)

// Host is a sandbox the server can serve an egress proxy to: inside the
// local driver's network namespace, or through a container's relay.
type Host interface {
	// EgressListener returns the listener the proxy serves and the address
	// the sandbox's commands connect to.
	EgressListener() (net.Listener, string, error)
}

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	// Deployment returns the deployment as stored now (each request of its
	// proxy asks, so that a change applies at once).
	Deployment func(ctx context.Context, id string) (*herm.Deployment, error)
	// Reveal returns the value of the deployment's secret in env and the
	// hosts it may go to.
	Reveal func(ctx context.Context, d *herm.Deployment, env string) (value string, allowedHosts []string, err error)
	// Emit records an event (the proxies' refusals).
	Emit func(*herm.Event)
	// Dial connects upstream; it must refuse what the network guard
	// refuses (see Options.Dial).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Cleartext lets secrets go to plain-http upstreams (development).
	Cleartext bool
	// Key makes the secrets' placeholders; it must not change across
	// restarts (placeholders are written into workspaces' files).
	Key    []byte
	Logger *slog.Logger
	// SystemRoots is the host's CA bundle that the sandboxes' bundle
	// starts with (default /etc/ssl/certs/ca-certificates.crt).
	SystemRoots string
}

// Manager runs the deployments' egress proxies, one per deployment while
// its sandbox is in use, and gives the sandboxes' commands the environment
// that uses them: the proxy, the CA bundle that trusts the proxy's CA, and
// the secrets' placeholders.
type Manager struct {
	opts   ManagerOptions
	ctx    context.Context // the proxies'; ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	proxies map[string]runningProxy
}

type runningProxy struct {
	cancel context.CancelFunc
	addr   string // where the sandbox's commands reach it
}

// NewManager returns a Manager; Close stops its proxies.
func NewManager(opts ManagerOptions) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SystemRoots == "" {
		opts.SystemRoots = "/etc/ssl/certs/ca-certificates.crt"
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{opts: opts, ctx: ctx, cancel: cancel, proxies: map[string]runningProxy{}}
}

// Workspace paths of the CA certificates, as the sandbox sees them under
// /workspace and as the host writes them.
const (
	caFile     = ".herm/egress-ca.pem"
	bundleFile = ".herm/ca-bundle.pem"
)

// Prepare starts the deployment's proxy (once) on host, writes its CA
// certificates with write (into the sandbox's workspace), and returns the
// environment of the sandbox's commands. host nil, or a deployment with
// egress none, gets only the secrets' placeholders.
func (m *Manager) Prepare(ctx context.Context, d *herm.Deployment, host Host, write func(name string, data []byte) error) (map[string]string, error) {
	env := map[string]string{}
	for name := range d.Secrets {
		env[name] = Placeholder(m.opts.Key, d.ID, name)
	}
	if host == nil || d.Sandbox.Network.Egress == herm.EgressNone {
		return env, nil // no network at all for this sandbox
	}
	m.mu.Lock() // one start per deployment, however many callers
	p, running := m.proxies[d.ID]
	if !running {
		var err error
		if p, err = m.start(d.ID, host, write); err != nil {
			m.mu.Unlock()
			return nil, err
		}
	}
	m.mu.Unlock()
	proxy := "http://" + p.addr
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"} {
		env[k] = proxy
	}
	env["NO_PROXY"], env["no_proxy"] = "localhost", "localhost"
	bundle := "/workspace/" + bundleFile
	for _, k := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT"} {
		env[k] = bundle
	}
	env["NODE_EXTRA_CA_CERTS"] = "/workspace/" + caFile
	return env, nil
}

// start starts a deployment's proxy (m.mu held).
func (m *Manager) start(id string, host Host, write func(string, []byte) error) (runningProxy, error) {
	if m.closed {
		return runningProxy{}, herm.Errorf(herm.EUnavailable, "the server is shutting down")
	}
	p, err := New(Options{
		DeploymentID: id,
		Config: func(ctx context.Context) (Config, error) {
			cur, err := m.opts.Deployment(ctx, id)
			if err != nil {
				return Config{}, err
			}
			cfg := Config{Egress: cur.Sandbox.Network.Egress, AllowedHosts: cur.Sandbox.Network.AllowedHosts}
			for name := range cur.Secrets {
				val, hosts, err := m.opts.Reveal(ctx, cur, name)
				if err != nil {
					continue
				}
				cfg.Secrets = append(cfg.Secrets, Secret{Env: name, Value: val, AllowedHosts: hosts})
			}
			return cfg, nil
		},
		Placeholder: func(name string) string { return Placeholder(m.opts.Key, id, name) },
		Dial:        m.opts.Dial,
		Cleartext:   m.opts.Cleartext, // plain-http upstreams are local development servers
		Audit: func(host, reason string) {
			data, _ := json.Marshal(map[string]any{"decision": "denied", "host": host, "reason": reason})
			m.opts.Emit(&herm.Event{DeploymentID: id, Type: herm.EventEgress, Data: data})
		},
		Logger: m.opts.Logger,
	})
	if err != nil {
		return runningProxy{}, err
	}
	// The sandbox trusts the system's roots and its proxy's CA.
	system, _ := os.ReadFile(m.opts.SystemRoots)
	if err := write(caFile, p.CACert()); err != nil {
		return runningProxy{}, err
	}
	if err := write(bundleFile, append(append(system, '\n'), p.CACert()...)); err != nil {
		return runningProxy{}, err
	}
	ln, addr, err := host.EgressListener()
	if err != nil {
		return runningProxy{}, err
	}
	ctx, cancel := context.WithCancel(m.ctx)
	rp := runningProxy{cancel: cancel, addr: addr}
	m.proxies[id] = rp
	m.wg.Go(func() {
		if err := p.Serve(ctx, ln); err != nil {
			m.opts.Logger.Warn("egress proxy stopped", "deployment_id", id, "err", err)
		}
	})
	return rp, nil
}

// Forget stops a deployment's proxy (its sandbox stopped or went away); the
// next Prepare starts a new one.
func (m *Manager) Forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.proxies[id]; ok {
		p.cancel()
		delete(m.proxies, id)
	}
}

// Close stops every proxy and waits for them; Prepare starts no more.
// Safe to call twice.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.proxies = map[string]runningProxy{}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}
