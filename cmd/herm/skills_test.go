package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

func skillMD(name, desc, body string) string {
	return "---\nname: " + name + "\ndescription: " + desc + "\n---\n" + body + "\n"
}

// Inline, url and file skills: checked when set (a broken one is a 422
// that says why), listed to the model by name and description only, and
// loaded on demand with skill_view (a file skill's other files too).
func TestSkillsLoadOnDemand(t *testing.T) {
	var version atomic.Int32
	version.Store(1)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/refunds/SKILL.md":
			if version.Load() == 1 {
				w.Write([]byte(skillMD("refunds", "How to issue a refund.", "REFUND STEPS v1")))
			} else {
				w.Write([]byte(skillMD("refunds", "How to issue a refund (v2).", "REFUND STEPS v2")))
			}
		case "/broken/SKILL.md":
			w.Write([]byte("no front matter here"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer remote.Close()

	script := llmtest.NewScript(
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c1", "skill_view", `{"name":"greeting"}`)}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c2", "skill_view", `{"name":"refunds"}`)}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c3", "skill_view", `{"name":"reports"}`)}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c4", "skill_view", `{"name":"reports","path":"templates/weekly.md"}`)}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c5", "skill_view", `{"name":"reports","path":"../../etc/passwd"}`)}},
		words("Done."),
	)
	s := transcriptServer(t, script, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})

	// Broken skills are refused with the reason, and nothing is stored.
	for _, tc := range []struct {
		skill map[string]any
		want  string
	}{
		{map[string]any{"name": "x", "source": "inline", "content": "---\nname: x\n---\nbody"}, "no description"},
		{map[string]any{"name": "x", "source": "inline", "content": skillMD("Bad_Name", "d", "b")}, "lowercase"},
		{map[string]any{"name": "x", "source": "inline", "content": skillMD("y", "d", "b")}, `names it`},
		{map[string]any{"name": "x", "source": "inline", "content": skillMD("x", strings.Repeat("d", 1025), "b")}, "1024"},
		{map[string]any{"name": "x", "source": "inline", "content": "---\nname: [x\ndescription: d\n---\n"}, "not valid YAML"},
		{map[string]any{"name": "broken", "source": "url", "url": remote.URL + "/broken/SKILL.md"}, "front matter"},
		{map[string]any{"name": "gone", "source": "url", "url": remote.URL + "/gone/SKILL.md"}, "404"},
	} {
		r := s.do("POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "skills": []any{tc.skill}})
		if r.status != 422 || r.errCode(t) != "invalid_skill" || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("skill %v: %d %s (want 422 invalid_skill saying %q)", tc.skill, r.status, r.body, tc.want)
		}
	}

	d := s.createReady(map[string]any{"system_prompt": "You help.", "skills": []any{
		map[string]any{"name": "greeting", "source": "inline", "content": skillMD("greeting", "How to greet a customer.", "SAY HELLO WARMLY")},
		map[string]any{"name": "refunds", "source": "url", "url": remote.URL + "/refunds/SKILL.md"},
	}})
	id := d["deployment_id"].(string)

	// A file skill: its SKILL.md must be in the workspace when it is added.
	r := s.do("POST", "/v1/deployments/"+id+"/skills", map[string]any{"name": "reports", "source": "file", "path": "skills/reports"})
	if r.status != 422 || !strings.Contains(string(r.body), "skills/reports/SKILL.md") {
		t.Fatalf("file skill without its file: %d %s", r.status, r.body)
	}
	s.must(200, "PUT", "/v1/deployments/"+id+"/files?path=skills/reports/SKILL.md", skillMD("reports", "How to write the weekly report.", "USE THE TEMPLATE"), "Content-Type", "text/plain")
	s.must(200, "PUT", "/v1/deployments/"+id+"/files?path=skills/reports/templates/weekly.md", "WEEKLY TEMPLATE", "Content-Type", "text/plain")
	added := s.must(201, "POST", "/v1/deployments/"+id+"/skills", map[string]any{"name": "reports", "source": "file", "path": "skills/reports"})
	if added["origin"] != "configured" || added["description"] != "How to write the weekly report." || !strings.Contains(str(added["content"]), "USE THE TEMPLATE") || added["created_at"] == nil {
		t.Fatalf("added %v", added)
	}
	if r := s.do("POST", "/v1/deployments/"+id+"/skills", map[string]any{"name": "reports", "source": "inline", "content": skillMD("reports", "d", "b")}); r.status != 409 {
		t.Fatalf("a second skill with the same name: %d %s", r.status, r.body)
	}

	run := s.sendAndWait(id, "help me")
	if run["status"] != "completed" {
		t.Fatalf("run %v", run)
	}
	// The model saw names and descriptions, not bodies.
	system := script.Requests()[0].System
	for _, want := range []string{"You help.", "greeting: How to greet a customer.", "refunds: How to issue a refund.", "reports: How to write the weekly report."} {
		if !strings.Contains(system, want) {
			t.Errorf("system prompt lacks %q:\n%s", want, system)
		}
	}
	for _, body := range []string{"SAY HELLO", "REFUND STEPS", "USE THE TEMPLATE"} {
		if strings.Contains(system, body) {
			t.Errorf("system prompt has a skill's body %q", body)
		}
	}
	res := s.toolResults(id, run["run_id"].(string))
	if len(res) != 5 {
		t.Fatalf("tool results %v", res)
	}
	for i, want := range []string{"SAY HELLO WARMLY", "REFUND STEPS v1", "USE THE TEMPLATE", "WEEKLY TEMPLATE"} {
		if res[i]["is_error"] != false || !strings.Contains(str(res[i]["result"]), want) {
			t.Errorf("skill_view %d: %v (want %q)", i, res[i], want)
		}
	}
	if !strings.Contains(str(res[2]["result"]), "templates/weekly.md") {
		t.Errorf("skill_view does not list the skill's files: %v", res[2]["result"])
	}
	if res[4]["is_error"] != true {
		t.Errorf("skill_view read outside the skill's folder: %v", res[4])
	}

	// The skills API: list, get one, PUT re-fetches a url skill, DELETE.
	list := s.must(200, "GET", "/v1/deployments/"+id+"/skills", nil)["data"].([]any)
	var refundsID string
	var got []string
	for _, x := range list {
		m := x.(map[string]any)
		got = append(got, m["name"].(string)+"/"+m["source"].(string)+"/"+m["origin"].(string))
		if m["name"] == "refunds" {
			refundsID = m["skill_id"].(string)
		}
	}
	if strings.Join(got, ",") != "greeting/inline/configured,refunds/url/configured,reports/file/configured" {
		t.Fatalf("skills %v", got)
	}
	one := s.must(200, "GET", "/v1/deployments/"+id+"/skills/"+refundsID, nil)
	if !strings.Contains(str(one["content"]), "REFUND STEPS v1") || one["url"] != remote.URL+"/refunds/SKILL.md" {
		t.Fatalf("skill %v", one)
	}
	version.Store(2)
	put := s.must(200, "PUT", "/v1/deployments/"+id+"/skills/"+refundsID, map[string]any{"name": "refunds", "source": "url", "url": remote.URL + "/refunds/SKILL.md"})
	if put["skill_id"] != refundsID || put["description"] != "How to issue a refund (v2)." || !strings.Contains(str(put["content"]), "v2") {
		t.Fatalf("PUT %v", put)
	}
	if r := s.do("PUT", "/v1/deployments/"+id+"/skills/"+refundsID, map[string]any{"name": "refunds", "source": "url", "url": remote.URL + "/broken/SKILL.md"}); r.status != 422 {
		t.Fatalf("PUT of a broken skill: %d %s", r.status, r.body)
	}
	if one := s.must(200, "GET", "/v1/deployments/"+id+"/skills/"+refundsID, nil); !strings.Contains(str(one["content"]), "v2") {
		t.Fatalf("a refused PUT changed the skill: %v", one)
	}
	s.must(204, "DELETE", "/v1/deployments/"+id+"/skills/"+refundsID, nil)
	if r := s.do("GET", "/v1/deployments/"+id+"/skills/"+refundsID, nil); r.status != 404 {
		t.Fatalf("deleted skill: %d", r.status)
	}
	dep := s.must(200, "GET", "/v1/deployments/"+id, nil)
	if n := len(dep["skills"].([]any)); n != 2 {
		t.Fatalf("deployment lists %d skills after the delete", n)
	}
}

