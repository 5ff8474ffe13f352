package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/hermhq/herm/internal/agents"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/auth"
	"github.com/hermhq/herm/internal/automation"
	"github.com/hermhq/herm/internal/cluster"
	"github.com/hermhq/herm/internal/deployment"
	"github.com/hermhq/herm/internal/egress"
	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/httpapi"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/providers"
	"github.com/hermhq/herm/internal/mcpclient"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/metrics"
	"github.com/hermhq/herm/internal/netguard"
	"github.com/hermhq/herm/internal/retention"
	"github.com/hermhq/herm/internal/runner"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/secrets"
	"github.com/hermhq/herm/internal/tools"
	"github.com/hermhq/herm/internal/tools/builtin"
	"github.com/hermhq/herm/internal/webhook"
	"github.com/hermhq/herm/internal/workspace"
)

// app is a wired server.
type app struct {
	cfg    *config
	logger *slog.Logger
	store  *database
	log    *eventlog.Log
	runner *runner.Runner
	deps   *deployment.Service
	keys   *auth.Keys

	sandboxes   *sandbox.Manager
	mcps        *mcpclient.Pool
	egress      *egress.Manager
	vault       *secrets.Vault
	reseal      bool // a master key rotation: the secrets are resealed
	webhooks    *webhook.Service
	automations *automation.Service
	signals     cluster.Notifier // nil on a single node
	leader      cluster.Leader
	api         *httpapi.Server
	http        *http.Server
	ln          net.Listener
	janitor     sync.WaitGroup
	stopJan     context.CancelFunc
}

