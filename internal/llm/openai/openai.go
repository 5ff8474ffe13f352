// Package openai streams from the OpenAI Chat Completions API and from the
// servers that speak it: OpenRouter, vLLM, Ollama and the like. It is a thin
// client on net/http.
package openai

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/internal/transport"
)

// Base URLs of well-known servers.
const (
	DefaultBaseURL    = "https://api.openai.com/v1"
	OpenRouterBaseURL = "https://openrouter.ai/api/v1"
)

// Client is an llm.Provider for one Chat Completions server. It is safe for
// concurrent use.
type Client struct {
	apiKey              string
	baseURL             string
	header              http.Header
	maxCompletionTokens bool
	reasoningObject     bool
	vision              func(model string) bool
	t                   transport.Client
}

// Option configures a Client.
type Option func(*Client)

// WithName sets the provider name used in errors (default "openai").
func WithName(name string) Option { return func(c *Client) { c.t.Provider = name } }

// WithBaseURL sets the API base URL, up to and including "/v1" (default
// DefaultBaseURL). An empty url keeps the default.
func WithBaseURL(url string) Option {
	return func(c *Client) {
		if url != "" {
			c.baseURL = strings.TrimRight(url, "/")
		}
	}
}

// WithHTTPClient sets the HTTP client (default http.DefaultClient). Streams
// are long: give it no overall Timeout, bound calls with their context.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.t.HTTP = hc } }

// WithHeader adds a header to every request, such as OpenRouter's
// HTTP-Referer and X-Title.
func WithHeader(key, value string) Option { return func(c *Client) { c.header.Set(key, value) } }

// WithMaxAttempts sets how often a call is tried before its error is
// returned (default 4).
func WithMaxAttempts(n int) Option { return func(c *Client) { c.t.MaxAttempts = n } }

// WithSleep replaces the wait between attempts, for tests. sleep must
// return ctx.Err() when ctx ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.t.Sleep = sleep }
}

// WithMaxCompletionTokens sends Request.MaxTokens as "max_completion_tokens",
// which OpenAI's reasoning models require, instead of "max_tokens", which
// every compatible server understands (the default).
func WithMaxCompletionTokens(on bool) Option { return func(c *Client) { c.maxCompletionTokens = on } }

// WithReasoningObject sends reasoning settings as OpenRouter's
// "reasoning": {"effort"} or {"max_tokens"} object, which takes a thinking
// budget too, instead of "reasoning_effort" (the default).
func WithReasoningObject(on bool) Option { return func(c *Client) { c.reasoningObject = on } }

// WithImageInput says which models take image input (default: none).
func WithImageInput(accepts func(model string) bool) Option {
	return func(c *Client) { c.vision = accepts }
}

// StructuredOutput implements llm.StructuredOutput: Chat Completions takes
// response_format json_schema (OpenAI's strict structured outputs; the
// compatible servers that do not know it ignore or refuse it, and the
// answer is validated either way).
func (c *Client) StructuredOutput(string) bool { return true }

// AcceptsImages implements llm.ImageInput.
func (c *Client) AcceptsImages(model string) bool { return c.vision != nil && c.vision(model) }

// New returns a client that authenticates with apiKey as a Bearer token; an
// empty apiKey sends no Authorization header (local servers need none).
func New(apiKey string, opts ...Option) *Client {
	c := &Client{
		apiKey:  apiKey,
		baseURL: DefaultBaseURL,
		header:  make(http.Header),
		t:       transport.Client{Provider: "openai"},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Stream implements llm.Provider.
func (c *Client) Stream(ctx context.Context, req llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	body, err := c.encode(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.t.Provider, err)
	}
	h := c.header.Clone()
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "text/event-stream")
	if c.apiKey != "" {
		h.Set("Authorization", "Bearer "+c.apiKey)
	}
	return c.t.Stream(ctx, c.baseURL+"/chat/completions", h, body,
		func() transport.Decoder { return &decoder{index: map[int]int{}} }, onDelta)
}

