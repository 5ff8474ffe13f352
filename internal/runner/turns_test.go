package runner_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/llm/openai"
	"github.com/hermhq/herm/internal/runner"
	"github.com/hermhq/herm/internal/secrets"
)

// turnKey names a model turn in a run's events: the run's own turns have
// subagent 0.
type turnKey struct {
	subagent int
	parent   string
	turn     int
}

// turnLog is what a client can tell about a run's model turns from its
// events.
type turnLog struct {
	text      map[turnKey]map[int]string // token text by attempt
	reasoning map[turnKey]map[int]string
	abandoned map[turnKey]map[int]bool
	message   map[turnKey]string
	hasMsg    map[turnKey]bool
	order     []string // "token 1/1", "turn_abandoned 1/1", "message 1"…, the run's own turns only
}

func readTurns(t *testing.T, evs []*herm.Event, runID string) *turnLog {
	t.Helper()
	l := &turnLog{text: map[turnKey]map[int]string{}, reasoning: map[turnKey]map[int]string{},
		abandoned: map[turnKey]map[int]bool{}, message: map[turnKey]string{}, hasMsg: map[turnKey]bool{}}
	for _, ev := range evs {
		if ev.RunID != runID {
			continue
		}
		var f struct {
			Delta    string `json:"delta"`
			Content  string `json:"content"`
			Role     string `json:"role"`
			Turn     int    `json:"turn"`
			Attempt  int    `json:"attempt"`
			Subagent int    `json:"subagent"`
			Parent   string `json:"parent_tool_call_id"`
		}
		if err := json.Unmarshal(ev.Data, &f); err != nil {
			t.Fatal(err)
		}
		k := turnKey{f.Subagent, f.Parent, f.Turn}
		add := func(m map[turnKey]map[int]string) {
			if f.Turn < 1 || f.Attempt < 1 {
				t.Fatalf("%s event without turn and attempt: %s", ev.Type, ev.Data)
			}
			if m[k] == nil {
				m[k] = map[int]string{}
			}
			m[k][f.Attempt] += f.Delta
		}
		switch ev.Type {
		case herm.EventToken:
			add(l.text)
			for a := range l.abandoned[k] {
				if a >= f.Attempt {
					t.Fatalf("a delta of attempt %d of turn %+v after turn_abandoned of attempt %d", f.Attempt, k, a)
				}
			}
		case herm.EventReasoning:
			add(l.reasoning)
		case herm.EventTurnAbandoned:
			if f.Turn < 1 || f.Attempt < 1 {
				t.Fatalf("turn_abandoned without turn and attempt: %s", ev.Data)
			}
			if l.abandoned[k] == nil {
				l.abandoned[k] = map[int]bool{}
			}
			l.abandoned[k][f.Attempt] = true
		case herm.EventMessage:
			if f.Role != herm.RoleAgent {
				continue
			}
			if f.Turn < 1 {
				t.Fatalf("message without turn: %s", ev.Data)
			}
			l.message[k], l.hasMsg[k] = f.Content, true
		default:
			continue
		}
		if f.Subagent == 0 {
			what := fmt.Sprintf("%s %d/%d", ev.Type, f.Turn, f.Attempt)
			if ev.Type == herm.EventMessage {
				what = fmt.Sprintf("message %d", f.Turn)
			}
			if n := len(l.order); n == 0 || l.order[n-1] != what {
				l.order = append(l.order, what)
			}
		}
	}
	return l
}

