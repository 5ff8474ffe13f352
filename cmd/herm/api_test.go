package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// TestQuickstartOverHTTP is the hosted API's quickstart, done with plain HTTP
// against a fresh server: exact paths, fields and event names.
func TestQuickstartOverHTTP(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	d := s.must(201, "POST", "/v1/deployments", map[string]any{
		"customer_id": "cus_quickstart", "name": "Acme Creative Agent", "system_prompt": "You are a creative assistant.",
	})
	wantKeys := []string{"deployment_id", "customer_id", "name", "runtime", "model", "status", "system_prompt", "sandbox",
		"mcp_servers", "skills", "secrets", "features", "tools", "metadata", "budget_usd", "thread_id", "config_version",
		"filesystem", "events", "error", "created_at", "updated_at"}
	for _, k := range wantKeys {
		if _, ok := d[k]; !ok {
			t.Errorf("deployment lacks %q", k)
		}
	}
	if d["status"] != "provisioning" && d["status"] != "ready" {
		t.Fatalf("status %v", d["status"])
	}
	id := d["deployment_id"].(string)
	if !strings.HasPrefix(id, "dep_") || !strings.HasPrefix(d["thread_id"].(string), "thr_") {
		t.Fatalf("ids %v %v", id, d["thread_id"])
	}
	if d["runtime"] != "hermes" || d["model"] != "demo/demo" || d["config_version"] != 1.0 {
		t.Fatalf("defaults: %v", d)
	}
	ev := d["events"].(map[string]any)
	if ev["transport"] != "sse" || ev["url"] != s.url+"/v1/deployments/"+id+"/events" {
		t.Fatalf("events %v", ev)
	}
	f := d["features"].(map[string]any)
	// The contract's defaults (dreaming is off, and not built).
	if f["memory"] != true || f["dreaming"] != false || f["automations"] != true || f["steering"] != true || f["filesystem_webhooks"] != false {
		t.Fatalf("features %v", f)
	}
	waitUntil(t, "the deployment to be provisioned", func() bool {
		if d["status"] == "provisioning" {
			d = s.must(200, "GET", "/v1/deployments/"+id, nil)
		}
		return d["status"] != "provisioning"
	})
	if d["status"] != "ready" || d["error"] != nil {
		t.Fatalf("deployment %v", d)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "workspaces", id)); err != nil {
		t.Fatalf("workspace not prepared: %v", err)
	}

	st := s.openStream("/v1/deployments/" + id + "/events")
	if st.first != "retry: 2000" {
		t.Fatalf("first line %q", st.first)
	}
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "Give me five ad ideas"})
	runID := sent["run_id"].(string)
	if sent["deployment_id"] != id || sent["thread_id"] != d["thread_id"] || sent["steered"] != false || !strings.HasPrefix(runID, "run_") {
		t.Fatalf("send response %v", sent)
	}
	evs := st.until(t, runEnded(runID))
	got := types(evs)
	if evs[len(evs)-1].data["status"] != "completed" {
		t.Fatalf("run did not complete: %v", got)
	}
	for _, want := range []string{"token", "message", "usage", "run_status:running"} {
		if !slices.Contains(got, want) {
			t.Fatalf("no %s event in %v", want, got)
		}
	}
	var text strings.Builder
	prev := int64(0)
	for _, e := range evs {
		for _, k := range []string{"event_id", "sequence", "type", "deployment_id", "thread_id", "run_id", "created_at"} {
			if _, ok := e.data[k]; !ok {
				t.Fatalf("%s payload lacks %s: %v", e.typ, k, e.data)
			}
		}
		seq := int64(e.data["sequence"].(float64))
		if e.id != fmt.Sprintf("evt_%d", seq) || e.data["event_id"] != e.id || e.data["type"] != e.typ {
			t.Fatalf("frame id %q, payload %v", e.id, e.data)
		}
		if prev != 0 && seq != prev+1 {
			t.Fatalf("sequence jumps from %d to %d", prev, seq)
		}
		prev = seq
		if e.typ == "token" {
			text.WriteString(e.data["delta"].(string))
		}
	}
	if !strings.HasPrefix(text.String(), "[demo model]") {
		t.Fatalf("demo output not labelled: %q", text.String())
	}

	th := s.must(200, "GET", "/v1/deployments/"+id+"/threads/"+d["thread_id"].(string), nil)
	msgs := th["messages"].([]any)
	if len(msgs) != 2 || th["message_count"] != 2.0 || th["status"] != "idle" || th["title"] != "Default" {
		t.Fatalf("thread %v", th)
	}
	agent := msgs[1].(map[string]any)
	if agent["role"] != "agent" || agent["run_id"] != runID || agent["content"] != text.String() {
		t.Fatalf("agent message %v (streamed %q)", agent, text.String())
	}
	run := s.must(200, "GET", "/v1/deployments/"+id+"/runs/"+runID, nil)
	usage := run["usage"].(map[string]any)
	if run["status"] != "completed" || run["stop_reason"] != "end_turn" || run["config_version"] != 1.0 || usage["model_calls"] != 1.0 || run["trigger"].(map[string]any)["type"] != "message" {
		t.Fatalf("run %v", run)
	}
	list := s.must(200, "GET", "/v1/deployments/"+id+"/runs?status=completed", nil)
	if len(list["data"].([]any)) != 1 || list["next_cursor"] != nil {
		t.Fatalf("runs list %v", list)
	}
}

