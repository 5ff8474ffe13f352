package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

// migrateCmd runs `herm migrate args...` with env and returns what it
// printed.
func migrateCmd(env map[string]string, args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"migrate"}, args...), func(k string) string { return env[k] }, &out, io.Discard)
	return out.String(), err
}

// eventIDs are a deployment's events as "sequence event_id type".
func eventIDs(s *server, dep string) []string {
	var out []string
	for _, e := range s.allEvents(dep) {
		out = append(out, fmt.Sprintf("%v %v %v", e["sequence"], e["event_id"], e["type"]))
	}
	return out
}

// The upgrade of a single server to a cluster: a SQLite data dir filled by
// a real server (a deployment with a secret and an MCP server, a run, an
// API key, a webhook, an automation) is copied into PostgreSQL by
// `herm migrate --from`, refused while its server runs and into a schema
// that holds data; a server on PostgreSQL with the same data dir then
// replays the events with their sequences, takes the old key, opens the
// secret (the MCP server gets its value), signs webhooks with the old
// signing secret and runs a new message.
func TestMigrateFromSQLite(t *testing.T) {
	sqliteOnly(t)
	t.Parallel()
	pgURL := postgresSchema(t)
	const canary = "upgrade-canary-5e0c1d"

	var mu sync.Mutex
	var gotAuth []string
	srv := mcp.NewServer(&mcp.Implementation{Name: "acme", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "says who you are"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
		mu.Lock()
		gotAuth = append(gotAuth, req.Extra.Header.Get("Authorization"))
		mu.Unlock()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "you are you"}}}, struct{}{}, nil
	})
	mcpSrv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer mcpSrv.Close()
	var hooks []received
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks = append(hooks, received{id: r.Header.Get("webhook-id"), ts: r.Header.Get("webhook-timestamp"), sig: r.Header.Get("webhook-signature"), body: body})
		mu.Unlock()
	}))
	defer endpoint.Close()
	delivered := func(runID string) []received {
		mu.Lock()
		defer mu.Unlock()
		var out []received
		for _, h := range hooks {
			if bytes.Contains(h.body, []byte(`"run_id":"`+runID+`"`)) {
				out = append(out, h)
			}
		}
		return out
	}

	script := llmtest.NewScript(words("Hello", " from SQLite."),
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c1", "acme__whoami", `{}`)}}, words("OK."))
	fake := llmtest.NewOpenAIServer(script)
	defer fake.Close()
	dir := t.TempDir()
	env := map[string]string{"HERM_DATA_DIR": dir, "HERM_DATABASE_URL": "sqlite://" + filepath.Join(dir, "herm.db"),
		"HERM_ALLOW_PRIVATE_NETWORKS": "1", "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.BaseURL(), "HERM_DEFAULT_MODEL": "openai/gpt-test"}

	// The single server on SQLite.
	s1 := startServer(t, env)
	sec := s1.must(201, "POST", "/v1/secrets", map[string]any{"name": "acme", "value": canary, "customer_id": "cus_1", "allowed_hosts": []string{"127.0.0.1"}})["secret_id"].(string)
	hookBody := map[string]any{"url": endpoint.URL, "events": []string{"run_status"}}
	hook := s1.must(201, "POST", "/v1/webhooks", hookBody, "Idempotency-Key", "hook-1")
	dep := s1.createReady(map[string]any{"secrets": map[string]any{"ACME_TOKEN": sec},
		"mcp_servers": []any{map[string]any{"name": "acme", "url": mcpSrv.URL, "headers": map[string]any{"Authorization": "Bearer ${ACME_TOKEN}"}}}})["deployment_id"].(string)
	key := s1.must(201, "POST", "/v1/api_keys", map[string]any{"name": "backend", "scopes": []string{"deployments:read", "deployments:write"}})["key"].(string)
	auto := s1.must(201, "POST", "/v1/deployments/"+dep+"/automations", map[string]any{"name": "Weekly", "schedule": "every Monday at 9am", "instructions": "Report."})["automation_id"].(string)
	first := s1.sendAndWait(dep, "hello")
	if first["status"] != "completed" {
		t.Fatalf("run on SQLite: %v", first)
	}
	waitUntil(t, "the first run's webhook deliveries", func() bool { return len(delivered(str(first["run_id"]))) >= 3 })
	before := eventIDs(s1, dep)

	// Refused while the server uses the data dir.
	pgEnv := map[string]string{"HERM_DATA_DIR": dir, "HERM_DATABASE_URL": pgURL}
	from := "sqlite://" + filepath.Join(dir, "herm.db")
	if _, err := migrateCmd(pgEnv, "--from", from); err == nil || !strings.Contains(err.Error(), "is using data dir") {
		t.Fatalf("copy under a live server: %v", err)
	}
	s1.stop()

	out, err := migrateCmd(pgEnv, "--from", from)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"into PostgreSQL (schema version", "in one transaction", "row counts match"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate --from said %q, without %q", out, want)
		}
	}
	for table, n := range map[string]int{"deployments": 1, "api_keys": 2, "secrets": 1, "webhooks": 1, "automations": 1, "events": len(before),
		"agents": 0, "agent_versions": 0, "sessions": 0} {
		if !regexp.MustCompile(`(?m)^  ` + table + ` +` + fmt.Sprint(n) + `$`).MatchString(out) {
			t.Errorf("migrate --from said %q: not %d rows of %s", out, n, table)
		}
	}
	// Once only.
	if _, err := migrateCmd(pgEnv, "--from="+from); err == nil || !strings.Contains(err.Error(), "the destination already holds data (rows in api_keys, ") {
		t.Fatalf("a second copy: %v", err)
	}

	// A node on PostgreSQL with the same data dir.
	for k, v := range pgEnv {
		env[k] = v
	}
	s2 := startServer(t, env)
	if after := eventIDs(s2, dep); !slices.Equal(after, before) {
		t.Fatalf("events on PostgreSQL:\n%v\nwere on SQLite:\n%v", after, before)
	}
	if r := s2.do("GET", "/v1/deployments/"+dep, nil, "Authorization", "Bearer "+key); r.status != 200 {
		t.Fatalf("the old key: %d %s", r.status, r.body)
	}
	if again := s2.must(201, "POST", "/v1/webhooks", hookBody, "Idempotency-Key", "hook-1"); again["secret"] != hook["secret"] || again["webhook_id"] != hook["webhook_id"] {
		t.Fatalf("the idempotent response stored on SQLite: %v", again)
	}
	if a := s2.must(200, "GET", "/v1/deployments/"+dep+"/automations/"+auto, nil); a["name"] != "Weekly" || a["next_run_at"] == nil {
		t.Fatalf("automation %v", a)
	}
	// `herm migrate --from` is refused while a server uses the schema.
	if _, err := migrateCmd(pgEnv, "--from", from); err == nil || !strings.Contains(err.Error(), "herm servers are using this PostgreSQL schema") {
		t.Fatalf("copy under a live node: %v", err)
	}

	second := s2.sendAndWait(dep, "who am I?")
	if second["status"] != "completed" {
		t.Fatalf("run on PostgreSQL: %v", second)
	}
	mu.Lock()
	if !slices.Equal(gotAuth, []string{"Bearer " + canary}) {
		t.Errorf("the MCP server got Authorization %q", gotAuth)
	}
	mu.Unlock()
	after := eventIDs(s2, dep)
	if len(after) <= len(before) || !slices.Equal(after[:len(before)], before) || !strings.HasPrefix(after[len(before)], fmt.Sprint(len(before)+1)+" ") {
		t.Fatalf("events after a new run: %v", after[len(before)-1:])
	}
	waitUntil(t, "the new run's webhook deliveries", func() bool { return len(delivered(str(second["run_id"]))) >= 3 })
	secret, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(str(hook["secret"]), "whsec_"))
	for _, h := range delivered(str(second["run_id"])) {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(h.id + "." + h.ts + "."))
		m.Write(h.body)
		if h.sig != "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
			t.Errorf("delivery %s is not signed with the webhook's secret", h.id)
		}
	}
}

