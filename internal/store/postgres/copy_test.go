package postgres_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store/postgres"
	"github.com/hermhq/herm/internal/store/sqlite"
)

// sqliteSource is a SQLite database in a temporary directory holding a
// little of everything, with events events; closed when t ends.
func sqliteSource(t testing.TB, events int) *sqlite.Store {
	t.Helper()
	return sqliteSourceAt(t, filepath.Join(t.TempDir(), "herm.db"), events)
}

// sqliteSourceAt is sqliteSource in the file path.
func sqliteSourceAt(t testing.TB, path string, events int) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	src, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return now.Add(time.Duration(i) * time.Millisecond) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	budget := 12.5
	d := &herm.Deployment{ID: "dep_1", CustomerID: "cus_1", Name: "Agent", Model: "demo/demo", Status: herm.DeploymentReady,
		ThreadID: "thr_1", ConfigVersion: 1, BudgetUSD: &budget, Metadata: map[string]string{"plan": "pro"}, CreatedAt: now, UpdatedAt: now}
	must(src.CreateDeployment(ctx, d, &herm.Thread{ID: "thr_1", DeploymentID: "dep_1", IsDefault: true, CreatedAt: now, LastActivityAt: now}))
	must(src.CreateThread(ctx, &herm.Thread{ID: "thr_2", DeploymentID: "dep_1", Title: "second", CreatedAt: at(1), LastActivityAt: at(1)}))
	must(src.CreateAPIKey(ctx, &herm.APIKey{ID: "key_1", Name: "ci", Scopes: []string{"admin"}, Hash: "abc", Prefix: "herm_sk_a", CreatedAt: now}))
	must(src.CreateSecret(ctx, &herm.Secret{ID: "sec_1", Name: "token", AllowedHosts: []string{"api.example.com"}, Ciphertext: []byte{0, 1, 2, 255}, CreatedAt: now}))
	must(src.CreateWebhook(ctx, &herm.Webhook{ID: "wh_1", URL: "https://hooks.example.com", Events: []string{"run_status"}, Secret: []byte{9, 8, 7}, CreatedAt: now}))
	must(src.PutIdempotency(ctx, &herm.Idempotency{KeyID: "key_1", Key: "k1", RequestHash: "h", StatusCode: 201, ContentType: "application/json", Body: []byte(`{}`), CreatedAt: now}))
	next := at(60_000)
	must(src.CreateAutomation(ctx, &herm.Automation{ID: "auto_1", DeploymentID: "dep_1", Name: "daily", Schedule: "daily at noon", Cron: "0 12 * * *",
		Timezone: "UTC", Instructions: "report", ThreadID: "thr_2", Enabled: true, NextRunAt: &next, CreatedAt: now, UpdatedAt: now}))
	// An agent at version 2 with a session in its hidden deployment.
	agent := &herm.Agent{ID: "agt_1", Name: "helper", Metadata: map[string]string{"team": "x"}, CreatedAt: now, UpdatedAt: now}
	must(src.CreateAgent(ctx, agent, json.RawMessage(`{"instructions":"v1"}`)))
	agent.CurrentVersion, agent.UpdatedAt = 2, at(1)
	must(src.UpdateAgent(ctx, agent, json.RawMessage(`{"instructions":"v2"}`)))
	hidden := &herm.Deployment{ID: "dep_2", Name: "helper", Model: "demo/demo", Status: herm.DeploymentReady, AgentID: "agt_1", UserKey: "user-1", CreatedAt: now, UpdatedAt: now}
	if _, created, err := src.EnsureAgentDeployment(ctx, hidden, &herm.Thread{ID: "thr_3", CreatedAt: now, LastActivityAt: now}); err != nil || !created {
		t.Fatalf("hidden deployment: %v", err)
	}
	must(src.CreateThread(ctx, &herm.Thread{ID: "thr_4", DeploymentID: "dep_2", Title: "session", CreatedAt: at(2), LastActivityAt: at(2)}))
	must(src.CreateSession(ctx, &herm.Session{ID: "sesn_1", AgentID: "agt_1", AgentVersion: 2, UserID: "user-1", Title: "chat",
		DeploymentID: "dep_2", ThreadID: "thr_4", CreatedAt: at(2), UpdatedAt: at(2)}))
	for i, id := range []string{"run_1", "run_2", "run_3"} {
		must(src.CreateRun(ctx, &herm.Run{ID: id, DeploymentID: "dep_1", ThreadID: []string{"thr_1", "thr_2", "thr_1"}[i], Status: herm.RunQueued,
			Trigger: herm.Trigger{Type: "message"}, CreatedAt: at(10 + i)}))
		must(src.CreateMessage(ctx, &herm.Message{ID: fmt.Sprintf("msg_%d", i), DeploymentID: "dep_1", ThreadID: "thr_1", RunID: id, Role: "user",
			Content: "hello ✓", Pending: true, CreatedAt: at(10 + i)}))
	}
	// The old server: run_1 completed, run_2 running under its lease.
	must(src.JoinNode(ctx, "old", "inc", now, now.Add(time.Hour)))
	must(src.OwnEverything(ctx, "old"))
	for range 2 {
		r, err := src.ClaimRun(ctx, "old", at(20), time.Now().Add(time.Hour))
		must(err)
		must(src.AppendStep(ctx, &herm.RunStep{RunID: r.ID, Index: 0, Kind: "input", Data: json.RawMessage(`{"message_id":"x"}`), CreatedAt: at(21)}))
		if r.ID == "run_1" {
			must(src.TakeMessage(ctx, "msg_0", at(21)))
			must(src.CompleteRun(ctx, r.ID, "old", "end_turn", at(22)))
		}
	}
	must(src.CreateSteeringRequest(ctx, &herm.SteeringRequest{ID: "steer_1", DeploymentID: "dep_1", ThreadID: "thr_2", RunID: "run_2", ToolCallID: "c1",
		Kind: "approval", Tool: "shell", Arguments: json.RawMessage(`{}`), Status: "pending", CreatedAt: at(23), ExpiresAt: at(100_000)}))
	const batch = 500
	for i := 0; i < events; i += batch {
		evs := make([]*herm.Event, min(batch, events-i))
		for j := range evs {
			typ := herm.EventToken
			if (i+j)%100 == 0 {
				typ = herm.EventRunStatus // a delivery for the webhook
			}
			evs[j] = &herm.Event{DeploymentID: "dep_1", ThreadID: "thr_1", RunID: "run_1", Type: typ,
				Data: json.RawMessage(fmt.Sprintf(`{"message_id":"msg_0","delta":"word %d "}`, i+j)), CreatedAt: at(30 + i + j)}
		}
		must(src.AppendEvents(ctx, evs))
	}
	// The session's events, numbered in its thread's sequence (dep_1's, a
	// first-generation deployment's, are not).
	sess := make([]*herm.Event, sessionEvents)
	for j := range sess {
		sess[j] = &herm.Event{DeploymentID: "dep_2", ThreadID: "thr_4", Type: []string{herm.EventMessage, herm.EventToken}[min(j, 1)],
			Data: json.RawMessage(fmt.Sprintf(`{"message_id":"msg_9","delta":"word %d "}`, j)), CreatedAt: at(30 + events + j)}
	}
	must(src.AppendEvents(ctx, sess))
	return src
}

