package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// waitStatus polls a run until it has one of the statuses.
func (s *server) waitStatus(dep, run string, statuses ...string) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := s.must(200, "GET", "/v1/deployments/"+dep+"/runs/"+run, nil)
		for _, st := range statuses {
			if r["status"] == st {
				return r
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("run %s is %v, want %v", run, r["status"], statuses)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *server) pendingRequest(dep string) map[string]any {
	s.t.Helper()
	l := s.must(200, "GET", "/v1/deployments/"+dep+"/steering_requests?status=pending", nil)
	data := l["data"].([]any)
	if len(data) != 1 {
		s.t.Fatalf("pending requests: %v", l)
	}
	return data[0].(map[string]any)
}

// An always_ask tool pauses the run; approve runs it once, deny never.
func TestSteeringOverHTTP(t *testing.T) {
	s := startServer(t, nil)
	d := s.createReady(map[string]any{"tools": map[string]any{"write_file": map[string]any{"permission": "always_ask"}}})
	id := d["deployment_id"].(string)
	stream := s.openStream("/v1/deployments/" + id + "/events")

	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": `/tool write_file {"path": "approved.txt", "content": "yes"}`})
	run := sent["run_id"].(string)
	if r := s.waitStatus(id, run, "waiting_on_human"); r["stop_reason"] != "requires_action" {
		t.Fatalf("a waiting run's stop_reason: %v", r["stop_reason"])
	}
	sr := s.pendingRequest(id)
	if sr["kind"] != "approval" || sr["tool"] != "write_file" || sr["origin"] != "builtin" || sr["status"] != "pending" || sr["decision"] != nil ||
		sr["arguments"].(map[string]any)["path"] != "approved.txt" || sr["run_id"] != run {
		t.Fatalf("request %v", sr)
	}
	if r := s.do("GET", "/v1/deployments/"+id+"/files/content?path=approved.txt", nil); r.status != 404 {
		t.Fatalf("the tool ran before the approval: %d", r.status)
	}
	srID := sr["steering_request_id"].(string)
	if !strings.HasPrefix(srID, "str_") {
		t.Fatalf("id %q", srID)
	}
	got := s.must(200, "POST", "/v1/deployments/"+id+"/steering_requests/"+srID, map[string]any{"decision": "approve"})
	if got["status"] != "resolved" || got["decision"] != "approve" {
		t.Fatalf("resolved %v", got)
	}
	s.waitStatus(id, run, "completed")
	if r := s.do("GET", "/v1/deployments/"+id+"/files/content?path=approved.txt", nil); string(r.body) != "yes" {
		t.Fatalf("approved.txt: %d %q", r.status, r.body)
	}
	if r := s.do("POST", "/v1/deployments/"+id+"/steering_requests/"+srID, map[string]any{"decision": "deny"}); r.status != 409 || r.errCode(t) != "conflict" {
		t.Fatalf("second answer: %d %s", r.status, r.body)
	}
	evs := stream.until(t, runEnded(run))
	var types []string
	for _, ev := range evs {
		if ev.typ == "steering_request" || ev.typ == "steering_resolved" || (ev.typ == "run_status" && ev.data["run_id"] == run) {
			types = append(types, ev.typ+":"+str(ev.data["status"])+str(ev.data["decision"]))
		}
	}
	if strings.Join(types, ",") != "run_status:queued,run_status:running,steering_request:,run_status:waiting_on_human,steering_resolved:approve,run_status:running,run_status:completed" {
		t.Fatalf("events %v", types)
	}

	// Deny: the tool never runs and the model hears why.
	sent = s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": `/tool write_file {"path": "denied.txt", "content": "no"}`})
	run = sent["run_id"].(string)
	s.waitStatus(id, run, "waiting_on_human")
	srID = s.pendingRequest(id)["steering_request_id"].(string)
	s.must(200, "POST", "/v1/deployments/"+id+"/steering_requests/"+srID, map[string]any{"decision": "deny", "message": "not that file"})
	s.waitStatus(id, run, "completed")
	if r := s.do("GET", "/v1/deployments/"+id+"/files/content?path=denied.txt", nil); r.status != 404 {
		t.Fatalf("a denied tool ran: %d", r.status)
	}
	res := s.toolResults(id, run)
	if len(res) != 1 || !strings.Contains(res[0]["result"].(string), "not that file") || res[0]["is_error"] != true {
		t.Fatalf("denied result %v", res)
	}

	// Bad answers.
	for _, body := range []map[string]any{{}, {"decision": "maybe"}, {"decision": "answer"}} {
		if r := s.do("POST", "/v1/deployments/"+id+"/steering_requests/"+srID, body); r.status != 400 && r.status != 409 {
			t.Errorf("%v: %d %s", body, r.status, r.body)
		}
	}
	if r := s.do("POST", "/v1/deployments/"+id+"/steering_requests/str_missing", map[string]any{"decision": "approve"}); r.status != 404 {
		t.Errorf("unknown request: %d", r.status)
	}
	if r := s.do("GET", "/v1/deployments/"+id+"/steering_requests?status=open", nil); r.status != 400 {
		t.Errorf("bad status filter: %d", r.status)
	}
	all := s.must(200, "GET", "/v1/deployments/"+id+"/steering_requests", nil)
	if n := len(all["data"].([]any)); n != 2 {
		t.Fatalf("%d requests listed", n)
	}
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// A run waiting for approval survives kill -9; after the restart the
// approval runs the tool exactly once.
func TestKill9WhileWaitingOnHuman(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("the shell needs the local sandbox, which needs root")
	}
	t.Parallel()
	dir := t.TempDir()
	p := startProc(t, dir)
	s := p.client(t)
	d := s.createReady(map[string]any{"tools": map[string]any{"shell": map[string]any{"permission": "always_ask"}}})
	id := d["deployment_id"].(string)
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "run: echo once >> count.txt"})
	run := sent["run_id"].(string)
	s.waitStatus(id, run, "waiting_on_human")
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited

	p2 := startProc(t, dir)
	s2 := p2.client(t)
	s2.waitStatus(id, run, "waiting_on_human")
	srID := s2.pendingRequest(id)["steering_request_id"].(string)
	s2.must(200, "POST", "/v1/deployments/"+id+"/steering_requests/"+srID, map[string]any{"decision": "approve"})
	s2.waitStatus(id, run, "completed")
	b, err := os.ReadFile(filepath.Join(dir, "workspaces", id, "count.txt"))
	if err != nil || string(b) != "once\n" {
		t.Fatalf("count.txt %q %v", b, err)
	}
	checkLog(t, s2, id)
}

