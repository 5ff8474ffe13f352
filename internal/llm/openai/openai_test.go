package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/llm/openai"
)

// writeSSE writes each payload as a "data:" event and flushes.
func writeSSE(w http.ResponseWriter, payloads ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, p := range payloads {
		fmt.Fprintf(w, "data: %s\n\n", p)
	}
	w.(http.Flusher).Flush()
}

func textChunk(s string) string {
	b, _ := json.Marshal(s)
	return `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":` + string(b) + `},"finish_reason":null}]}`
}

const (
	firstChunk = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Running "},"finish_reason":null}]}`
	stopChunk  = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`
	usageChunk = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":7,"total_tokens":27,"prompt_tokens_details":{"cached_tokens":12}}}`
)

// sleeps records the waits a client asks for instead of sleeping.
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

func collect(t *testing.T, c *openai.Client, req llm.Request) (*llm.Response, []llm.Delta, error) {
	t.Helper()
	var deltas []llm.Delta
	resp, err := c.Stream(context.Background(), req, func(d llm.Delta) { deltas = append(deltas, d) })
	return resp, deltas, err
}

func TestStreamText(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer sk-test" {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.Header.Get("X-Title"); got != "Herm" {
			t.Errorf("X-Title = %q", got)
		}
		writeSSE(w, firstChunk, textChunk("ls "), textChunk("now."), stopChunk, usageChunk, "[DONE]")
	}))
	defer srv.Close()

	c := openai.New("sk-test", openai.WithBaseURL(srv.URL+"/v1/"), openai.WithHeader("X-Title", "Herm"))
	resp, deltas, err := collect(t, c, llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantDeltas := []llm.Delta{{Text: "Running "}, {Text: "ls "}, {Text: "now."}}
	if diff := cmp.Diff(wantDeltas, deltas); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
	want := &llm.Response{
		Text:       "Running ls now.",
		StopReason: llm.StopEndTurn,
		Usage:      llm.Usage{InputTokens: 20, OutputTokens: 7, CacheReadTokens: 12},
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

func TestStreamToolCallsAndReasoning(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeSSE(w,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","reasoning":"Need ls."},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"reasoning_content":" And cat."},"finish_reason":null}]}`,
			firstChunk,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"bash","arguments":""}}]},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"command\":"}}]},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"read","arguments":"{\"path\""}}]},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" \"ls\"}"}}]},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":": \"a.txt\"}"}}]},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"id":"call_3","type":"function","function":{"name":"now"}}]},"finish_reason":null}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
			usageChunk, "[DONE]")
	}))
	defer srv.Close()

	resp, deltas, err := collect(t, openai.New("k", openai.WithBaseURL(srv.URL)), llm.Request{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	wantDeltas := []llm.Delta{{Reasoning: "Need ls."}, {Reasoning: " And cat."}, {Text: "Running "}}
	if diff := cmp.Diff(wantDeltas, deltas); diff != "" {
		t.Errorf("deltas (-want +got):\n%s", diff)
	}
	want := &llm.Response{
		Text: "Running ",
		ToolCalls: []llm.ToolCall{
			{ID: "call_1", Name: "bash", Arguments: json.RawMessage(`{"command": "ls"}`)},
			{ID: "call_2", Name: "read", Arguments: json.RawMessage(`{"path": "a.txt"}`)},
			{ID: "call_3", Name: "now", Arguments: json.RawMessage(`{}`)},
		},
		StopReason: llm.StopToolUse,
		Usage:      llm.Usage{InputTokens: 20, OutputTokens: 7, CacheReadTokens: 12},
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

func TestStopReasons(t *testing.T) {
	t.Parallel()
	for finish, want := range map[string]llm.StopReason{
		"stop": llm.StopEndTurn, "length": llm.StopMaxTokens, "tool_calls": llm.StopToolUse, "content_filter": llm.StopOther,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeSSE(w, textChunk("x"), `{"choices":[{"index":0,"delta":{},"finish_reason":"`+finish+`"}]}`, "[DONE]")
		}))
		resp, _, err := collect(t, openai.New("k", openai.WithBaseURL(srv.URL)), llm.Request{})
		srv.Close()
		if err != nil || resp.StopReason != want {
			t.Errorf("finish_reason %q: got %v, %v; want %q", finish, resp, err, want)
		}
	}
}