// A data dir of an older schema version is migrated before it is copied.
func TestMigrateFromOlderSQLite(t *testing.T) {
	sqliteOnly(t)
	t.Parallel()
	pgURL := postgresSchema(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "herm.db")
	s1 := startServer(t, map[string]string{"HERM_DATA_DIR": dir, "HERM_DATABASE_URL": "sqlite://" + db})
	dep := s1.createReady(nil)["deployment_id"].(string)
	if r := s1.sendAndWait(dep, "hello"); r["status"] != "completed" {
		t.Fatalf("run %v", r)
	}
	before := eventIDs(s1, dep)
	s1.stop()

	// Back to version 13: undo 0014_custom_tools.
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	var latest int // the server's schema version, which migrate reaches again
	if err := sdb.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&latest); err != nil || latest < 13 {
		t.Fatalf("schema version %d %v (this test undoes 0013)", latest, err)
	}
	for _, q := range []string{
		// Later migrations first (only versions above the latest recorded
		// are applied): 0021_dreams, 0020_observed, 0019_timezone, 0018_thread_seq,
		// 0017_agents, 0016_model_settings, 0015_run_output, 0014_custom_tools.
		`DROP TABLE dreams`, `ALTER TABLE deployments DROP COLUMN dreamed_at`, `DELETE FROM schema_migrations WHERE version = 21`,
		`DROP INDEX runs_unobserved`, `ALTER TABLE runs DROP COLUMN observed`, `DELETE FROM schema_migrations WHERE version = 20`,
		`ALTER TABLE deployments DROP COLUMN timezone`, `DELETE FROM schema_migrations WHERE version = 19`,
		`DROP INDEX events_thread_seq`, `ALTER TABLE events DROP COLUMN thread_seq`, `DROP TABLE thread_event_seqs`, `DELETE FROM schema_migrations WHERE version = 18`,
		`DROP TABLE sessions`, `DROP INDEX deployments_agent_user`, `ALTER TABLE deployments DROP COLUMN user_key`,
		`ALTER TABLE deployments DROP COLUMN agent_id`, `DROP TABLE agent_versions`, `DROP TABLE agents`, `DELETE FROM schema_migrations WHERE version = 17`,
		`ALTER TABLE deployments DROP COLUMN model_settings`, `DELETE FROM schema_migrations WHERE version = 16`,
		`ALTER TABLE runs DROP COLUMN output`, `ALTER TABLE runs DROP COLUMN output_schema`, `DELETE FROM schema_migrations WHERE version = 15`,
		`ALTER TABLE deployments DROP COLUMN custom_tools`, `DELETE FROM schema_migrations WHERE version = 14`,
		`DROP INDEX deployments_owner`, `ALTER TABLE deployments DROP COLUMN owner`,
		`ALTER TABLE automations DROP COLUMN version`, `DROP TABLE nodes`, `DELETE FROM schema_migrations WHERE version = 13`} {
		if _, err := sdb.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	sdb.Close()

	env := map[string]string{"HERM_DATA_DIR": dir, "HERM_DATABASE_URL": pgURL}
	out, err := migrateCmd(env, "--from", "sqlite://"+db)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, fmt.Sprintf("from schema version 12 to %d\n", latest)) || !strings.Contains(out, fmt.Sprintf("(schema version %d)", latest)) {
		t.Fatalf("migrate --from said %q", out)
	}
	s2 := startServer(t, env)
	if after := eventIDs(s2, dep); !slices.Equal(after, before) {
		t.Fatalf("events on PostgreSQL %v, were %v", after, before)
	}
	if r := s2.sendAndWait(dep, "again"); r["status"] != "completed" {
		t.Fatalf("run on PostgreSQL: %v", r)
	}
}