// check asserts the contract: for every turn, every attempt but the last
// is abandoned, and the token deltas of the last attempt, when it is not
// abandoned, add up to the message (a turn without a message has all its
// attempts abandoned).
func (l *turnLog) check(t *testing.T) {
	t.Helper()
	keys := map[turnKey]bool{}
	for k := range l.text {
		keys[k] = true
	}
	for k := range l.abandoned {
		keys[k] = true
	}
	for k := range l.message {
		keys[k] = true
	}
	for k := range keys {
		last := 0
		for a := range l.text[k] {
			last = max(last, a)
		}
		for a := range l.abandoned[k] {
			last = max(last, a)
		}
		for a := 1; a < last; a++ {
			if _, streamed := l.text[k][a]; streamed && !l.abandoned[k][a] {
				t.Errorf("turn %+v: attempt %d streamed and was not abandoned before attempt %d", k, a, last)
			}
		}
		if !l.hasMsg[k] {
			if last > 0 && !l.abandoned[k][last] {
				t.Errorf("turn %+v: attempt %d streamed %q and has neither a message nor turn_abandoned", k, last, l.text[k][last])
			}
			continue
		}
		if l.abandoned[k][last] {
			t.Errorf("turn %+v: its message follows an abandoned last attempt %d", k, last)
		}
		if got := l.text[k][last]; got != l.message[k] {
			t.Errorf("turn %+v attempt %d: the token deltas are %q, the message %q", k, last, got, l.message[k])
		}
	}
}

// crashedRun builds the state a crash leaves in the store: a running run
// leased by a dead owner, its input taken, and its first model turn
// started attempts times, the last one having streamed partial.
func (e *env) crashedRun(attempts int, partial ...string) *herm.Run {
	e.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	run := &herm.Run{ID: e.ids.New(herm.PrefixRun), DeploymentID: e.dep.ID, ThreadID: e.dep.ThreadID, Status: herm.RunRunning,
		Trigger: herm.Trigger{Type: herm.TriggerMessage}, ConfigVersion: 1, Model: "test/model", LeaseOwner: "dead",
		LeaseExpiresAt: now.Add(time.Hour), CreatedAt: now, StartedAt: &now}
	if err := e.store.CreateRun(ctx, run); err != nil {
		e.t.Fatal(err)
	}
	msg := &herm.Message{ID: e.ids.New(herm.PrefixMessage), DeploymentID: e.dep.ID, ThreadID: e.dep.ThreadID, RunID: run.ID, Role: "user", Content: "hello", CreatedAt: now}
	if err := e.store.CreateMessage(ctx, msg); err != nil {
		e.t.Fatal(err)
	}
	step := func(kind string, data any) {
		raw, _ := json.Marshal(data)
		steps, err := e.store.ListSteps(ctx, run.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.store.AppendStep(ctx, &herm.RunStep{RunID: run.ID, Index: len(steps), Kind: kind, Data: raw, CreatedAt: now}); err != nil {
			e.t.Fatal(err)
		}
	}
	step(herm.StepInput, herm.StepInputData{MessageID: msg.ID, Content: msg.Content})
	var evs []*herm.Event
	for a := 1; a <= attempts; a++ {
		step(herm.StepModelStart, herm.StepModelStartData{Turn: 1, Attempt: a})
		if a > 1 {
			evs = append(evs, herm.NewEvent(e.dep.ID, e.dep.ThreadID, run.ID, herm.EventTurnAbandoned, map[string]any{"turn": 1, "attempt": a - 1}))
		}
		for _, d := range partial {
			evs = append(evs, herm.NewEvent(e.dep.ID, e.dep.ThreadID, run.ID, herm.EventToken, map[string]any{"delta": d, "turn": 1, "attempt": a}))
		}
	}
	if len(evs) > 0 {
		if err := e.store.AppendEvents(ctx, evs); err != nil {
			e.t.Fatal(err)
		}
	}
	return run
}

// A turn redone after a crash abandons the attempt the crash cut short,
// durably, before the redo streams, and the redo's deltas make its message.
func TestRedoAfterCrashAbandonsTheAttempt(t *testing.T) {
	t.Parallel()
	for _, attempts := range []int{1, 2} {
		t.Run(fmt.Sprint(attempts), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, runner.Options{ReleaseOnStart: true})
			run := e.crashedRun(attempts, "The ", "whole ")
			e.script.Push(llmtest.Turn{Words: []string{"The ", "whole ", "answer."}})
			e.start()
			e.wait(run.ID, herm.RunCompleted)
			l := readTurns(t, e.events(), run.ID)
			l.check(t)
			var want []string
			for a := 1; a <= attempts; a++ {
				want = append(want, fmt.Sprintf("token 1/%d", a))
				want = append(want, fmt.Sprintf("turn_abandoned 1/%d", a))
			}
			want = append(want, fmt.Sprintf("token 1/%d", attempts+1), "message 1")
			equal(t, l.order, want)
			if got := l.text[turnKey{turn: 1}][attempts+1]; got != "The whole answer." {
				t.Fatalf("redo streamed %q", got)
			}
		})
	}
}

