package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/anthropic"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/llm/openai"
	"github.com/hermhq/herm/internal/runner"
)

// anthropicFake answers the Messages API with the scripted streams in
// order (an int is an HTTP status to fail with) and keeps the bodies.
type anthropicFake struct {
	mu      sync.Mutex
	answers []any
	bodies  []map[string]any
}

func (f *anthropicFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	a := f.answers[0]
	if len(f.answers) > 1 {
		f.answers = f.answers[1:]
	}
	f.mu.Unlock()
	if code, ok := a.(int); ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	evs := a.([]string)
	for i := 0; i+1 < len(evs); i += 2 {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", evs[i], evs[i+1])
	}
}

const msgStart = `{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}`

func thinkingToolTurn() []string {
	return []string{
		"message_start", msgStart,
		"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`,
		"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"I should echo."}}`,
		"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig-1"}}`,
		"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"echo","input":{}}}`,
		"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"text\":\"hi\"}"}}`,
		"message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}`,
		"message_stop", `{"type":"message_stop"}`,
	}
}

func textTurn(text string) []string {
	return []string{
		"message_start", msgStart,
		"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"` + text + `"}}`,
		"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`,
		"message_stop", `{"type":"message_stop"}`,
	}
}

// The settings reach the Anthropic wire, and the signed thinking block of
// the tool-using turn goes back in the next request, from the stored
// transcript.
func TestThinkingRoundTripThroughRun(t *testing.T) {
	fake := &anthropicFake{answers: []any{thinkingToolTurn(), textTurn("done")}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e := newEnv(t, runner.Options{})
	e.models.mu.Lock()
	e.models.byName = map[string]llm.Provider{"anthropic/claude-sonnet-4-5": anthropic.New("k", anthropic.WithBaseURL(srv.URL), anthropic.WithPromptCaching(false))}
	e.models.mu.Unlock()
	d := e.dep.Clone()
	d.Model, d.ConfigVersion = "anthropic/claude-sonnet-4-5", d.ConfigVersion+1
	d.ModelSettings = herm.ModelSettings{MaxTokens: 4000, Reasoning: &herm.Reasoning{BudgetTokens: 2048}}
	if err := e.store.UpdateDeploymentConfig(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	e.start()
	res := e.send("echo hi", "", "")
	e.wait(res.Run.ID, herm.RunCompleted)

	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.bodies) != 2 {
		t.Fatalf("%d requests", len(fake.bodies))
	}
	first := fake.bodies[0]
	if first["max_tokens"] != 4000.0 || fmt.Sprint(first["thinking"]) != "map[budget_tokens:2048 type:enabled]" {
		t.Errorf("first request: max_tokens %v, thinking %v", first["max_tokens"], first["thinking"])
	}
	msgs, _ := json.Marshal(fake.bodies[1]["messages"])
	if !strings.Contains(string(msgs), `{"signature":"sig-1","thinking":"I should echo.","type":"thinking"},{"id":"toolu_1"`) {
		t.Errorf("second request's messages lack the signed thinking block first: %s", msgs)
	}
}

// A 529 before any byte: the fallback (OpenAI wire) answers, and the events
// name it. A failure after streamed text: no fallback, the run fails.
func TestFallbackOnlyBeforeStreaming(t *testing.T) {
	fake := &anthropicFake{answers: []any{529}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	script := llmtest.NewScript(llmtest.Turn{Words: []string{"from ", "fallback"}})
	oa := llmtest.NewOpenAIServer(script)
	defer oa.Close()
	e := newEnv(t, runner.Options{})
	e.models.mu.Lock()
	e.models.byName = map[string]llm.Provider{
		"anthropic/claude-sonnet-4-5": anthropic.New("k", anthropic.WithBaseURL(srv.URL), anthropic.WithMaxAttempts(1)),
		"openai/gpt-4.1":              openai.New("k", openai.WithBaseURL(oa.BaseURL())),
	}
	e.models.mu.Unlock()
	d := e.dep.Clone()
	d.Model, d.ConfigVersion = "anthropic/claude-sonnet-4-5", d.ConfigVersion+1
	temp := 0.5
	d.ModelSettings = herm.ModelSettings{Temperature: &temp, FallbackModels: []string{"openai/gpt-4.1"}}
	if err := e.store.UpdateDeploymentConfig(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	e.start()
	res := e.send("hello", "", "")
	e.wait(res.Run.ID, herm.RunCompleted)
	var msgModel, usageModel any
	for _, ev := range e.events() {
		var f map[string]any
		_ = json.Unmarshal(ev.Data, &f)
		switch ev.Type {
		case herm.EventMessage:
			if f["role"] == "agent" {
				msgModel = f["model"]
				if f["content"] != "from fallback" {
					t.Errorf("message %v", f["content"])
				}
			}
		case herm.EventUsage:
			usageModel = f["model"]
		}
	}
	if msgModel != "openai/gpt-4.1" || usageModel != "openai/gpt-4.1" {
		t.Errorf("message names %v, usage %v; want openai/gpt-4.1", msgModel, usageModel)
	}
	if got := script.Requests(); len(got) != 1 || got[0].Model != "gpt-4.1" {
		t.Errorf("fallback requests %+v", got)
	}

	// Mid-stream: text went out, then the stream broke (after its retries:
	// none, since output was delivered). The fallback is not asked.
	fake.mu.Lock()
	broken := textTurn("partial")
	fake.answers = []any{broken[:6]} // message_start, a text block and its delta; no message_stop
	fake.mu.Unlock()
	res = e.send("again", "", "")
	r := e.wait(res.Run.ID, herm.RunError)
	if r.Error == nil || r.Error.Code != "model_error" {
		t.Errorf("run error %+v", r.Error)
	}
	if got := script.Requests(); len(got) != 1 {
		t.Errorf("the fallback was asked after output was streamed (%d requests)", len(got))
	}
}