// TestReplayFromEveryEvent reconnects at every event id and checks that
// exactly the events after it come back, then live ones.
func TestReplayFromEveryEvent(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "hello"})
	s.waitRun(id, sent["run_id"].(string), "completed")

	page := s.must(200, "GET", "/v1/deployments/"+id+"/events?limit=1000", nil, "Accept", "application/json")
	all := page["data"].([]any)
	if len(all) < 6 || page["next_cursor"] != nil {
		t.Fatalf("event page: %d events, cursor %v", len(all), page["next_cursor"])
	}
	// A live stream's first frame is its position.
	if got, want := firstID(t, s, "/v1/deployments/"+id+"/events"), all[len(all)-1].(map[string]any)["event_id"]; got != want {
		t.Fatalf("the live stream starts at %q, want %q", got, want)
	}
	for i, e := range all {
		if e.(map[string]any)["sequence"] != float64(i+1) {
			t.Fatalf("page item %d: %v", i, e)
		}
	}
	n := len(all)
	for k := 0; k < n; k++ {
		st := s.openStream("/v1/deployments/"+id+"/events", "Last-Event-ID", fmt.Sprintf("evt_%d", k))
		evs := st.until(t, func(e sseEvent) bool { return e.data["sequence"] == float64(n) })
		if len(evs) != n-k || evs[0].data["sequence"] != float64(k+1) {
			t.Fatalf("replay after evt_%d: got %d events starting at %v", k, len(evs), evs[0].data["sequence"])
		}
		st.close()
	}
	// after= works the same; then the stream continues live.
	st := s.openStream(fmt.Sprintf("/v1/deployments/%s/events?after=evt_%d", id, n-1))
	st.until(t, func(e sseEvent) bool { return e.data["sequence"] == float64(n) })
	sent = s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "again"})
	live := st.until(t, runEnded(sent["run_id"].(string)))
	if live[0].data["sequence"] != float64(n+1) {
		t.Fatalf("live continues at %v, want %d", live[0].data["sequence"], n+1)
	}

	// Filters.
	st2 := s.openStream("/v1/deployments/"+id+"/events?types=run_status,message", "Last-Event-ID", "evt_0")
	fl := st2.until(t, runEnded(sent["run_id"].(string)))
	for _, e := range fl {
		if e.typ != "run_status" && e.typ != "message" {
			t.Fatalf("filtered stream sent %s", e.typ)
		}
	}
	st3 := s.openStream("/v1/deployments/"+id+"/events?run_id="+sent["run_id"].(string), "Last-Event-ID", "evt_0")
	for _, e := range st3.until(t, runEnded(sent["run_id"].(string))) {
		if e.data["run_id"] != sent["run_id"] {
			t.Fatalf("run filter let %v through", e.data)
		}
	}
	// A JSON page in the middle.
	mid := s.must(200, "GET", "/v1/deployments/"+id+"/events?after=evt_2&limit=3", nil, "Accept", "application/json")
	if items := mid["data"].([]any); len(items) != 3 || items[0].(map[string]any)["sequence"] != 3.0 || mid["next_cursor"] != "evt_5" {
		t.Fatalf("page %v", mid)
	}
}