func TestRequestBody(t *testing.T) {
	t.Parallel()
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "" {
			t.Errorf("Authorization sent without a key: %q", r.Header.Get("Authorization"))
		}
		writeSSE(w, stopChunk, "[DONE]")
	}))
	defer srv.Close()

	req := llm.Request{
		Model:  "meta-llama/llama-3-70b",
		System: "Be brief.",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "list and read"},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
				{ID: "call_1", Name: "bash", Arguments: json.RawMessage(`{"command":"ls"}`)},
				{ID: "call_2", Name: "now"},
			}},
			{Role: llm.RoleTool, ToolCallID: "call_1", Content: "a.txt", Images: []llm.Image{{MediaType: "image/png", Data: []byte("PNG")}}},
			{Role: llm.RoleTool, ToolCallID: "call_2", Content: "no clock", IsError: true},
			{Role: llm.RoleAssistant, Content: "Done."},
		},
		Tools: []llm.ToolSpec{
			{Name: "bash", Description: "Run a command.", InputSchema: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"}}}`)},
			{Name: "now"},
		},
		MaxTokens: 100,
	}
	if _, _, err := collect(t, openai.New("", openai.WithBaseURL(srv.URL), openai.WithMaxCompletionTokens(true)), req); err != nil {
		t.Fatal(err)
	}
	want := `{
		"model": "meta-llama/llama-3-70b",
		"stream": true,
		"stream_options": {"include_usage": true},
		"max_completion_tokens": 100,
		"messages": [
			{"role": "system", "content": "Be brief."},
			{"role": "user", "content": "list and read"},
			{"role": "assistant", "content": null, "tool_calls": [
				{"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{\"command\":\"ls\"}"}},
				{"id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}}
			]},
			{"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
			{"role": "tool", "tool_call_id": "call_2", "content": "Error: no clock"},
			{"role": "user", "content": [
				{"type": "text", "text": "[Images returned by the tool calls above.]"},
				{"type": "text", "text": "[from tool call call_1]"},
				{"type": "image_url", "image_url": {"url": "data:image/png;base64,UE5H"}}
			]},
			{"role": "assistant", "content": "Done."}
		],
		"tools": [
			{"type": "function", "function": {"name": "bash", "description": "Run a command.", "parameters": {"type":"object","properties":{"command":{"type":"string"}}}}},
			{"type": "function", "function": {"name": "now", "parameters": {"type":"object","properties":{}}}}
		]
	}`
	assertJSON(t, want, body)
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

func TestErrorMidStream(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeSSE(w, firstChunk, `{"id":"c1","object":"chat.completion.chunk","error":{"code":502,"message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}`)
	}))
	defer srv.Close()
	resp, deltas, err := collect(t, openai.New("k", openai.WithBaseURL(srv.URL), openai.WithName("openrouter"), openai.WithSleep((&sleeps{}).sleep)), llm.Request{})
	var e *llm.Error
	if !errors.As(err, &e) || e.Message != "Provider disconnected" || e.Provider != "openrouter" || resp != nil {
		t.Fatalf("resp %v, err %#v", resp, err)
	}
	if len(deltas) != 1 {
		t.Errorf("deltas %v", deltas)
	}
}

func TestStreamBrokenBeforeOutputRetried(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			// Tool call fragments reach nobody before the turn completes.
			writeSSE(w, `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"bash","arguments":"{\"comm"}}]}}]}`)
			w.Write([]byte(`data: {"choi`)) // cut inside a line
			return
		}
		writeSSE(w, textChunk("ok"), stopChunk, "[DONE]")
	}))
	defer srv.Close()
	var s sleeps
	resp, _, err := collect(t, openai.New("k", openai.WithBaseURL(srv.URL), openai.WithSleep(s.sleep)), llm.Request{})
	if err != nil || resp.Text != "ok" || len(resp.ToolCalls) != 0 || hits.Load() != 2 {
		t.Fatalf("resp %+v, err %v after %d requests", resp, err, hits.Load())
	}
}

func TestPlainJSONAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"error":"model 'x' not found"}`)
	}))
	defer srv.Close()
	_, err := openai.New("", openai.WithBaseURL(srv.URL)).Stream(context.Background(), llm.Request{}, nil)
	if err == nil || !strings.Contains(err.Error(), "model 'x' not found") {
		t.Fatalf("err = %v", err)
	}
}

// TestProviderSuite runs the contract every provider shares (retries,
// Retry-After, no retry after output, cancellation, errors) on the Chat
// Completions wire format, under a compatible server's name.
func TestProviderSuite(t *testing.T) {
	t.Parallel()
	llmtest.RunProviderSuite(t, llmtest.ProviderSuite{
		Name: "vllm",
		New: func(baseURL string, sleep func(context.Context, time.Duration) error, attempts int) llm.Provider {
			return openai.New("k", openai.WithName("vllm"), openai.WithBaseURL(baseURL), openai.WithSleep(sleep), openai.WithMaxAttempts(attempts))
		},
		WriteText: func(w http.ResponseWriter, text string) {
			writeSSE(w, textChunk(text), stopChunk, usageChunk, "[DONE]")
		},
		WriteStart: func(w http.ResponseWriter, text string) {
			if text == "" {
				writeSSE(w, `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}`)
				return
			}
			writeSSE(w, textChunk(text))
		},
		ErrorBody: func(typ, message string) string {
			b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": message, "type": typ, "code": nil}})
			return string(b)
		},
	})
}
