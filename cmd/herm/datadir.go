package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

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
	// lost is closed when this server may no longer assume it is the only
	// one on its PostgreSQL database (nil for SQLite, which the data dir's
	// lock covers).
	lost    <-chan struct{}
	release func()
}

// openDatabase opens the database of cfg.DatabaseURL: sqlite://path, or
// postgres:// — one server per database until the cluster is built, so it
// takes the database's single-server lock first.
func openDatabase(ctx context.Context, cfg *config, logger *slog.Logger) (*database, error) {
	if cfg.isPostgres() {
		release, lost, err := cluster.Exclusive(ctx, cluster.PostgresOptions{ConnString: cfg.DatabaseURL, Logger: logger}, cluster.SingleServer)
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		st, err := postgres.Open(ctx, cfg.DatabaseURL, nil)
		if err != nil {
			release()
			return nil, fmt.Errorf("open database: %w", err)
		}
		return &database{Store: st, version: st.SchemaVersion, lost: lost, release: release}, nil
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