func TestCursorExpired(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "hello"})
	s.waitRun(id, sent["run_id"].(string), "completed")
	// Retention removes everything so far.
	if _, err := s.app.store.DeleteEventsBefore(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := s.do("GET", "/v1/deployments/"+id+"/events", nil, "Last-Event-ID", "evt_1", "Accept", "text/event-stream")
	if r.status != 410 || r.errCode(t) != "cursor_expired" {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	r = s.do("GET", "/v1/deployments/"+id+"/events?after=evt_1", nil, "Accept", "application/json")
	if r.status != 410 || r.errCode(t) != "cursor_expired" {
		t.Fatalf("page: status %d %s", r.status, r.body)
	}
	r = s.do("GET", "/v1/deployments/"+id+"/events?after=evt_99999", nil, "Accept", "application/json")
	if r.status != 400 || r.errCode(t) != "validation_error" {
		t.Fatalf("cursor past the end: status %d %s", r.status, r.body)
	}
	// Without a cursor the stream is live only: what retention removed
	// does not matter.
	st := s.openStream("/v1/deployments/" + id + "/events")
	defer st.close()
	sent = s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "again"})
	if evs := st.until(t, runEnded(sent["run_id"].(string))); len(evs) == 0 {
		t.Fatal("no live events after retention")
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	readKey := s.must(201, "POST", "/v1/api_keys", map[string]any{"name": "reader", "scopes": []string{"deployments:read"}})["key"].(string)
	big := `{"customer_id":"c","name":"n","system_prompt":"` + strings.Repeat("x", 1<<20) + `"}`
	cases := []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		code, mentions     string
	}{
		{"no key", "GET", "/v1/deployments", nil, []string{"Authorization", ""}, 401, "unauthorized", "API key"},
		{"bad key", "GET", "/v1/deployments", nil, []string{"Authorization", "Bearer nope"}, 401, "unauthorized", "invalid"},
		{"missing scope", "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p"}, []string{"Authorization", "Bearer " + readKey}, 403, "forbidden", "deployments:write"},
		{"admin scope", "GET", "/v1/api_keys", nil, []string{"Authorization", "Bearer " + readKey}, 403, "forbidden", "admin"},
		{"unknown deployment", "GET", "/v1/deployments/dep_nope", nil, nil, 404, "not_found", "deployment"},
		{"unknown feature", "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "features": map[string]any{"dreams": true}}, nil, 400, "validation_error", "unknown feature \"dreams\""},
		{"unknown feature (patch)", "PATCH", "/v1/deployments/" + id, map[string]any{"features": map[string]any{"dreaming_reviews": true}}, nil, 400, "validation_error", "dreaming_review"},
		{"ephemeral workspace not built", "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "sandbox": map[string]any{"persistent_filesystem": false}}, nil, 400, "validation_error", "persistent_filesystem"},
		{"MCP header without its secret", "PATCH", "/v1/deployments/" + id, map[string]any{"mcp_servers": []any{map[string]any{"name": "acme", "url": "https://mcp.example.com", "headers": map[string]any{"Authorization": "Bearer ${ACME_TOKEN}"}}}}, nil, 422, "invalid_secret_ref", "ACME_TOKEN"},
		{"foreign cursor", "GET", "/v1/deployments?cursor=garbage", nil, nil, 400, "validation_error", "cursor"},
		{"nested null", "PATCH", "/v1/deployments/" + id, map[string]any{"sandbox": map[string]any{"network": map[string]any{"egress": nil}}}, nil, 400, "validation_error", "sandbox.network.egress cannot be null"},
		{"null name", "PATCH", "/v1/deployments/" + id, map[string]any{"name": nil}, nil, 400, "validation_error", "name cannot be null"},
		{"unknown field in patch", "PATCH", "/v1/deployments/" + id, map[string]any{"nmae": "x"}, nil, 400, "validation_error", "nmae"},
		{"wrong type in patch", "PATCH", "/v1/deployments/" + id, map[string]any{"name": 3}, nil, 400, "validation_error", "name must be a string"},
		{"MCP server name that cannot prefix tools", "PATCH", "/v1/deployments/" + id, map[string]any{"mcp_servers": []any{map[string]any{"name": "srv_", "url": "https://mcp.example.com"}}}, nil, 400, "validation_error", "must not contain"},
		{"tool not built", "PATCH", "/v1/deployments/" + id, map[string]any{"tools": map[string]any{"web_search": map[string]any{"enabled": true}}}, nil, 400, "validation_error", "tools.web_search"},
		{"unknown thread", "GET", "/v1/deployments/" + id + "/threads/thr_nope", nil, nil, 404, "not_found", "thread"},
		{"unknown run", "GET", "/v1/deployments/" + id + "/runs/run_nope", nil, nil, 404, "not_found", "run"},
		{"unknown path", "GET", "/v1/nope", nil, nil, 404, "not_found", "/v1/nope"},
		{"wrong method", "PUT", "/v1/deployments", nil, nil, 405, "validation_error", "PUT"},
		{"malformed json", "POST", "/v1/deployments", `{"customer_id":`, nil, 400, "validation_error", "JSON"},
		{"not an object", "POST", "/v1/deployments", `[1]`, nil, 400, "validation_error", "object"},
		{"unknown field", "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "colour": 1}, nil, 400, "validation_error", "colour"},
		{"wrong type", "POST", "/v1/deployments", map[string]any{"customer_id": 5, "name": "n", "system_prompt": "p"}, nil, 400, "validation_error", "customer_id"},
		{"missing field", "POST", "/v1/deployments", map[string]any{"name": "n", "system_prompt": "p"}, nil, 400, "validation_error", "customer_id"},
		{"long name", "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": strings.Repeat("n", 201), "system_prompt": "p"}, nil, 400, "validation_error", "name"},
		{"unknown provider", "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "model": "nope/x"}, nil, 400, "validation_error", "demo"},
		{"bad sandbox type", "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "sandbox": map[string]any{"type": "vm"}}, nil, 400, "validation_error", "local"},
		{"bad mcp name", "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "mcp_servers": []any{map[string]any{"name": "Bad!", "url": "https://x.example"}}}, nil, 400, "validation_error", "mcp_servers[0].name"},
		{"too large", "POST", "/v1/deployments", big, nil, 413, "validation_error", "limit"},
		{"too large idempotent", "POST", "/v1/deployments", big, []string{"Idempotency-Key", "big"}, 413, "validation_error", "limit"},
		{"empty content", "POST", "/v1/deployments/" + id + "/messages", map[string]any{"content": ""}, nil, 400, "validation_error", "content"},
		{"bad mode", "POST", "/v1/deployments/" + id + "/messages", map[string]any{"content": "x", "mode": "shout"}, nil, 400, "validation_error", "mode"},
		{"unknown thread message", "POST", "/v1/deployments/" + id + "/messages", map[string]any{"content": "x", "thread_id": "thr_nope"}, nil, 404, "not_found", "thread"},
		{"too many attachments", "POST", "/v1/deployments/" + id + "/messages", map[string]any{"content": "x", "attachments": []any{
			map[string]any{"type": "file", "url": "https://x.example/1"}, map[string]any{"type": "file", "url": "https://x.example/2"}, map[string]any{"type": "file", "url": "https://x.example/3"},
			map[string]any{"type": "file", "url": "https://x.example/4"}, map[string]any{"type": "file", "url": "https://x.example/5"}, map[string]any{"type": "file", "url": "https://x.example/6"},
			map[string]any{"type": "file", "url": "https://x.example/7"}, map[string]any{"type": "file", "url": "https://x.example/8"}, map[string]any{"type": "file", "url": "https://x.example/9"},
			map[string]any{"type": "file", "url": "https://x.example/10"}, map[string]any{"type": "file", "url": "https://x.example/11"}}}, nil, 400, "validation_error", "attachments"},
		{"bad limit", "GET", "/v1/deployments?limit=0", nil, nil, 400, "validation_error", "limit"},
		{"bad status filter", "GET", "/v1/deployments?status=sleeping", nil, nil, 400, "validation_error", "status"},
		{"bad event type", "GET", "/v1/deployments/" + id + "/events?types=tokens", nil, []string{"Accept", "application/json"}, 400, "validation_error", "tokens"},
		{"bad cursor", "GET", "/v1/deployments/" + id + "/events?after=xyz", nil, []string{"Accept", "application/json"}, 400, "validation_error", "after"},
		{"immutable customer", "PATCH", "/v1/deployments/" + id, map[string]any{"customer_id": "other"}, nil, 400, "validation_error", "customer_id"},
		{"immutable sandbox type", "PATCH", "/v1/deployments/" + id, map[string]any{"sandbox": map[string]any{"type": "docker"}}, nil, 400, "validation_error", "sandbox.type"},
		{"default thread delete", "DELETE", "/v1/deployments/" + id + "/threads/" + d["thread_id"].(string), nil, nil, 409, "conflict", "default"},
		{"bad retain filesystem", "DELETE", "/v1/deployments/" + id + "?retain_filesystem=maybe", nil, nil, 400, "validation_error", "retain_filesystem"},
		{"unknown snapshot", "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "restore_snapshot_id": "snap_nope"}, nil, 400, "validation_error", "restore_snapshot_id"},
		{"restore on update", "PATCH", "/v1/deployments/" + id, map[string]any{"restore_snapshot_id": "snap_nope"}, nil, 400, "validation_error", "restore_snapshot_id"},
		{"negative budget", "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "budget_usd": -5}, nil, 400, "validation_error", "budget_usd"},
		{"bad scope", "POST", "/v1/api_keys", map[string]any{"name": "k", "scopes": []string{"root"}}, nil, 400, "validation_error", "root"},
		{"long idempotency key", "POST", "/v1/deployments/" + id + "/threads", map[string]any{}, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "validation_error", "Idempotency-Key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.do(c.method, c.path, c.body, c.headers...)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if code := r.errCode(t); code != c.code {
				t.Fatalf("code %q, want %q", code, c.code)
			}
			if msg := r.json(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, c.mentions) {
				t.Fatalf("message %q does not mention %q", msg, c.mentions)
			}
		})
	}
	// Bad input left what was stored intact.
	again := s.must(200, "GET", "/v1/deployments/"+id, nil)
	if again["config_version"] != 1.0 || again["customer_id"] != "cus_1" {
		t.Fatalf("deployment changed by rejected requests: %v", again)
	}
	// Turning off a tool this server lacks is accepted (a hosted client may
	// do it), enabling it is not.
	s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"tools": map[string]any{"web_search": map[string]any{"enabled": false}}})
	s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"tools": map[string]any{"web_search": nil}})
	if got := s.must(200, "PATCH", "/v1/deployments/"+id+"/tools/browser", map[string]any{"enabled": false}); got["enabled"] != false {
		t.Fatalf("disabling the browser tool: %v", got)
	}
	if r := s.do("PATCH", "/v1/deployments/"+id+"/tools/browser", map[string]any{"enabled": true}); r.status != 400 || !strings.Contains(string(r.body), "not available") {
		t.Fatalf("enabling the browser tool: %d %s", r.status, r.body)
	}
}