// Learned skills: the agent writes them with skill_manage (validated,
// never over a configured one), they are listed with origin learned, and
// the next run's model sees them.
func TestLearnedSkills(t *testing.T) {
	good := skillMD("csv-cleanup", "How to clean the customer's CSV exports.", "STRIP THE BOM")
	script := llmtest.NewScript(
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c1", "skill_manage", jsonArgs(map[string]any{"action": "create", "name": "csv-cleanup", "content": good}))}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c2", "skill_manage", jsonArgs(map[string]any{"action": "create", "name": "greeting", "content": skillMD("greeting", "mine", "x")}))}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c3", "skill_manage", jsonArgs(map[string]any{"action": "create", "name": "bad", "content": "no front matter"}))}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c4", "skill_manage", jsonArgs(map[string]any{"action": "create", "name": "csv-cleanup", "content": good}))}},
		words("Saved."),
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c5", "skill_view", `{"name":"csv-cleanup"}`)}},
		words("Done."),
	)
	s := transcriptServer(t, script, nil)
	d := s.createReady(map[string]any{"skills": []any{
		map[string]any{"name": "greeting", "source": "inline", "content": skillMD("greeting", "How to greet.", "HELLO")},
	}})
	id := d["deployment_id"].(string)

	run := s.sendAndWait(id, "learn this")
	res := s.toolResults(id, run["run_id"].(string))
	if len(res) != 4 || res[0]["is_error"] != false {
		t.Fatalf("results %v", res)
	}
	for i, want := range []string{"configured skill", "front matter", "exists"} {
		if r := res[i+1]; r["is_error"] != true || !strings.Contains(str(r["result"]), want) {
			t.Errorf("skill_manage %d: %v (want an error saying %q)", i+2, r, want)
		}
	}
	if r := s.do("GET", "/v1/deployments/"+id+"/files/content?path=.herm/skills/csv-cleanup/SKILL.md", nil); r.status != 200 || string(r.body) != good {
		t.Fatalf("learned SKILL.md: %d %q", r.status, r.body)
	}

	list := s.must(200, "GET", "/v1/deployments/"+id+"/skills", nil)["data"].([]any)
	if len(list) != 2 {
		t.Fatalf("skills %v", list)
	}
	learned := list[1].(map[string]any)
	if learned["origin"] != "learned" || learned["source"] != "file" || learned["path"] != ".herm/skills/csv-cleanup" || learned["name"] != "csv-cleanup" || learned["skill_id"] != "skl_learned_csv-cleanup" || learned["description"] != "How to clean the customer's CSV exports." {
		t.Fatalf("learned skill %v", learned)
	}
	if r := s.do("PUT", "/v1/deployments/"+id+"/skills/skl_learned_csv-cleanup", map[string]any{"name": "csv-cleanup", "source": "inline", "content": good}); r.status != 409 {
		t.Fatalf("PUT of a learned skill: %d %s", r.status, r.body)
	}

	run = s.sendAndWait(id, "clean the csv")
	if sys := script.Requests()[len(script.Requests())-2].System; !strings.Contains(sys, "csv-cleanup: How to clean") || !strings.Contains(sys, "greeting: How to greet.") {
		t.Fatalf("the next run's system prompt:\n%s", sys)
	}
	res = s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || !strings.Contains(str(res[0]["result"]), "STRIP THE BOM") {
		t.Fatalf("skill_view of a learned skill: %v", res)
	}

	s.must(204, "DELETE", "/v1/deployments/"+id+"/skills/skl_learned_csv-cleanup", nil)
	if r := s.do("GET", "/v1/deployments/"+id+"/skills/skl_learned_csv-cleanup", nil); r.status != 404 {
		t.Fatalf("deleted learned skill: %d", r.status)
	}
}

func jsonArgs(v map[string]any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
