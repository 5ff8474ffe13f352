package sandbox

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newSnapshots(t *testing.T) (*Snapshots, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s, err := NewSnapshots(filepath.Join(t.TempDir(), "snapshots"), time.Hour, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func workspace(t *testing.T) *Workspace {
	t.Helper()
	ws, err := OpenWorkspace(filepath.Join(t.TempDir(), "ws"), -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func TestSnapshotRoundTripAndExpiry(t *testing.T) {
	s, c := newSnapshots(t)
	src := workspace(t)
	if _, err := src.WriteFile("a/b/c.txt", strings.NewReader("deep")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/b/c.txt", filepath.Join(src.Dir(), "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src.Dir(), "a/b/c.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := &herm.Deployment{ID: "dep_a", CustomerID: "cus_1"}
	if err := s.Reserve("snap_1", d); err != nil {
		t.Fatal(err)
	}
	if p := s.PendingFor("dep_a"); len(p) != 1 || p[0].ID != "snap_1" {
		t.Fatalf("pending: %v", p)
	}
	if err := s.Take(context.Background(), s.PendingFor("dep_a")[0], src); err != nil {
		t.Fatal(err)
	}
	if p := s.PendingFor("dep_a"); len(p) != 0 {
		t.Fatalf("still pending: %v", p)
	}
	dst := workspace(t)
	if err := s.Restore(context.Background(), "snap_1", dst); err != nil {
		t.Fatal(err)
	}
	b, err := dst.ReadFile("link", 0)
	if err != nil || string(b) != "deep" {
		t.Fatalf("through the restored link: %q %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dst.Dir(), "a/b/c.txt")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	// Expired: gone for restores, then swept.
	c.t = c.t.Add(2 * time.Hour)
	if _, err := s.Get("snap_1"); herm.ErrorCode(err) != herm.ENotFound {
		t.Fatalf("expired snapshot: %v", err)
	}
	if n, err := s.Sweep(); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if _, err := os.Stat(s.archivePath("snap_1")); !os.IsNotExist(err) {
		t.Fatalf("archive after sweep: %v", err)
	}
}

// An archive whose entries leave the workspace is refused, and nothing is
// written outside.
func TestSnapshotRestoreRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../escape.txt", "/abs.txt", "a/../../escape.txt"} {
		s, _ := newSnapshots(t)
		f, err := os.Create(s.archivePath("snap_bad"))
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(f)
		tw := tar.NewWriter(zw)
		_ = tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
		_, _ = tw.Write([]byte("x"))
		tw.Close()
		zw.Close()
		f.Close()
		now := time.Now().UTC()
		if err := s.writeMeta(SnapshotMeta{ID: "snap_bad", Status: SnapshotReady, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		s.now = time.Now
		ws := workspace(t)
		if err := s.Restore(context.Background(), "snap_bad", ws); err == nil {
			t.Errorf("%q: restored", name)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(ws.Dir()), "escape.txt")); err == nil {
			t.Errorf("%q: a file was written outside the workspace", name)
		}
	}
}