func TestNotReady(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	if err := s.app.store.SetDeploymentStatus(context.Background(), id, herm.DeploymentProvisioning, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	r := s.do("POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "hi"})
	if r.status != 409 || r.errCode(t) != "deployment_not_ready" {
		t.Fatalf("status %d %s", r.status, r.body)
	}
}

func TestPatchMergeAndConfigVersion(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	secret := func() string {
		return s.must(201, "POST", "/v1/secrets", map[string]any{"name": "t", "value": "v", "customer_id": "cus_1"})["secret_id"].(string)
	}
	secA, secB, secC := secret(), secret(), secret()
	d := s.createReady(map[string]any{
		"secrets":  map[string]any{"A_TOKEN": secA, "B_TOKEN": secB},
		"metadata": map[string]any{"plan": "pro", "region": "eu"},
		"features": map[string]any{"filesystem_webhooks": true},
		"skills":   []any{map[string]any{"name": "brand-voice", "source": "inline", "content": "---\nname: brand-voice\ndescription: x\n---\nBody"}},
	})
	id := d["deployment_id"].(string)
	skillID := d["skills"].([]any)[0].(map[string]any)["skill_id"].(string)
	p := s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{
		"name":     "Renamed",
		"secrets":  map[string]any{"A_TOKEN": nil, "C_TOKEN": secC},
		"metadata": map[string]any{"region": nil, "tier": "gold"},
		"features": map[string]any{"steering": false},
		"tools":    map[string]any{"shell": map[string]any{"permission": "always_ask"}},
	})
	if p["name"] != "Renamed" || p["config_version"] != 2.0 || p["system_prompt"] != "Be helpful." {
		t.Fatalf("patched %v", p)
	}
	if fmt.Sprint(p["secrets"]) != fmt.Sprintf("map[B_TOKEN:%s C_TOKEN:%s]", secB, secC) || fmt.Sprint(p["metadata"]) != "map[plan:pro tier:gold]" {
		t.Fatalf("merge: secrets %v metadata %v", p["secrets"], p["metadata"])
	}
	f := p["features"].(map[string]any)
	if f["steering"] != false || f["filesystem_webhooks"] != true {
		t.Fatalf("features %v", f)
	}
	if sk := p["skills"].([]any); len(sk) != 1 || sk[0].(map[string]any)["skill_id"] != skillID {
		t.Fatalf("skills untouched by a patch that does not send them: %v", sk)
	}
	p = s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"skills": []any{}, "model": "demo/demo"})
	if len(p["skills"].([]any)) != 0 || p["config_version"] != 3.0 {
		t.Fatalf("[] clears: %v", p)
	}
	// A run started now records version 3.
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "hi"})
	run := s.waitRun(id, sent["run_id"].(string), "completed")
	if run["config_version"] != 3.0 {
		t.Fatalf("run config_version %v", run["config_version"])
	}
	// tools merge per field: enabling keeps the approval requirement.
	p = s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"tools": map[string]any{"shell": map[string]any{"enabled": false}}})
	if fmt.Sprint(p["tools"]) != "map[shell:map[enabled:false permission:always_ask]]" {
		t.Fatalf("tools after a partial setting: %v", p["tools"])
	}
}

