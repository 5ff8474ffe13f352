package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/anthropic"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

// writeSSE writes name/data pairs as events and flushes.
func writeSSE(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for i := 0; i+1 < len(events); i += 2 {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", events[i], events[i+1])
	}
	w.(http.Flusher).Flush()
}

func textDelta(s string) (string, string) {
	b, _ := json.Marshal(s)
	return "content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + string(b) + `}}`
}

const messageStart = `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"test-model","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_read_input_tokens":30,"cache_creation_input_tokens":5,"output_tokens":1}}}`

// toolUseStream is the documented stream of a turn with text and two tool calls.
func toolUseStream() []string {
	s := []string{
		"message_start", messageStart,
		"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		"ping", `{"type": "ping"}`,
	}
	n, d := textDelta("Let me ")
	s = append(s, n, d)
	n, d = textDelta("check.")
	s = append(s, n, d,
		"content_block_stop", `{"type":"content_block_stop","index":0}`,
		"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"bash","input":{}}}`,
		"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`,
		"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"command\": \"l"}}`,
		"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_2","name":"read","input":{}}}`,
		"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"path\":"}}`,
		"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"s\"}"}}`,
		"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" \"a.txt\"}"}}`,
		"content_block_stop", `{"type":"content_block_stop","index":1}`,
		"content_block_stop", `{"type":"content_block_stop","index":2}`,
		"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":25}}`,
		"message_stop", `{"type":"message_stop"}`,
	)
	return s
}

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func collect(t *testing.T, c *anthropic.Client, req llm.Request) (*llm.Response, []llm.Delta, error) {
	t.Helper()
	var deltas []llm.Delta
	resp, err := c.Stream(context.Background(), req, func(d llm.Delta) { deltas = append(deltas, d) })
	return resp, deltas, err
}

func TestStreamToolUse(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		for h, want := range map[string]string{"X-Api-Key": "sk-ant", "Anthropic-Version": "2023-06-01", "Content-Type": "application/json", "Anthropic-Beta": "b1"} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		writeSSE(w, toolUseStream()...)
	}))
	defer srv.Close()

	c := anthropic.New("sk-ant", anthropic.WithBaseURL(srv.URL+"/"), anthropic.WithHeader("anthropic-beta", "b1"))
	resp, deltas, err := collect(t, c, llm.Request{Model: "test-model", Messages: []llm.Message{{Role: llm.RoleUser, Content: "ls"}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]llm.Delta{{Text: "Let me "}, {Text: "check."}}, deltas); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
	want := &llm.Response{
		Text: "Let me check.",
		ToolCalls: []llm.ToolCall{
			{ID: "toolu_1", Name: "bash", Arguments: json.RawMessage(`{"command": "ls"}`)},
			{ID: "toolu_2", Name: "read", Arguments: json.RawMessage(`{"path": "a.txt"}`)},
		},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 45, OutputTokens: 25, CacheReadTokens: 30},
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

func TestStreamThinkingAndStopReasons(t *testing.T) {
	t.Parallel()
	for stop, want := range map[string]llm.StopReason{
		"end_turn": llm.StopEndTurn, "max_tokens": llm.StopMaxTokens, "stop_sequence": llm.StopEndTurn, "refusal": llm.StopOther,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeSSE(w,
				"message_start", messageStart,
				"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`,
				"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm."}}`,
				"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}`,
				"content_block_stop", `{"type":"content_block_stop","index":0}`,
				"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
				"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}`,
				"content_block_stop", `{"type":"content_block_stop","index":1}`,
				"message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`","stop_sequence":null},"usage":{"output_tokens":3}}`,
				"message_stop", `{"type":"message_stop"}`)
		}))
		resp, deltas, err := collect(t, anthropic.New("k", anthropic.WithBaseURL(srv.URL)), llm.Request{})
		srv.Close()
		if err != nil {
			t.Fatalf("%s: %v", stop, err)
		}
		if resp.StopReason != want || resp.Text != "Hi" {
			t.Errorf("%s: got %+v, want stop %q", stop, resp, want)
		}
		if diff := cmp.Diff([]llm.Delta{{Reasoning: "Hmm."}, {Text: "Hi"}}, deltas); diff != "" {
			t.Errorf("deltas (-want +got):\n%s", diff)
		}
	}
}

func TestRequestBody(t *testing.T) {
	t.Parallel()
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		writeSSE(w, "message_start", messageStart, "message_stop", `{"type":"message_stop"}`)
	}))
	defer srv.Close()

	req := llm.Request{
		Model:  "claude-sonnet-4.5",
		System: "Be brief.",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "list and read"},
			{Role: llm.RoleAssistant, Content: "On it.", ToolCalls: []llm.ToolCall{
				{ID: "toolu_1", Name: "bash", Arguments: json.RawMessage(`{"command":"ls"}`)},
				{ID: "toolu_2", Name: "read", Arguments: json.RawMessage(`{"path": "a.t`)}, // truncated by max_tokens
			}},
			{Role: llm.RoleTool, ToolCallID: "toolu_1", Content: "a.txt", Images: []llm.Image{{MediaType: "image/png", Data: []byte("PNG")}}},
			{Role: llm.RoleTool, ToolCallID: "toolu_2", Content: "bad arguments", IsError: true},
			{Role: llm.RoleUser, Content: "and then?"},
		},
		Tools: []llm.ToolSpec{
			{Name: "bash", Description: "Run a command.", InputSchema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}}}`)},
			{Name: "read"},
		},
	}
	if _, _, err := collect(t, anthropic.New("k", anthropic.WithBaseURL(srv.URL)), req); err != nil {
		t.Fatal(err)
	}
	want := `{
		"model": "claude-sonnet-4-5",
		"max_tokens": 8192,
		"stream": true,
		"system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
		"messages": [
			{"role": "user", "content": [{"type": "text", "text": "list and read"}]},
			{"role": "assistant", "content": [
				{"type": "text", "text": "On it."},
				{"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {"command": "ls"}},
				{"type": "tool_use", "id": "toolu_2", "name": "read", "input": {}}
			]},
			{"role": "user", "content": [
				{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
					{"type": "text", "text": "a.txt"},
					{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "UE5H"}}
				]},
				{"type": "tool_result", "tool_use_id": "toolu_2", "content": "bad arguments", "is_error": true},
				{"type": "text", "text": "and then?", "cache_control": {"type": "ephemeral"}}
			]}
		],
		"tools": [
			{"name": "bash", "description": "Run a command.", "input_schema": {"type":"object","properties":{"command":{"type":"string"}}}},
			{"name": "read", "input_schema": {"type":"object","properties":{}}, "cache_control": {"type": "ephemeral"}}
		]
	}`
	assertJSON(t, want, body)

	// Without caching, and with an explicit max_tokens.
	req = llm.Request{Model: "m", MaxTokens: 50, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	if _, _, err := collect(t, anthropic.New("k", anthropic.WithBaseURL(srv.URL), anthropic.WithPromptCaching(false)), req); err != nil {
		t.Fatal(err)
	}
	assertJSON(t, `{"model":"m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`, body)
}

