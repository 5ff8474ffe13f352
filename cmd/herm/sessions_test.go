package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

// The newer API generation end to end: agents, sessions per end user and
// their events, over HTTP.

func (s *server) createAgent(body map[string]any) map[string]any {
	s.t.Helper()
	return s.must(201, "POST", "/v1/agents", body)
}

func (s *server) createSession(agentID string, body map[string]any) map[string]any {
	s.t.Helper()
	return s.must(201, "POST", "/v1/agents/"+agentID+"/sessions", body)
}

// sessionEvents lists every event of a session after a sequence.
func (s *server) sessionEvents(sid string, after int) []map[string]any {
	s.t.Helper()
	var out []map[string]any
	cursor := strconv.Itoa(after)
	for {
		page := s.must(200, "GET", "/v1/sessions/"+sid+"/events?limit=1000&cursor="+cursor, nil)
		for _, e := range page["data"].([]any) {
			out = append(out, e.(map[string]any))
		}
		next, ok := page["nextCursor"].(string)
		if !ok {
			return out
		}
		cursor = next
	}
}

// say sends a user.message and waits for the session to go idle, returning
// the events of the turn (after the session's events before it).
func (s *server) say(sid, text string) []map[string]any {
	s.t.Helper()
	before := len(s.sessionEvents(sid, 0))
	s.must(202, "POST", "/v1/sessions/"+sid+"/events", userMessage(text))
	return s.waitIdle(sid, before)
}

func userMessage(text string) map[string]any {
	return map[string]any{"events": []any{map[string]any{"type": "user.message", "content": []any{map[string]any{"type": "text", "text": text}}}}}
}