func TestListsAndCursors(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	var ids []string
	for i := range 5 {
		d := s.must(201, "POST", "/v1/deployments", map[string]any{"customer_id": fmt.Sprintf("cus_%d", i%2), "name": "n", "system_prompt": "p"})
		ids = append(ids, d["deployment_id"].(string))
	}
	var seen []string
	cursor := ""
	for {
		l := s.must(200, "GET", "/v1/deployments?limit=2"+cursor, nil)
		for _, d := range l["data"].([]any) {
			seen = append(seen, d.(map[string]any)["deployment_id"].(string))
		}
		if l["next_cursor"] == nil {
			break
		}
		cursor = "&cursor=" + l["next_cursor"].(string)
	}
	slices.Reverse(ids)
	if !slices.Equal(seen, ids) {
		t.Fatalf("pages %v, want newest first %v", seen, ids)
	}
	l := s.must(200, "GET", "/v1/deployments?customer_id=cus_1", nil)
	if len(l["data"].([]any)) != 2 {
		t.Fatalf("customer filter: %v", l)
	}
	// The event page: a page that ends the log has no next cursor, even when
	// it is exactly full; the scheme of the key is case-insensitive.
	waitUntil(t, "the deployment to be ready", func() bool { // its events are all in
		return s.must(200, "GET", "/v1/deployments/"+ids[0], nil)["status"] == "ready"
	})
	all := s.do("GET", "/v1/deployments/"+ids[0]+"/events?limit=1000", nil, "Accept", "application/json", "Authorization", "bearer "+s.key)
	n := len(all.json(t)["data"].([]any))
	page := s.do("GET", fmt.Sprintf("/v1/deployments/%s/events?limit=%d", ids[0], n), nil, "Accept", "application/json").json(t)
	if len(page["data"].([]any)) != n || page["next_cursor"] != nil {
		t.Fatalf("a full last page: %d events, next_cursor %v", len(page["data"].([]any)), page["next_cursor"])
	}
}