type request struct {
	Model         string        `json:"model"`
	Messages      []message     `json:"messages"`
	Tools         []tool        `json:"tools,omitempty"`
	Stream        bool          `json:"stream"`
	StreamOptions streamOptions `json:"stream_options"`
	MaxTokens     int           `json:"max_tokens,omitempty"`
	MaxCompTokens int           `json:"max_completion_tokens,omitempty"`
	Temperature   *float64      `json:"temperature,omitempty"`
	Effort        string        `json:"reasoning_effort,omitempty"`
	Reasoning     *reasoning    `json:"reasoning,omitempty"` // OpenRouter
	// ResponseFormat is structured output (llm.Request.Output).
	ResponseFormat *responseFormat `json:"response_format,omitempty"`
}

// responseFormat is Chat Completions' {"type": "json_schema", "json_schema":
// {name, schema, strict}}.
type responseFormat struct {
	Type       string     `json:"type"`
	JSONSchema jsonSchema `json:"json_schema"`
}

type jsonSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	Strict bool            `json:"strict"`
}

// reasoning is OpenRouter's reasoning setting: an effort or a budget.
type reasoning struct {
	Effort    string `json:"effort,omitempty"`
	MaxTokens int    `json:"max_tokens,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type message struct {
	Role       string     `json:"role"`
	Content    any        `json:"content"` // a string, null (assistant with only tool calls) or parts (user with images)
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

type toolCall struct {
	ID       string   `json:"id"`
	Type     string   `json:"type"`
	Function function `json:"function"`
}

type function struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type tool struct {
	Type     string       `json:"type"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

// encode builds the request body.
func (c *Client) encode(req llm.Request) ([]byte, error) {
	r := request{
		Model:         req.Model,
		Messages:      make([]message, 0, len(req.Messages)+1),
		Stream:        true,
		StreamOptions: streamOptions{IncludeUsage: true},
	}
	if req.System != "" {
		r.Messages = append(r.Messages, message{Role: "system", Content: req.System})
	}
	// Chat Completions' tool messages hold text only: images that tools
	// returned follow the tool messages of their turn as a user message.
	var toolImages []any
	flushImages := func() {
		if len(toolImages) > 0 {
			parts := append([]any{map[string]any{"type": "text", "text": "[Images returned by the tool calls above.]"}}, toolImages...)
			r.Messages = append(r.Messages, message{Role: "user", Content: parts})
			toolImages = nil
		}
	}
	for _, m := range req.Messages {
		if m.Role != llm.RoleTool {
			flushImages()
		}
		switch m.Role {
		case llm.RoleUser:
			if len(m.Images) == 0 {
				r.Messages = append(r.Messages, message{Role: "user", Content: m.Content})
				continue
			}
			parts := []any{map[string]any{"type": "text", "text": m.Content}}
			for _, im := range m.Images {
				parts = append(parts, map[string]any{"type": "image_url", "image_url": map[string]string{
					"url": "data:" + im.MediaType + ";base64," + base64.StdEncoding.EncodeToString(im.Data),
				}})
			}
			r.Messages = append(r.Messages, message{Role: "user", Content: parts})
		case llm.RoleAssistant:
			out := message{Role: "assistant"}
			if m.Content != "" || len(m.ToolCalls) == 0 {
				out.Content = m.Content
			}
			for _, tc := range m.ToolCalls {
				args := string(tc.Arguments)
				if strings.TrimSpace(args) == "" {
					args = "{}"
				}
				out.ToolCalls = append(out.ToolCalls, toolCall{ID: tc.ID, Type: "function", Function: function{Name: tc.Name, Arguments: args}})
			}
			r.Messages = append(r.Messages, out)
		case llm.RoleTool:
			// Chat Completions has no error flag for tool results.
			content := m.Content
			if m.IsError {
				content = "Error: " + content
			}
			r.Messages = append(r.Messages, message{Role: "tool", Content: content, ToolCallID: m.ToolCallID})
			for _, im := range m.Images {
				toolImages = append(toolImages, map[string]any{"type": "text", "text": "[from tool call " + m.ToolCallID + "]"}, map[string]any{"type": "image_url", "image_url": map[string]string{
					"url": "data:" + im.MediaType + ";base64," + base64.StdEncoding.EncodeToString(im.Data),
				}})
			}
		default:
			return nil, fmt.Errorf("message with unknown role %q", m.Role)
		}
	}
	flushImages()
	for _, t := range req.Tools {
		schema := t.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		} else if !json.Valid(schema) {
			return nil, fmt.Errorf("tool %q: input schema is not valid JSON", t.Name)
		}
		r.Tools = append(r.Tools, tool{Type: "function", Function: toolFunction{Name: t.Name, Description: t.Description, Parameters: schema}})
	}
	if o := req.Output; o != nil {
		if !json.Valid(o.Schema) {
			return nil, fmt.Errorf("output schema is not valid JSON")
		}
		r.ResponseFormat = &responseFormat{Type: "json_schema", JSONSchema: jsonSchema{Name: o.Name, Schema: o.Schema, Strict: true}}
	}
	r.Temperature = req.Temperature
	switch {
	case c.reasoningObject && req.ThinkingBudget > 0:
		r.Reasoning = &reasoning{MaxTokens: req.ThinkingBudget}
	case c.reasoningObject && req.ReasoningEffort != "":
		r.Reasoning = &reasoning{Effort: req.ReasoningEffort}
	default:
		r.Effort = req.ReasoningEffort
	}
	if req.MaxTokens > 0 && c.maxCompletionTokens {
		r.MaxCompTokens = req.MaxTokens
	} else if req.MaxTokens > 0 {
		r.MaxTokens = req.MaxTokens
	}
	return json.Marshal(r)
}