// waitIdle waits for a session.status_idle after the first `after` events
// and returns the events after them up to it.
func (s *server) waitIdle(sid string, after int) []map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		evs := s.sessionEvents(sid, after)
		for i, e := range evs {
			if e["type"] == "session.status_idle" {
				return evs[:i+1]
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("session %s: no session.status_idle after %d: %v", sid, after, sessionTypes(evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sessionTypes(evs []map[string]any) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = str(e["type"])
	}
	return out
}

func payload(e map[string]any) map[string]any { p, _ := e["payload"].(map[string]any); return p }

func stopReason(e map[string]any) map[string]any {
	r, _ := payload(e)["stop_reason"].(map[string]any)
	return r
}

// toolResultTexts are the texts of a turn's tool results.
func toolResultTexts(evs []map[string]any) []string {
	var out []string
	for _, e := range evs {
		if e["type"] == "agent.tool_result" || e["type"] == "agent.mcp_tool_result" {
			for _, b := range payload(e)["content"].([]any) {
				out = append(out, str(b.(map[string]any)["text"]))
			}
		}
	}
	return out
}

// checkSequence checks a session's whole event list: contiguous sequences
// from 1, the envelope's fields, type = payload.type.
func checkSequence(t *testing.T, sid string, evs []map[string]any) {
	t.Helper()
	for i, e := range evs {
		if int(e["sequence"].(float64)) != i+1 || e["sessionId"] != sid || e["type"] != payload(e)["type"] ||
			e["status"] != "complete" || !strings.HasPrefix(str(e["id"]), "evt_") || e["createdAt"] == nil || e["processedAt"] == nil {
			t.Fatalf("session %s event %d: %v", sid, i, e)
		}
	}
}

var memoryAgent = map[string]any{
	"name": "Support", "model": "demo/demo", "instructions": "Help the customer.",
	"tools": []any{map[string]any{"type": "agent_toolset"}},
}

// Two sessions of one userId share a memory written in the first; a
// session of another userId, and sessions without one, do not see it;
// deleting a session keeps its user's memory. No hidden deployment is
// listed or reachable through /v1/deployments.
func TestSessionsShareMemoryPerUser(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DEMO_WORD_DELAY": "0s"})
	ag := s.createAgent(memoryAgent)
	if ag["version"] != 1.0 || ag["status"] != "active" || !strings.HasPrefix(str(ag["id"]), "agt_") {
		t.Fatalf("agent %v", ag)
	}
	id := str(ag["id"])
	a1 := s.createSession(id, map[string]any{"userId": "alice", "title": "First"})
	if a1["agentVersion"] != 1.0 || a1["userId"] != "alice" || a1["status"] != "idle" || a1["title"] != "First" {
		t.Fatalf("session %v", a1)
	}
	turn := s.say(str(a1["id"]), `/tool memory {"action":"add","content":"Alice's favourite colour is teal."}`)
	if r := stopReason(turn[len(turn)-1]); r["type"] != "end_turn" {
		t.Fatalf("turn %v", turn)
	}
	if got := toolResultTexts(turn); len(got) != 1 || !strings.Contains(got[0], "remembered") {
		t.Fatalf("memory add: %v", got)
	}

	recall := func(sess map[string]any) string {
		t.Helper()
		return strings.Join(toolResultTexts(s.say(str(sess["id"]), `/tool memory {"action":"list"}`)), "\n")
	}
	a2 := s.createSession(id, map[string]any{"userId": "alice"})
	if got := recall(a2); !strings.Contains(got, "teal") {
		t.Fatalf("alice's second session does not see her memory: %s", got)
	}
	b1 := s.createSession(id, map[string]any{"userId": "bob"})
	if got := recall(b1); strings.Contains(got, "teal") {
		t.Fatalf("bob sees alice's memory: %s", got)
	}
	anon1 := s.createSession(id, nil)
	if anon1["userId"] != nil {
		t.Fatalf("session without user %v", anon1)
	}
	s.say(str(anon1["id"]), `/tool memory {"action":"add","content":"The anonymous secret is plum."}`)
	anon2 := s.createSession(id, nil)
	if got := recall(anon2); strings.Contains(got, "plum") || strings.Contains(got, "teal") {
		t.Fatalf("a session without user sees another's memory: %s", got)
	}
	if got := recall(b1); strings.Contains(got, "plum") {
		t.Fatalf("bob sees an anonymous session's memory: %s", got)
	}

	// Deleting alice's first session keeps her memory.
	s.must(204, "DELETE", "/v1/sessions/"+str(a1["id"]), nil)
	if r := s.do("GET", "/v1/sessions/"+str(a1["id"]), nil); r.status != 404 {
		t.Fatalf("deleted session: %d", r.status)
	}
	a3 := s.createSession(id, map[string]any{"userId": "alice"})
	if got := recall(a3); !strings.Contains(got, "teal") {
		t.Fatalf("alice's memory after her first session was deleted: %s", got)
	}

	// Sequences: contiguous from 1 in each session; the history.
	for _, sess := range []map[string]any{a2, b1, anon1, anon2, a3} {
		checkSequence(t, str(sess["id"]), s.sessionEvents(str(sess["id"]), 0))
	}
	full := s.must(200, "GET", "/v1/sessions/"+str(a2["id"]), nil)
	msgs := full["messages"].([]any)
	if len(msgs) < 2 || msgs[0].(map[string]any)["role"] != "user" || msgs[len(msgs)-1].(map[string]any)["role"] != "agent" {
		t.Fatalf("history %v", msgs)
	}

	// Lists: by user, by agent; no hidden deployment anywhere.
	if l := s.must(200, "GET", "/v1/sessions?userId=alice", nil)["data"].([]any); len(l) != 2 {
		t.Fatalf("alice's sessions %v", l)
	}
	if l := s.must(200, "GET", "/v1/sessions?agentId="+id+"&limit=2", nil); len(l["data"].([]any)) != 2 || l["nextCursor"] == nil {
		t.Fatalf("page %v", l)
	}
	if l := s.must(200, "GET", "/v1/deployments", nil)["data"].([]any); len(l) != 0 {
		t.Fatalf("hidden deployments listed: %v", l)
	}
}

// An agent update is a new version: new sessions get it, an old session
// keeps its pinned one (its turns run with that version's instructions);
// versions stay readable; an archived agent keeps its sessions working
// but takes no new ones and no updates.
func TestAgentVersionPinning(t *testing.T) {
	t.Parallel()
	script := llmtest.NewScript(words("One."), words("Two."), words("Three."))
	s := transcriptServer(t, script, nil)
	ag := s.createAgent(map[string]any{"name": "Pinned", "model": "openai/gpt-test", "instructions": "You are version one.", "metadata": map[string]any{"team": "a"}})
	id := str(ag["id"])
	old := s.createSession(id, map[string]any{"userId": "u1"})
	up := s.must(200, "PATCH", "/v1/agents/"+id, map[string]any{"instructions": "You are version two.", "metadata": map[string]any{"tier": "gold"}})
	if up["version"] != 2.0 || up["instructions"] != "You are version two." || up["name"] != "Pinned" ||
		!reflect.DeepEqual(up["metadata"], map[string]any{"team": "a", "tier": "gold"}) {
		t.Fatalf("update %v", up)
	}
	if v1 := s.must(200, "GET", "/v1/agents/"+id+"/versions/1", nil); v1["instructions"] != "You are version one." || v1["version"] != 1.0 {
		t.Fatalf("version 1 %v", v1)
	}
	if vs := s.must(200, "GET", "/v1/agents/"+id+"/versions", nil)["data"].([]any); len(vs) != 2 || vs[0].(map[string]any)["version"] != 2.0 {
		t.Fatalf("versions %v", vs)
	}
	fresh := s.createSession(id, map[string]any{"userId": "u1"})
	if fresh["agentVersion"] != 2.0 || old["agentVersion"] != 1.0 {
		t.Fatalf("pinning: old %v new %v", old["agentVersion"], fresh["agentVersion"])
	}
	s.say(str(old["id"]), "hello from the old session")
	s.say(str(fresh["id"]), "hello from the new session")
	reqs := script.Requests()
	if len(reqs) != 2 || !strings.Contains(reqs[0].System, "You are version one.") || !strings.Contains(reqs[1].System, "You are version two.") {
		for _, r := range reqs {
			t.Logf("system: %.200s", r.System)
		}
		t.Fatalf("the sessions' turns did not run with their pinned versions")
	}
	if r := s.do("PATCH", "/v1/sessions/"+str(old["id"]), map[string]any{"title": "Renamed", "metadata": map[string]any{"k": "v"}}); r.status != 200 {
		t.Fatalf("session update: %d %s", r.status, r.body)
	}
	if l := s.must(200, "GET", "/v1/sessions?metadata[k]=v", nil)["data"].([]any); len(l) != 1 || l[0].(map[string]any)["title"] != "Renamed" {
		t.Fatalf("sessions by metadata: %v", l)
	}
	if l := s.must(200, "GET", "/v1/sessions?metadata[k]=w", nil)["data"].([]any); len(l) != 0 {
		t.Fatalf("sessions by other metadata: %v", l)
	}
	if r := s.do("PATCH", "/v1/sessions/"+str(old["id"]), map[string]any{"userId": "u2"}); r.status != 400 {
		t.Fatalf("a userId change: %d %s", r.status, r.body)
	}

	s.must(200, "POST", "/v1/agents/"+id+"/archive", nil)
	if r := s.do("POST", "/v1/agents/"+id+"/sessions", map[string]any{}); r.status != 409 {
		t.Fatalf("a session of an archived agent: %d %s", r.status, r.body)
	}
	if r := s.do("PATCH", "/v1/agents/"+id, map[string]any{"name": "x"}); r.status != 409 {
		t.Fatalf("an update of an archived agent: %d %s", r.status, r.body)
	}
	turn := s.say(str(old["id"]), "still there?")
	if r := stopReason(turn[len(turn)-1]); r["type"] != "end_turn" {
		t.Fatalf("a session of an archived agent: %v", turn)
	}
}

// user.tool_confirmation allows or denies a tool use of an always_ask
// tool, named by the event_ids of session.status_idle's requires_action;
// user.interrupt ends a running turn; user.message while a turn runs and
// user.steer while idle are 409s.
func TestSessionConfirmationAndInterrupt(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DEMO_WORD_DELAY": "30ms"})
	ag := s.createAgent(map[string]any{"name": "Careful", "model": "demo/demo", "tools": []any{map[string]any{
		"type": "agent_toolset", "configs": []any{map[string]any{"name": "write_file", "permissionPolicy": map[string]any{"type": "always_ask"}}},
	}}})
	sid := str(s.createSession(str(ag["id"]), map[string]any{"userId": "carol"})["id"])
	post := func(evs ...map[string]any) response {
		list := make([]any, len(evs))
		for i, e := range evs {
			list[i] = e
		}
		return s.do("POST", "/v1/sessions/"+sid+"/events", map[string]any{"events": list})
	}
	if r := post(map[string]any{"type": "user.steer", "message": "faster"}); r.status != 409 {
		t.Fatalf("steer while idle: %d %s", r.status, r.body)
	}

	for _, c := range []struct{ result, file string }{{"allow", "a.txt"}, {"deny", "b.txt"}} {
		before := len(s.sessionEvents(sid, 0))
		s.must(202, "POST", "/v1/sessions/"+sid+"/events", userMessage(`/tool write_file {"path":"`+c.file+`","content":"x"}`))
		turn := s.waitIdle(sid, before)
		idle := turn[len(turn)-1]
		r := stopReason(idle)
		ids, _ := r["event_ids"].([]any)
		if r["type"] != "requires_action" || len(ids) != 1 {
			t.Fatalf("%s: idle %v", c.result, idle)
		}
		var use map[string]any
		for _, e := range turn {
			if e["id"] == ids[0] {
				use = e
			}
		}
		if use == nil || use["type"] != "agent.tool_use" || payload(use)["name"] != "write_file" {
			t.Fatalf("%s: event_ids %v do not name the tool use: %v", c.result, ids, sessionTypes(turn))
		}
		if st := s.must(200, "GET", "/v1/sessions/"+sid, nil); st["status"] != "idle" || st["requiresAction"] != true {
			t.Fatalf("%s: a waiting session %v", c.result, st)
		}
		if r := post(userMessage("again")["events"].([]any)[0].(map[string]any)); r.status != 409 {
			t.Fatalf("message while waiting: %d %s", r.status, r.body)
		}
		if r := post(map[string]any{"type": "user.tool_confirmation", "tool_use_id": "evt_999999", "result": "allow"}); r.status != 404 {
			t.Fatalf("confirmation of an unknown event: %d %s", r.status, r.body)
		}
		confirm := map[string]any{"type": "user.tool_confirmation", "tool_use_id": ids[0], "result": c.result}
		if c.result == "deny" {
			confirm["deny_message"] = "not that file"
		}
		if r := post(confirm); r.status != 202 {
			t.Fatalf("confirmation: %d %s", r.status, r.body)
		}
		n := before + len(turn)
		rest := s.waitIdle(sid, n)
		if r := stopReason(rest[len(rest)-1]); r["type"] != "end_turn" {
			t.Fatalf("%s: after the confirmation: %v", c.result, rest)
		}
		var conf, result map[string]any
		for _, e := range rest {
			switch e["type"] {
			case "user.tool_confirmation":
				conf = payload(e)
			case "agent.tool_result":
				result = payload(e)
			}
		}
		if conf == nil || conf["tool_use_id"] != ids[0] || conf["result"] != c.result {
			t.Fatalf("%s: confirmation event %v in %v", c.result, conf, sessionTypes(rest))
		}
		if result == nil || result["tool_use_id"] != ids[0] || result["is_error"] != (c.result == "deny") {
			t.Fatalf("%s: result %v", c.result, result)
		}
		if c.result == "deny" && !strings.Contains(fmt.Sprint(result["content"]), "not that file") {
			t.Fatalf("deny reason not told: %v", result)
		}
		if r := post(confirm); r.status != 409 {
			t.Fatalf("confirming twice: %d %s", r.status, r.body)
		}
	}

	// Another session of the same user (the same deployment) can neither
	// see this session's events nor answer its tool uses.
	other := str(s.createSession(str(ag["id"]), map[string]any{"userId": "carol"})["id"])
	before := len(s.sessionEvents(sid, 0))
	s.must(202, "POST", "/v1/sessions/"+sid+"/events", userMessage(`/tool write_file {"path":"c.txt","content":"x"}`))
	turn := s.waitIdle(sid, before)
	waiting := stopReason(turn[len(turn)-1])["event_ids"].([]any)[0]
	for _, e := range []map[string]any{
		{"type": "user.tool_confirmation", "tool_use_id": waiting, "result": "allow"},
		{"type": "user.custom_tool_result", "custom_tool_use_id": waiting, "content": []any{map[string]any{"type": "text", "text": "x"}}},
	} {
		r := s.do("POST", "/v1/sessions/"+other+"/events", map[string]any{"events": []any{e}})
		if r.status != 404 {
			t.Fatalf("another session answers this one's tool use: %d %s", r.status, r.body)
		}
	}
	if evs := s.sessionEvents(other, 0); len(evs) != 0 {
		t.Fatalf("another session sees events: %v", sessionTypes(evs))
	}
	if r := post(map[string]any{"type": "user.interrupt"}); r.status != 202 {
		t.Fatalf("interrupt while waiting: %d %s", r.status, r.body)
	}
	if idle := s.waitIdle(sid, before+len(turn)); stopReason(idle[len(idle)-1])["type"] != "interrupted" {
		t.Fatalf("interrupting a waiting turn: %v", idle)
	}

	// Interrupt a running turn (the demo model streams a word every 30 ms).
	before = len(s.sessionEvents(sid, 0))
	s.must(202, "POST", "/v1/sessions/"+sid+"/events", userMessage(strings.Repeat("word ", 150)))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		evs := s.sessionEvents(sid, before)
		if len(evs) > 0 && evs[len(evs)-1]["type"] == "agent.message" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no streaming: %v", sessionTypes(evs))
		}
	}
	if st := s.must(200, "GET", "/v1/sessions/"+sid, nil); st["status"] != "running" {
		t.Fatalf("status while streaming: %v", st["status"])
	}
	if r := post(userMessage("me too")["events"].([]any)[0].(map[string]any)); r.status != 409 {
		t.Fatalf("message while running: %d %s", r.status, r.body)
	}
	if r := post(map[string]any{"type": "user.interrupt", "message": "stop"}); r.status != 202 {
		t.Fatalf("interrupt: %d %s", r.status, r.body)
	}
	turn = s.waitIdle(sid, before)
	if r := stopReason(turn[len(turn)-1]); r["type"] != "interrupted" {
		t.Fatalf("after the interrupt: %v", turn[len(turn)-1])
	}
	checkSequence(t, sid, s.sessionEvents(sid, 0))
	// Idle again: a new message works; an interrupt does nothing.
	if r := post(map[string]any{"type": "user.interrupt"}); r.status != 202 {
		t.Fatalf("interrupt while idle: %d %s", r.status, r.body)
	}
}

