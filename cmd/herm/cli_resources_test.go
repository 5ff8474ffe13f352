package main

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// human checks that out is a command's human output (not JSON) and holds
// every one of want.
func human(t *testing.T, what, out string, want ...string) {
	t.Helper()
	if strings.HasPrefix(strings.TrimSpace(out), "{") || strings.HasPrefix(strings.TrimSpace(out), "[") {
		t.Errorf("%s printed JSON without --json:\n%s", what, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: no %q in\n%s", what, w, out)
		}
	}
}

// hermList is hermOK with --json of a list, its items decoded.
func (s *server) hermList(args ...string) []map[string]any {
	s.t.Helper()
	var page struct {
		Data       []map[string]any `json:"data"`
		NextCursor *string          `json:"next_cursor"`
	}
	out := s.hermOK("", append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &page); err != nil || page.Data == nil {
		s.t.Fatalf("herm %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
	return page.Data
}

const testSkill = `---
name: release-notes
description: Writes release notes from a list of changes.
---
# Release notes
Group the changes by kind.
`

// TestCLIResources drives each resource's commands end to end against a
// server: create, list, get, update and delete where the API has them,
// with the human output and the --json output checked.
func TestCLIResources(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_SANDBOX": "process"})
	d := s.createReady(map[string]any{"customer_id": "cus_res", "metadata": map[string]any{"team": "ops"}})
	id := d["deployment_id"].(string)

	t.Run("deployments get", func(t *testing.T) {
		out := s.hermOK("", "deployments", "get", id)
		human(t, "deployments get", out, "deployment:", id, "status:", "ready", "customer:", "cus_res", "metadata:", "team=ops", "default thread:", d["thread_id"].(string))
		if got := s.hermJSON("deployments", "get", id); got["deployment_id"] != id || got["customer_id"] != "cus_res" {
			t.Errorf("--json: %v", got)
		}
	})

	t.Run("skills", func(t *testing.T) {
		sk := s.hermOK(testSkill, "skills", "add", id, "--name", "release-notes", "--file", "-")
		human(t, "skills add", sk, "release-notes", "Writes release notes")
		skills := s.hermList("skills", "list", id)
		var sid string
		for _, x := range skills {
			if x["name"] == "release-notes" {
				sid = x["skill_id"].(string)
			}
		}
		if sid == "" {
			t.Fatalf("skills list --json: %v", skills)
		}
		human(t, "skills list", s.hermOK("", "skills", "list", id), "SKILL", sid, "release-notes", "inline")
		if got := s.hermOK("", "skills", "get", id, sid); got != testSkill {
			t.Errorf("skills get printed %q, want the SKILL.md", got)
		}
		if got := s.hermJSON("skills", "get", id, sid); got["content"] != testSkill || got["skill_id"] != sid {
			t.Errorf("skills get --json: %v", got)
		}
		changed := strings.Replace(testSkill, "from a list of changes", "from a changelog", 1)
		human(t, "skills replace", s.hermOK(changed, "skills", "replace", id, sid, "--name", "release-notes", "--file", "-"), "from a changelog")
		if got := s.hermJSON("skills", "get", id, sid); got["description"] != "Writes release notes from a changelog." {
			t.Errorf("after replace: %v", got)
		}
		human(t, "skills delete", s.hermOK("", "skills", "delete", id, sid), sid+" deleted")
		if _, err := s.herm("", "skills", "get", id, sid); err == nil || !strings.Contains(err.Error(), "not_found") {
			t.Errorf("get a deleted skill: %v", err)
		}
	})

	t.Run("automations", func(t *testing.T) {
		a := s.hermJSON("automations", "create", id, "--name", "Weekly report", "--schedule", "every Monday at 9am", "--instructions", "Write the weekly report.\nKeep it short.", "--timezone", "Europe/Paris")
		aid := a["automation_id"].(string)
		if a["cron"] != "0 9 * * 1" || a["timezone"] != "Europe/Paris" || a["enabled"] != true {
			t.Fatalf("created %v", a)
		}
		human(t, "automations list", s.hermOK("", "automations", "list", id), "AUTOMATION", aid, "Weekly report", "every Monday at 9am")
		if l := s.hermList("automations", "list", id); len(l) != 1 || l[0]["automation_id"] != aid {
			t.Errorf("list --json: %v", l)
		}
		out := s.hermOK("", "automations", "get", id, aid)
		human(t, "automations get", out, "automation:", aid, "cron:", "0 9 * * 1", "timezone:", "Europe/Paris", "instructions:", "Write the weekly report.\n", "Keep it short.")
		// A multi-line value's further lines are aligned under its first.
		first, second := lineWith(out, "Write the weekly report."), lineWith(out, "Keep it short.")
		if strings.Index(first, "Write") != strings.Index(second, "Keep") {
			t.Errorf("instructions not aligned:\n%s\n%s", first, second)
		}
		u := s.hermOK("", "automations", "update", id, aid, "--enabled=false", "--schedule", "0 8 * * *")
		human(t, "automations update", u, aid, "0 8 * * *")
		if got := s.hermJSON("automations", "get", id, aid); got["enabled"] != false || got["cron"] != "0 8 * * *" {
			t.Errorf("after update: %v", got)
		}
		run := strings.TrimSpace(s.hermOK("", "automations", "trigger", id, aid))
		if !strings.HasPrefix(run, "run_") {
			t.Errorf("trigger printed %q", run)
		}
		s.waitRun(id, run, "completed")
		human(t, "automations get (runs)", s.hermOK("", "automations", "get", id, aid), "RUN", run, "completed")
		human(t, "automations delete", s.hermOK("", "automations", "delete", id, aid), aid+" deleted")
		if l := s.hermList("automations", "list", id); len(l) != 0 {
			t.Errorf("after delete: %v", l)
		}
	})

	t.Run("secrets", func(t *testing.T) {
		const value = "s3cr3t-value-xyz"
		sec := s.hermJSON2(value+"\n", "secrets", "create", "--name", "META_TOKEN", "--customer", "cus_res", "--allowed-host", "graph.example.com")
		sid := sec["secret_id"].(string)
		if sec["name"] != "META_TOKEN" || sec["customer_id"] != "cus_res" {
			t.Fatalf("created %v", sec)
		}
		list := s.hermOK("", "secrets", "list")
		human(t, "secrets list", list, "SECRET", sid, "META_TOKEN", "graph.example.com")
		get := s.hermOK("", "secrets", "get", sid)
		human(t, "secrets get", get, "secret:", sid, "name:", "META_TOKEN", "allowed hosts:", "graph.example.com", "rotated:", "-")
		human(t, "secrets rotate", s.hermOK("new-value\n", "secrets", "rotate", sid), sid+" rotated")
		g := s.hermJSON("secrets", "get", sid)
		if g["rotated_at"] == nil || g["secret_id"] != sid {
			t.Errorf("after rotate: %v", g)
		}
		for _, out := range []string{list, get, s.hermOK("", "secrets", "list", "--json")} {
			if strings.Contains(out, value) || strings.Contains(out, "new-value") {
				t.Errorf("a secret's value printed:\n%s", out)
			}
		}
		if _, err := s.herm("", "secrets", "create", "--name", "EMPTY"); err == nil || !strings.Contains(err.Error(), "no secret value on stdin") {
			t.Errorf("no value: %v", err)
		}
		human(t, "secrets delete", s.hermOK("", "secrets", "delete", sid), sid+" deleted")
		if _, err := s.herm("", "secrets", "get", sid); err == nil || !strings.Contains(err.Error(), "not_found") {
			t.Errorf("get a deleted secret: %v", err)
		}
	})

	t.Run("webhooks", func(t *testing.T) {
		h := s.hermJSON("webhooks", "create", "--url", "https://hooks.example.com/herm", "--event", "run_status,deployment_status", "--deployment", id)
		hid := h["webhook_id"].(string)
		if h["secret"] == "" || h["deployment_id"] != id {
			t.Fatalf("created %v", h)
		}
		human(t, "webhooks list", s.hermOK("", "webhooks", "list"), "WEBHOOK", hid, "https://hooks.example.com/herm", "run_status,deployment_status")
		get := s.hermOK("", "webhooks", "get", hid)
		human(t, "webhooks get", get, "webhook:", hid, "url:", "https://hooks.example.com/herm", "events:", "run_status, deployment_status", "deployment:", id)
		if strings.Contains(get, h["secret"].(string)) {
			t.Errorf("webhooks get printed the signing secret:\n%s", get)
		}
		human(t, "webhooks deliveries", s.hermOK("", "webhooks", "deliveries", hid), "DELIVERY")
		if l := s.hermList("webhooks", "deliveries", hid); len(l) != 0 {
			t.Errorf("deliveries: %v", l)
		}
		human(t, "webhooks delete", s.hermOK("", "webhooks", "delete", hid), hid+" deleted")
		if l := s.hermList("webhooks", "list"); len(l) != 0 {
			t.Errorf("after delete: %v", l)
		}
	})

	t.Run("memories", func(t *testing.T) {
		m := s.hermJSON("memories", "add", id, "The customer prefers metric units.")
		mid := m["memory_id"].(string)
		human(t, "memories list", s.hermOK("", "memories", "list", id, "--q", "metric"), "MEMORY", mid, "prefers metric units")
		human(t, "memories get", s.hermOK("", "memories", "get", id, mid), mid, "(api)", "prefers metric units")
		human(t, "memories update", s.hermOK("", "memories", "update", id, mid, "The customer prefers imperial units."), "imperial")
		if got := s.hermJSON("memories", "get", id, mid); got["content"] != "The customer prefers imperial units." {
			t.Errorf("after update: %v", got)
		}
		if l := s.hermList("memories", "list", id, "--q", "metric"); len(l) != 0 {
			t.Errorf("--q metric after the update: %v", l)
		}
		human(t, "memories delete", s.hermOK("", "memories", "delete", id, mid), mid+" deleted")
		if _, err := s.herm("", "memories", "delete", id, mid); err == nil || !strings.Contains(err.Error(), "not_found") {
			t.Errorf("deleted twice: %v", err)
		}
	})

	t.Run("tools", func(t *testing.T) {
		human(t, "tools list", s.hermOK("", "tools", "list", id), "TOOL", "shell", "builtin", "always_allow")
		human(t, "tools set", s.hermOK("", "tools", "set", id, "shell", "--enabled=false"), "shell enabled=false")
		var l struct {
			Data []struct {
				Name    string `json:"name"`
				Enabled bool   `json:"enabled"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(s.hermOK("", "tools", "list", id, "--json")), &l); err != nil {
			t.Fatal(err)
		}
		for _, tool := range l.Data {
			if tool.Name == "shell" && tool.Enabled {
				t.Errorf("shell still enabled: %+v", l.Data)
			}
		}
	})

	t.Run("mcp", func(t *testing.T) {
		m := s.hermJSON("mcp", "add", id, "crm", "https://mcp.example.com/mcp", "--tool", "lookup", "--header", "Authorization=Bearer abc123", "--permission", "always_ask")
		if m["name"] != "crm" || m["permission"] != "always_ask" {
			t.Fatalf("added %v", m)
		}
		if _, err := s.herm("", "mcp", "add", id, "crm", "https://mcp.example.com/other"); err == nil || !strings.Contains(err.Error(), "409") {
			t.Errorf("a second crm: %v", err)
		}
		out := s.hermOK("", "mcp", "list", id)
		human(t, "mcp list", out, "NAME", "crm", "https://mcp.example.com/mcp", "always_ask", "lookup", "Authorization")
		if strings.Contains(out, "abc123") {
			t.Errorf("mcp list printed a header's value:\n%s", out)
		}
		human(t, "mcp replace", s.hermOK("", "mcp", "replace", id, "crm", "https://mcp.example.com/v2"), "crm https://mcp.example.com/v2")
		l := s.hermList("mcp", "list", id)
		if len(l) != 1 || l[0]["url"] != "https://mcp.example.com/v2" || l[0]["permission"] != nil {
			t.Errorf("after replace: %v", l)
		}
		if got := s.hermJSON("deployments", "get", id)["mcp_servers"].([]any); len(got) != 1 {
			t.Errorf("the deployment's mcp_servers: %v", got)
		}
		human(t, "mcp remove", s.hermOK("", "mcp", "remove", id, "crm"), "crm removed")
		if l := s.hermList("mcp", "list", id); len(l) != 0 {
			t.Errorf("after remove: %v", l)
		}
	})

	t.Run("files", func(t *testing.T) {
		human(t, "files put", s.hermOK("one\n", "files", "put", id, "docs/a.txt"), "docs/a.txt (4 bytes)")
		if got := s.hermJSON2("one two\n", "files", "put", id, "docs/a.txt"); got["size"] != float64(8) {
			t.Errorf("put --json: %v", got)
		}
		human(t, "files ls", s.hermOK("", "files", "ls", id), "SIZE", "docs/")
		var l struct {
			Entries []map[string]any `json:"entries"`
		}
		if err := json.Unmarshal([]byte(s.hermOK("", "files", "ls", id, "docs", "--json")), &l); err != nil || len(l.Entries) != 1 || l.Entries[0]["name"] != "a.txt" {
			t.Errorf("ls --json: %v %v", l, err)
		}
		if got := s.hermOK("", "files", "cat", id, "docs/a.txt"); got != "one two\n" {
			t.Errorf("cat: %q", got)
		}
		human(t, "files rm", s.hermOK("", "files", "rm", id, "docs/a.txt"), "docs/a.txt deleted")
	})

	t.Run("keys", func(t *testing.T) {
		out := s.hermOK("", "keys", "create", "--name", "reader", "--scope", "deployments:read", "--customer", "cus_res")
		human(t, "keys create", out, "key_", "deployments:read", "herm_sk_", "shown this once")
		kid := strings.Fields(out)[0]
		human(t, "keys list", s.hermOK("", "keys", "list"), "KEY", kid, "reader", "cus_res")
		var found bool
		for _, k := range s.hermList("keys", "list") {
			if k["key_id"] == kid {
				found = k["key"] == nil && k["name"] == "reader"
			}
		}
		if !found {
			t.Errorf("keys list --json has no %s (or shows its secret)", kid)
		}
		human(t, "keys delete", s.hermOK("", "keys", "delete", kid), kid+" deleted")
		for _, k := range s.hermList("keys", "list") {
			if k["key_id"] == kid {
				t.Errorf("a deleted key is listed: %v", k)
			}
		}
	})
}

// hermJSON2 is hermJSON with stdin.
func (s *server) hermJSON2(stdin string, args ...string) map[string]any {
	s.t.Helper()
	var v map[string]any
	out := s.hermOK(stdin, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		s.t.Fatalf("herm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// lineWith is the line of out that contains s.
func lineWith(out, s string) string {
	for l := range strings.SplitSeq(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// TestCLISendQuestion answers the agent's question (ask_human) inline: the
// question and its options are shown and the typed line is the answer.
func TestCLISendQuestion(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_SANDBOX": "process"})
	id := s.createReady(nil)["deployment_id"].(string)
	ask := `/tool ask_human {"question": "Which colour for the logo?", "options": ["red", "blue"]}`
	out := s.hermOK("blue, please\n", "send", id, ask)
	for _, want := range []string{"⚙ ask_human", "? Which colour for the logo?", "(red / blue)", "answer> ", "→ answer", "↳ ", "blue, please"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	reqs := s.hermList("steering", "list", id)
	if len(reqs) != 1 || reqs[0]["kind"] != "question" || reqs[0]["decision"] != "answer" || reqs[0]["message"] != "blue, please" {
		t.Fatalf("steering requests: %v", reqs)
	}
	got := s.hermOK("", "steering", "get", id, reqs[0]["steering_request_id"].(string))
	human(t, "steering get", got, "kind:", "question", "options:", "red / blue", "decision:", "answer", "message:", "blue, please")

	// With --json the events are JSON lines and the question goes to
	// stderr; the answer is the same.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := map[string]string{"HERM_URL": s.url, "HERM_API_KEY": s.key}
	var stdout, stderr strings.Builder
	if err := runCLI(ctx, []string{"send", id, ask, "--json"}, func(k string) string { return env[k] }, strings.NewReader("red\n"), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "? Which colour for the logo?") {
		t.Errorf("stderr: %q", stderr.String())
	}
	for l := range strings.SplitSeq(strings.TrimSpace(stdout.String()), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("send --json printed a line that is not JSON: %q", l)
		}
	}

	// No answer on the input: the run waits and the error says how to
	// answer it later.
	_, err := s.herm("", "send", id, ask)
	if err == nil || !strings.Contains(err.Error(), "herm steering respond "+id) {
		t.Fatalf("no answer: %v", err)
	}
}

// freePort is a port of 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestCLIEventsFollow: herm events --follow prints new events as they
// come, goes on after the server restarts (on the same address) with
// neither a gap nor a repeat, and ends without an error when its context
// is cancelled (as Ctrl-C does).
func TestCLIEventsFollow(t *testing.T) {
	t.Parallel()
	dir, addr := t.TempDir(), "127.0.0.1:"+strconv.Itoa(freePort(t))
	env := map[string]string{"HERM_SANDBOX": "process", "HERM_DATA_DIR": dir, "HERM_ADDR": addr}
	s := startServer(t, env)
	id := s.createReady(nil)["deployment_id"].(string)
	before := s.allEvents(id)
	lastBefore := before[len(before)-1]["sequence"].(float64)
	after := before[len(before)-1]["event_id"].(string)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cliEnv := map[string]string{"HERM_URL": s.url, "HERM_API_KEY": s.key}
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runCLI(ctx, []string{"events", id, "--follow", "--after", after, "--json"}, func(k string) string { return cliEnv[k] }, strings.NewReader(""), &out, &errOut)
	}()
	// printed waits until the output has a completed run_status of run.
	printed := func(run string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !completedIn(out.String(), run) {
			if time.Now().After(deadline) {
				t.Fatalf("run %s's end not printed:\n%s", run, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	r1 := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "first"})["run_id"].(string)
	printed(r1)

	s.stop()
	s2 := startServer(t, env)
	r2 := s2.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "after the restart"})["run_id"].(string)
	s2.waitRun(id, r2, "completed")
	printed(r2)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("events --follow ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events --follow did not end when its context was cancelled")
	}
	// Exactly the stored events after the start, in order, each once.
	var want []string
	for _, e := range s2.allEvents(id) {
		if e["sequence"].(float64) > lastBefore {
			want = append(want, e["event_id"].(string))
		}
	}
	var got []string
	for l := range strings.SplitSeq(strings.TrimSpace(out.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		got = append(got, e["event_id"].(string))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("printed events\n%v\nstored\n%v", got, want)
	}
	if errOut.String() != "" {
		t.Errorf("stderr: %s", errOut.String())
	}
}

// completedIn reports whether the JSON lines in out have run's completed
// run_status.
func completedIn(out, run string) bool {
	for l := range strings.SplitSeq(out, "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) == nil && e["type"] == "run_status" && e["run_id"] == run && e["status"] == "completed" {
			return true
		}
	}
	return false
}
