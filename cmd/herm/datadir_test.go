package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What the server creates in its data dir is readable by its user only:
// files 0600, directories 0700, except those sandbox users traverse (the
// data dir itself, workspaces/, the sandbox state: o+x, never readable).
// Workspace contents keep their modes.
func TestDataDirModes(t *testing.T) {
	sqliteOnly(t)
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	s.must(200, "PUT", "/v1/deployments/"+id+"/files?path=notes.txt", "hello", "Content-Type", "text/plain")
	// Sandbox users traverse the data dir (o+x: the local driver adds it to
	// the data dir and the directories above it), workspaces/ and sandbox/.
	dataDir, traversed := os.FileMode(0o700), os.FileMode(0o700)
	if localSandbox(t, s) {
		dataDir, traversed = 0o701, 0o711
	}
	want := map[string]os.FileMode{
		".":                  dataDir,
		"herm.db":            0o600,
		"herm.db-wal":        0o600,
		"herm.db-shm":        0o600,
		"herm.lock":          0o600,
		"master.key":         0o600,
		"snapshots":          0o700,
		"snapshots/restores": 0o700,
		"workspaces":         traversed,
		"workspaces/" + id:   0o700,
	}
	if localSandbox(t, s) {
		want["sandbox"], want["sandbox/root"] = 0o711, 0o711
	}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(s.dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	// Nothing else is readable or writable by others either.
	err := filepath.WalkDir(s.dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.dir, p)
		if strings.HasPrefix(rel, filepath.Join("workspaces", id)+string(filepath.Separator)) {
			return filepath.SkipDir // the workspace's own files keep their modes
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o066 != 0 || (!fi.IsDir() && fi.Mode().Perm()&0o077 != 0) {
			t.Errorf("%s has mode %v", rel, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Two servers on one SQLite data dir would break each other's event
// streams: the second refuses to start, naming the first.
func TestDataDirLock(t *testing.T) {
	sqliteOnly(t)
	t.Parallel()
	s := startServer(t, nil)
	env := map[string]string{"HERM_ADDR": "127.0.0.1:0", "HERM_DATA_DIR": s.dir, "HERM_API_KEY": testKey, "HERM_LOG_FORMAT": "json"}
	getenv := func(k string) string { return env[k] }
	host, _ := os.Hostname()
	want := fmt.Sprintf("another herm server (pid %d on host %s) is using data dir %s", os.Getpid(), host, s.dir)
	var stderr syncBuffer
	// (Without the lock the second server would serve until the timeout.)
	tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer tcancel()
	err := run(tctx, []string{"serve"}, getenv, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("second server on the data dir: %v, want %q", err, want)
	}
	// migrate refuses too.
	if err := run(tctx, []string{"migrate"}, getenv, &stderr, &stderr); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("migrate while a server runs: %v", err)
	}
	// Once the first is gone, the data dir is free.
	s.stop()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *app, 1)
	done := make(chan error, 1)
	go func() {
		cfg, err := loadConfig("serve", nil, getenv)
		if err != nil {
			done <- err
			return
		}
		logger, _ := newLogger("json", "warn", &stderr)
		done <- serveWith(ctx, cfg, getenv, logger, &stderr, func(a *app) { started <- a })
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("server after the first stopped: %v", err)
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
