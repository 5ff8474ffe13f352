package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
)

func TestPragmas(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "herm.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	tests := []struct {
		pool   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", s.wdb, "journal_mode", "wal"},
		{"writer", s.wdb, "synchronous", "1"}, // NORMAL
		{"writer", s.wdb, "foreign_keys", "1"},
		{"writer", s.wdb, "busy_timeout", "5000"},
		{"writer", s.wdb, "query_only", "0"},
		{"reader", s.rdb, "journal_mode", "wal"},
		{"reader", s.rdb, "foreign_keys", "1"},
		{"reader", s.rdb, "busy_timeout", "5000"},
		{"reader", s.rdb, "query_only", "1"},
	}
	for _, tc := range tests {
		var got string
		if err := tc.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("%s: PRAGMA %s: %v", tc.pool, tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("%s: %s = %q, want %q", tc.pool, tc.pragma, got, tc.want)
		}
	}
	if s.wdb.Stats().MaxOpenConnections != 1 {
		t.Errorf("writer pool allows %d connections, want 1", s.wdb.Stats().MaxOpenConnections)
	}
	// The reader really is read-only.
	if _, err := s.rdb.ExecContext(t.Context(), `DELETE FROM api_keys`); err == nil {
		t.Error("a write through the read pool succeeded")
	}
}

func TestBeginImmediate(t *testing.T) {
	// With BEGIN IMMEDIATE a transaction holds the write lock from its
	// start, so a second writer connection cannot write meanwhile.
	path := filepath.Join(t.TempDir(), "herm.db")
	s, err := Open(t.Context(), path, &Options{BusyTimeout: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	other, err := Open(t.Context(), path, &Options{BusyTimeout: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })

	tx, err := s.wdb.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	if _, err := other.wdb.ExecContext(t.Context(), `DELETE FROM api_keys`); err == nil {
		t.Fatal("another connection wrote during a transaction that has not written yet")
	}
}