// CheckSettings implements llm.SettingsChecker: temperature 0–2, max_tokens
// up to the model's limit where known, a reasoning effort (or, with
// WithReasoningObject, a thinking budget below max_tokens). At OpenAI itself
// (WithMaxCompletionTokens), reasoning models (o1, o3, o4, gpt-5) take no
// temperature and other models no reasoning effort, as the API refuses them.
func (c *Client) CheckSettings(model string, s llm.Settings) error {
	if t := s.Temperature; t != nil && (*t < 0 || *t > 2) {
		return fmt.Errorf("temperature must be from 0 to 2 for %s models (got %g)", c.t.Provider, *t)
	}
	_, name, _ := strings.Cut(model, "/") // OpenRouter's vendor/model
	if name == "" {
		name = model
	}
	if limit, ok := llm.DefaultMaxOutputTokens().Lookup(name); ok && s.MaxTokens > limit {
		return fmt.Errorf("max_tokens must be at most %d for %s (got %d)", limit, model, s.MaxTokens)
	}
	if s.ThinkingBudget > 0 && s.ReasoningEffort == "" {
		if !c.reasoningObject {
			return fmt.Errorf("reasoning.budget_tokens is not supported by %s models: set reasoning.effort", c.t.Provider)
		}
		if s.MaxTokens > 0 && s.ThinkingBudget >= s.MaxTokens {
			return fmt.Errorf("reasoning.budget_tokens (%d) must be less than max_tokens (%d)", s.ThinkingBudget, s.MaxTokens)
		}
	}
	if c.maxCompletionTokens {
		reasoner := false
		for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
			reasoner = reasoner || strings.HasPrefix(model, p)
		}
		if reasoner && s.Temperature != nil {
			return fmt.Errorf("temperature is not supported by the reasoning model %s", model)
		}
		if !reasoner && s.ReasoningEffort != "" {
			return fmt.Errorf("reasoning.effort is supported only by reasoning models (o1, o3, o4, gpt-5), not %s", model)
		}
	}
	return nil
}
