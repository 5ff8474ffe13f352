package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/sandbox/docker"
	"github.com/hermhq/herm/internal/sandbox/local"
	"github.com/hermhq/herm/internal/sandbox/process"
)

// sandboxes picks and enables the sandbox drivers. It returns the manager
// and, when deployments get no code execution, a notice saying why (logged
// loudly and shown in /readyz).
func newSandboxes(ctx context.Context, cfg *config, root string, logger *slog.Logger) (_ *sandbox.Manager, _ string, err error) {
	loc, err := local.New(local.Options{Root: root, IdleTimeout: cfg.SandboxIdle, RootFS: cfg.SandboxRootFS, Logger: logger,
		// Servers on PostgreSQL may share the data dir; a SQLite server has
		// it to itself (sqlite.LockDir).
		Shared: cfg.isPostgres()})
	if err != nil {
		return nil, "", err
	}
	localErr := loc.Check(ctx)
	drivers := []sandbox.Driver{loc}
	defer func() {
		if err != nil { // close what was opened
			for _, d := range drivers {
				_ = d.Close(context.WithoutCancel(ctx))
			}
		}
	}()
	if cfg.DockerImage != "" {
		ds, err := containerDrivers(ctx, cfg, root, logger)
		if err != nil {
			return nil, "", err
		}
		drivers = append(drivers, ds...)
	}
	if localErr != nil {
		_ = loc.Close(ctx)
		drivers = drivers[1:]
	}
	def, notice := cfg.Sandbox, ""
	switch cfg.Sandbox {
	case "docker", "gvisor":
		// checked by containerDrivers
	case "local":
		if localErr != nil {
			return nil, "", fmt.Errorf("the local sandbox driver cannot run here: %v (use --sandbox process for unisolated development, or --sandbox none)", localErr)
		}
	case "process":
		drivers = append(drivers, process.New(root))
		logger.Warn("SANDBOX DRIVER 'process' ISOLATES NOTHING: agents' commands run as the server's user with its files and network; use it for development only")
	case "none":
		notice = "code execution is disabled by --sandbox none"
	default: // best available
		def = local.Name
		if localErr != nil {
			def = process.NameNone
			notice = fmt.Sprintf("no isolating sandbox driver works here (%v): deployments get no code execution; start with --sandbox process to run code unisolated (development only)", localErr)
		}
	}
	if def == process.NameNone {
		drivers = append(drivers, process.NewWorkspaceOnly(root, notice))
		logger.Warn("NO CODE EXECUTION: " + notice)
	}
	m, err := sandbox.NewManager(def, drivers...)
	if err != nil {
		return nil, "", err
	}
	m.NoExec(process.NameNone)
	return m, notice, nil
}

// containerDrivers enables docker (and gvisor) when an image is configured.
// A driver asked for as the default must work; otherwise one that does not
// is left out with a warning.
func containerDrivers(ctx context.Context, cfg *config, root string, logger *slog.Logger) ([]sandbox.Driver, error) {
	types := []struct{ name, runtime string }{{"docker", ""}}
	if cfg.GVisorRuntime != "" {
		types = append(types, struct{ name, runtime string }{"gvisor", cfg.GVisorRuntime})
	}
	var out []sandbox.Driver
	for _, t := range types {
		d, err := docker.New(docker.Options{
			Name: t.name, Runtime: t.runtime, Host: cfg.DockerHost, Image: cfg.DockerImage, HostUsr: cfg.DockerHostUsr,
			Root: root, IdleTimeout: cfg.SandboxIdle, Logger: logger,
		})
		if err == nil {
			if err = d.Check(ctx); err != nil {
				_ = d.Close(ctx)
			}
		}
		if err != nil {
			if cfg.Sandbox == t.name {
				for _, d := range out {
					_ = d.Close(ctx)
				}
				return nil, fmt.Errorf("the %s sandbox driver cannot run: %v", t.name, err)
			}
			logger.Warn("sandbox driver unavailable", "driver", t.name, "err", err)
			continue
		}
		out = append(out, d)
	}
	return out, nil
}