func assertJSON(t *testing.T, want string, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %s: %v", got, err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("request body (-want +got):\n%s", diff)
	}
}

func TestOverloadedMidStream(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		n, d := textDelta("Hel")
		writeSSE(w,
			"message_start", messageStart,
			"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			n, d,
			"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	}))
	defer srv.Close()
	var s sleeps
	resp, deltas, err := collect(t, anthropic.New("k", anthropic.WithBaseURL(srv.URL), anthropic.WithSleep(s.sleep)), llm.Request{})
	want := &llm.Error{Provider: "anthropic", Type: "overloaded_error", Message: "Overloaded"}
	var e *llm.Error
	if !errors.As(err, &e) || resp != nil {
		t.Fatalf("resp %v, err %v", resp, err)
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	// "Hel" was delivered: retrying would deliver it again.
	if hits.Load() != 1 || len(deltas) != 1 {
		t.Errorf("%d requests, deltas %v", hits.Load(), deltas)
	}
}

func TestOverloadedBeforeOutputRetried(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch hits.Add(1) {
		case 1:
			writeSSE(w, "message_start", messageStart, "error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		case 2:
			w.Header().Set("Retry-After-Ms", "1500")
			w.WriteHeader(529)
			io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		default:
			writeSSE(w, toolUseStream()...)
		}
	}))
	defer srv.Close()
	var s sleeps
	resp, _, err := collect(t, anthropic.New("k", anthropic.WithBaseURL(srv.URL), anthropic.WithSleep(s.sleep)), llm.Request{})
	if err != nil || resp.Text != "Let me check." || hits.Load() != 3 {
		t.Fatalf("resp %v, err %v after %d requests", resp, err, hits.Load())
	}
	if got := s.got(); len(got) != 2 || got[1] != 1500*time.Millisecond {
		t.Errorf("sleeps %v, want [backoff 1.5s]", got)
	}
}

// TestProviderSuite runs the contract every provider shares (retries,
// Retry-After, no retry after output, cancellation, errors) on the
// Messages API's wire format.
func TestProviderSuite(t *testing.T) {
	t.Parallel()
	start := func(text string) []string {
		s := []string{"message_start", messageStart,
			"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`}
		if text != "" {
			n, d := textDelta(text)
			s = append(s, n, d)
		}
		return s
	}
	llmtest.RunProviderSuite(t, llmtest.ProviderSuite{
		Name: "anthropic",
		New: func(baseURL string, sleep func(context.Context, time.Duration) error, attempts int) llm.Provider {
			return anthropic.New("k", anthropic.WithBaseURL(baseURL), anthropic.WithSleep(sleep), anthropic.WithMaxAttempts(attempts))
		},
		WriteText: func(w http.ResponseWriter, text string) {
			writeSSE(w, append(start(text),
				"content_block_stop", `{"type":"content_block_stop","index":0}`,
				"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}`,
				"message_stop", `{"type":"message_stop"}`)...)
		},
		WriteStart: func(w http.ResponseWriter, text string) { writeSSE(w, start(text)...) },
		ErrorBody: func(typ, message string) string {
			b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": message}, "request_id": "req_1"})
			return string(b)
		},
	})
}