// newApp opens the store and wires every service; nothing runs yet. What
// it opened is closed again when a later step fails.
func newApp(ctx context.Context, cfg *config, getenv func(string) string, logger *slog.Logger) (_ *app, err error) {
	var undo cleanup
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	// Every secret value this process reveals is kept out of its log.
	seen := secrets.NewSeen()
	logger = slog.New(secrets.LogHandler(logger.Handler(), seen))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	st, err := openDatabase(ctx, cfg, logger, true)
	if err != nil {
		return nil, err
	}
	undo.push(func() { st.Close() })
	// Several nodes share a PostgreSQL database: they signal each other
	// through it, and one of them leads the singletons.
	var signals cluster.Notifier
	var leader cluster.Leader = cluster.Always{}
	if cfg.isPostgres() {
		popts := cluster.PostgresOptions{ConnString: cfg.DatabaseURL, Logger: logger}
		n, err := cluster.NewPostgresNotifier(ctx, popts, cluster.Events, cluster.Wake, cluster.Cancel, cluster.Changed)
		if err != nil {
			return nil, fmt.Errorf("cluster signals: %w", err)
		}
		undo.push(func() { n.Close() })
		l := cluster.NewPostgresLeader(ctx, popts)
		undo.push(func() { l.Close() })
		signals, leader = n, l
	}
	lc, err := cfg.llmConfig(getenv)
	if err != nil {
		return nil, err
	}
	models, err := providers.New(lc)
	if err != nil {
		return nil, fmt.Errorf("model providers: %w", err)
	}
	defModel := cfg.DefaultModel
	if defModel == "" {
		defModel = models.Default()
	}
	if _, _, err := models.Resolve(defModel); err != nil {
		return nil, fmt.Errorf("default model %q: %w (configured providers: %v)", defModel, err, models.Providers())
	}
	if cfg.MemoryModel != "" {
		if _, _, err := models.Resolve(cfg.MemoryModel); err != nil {
			return nil, fmt.Errorf("memory model %q: %w (configured providers: %v)", cfg.MemoryModel, err, models.Providers())
		}
	}

	// Times are kept to the microsecond, so that what a create returns is
	// what a later read of the store returns.
	now := herm.Now
	ids := herm.NewIDGen(now)
	metrics := metrics.New(st)
	var hooksRef atomic.Pointer[webhook.Service]   // set below; appends wake its dispatcher
	var depsRef atomic.Pointer[deployment.Service] // set below; an adoption wakes it
	elogOpts := eventlog.Options{OnAppend: func(n int) {
		metrics.EventsAppended(n)
		if h := hooksRef.Load(); h != nil {
			h.Wake()
		}
	}}
	if signals != nil {
		elogOpts.Signal = func(deploymentID string, seq int64) {
			if err := signals.Notify(context.Background(), cluster.Events, deploymentID+" "+strconv.FormatInt(seq, 10)); err != nil {
				logger.Warn("signal appended events to the other nodes", "err", err)
			}
		}
	}
	elog := eventlog.New(st, logger, elogOpts)
	undo.push(elog.Close)
	wsRoot := filepath.Join(cfg.DataDir, "workspaces")
	sandboxes, notice, err := newSandboxes(ctx, cfg, wsRoot, logger)
	if err != nil {
		return nil, err
	}
	undo.push(func() { _ = sandboxes.Close(context.WithoutCancel(ctx)) })
	snaps, err := sandbox.NewSnapshots(filepath.Join(cfg.DataDir, "snapshots"), cfg.SnapshotRetention, nil)
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	sandboxes.SetSnapshots(snaps)
	workspace.WatchFilesystem(ctx, sandboxes, st.GetDeployment, func(e *herm.Event) { elog.Emit(e) })
	// One guard decides where the server may connect for anyone else:
	// web_fetch, attachments, url skills, webhooks, MCP servers, the
	// egress proxies.
	guard := netguard.New(netguard.Options{AllowPrivate: cfg.AllowPrivateNet, HostNames: cfg.HostAddresses})
	memories := memory.New(ids, now)
	// Every change of a memory, whoever made it, is a memory event.
	memories.OnChange(func(ctx context.Context, e memory.Event) {
		ev := herm.NewEvent(e.DeploymentID, e.ThreadID, e.RunID, herm.EventMemory, map[string]any{
			"memory_id": e.MemoryID, "change": e.Change, "source": e.Source,
		})
		if err := elog.Append(context.WithoutCancel(ctx), ev); err != nil {
			logger.Warn("memory event", "deployment_id", e.DeploymentID, "memory_id", e.MemoryID, "err", err)
		}
	})
	reg := tools.NewRegistry(builtin.New(sandboxes.Get, builtin.Options{AllowPrivateNetworks: cfg.AllowPrivateNet, Guard: guard, Memory: memories})...)
	prices := llm.DefaultPrices()
	for k, v := range cfg.Prices {
		prices[k] = v
	}
	windows := llm.DefaultContextWindows()
	for k, v := range cfg.ContextWindows {
		windows[k] = v
	}
	masters, err := secrets.MasterKeys(getenv("HERM_MASTER_KEY"), cfg.DataDir)
	if err != nil {
		return nil, err
	}
	vault, err := secrets.New(st, masters, ids, now, seen)
	if err != nil {
		return nil, err
	}
	// web_search exists when the operator configured a search backend.
	search, err := newSearcher(ctx, cfg, vault, logger)
	if err != nil {
		return nil, err
	}
	if search != nil {
		reg.Add(builtin.NewWebSearch(search))
		logger.Info("web_search enabled", "backends", search.Backends())
	}
	// The deployments' egress proxies, started as their sandboxes are.
	egresses := egress.NewManager(egress.ManagerOptions{
		Deployment: st.GetDeployment,
		Reveal:     vault.RevealHosts,
		Emit:       func(e *herm.Event) { elog.Emit(e) },
		Dial:       guard.DialContext,
		Cleartext:  guard.AllowPrivate(),
		// Placeholders do not depend on the master key, so that a rotation
		// does not change those written into a workspace's files.
		Key:    []byte("herm egress placeholder v1"),
		Logger: logger,
	})
	undo.push(egresses.Close)
	sandboxes.SetPrepare(workspace.Egress(egresses), egresses.Forget)
	hooks := webhook.New(st, vault, ids, now, webhook.Options{Guard: guard,
		AllowPrivateNetworks: cfg.AllowPrivateNet, Backoff: cfg.WebhookRetries,
		OnAttempt: metrics.WebhookAttempt, Logger: logger})
	hooksRef.Store(hooks)
	mcps := mcpclient.New(mcpclient.Options{HTTPClient: &http.Client{Timeout: builtin.DefaultFetchTimeout, Transport: guard.Transport()}, Logger: logger,
		Cleartext: cfg.AllowPrivateNet, // plain-http MCP servers are local development servers
		Resolve:   vault.RevealHosts})
	undo.push(mcps.Close)
	// One catalog decides which tools a deployment gets: for its runs, the
	// Tools API and the validation of its tools settings.
	catalog := tools.NewCatalog(reg, tools.CatalogOptions{CanExec: sandboxes.CanExec, MCP: mcps})
	downloader := builtin.NewDownloader(builtin.Options{AllowPrivateNetworks: cfg.AllowPrivateNet, Guard: guard, MaxFetchBytes: herm.MaxAttachmentBytes})
	host := workspace.New(workspace.Options{Sandboxes: sandboxes, Downloader: downloader, Deployment: st.GetDeployment, Memories: memories, Logger: logger})
	ag := agent.New(st, elog, models, catalog, ids, now, logger, agent.Options{
		Redactor:        vault.Redactor,
		Prices:          prices,
		ContextWindows:  windows,
		CompactAt:       cfg.CompactAt,
		SteeringTimeout: cfg.SteeringTimeout,
		Attachments:     host,
		SystemExtra:     host.SystemExtra,
		MaxSteps:        cfg.MaxSteps,
		PreviewLimit:    cfg.PreviewLimit,
		Spill:           host.Spill,
		SaveFile:        host.SaveFile,
		Memories:        memories,
		Workspace:       sandboxes.Workspace,
		MemoryModel:     cfg.MemoryModel,
		MemoryObserver:  cfg.MemoryObserver == nil || *cfg.MemoryObserver,
		Dreaming:        cfg.Dreaming == nil || *cfg.Dreaming,
		OnModelCall: func(model string, u llm.Usage, err error) {
			metrics.ModelCall(model, u.InputTokens, u.OutputTokens, err)
		},
	})
	rn := runner.New(st, elog, ag, ids, now, logger, runner.Options{
		Owner: cfg.NodeID,
		Lease: cfg.NodeLease,
		// A single server on SQLite knows its previous process is gone
		// (the data dir's lock); a node of a cluster lets go of only its
		// own previous process's work.
		ReleaseOnStart: !cfg.isPostgres(),
		SteeringCheck:  min(30*time.Second, max(cfg.SteeringTimeout/2, 10*time.Millisecond)),
		Signals:        signals,
		Leader:         leader,
		OnAdopt:        func(string) { depsRef.Load().Wake() },
		DreamAfter:     cfg.DreamAfter,
		DreamEvery:     cfg.DreamEvery,
	})
	autos := automation.New(st, rn, ids, now, automation.Options{Poll: cfg.AutomationPoll, Leader: leader, Logger: logger})
	reg.Add(builtin.NewAutomations(autos))
	rules := herm.Rules{
		Tools:         catalog,
		DefaultModel:  defModel,
		KnownProvider: models.Has,
		CheckModelSettings: func(model string, s herm.ModelSettings) error {
			return models.CheckSettings(model, agent.LLMSettings(s))
		},
		Providers:            models.Providers(),
		SandboxTypes:         sandboxes.Types(),
		DefaultSandbox:       sandboxes.Default(),
		AllowPrivateNetworks: cfg.AllowPrivateNet,
		CheckURL:             guard.CheckURL,
		CheckSnapshot:        sandboxes.CheckSnapshot,
		CheckSecretRef:       vault.CheckRef,
		SecretHosts:          vault.AllowedHosts,
		ResolveSkill:         host.ResolveSkill,
	}
	deps := deployment.New(st, elog, rn, sandboxes, rules, ids, now, logger)
	depsRef.Store(deps)
	var tell func(string)
	if signals != nil {
		tell = func(deploymentID string) {
			if err := signals.Notify(context.Background(), cluster.Wake, deploymentID); err != nil {
				logger.Warn("signal the other nodes", "err", err)
			}
		}
	}
	deps.SetNode(cfg.NodeID, tell)
	deps.OnChange(func(before, after *herm.Deployment) {
		// A deleted deployment's MCP sessions end, and so do those of a
		// changed server configuration or secrets (new ones open as needed),
		// on every node.
		if after == nil || mcpclient.Changed(before, after) {
			mcps.Forget(before.ID)
			if signals != nil {
				if err := signals.Notify(context.Background(), cluster.Changed, before.ID); err != nil {
					logger.Warn("signal the other nodes", "err", err)
				}
			}
		}
	})
	keys := auth.New(st, ids, now)
	a := &app{cfg: cfg, logger: logger, store: st, log: elog, runner: rn, deps: deps, keys: keys, sandboxes: sandboxes, mcps: mcps,
		egress: egresses, vault: vault, reseal: len(masters) > 1, webhooks: hooks, automations: autos, signals: signals, leader: leader}
	warnings := map[string]string{}
	if notice != "" {
		warnings["sandbox"] = notice
	}
	metricsPublic := false
	if cfg.MetricsPublic != nil {
		metricsPublic = *cfg.MetricsPublic
	} else {
		metricsPublic = isLoopback(cfg.Addr)
	}
	a.api = httpapi.New(httpapi.Config{
		PublicURL: cfg.PublicURL, MaxBodyBytes: cfg.MaxBodyBytes, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst,
		MetricsPublic: metricsPublic, MaxFileBytes: cfg.MaxFileBytes, BodyTimeout: cfg.HTTP.Body, WriteTimeout: cfg.HTTP.Write,
		CORSOrigins: cfg.CORSOrigins,
		Readiness:   map[string]func(context.Context) error{"sandbox": sandboxes.Check},
		Warnings:    warnings,
	}, httpapi.Deps{
		Store: st, Log: elog, Runner: rn, Deployments: deps, Keys: keys, Models: models, Sandboxes: sandboxes, Tools: catalog, Vault: vault, Webhooks: hooks, Memories: memories, Automations: autos,
		Agents: agents.New(st, deps, rn, ids, now), Metrics: metrics, IDs: ids, Now: now, Logger: logger,
	})
	metrics.Subscribers(elog.Broker().Subscribers)
	return a, nil
}

