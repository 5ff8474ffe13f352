package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/agent"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/runner"
)

// summarizer is a fake model for long conversations: it calls the echo
// tool when asked, and when asked to summarize it keeps every "fact-N" and
// "result-N" it is shown, so that a test can tell whether anything was
// lost.
type summarizer struct {
	mu   sync.Mutex
	reqs []llm.Request
}

var token = regexp.MustCompile(`(fact|result)-\d+`)

func (s *summarizer) Stream(_ context.Context, req llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	size := len(req.System)
	for _, m := range req.Messages {
		size += len(m.Content)
	}
	usage := llm.Usage{InputTokens: int64(size / 4), OutputTokens: 5}
	last := req.Messages[len(req.Messages)-1]
	if strings.HasSuffix(last.Content, "Write the updated summary.") {
		seen := map[string]bool{}
		for _, t := range token.FindAllString(last.Content, -1) {
			seen[t] = true
		}
		var keep []string
		for t := range seen {
			keep = append(keep, t)
		}
		sort.Strings(keep)
		return &llm.Response{Text: "known: " + strings.Join(keep, " "), StopReason: llm.StopEndTurn, Usage: usage}, nil
	}
	if last.Role == llm.RoleUser {
		if n, ok := strings.CutPrefix(last.Content, "tool "); ok {
			n, _, _ = strings.Cut(n, " ")
			return &llm.Response{StopReason: llm.StopToolUse, Usage: usage, ToolCalls: []llm.ToolCall{{
				ID: "call_" + n, Name: "echo", Arguments: json.RawMessage(`{"text":"result-` + n + `"}`)}}}, nil
		}
	}
	onDelta(llm.Delta{Text: "ok"})
	return &llm.Response{Text: "ok", StopReason: llm.StopEndTurn, Usage: usage}, nil
}

