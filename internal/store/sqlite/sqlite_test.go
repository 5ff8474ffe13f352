package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/sqlite"
	"github.com/hermhq/herm/internal/store/storetest"
)

// open opens a store on a new file in t's temporary directory.
func open(t testing.TB, path string, opts *sqlite.Options) *sqlite.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "herm.db")
	}
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (store.Store, func() store.Store) {
		path := filepath.Join(t.TempDir(), "herm.db")
		return open(t, path, nil), func() store.Store { return open(t, path, nil) }
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "herm.db")
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v < 1 {
		t.Fatalf("SchemaVersion = %d after Open", v)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, nil)
	again, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again != v {
		t.Fatalf("SchemaVersion after reopen = %d, want %d", again, v)
	}
}

func TestSkipMigrate(t *testing.T) {
	ctx := t.Context()
	s := open(t, "", &sqlite.Options{SkipMigrate: true})
	if v, err := s.SchemaVersion(ctx); err != nil || v != 0 {
		t.Fatalf("SchemaVersion of a new database = %d, %v; want 0", v, err)
	}
	if err := s.AppendEvents(ctx, []*herm.Event{{DeploymentID: "dep_1", Type: herm.EventToken}}); err == nil {
		t.Fatal("AppendEvents before Migrate succeeded")
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v < 1 {
		t.Fatalf("SchemaVersion after Migrate = %d, %v", v, err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "herm.db")
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	d := &herm.Deployment{ID: "dep_1", CustomerID: "cus_1", Name: "n", Status: herm.DeploymentReady, CreatedAt: now, UpdatedAt: now}
	th := &herm.Thread{ID: "thr_1", Title: herm.DefaultThreadTitle, CreatedAt: now, LastActivityAt: now}
	if err := s.CreateDeployment(ctx, d, th); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEvents(ctx, []*herm.Event{{DeploymentID: d.ID, Type: herm.EventToken}, {DeploymentID: d.ID, Type: herm.EventToken}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, nil)
	got, err := s.GetDeployment(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != d.Name || !got.CreatedAt.Equal(now) {
		t.Fatalf("after reopen: %+v", got)
	}
	first, last, err := s.EventBounds(ctx, d.ID)
	if err != nil || first != 1 || last != 2 {
		t.Fatalf("EventBounds after reopen = %d, %d, %v", first, last, err)
	}
	evs := []*herm.Event{{DeploymentID: d.ID, Type: herm.EventToken}}
	if err := s.AppendEvents(ctx, evs); err != nil || evs[0].Seq != 3 {
		t.Fatalf("append after reopen: seq %d, %v", evs[0].Seq, err)
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", "a?b.db", filepath.Join(t.TempDir(), "missing", "dir", "x.db")} {
		if s, err := sqlite.Open(t.Context(), path, nil); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

func TestRetentionInChunks(t *testing.T) {
	// More events than one retention statement deletes.
	ctx := t.Context()
	s := open(t, "", nil)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, id := range []string{"dep_1", "dep_2"} {
		d := &herm.Deployment{ID: id, CustomerID: "cus_1", Status: herm.DeploymentReady, CreatedAt: now, UpdatedAt: now}
		if err := s.CreateDeployment(ctx, d, &herm.Thread{ID: "thr_" + id, CreatedAt: now, LastActivityAt: now}); err != nil {
			t.Fatal(err)
		}
		evs := make([]*herm.Event, 6001)
		for i := range evs {
			evs[i] = &herm.Event{DeploymentID: id, Type: herm.EventToken, CreatedAt: now.Add(time.Duration(i) * time.Millisecond)}
		}
		if err := s.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteEventsBefore(ctx, now.Add(6000*time.Millisecond))
	if err != nil || n != 12000 {
		t.Fatalf("DeleteEventsBefore = %d, %v; want 12000", n, err)
	}
	for _, id := range []string{"dep_1", "dep_2"} {
		first, last, err := s.EventBounds(ctx, id)
		if err != nil || first != 6001 || last != 6001 {
			t.Fatalf("EventBounds(%s) = %d, %d, %v; want 6001, 6001", id, first, last, err)
		}
	}
}