// bootstrapKeys makes sure someone can use the API: HERM_API_KEY, or a
// generated admin key printed once and saved to <data-dir>/admin.key.
func (a *app) bootstrapKeys(ctx context.Context, con *console) (string, error) {
	if a.cfg.APIKey != "" {
		return a.cfg.APIKey, a.keys.Ensure(ctx, "bootstrap (HERM_API_KEY)", a.cfg.APIKey)
	}
	n, err := a.keys.Count(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	k, secret, err := a.keys.Create(ctx, "admin (generated at first start)", herm.Scopes(), "")
	if err != nil {
		return "", err
	}
	file := filepath.Join(a.cfg.DataDir, "admin.key")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", file, err)
	}
	con.say(fmt.Sprintf("\nCreated an admin API key (%s). It is shown only this once and saved to %s:\n\n    %s\n\n", k.ID, file, secret),
		"created an admin API key; it is shown only this once and saved to "+file, "key_id", k.ID, "file", file, "api_key", secret)
	return secret, nil
}

// start resumes unfinished work and begins serving on the configured address.
func (a *app) start(ctx context.Context) error {
	if err := a.deps.Start(ctx); err != nil {
		return err
	}
	if err := a.runner.Start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
	}
	a.ln = ln
	// ReadTimeout and WriteTimeout are the first deadlines of a request's
	// body and response; the API extends them while the client keeps up
	// (httpapi's deadlines).
	a.http = &http.Server{
		Handler:                      withConsole(a.api),
		ReadHeaderTimeout:            a.cfg.HTTP.ReadHeader,
		ReadTimeout:                  a.cfg.HTTP.Body,
		WriteTimeout:                 a.cfg.HTTP.Write,
		IdleTimeout:                  a.cfg.HTTP.Idle,
		DisableGeneralOptionsHandler: true, // OPTIONS * gets the envelope too
		ErrorLog:                     slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	a.janitor.Go(func() {
		if err := a.http.Serve(a.api.Listener(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.Error("http server", "err", err)
		}
	})
	// Background work ends at shutdown, not with ctx (the signal), so that
	// it stops in order.
	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.stopJan = cancel
	sweeper := retention.New(a.store, a.sandboxes.Snapshots(), retention.Options{Events: a.cfg.EventRetention, Leader: a.leader, Logger: a.logger})
	a.janitor.Go(func() { sweeper.Run(jctx) })
	a.janitor.Go(func() { a.webhooks.Run(jctx) })
	a.janitor.Go(func() { a.automations.Run(jctx) })
	a.janitor.Go(func() { a.deps.Run(jctx) })
	if a.signals != nil {
		events, stopEvents := a.signals.Subscribe(cluster.Events)
		wakes, stopWakes := a.signals.Subscribe(cluster.Wake)
		changes, stopChanges := a.signals.Subscribe(cluster.Changed)
		a.janitor.Go(func() {
			defer stopEvents()
			defer stopWakes()
			defer stopChanges()
			a.followOtherNodes(jctx, events, wakes, changes)
		})
	}
	if a.reseal {
		a.janitor.Go(func() { a.resealSecrets(jctx) })
	}
	return nil
}

// followOtherNodes acts on the other nodes' signals: appended events
// ("<deployment_id> <sequence>") go to the event log, so that this node's
// streams carry runs executing elsewhere; a deployment to look at wakes the
// deployment service (a deletion for its owner); a changed configuration
// ends this node's MCP sessions of the deployment. (The runner follows
// wake-ups and cancels itself.)
func (a *app) followOtherNodes(ctx context.Context, events, wakes, changes <-chan string) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-wakes:
			if !ok {
				return
			}
			a.deps.Wake()
		case id, ok := <-changes:
			if !ok {
				return
			}
			a.mcps.Forget(id)
		case p, ok := <-events:
			if !ok {
				return
			}
			dep, seq, found := strings.Cut(p, " ")
			n, err := strconv.ParseInt(seq, 10, 64)
			if !found || err != nil {
				a.logger.Warn("a malformed events signal", "payload", p)
				continue
			}
			a.log.Appended(dep, n)
		}
	}
}