func TestToolsAPI(t *testing.T) {
	s := startServer(t, nil)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	list := s.must(200, "GET", "/v1/deployments/"+id+"/tools", nil)
	byName := map[string]map[string]any{}
	for _, x := range list["data"].([]any) {
		m := x.(map[string]any)
		byName[m["name"].(string)] = m
	}
	for _, name := range []string{"read_file", "write_file", "edit_file", "list_files", "search_files", "web_fetch", "todo", "ask_human"} {
		m := byName[name]
		if m == nil || m["origin"] != "builtin" || m["enabled"] != true || m["permission"] != "always_allow" || m["description"] == "" {
			t.Errorf("%s: %v", name, m)
		}
	}
	for _, name := range []string{"shell", "process"} {
		if _, ok := byName[name]; ok != localSandbox(t, s) {
			t.Errorf("%s listed: %v, code execution: %v", name, ok, localSandbox(t, s))
		}
	}
	got := s.must(200, "PATCH", "/v1/deployments/"+id+"/tools/write_file", map[string]any{"permission": "always_ask"})
	if got["permission"] != "always_ask" || got["enabled"] != true {
		t.Fatalf("patched %v", got)
	}
	got = s.must(200, "PATCH", "/v1/deployments/"+id+"/tools/write_file", map[string]any{"enabled": false})
	if got["permission"] != "always_ask" || got["enabled"] != false {
		t.Fatalf("patched again %v", got)
	}
	dep := s.must(200, "GET", "/v1/deployments/"+id, nil)
	if dep["config_version"].(float64) != 3 {
		t.Fatalf("config_version %v", dep["config_version"])
	}
	if r := s.do("PATCH", "/v1/deployments/"+id+"/tools/nope", map[string]any{"enabled": false}); r.status != 404 {
		t.Fatalf("unknown tool: %d %s", r.status, r.body)
	}
	if r := s.do("PATCH", "/v1/deployments/"+id+"/tools/todo", map[string]any{"permission": "sometimes"}); r.status != 400 {
		t.Fatalf("bad permission: %d %s", r.status, r.body)
	}
	// The disabled tool is not offered to the model any more.
	run := s.sendAndWait(id, `/tool write_file {"path": "x.txt", "content": "x"}`)
	if res := s.toolResults(id, run["run_id"].(string)); len(res) != 0 {
		t.Fatalf("a disabled tool ran: %v", res)
	}
}