// A crash before the model call streamed anything, or before it started:
// without a model_start step the turn's first attempt is yet to come.
func TestRedoWithoutAStartedAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{ReleaseOnStart: true})
	run := e.crashedRun(0)
	e.script.Push(llmtest.Turn{Words: []string{"hi"}})
	e.start()
	e.wait(run.ID, herm.RunCompleted)
	l := readTurns(t, e.events(), run.ID)
	l.check(t)
	equal(t, l.order, []string{"token 1/1", "message 1"})
}

// Turns are numbered through the run, tool calls between them.
func TestTurnsAreNumbered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(
		llmtest.Turn{Words: []string{"Let ", "me ", "echo."}, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "echo", Arguments: json.RawMessage(`{"text":"x"}`)}}},
		llmtest.Turn{ToolCalls: []llm.ToolCall{{ID: "c2", Name: "echo", Arguments: json.RawMessage(`{"text":"y"}`)}}},
		llmtest.Turn{Reasoning: []string{"all ", "done"}, Words: []string{"Done", "."}},
	)
	e.start()
	run := e.wait(e.send("go", "", "").Run.ID, herm.RunCompleted)
	l := readTurns(t, e.events(), run.ID)
	l.check(t)
	equal(t, l.order, []string{"token 1/1", "message 1", "reasoning 3/1", "token 3/1", "message 3"})
	if got := l.reasoning[turnKey{turn: 3}][1]; got != "all done" {
		t.Fatalf("reasoning %q", got)
	}
}

// A model call that fails after some of its text streamed, and one that is
// cancelled midway, leave their deltas abandoned.
func TestStreamFailingMidwayIsAbandoned(t *testing.T) {
	t.Parallel()
	t.Run("Error", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, runner.Options{})
		e.script.Push(llmtest.Turn{Words: []string{"Half ", "an "}, Err: &llm.Error{Provider: "test", Type: "stream_broken", Message: "cut"}})
		e.start()
		run := e.wait(e.send("x", "", "").Run.ID, herm.RunError)
		l := readTurns(t, e.events(), run.ID)
		l.check(t)
		equal(t, l.order, []string{"token 1/1", "turn_abandoned 1/1"})
	})
	t.Run("NothingStreamed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, runner.Options{})
		e.script.Push(llmtest.Turn{Err: &llm.Error{Provider: "test", StatusCode: 400, Type: "invalid_request_error", Message: "bad"}})
		e.start()
		run := e.wait(e.send("x", "", "").Run.ID, herm.RunError)
		equal(t, readTurns(t, e.events(), run.ID).order, nil)
	})
	t.Run("ConnectionDropped", func(t *testing.T) {
		t.Parallel()
		// A real provider whose server drops the connection after two
		// chunks: it is not retried (text went out) and fails the turn.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, word := range []string{"Half ", "an "} {
				fmt.Fprintf(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", word)
			}
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}))
		defer srv.Close()
		e := newEnv(t, runner.Options{})
		e.useModel(openai.New("sk-test", openai.WithBaseURL(srv.URL+"/v1")))
		e.start()
		run := e.wait(e.send("x", "", "").Run.ID, herm.RunError)
		l := readTurns(t, e.events(), run.ID)
		l.check(t)
		equal(t, l.order, []string{"token 1/1", "turn_abandoned 1/1"})
		if got := l.text[turnKey{turn: 1}][1]; got != "Half an " {
			t.Fatalf("streamed %q", got)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, runner.Options{})
		e.script.Push(llmtest.Turn{Words: []string{"never", "ends"}, Gate: make(chan struct{})})
		e.start()
		res := e.send("go", "", "")
		deadline := time.Now().Add(10 * time.Second)
		for len(readTurns(t, e.events(), res.Run.ID).order) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no token")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := e.runner.Cancel(context.Background(), e.dep.ID, res.Run.ID); err != nil {
			t.Fatal(err)
		}
		e.wait(res.Run.ID, herm.RunCancelled)
		l := readTurns(t, e.events(), res.Run.ID)
		l.check(t)
		equal(t, l.order, []string{"token 1/1", "turn_abandoned 1/1"})
	})
}

