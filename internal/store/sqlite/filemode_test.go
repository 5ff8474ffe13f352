//go:build unix

package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The database holds every conversation: it and its -wal and -shm files
// are readable by the server's user only, whatever the umask, and a file
// left readable by an older version is narrowed when opened.
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, which SQLite's own 0644 passes
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "herm.db")
	check := func(when string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s has mode %v, want 0600", when, filepath.Base(p), fi.Mode().Perm())
			}
		}
	}
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(t.Context(), `CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	check("new database")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A database made readable by others (by an older version) is narrowed.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		_ = os.Chmod(p, 0o644)
	}
	s, err = Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.wdb.ExecContext(t.Context(), `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	check("reopened database")
}
