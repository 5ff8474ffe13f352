package anthropic_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/anthropic"
)

// A thinking turn as the API streams it: a signed thinking block (its
// signature in a signature_delta), a redacted one, then a tool call; its
// blocks go back, first and unchanged, in the next request.
func TestThinkingRoundTrip(t *testing.T) {
	t.Parallel()
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, b)
		writeSSE(w,
			"message_start", messageStart,
			"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
			"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me "}}`,
			"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"think."}}`,
			"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}}`,
			"content_block_stop", `{"type":"content_block_stop","index":0}`,
			"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3p"}}`,
			"content_block_stop", `{"type":"content_block_stop","index":1}`,
			"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"bash","input":{}}}`,
			"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"command\":\"ls\"}"}}`,
			"content_block_stop", `{"type":"content_block_stop","index":2}`,
			"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}`,
			"message_stop", `{"type":"message_stop"}`,
		)
	}))
	defer srv.Close()
	c := anthropic.New("k", anthropic.WithBaseURL(srv.URL), anthropic.WithPromptCaching(false))
	temp := 1.0
	req := llm.Request{Model: "claude-sonnet-4-5", MaxTokens: 16000, Temperature: &temp, ThinkingBudget: 10000,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: "list"}}}
	resp, deltas, err := collect(t, c, req)
	if err != nil {
		t.Fatal(err)
	}
	want := []llm.Thinking{{Text: "Let me think.", Signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}, {Redacted: "EmwKAhgBEgy3va3p"}}
	if diff := cmp.Diff(want, resp.Thinking); diff != "" {
		t.Errorf("thinking (-want +got):\n%s", diff)
	}
	var reasoning strings.Builder
	for _, d := range deltas {
		reasoning.WriteString(d.Reasoning)
	}
	if reasoning.String() != "Let me think." {
		t.Errorf("reasoning deltas = %q", reasoning.String())
	}
	assertJSON(t, `{"model":"claude-sonnet-4-5","max_tokens":16000,"temperature":1,"thinking":{"type":"enabled","budget_tokens":10000},"stream":true,
		"messages":[{"role":"user","content":[{"type":"text","text":"list"}]}]}`, bodies[0])

	req.Messages = append(req.Messages,
		llm.Message{Role: llm.RoleAssistant, ToolCalls: resp.ToolCalls, Thinking: resp.Thinking},
		llm.Message{Role: llm.RoleTool, ToolCallID: "toolu_1", Content: "a.txt"})
	if _, _, err := collect(t, c, req); err != nil {
		t.Fatal(err)
	}
	assertJSON(t, `{"model":"claude-sonnet-4-5","max_tokens":16000,"temperature":1,"thinking":{"type":"enabled","budget_tokens":10000},"stream":true,
		"messages":[
			{"role":"user","content":[{"type":"text","text":"list"}]},
			{"role":"assistant","content":[
				{"type":"thinking","thinking":"Let me think.","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},
				{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3p"},
				{"type":"tool_use","id":"toolu_1","name":"bash","input":{"command":"ls"}}
			]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a.txt"}]}
		]}`, bodies[1])
}

func TestCheckSettings(t *testing.T) {
	t.Parallel()
	c := anthropic.New("k")
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name string
		s    llm.Settings
		err  string // "" = accepted
	}{
		{"all", llm.Settings{Temperature: f(0.3), MaxTokens: 4000}, ""},
		{"thinking", llm.Settings{MaxTokens: 16000, ThinkingBudget: 1024}, ""},
		{"thinking with effort for fallbacks", llm.Settings{ThinkingBudget: 2048, ReasoningEffort: "high"}, ""},
		{"temperature above 1", llm.Settings{Temperature: f(1.5)}, "temperature must be from 0 to 1"},
		{"temperature below 0", llm.Settings{Temperature: f(-0.1)}, "temperature must be from 0 to 1"},
		{"max_tokens over the model's limit", llm.Settings{MaxTokens: 64001}, "at most 64000"},
		{"effort only", llm.Settings{ReasoningEffort: "low"}, "reasoning.effort is not supported"},
		{"budget too small", llm.Settings{ThinkingBudget: 1023}, "at least 1024"},
		{"budget not below max_tokens", llm.Settings{MaxTokens: 2000, ThinkingBudget: 2000}, "less than max_tokens (2000)"},
		{"budget not below the default max_tokens", llm.Settings{ThinkingBudget: 8192}, "less than max_tokens (8192)"},
		{"temperature with thinking", llm.Settings{Temperature: f(0.5), ThinkingBudget: 1024}, "cannot be set with extended thinking"},
	} {
		err := c.CheckSettings("claude-sonnet-4-5", tc.s)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}
