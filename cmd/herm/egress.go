package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/hermhq/herm/internal/egress"
	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/netguard"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/secrets"
	"github.com/hermhq/herm/internal/store"
)

// egresses runs the deployments' egress proxies and gives their sandboxes
// the environment that uses them: the proxy, the CA bundle that trusts the
// proxy's CA, and the secrets' placeholders.
type egresses struct {
	ctx    context.Context
	store  store.Store
	vault  *secrets.Vault
	log    *eventlog.Log
	logger *slog.Logger
	key    []byte
	guard  *netguard.Guard // where upstream connections may go

	mu      sync.Mutex
	proxies map[string]runningProxy
}

type runningProxy struct {
	cancel context.CancelFunc
	addr   string // where the sandbox's commands reach it
}

// egressHost is a sandbox the host can serve an egress proxy to: inside the
// local driver's network namespace, or through the docker driver's relay.
type egressHost interface {
	// EgressListener returns the listener the proxy serves and the address
	// the sandbox's commands connect to.
	EgressListener() (net.Listener, string, error)
}

func (e *egresses) forget(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.proxies[id]; ok {
		p.cancel()
		delete(e.proxies, id)
	}
}

// prepare starts the deployment's proxy (once) and returns its commands'
// environment.
func (e *egresses) prepare(ctx context.Context, d *herm.Deployment, sb sandbox.Sandbox) (map[string]string, error) {
	env := map[string]string{}
	for name := range d.Secrets {
		env[name] = egress.Placeholder(e.key, d.ID, name)
	}
	inner := sb
	if u, ok := sb.(interface{ Unwrap() sandbox.Sandbox }); ok {
		inner = u.Unwrap()
	}
	l, ok := inner.(egressHost)
	if !ok || d.Sandbox.Network.Egress == herm.EgressNone {
		return env, nil // no network at all for this sandbox
	}
	e.mu.Lock() // one start per deployment, however many callers
	p, running := e.proxies[d.ID]
	if !running {
		var err error
		if p, err = e.start(d, l, sb.Workspace()); err != nil {
			e.mu.Unlock()
			return nil, err
		}
	}
	e.mu.Unlock()
	proxy := "http://" + p.addr
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"} {
		env[k] = proxy
	}
	env["NO_PROXY"], env["no_proxy"] = "localhost", "localhost"
	bundle := "/workspace/.herm/ca-bundle.pem"
	for _, k := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT"} {
		env[k] = bundle
	}
	env["NODE_EXTRA_CA_CERTS"] = "/workspace/.herm/egress-ca.pem"
	return env, nil
}

// start starts a deployment's proxy (e.mu held).
func (e *egresses) start(d *herm.Deployment, l egressHost, ws *sandbox.Workspace) (runningProxy, error) {
	id := d.ID
	p, err := egress.New(egress.Options{
		DeploymentID: id,
		Config: func(ctx context.Context) (egress.Config, error) {
			cur, err := e.store.GetDeployment(ctx, id)
			if err != nil {
				return egress.Config{}, err
			}
			cfg := egress.Config{Egress: cur.Sandbox.Network.Egress, AllowedHosts: cur.Sandbox.Network.AllowedHosts}
			for name := range cur.Secrets {
				val, sec, err := e.vault.Reveal(ctx, cur, name)
				if err != nil {
					continue
				}
				cfg.Secrets = append(cfg.Secrets, egress.Secret{Env: name, Value: val, AllowedHosts: sec.AllowedHosts})
			}
			return cfg, nil
		},
		Placeholder: func(name string) string { return egress.Placeholder(e.key, id, name) },
		Dial:        e.guard.DialContext,
		Cleartext:   e.guard.AllowPrivate(), // plain-http upstreams are local development servers
		Audit: func(host, reason string) {
			data, _ := json.Marshal(map[string]any{"decision": "denied", "host": host, "reason": reason})
			e.log.Emit(&herm.Event{DeploymentID: id, Type: herm.EventEgress, Data: data})
		},
		Logger: e.logger,
	})
	if err != nil {
		return runningProxy{}, err
	}
	// The sandbox trusts the system's roots and its proxy's CA.
	system, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if _, err := ws.WriteFile(".herm/egress-ca.pem", bytes.NewReader(p.CACert())); err != nil {
		return runningProxy{}, err
	}
	if _, err := ws.WriteFile(".herm/ca-bundle.pem", bytes.NewReader(append(append(system, '\n'), p.CACert()...))); err != nil {
		return runningProxy{}, err
	}
	ln, addr, err := l.EgressListener()
	if err != nil {
		return runningProxy{}, err
	}
	ctx, cancel := context.WithCancel(e.ctx)
	rp := runningProxy{cancel: cancel, addr: addr}
	e.proxies[id] = rp
	go func() {
		if err := p.Serve(ctx, ln); err != nil {
			e.logger.Warn("egress proxy stopped", "deployment_id", id, "err", err)
		}
	}()
	return rp, nil
}
