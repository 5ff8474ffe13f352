package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// herm runs a client command against s with stdin as its input.
func (s *server) herm(stdin string, args ...string) (string, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := map[string]string{"HERM_URL": s.url, "HERM_API_KEY": s.key}
	var out, errOut strings.Builder
	err := runCLI(ctx, args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

// hermOK is herm that must succeed.
func (s *server) hermOK(stdin string, args ...string) string {
	s.t.Helper()
	out, err := s.herm(stdin, args...)
	if err != nil {
		s.t.Fatalf("herm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// hermJSON is hermOK with --json, decoded.
func (s *server) hermJSON(args ...string) map[string]any {
	s.t.Helper()
	var v map[string]any
	out := s.hermOK("", append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		s.t.Fatalf("herm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// TestCLI drives the resources from the command line: a deployment, a run
// sent and streamed with the demo model, runs, threads, files, memories
// and keys.
func TestCLI(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_SANDBOX": "process"})
	d := s.hermJSON("deployments", "create", "--customer", "cus_cli", "--name", "CLI agent", "--system-prompt", "Be brief.", "--metadata", "team=docs")
	id := d["deployment_id"].(string)
	if d["customer_id"] != "cus_cli" || d["metadata"].(map[string]any)["team"] != "docs" {
		t.Fatalf("created %v", d)
	}
	if got := s.hermJSON("deployments", "get", id, "--wait"); got["status"] != "ready" {
		t.Fatalf("after --wait: %v", got["status"])
	}
	if out := s.hermOK("", "deployments", "list", "--customer", "cus_cli"); !strings.Contains(out, id) || !strings.Contains(out, "CLI agent") {
		t.Fatalf("list:\n%s", out)
	}
	if u := s.hermJSON("deployments", "update", id, "--name", "Renamed"); u["name"] != "Renamed" || u["config_version"].(float64) != 2 {
		t.Fatalf("update: %v", u)
	}

	out := s.hermOK("", "send", id, "Give me five ad ideas")
	if !strings.HasPrefix(out, "[demo model] ") || !strings.Contains(out, "Give me five ad ideas") {
		t.Fatalf("send printed:\n%s", out)
	}
	th := s.hermJSON("threads", "get", id, d["thread_id"].(string))
	msgs := th["messages"].([]any)
	if agent := msgs[len(msgs)-1].(map[string]any)["content"].(string); strings.TrimSpace(out) != agent {
		t.Fatalf("send printed %q, the agent's message is %q", out, agent)
	}
	runs := s.hermJSON("runs", "list", id)["data"].([]any)
	if len(runs) != 1 || runs[0].(map[string]any)["status"] != "completed" {
		t.Fatalf("runs %v", runs)
	}
	run := runs[0].(map[string]any)["run_id"].(string)
	if out := s.hermOK("", "runs", "get", id, run); !strings.Contains(out, run+" completed") {
		t.Fatalf("runs get:\n%s", out)
	}
	if _, err := s.herm("", "runs", "cancel", id, run); err == nil || !strings.Contains(err.Error(), "409 conflict") {
		t.Fatalf("cancel a finished run: %v", err)
	}
	ev := s.hermOK("", "events", id, "--types", "run_status")
	if !strings.Contains(ev, "run_status") || !strings.Contains(ev, `"status":"completed"`) {
		t.Fatalf("events:\n%s", ev)
	}

	// send --json prints the run's events as JSON lines.
	out = s.hermOK("", "send", id, "again", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last["type"] != "run_status" || last["status"] != "completed" {
		t.Fatalf("send --json ends with %q (%v)", lines[len(lines)-1], err)
	}

	tid := s.hermJSON("threads", "create", id, "--title", "Second")["thread_id"].(string)
	s.hermOK("", "threads", "rename", id, tid, "Third")
	if out := s.hermOK("", "threads", "list", id); !strings.Contains(out, "Third") || !strings.Contains(out, "(default)") {
		t.Fatalf("threads list:\n%s", out)
	}
	s.hermOK("", "threads", "delete", id, tid)

	s.hermOK("hello file\n", "files", "put", id, "notes/a.txt")
	if got := s.hermOK("", "files", "cat", id, "notes/a.txt"); got != "hello file\n" {
		t.Fatalf("files cat: %q", got)
	}
	if out := s.hermOK("", "files", "ls", id, "notes"); !strings.Contains(out, "a.txt") {
		t.Fatalf("files ls:\n%s", out)
	}
	s.hermOK("", "files", "rm", id, "notes/a.txt")
	if _, err := s.herm("", "files", "cat", id, "notes/a.txt"); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("cat a removed file: %v", err)
	}

	m := s.hermJSON("memories", "add", id, "The customer prefers short answers.")
	if out := s.hermOK("", "memories", "list", id); !strings.Contains(out, m["memory_id"].(string)) {
		t.Fatalf("memories list:\n%s", out)
	}
	k := s.hermJSON("keys", "create", "--name", "ci", "--scope", "deployments:read")
	if !strings.HasPrefix(k["key"].(string), "herm_sk_") {
		t.Fatalf("key %v", k)
	}
	if out := s.hermOK("", "keys", "list"); !strings.Contains(out, k["key_id"].(string)) {
		t.Fatalf("keys list:\n%s", out)
	}
	s.hermOK("", "keys", "delete", k["key_id"].(string))
	if out := s.hermOK("", "models", "list"); !strings.Contains(out, "demo/demo") {
		t.Fatalf("models list:\n%s", out)
	}
	if got := s.hermJSON("deployments", "delete", id); got["status"] != "deleting" {
		t.Fatalf("delete: %v", got)
	}
}

// TestCLISendApproval answers a steering request inline: y approves the
// tool call, n denies it, and with no answer on the input the command
// says how to answer later.
func TestCLISendApproval(t *testing.T) {
	t.Parallel()
	s := startServer(t, map[string]string{"HERM_SANDBOX": "process"})
	id := s.createReady(nil)["deployment_id"].(string)
	if out := s.hermOK("", "tools", "set", id, "write_file", "--permission", "always_ask"); !strings.Contains(out, "permission=always_ask") {
		t.Fatalf("tools set: %s", out)
	}
	out := s.hermOK("y\n", "send", id, `/tool write_file {"path": "approved.txt", "content": "yes"}`)
	if !strings.Contains(out, "Approve? [y/n]") || !strings.Contains(out, "→ approve") || !strings.Contains(out, "⚙ write_file") || !strings.Contains(out, "↳") {
		t.Fatalf("send printed:\n%s", out)
	}
	if got := s.hermOK("", "files", "cat", id, "approved.txt"); got != "yes" {
		t.Fatalf("approved.txt: %q", got)
	}

	out = s.hermOK("maybe\nn\n", "send", id, `/tool write_file {"path": "denied.txt", "content": "no"}`)
	if !strings.Contains(out, "please answer y or n") || !strings.Contains(out, "→ deny") {
		t.Fatalf("send printed:\n%s", out)
	}
	if _, err := s.herm("", "files", "cat", id, "denied.txt"); err == nil {
		t.Fatal("a denied write ran")
	}

	_, err := s.herm("", "send", id, `/tool write_file {"path": "later.txt", "content": "x"}`)
	if err == nil || !strings.Contains(err.Error(), "herm steering respond "+id) {
		t.Fatalf("no answer: %v", err)
	}
	pending := s.hermJSON("steering", "list", id, "--status", "pending")["data"].([]any)
	if len(pending) != 1 {
		t.Fatalf("pending %v", pending)
	}
	req := pending[0].(map[string]any)["steering_request_id"].(string)
	if got := s.hermJSON("steering", "respond", id, req, "deny", "not now"); got["decision"] != "deny" {
		t.Fatalf("respond: %v", got)
	}
}

// TestCLIUsage: bad usage is a clear error, never a panic.
func TestCLIUsage(t *testing.T) {
	t.Parallel()
	s := &server{t: t, url: "http://127.0.0.1:1", key: "k"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"deployments"}, "missing subcommand"},
		{[]string{"deployments", "frob"}, `unknown subcommand "frob"`},
		{[]string{"deployments", "get"}, "missing arguments"},
		{[]string{"deployments", "get", "a", "b"}, "too many arguments (b)"},
		{[]string{"deployments", "create", "--name", "x"}, "--customer and --name are required"},
		{[]string{"runs", "list", "dep_1", "--limit", "many"}, "invalid value"},
		{[]string{"send", "dep_1"}, "missing arguments"},
		{[]string{"steering", "respond", "dep_1", "str_1", "maybe"}, "approve, deny or answer"},
		{[]string{"skills", "add", "dep_1", "--name", "x"}, "exactly one of --file, --url, --path"},
		{[]string{"tools", "set", "dep_1", "shell"}, "give --enabled or --permission"},
		{[]string{"agents", "create", "--name", "x"}, "--name and --model are required"},
		{[]string{"sessions", "create", "--user", "u"}, "--agent is required"},
		{[]string{"sessions", "confirm", "sesn_1", "evt_1"}, "give --allow or --deny"},
		{[]string{"sessions", "confirm", "sesn_1", "evt_1", "--allow", "--deny"}, "give --allow or --deny"},
		{[]string{"sessions", "confirm", "sesn_1", "evt_1", "--allow", "--message", "m"}, "--message goes with --deny"},
		{[]string{"sessions", "update", "sesn_1"}, "give --title or --metadata"},
		{[]string{"sessions", "events", "sesn_1", "--after", "-5"}, "--after is a sequence"},
		{[]string{"sessions", "send", "sesn_1"}, "missing arguments"},
		{[]string{"agents", "get", "agt_1", "--version", "two"}, "invalid value"},
		{[]string{"deployments", "get", "dep_1"}, "connection refused"},
	} {
		_, err := s.herm("", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("herm %s: %v, want an error with %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	var out strings.Builder
	err := runCLI(context.Background(), []string{"runs", "list", "dep_1"}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "HERM_API_KEY") {
		t.Errorf("without a key: %v", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"deployments", "threads", "send", "runs", "events", "files", "memories", "skills", "tools", "automations", "steering", "secrets", "keys", "webhooks", "agents", "sessions"} {
		if !strings.Contains(out.String(), "\n  "+cmd+" ") {
			t.Errorf("help does not list %s:\n%s", cmd, out.String())
		}
	}
	// Every subcommand's flags are defined without a clash, and -h prints
	// its usage.
	for _, c := range []string{"deployments create", "deployments list", "deployments get", "deployments update", "deployments delete",
		"threads create", "threads list", "threads get", "threads rename", "threads delete", "send send", "events events",
		"runs list", "runs get", "runs cancel", "files ls", "files cat", "files put", "files rm",
		"memories list", "memories add", "memories get", "memories update", "memories delete",
		"skills list", "skills get", "skills add", "skills delete", "tools list", "tools set",
		"automations list", "automations get", "automations create", "automations update", "automations delete", "automations trigger",
		"steering list", "steering respond", "secrets list", "secrets get", "secrets create", "secrets rotate", "secrets delete",
		"keys list", "keys create", "keys delete", "webhooks list", "webhooks get", "webhooks create", "webhooks delete", "webhooks deliveries", "models list",
		"agents create", "agents list", "agents get", "agents update", "agents archive", "agents versions",
		"sessions create", "sessions list", "sessions get", "sessions update", "sessions archive", "sessions delete", "sessions send",
		"sessions events", "sessions confirm", "sessions tool-result", "sessions steer", "sessions interrupt"} {
		name, sub, _ := strings.Cut(c, " ")
		args := []string{name, sub, "-h"}
		if name == sub {
			args = []string{name, "-h"}
		}
		out.Reset()
		err := run(context.Background(), args, func(string) string { return "" }, &out, &out)
		if err != nil || !strings.Contains(out.String(), "herm "+name) {
			t.Errorf("herm %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"deployments", "-h"}, func(string) string { return "" }, &out, &out); err != nil || !strings.Contains(out.String(), "herm deployments create") {
		t.Errorf("deployments -h: %v\n%s", err, out.String())
	}
}
