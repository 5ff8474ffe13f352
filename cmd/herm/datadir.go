package main

import (
	"fmt"
	"os"
	"strings"

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
	if !strings.HasPrefix(cfg.DatabaseURL, "sqlite://") {
		return func() {}, nil
	}
	return sqlite.LockDir(cfg.DataDir)
}
