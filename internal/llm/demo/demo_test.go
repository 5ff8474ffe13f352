package demo_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/demo"
)

var tools = []llm.ToolSpec{{Name: "shell"}, {Name: "read_file"}}

// stream runs the demo model and checks what every reply must satisfy.
func stream(t *testing.T, req llm.Request) *llm.Response {
	t.Helper()
	var deltas []string
	resp, err := demo.New().Stream(context.Background(), req, func(d llm.Delta) { deltas = append(deltas, d.Text) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Text, demo.Prefix) {
		t.Errorf("text %q lacks the demo prefix", resp.Text)
	}
	if strings.Join(deltas, "") != resp.Text || len(deltas) < 3 {
		t.Errorf("deltas %q do not stream text %q word by word", deltas, resp.Text)
	}
	for _, d := range deltas[:len(deltas)-1] {
		if !strings.HasSuffix(d, " ") || strings.Count(strings.TrimSpace(d), " ") != 0 {
			t.Errorf("delta %q is not one word and a space", d)
		}
	}
	if (resp.Usage.InputTokens <= 0) != (len(req.Messages) == 0) || resp.Usage.OutputTokens <= 0 {
		t.Errorf("usage %+v", resp.Usage)
	}
	again, err := demo.New().Stream(context.Background(), req, nil)
	if err != nil || !cmp.Equal(resp, again) {
		t.Errorf("not deterministic: %+v then %+v (%v)", resp, again, err)
	}
	return resp
}

func TestPlainReply(t *testing.T) {
	t.Parallel()
	resp := stream(t, llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hello  there,\nmodel"}}})
	want := &llm.Response{
		Text:       `[demo model] You said: "Hello there, model". I am Herm's offline demo model: set ANTHROPIC_API_KEY or OPENAI_API_KEY and pick a real model to get real answers.`,
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 5, OutputTokens: 40},
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestPlainReplyMentionsTools(t *testing.T) {
	t.Parallel()
	resp := stream(t, llm.Request{Tools: tools, Messages: []llm.Message{{Role: llm.RoleUser, Content: "/tool"}}})
	if !strings.HasSuffix(resp.Text, `A "/tool" line needs a tool name: "/tool NAME {json args}". I am Herm's offline demo model: set ANTHROPIC_API_KEY or OPENAI_API_KEY and pick a real model to get real answers.`) || len(resp.ToolCalls) != 0 {
		t.Errorf("got %+v", resp)
	}
	resp = stream(t, llm.Request{Tools: tools, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
	if !strings.HasSuffix(resp.Text, `send a line "/tool NAME {json args}"; tools offered: shell, read_file.`) {
		t.Errorf("got %q", resp.Text)
	}
}

func TestLongMessageQuotedShort(t *testing.T) {
	t.Parallel()
	resp := stream(t, llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: strings.Repeat("word ", 100)}}})
	if !strings.Contains(resp.Text, `word…". I am`) || len(resp.Text) > 400 {
		t.Errorf("got %q", resp.Text)
	}
}

func TestToolDirectiveRoundTrip(t *testing.T) {
	t.Parallel()
	req := llm.Request{Tools: tools, Messages: []llm.Message{
		{Role: llm.RoleUser, Content: "Read it please.\n  /tool read_file {\"path\": \"a.txt\"}\n/tool shell"},
	}}
	resp := stream(t, req)
	wantCalls := []llm.ToolCall{
		{ID: "call_demo_1", Name: "read_file", Arguments: json.RawMessage(`{"path": "a.txt"}`)},
		{ID: "call_demo_2", Name: "shell", Arguments: json.RawMessage(`{}`)},
	}
	if diff := cmp.Diff(wantCalls, resp.ToolCalls); diff != "" {
		t.Errorf("tool calls (-want +got):\n%s", diff)
	}
	if resp.StopReason != llm.StopToolUse || resp.Text != `[demo model] Calling tool "read_file" with {"path": "a.txt"}. Calling tool "shell" with {}.` {
		t.Errorf("got %+v", resp)
	}

	req.Messages = append(req.Messages,
		llm.Message{Role: llm.RoleAssistant, Content: resp.Text, ToolCalls: resp.ToolCalls},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_demo_1", Content: "hello\nworld " + strings.Repeat("x", 300)},
		llm.Message{Role: llm.RoleTool, ToolCallID: "call_demo_2", Content: "no command", IsError: true},
	)
	resp = stream(t, req)
	wantText := `[demo model] The tool "read_file" returned: "hello world ` + strings.Repeat("x", 188) + `…". The tool "shell" failed with: "no command". I am Herm's offline demo model: set ANTHROPIC_API_KEY or OPENAI_API_KEY and pick a real model to get real answers.`
	if resp.Text != wantText || resp.StopReason != llm.StopEndTurn || len(resp.ToolCalls) != 0 {
		t.Errorf("got %+v\nwant text %q", resp, wantText)
	}

	// The next call is numbered after the two already made.
	req.Messages = append(req.Messages,
		llm.Message{Role: llm.RoleAssistant, Content: resp.Text},
		llm.Message{Role: llm.RoleUser, Content: "run: ls -la /tmp"},
	)
	resp = stream(t, req)
	wantCalls = []llm.ToolCall{{ID: "call_demo_3", Name: "shell", Arguments: json.RawMessage(`{"command":"ls -la /tmp"}`)}}
	if diff := cmp.Diff(wantCalls, resp.ToolCalls); diff != "" {
		t.Errorf("tool calls (-want +got):\n%s", diff)
	}
}

func TestBadDirectives(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]string{
		"/tool fly":                 `There is no tool "fly" in this request.`,
		"/tool shell {not json}":    `The arguments for tool "shell" are not a JSON object: {not json}.`,
		`/tool shell ["a"]`:         `The arguments for tool "shell" are not a JSON object: ["a"].`,
		"/toolbox shell\nrun:   \n": `You said: "/toolbox shell run:".`,
	} {
		resp := stream(t, llm.Request{Tools: tools, Messages: []llm.Message{{Role: llm.RoleUser, Content: msg}}})
		if !strings.HasPrefix(resp.Text, demo.Prefix+want) || len(resp.ToolCalls) != 0 || resp.StopReason != llm.StopEndTurn {
			t.Errorf("%q: got %+v, want text starting %q", msg, resp, want)
		}
	}
}

func TestNoToolsOffered(t *testing.T) {
	t.Parallel()
	resp := stream(t, llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "/tool shell\nrun: ls"}}})
	if len(resp.ToolCalls) != 0 || !strings.Contains(resp.Text, `You said: "/tool shell run: ls".`) {
		t.Errorf("got %+v", resp)
	}
	resp = stream(t, llm.Request{Tools: []llm.ToolSpec{{Name: "read_file"}}, Messages: []llm.Message{{Role: llm.RoleUser, Content: "run: ls"}}})
	if len(resp.ToolCalls) != 0 {
		t.Errorf("run: without a shell tool called %+v", resp.ToolCalls)
	}
}

