// Package llmtest provides fakes for tests: a scripted llm.Provider and an
// HTTP server that speaks the OpenAI Chat Completions streaming wire format,
// so that whole servers can be tested against a model that is not there;
// and RunProviderSuite, the behaviour every provider client must have
// (retries, cancellation, errors), run by each provider's tests.
package llmtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/hermhq/herm/internal/llm"
)

// Turn is one scripted model response.
type Turn struct {
	// Reasoning is streamed first, as reasoning deltas.
	Reasoning []string
	// Words are streamed as separate text deltas.
	Words []string
	// ToolCalls are returned after the text.
	ToolCalls []llm.ToolCall
	// Delay is slept before each delta (honouring cancellation).
	Delay time.Duration
	// Gate, when set, is waited on after the first delta (or before any
	// when there are no words): the turn stalls until it is closed.
	Gate chan struct{}
	// Err, when set, is returned instead of a response (after the words).
	Err error
}

// Text returns the turn's whole text.
func (t Turn) Text() string { return strings.Join(t.Words, "") }

// Script is a sequence of turns served in order; when they run out, Default
// (or an "ok" text) answers. It records every request. Safe for concurrent use.
type Script struct {
	mu       sync.Mutex
	turns    []Turn
	Default  *Turn
	requests []llm.Request
	started  chan struct{}
}

// NewScript returns a script of turns.
func NewScript(turns ...Turn) *Script {
	return &Script{turns: turns, started: make(chan struct{}, 1024)}
}

// Push appends turns.
func (s *Script) Push(turns ...Turn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.turns = append(s.turns, turns...)
}

// Requests returns the requests seen so far.
func (s *Script) Requests() []llm.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]llm.Request(nil), s.requests...)
}

// Started receives a value each time a model call starts.
func (s *Script) Started() <-chan struct{} { return s.started }

func (s *Script) next(req llm.Request) Turn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	select {
	case s.started <- struct{}{}:
	default:
	}
	if len(s.turns) > 0 {
		t := s.turns[0]
		s.turns = s.turns[1:]
		return t
	}
	if s.Default != nil {
		return *s.Default
	}
	return Turn{Words: []string{"ok"}}
}

// Provider is a scripted llm.Provider.
type Provider struct{ Script *Script }

// Stream plays the next turn.
func (p Provider) Stream(ctx context.Context, req llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	t := p.Script.next(req)
	if t.Gate != nil && len(t.Words) == 0 {
		if err := wait(ctx, t.Gate); err != nil {
			return nil, err
		}
	}
	for _, r := range t.Reasoning {
		onDelta(llm.Delta{Reasoning: r})
	}
	for i, w := range t.Words {
		if err := sleep(ctx, t.Delay); err != nil {
			return nil, err
		}
		onDelta(llm.Delta{Text: w})
		if i == 0 && t.Gate != nil {
			if err := wait(ctx, t.Gate); err != nil {
				return nil, err
			}
		}
	}
	if t.Err != nil {
		return nil, t.Err
	}
	stop := llm.StopEndTurn
	if len(t.ToolCalls) > 0 {
		stop = llm.StopToolUse
	}
	return &llm.Response{Text: t.Text(), ToolCalls: t.ToolCalls, StopReason: stop,
		Usage: llm.Usage{InputTokens: 10, OutputTokens: int64(len(t.Words))}}, nil
}

func wait(ctx context.Context, c chan struct{}) error {
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OpenAIServer serves a Script over the OpenAI Chat Completions streaming
// wire format at /v1/chat/completions. Close it when done.
type OpenAIServer struct {
	*httptest.Server
	Script *Script
}

// NewOpenAIServer starts a fake OpenAI server; its base URL (for
// OPENAI_BASE_URL) is URL + "/v1".
func NewOpenAIServer(s *Script) *OpenAIServer {
	o := &OpenAIServer{Script: s}
	o.Server = httptest.NewServer(http.HandlerFunc(o.handle))
	return o
}

// BaseURL is the value for OPENAI_BASE_URL.
func (o *OpenAIServer) BaseURL() string { return o.URL + "/v1" }

func (o *OpenAIServer) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var body struct {
		Model    string `json:"model"`
		Messages []struct {
			Role       string `json:"role"`
			Content    any    `json:"content"`
			ToolCallID string `json:"tool_call_id"`
		} `json:"messages"`
		Tools []struct {
			Function struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				Parameters  json.RawMessage `json:"parameters"`
			} `json:"function"`
		} `json:"tools"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	req := llm.Request{Model: body.Model}
	for _, t := range body.Tools {
		req.Tools = append(req.Tools, llm.ToolSpec{Name: t.Function.Name, Description: t.Function.Description, InputSchema: t.Function.Parameters})
	}
	for _, m := range body.Messages {
		if m.Role == "system" {
			req.System = fmt.Sprint(m.Content)
			continue
		}
		msg := llm.Message{Role: llm.Role(m.Role), ToolCallID: m.ToolCallID}
		switch c := m.Content.(type) {
		case string:
			msg.Content = c
		case []any: // content parts: text and image_url (data URLs)
			for _, p := range c {
				part, _ := p.(map[string]any)
				switch part["type"] {
				case "text":
					msg.Content += fmt.Sprint(part["text"])
				case "image_url":
					iu, _ := part["image_url"].(map[string]any)
					u := fmt.Sprint(iu["url"])
					if meta, data, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ","); ok {
						b, err := base64.StdEncoding.DecodeString(data)
						if err == nil {
							msg.Images = append(msg.Images, llm.Image{MediaType: strings.TrimSuffix(meta, ";base64"), Data: b})
						}
					}
				}
			}
		case nil:
		default:
			msg.Content = fmt.Sprint(c)
		}
		req.Messages = append(req.Messages, msg)
	}
	t := o.Script.next(req)
	ctx := r.Context()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{
			"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": body.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
		})
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
	}
	if t.Gate != nil && len(t.Words) == 0 {
		if wait(ctx, t.Gate) != nil {
			return
		}
	}
	for i, word := range t.Words {
		if sleep(ctx, t.Delay) != nil {
			return
		}
		d := map[string]any{"content": word}
		if i == 0 {
			d["role"] = "assistant"
		}
		chunk(d, nil)
		if i == 0 && t.Gate != nil {
			if wait(ctx, t.Gate) != nil {
				return
			}
		}
	}
	if t.Err != nil {
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": t.Err.Error(), "type": "server_error"}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		return
	}
	finish := "stop"
	for i, c := range t.ToolCalls {
		chunk(map[string]any{"tool_calls": []any{map[string]any{
			"index": i, "id": c.ID, "type": "function",
			"function": map[string]any{"name": c.Name, "arguments": string(c.Arguments)},
		}}}, nil)
		finish = "tool_calls"
	}
	chunk(map[string]any{}, finish)
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": body.Model, "choices": []any{},
		"usage": map[string]any{"prompt_tokens": 10, "completion_tokens": len(t.Words), "total_tokens": 10 + len(t.Words)},
	})
	fmt.Fprintf(w, "data: %s\n\ndata: [DONE]\n\n", b)
	_ = rc.Flush()
}