// sessionEvents is how many events sqliteSource appends to its session's
// thread, besides the deployment's events it is asked for.
const sessionEvents = 4

// rowsOf returns every row of table in db as text, sorted, without the
// columns in skip.
func rowsOf(t *testing.T, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, table string, skip ...string) []string {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), `SELECT * FROM `+table)
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for i, v := range vals {
			if slices.Contains(skip, cols[i]) {
				continue
			}
			switch x := v.(type) {
			case []byte:
				v = fmt.Sprintf("%q", x)
			case string:
				v = fmt.Sprintf("%q", x)
			}
			parts = append(parts, fmt.Sprintf("%s=%v", cols[i], v))
		}
		out = append(out, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// Every table arrives whole, the sequences go on past the copied values,
// and the old server's nodes, owners and leases are gone.
func TestCopyFrom(t *testing.T) {
	ctx := context.Background()
	src := sqliteSource(t, 1234)
	cfg := schema(t)
	dst := open(t, cfg, nil)
	var rep *postgres.CopyReport
	err := src.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		rep, err = dst.CopyFrom(ctx, tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	counts := map[string]int64{}
	for _, tc := range rep.Tables {
		names = append(names, tc.Name)
		counts[tc.Name] = tc.Rows
	}
	// Parents first.
	pos := func(n string) int { return slices.Index(names, n) }
	for _, fk := range [][2]string{{"deployments", "threads"}, {"threads", "runs"}, {"runs", "run_steps"}, {"runs", "steering_requests"}, {"deployments", "automations"},
		{"agents", "agent_versions"}, {"agents", "deployments"}, {"agent_versions", "sessions"}, {"threads", "sessions"},
		{"threads", "thread_event_seqs"}} {
		if pos(fk[0]) < 0 || pos(fk[0]) > pos(fk[1]) {
			t.Errorf("tables copied in the order %v", names)
		}
	}
	if slices.Contains(names, "nodes") || slices.Contains(names, "schema_migrations") {
		t.Errorf("copied %v", names)
	}
	if counts["events"] != 1234+sessionEvents || counts["runs"] != 3 || counts["webhook_deliveries"] != 13 || counts["api_keys"] != 1 || counts["secrets"] != 1 ||
		counts["agents"] != 1 || counts["agent_versions"] != 2 || counts["sessions"] != 1 || counts["deployments"] != 2 ||
		counts["thread_event_seqs"] != 1 {
		t.Errorf("counts %v", counts)
	}

	pg := stdlib.OpenDB(*cfg)
	defer pg.Close()
	err = src.Tx(ctx, func(tx *sql.Tx) error {
		for _, n := range names {
			var skip []string
			switch n {
			case "deployments":
				skip = []string{"owner"}
			case "runs":
				skip = []string{"lease_expires_at"}
			}
			want, got := rowsOf(t, tx, n, skip...), rowsOf(t, pg, n, skip...)
			if !slices.Equal(want, got) {
				t.Errorf("%s differs:\nsqlite:   %q\npostgres: %q", n, want[:min(3, len(want))], got[:min(3, len(got))])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The old node is gone: nothing owns the deployment, and the running
	// run's lease has ended, so that a new node adopts it and claims it.
	now := time.Now().Add(time.Millisecond)
	if ids, err := dst.AdoptableDeployments(ctx, now, 0); err != nil || !slices.Equal(ids, []string{"dep_1"}) {
		t.Fatalf("adoptable %v %v", ids, err)
	}
	if nodes, err := dst.LiveNodes(ctx, now); err != nil || len(nodes) != 0 {
		t.Fatalf("live nodes %v %v", nodes, err)
	}
	if ok, err := dst.AdoptDeployment(ctx, "dep_1", "new", now); !ok || err != nil {
		t.Fatalf("adopt %v %v", ok, err)
	}
	var claimed []string
	for range 3 {
		r, err := dst.ClaimRun(ctx, "new", now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if r != nil {
			claimed = append(claimed, r.ID)
		}
	}
	if slices.Sort(claimed); !slices.Equal(claimed, []string{"run_2", "run_3"}) {
		t.Fatalf("claimed %v", claimed)
	}

	// Sequences: runs queue after the copied ones; events and deliveries
	// go on.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(dst.CreateRun(ctx, &herm.Run{ID: "run_4", DeploymentID: "dep_1", ThreadID: "thr_2", Status: herm.RunQueued, CreatedAt: now}))
	var seqs []int64
	rows, err := pg.QueryContext(ctx, `SELECT seq FROM runs ORDER BY seq`)
	must(err)
	for rows.Next() {
		var s int64
		must(rows.Scan(&s))
		seqs = append(seqs, s)
	}
	rows.Close()
	if !slices.Equal(seqs, []int64{1, 2, 3, 4}) {
		t.Fatalf("runs.seq %v", seqs)
	}
	ev := &herm.Event{DeploymentID: "dep_1", Type: herm.EventRunStatus, Data: json.RawMessage(`{}`), CreatedAt: now}
	must(dst.AppendEvents(ctx, []*herm.Event{ev}))
	if ev.Seq != 1235 {
		t.Fatalf("new event seq %d", ev.Seq)
	}
	// The session thread's sequence goes on too; a first-generation
	// deployment's threads have none.
	if first, last, err := dst.ThreadEventBounds(ctx, "dep_2", "thr_4"); err != nil || first != 1 || last != sessionEvents {
		t.Fatalf("thread event bounds (%d, %d) %v", first, last, err)
	}
	tok := &herm.Event{DeploymentID: "dep_2", ThreadID: "thr_4", Type: herm.EventToken, Data: json.RawMessage(`{}`), CreatedAt: now}
	must(dst.AppendEvents(ctx, []*herm.Event{tok}))
	if tok.Seq != sessionEvents+1 || tok.ThreadSeq != sessionEvents+1 {
		t.Fatalf("new thread event seq %d, thread seq %d", tok.Seq, tok.ThreadSeq)
	}
	if evs, err := dst.ListThreadEvents(ctx, "dep_2", "thr_4", sessionEvents-1, 0); err != nil || len(evs) != 2 || evs[0].ThreadSeq != sessionEvents || evs[1].Seq != sessionEvents+1 {
		t.Fatalf("thread events after the copy: %d, %v", len(evs), err)
	}
	if first, last, err := dst.ThreadEventBounds(ctx, "dep_1", "thr_1"); err != nil || first != 0 || last != 0 {
		t.Fatalf("first-generation thread event bounds (%d, %d) %v", first, last, err)
	}
	tok = &herm.Event{DeploymentID: "dep_1", ThreadID: "thr_1", Type: herm.EventToken, Data: json.RawMessage(`{}`), CreatedAt: now}
	must(dst.AppendEvents(ctx, []*herm.Event{tok}))
	if tok.Seq != 1236 || tok.ThreadSeq != 0 {
		t.Fatalf("new first-generation event seq %d, thread seq %d", tok.Seq, tok.ThreadSeq)
	}
	ds, err := dst.ListDeliveries(ctx, "wh_1", 0, 100)
	must(err)
	if len(ds) != 14 || ds[0].Seq != 1235 || ds[0].ID <= ds[1].ID {
		t.Fatalf("deliveries %d, newest %+v", len(ds), ds[0])
	}
}

// A destination that holds data is refused, and a copy that fails midway
// leaves nothing behind.
func TestCopyFromRefusals(t *testing.T) {
	ctx := context.Background()
	copyInto := func(src *sqlite.Store, dst *postgres.Store) error {
		return src.Tx(ctx, func(tx *sql.Tx) error {
			_, err := dst.CopyFrom(ctx, tx)
			return err
		})
	}
	exec := func(t *testing.T, src *sqlite.Store, query string) {
		t.Helper()
		if err := src.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, query)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	empty := func(t *testing.T, cfg *pgx.ConnConfig) {
		t.Helper()
		pg := stdlib.OpenDB(*cfg)
		defer pg.Close()
		for _, table := range []string{"api_keys", "deployments", "threads", "messages", "runs", "events"} {
			var n int
			if err := pg.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s: %d rows (%v)", table, n, err)
			}
		}
	}

	t.Run("NotEmpty", func(t *testing.T) {
		cfg := schema(t)
		dst := open(t, cfg, nil)
		if err := dst.CreateAPIKey(ctx, &herm.APIKey{ID: "key_x", Name: "bootstrap", Scopes: []string{"admin"}, Hash: "x", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		err := copyInto(sqliteSource(t, 10), dst)
		if err == nil || !strings.Contains(err.Error(), "already holds data (rows in api_keys)") {
			t.Fatalf("copy into a database with a key: %v", err)
		}
	})

	// A source the copy fails on leaves the destination empty.
	for _, c := range []struct{ name, change, want string }{
		// A value PostgreSQL does not take (a NUL in text), in a table
		// copied after others.
		{"Atomic", `UPDATE messages SET content = 'a' || char(0) || 'b' WHERE id = 'msg_2'`, "copy messages: "},
		{"SchemaDiffers", `ALTER TABLE runs ADD COLUMN priority INTEGER`,
			"table runs differs between the databases (only in the destination: none; only in the source: priority)"},
		{"VersionDiffers", `DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`,
			"migrate both to this program's version first"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := sqliteSource(t, 10)
			exec(t, src, c.change)
			cfg := schema(t)
			if err := copyInto(src, open(t, cfg, nil)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("copy: %v, want %q", err, c.want)
			}
			empty(t, cfg)
		})
	}
}

// BenchmarkCopyFrom copies a SQLite database of 100,000 events (and a few
// rows of every other table) into an empty schema; "s/copy" is the figure.
func BenchmarkCopyFrom(b *testing.B) {
	ctx := context.Background()
	src := sqliteSource(b, 100_000)
	for b.Loop() {
		b.StopTimer()
		dst := open(b, schema(b), nil)
		b.StartTimer()
		err := src.Tx(ctx, func(tx *sql.Tx) error {
			_, err := dst.CopyFrom(ctx, tx)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/copy")
}
