package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

// Automations through the API and the agent's tool: created with a thread
// of their own, fired by a trigger as a run triggered by the automation,
// followed to its end, listed with recent runs; the tool schedules work
// when the customer asks; off with features.automations false.
func TestAutomations(t *testing.T) {
	script := llmtest.NewScript(
		words("Report written."),
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c1", "automations", `{"action":"create","name":"Standup","schedule":"every weekday at 9am","instructions":"Post the standup summary."}`)}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c2", "automations", `{"action":"list"}`)}},
		words("Scheduled."),
		words("Done."),
	)
	s := transcriptServer(t, script, map[string]string{"HERM_AUTOMATION_POLL": "20ms"})
	id := s.createReady(nil)["deployment_id"].(string)
	base := "/v1/deployments/" + id + "/automations"

	for _, bad := range []map[string]any{
		{"schedule": "hourly", "instructions": "x"},
		{"name": "n", "schedule": "whenever", "instructions": "x"},
		{"name": "n", "schedule": "hourly", "instructions": "x", "timezone": "Nowhere/Else"},
	} {
		if r := s.do("POST", base, bad); r.status != 400 {
			t.Errorf("%v: %d %s", bad, r.status, r.body)
		}
	}
	a := s.must(201, "POST", base, map[string]any{"name": "Weekly report", "schedule": "every Monday at 9am", "timezone": "Europe/Berlin", "instructions": "Write the weekly report."})
	aid := str(a["automation_id"])
	if g := s.must(200, "GET", base+"/"+aid, nil); g["recent_runs"] == nil || len(g["recent_runs"].([]any)) != 0 || g["deployment_id"] != id {
		t.Fatalf("a new automation: %v", g)
	}
	if r := s.do("POST", base, map[string]any{"name": "never", "schedule": "0 0 30 2 *", "instructions": "x"}); r.status != 400 {
		t.Fatalf("a schedule that never fires: %d %s", r.status, r.body)
	}
	if !strings.HasPrefix(aid, "auto_") || a["cron"] != "0 9 * * 1" || a["next_run_at"] == nil || a["enabled"] != true ||
		a["missed_run_policy"] != "run_once" || a["overlap"] != "skip" || a["max_retries"] != 2.0 || a["last_run_status"] != nil {
		t.Fatalf("created %v", a)
	}
	thread := s.must(200, "GET", "/v1/deployments/"+id+"/threads/"+str(a["thread_id"]), nil)
	if !strings.Contains(str(thread["title"]), "Weekly report") {
		t.Fatalf("its thread %v", thread)
	}

	run := s.must(202, "POST", base+"/"+aid+"/trigger", nil)
	r := s.waitRun(id, str(run["run_id"]), "completed")
	if tr := r["trigger"].(map[string]any); tr["type"] != "automation" || tr["automation_id"] != aid || r["thread_id"] != a["thread_id"] {
		t.Fatalf("run %v", r)
	}
	var got map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = s.must(200, "GET", base+"/"+aid, nil)
		if got["last_run_status"] == "completed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	recent, _ := got["recent_runs"].([]any)
	if got["last_run_status"] != "completed" || len(recent) != 1 || recent[0].(map[string]any)["run_id"] != run["run_id"] {
		t.Fatalf("after the run: %v", got)
	}
	if runs := s.must(200, "GET", "/v1/deployments/"+id+"/runs?automation_id="+aid, nil)["data"].([]any); len(runs) != 1 {
		t.Fatalf("runs of the automation: %v", runs)
	}
	if up := s.must(200, "PATCH", base+"/"+aid, map[string]any{"enabled": false}); up["enabled"] != false || up["next_run_at"] != nil {
		t.Fatalf("paused %v", up)
	}

	// The agent schedules work itself.
	run2 := s.sendAndWait(id, "remind the team every weekday at 9")
	res := s.toolResults(id, str(run2["run_id"]))
	if len(res) != 2 || !strings.Contains(str(res[0]["result"]), "scheduled auto_") || !strings.Contains(str(res[1]["result"]), "Standup") {
		t.Fatalf("automations tool: %v", res)
	}
	list := s.must(200, "GET", base, nil)["data"].([]any)
	if len(list) != 2 {
		t.Fatalf("automations %v", list)
	}
	s.must(204, "DELETE", base+"/"+aid, nil)
	if r := s.do("GET", base+"/"+aid, nil); r.status != 404 {
		t.Fatalf("deleted: %d", r.status)
	}

	// Off: the tool is not offered.
	s.must(200, "PATCH", "/v1/deployments/"+id, map[string]any{"features": map[string]any{"automations": false}})
	s.sendAndWait(id, "hi")
	for _, tl := range script.Requests()[len(script.Requests())-1].Tools {
		if tl.Name == "automations" {
			t.Fatal("the automations tool is offered with automations off")
		}
	}
}
