package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/hermhq/herm/internal/cluster"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/postgres"
	"github.com/hermhq/herm/internal/store/sqlite"
)

// openDataDir creates the data dir (0700; the local sandbox driver adds
// o+x, which its sandboxes need to reach their workspaces; one that exists
// keeps its mode: it may be the operator's) and, when the database is
// SQLite, locks it for this process (sqlite.LockDir). The returned
// function releases the lock.
func openDataDir(cfg *config) (release func(), err error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if cfg.isPostgres() {
		return func() {}, nil // several servers on PostgreSQL share a data dir by design
	}
	return sqlite.LockDir(cfg.DataDir)
}

// database is the store the settings name, with what holds it for this
// process.
type database struct {
	store.Store
	version func(context.Context) (int, error)
	release func()
}

// openDatabase opens the database of cfg.DatabaseURL: sqlite://path, or
// postgres://. On PostgreSQL, servers (serving) hold the schema's lock
// shared — any number of nodes — and `herm migrate` exclusively, so that
// it does not run under live servers.
func openDatabase(ctx context.Context, cfg *config, logger *slog.Logger, serving bool) (*database, error) {
	if cfg.isPostgres() {
		take := cluster.Exclusive
		if serving {
			take = cluster.Shared
		}
		release, lost, err := take(ctx, cluster.PostgresOptions{ConnString: cfg.DatabaseURL, Logger: logger}, cluster.Servers)
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		if serving {
			released := make(chan struct{})
			go func() {
				select {
				case <-lost:
					// Not a reason to stop serving (the cluster needs no
					// lock of this connection's), but `herm migrate` could
					// now run.
					logger.Warn("lost the connection holding this server's share of the database lock; herm migrate is no longer kept out")
				case <-released:
				}
			}()
			unlock := release
			release = sync.OnceFunc(func() { close(released); unlock() })
		}
		st, err := postgres.Open(ctx, cfg.DatabaseURL, nil)
		if err != nil {
			release()
			return nil, fmt.Errorf("open database: %w", err)
		}
		return &database{Store: st, version: st.SchemaVersion, release: release}, nil
	}
	path, err := cfg.sqlitePath()
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return &database{Store: st, version: st.SchemaVersion, release: func() {}}, nil
}

// Close closes the store, then lets the database go.
func (d *database) Close() error {
	err := d.Store.Close()
	d.release()
	return err
}
