package main

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// postgresSchema returns the URL of a fresh schema of the test database
// (dropped after the test), or skips without HERM_TEST_POSTGRES_URL.
func postgresSchema(t *testing.T) string {
	t.Helper()
	return postgresSchemaNamed(t, fmt.Sprintf("herm_e2e_%d", rand.Uint64()>>1))
}

// postgresSchemaFor is the schema of a data dir: a server restarted on the
// same data dir finds its database again.
func postgresSchemaFor(t *testing.T, dataDir string) string {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(dataDir))
	return postgresSchemaNamed(t, fmt.Sprintf("herm_e2e_%d", h.Sum64()>>1))
}

func postgresSchemaNamed(t *testing.T, schema string) string {
	t.Helper()
	raw := os.Getenv("HERM_TEST_POSTGRES_URL")
	if raw == "" {
		t.Skip("HERM_TEST_POSTGRES_URL is not set: no PostgreSQL to test against")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), raw)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// sqliteOnly skips a test of SQLite's own files when the end-to-end suite
// runs on PostgreSQL.
func sqliteOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("HERM_TEST_E2E_POSTGRES") == "1" {
		t.Skip("a test of the SQLite data dir; the suite runs on PostgreSQL")
	}
}

// The server on PostgreSQL: a deployment, a run, its events in sequence;
// `herm migrate` on the same database, refused while a server runs.
func TestServeOnPostgres(t *testing.T) {
	t.Parallel()
	dbURL := postgresSchema(t)
	s := startServer(t, map[string]string{"HERM_DATABASE_URL": dbURL})
	id := s.createReady(nil)["deployment_id"].(string)
	r := s.sendAndWait(id, "Hello on PostgreSQL")
	if r["status"] != "completed" {
		t.Fatalf("run %v", r)
	}
	page := s.must(200, "GET", "/v1/deployments/"+id+"/events?after=evt_0&limit=1000", nil, "Accept", "application/json")
	var types []string
	for i, e := range page["data"].([]any) {
		ev := e.(map[string]any)
		if ev["sequence"] != float64(i+1) {
			t.Fatalf("event %d has sequence %v", i+1, ev["sequence"])
		}
		types = append(types, ev["type"].(string))
	}
	if !strings.Contains(strings.Join(types, ","), "message") || !strings.Contains(strings.Join(types, ","), "token") {
		t.Fatalf("events %v", types)
	}

	// herm migrate is refused while a server uses the schema (it holds the
	// schema's lock shared, as every node of a cluster does).
	env := map[string]string{"HERM_DATA_DIR": t.TempDir(), "HERM_DATABASE_URL": dbURL}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, getenv, &out, io.Discard); err == nil || !strings.Contains(err.Error(), "herm servers are using this PostgreSQL schema") {
		t.Fatalf("migrate under a live server: %v", err)
	}
	// It answers for PostgreSQL once the server stopped.
	s.stop()
	out.Reset()
	if err := run(context.Background(), []string{"migrate"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^database PostgreSQL is at schema version [1-9][0-9]*\n$`).MatchString(out.String()) {
		t.Fatalf("migrate said %q", out.String())
	}
}

// TestSuiteOnPostgres runs this package's end-to-end tests again with
// every in-process server on PostgreSQL (a schema per data dir), so that
// the whole API is exercised on both stores. The crash tests' servers (a
// built binary) stay on SQLite.
func TestSuiteOnPostgres(t *testing.T) {
	if os.Getenv("HERM_TEST_E2E_POSTGRES") == "1" {
		t.Skip("this is the run on PostgreSQL")
	}
	if os.Getenv("HERM_TEST_POSTGRES_URL") == "" {
		t.Skip("HERM_TEST_POSTGRES_URL is not set: no PostgreSQL to test against")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	cmd := exec.Command(os.Args[0], "-test.run", ".", "-test.skip", "^(TestSuiteOnPostgres|TestCluster|TestKill9.*|TestCrash.*)$", "-test.timeout", "8m")
	cmd.Env = append(os.Environ(), "HERM_TEST_E2E_POSTGRES=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(string(out), "\n")
		t.Fatalf("the end-to-end tests on PostgreSQL failed: %v\n%s", err, strings.Join(lines[max(0, len(lines)-80):], "\n"))
	}
}
