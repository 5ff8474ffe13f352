package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

// TestCluster runs three `herm serve` processes on one PostgreSQL schema
// and one data dir and shows what a cluster promises:
//   - an SSE stream on node A carries a run executing on node C;
//   - kill -9 of C mid tool call: another node finishes the run within the
//     lease + 5 s, the event sequence stays contiguous, and the tool call
//     is not run again (the counter file it appends to has one line);
//   - with three schedulers, an automation fires once at its due time;
//   - a webhook gets each event once.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL := postgresSchema(t) // skips without PostgreSQL
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("the local sandbox driver needs root")
	}

	// The model: the run on node C calls a tool that appends to a counter
	// file and then sleeps (node C is killed during the sleep); the redone
	// turn answers.
	const lease = 3 * time.Second
	tool, _ := json.Marshal(map[string]string{"command": "echo ran >> /workspace/counter; sleep 30"})
	script := llmtest.NewScript(
		llmtest.Turn{Words: []string{"Counting."}, ToolCalls: []llm.ToolCall{call("c1", "shell", string(tool))}},
		llmtest.Turn{Words: []string{"Counted ", "once."}},
	)
	fake := llmtest.NewOpenAIServer(script)
	defer fake.Close()

	// A webhook endpoint that counts what it gets per event.
	var mu sync.Mutex
	got := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer hook.Close()

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	env := func(node string) []string {
		return []string{"HERM_DATABASE_URL=" + dbURL, "HERM_NODE_ID=" + node, "HERM_NODE_LEASE=" + lease.String(),
			"HERM_AUTOMATION_POLL=200ms", "HERM_ALLOW_PRIVATE_NETWORKS=1", "HERM_RATE_LIMIT=-1",
			"OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + fake.BaseURL(), "HERM_DEFAULT_MODEL=openai/gpt-test"}
	}
	pa := startProc(t, dir, env("node-a")...)
	pb := startProc(t, dir, env("node-b")...)
	pc := startProc(t, dir, env("node-c")...)
	a, b, c := pa.client(t), pb.client(t), pc.client(t)

	// Three schedulers: an automation due at the next minute (on the demo
	// model, not the script).
	auto := b.createReady(map[string]any{"model": "demo/demo", "customer_id": "cus_auto"})
	autoID := auto["deployment_id"].(string)
	am := b.must(201, "POST", "/v1/deployments/"+autoID+"/automations", map[string]any{
		"name": "tick", "schedule": "* * * * *", "instructions": "Tick.",
	})
	due, err := time.Parse(time.RFC3339, am["next_run_at"].(string))
	if err != nil {
		t.Fatalf("next_run_at %v: %v", am["next_run_at"], err)
	}

	// The deployment is created on node C, which owns it and runs its runs.
	d := c.createReady(nil)
	id := d["deployment_id"].(string)
	a.must(201, "POST", "/v1/webhooks", map[string]any{"url": hook.URL, "events": []string{"message", "run_status"}, "deployment_id": id})
	st := a.openStream("/v1/deployments/" + id + "/events")
	runID := b.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "count"})["run_id"].(string)

	// Node A's stream shows the run starting its tool call on node C.
	counter := filepath.Join(dir, "workspaces", id, "counter")
	seen := st.until(t, func(e sseEvent) bool { return e.typ == "tool_call" && e.data["run_id"] == runID })
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(counter); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tool did not run on node C:\n%s", pc.stderr.String())
		}
	}
	db, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	lessee := func() (owner string) {
		t.Helper()
		if err := db.QueryRow(context.Background(), "SELECT lease_owner FROM runs WHERE id = $1", runID).Scan(&owner); err != nil {
			t.Fatal(err)
		}
		return owner
	}
	if o := lessee(); o != "node-c" {
		t.Fatalf("the run executes on %q, not node-c (the deployment's owner)", o)
	}

	// kill -9 of node C mid tool call: node A or B adopts the deployment
	// after the lease and finishes the run.
	if err := pc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-pc.exited
	killed := time.Now()
	seen = append(seen, st.until(t, runEnded(runID))...)
	took := time.Since(killed)
	run := a.must(200, "GET", "/v1/deployments/"+id+"/runs/"+runID, nil)
	if run["status"] != "completed" {
		t.Fatalf("run after the kill: %v\nA: %s\nB: %s", run, pa.stderr.String(), pb.stderr.String())
	}
	if took > lease+5*time.Second {
		t.Errorf("the run finished %v after its node died; the lease is %v (want within the lease + 5 s)", took, lease)
	}
	t.Logf("the run finished on %s %v after node C died (lease %v)", lessee(), took, lease)
	if b, _ := os.ReadFile(counter); string(b) != "ran\n" {
		t.Fatalf("the counter file holds %q: the tool call ran more than once", b)
	}
	// Node A's stream saw every event once, in sequence, across the
	// takeover; the log is contiguous.
	for i := 1; i < len(seen); i++ {
		if seen[i].id != "evt_"+itoa(seqOf(t, seen[i-1].id)+1) {
			t.Fatalf("stream on node A: %s after %s", seen[i].id, seen[i-1].id)
		}
	}
	checkLog(t, a, id)
	final := a.must(200, "GET", "/v1/deployments/"+id+"/threads/"+d["thread_id"].(string), nil)["messages"].([]any)
	if last := final[len(final)-1].(map[string]any); last["content"] != "Counted once." {
		t.Fatalf("final message %v", last)
	}

	// The automation fires once at its due time, whichever node leads.
	time.Sleep(time.Until(due.Add(5 * time.Second)))
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		runs := a.must(200, "GET", "/v1/deployments/"+autoID+"/runs", nil)["data"].([]any)
		if len(runs) > 1 {
			t.Fatalf("the automation fired %d times for one due time: %v", len(runs), runs)
		}
		if len(runs) == 1 {
			time.Sleep(2 * time.Second) // a second firing would come now
			if n := len(a.must(200, "GET", "/v1/deployments/"+autoID+"/runs", nil)["data"].([]any)); n != 1 {
				t.Fatalf("the automation fired %d times for one due time", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the automation did not fire at %v:\nA: %s\nB: %s", due, pa.stderr.String(), pb.stderr.String())
		}
	}

	// A deletion asked of node A is carried out by node B, which owns the
	// deployment and runs its sandbox.
	a.must(202, "DELETE", "/v1/deployments/"+autoID, nil)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r := a.do("GET", "/v1/deployments/"+autoID, nil); r.status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deployment was not deleted:\nB: %s", pb.stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "workspaces", autoID)); !os.IsNotExist(err) {
		t.Fatalf("the deleted deployment's workspace is still there: %v", err)
	}
	deleted := func(p *proc) bool {
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(line, `"deployment deleted"`) && strings.Contains(line, autoID) {
				return true
			}
		}
		return false
	}
	if !deleted(pb) || deleted(pa) {
		t.Fatalf("the deletion was carried out by node B %v, by node A %v; want B, its owner", deleted(pb), deleted(pa))
	}

	// The webhook got each message and run_status event of the deployment
	// once.
	var want []string
	for _, e := range b.allEvents(id) {
		if e["type"] == "message" || e["type"] == "run_status" {
			want = append(want, e["event_id"].(string))
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Errorf("the webhook got %d events, want %d", len(got), len(want))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("webhook delivery %s came %d times", id, n)
		}
	}
}

// seqOf returns the sequence of an event id (evt_<n>).
func seqOf(t *testing.T, id string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimPrefix(id, "evt_"), 10, 64)
	if err != nil || !strings.HasPrefix(id, "evt_") {
		t.Fatalf("event id %q", id)
	}
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
