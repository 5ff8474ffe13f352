package runner_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/runner"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/postgres"
	"github.com/hermhq/herm/internal/store/sqlite"
	"github.com/hermhq/herm/internal/tools"
)

// backends are the stores a benchmark runs on: SQLite always, PostgreSQL
// on the database of HERM_TEST_POSTGRES_URL (skipped without it), in a
// schema of its own dropped when the benchmark ends.
var backends = []struct {
	name string
	open func(tb testing.TB) store.Store
}{
	{"sqlite", func(tb testing.TB) store.Store {
		st, err := sqlite.Open(context.Background(), tb.TempDir()+"/herm.db", nil)
		if err != nil {
			tb.Fatal(err)
		}
		return st
	}},
	{"postgres", openPostgres},
}

func openPostgres(tb testing.TB) store.Store {
	tb.Helper()
	url := os.Getenv("HERM_TEST_POSTGRES_URL")
	if url == "" {
		tb.Skip("HERM_TEST_POSTGRES_URL is not set")
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "herm_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	exec := func(query string) error {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, query)
		return err
	}
	if err := exec(`CREATE SCHEMA ` + name); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() { // after the env's cleanup has closed the store
		if err := exec(`DROP SCHEMA ` + name + ` CASCADE`); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
	})
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = name
	st, err := postgres.OpenConfig(ctx, cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// newEnvOn is newEnvWith on the store st (closed when tb ends), with the
// echo tool only and the default agent options.
func newEnvOn(tb testing.TB, st store.Store) *env {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	elog := eventlog.New(st, logger, eventlog.Options{})
	script := llmtest.NewScript()
	echo := &echoTool{}
	ids := herm.NewIDGen(nil)
	mods := &models{p: llmtest.Provider{Script: script}}
	aopts := agent.Options{MaxSteps: 10}
	ag := agent.New(st, elog, mods, tools.NewCatalog(tools.NewRegistry(echo), tools.CatalogOptions{}), ids, nil, logger, aopts)
	rn := runner.New(st, elog, ag, ids, nil, logger, runner.Options{Poll: 20 * time.Millisecond})
	e := &env{models: mods, t: tb, store: st, log: elog, runner: rn, script: script, echo: echo, ids: ids, logger: logger, aopts: aopts}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rn.Stop(ctx)
		elog.Close()
		st.Close()
	})
	e.dep = e.newDeployment()
	return e
}

// idle adds n ready deployments owned by the runner's node, without work,
// in one transaction.
func (e *env) idle(n int) {
	e.t.Helper()
	now := time.Now().UTC()
	err := e.store.InTx(context.Background(), func(q store.Querier) error {
		for range n {
			d := &herm.Deployment{ID: e.ids.New(herm.PrefixDeployment), CustomerID: "cus_idle", Name: "idle", Runtime: "hermes",
				Model: "test/model", Owner: e.runner.Owner(), Status: herm.DeploymentReady, ConfigVersion: 1, CreatedAt: now, UpdatedAt: now}
			th := &herm.Thread{ID: e.ids.New(herm.PrefixThread), DeploymentID: d.ID, Title: "Default", IsDefault: true, CreatedAt: now, LastActivityAt: now}
			d.ThreadID = th.ID
			if err := q.CreateDeployment(context.Background(), d, th); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}