// Bad session events get a clear error and change nothing.
func TestSessionEventErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DEMO_WORD_DELAY": "0s"})
	ag := s.createAgent(map[string]any{"name": "Plain", "model": "demo/demo"})
	sid := str(s.createSession(str(ag["id"]), nil)["id"])
	long := strings.Repeat("x", 20_001)
	for _, c := range []struct {
		body any
		want string
	}{
		{map[string]any{"events": []any{}}, "1 to 100"},
		{map[string]any{"events": []any{map[string]any{"type": "user.dance"}}}, "not a user event"},
		{map[string]any{"events": []any{map[string]any{"type": "user.message"}}}, "content"},
		{map[string]any{"events": []any{map[string]any{"type": "user.message", "content": []any{map[string]any{"type": "image", "text": "x"}}}}}, "type must be text"},
		{map[string]any{"events": []any{map[string]any{"type": "user.message", "content": []any{map[string]any{"type": "text", "text": long}}}}}, "20000"},
		{map[string]any{"events": []any{userMessage("a")["events"].([]any)[0], userMessage("b")["events"].([]any)[0]}}, "only one user.message"},
		{map[string]any{"events": []any{map[string]any{"type": "user.tool_confirmation", "tool_use_id": "evt_1", "result": "maybe"}}}, "allow or deny"},
		{map[string]any{"events": []any{map[string]any{"type": "user.custom_tool_result", "custom_tool_use_id": "nope", "content": []any{map[string]any{"type": "text", "text": "x"}}}}}, "not an event id"},
	} {
		r := s.do("POST", "/v1/sessions/"+sid+"/events", c.body)
		if r.status != 400 || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%v: %d %s", c.body, r.status, r.body)
		}
	}
	if evs := s.sessionEvents(sid, 0); len(evs) != 0 {
		t.Fatalf("rejected events left events: %v", evs)
	}
	for _, bad := range []map[string]any{
		{"name": "x"}, // no model
		{"name": "x", "model": "demo/demo", "tools": []any{map[string]any{"type": "mcp_toolset", "mcpServerName": "nope"}}},
		{"name": "x", "model": "demo/demo", "mcpServers": []any{map[string]any{"type": "url", "name": "crm", "url": "https://crm.example.com/mcp"}}},
		{"name": "x", "model": "demo/demo", "tools": []any{map[string]any{"type": "agent_toolset", "configs": []any{map[string]any{"name": "no_such_tool", "enabled": false}}}}},
		{"name": "x", "model": "demo/demo", "features": map[string]any{"automations": true}},
		{"name": "x", "model": "demo/demo", "skills": []any{map[string]any{"name": "a", "source": "file", "path": "skills/a"}}},
		{"name": "x", "model": "demo/demo", "instructions": strings.Repeat("x", 100_001)},
	} {
		if r := s.do("POST", "/v1/agents", bad); r.status != 400 {
			t.Errorf("agent %.200v: %d %s", bad, r.status, r.body)
		}
	}
	if r := s.do("GET", "/v1/sessions/sesn_nope/events", nil); r.status != 404 {
		t.Fatalf("unknown session: %d", r.status)
	}
}

