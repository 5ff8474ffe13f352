package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// carefulAgent has write_file behind an always_ask policy.
var carefulAgent = map[string]any{"name": "Careful", "model": "demo/demo", "tools": []any{map[string]any{
	"type": "agent_toolset", "configs": []any{map[string]any{"name": "write_file", "permissionPolicy": map[string]any{"type": "always_ask"}}},
}}}

// contains checks that out holds every one of want.
func contains(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: no %q in\n%s", what, w, out)
		}
	}
}

// TestCLIAgents drives herm agents end to end: create from flags and from
// a JSON file, list, get (a version too), update (a new version), versions
// and archive, with the human and the --json output checked.
func TestCLIAgents(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_SANDBOX": "process", "HERM_DEMO_WORD_DELAY": "0s"})

	a := s.hermJSON("agents", "create", "--name", "Support", "--model", "demo/demo", "--instructions", "Help the customer.", "--metadata", "team=care")
	id := str(a["id"])
	if !strings.HasPrefix(id, "agt_") || a["version"] != 1.0 || a["instructions"] != "Help the customer." || a["metadata"].(map[string]any)["team"] != "care" {
		t.Fatalf("created %v", a)
	}
	human(t, "agents create", s.hermOK("", "agents", "create", "--name", "Plain", "--model", "demo/demo"), "agt_", "version 1")

	file := filepath.Join(t.TempDir(), "agent.json")
	def, _ := json.Marshal(map[string]any{"name": "Careful", "model": "demo/demo", "tools": carefulAgent["tools"], "modelSettings": map[string]any{"maxTokens": 300}})
	if err := os.WriteFile(file, def, 0o600); err != nil {
		t.Fatal(err)
	}
	careful := s.hermJSON("agents", "create", "-f", file)
	cid := str(careful["id"])
	if careful["name"] != "Careful" || len(careful["tools"].([]any)) != 1 || careful["modelSettings"].(map[string]any)["maxTokens"] != 300.0 {
		t.Fatalf("created from a file %v", careful)
	}
	if got := s.hermJSON2(string(def), "agents", "create", "--file", "-", "--name", "Override"); got["name"] != "Override" || len(got["tools"].([]any)) != 1 {
		t.Fatalf("created from stdin with a flag over it %v", got)
	}
	if _, err := s.herm(`{"name":"x","model":"demo/demo","colour":"red"}`, "agents", "create", "-f", "-"); err == nil || !strings.Contains(err.Error(), `unknown field "colour"`) {
		t.Fatalf("a file with an unknown field: %v", err)
	}
	if _, err := s.herm("", "agents", "create", "--name", "x", "--model", "nope/none"); err == nil || !strings.Contains(err.Error(), "400 validation_error") {
		t.Fatalf("an unknown model: %v", err)
	}

	human(t, "agents get", s.hermOK("", "agents", "get", cid), "agent:", cid, "status:", "active", "version:", "1", "model:", "demo/demo",
		"tools:", "built-in tools (write_file always_ask)", "model settings:", `"maxTokens":300`, "features:", "memory")
	out := s.hermOK("", "agents", "list")
	human(t, "agents list", out, "AGENT", "VERSION", id, cid, "Support", "Careful")
	raw := s.hermOK("", "agents", "list", "--limit", "1", "--json")
	if !strings.Contains(raw, `"nextCursor": "`) {
		t.Errorf("agents list --limit 1 --json has no nextCursor:\n%s", raw)
	}
	human(t, "agents list --limit 1", s.hermOK("", "agents", "list", "--limit", "1"), "(more: --all")
	if l := s.hermList("agents", "list", "--all", "--limit", "1"); len(l) != 4 {
		t.Errorf("agents list --all: %d agents", len(l))
	}

	patch := `{"instructions": "Be brief.", "modelSettings": null, "metadata": {"tier": "gold"}}`
	up := s.hermJSON2(patch, "agents", "update", cid, "-f", "-", "--name", "Careful too")
	if up["version"] != 2.0 || up["instructions"] != "Be brief." || up["name"] != "Careful too" || up["modelSettings"] != nil ||
		up["metadata"].(map[string]any)["tier"] != "gold" || len(up["tools"].([]any)) != 1 {
		t.Fatalf("updated %v", up)
	}
	human(t, "agents update", s.hermOK("", "agents", "update", cid, "--metadata", "tier="), cid+" updated (version 3)")
	if got := s.hermJSON("agents", "get", cid); got["version"] != 3.0 || len(got["metadata"].(map[string]any)) != 0 {
		t.Fatalf("after removing a metadata key %v", got)
	}
	if v1 := s.hermJSON("agents", "get", cid, "--version", "1"); v1["version"] != 1.0 || v1["instructions"] != "" || v1["modelSettings"] == nil {
		t.Fatalf("version 1 %v", v1)
	}
	human(t, "agents versions", s.hermOK("", "agents", "versions", cid), "VERSION", "MADE", "Careful too", "Be brief.")
	var versions []float64
	for _, v := range s.hermList("agents", "versions", cid, "--all", "--limit", "2") {
		versions = append(versions, v["version"].(float64))
	}
	if len(versions) != 3 || versions[0] != 3 || versions[2] != 1 {
		t.Fatalf("versions %v", versions)
	}

	human(t, "agents archive", s.hermOK("", "agents", "archive", cid), cid+" archived")
	if _, err := s.herm("", "agents", "update", cid, "--name", "x"); err == nil || !strings.Contains(err.Error(), "409 conflict") {
		t.Fatalf("update an archived agent: %v", err)
	}
	if l := s.hermList("agents", "list", "--status", "archived"); len(l) != 1 || l[0]["id"] != cid {
		t.Fatalf("archived agents %v", l)
	}
	human(t, "agents get (archived)", s.hermOK("", "agents", "get", cid), "status:", "archived")
}