func TestThreads(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	th := s.must(201, "POST", "/v1/deployments/"+id+"/threads", map[string]any{"title": "Holiday campaign"})
	for _, k := range []string{"thread_id", "deployment_id", "title", "status", "message_count", "created_at", "last_activity_at"} {
		if _, ok := th[k]; !ok {
			t.Fatalf("thread lacks %s: %v", k, th)
		}
	}
	tid := th["thread_id"].(string)
	if th["status"] != "idle" || th["message_count"] != 0.0 {
		t.Fatalf("new thread %v", th)
	}
	s.must(200, "PATCH", "/v1/deployments/"+id+"/threads/"+tid, map[string]any{"title": "Renamed"})
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "hi", "thread_id": tid})
	if sent["thread_id"] != tid {
		t.Fatalf("message went to %v", sent["thread_id"])
	}
	s.waitRun(id, sent["run_id"].(string), "completed")
	nw := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "fresh", "thread_id": "new"})
	if nw["thread_id"] == tid || nw["thread_id"] == d["thread_id"] {
		t.Fatal(`thread_id "new" must create a thread`)
	}
	s.waitRun(id, nw["run_id"].(string), "completed")
	l := s.must(200, "GET", "/v1/deployments/"+id+"/threads", nil)
	if len(l["data"].([]any)) != 3 {
		t.Fatalf("threads %v", l)
	}
	s.must(204, "DELETE", "/v1/deployments/"+id+"/threads/"+tid, nil)
	r := s.do("GET", "/v1/deployments/"+id+"/threads/"+tid, nil)
	if r.status != 404 {
		t.Fatalf("deleted thread: %d", r.status)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	body := map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p"}
	a := s.do("POST", "/v1/deployments", body, "Idempotency-Key", "k1")
	b := s.do("POST", "/v1/deployments", body, "Idempotency-Key", "k1")
	if a.status != 201 || b.status != 201 || string(a.body) != string(b.body) || b.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %d\n%s\n%s", a.status, b.status, a.body, b.body)
	}
	// The same request spaced another way is the same request; reordered,
	// it is not (keys' order and case can change what it means).
	if r := s.do("POST", "/v1/deployments", "{ \"customer_id\": \"c\",\n \"name\": \"n\", \"system_prompt\": \"p\" }", "Idempotency-Key", "k1"); r.status != 201 || string(r.body) != string(a.body) {
		t.Fatalf("respaced retry: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/v1/deployments", `{"content":"x","Content":"y"}`, "Idempotency-Key", "k2"); r.status == 0 {
		t.Fatal("no answer")
	}
	if r := s.do("POST", "/v1/deployments", `{"Content":"y","content":"x"}`, "Idempotency-Key", "k2"); r.header.Get("Idempotent-Replayed") == "true" {
		t.Fatalf("a reordered body was taken for the same request: %d %s", r.status, r.body)
	}
	c := s.do("POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "other", "system_prompt": "p"}, "Idempotency-Key", "k1")
	if c.status != 409 || c.errCode(t) != "conflict" {
		t.Fatalf("reuse with another body: %d %s", c.status, c.body)
	}
	l := s.must(200, "GET", "/v1/deployments", nil)
	if len(l["data"].([]any)) != 1 {
		t.Fatalf("a retried create made %d deployments", len(l["data"].([]any)))
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_RATE_LIMIT": "1"})
	var last response
	for range 5 {
		last = s.do("GET", "/v1/models", nil)
		if last.status == 429 {
			break
		}
	}
	if last.status != 429 || last.errCode(t) != "rate_limited" || last.header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: %s", last.status, last.header.Get("Retry-After"), last.body)
	}
}

func TestAPIKeys(t *testing.T) {
	sqliteOnly(t)
	t.Parallel()
	s := startServer(t, nil)
	k := s.must(201, "POST", "/v1/api_keys", map[string]any{"name": "ci", "scopes": []string{"deployments:read", "deployments:write"}})
	secret := k["key"].(string)
	if !strings.HasPrefix(secret, "herm_sk_") || !strings.HasPrefix(k["key_id"].(string), "key_") {
		t.Fatalf("key %v", k)
	}
	l := s.must(200, "GET", "/v1/api_keys", nil)
	for _, item := range l["data"].([]any) {
		if _, ok := item.(map[string]any)["key"]; ok {
			t.Fatal("a listed key shows its secret")
		}
	}
	r := s.do("GET", "/v1/deployments", nil, "Authorization", "Bearer "+secret)
	if r.status != 200 {
		t.Fatalf("new key: %d", r.status)
	}
	s.must(204, "DELETE", "/v1/api_keys/"+k["key_id"].(string), nil)
	r = s.do("GET", "/v1/deployments", nil, "Authorization", "Bearer "+secret)
	if r.status != 401 {
		t.Fatalf("revoked key: %d", r.status)
	}
	data, err := os.ReadFile(filepath.Join(s.dir, "herm.db"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), secret) || strings.Contains(string(data), testKey) {
		t.Fatal("a key is stored in clear in the database")
	}
}

func TestGeneratedAdminKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"HERM_ADDR": "127.0.0.1:0", "HERM_DATA_DIR": dir}
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan *app, 1)
	go func() {
		cfg, _ := loadConfig("serve", nil, func(k string) string { return env[k] })
		logger, _ := newLogger("json", "warn", &stderr)
		done <- serveWith(ctx, cfg, func(k string) string { return env[k] }, logger, &stderr, func(a *app) { ready <- a })
	}()
	a := <-ready
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "admin.key"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key mode %v", fi.Mode())
	}
	if !strings.Contains(stderr.String(), strings.TrimSpace(string(key))) || !strings.Contains(stderr.String(), "listening on "+a.URL()) {
		t.Fatalf("stderr: %s", stderr.String())
	}
}