// A 300-turn conversation against a model with a 2,000-token window keeps
// working: older context is compacted into summaries (compaction events),
// no request outgrows the window, a tool call never travels without its
// result, every tool result reaches the model, and no fact the user gave
// is lost (it is in the summary or verbatim).
func TestLongConversationCompacts(t *testing.T) {
	t.Parallel()
	fake := &summarizer{}
	e := newEnvWith(t, runner.Options{}, agent.Options{MaxSteps: 10, ContextWindows: llm.ContextWindows{"test/": 2000}})
	e.useModel(fake)
	e.start()
	pad := strings.Repeat("padding so that every message takes room ", 4)
	for i := 1; i <= 300; i++ {
		content := fmt.Sprintf("remember fact-%d %s", i, pad)
		if i%10 == 0 {
			content = fmt.Sprintf("tool %d %s", i, pad)
		}
		res := e.send(content, "", "")
		if r := e.waitEnded(res.Run.ID); r.Status != herm.RunCompleted {
			t.Fatalf("turn %d: %s %+v", i, r.Status, r.Error)
		}
	}
	compactions := 0
	for _, ev := range e.events() {
		if ev.Type == herm.EventCompaction {
			compactions++
		}
	}
	if compactions < 5 {
		t.Fatalf("%d compactions in 300 turns with a 2,000-token window", compactions)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	var last llm.Request
	for _, req := range fake.reqs {
		size := len(req.System)
		for _, m := range req.Messages {
			size += len(m.Content) + 16
		}
		if size/4 > 2000 {
			t.Fatalf("a request of about %d tokens for a 2,000-token window", size/4)
		}
		for i, m := range req.Messages {
			for _, c := range m.ToolCalls {
				found := false
				for _, r := range req.Messages[i+1:] {
					found = found || (r.Role == llm.RoleTool && r.ToolCallID == c.ID)
				}
				if !found {
					t.Fatalf("tool call %s sent without its result", c.ID)
				}
			}
		}
		if !strings.HasSuffix(req.Messages[len(req.Messages)-1].Content, "Write the updated summary.") {
			last = req
		}
	}
	// Everything the conversation said is still known to the model: in the
	// summary or verbatim.
	var all strings.Builder
	all.WriteString(last.System)
	for _, m := range last.Messages {
		all.WriteString(" " + m.Content)
	}
	known := map[string]bool{}
	for _, t := range token.FindAllString(all.String(), -1) {
		known[t] = true
	}
	results := map[string]bool{}
	for _, req := range fake.reqs {
		for _, m := range req.Messages {
			if m.Role == llm.RoleTool {
				results[m.Content] = true
			}
		}
	}
	for i := 1; i <= 300; i++ {
		if i%10 == 0 {
			// A tool result reaches the model in its run (later runs see
			// the thread's messages, not other runs' tool calls).
			if !results[fmt.Sprintf("echo: result-%d", i)] {
				t.Fatalf("result-%d never reached the model", i)
			}
			continue
		}
		if want := fmt.Sprintf("fact-%d", i); !known[want] {
			t.Fatalf("%s was lost", want)
		}
	}
}

// looper calls the echo tool again and again in one run, with large
// arguments, until it has made n calls.
type looper struct {
	summarizer
	n int
}

func (l *looper) Stream(ctx context.Context, req llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	last := req.Messages[len(req.Messages)-1]
	if strings.HasSuffix(last.Content, "Write the updated summary.") {
		return l.summarizer.Stream(ctx, req, onDelta)
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, req)
	calls := 0
	for _, r := range l.reqs {
		if m := r.Messages[len(r.Messages)-1]; m.Role == llm.RoleTool {
			calls++
		}
	}
	l.mu.Unlock()
	if calls >= l.n {
		return &llm.Response{Text: "all done", StopReason: llm.StopEndTurn, Usage: llm.Usage{InputTokens: 1}}, nil
	}
	arg := fmt.Sprintf(`{"text":"result-%d %s"}`, calls+1, strings.Repeat("x", 400))
	return &llm.Response{StopReason: llm.StopToolUse, Usage: llm.Usage{InputTokens: 1}, ToolCalls: []llm.ToolCall{{
		ID: fmt.Sprintf("call_%d", calls+1), Name: "echo", Arguments: json.RawMessage(arg)}}}, nil
}

// One run with 60 tool calls whose transcript outgrows the window: it is
// compacted during the run, whole turns at a time.
func TestLongRunCompacts(t *testing.T) {
	t.Parallel()
	fake := &looper{n: 60}
	e := newEnvWith(t, runner.Options{}, agent.Options{MaxSteps: 100, ContextWindows: llm.ContextWindows{"test/": 3000}})
	e.useModel(fake)
	e.start()
	res := e.send("go", "", "")
	if r := e.waitEnded(res.Run.ID); r.Status != herm.RunCompleted || r.Usage.ToolCalls != 60 {
		t.Fatalf("run %s %+v %+v", r.Status, r.Usage, r.Error)
	}
	n := 0
	for _, ev := range e.events() {
		if ev.Type == herm.EventCompaction {
			n++
		}
	}
	if n == 0 {
		t.Fatal("no compaction in a run that outgrew its window")
	}
	// The next run does not see the first one's summarized messages again.
	before := func() int { fake.mu.Lock(); defer fake.mu.Unlock(); return len(fake.reqs) }()
	fake.n = 0 // answer at once
	res2 := e.send("and now?", "", "")
	if r := e.waitEnded(res2.Run.ID); r.Status != herm.RunCompleted {
		t.Fatalf("second run %s %+v", r.Status, r.Error)
	}
	fake.mu.Lock()
	for _, m := range fake.reqs[before].Messages {
		if m.Role == llm.RoleUser && m.Content == "go" {
			t.Fatalf("a summarized message came back verbatim: %+v", fake.reqs[before].Messages)
		}
	}
	fake.mu.Unlock()
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for _, req := range fake.reqs {
		for i, m := range req.Messages {
			for _, c := range m.ToolCalls {
				found := false
				for _, r := range req.Messages[i+1:] {
					found = found || (r.Role == llm.RoleTool && r.ToolCallID == c.ID)
				}
				if !found {
					t.Fatalf("tool call %s sent without its result", c.ID)
				}
			}
			if m.Role == llm.RoleTool && (i == 0 || len(req.Messages[i-1].ToolCalls) == 0 && req.Messages[i-1].Role != llm.RoleTool) {
				t.Fatalf("tool result %s sent without its call", m.ToolCallID)
			}
		}
	}
}

// delegator is a fake model: the parent hands two tasks to subagents; each
// subagent calls echo once and summarizes.
type delegator struct {
	mu   sync.Mutex
	reqs []llm.Request
}

func (d *delegator) Stream(_ context.Context, req llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	d.mu.Lock()
	d.reqs = append(d.reqs, req)
	d.mu.Unlock()
	last := req.Messages[len(req.Messages)-1]
	usage := llm.Usage{InputTokens: 100, OutputTokens: 10}
	if strings.Contains(req.System, "You are a subagent") {
		if last.Role == llm.RoleUser {
			return &llm.Response{StopReason: llm.StopToolUse, Usage: usage, ToolCalls: []llm.ToolCall{{ID: "e1", Name: "echo",
				Arguments: json.RawMessage(`{"text":"` + last.Content + `"}`)}}}, nil
		}
		onDelta(llm.Delta{Text: "summary of " + last.Content})
		return &llm.Response{Text: "summary of " + last.Content, StopReason: llm.StopEndTurn, Usage: usage}, nil
	}
	if last.Role == llm.RoleUser {
		return &llm.Response{StopReason: llm.StopToolUse, Usage: usage, ToolCalls: []llm.ToolCall{{ID: "sub", Name: agent.Subagents,
			Arguments: json.RawMessage(`{"tasks":[{"instructions":"task A"},{"instructions":"task B"}]}`)}}}, nil
	}
	return &llm.Response{Text: "both done", StopReason: llm.StopEndTurn, Usage: usage}, nil
}

func TestSubagents(t *testing.T) {
	t.Parallel()
	fake := &delegator{}
	e := newEnv(t, runner.Options{})
	e.useModel(fake)
	e.start()
	res := e.send("split the work", "", "")
	run := e.waitEnded(res.Run.ID)
	if run.Status != herm.RunCompleted {
		t.Fatalf("run %s %+v", run.Status, run.Error)
	}
	if n := e.echo.calls.Load(); n != 2 {
		t.Fatalf("echo ran %d times (once per subagent)", n)
	}
	// 2 parent calls + 2×2 subagent calls, all in the parent's usage.
	if run.Usage.InputTokens != 600 || run.Usage.ModelCalls != 2 {
		t.Fatalf("usage %+v", run.Usage)
	}
	// Only the summaries come back to the parent.
	fake.mu.Lock()
	var parentResult string
	for _, req := range fake.reqs {
		for _, m := range req.Messages {
			if m.Role == llm.RoleTool && m.ToolCallID == "sub" {
				parentResult = m.Content
			}
		}
	}
	fake.mu.Unlock()
	if parentResult != "Task 1: summary of echo: task A\n\nTask 2: summary of echo: task B" {
		t.Fatalf("the parent got %q", parentResult)
	}
	// The children's events are the parent run's, tagged.
	tagged := 0
	for _, ev := range e.events() {
		if ev.RunID == res.Run.ID && strings.Contains(string(ev.Data), `"parent_tool_call_id":"sub"`) {
			tagged++
		}
	}
	if tagged < 6 { // per subagent: tool_call, tool_result, token, message
		t.Fatalf("%d tagged subagent events", tagged)
	}
}

// A model that calls subagents while the deployment disabled it gets an
// unknown-tool result: nothing runs.
func TestDisabledSubagentsDoNotRun(t *testing.T) {
	t.Parallel()
	fake := &delegator{}
	e := newEnv(t, runner.Options{})
	now := time.Now().UTC()
	off := false
	d := &herm.Deployment{
		ID: e.ids.New(herm.PrefixDeployment), CustomerID: "cus_1", Name: "test", Runtime: "hermes", Model: "test/model",
		SystemPrompt: "be brief", Status: herm.DeploymentReady, Features: herm.DefaultFeatures(),
		Sandbox: herm.Sandbox{Enabled: true, Type: "local"}, ConfigVersion: 1, CreatedAt: now, UpdatedAt: now,
		Secrets: map[string]string{}, Tools: map[string]herm.ToolSettings{agent.Subagents: {Enabled: &off}}, Metadata: map[string]string{},
	}
	th := &herm.Thread{ID: e.ids.New(herm.PrefixThread), DeploymentID: d.ID, Title: "Default", IsDefault: true, CreatedAt: now, LastActivityAt: now}
	d.ThreadID = th.ID
	if err := e.store.CreateDeployment(context.Background(), d, th); err != nil {
		t.Fatal(err)
	}
	e.dep = d
	e.useModel(fake)
	e.start()
	res := e.send("split the work", "", "")
	e.waitEnded(res.Run.ID)
	if n := e.echo.calls.Load(); n != 0 {
		t.Fatalf("echo ran %d times through disabled subagents", n)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	got := ""
	for _, req := range fake.reqs {
		for _, m := range req.Messages {
			if m.Role == llm.RoleTool && m.ToolCallID == "sub" {
				got = m.Content
			}
		}
	}
	if !strings.Contains(got, "unknown tool") {
		t.Fatalf("the model got %q for its subagents call", got)
	}
}