// The flag's forms and mistakes.
func TestMigrateFromUsage(t *testing.T) {
	for _, c := range []struct {
		args       []string
		from, rest string
	}{
		{[]string{"--from", "sqlite://a.db"}, "sqlite://a.db", ""},
		{[]string{"-from=sqlite://a.db", "--data-dir", "d"}, "sqlite://a.db", "--data-dir d"},
		{[]string{"--data-dir", "--from", "--from", "x"}, "x", "--data-dir --from"},
		{[]string{"-h"}, "", "-h"},
	} {
		from, rest, err := fromFlag(c.args)
		if err != nil || from != c.from || strings.Join(rest, " ") != c.rest {
			t.Errorf("%q: %q %q %v", c.args, from, rest, err)
		}
	}
	env := map[string]string{"HERM_DATA_DIR": t.TempDir()}
	out, err := migrateCmd(env, "-h")
	if err != nil || !strings.Contains(out, "-from string\n") || !strings.Contains(out, "-data-dir string\n") {
		t.Fatalf("migrate -h: %q %v", out, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from"}, "flag needs an argument"},
		{[]string{"--from", "/x/herm.db"}, "--from must be sqlite://path"},
		{[]string{"--from", "sqlite://" + filepath.Join(env["HERM_DATA_DIR"], "nothing.db")}, "set HERM_DATABASE_URL"},
		{[]string{"--from", "sqlite://" + filepath.Join(env["HERM_DATA_DIR"], "nothing.db"), "--database-url", "postgres://127.0.0.1:1/x"}, "no such file"},
		{[]string{"--bogus"}, "-from string"},
	} {
		if _, err := migrateCmd(env, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
}