func TestDeleteDeployment(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	st := s.openStream("/v1/deployments/" + id + "/events")
	r := s.must(202, "DELETE", "/v1/deployments/"+id, nil)
	if r["deployment_id"] != id || r["status"] != "deleting" || r["snapshot_id"] != nil {
		t.Fatalf("delete response %v", r)
	}
	evs := st.until(t, func(e sseEvent) bool { return e.typ == "deployment_status" })
	if evs[len(evs)-1].data["status"] != "deleting" {
		t.Fatalf("events %v", types(evs))
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.do("GET", "/v1/deployments/"+id, nil).status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("deployment not deleted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "workspaces", id)); !os.IsNotExist(err) {
		t.Fatalf("workspace still there: %v", err)
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	d := s.createReady(nil)
	sent := s.must(202, "POST", "/v1/deployments/"+d["deployment_id"].(string)+"/messages", map[string]any{"content": "hi"})
	s.waitRun(d["deployment_id"].(string), sent["run_id"].(string), "completed")
	s.must(200, "GET", "/healthz", nil, "Authorization", "")
	rz := s.must(200, "GET", "/readyz", nil, "Authorization", "")
	if rz["status"] != "ok" {
		t.Fatalf("readyz %v", rz)
	}
	r := s.do("GET", "/metrics", nil, "Authorization", "")
	if r.status != 200 {
		t.Fatalf("metrics on loopback: %d", r.status)
	}
	for _, m := range []string{"herm_http_requests_total", `herm_runs{status="completed"} 1`, "herm_events_appended_total", "herm_sse_subscribers", "herm_model_calls_total"} {
		if !strings.Contains(string(r.body), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	m := s.must(200, "GET", "/v1/models", nil)
	var demo map[string]any
	for _, x := range m["data"].([]any) {
		if x.(map[string]any)["id"] == "demo/demo" {
			demo = x.(map[string]any)
		}
	}
	if demo == nil || demo["demo"] != true || demo["default"] != true {
		t.Fatalf("models %v", m)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	var out, errb strings.Builder
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "herm ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"bogus"}, func(string) string { return "" }, &out, &errb); err == nil {
		t.Fatal("unknown command accepted")
	}
	dir := t.TempDir()
	out.Reset()
	env := func(k string) string {
		if k == "HERM_DATA_DIR" {
			return dir
		}
		return ""
	}
	if err := run(context.Background(), []string{"migrate"}, env, &out, &errb); err != nil || !strings.Contains(out.String(), "schema version") {
		t.Fatalf("migrate: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"serve", "--sandbox", "vm"}, env, &out, &errb); err == nil || !strings.Contains(err.Error(), "local") {
		t.Fatalf("bad sandbox: %v", err)
	}
}

func TestQuickstartCommand(t *testing.T) {
	t.Parallel()
	var out, errb syncBuffer
	env := func(k string) string { return "" }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, []string{"quickstart", "--message", "hello there"}, env, &out, &errb); err != nil {
		t.Fatalf("quickstart: %v\n%s\n%s", err, out.String(), errb.String())
	}
	o := out.String()
	for _, want := range []string{"demo/demo", "[demo model]", "hello there", "[run_status] completed", "go run ./cmd/herm serve"} {
		if !strings.Contains(o, want) {
			t.Fatalf("quickstart output lacks %q:\n%s", want, o)
		}
	}
}
