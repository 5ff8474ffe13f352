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

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
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

func TestRetryAfter429(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
			return
		}
		writeSSE(w, textChunk("ok"), stopChunk, "[DONE]")
	}))
	defer srv.Close()

	var s sleeps
	resp, _, err := collect(t, openai.New("k", openai.WithBaseURL(srv.URL), openai.WithSleep(s.sleep)), llm.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "ok" || hits.Load() != 2 {
		t.Errorf("text %q after %d requests", resp.Text, hits.Load())
	}
	if diff := cmp.Diff([]time.Duration{3 * time.Second}, s.got()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestServerErrorsRetriedThenReturned(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":{"message":"The server had an error","type":"server_error","code":null}}`)
	}))
	defer srv.Close()

	var s sleeps
	_, _, err := collect(t, openai.New("k", openai.WithBaseURL(srv.URL), openai.WithSleep(s.sleep), openai.WithMaxAttempts(3)), llm.Request{})
	var e *llm.Error
	if !errors.As(err, &e) || e.StatusCode != 500 || e.Type != "server_error" || e.Message != "The server had an error" || e.Provider != "openai" {
		t.Fatalf("err = %#v", err)
	}
	if hits.Load() != 3 {
		t.Errorf("%d requests, want 3", hits.Load())
	}
	got := s.got()
	if len(got) != 2 {
		t.Fatalf("sleeps %v, want 2", got)
	}
	// Exponential backoff from 500ms with up to 25% jitter.
	for i, d := range got {
		hi := 500 * time.Millisecond << i
		if d <= hi*3/4-1 || d > hi {
			t.Errorf("sleep %d = %v, want in (%v, %v]", i, d, hi*3/4, hi)
		}
	}
}

func TestServerErrorThenSuccess(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		writeSSE(w, textChunk("ok"), stopChunk, "[DONE]")
	}))
	defer srv.Close()
	var s sleeps
	resp, _, err := collect(t, openai.New("k", openai.WithBaseURL(srv.URL), openai.WithSleep(s.sleep)), llm.Request{})
	if err != nil || resp.Text != "ok" || hits.Load() != 2 {
		t.Fatalf("resp %v, err %v after %d requests", resp, err, hits.Load())
	}
}

func TestBadRequestNotRetried(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"Invalid value for 'model'.","type":"invalid_request_error","param":"model","code":"model_not_found"}}`)
	}))
	defer srv.Close()

	var s sleeps
	_, _, err := collect(t, openai.New("k", openai.WithName("vllm"), openai.WithBaseURL(srv.URL), openai.WithSleep(s.sleep)), llm.Request{})
	want := &llm.Error{Provider: "vllm", StatusCode: 400, Type: "invalid_request_error", Message: "Invalid value for 'model'."}
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *llm.Error", err)
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if hits.Load() != 1 || len(s.got()) != 0 {
		t.Errorf("%d requests, sleeps %v", hits.Load(), s.got())
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

func TestStreamBroken(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		writeSSE(w, firstChunk, textChunk("more")) // no finish, no [DONE]
	}))
	defer srv.Close()
	var s sleeps
	_, deltas, err := collect(t, openai.New("k", openai.WithBaseURL(srv.URL), openai.WithSleep(s.sleep)), llm.Request{})
	var e *llm.Error
	if !errors.As(err, &e) || e.Type != "stream_broken" {
		t.Fatalf("err = %v, want stream_broken", err)
	}
	// Text was delivered, so the call must not be retried.
	if hits.Load() != 1 || len(deltas) != 2 {
		t.Errorf("%d requests, deltas %v", hits.Load(), deltas)
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

func TestConnectionErrorRetried(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		writeSSE(w, textChunk("ok"), stopChunk, "[DONE]")
	}))
	defer srv.Close()
	var s sleeps
	resp, _, err := collect(t, openai.New("k", openai.WithBaseURL(srv.URL), openai.WithSleep(s.sleep)), llm.Request{})
	if err != nil || resp.Text != "ok" || hits.Load() != 2 || len(s.got()) != 1 {
		t.Fatalf("resp %v, err %v after %d requests, sleeps %v", resp, err, hits.Load(), s.got())
	}
}

func TestCancelDuringSlowStream(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeSSE(w, firstChunk)
		select { // a model that stalls
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	_, err := openai.New("k", openai.WithBaseURL(srv.URL)).Stream(ctx, llm.Request{}, func(llm.Delta) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("returned after %v", el)
	}
}

func TestSleepHonoursCancel(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleep := func(ctx context.Context, d time.Duration) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	_, err := openai.New("k", openai.WithBaseURL(srv.URL), openai.WithSleep(sleep)).Stream(ctx, llm.Request{}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
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