// unstreamed is a model whose deltas are not its response's text (first),
// or that streams nothing of it (then).
type unstreamed struct{ calls int }

func (u *unstreamed) Stream(_ context.Context, _ llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	u.calls++
	if u.calls == 1 {
		onDelta(llm.Delta{Text: "draft"})
		return &llm.Response{Text: "Final text.", StopReason: llm.StopToolUse,
			ToolCalls: []llm.ToolCall{{ID: "c1", Name: "echo", Arguments: json.RawMessage(`{"text":"x"}`)}}}, nil
	}
	return &llm.Response{Text: "Unstreamed.", StopReason: llm.StopEndTurn}, nil
}

// Deltas that are not the response's text are abandoned and the text goes
// out as the turn's next attempt; text no delta carried goes out at the end.
func TestDeltasThatAreNotTheText(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.useModel(&unstreamed{})
	e.start()
	run := e.wait(e.send("go", "", "").Run.ID, herm.RunCompleted)
	l := readTurns(t, e.events(), run.ID)
	l.check(t)
	equal(t, l.order, []string{"token 1/1", "turn_abandoned 1/1", "token 1/2", "message 1", "token 2/1", "message 2"})
	if l.message[turnKey{turn: 1}] != "Final text." || l.message[turnKey{turn: 2}] != "Unstreamed." {
		t.Fatalf("messages %v", l.message)
	}
}

// A secret value the model streams, split across deltas, never goes out in
// a token or reasoning event, nor its base64; the deltas still add up to
// the (redacted) message.
func TestStreamedSecretIsRedacted(t *testing.T) {
	t.Parallel()
	const value = "sk-live-9f8e7d6c5b4a39281706"
	encoded := base64.StdEncoding.EncodeToString([]byte("user:" + value))
	text := "The key is " + value + ", and as basic auth: " + encoded + " — done."
	var words []string
	for i := 0; i < len(text); i += 3 {
		words = append(words, text[i:min(i+3, len(text))])
	}
	e := newEnvWith(t, runner.Options{}, agent.Options{MaxSteps: 10, Redactor: func(context.Context, *herm.Deployment) *secrets.Redactor {
		return secrets.NewRedactor(map[string]string{"API_KEY": value})
	}})
	e.withSecret()
	e.script.Push(llmtest.Turn{Reasoning: []string{"I'll say ", value[:10], value[10:], " now"}, Words: words})
	e.start()
	run := e.wait(e.send("what is the key?", "", "").Run.ID, herm.RunCompleted)
	evs := e.events()
	l := readTurns(t, evs, run.ID)
	l.check(t)
	streamed := l.text[turnKey{turn: 1}][1]
	for _, s := range []string{streamed, l.reasoning[turnKey{turn: 1}][1]} {
		if strings.Contains(s, value) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(value))[:20]) || strings.Contains(s, encoded) {
			t.Fatalf("a secret went out in the deltas: %q", s)
		}
	}
	if !strings.Contains(streamed, "[REDACTED:API_KEY]") || !strings.HasSuffix(streamed, " — done.") {
		t.Fatalf("streamed %q", streamed)
	}
	for _, ev := range evs {
		if strings.Contains(string(ev.Data), value[:12]) {
			t.Fatalf("the value (in part) is in a %s event: %s", ev.Type, ev.Data)
		}
	}
}