// resealSecrets re-encrypts the secrets under the new master key while the
// server serves (each opens with the key that sealed it).
func (a *app) resealSecrets(ctx context.Context) {
	n, unreadable, err := a.vault.Reseal(ctx)
	switch {
	case err != nil:
		a.logger.Error("re-encrypting secrets under the new master key failed; restart to try again", "err", err, "resealed", n)
	case len(unreadable) > 0:
		a.logger.Error("secrets that no master key opens", "secret_ids", unreadable, "resealed", n)
	default:
		a.logger.Info("secrets re-encrypted under the new master key; the old keys can be removed from HERM_MASTER_KEY", "resealed", n)
	}
}

// cleanup is a stack of closes: each step that opens something pushes its
// close, and run closes them in reverse order.
type cleanup []func()

func (c *cleanup) push(f func()) { *c = append(*c, f) }

func (c cleanup) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// URL is the address the server listens on.
func (a *app) URL() string { return "http://" + a.ln.Addr().String() }

// shutdown stops in order: no new requests, streams closed, runs left to
// resume, background work, the log flushed, the store closed. It is bounded
// by 10 s overall.
func (a *app) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 9*time.Second)
	defer cancel()
	var errs []error
	if a.http != nil {
		a.api.CloseStreams()
		if err := a.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			a.http.Close()
		}
	}
	if a.stopJan != nil {
		a.stopJan()
		a.janitor.Wait()
	}
	// Provisioning and deletions stop before the runner leaves the cluster
	// (which lets another node adopt the deployments at once).
	if err := a.deps.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("deployments stop: %w", err))
	}
	if err := a.runner.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("runner stop: %w", err))
	}
	a.mcps.Close()
	a.egress.Close()
	if err := a.sandboxes.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("sandboxes stop: %w", err))
	}
	a.log.Close()
	if a.signals != nil {
		a.signals.Close()
	}
	a.leader.Close()
	if err := a.store.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