func TestEmptyConversation(t *testing.T) {
	t.Parallel()
	resp := stream(t, llm.Request{})
	if !strings.HasPrefix(resp.Text, "[demo model] I received no message.") {
		t.Errorf("got %q", resp.Text)
	}
}

func TestCancelBetweenWords(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	m := demo.New(demo.WithWordDelay(time.Hour))
	_, err := m.Stream(ctx, llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, func(llm.Delta) {
		n++
		cancel()
	})
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("err %v after %d deltas", err, n)
	}
}

func TestWordDelay(t *testing.T) {
	t.Parallel()
	start := time.Now()
	resp, err := demo.New(demo.WithWordDelay(time.Millisecond)).Stream(context.Background(),
		llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if words := len(strings.Fields(resp.Text)); time.Since(start) < time.Duration(words-1)*time.Millisecond {
		t.Errorf("%d words streamed in %v", words, time.Since(start))
	}
}

// Asked for structured output, the demo model answers with a value valid
// against the schema (of the subset output schemas use).
func TestStructuredOutput(t *testing.T) {
	schema := `{"type":"object","properties":{
		"verdict":{"type":"string","enum":["approve","reject"]},
		"score":{"type":"integer"},"ratio":{"type":["number","null"]},"ok":{"type":"boolean"},
		"when":{"type":"string","format":"date-time"},"id":{"type":"string","format":"uuid"},"site":{"type":"string","format":"uri"},
		"tags":{"type":"array","items":{"type":"string"}},"kind":{"const":"fixed"},
		"either":{"anyOf":[{"type":"string"},{"type":"integer"}]},
		"inner":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}},
		"required":["verdict","score","ratio","ok","when","id","site","tags","kind","either","inner"],"additionalProperties":false}`
	if err := herm.ValidateOutputSchema("output_schema", json.RawMessage(schema)); err != nil {
		t.Fatal(err)
	}
	resp, err := demo.New().Stream(context.Background(), llm.Request{
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "judge"}},
		Output:   &llm.OutputFormat{Name: "out", Schema: json.RawMessage(schema)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := herm.CheckOutput(json.RawMessage(schema), resp.Text); err != nil {
		t.Fatalf("%s: %v", resp.Text, err)
	}
	if !demo.New().StructuredOutput("demo/demo") {
		t.Fatal("the demo model does not say it takes output schemas")
	}
}

func TestMemoryObserver(t *testing.T) {
	for _, tc := range []struct{ conversation, want string }{
		{"User: hello\nAgent: hi", `{"operations":[]}`},
		{"User: Remember: prefers tea\nAgent: noted\nUser: remember:\nAgent said remember: x",
			`{"operations":[{"op":"add","memory_id":"","content":"prefers tea"}]}`},
	} {
		resp, err := demo.New().Stream(context.Background(), llm.Request{
			Messages: []llm.Message{{Role: llm.RoleUser, Content: "Memories that exist:\n(none)\n\n" + tc.conversation}},
			Output:   &llm.OutputFormat{Name: llm.MemoryOperations, Schema: json.RawMessage(`{"type":"object"}`)},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != tc.want {
			t.Errorf("%q: got %s, want %s", tc.conversation, resp.Text, tc.want)
		}
	}
}

func TestDream(t *testing.T) {
	for _, tc := range []struct{ memories, want string }{
		{"- [mem_2] Likes tea\n- [mem_1] likes coffee", `{"operations":[]}`},
		{"- [mem_3] The customer likes  TEA.\n- [mem_2] works in Oslo\n- [mem_1] the customer likes tea", `{"operations":[{"op":"delete","memory_id":"mem_3","content":""}]}`},
	} {
		resp, err := demo.New().Stream(context.Background(), llm.Request{
			Messages: []llm.Message{{Role: llm.RoleUser, Content: "The memories, newest first:\n" + tc.memories + "\n\nAnswer with the JSON operations."}},
			Output:   &llm.OutputFormat{Name: llm.DreamOperations, Schema: json.RawMessage(`{"type":"object"}`)},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text != tc.want {
			t.Errorf("%q: got %s, want %s", tc.memories, resp.Text, tc.want)
		}
	}
}