// withSecret gives the env's deployment a secret, so that the agent
// redacts (the test's Redactor decides the value).
func (e *env) withSecret() {
	e.t.Helper()
	now := time.Now().UTC()
	d := &herm.Deployment{
		ID: e.ids.New(herm.PrefixDeployment), CustomerID: "cus_1", Name: "secret", Runtime: "hermes", Model: "test/model",
		SystemPrompt: "be brief", Status: herm.DeploymentReady, Features: herm.DefaultFeatures(),
		Sandbox: herm.Sandbox{Enabled: true, Type: "local"}, ConfigVersion: 1, CreatedAt: now, UpdatedAt: now,
		Secrets: map[string]string{"API_KEY": "sec_test"}, Tools: map[string]herm.ToolSettings{}, Metadata: map[string]string{},
	}
	th := &herm.Thread{ID: e.ids.New(herm.PrefixThread), DeploymentID: d.ID, Title: "Default", IsDefault: true, CreatedAt: now, LastActivityAt: now}
	d.ThreadID = th.ID
	if err := e.store.CreateDeployment(context.Background(), d, th); err != nil {
		e.t.Fatal(err)
	}
	e.dep = d
}

// failingChild is a model whose subagent's first turn streams and then
// fails; the parent delegates one task and then finishes.
type failingChild struct{}

func (failingChild) Stream(_ context.Context, req llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	last := req.Messages[len(req.Messages)-1]
	if strings.Contains(req.System, "You are a subagent") {
		onDelta(llm.Delta{Text: "Working "})
		onDelta(llm.Delta{Text: "on "})
		return nil, &llm.Error{Provider: "test", Type: "stream_broken", Message: "cut"}
	}
	if last.Role == llm.RoleUser {
		return &llm.Response{StopReason: llm.StopToolUse, ToolCalls: []llm.ToolCall{{ID: "sub", Name: agent.Subagents,
			Arguments: json.RawMessage(`{"tasks":[{"instructions":"task A"}]}`)}}}, nil
	}
	onDelta(llm.Delta{Text: "It failed."})
	return &llm.Response{Text: "It failed.", StopReason: llm.StopEndTurn}, nil
}

// Subagents' turns carry turn and attempt too, counted per subagent; a
// child's stream that fails midway is abandoned.
func TestSubagentTurns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.useModel(&delegator{})
	e.start()
	run := e.wait(e.send("split the work", "", "").Run.ID, herm.RunCompleted)
	l := readTurns(t, e.events(), run.ID)
	l.check(t)
	for _, k := range []turnKey{{1, "sub", 2}, {2, "sub", 2}} {
		if !strings.HasPrefix(l.message[k], "summary of echo: task") || l.text[k][1] != l.message[k] {
			t.Fatalf("subagent turn %+v: %q, message %q", k, l.text[k][1], l.message[k])
		}
	}
	equal(t, l.order, []string{"token 2/1", "message 2"})

	e.useModel(failingChild{})
	run = e.wait(e.send("again", "", "").Run.ID, herm.RunCompleted)
	l = readTurns(t, e.events(), run.ID)
	l.check(t)
	if !l.abandoned[turnKey{1, "sub", 1}][1] || l.text[turnKey{1, "sub", 1}][1] != "Working on " {
		t.Fatalf("the failed child turn: %+v %+v", l.text, l.abandoned)
	}
}

// A NUL the model streams becomes U+FFFD in the deltas and the message
// alike (PostgreSQL's text columns take no NUL), and the run completes.
func TestModelNULIsReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(llmtest.Turn{Words: []string{"a\x00", "b"}})
	e.start()
	run := e.wait(e.send("go", "", "").Run.ID, herm.RunCompleted)
	l := readTurns(t, e.events(), run.ID)
	l.check(t)
	if got := l.message[turnKey{turn: 1}]; got != "a\uFFFDb" {
		t.Fatalf("message %q", got)
	}
	msgs, err := e.store.ListMessages(context.Background(), run.ThreadID, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if strings.ContainsRune(m.Content, 0) {
			t.Fatalf("a stored message holds a NUL: %q", m.Content)
		}
	}
}