// The session stream replays after any sequence exactly once, in order,
// and a reconnect from the last id seen continues without a gap or a
// repeat.
func TestSessionStreamResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DEMO_WORD_DELAY": "0s"})
	ag := s.createAgent(memoryAgent)
	sid := str(s.createSession(str(ag["id"]), map[string]any{"userId": "dave"})["id"])
	st := s.openStream("/v1/sessions/" + sid + "/events/stream")
	s.must(202, "POST", "/v1/sessions/"+sid+"/events", userMessage("first turn with several words to stream"))
	got := st.until(t, func(e sseEvent) bool { return e.typ == "session.status_idle" })
	st.close()
	all := s.sessionEvents(sid, 0)
	if len(got) != len(all) {
		t.Fatalf("stream %d events, list %d", len(got), len(all))
	}
	for i, e := range got {
		if e.id != strconv.Itoa(i+1) || e.data["sequence"] != float64(i+1) || e.typ != all[i]["type"] || e.data["id"] != all[i]["id"] {
			t.Fatalf("stream event %d: %s %s %v (list %v)", i, e.id, e.typ, e.data, all[i])
		}
	}
	// A second turn while nobody listens; then resume from every position.
	s.say(sid, "second turn")
	all = s.sessionEvents(sid, 0)
	checkSequence(t, sid, all)
	for from := 0; from < len(all); from++ {
		st := s.openStream("/v1/sessions/"+sid+"/events/stream", "Last-Event-ID", strconv.Itoa(from))
		rest := st.until(t, func(e sseEvent) bool { return e.data["sequence"] == float64(len(all)) })
		st.close()
		if len(rest) != len(all)-from {
			t.Fatalf("resume from %d: %d events, want %d", from, len(rest), len(all)-from)
		}
		for i, e := range rest {
			b, _ := json.Marshal(e.data)
			w, _ := json.Marshal(all[from+i])
			if string(b) != string(w) {
				t.Fatalf("resume from %d, event %d:\n%s\nwant\n%s", from, i, b, w)
			}
		}
	}
	if r := s.do("GET", "/v1/sessions/"+sid+"/events?cursor="+strconv.Itoa(len(all)+5), nil); r.status != 400 {
		t.Fatalf("a cursor past the end: %d", r.status)
	}

	// A live stream (no cursor) says where it starts before any event, as
	// does the deployments' stream: a client cut off before its first
	// event resumes from there.
	for path, want := range map[string]string{
		"/v1/sessions/" + sid + "/events/stream": strconv.Itoa(len(all)),
	} {
		if got := firstID(t, s, path); got != want {
			t.Fatalf("%s: first id %q, want %q", path, got, want)
		}
	}
}

