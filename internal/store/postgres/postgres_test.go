package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/postgres"
	"github.com/hermhq/herm/internal/store/storetest"
)

// schema creates a new, empty schema herm_test_<random> on the database of
// HERM_TEST_POSTGRES_URL (t is skipped without it), dropped with everything
// in it when t ends, and returns a connection configuration whose
// search_path is that schema.
func schema(t testing.TB) *pgx.ConnConfig {
	t.Helper()
	url := os.Getenv("HERM_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("HERM_TEST_POSTGRES_URL is not set")
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "herm_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("connect: %v", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = name
	return cfg
}

// open opens a store on cfg, closed when t ends.
func open(t testing.TB, cfg *pgx.ConnConfig, opts *postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.OpenConfig(context.Background(), cfg, opts)
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
		cfg := schema(t)
		return open(t, cfg, nil), func() store.Store { return open(t, cfg, nil) }
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	cfg := schema(t)
	s := open(t, cfg, nil)
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
	again, err := open(t, cfg, nil).SchemaVersion(ctx)
	if err != nil || again != v {
		t.Fatalf("SchemaVersion of another handle = %d, %v; want %d", again, err, v)
	}
}

func TestSkipMigrate(t *testing.T) {
	ctx := t.Context()
	s := open(t, schema(t), &postgres.Options{SkipMigrate: true})
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

func TestOpenBadURL(t *testing.T) {
	for _, url := range []string{"postgres://%zz", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"} {
		if s, err := postgres.Open(t.Context(), url, nil); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded", url)
		}
	}
}

// TestAppendEventsLockOrder appends batches of two deployments, in both
// orders, on two handles at once: deployments are locked in ID order, so
// that none deadlocks, and each deployment's sequence stays contiguous.
func TestAppendEventsLockOrder(t *testing.T) {
	ctx := t.Context()
	cfg := schema(t)
	s1, s2 := open(t, cfg, nil), open(t, cfg, nil)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ids := []string{"dep_a", "dep_b"}
	for _, id := range ids {
		d := &herm.Deployment{ID: id, CustomerID: "cus_1", Status: herm.DeploymentReady, CreatedAt: now, UpdatedAt: now}
		if err := s1.CreateDeployment(ctx, d, &herm.Thread{ID: "thr_" + id, CreatedAt: now, LastActivityAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	const workers, rounds = 4, 50
	var wg sync.WaitGroup
	for w := range workers {
		s := []*postgres.Store{s1, s2}[w%2]
		first, second := ids[w%2], ids[1-w%2]
		wg.Go(func() {
			for range rounds {
				evs := []*herm.Event{
					{DeploymentID: second, Type: herm.EventToken}, {DeploymentID: first, Type: herm.EventToken},
					{DeploymentID: second, Type: herm.EventToken},
				}
				if err := s.AppendEvents(ctx, evs); err != nil {
					t.Errorf("AppendEvents: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		evs, err := s1.ListEvents(ctx, id, 0, 1000, store.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range evs {
			if e.Seq != int64(i+1) {
				t.Fatalf("%s: event %d has seq %d", id, i, e.Seq)
			}
		}
		if want := workers * rounds * 3 / 2; len(evs) != want {
			t.Fatalf("%s: %d events, want %d", id, len(evs), want)
		}
	}
}

// TestOpenURLConcurrently opens a new schema from two handles at once, by a
// URL that names it: both migrate it, once.
func TestOpenURLConcurrently(t *testing.T) {
	name := schema(t).RuntimeParams["search_path"]
	url := os.Getenv("HERM_TEST_POSTGRES_URL")
	if strings.Contains(url, "?") {
		url += "&search_path=" + name
	} else {
		url += "?search_path=" + name
	}
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, 2)
	errs := make([]error, 2)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), url, nil) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("Open: %v", errs[i])
		}
		t.Cleanup(func() { _ = s.Close() })
	}
	v, err := stores[1].SchemaVersion(t.Context())
	if err != nil || v < 1 {
		t.Fatalf("SchemaVersion = %d, %v", v, err)
	}
	c, err := pgx.Connect(t.Context(), os.Getenv("HERM_TEST_POSTGRES_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	var n int
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	// Every migration is recorded, the latest as the schema version
	// (numbers may have gaps between branches).
	var latest int
	if err := c.QueryRow(t.Context(), `SELECT COUNT(*), MAX(version) FROM `+name+`.schema_migrations`).Scan(&n, &latest); err != nil || n != len(files) || latest != v {
		t.Fatalf("migrations recorded in %s = %d (latest %d), %v; want %d (latest %d)", name, n, latest, err, len(files), v)
	}
}

func TestRetentionInChunks(t *testing.T) {
	// More events than one retention statement deletes.
	ctx := t.Context()
	s := open(t, schema(t), nil)
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
