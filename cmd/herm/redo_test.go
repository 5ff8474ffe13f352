package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/llm/llmtest"
)

// allEvents reads a deployment's whole event log, page by page.
func (s *server) allEvents(dep string) []map[string]any {
	s.t.Helper()
	var out []map[string]any
	after := "evt_0"
	for {
		r := s.do("GET", "/v1/deployments/"+dep+"/events?limit=1000&after="+after, nil, "Accept", "application/json")
		if r.status != 200 {
			s.t.Fatalf("events: %d %s", r.status, r.body)
		}
		var page struct {
			Data       []map[string]any `json:"data"`
			NextCursor *string          `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, page.Data...)
		if page.NextCursor == nil || len(page.Data) == 0 {
			return out
		}
		after = page.Data[len(page.Data)-1]["event_id"].(string)
	}
}

// checkTurns asserts, for every model turn of a run, what a client that
// drops the deltas of abandoned attempts relies on: every attempt but the
// last is abandoned (before any later attempt's delta), the last is not
// when the turn has a message, and its token deltas add up to the
// message's content exactly. It returns the turns' attempts.
func checkTurns(t *testing.T, evs []map[string]any, runID string) map[int]int {
	t.Helper()
	type key struct {
		sub  float64
		turn int
	}
	text := map[key]map[int]*strings.Builder{}
	abandoned := map[key]map[int]bool{}
	message := map[key]*string{}
	last := map[key]int{}
	for _, e := range evs {
		if e["run_id"] != runID {
			continue
		}
		typ, _ := e["type"].(string)
		if typ != "token" && typ != "reasoning" && typ != "turn_abandoned" && !(typ == "message" && e["role"] == "agent") {
			continue
		}
		turn, _ := e["turn"].(float64)
		attempt, _ := e["attempt"].(float64)
		sub, _ := e["subagent"].(float64)
		k := key{sub, int(turn)}
		if turn < 1 || (typ != "message" && attempt < 1) {
			t.Fatalf("%s event without turn or attempt: %v", typ, e)
		}
		a := int(attempt)
		switch typ {
		case "token", "reasoning":
			for b := range abandoned[k] {
				if b >= a {
					t.Fatalf("turn %v: a delta of attempt %d after turn_abandoned of attempt %d", k, a, b)
				}
			}
			for b := 1; b < a; b++ {
				if _, ok := text[k][b]; ok && !abandoned[k][b] {
					t.Fatalf("turn %v: attempt %d streams before attempt %d is abandoned", k, a, b)
				}
			}
			if typ == "token" {
				if text[k] == nil {
					text[k] = map[int]*strings.Builder{}
				}
				if text[k][a] == nil {
					text[k][a] = &strings.Builder{}
				}
				text[k][a].WriteString(e["delta"].(string))
			}
			last[k] = max(last[k], a)
		case "turn_abandoned":
			if abandoned[k] == nil {
				abandoned[k] = map[int]bool{}
			}
			abandoned[k][a] = true
			last[k] = max(last[k], a)
		case "message":
			c := e["content"].(string)
			message[k] = &c
		}
	}
	attempts := map[int]int{}
	for k, n := range last {
		if k.sub == 0 {
			attempts[k.turn] = n
		}
		for a := 1; a < n; a++ {
			if _, ok := text[k][a]; ok && !abandoned[k][a] {
				t.Errorf("turn %v: attempt %d is not the last and is not abandoned", k, a)
			}
		}
		if message[k] == nil {
			if _, ok := text[k][n]; ok && !abandoned[k][n] {
				t.Errorf("turn %v: attempt %d streamed, has no message and is not abandoned", k, n)
			}
		}
	}
	for k, m := range message {
		n := last[k]
		if abandoned[k][n] {
			t.Errorf("turn %v: the message follows an abandoned attempt %d", k, n)
		}
		got := ""
		if b := text[k][n]; b != nil {
			got = b.String()
		}
		if got != *m {
			t.Errorf("turn %v attempt %d: the token deltas add up to\n%q\nthe message is\n%q", k, n, got, *m)
		}
	}
	return attempts
}

// TestKill9RepeatedlyMidTurn kills the server with SIGKILL again and again
// while one long model turn streams (each attempt's text different, as a
// model's would be), restarting it each time; once the run completes, the
// token deltas of every turn's last, not abandoned, attempt are exactly its
// message, and every earlier attempt is abandoned.
func TestKill9RepeatedlyMidTurn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	const kills = 4
	slow := func(attempt int) llmtest.Turn {
		var words []string
		for i := range 200 {
			words = append(words, fmt.Sprintf("a%d-w%d ", attempt, i))
		}
		return llmtest.Turn{Words: words, Delay: 15 * time.Millisecond}
	}
	var turns []llmtest.Turn
	for a := 1; a <= kills; a++ {
		turns = append(turns, slow(a))
	}
	script := llmtest.NewScript(turns...)
	final := llmtest.Turn{Words: []string{"The ", "final ", "answer, ", "whole."}}
	script.Default = &final
	fake := llmtest.NewOpenAIServer(script)
	defer fake.Close()
	env := []string{"OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + fake.BaseURL(), "HERM_DEFAULT_MODEL=openai/gpt-test"}
	dir := t.TempDir()

	p := startProc(t, dir, env...)
	s := p.client(t)
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	runID := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "write a lot"})["run_id"].(string)
	// Deltas of the current attempt in the durable log before each kill; 0:
	// as soon as the previous attempt is abandoned, so that an attempt may
	// die before it streams.
	after := [kills]int{3, 40, 0, 90}
	for k := 1; k <= kills; k++ {
		deadline := time.Now().Add(15 * time.Second)
		n, abandonedPrev, cursor := 0, false, "evt_0"
		for !((after[k-1] > 0 && n >= after[k-1]) || (after[k-1] == 0 && abandonedPrev)) {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: %d tokens\n%s", k, n, p.stderr.String())
			}
			time.Sleep(30 * time.Millisecond) // within the API key's rate limit
			r := s.do("GET", "/v1/deployments/"+id+"/events?types=token,turn_abandoned&limit=1000&after="+cursor, nil, "Accept", "application/json")
			var page struct {
				Data []map[string]any `json:"data"`
			}
			if err := json.Unmarshal(r.body, &page); r.status != 200 || err != nil {
				t.Fatalf("events: %d %s", r.status, r.body)
			}
			for _, e := range page.Data {
				cursor = e["event_id"].(string)
				a, _ := e["attempt"].(float64)
				switch {
				case e["type"] == "token" && int(a) >= k:
					n++
				case e["type"] == "turn_abandoned" && int(a) == k-1:
					abandonedPrev = true
				}
			}
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.exited
		p = startProc(t, dir, env...)
		s = p.client(t)
	}
	run := s.waitRun(id, runID, "completed", "error", "cancelled")
	if run["status"] != "completed" {
		t.Fatalf("run after %d kills: %v\n%s", kills, run, p.stderr.String())
	}
	evs := s.allEvents(id)
	attempts := checkTurns(t, evs, runID)
	t.Logf("%d events; attempts by turn %v", len(evs), attempts)
	if len(attempts) != 1 || attempts[1] != kills+1 {
		t.Fatalf("attempts by turn %v, want turn 1 tried %d times", attempts, kills+1)
	}
	for i, e := range evs {
		if e["sequence"].(float64) != float64(i+1) {
			t.Fatalf("event %d has sequence %v: a gap or a duplicate", i, e["sequence"])
		}
	}
	var message any
	for _, e := range evs {
		if e["type"] == "message" && e["role"] == "agent" {
			message = e["content"]
		}
	}
	th := s.must(200, "GET", "/v1/deployments/"+id+"/threads/"+d["thread_id"].(string), nil)
	msgs := th["messages"].([]any)
	if last := msgs[len(msgs)-1].(map[string]any); last["content"] != message || last["run_id"] != runID {
		t.Fatalf("final message %v, the message event's content %q", last, message)
	}
}