// firstID opens a stream and returns the id of its first frame.
func firstID(t *testing.T, s *server, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), "id: "); ok {
			return id
		}
	}
}

// A session's custom tool round trip (agent.custom_tool_use → idle with
// requires_action → user.custom_tool_result → final answer) survives a
// kill -9 while it waits; results may come one event at a time.
func TestSessionCustomToolKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	script := llmtest.NewScript(
		llmtest.Turn{Words: []string{"Looking."}, ToolCalls: []llm.ToolCall{
			call("c1", "lookup_order", `{"order_id":"A1"}`),
			call("c2", "lookup_order", `{"order_id":"B2"}`),
		}},
		llmtest.Turn{Words: []string{"A1 shipped, B2 is late."}},
	)
	fake := llmtest.NewOpenAIServer(script)
	defer fake.Close()
	env := []string{"HERM_RATE_LIMIT=-1", "OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + fake.BaseURL(), "HERM_DEFAULT_MODEL=openai/gpt-test"}
	dir := t.TempDir()
	p := startProc(t, dir, env...)
	s := p.client(t)
	custom := map[string]any{"type": "custom"}
	for k, v := range lookupTool {
		custom[k] = v
	}
	ag := s.createAgent(map[string]any{"name": "Orders", "model": "openai/gpt-test", "tools": []any{custom}})
	sid := str(s.createSession(str(ag["id"]), map[string]any{"userId": "erin"})["id"])
	turn := s.say(sid, "Where are my orders?")
	r := stopReason(turn[len(turn)-1])
	ids, _ := r["event_ids"].([]any)
	if r["type"] != "requires_action" || len(ids) != 2 {
		t.Fatalf("idle %v", turn[len(turn)-1])
	}
	for _, e := range turn {
		if e["id"] == ids[0] && (e["type"] != "agent.custom_tool_use" || payload(e)["name"] != "lookup_order") {
			t.Fatalf("event_ids name %v", e)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited

	p2 := startProc(t, dir, env...)
	s2 := p2.client(t)
	result := func(id any, text string) map[string]any {
		return map[string]any{"events": []any{map[string]any{"type": "user.custom_tool_result", "custom_tool_use_id": id, "content": []any{map[string]any{"type": "text", "text": text}}}}}
	}
	n := len(s2.sessionEvents(sid, 0))
	s2.must(202, "POST", "/v1/sessions/"+sid+"/events", result(ids[1], "B2: late"))
	time.Sleep(100 * time.Millisecond)
	if evs := s2.sessionEvents(sid, n); len(evs) != 0 {
		t.Fatalf("the turn went on with a result missing: %v", sessionTypes(evs))
	}
	s2.must(202, "POST", "/v1/sessions/"+sid+"/events", result(ids[0], "A1: shipped"))
	rest := s2.waitIdle(sid, n)
	if r := stopReason(rest[len(rest)-1]); r["type"] != "end_turn" {
		t.Fatalf("after the results: %v", rest)
	}
	var answered []string
	for _, e := range rest {
		if e["type"] == "user.custom_tool_result" {
			answered = append(answered, str(payload(e)["custom_tool_use_id"]))
		}
	}
	if strings.Join(answered, ",") != str(ids[0])+","+str(ids[1]) {
		t.Fatalf("custom tool results %v (ids %v): %v", answered, ids, sessionTypes(rest))
	}
	reqs := script.Requests()
	got := toolMessages(reqs[len(reqs)-1])
	if got["c1"].Content != "A1: shipped" || got["c2"].Content != "B2: late" {
		t.Fatalf("the model got %+v", got)
	}
	checkSequence(t, sid, s2.sessionEvents(sid, 0))
}

// Agents and sessions need a key not limited to a customer; a customer's
// key reaches none of them.
func TestSessionsNeedAnUnscopedKey(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DEMO_WORD_DELAY": "0s"})
	ag := s.createAgent(memoryAgent)
	sid := str(s.createSession(str(ag["id"]), map[string]any{"userId": "frank"})["id"])
	key := s.must(201, "POST", "/v1/api_keys", map[string]any{"name": "acme", "scopes": []any{"deployments:read", "deployments:write"}, "customer_id": "frank"})["key"].(string)
	c := &server{t: t, url: s.url, key: key}
	for _, p := range []string{"/v1/agents", "/v1/agents/" + str(ag["id"]), "/v1/sessions", "/v1/sessions/" + sid, "/v1/sessions/" + sid + "/events"} {
		if r := c.do("GET", p, nil); r.status != 403 {
			t.Errorf("customer key GET %s: %d %s", p, r.status, r.body)
		}
	}
	if r := c.do("POST", "/v1/sessions/"+sid+"/events", userMessage("hi")); r.status != 403 {
		t.Errorf("customer key sends: %d", r.status)
	}
}

// A user.message with an output_schema: the turn's typed result is the
// output of its session.status_idle; an answer that stays invalid after
// the repair turn ends it with stop_reason error.
func TestSessionTypedResult(t *testing.T) {
	t.Parallel()
	script := llmtest.NewScript(words(`{"verdict":`, `"approve"}`), words("no JSON"), words("still none"))
	s := transcriptServer(t, script, nil)
	ag := s.createAgent(map[string]any{"name": "Judge", "model": "openai/gpt-test"})
	sid := str(s.createSession(str(ag["id"]), nil)["id"])
	schema := map[string]any{"type": "object", "required": []any{"verdict"}, "properties": map[string]any{"verdict": map[string]any{"type": "string", "enum": []any{"approve", "reject"}}}}
	ask := func(text string) []map[string]any {
		before := len(s.sessionEvents(sid, 0))
		msg := userMessage(text)
		msg["events"].([]any)[0].(map[string]any)["output_schema"] = schema
		s.must(202, "POST", "/v1/sessions/"+sid+"/events", msg)
		return s.waitIdle(sid, before)
	}
	turn := ask("Judge this.")
	idle := payload(turn[len(turn)-1])
	if out, _ := idle["output"].(map[string]any); out["verdict"] != "approve" || stopReason(turn[len(turn)-1])["type"] != "end_turn" {
		t.Fatalf("typed result: %v", idle)
	}
	turn = ask("Judge that.")
	if r := stopReason(turn[len(turn)-1]); r["type"] != "error" || !strings.Contains(str(r["message"]), "schema") {
		t.Fatalf("invalid typed result: %v", turn[len(turn)-1])
	}
	if r := s.do("POST", "/v1/sessions/"+sid+"/events", map[string]any{"events": []any{map[string]any{
		"type": "user.message", "content": []any{map[string]any{"type": "text", "text": "x"}}, "output_schema": map[string]any{"type": "nonsense"}}}}); r.status != 400 {
		t.Fatalf("a bad output_schema: %d %s", r.status, r.body)
	}
}

// A custom tool use nobody answers within the steering timeout gets an
// error result and the turn goes on: session.error (custom_tool_timeout),
// then the call's user.custom_tool_result with is_error, then the answer.
func TestSessionCustomToolTimeout(t *testing.T) {
	t.Parallel()
	script := llmtest.NewScript(
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c1", "lookup_order", `{"order_id":"A1"}`)}},
		words("Nobody answered."),
	)
	s := transcriptServer(t, script, map[string]string{"HERM_STEERING_TIMEOUT": "300ms"})
	custom := map[string]any{"type": "custom"}
	for k, v := range lookupTool {
		custom[k] = v
	}
	ag := s.createAgent(map[string]any{"name": "Orders", "model": "openai/gpt-test", "tools": []any{custom}})
	sid := str(s.createSession(str(ag["id"]), nil)["id"])
	s.must(202, "POST", "/v1/sessions/"+sid+"/events", userMessage("Where is A1?"))
	var evs []map[string]any
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		evs = s.sessionEvents(sid, 0)
		if n := len(evs); n > 0 && evs[n-1]["type"] == "session.status_idle" && stopReason(evs[n-1])["type"] == "end_turn" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the turn did not end: %v", sessionTypes(evs))
		}
	}
	checkSequence(t, sid, evs)
	var use string
	var order []string
	for _, e := range evs {
		switch e["type"] {
		case "agent.custom_tool_use":
			use = str(e["id"])
			order = append(order, "use")
		case "session.error":
			if p := payload(e)["error"].(map[string]any); p["type"] == "custom_tool_timeout" && strings.Contains(str(p["message"]), use) {
				order = append(order, "timeout")
			}
		case "user.custom_tool_result":
			if p := payload(e); p["custom_tool_use_id"] == use && p["is_error"] == true {
				order = append(order, "result")
			}
		case "session.status_idle":
			order = append(order, str(stopReason(e)["type"]))
		}
	}
	if strings.Join(order, ",") != "use,requires_action,timeout,result,end_turn" {
		t.Fatalf("order %v in %v", order, sessionTypes(evs))
	}
	got := toolMessages(script.Requests()[1])
	if !strings.Contains(got["c1"].Content, "in time") {
		t.Fatalf("the model got %+v", got["c1"])
	}
}