// TestCLISessions drives herm sessions end to end: create, send (the
// reply streamed until the session is idle), get, list with filters,
// events (listed and followed), inline and later tool confirmations,
// interrupt, update, archive and delete.
func TestCLISessions(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_SANDBOX": "process", "HERM_DEMO_WORD_DELAY": "10ms"})
	aid := str(s.createAgent(carefulAgent)["id"])
	sess := s.hermJSON("sessions", "create", "--agent", aid, "--user", "alice", "--title", "First", "--metadata", "channel=web")
	sid := str(sess["id"])
	if !strings.HasPrefix(sid, "sesn_") || sess["userId"] != "alice" || sess["agentVersion"] != 1.0 || sess["status"] != "idle" {
		t.Fatalf("created %v", sess)
	}
	other := strings.Fields(s.hermOK("", "sessions", "create", "--agent", aid))[0]
	human(t, "sessions create", s.hermOK("", "sessions", "create", "--agent", aid, "--user", "bob"), "sesn_", "(agent "+aid+" version 1, user bob)")

	out := s.hermOK("", "sessions", "send", sid, "Give me five ad ideas")
	if !strings.HasPrefix(out, "[demo model] ") || !strings.Contains(out, "Give me five ad ideas") {
		t.Fatalf("sessions send printed:\n%s", out)
	}
	full := s.hermJSON("sessions", "get", sid)
	msgs := full["messages"].([]any)
	last := msgs[len(msgs)-1].(map[string]any)["content"].([]any)[0].(map[string]any)["text"]
	if len(msgs) != 2 || strings.TrimSpace(out) != last {
		t.Fatalf("send printed %q, the agent's message is %q", out, last)
	}
	human(t, "sessions get", s.hermOK("", "sessions", "get", sid), "session:", sid, "agent:", aid+" version 1", "user:", "alice",
		"title:", "First", "status:", "idle", "metadata:", "channel=web", "user (", "agent (", "[demo model]")

	// send --json prints the turn's events as JSON lines, ending idle.
	out = s.hermOK("", "sessions", "send", sid, "again", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil || e["sessionId"] != sid {
			t.Fatalf("send --json printed %q (%v)", l, err)
		}
	}
	var end map[string]any
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &end)
	if end["type"] != "session.status_idle" || stopReason(end)["type"] != "end_turn" {
		t.Fatalf("send --json ends with %s", lines[len(lines)-1])
	}

	// Lists.
	human(t, "sessions list", s.hermOK("", "sessions", "list", "--agent", aid), "SESSION", sid, other, "alice", "idle", "First")
	if l := s.hermList("sessions", "list", "--user", "alice"); len(l) != 1 || l[0]["id"] != sid {
		t.Fatalf("alice's sessions %v", l)
	}
	if l := s.hermList("sessions", "list", "--status", "running"); len(l) != 0 {
		t.Fatalf("running sessions %v", l)
	}
	if l := s.hermList("sessions", "list", "--agent", aid, "--limit", "1", "--all"); len(l) != 3 {
		t.Fatalf("every session of the agent %v", l)
	}

	// events: listed, then from a sequence.
	all := s.sessionEvents(sid, 0)
	out = s.hermOK("", "sessions", "events", sid)
	human(t, "sessions events", out, "1  "+str(all[0]["id"])+"  ", "user.message", "session.status_running", "agent.message", "session.status_idle", `"stop_reason":{"type":"end_turn"}`)
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != len(all) {
		t.Fatalf("sessions events printed %d lines, the session has %d events", n, len(all))
	}
	out = s.hermOK("", "sessions", "events", sid, "--after", "3", "--json")
	var first map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first); err != nil || first["sequence"] != 4.0 || first["id"] != all[3]["id"] {
		t.Fatalf("events --after 3 --json starts with %v (%v)", first, err)
	}

	// A tool use that waits for a confirmation, answered inline.
	out = s.hermOK("y\n", "sessions", "send", sid, `/tool write_file {"path":"a.txt","content":"yes"}`)
	contains(t, "send (allow)", out, "⚙ write_file", "Allow? [y/n]", "→ allow", "↳ wrote 3 bytes to a.txt")
	out = s.hermOK("maybe\nn\n", "sessions", "send", sid, `/tool write_file {"path":"b.txt","content":"no"}`)
	contains(t, "send (deny)", out, "please answer y or n", "→ deny", "↳ error:", "denied at the terminal")

	// No answer on the input: the session waits; confirm answers it later.
	_, err := s.herm("", "sessions", "send", sid, `/tool write_file {"path":"c.txt","content":"later"}`)
	if err == nil || !strings.Contains(err.Error(), "herm sessions confirm "+sid+" evt_") {
		t.Fatalf("no answer: %v", err)
	}
	evs := s.sessionEvents(sid, 0)
	waiting := evs[len(evs)-1]
	use := str(stopReason(waiting)["event_ids"].([]any)[0])
	if !strings.Contains(err.Error(), use) {
		t.Fatalf("the error does not name %s: %v", use, err)
	}
	if _, err := s.herm("", "sessions", "confirm", sid, use); err == nil || !strings.Contains(err.Error(), "give --allow or --deny") {
		t.Fatalf("confirm without a decision: %v", err)
	}
	human(t, "sessions confirm", s.hermOK("", "sessions", "confirm", sid, use, "--deny", "--message", "not now"), use+" denied")
	rest := s.waitIdle(sid, len(evs))
	if stopReason(rest[len(rest)-1])["type"] != "end_turn" || !strings.Contains(strings.Join(toolResultTexts(rest), " "), "not now") {
		t.Fatalf("after the confirmation: %v", rest)
	}
	if _, err := s.herm("", "sessions", "confirm", sid, use, "--allow"); err == nil || !strings.Contains(err.Error(), "409 conflict") {
		t.Fatalf("confirm twice: %v", err)
	}

	// steer needs a running turn; a custom tool's use is answered with
	// tool-result.
	if _, err := s.herm("", "sessions", "steer", sid, "faster"); err == nil || !strings.Contains(err.Error(), "409 conflict") {
		t.Fatalf("steer while idle: %v", err)
	}
	custom := map[string]any{"type": "custom"}
	for k, v := range lookupTool {
		custom[k] = v
	}
	cs := str(s.createSession(str(s.createAgent(map[string]any{"name": "Orders", "model": "demo/demo", "tools": []any{custom}})["id"]), nil)["id"])
	_, err = s.herm("", "sessions", "send", cs, `/tool lookup_order {"order_id":"A1"}`)
	if err == nil || !strings.Contains(err.Error(), "herm sessions tool-result "+cs) {
		t.Fatalf("send with a custom tool: %v", err)
	}
	cevs := s.sessionEvents(cs, 0)
	cuse := str(stopReason(cevs[len(cevs)-1])["event_ids"].([]any)[0])
	human(t, "sessions tool-result", s.hermOK("A1: shipped\n", "sessions", "tool-result", cs, cuse, "-"), cuse+" answered")
	crest := s.waitIdle(cs, len(cevs))
	var answered bool
	for _, e := range crest {
		if e["type"] == "user.custom_tool_result" && payload(e)["custom_tool_use_id"] == cuse && strings.Contains(fmt.Sprint(payload(e)["content"]), "A1: shipped") {
			answered = true
		}
	}
	if !answered || stopReason(crest[len(crest)-1])["type"] != "end_turn" {
		t.Fatalf("after tool-result: %v", sessionTypes(crest))
	}

	// events --follow prints the events as they come, from the first with
	// --after 0, and ends without an error when interrupted.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cliEnv := map[string]string{"HERM_URL": s.url, "HERM_API_KEY": s.key}
	var followed, followErr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runCLI(ctx, []string{"sessions", "events", sid, "--follow", "--after", "0", "--json"}, func(k string) string { return cliEnv[k] }, strings.NewReader(""), &followed, &followErr)
	}()

	// Interrupt a turn that a send follows: the send ends with an error.
	before := len(s.sessionEvents(sid, 0))
	sent := make(chan error, 1)
	var sendOut syncBuffer
	go func() {
		sctx, scancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer scancel()
		sent <- runCLI(sctx, []string{"sessions", "send", sid, strings.Repeat("word ", 200)}, func(k string) string { return cliEnv[k] }, strings.NewReader(""), &sendOut, &sendOut)
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		evs := s.sessionEvents(sid, before)
		if len(evs) > 0 && evs[len(evs)-1]["type"] == "agent.message" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no streaming: %v", sessionTypes(evs))
		}
	}
	human(t, "sessions interrupt", s.hermOK("", "sessions", "interrupt", sid), sid+" interrupted")
	select {
	case err := <-sent:
		if err == nil || !strings.Contains(err.Error(), "the turn was interrupted") {
			t.Fatalf("send of an interrupted turn: %v\n%s", err, sendOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("send did not end after the interrupt")
	}
	if !strings.HasPrefix(sendOut.String(), "[demo") {
		t.Errorf("send printed %q before the interrupt", sendOut.String())
	}

	want := s.sessionEvents(sid, 0)
	for deadline := time.Now().Add(20 * time.Second); strings.Count(followed.String(), "\n") < len(want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("events --follow printed %d of %d events", strings.Count(followed.String(), "\n"), len(want))
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("events --follow ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events --follow did not end when its context was cancelled")
	}
	var got []string
	for l := range strings.SplitSeq(strings.TrimSpace(followed.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		got = append(got, str(e["id"]))
	}
	var ids []string
	for _, e := range want {
		ids = append(ids, str(e["id"]))
	}
	if strings.Join(got, " ") != strings.Join(ids, " ") || followErr.String() != "" {
		t.Fatalf("followed\n%v\nstored\n%v\nstderr: %s", got, ids, followErr.String())
	}

	// update, archive, delete.
	human(t, "sessions update", s.hermOK("", "sessions", "update", sid, "--title", "Renamed", "--metadata", "channel="), sid+" updated")
	if got := s.hermJSON("sessions", "get", sid); got["title"] != "Renamed" || len(got["metadata"].(map[string]any)) != 0 {
		t.Fatalf("after update %v", got)
	}
	human(t, "sessions archive", s.hermOK("", "sessions", "archive", sid), sid+" archived")
	if l := s.hermList("sessions", "list", "--user", "alice"); len(l) != 0 {
		t.Fatalf("an archived session is listed: %v", l)
	}
	if l := s.hermList("sessions", "list", "--user", "alice", "--archived", "true"); len(l) != 1 {
		t.Fatalf("archived sessions %v", l)
	}
	human(t, "sessions list (archived)", s.hermOK("", "sessions", "list", "--archived", "any"), "Renamed (archived)")
	if got := s.hermJSON("sessions", "delete", other); got["ok"] != true {
		t.Fatalf("delete --json: %v", got)
	}
	human(t, "sessions delete", s.hermOK("", "sessions", "delete", sid), sid+" deleted")
	if _, err := s.herm("", "sessions", "get", sid); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("get a deleted session: %v", err)
	}
}