// Cancel during a shell command kills its process tree and ends the run
// cancelled; mode interrupt does the same and starts the new run.
func TestCancelKillsTheRunningTool(t *testing.T) {
	s := startServer(t, nil)
	if !localSandbox(t, s) {
		t.Skip("the shell needs the local sandbox")
	}
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	for _, how := range []string{"cancel", "interrupt"} {
		marker := how + ".txt"
		sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "run: (sleep 2; echo late > " + marker + ") & sleep 60"})
		run := sent["run_id"].(string)
		deadline := time.Now().Add(15 * time.Second)
		for {
			calls := s.events(id, "tool_call")
			if n := len(calls); n > 0 && str(calls[n-1]["run_id"]) == run {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the shell did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
		start := time.Now()
		if how == "cancel" {
			s.must(202, "POST", "/v1/deployments/"+id+"/runs/"+run+"/cancel", nil)
		} else {
			next := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "never mind", "mode": "interrupt"})
			defer s.waitStatus(id, next["run_id"].(string), "completed")
		}
		s.waitStatus(id, run, "cancelled")
		t.Logf("%s took %v", how, time.Since(start))
		time.Sleep(2500 * time.Millisecond)
		if r := s.do("GET", "/v1/deployments/"+id+"/files/content?path="+marker, nil); r.status != 404 {
			t.Fatalf("%s: the tool's processes outlived the run", how)
		}
	}
}

// Usage is on every run, with the demo model's cost (free: 0), and a
// budget of 0 refuses new runs with 402.
func TestUsageAndBudgetOverHTTP(t *testing.T) {
	s := startServer(t, nil)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	run := s.sendAndWait(id, "hello")
	u := run["usage"].(map[string]any)
	if u["model_calls"].(float64) != 1 || u["input_tokens"].(float64) <= 0 || u["cost_usd"] != 0.0 {
		t.Fatalf("usage %v", u)
	}
	usage := s.events(id, "usage")
	if len(usage) != 1 || usage[0]["cost_usd"] != 0.0 {
		t.Fatalf("usage events %v", usage)
	}
	got := s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"budget_usd": 0})
	if got["budget_usd"] != 0.0 {
		t.Fatalf("budget %v", got["budget_usd"])
	}
	r := s.do("POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "more"})
	if r.status != 402 || r.errCode(t) != "insufficient_credits" {
		t.Fatalf("over budget: %d %s", r.status, r.body)
	}
	// null removes the cap.
	if got := s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"budget_usd": nil}); got["budget_usd"] != nil {
		t.Fatalf("budget after null: %v", got["budget_usd"])
	}
	s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "more"})
}

// An MCP server's permission applies to its tools; the deployment's
// setting for a tool overrides it (the catalog's effective permission,
// which the Tools API shows, is what pauses a run).
func TestMCPServerPermissionPauses(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "acme", Version: "1"}, nil)
	var calls atomic.Int32
	mcp.AddTool(srv, &mcp.Tool{Name: "ping", Description: "pings"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		calls.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, struct{}{}, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer ts.Close()
	s := startServer(t, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})
	id := s.createReady(map[string]any{"mcp_servers": []any{map[string]any{"name": "acme", "url": ts.URL, "permission": "always_ask"}}})["deployment_id"].(string)
	run := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "/tool acme__ping {}"})["run_id"].(string)
	s.waitStatus(id, run, "waiting_on_human")
	if sr := s.pendingRequest(id); sr["tool"] != "ping" || sr["origin"] != "acme" || sr["kind"] != "approval" {
		t.Fatalf("request %v", sr)
	}
	s.must(202, "POST", "/v1/deployments/"+id+"/runs/"+run+"/cancel", nil)
	s.waitStatus(id, run, "cancelled")
	if calls.Load() != 0 {
		t.Fatal("the tool ran without an approval")
	}
	if got := s.must(200, "PATCH", "/v1/deployments/"+id+"/tools/acme__ping", map[string]any{"permission": "always_allow"}); got["permission"] != "always_allow" {
		t.Fatalf("patched %v", got)
	}
	run = s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "/tool acme__ping {}"})["run_id"].(string)
	if r := s.waitStatus(id, run, "completed", "waiting_on_human"); r["status"] != "completed" || calls.Load() != 1 {
		t.Fatalf("with always_allow set on the tool: run %v, %d calls", r["status"], calls.Load())
	}
}

// A steering answer with a NUL character is refused, naming the field.
func TestSteeringMessageNUL(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	id := s.createReady(nil)["deployment_id"].(string)
	r := s.do("POST", "/v1/deployments/"+id+"/steering_requests/str_x", map[string]any{"decision": "answer", "message": "yes\x00"})
	if r.status != 400 || r.errCode(t) != "validation_error" || !strings.Contains(string(r.body), "message") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