// A session's stream token opens that session's stream without the
// Authorization header (a browser's EventSource), and nothing else.
func TestSessionStreamToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_DEMO_WORD_DELAY": "0s"})
	ag := s.createAgent(memoryAgent)
	a := str(s.createSession(str(ag["id"]), map[string]any{"userId": "gina"})["id"])
	b := str(s.createSession(str(ag["id"]), map[string]any{"userId": "gina"})["id"])
	s.say(a, "hello")
	tok := s.must(201, "POST", "/v1/sessions/"+a+"/events/tokens", nil)
	if tok["sessionId"] != a || !strings.Contains(str(tok["url"]), "/v1/sessions/"+a+"/events/stream?access_token=") {
		t.Fatalf("token %v", tok)
	}
	anon := &server{t: t, url: s.url}
	get := func(path string) int {
		req, _ := http.NewRequest("GET", s.url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	q := "?after=0&access_token=" + url.QueryEscape(str(tok["token"]))
	st := anon.openStream("/v1/sessions/" + a + "/events/stream" + q)
	if got := st.until(t, func(e sseEvent) bool { return e.typ == "session.status_idle" }); got[0].data["sequence"] != 1.0 {
		t.Fatalf("stream with the token: %v", got[0])
	}
	st.close()
	for _, p := range []string{"/v1/sessions/" + b + "/events/stream" + q, "/v1/sessions/" + a + "/events" + q, "/v1/sessions/" + a + q} {
		if code := get(p); code != 401 {
			t.Errorf("GET %s with a's token: %d", p, code)
		}
	}
}
