// Package anthropic streams from the Anthropic Messages API. It is a thin
// client on net/http.
package anthropic

import (
	"bytes"
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

// Defaults of a Client.
const (
	DefaultBaseURL   = "https://api.anthropic.com"
	DefaultMaxTokens = 8192
	// APIVersion is the anthropic-version header sent with every request.
	APIVersion = "2023-06-01"
)

// Client is an llm.Provider for the Messages API. It is safe for concurrent
// use.
type Client struct {
	apiKey    string
	baseURL   string
	header    http.Header
	maxTokens int
	caching   bool
	t         transport.Client
}

// Option configures a Client.
type Option func(*Client)

// WithName sets the provider name used in errors (default "anthropic").
func WithName(name string) Option { return func(c *Client) { c.t.Provider = name } }

// WithBaseURL sets the API base URL, without "/v1" (default
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

// WithHeader adds a header to every request, such as anthropic-beta.
func WithHeader(key, value string) Option { return func(c *Client) { c.header.Set(key, value) } }

// WithMaxTokens sets max_tokens for requests whose MaxTokens is 0 (default
// DefaultMaxTokens).
func WithMaxTokens(n int) Option {
	return func(c *Client) {
		if n > 0 {
			c.maxTokens = n
		}
	}
}

// WithPromptCaching turns cache breakpoints on the tools, the system prompt
// and the last message on or off (default on). Agent loops resend a growing
// prefix every turn; caching bills it at a tenth of the input price.
func WithPromptCaching(on bool) Option { return func(c *Client) { c.caching = on } }

// WithMaxAttempts sets how often a call is tried before its error is
// returned (default 4).
func WithMaxAttempts(n int) Option { return func(c *Client) { c.t.MaxAttempts = n } }

// WithSleep replaces the wait between attempts, for tests. sleep must
// return ctx.Err() when ctx ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.t.Sleep = sleep }
}

// New returns a client that authenticates with apiKey (x-api-key).
func New(apiKey string, opts ...Option) *Client {
	c := &Client{
		apiKey:    apiKey,
		baseURL:   DefaultBaseURL,
		header:    make(http.Header),
		maxTokens: DefaultMaxTokens,
		caching:   true,
		t:         transport.Client{Provider: "anthropic"},
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
	h.Set("Anthropic-Version", APIVersion)
	if c.apiKey != "" {
		h.Set("X-Api-Key", c.apiKey)
	}
	return c.t.Stream(ctx, c.baseURL+"/v1/messages", h, body,
		func() transport.Decoder { return &decoder{calls: map[int]*call{}} }, onDelta)
}

type request struct {
	Model       string    `json:"model"`
	MaxTokens   int       `json:"max_tokens"`
	Temperature *float64  `json:"temperature,omitempty"`
	Thinking    *thinking `json:"thinking,omitempty"`
	System      []block   `json:"system,omitempty"`
	Messages    []message `json:"messages"`
	Tools       []tool    `json:"tools,omitempty"`
	Stream      bool      `json:"stream"`
	// OutputConfig carries structured output (llm.Request.Output).
	OutputConfig *outputConfig `json:"output_config,omitempty"`
}

// outputConfig is the Messages API's {"format": {"type": "json_schema",
// "schema": …}}: the model's text is JSON valid against the schema.
type outputConfig struct {
	Format outputFormat `json:"format"`
}

type outputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema"`
}

// thinking turns extended thinking on.
type thinking struct {
	Type         string `json:"type"` // enabled
	BudgetTokens int    `json:"budget_tokens"`
}

type message struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

// block is a content block of any type.
type block struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	ID           string          `json:"id,omitempty"`            // tool_use
	Name         string          `json:"name,omitempty"`          // tool_use
	Input        json.RawMessage `json:"input,omitempty"`         // tool_use
	ToolUseID    string          `json:"tool_use_id,omitempty"`   // tool_result
	Content      any             `json:"content,omitempty"`       // tool_result: a string, or text and image blocks
	IsError      bool            `json:"is_error,omitempty"`      // tool_result
	Source       *imageSource    `json:"source,omitempty"`        // image
	CacheControl *cacheControl   `json:"cache_control,omitempty"` // breakpoint
	Thinking     *string         `json:"thinking,omitempty"`      // thinking (sent even when empty)
	Signature    string          `json:"signature,omitempty"`     // thinking
	Data         string          `json:"data,omitempty"`          // redacted_thinking
}

type imageSource struct {
	Type      string `json:"type"` // base64
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
}

type cacheControl struct {
	Type string `json:"type"`
}

type tool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl *cacheControl   `json:"cache_control,omitempty"`
}

// StructuredOutput implements llm.StructuredOutput: the Messages API's
// output_config.format constrains the text of Claude 4 and later models
// (Claude 3 models have no structured outputs: they are instructed).
func (c *Client) StructuredOutput(model string) bool {
	return !strings.HasPrefix(apiModel(model), "claude-3")
}

// AcceptsImages implements llm.ImageInput: Claude models take images.
func (c *Client) AcceptsImages(string) bool { return true }

// encode builds the request body.
func (c *Client) encode(req llm.Request) ([]byte, error) {
	r := request{Model: apiModel(req.Model), MaxTokens: req.MaxTokens, Temperature: req.Temperature, Stream: true}
	if r.MaxTokens <= 0 {
		r.MaxTokens = c.maxTokens
	}
	if req.ThinkingBudget > 0 {
		r.Thinking = &thinking{Type: "enabled", BudgetTokens: req.ThinkingBudget}
	}
	if req.System != "" {
		r.System = []block{{Type: "text", Text: req.System}}
	}
	for _, m := range req.Messages {
		role := "user"
		var blocks []block
		switch m.Role {
		case llm.RoleUser:
			for _, im := range m.Images {
				blocks = append(blocks, block{Type: "image", Source: &imageSource{
					Type: "base64", MediaType: im.MediaType, Data: base64.StdEncoding.EncodeToString(im.Data)}})
			}
			if m.Content != "" {
				blocks = append(blocks, block{Type: "text", Text: m.Content})
			}
		case llm.RoleAssistant:
			role = "assistant"
			// Signed thinking blocks go back first, as they came: the API
			// requires those of a turn that called tools while thinking is
			// on, and drops earlier turns' itself.
			for _, t := range m.Thinking {
				if t.Redacted != "" {
					blocks = append(blocks, block{Type: "redacted_thinking", Data: t.Redacted})
				} else if t.Signature != "" {
					blocks = append(blocks, block{Type: "thinking", Thinking: &t.Text, Signature: t.Signature})
				}
			}
			if m.Content != "" {
				blocks = append(blocks, block{Type: "text", Text: m.Content})
			}
			for _, tc := range m.ToolCalls {
				blocks = append(blocks, block{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: object(tc.Arguments)})
			}
		case llm.RoleTool:
			b := block{Type: "tool_result", ToolUseID: m.ToolCallID, IsError: m.IsError}
			if len(m.Images) > 0 {
				var parts []block
				if m.Content != "" {
					parts = append(parts, block{Type: "text", Text: m.Content})
				}
				for _, im := range m.Images {
					parts = append(parts, block{Type: "image", Source: &imageSource{
						Type: "base64", MediaType: im.MediaType, Data: base64.StdEncoding.EncodeToString(im.Data)}})
				}
				b.Content = parts
			} else if m.Content != "" {
				b.Content = m.Content
			}
			blocks = append(blocks, b)
		default:
			return nil, fmt.Errorf("message with unknown role %q", m.Role)
		}
		if len(blocks) == 0 {
			continue // the API rejects empty messages
		}
		// Consecutive messages of one role (tool results, a user message
		// after them) become one message, as the API wants.
		if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == role {
			r.Messages[n-1].Content = append(r.Messages[n-1].Content, blocks...)
		} else {
			r.Messages = append(r.Messages, message{Role: role, Content: blocks})
		}
	}
	for _, t := range req.Tools {
		schema := t.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		} else if !json.Valid(schema) {
			return nil, fmt.Errorf("tool %q: input schema is not valid JSON", t.Name)
		}
		r.Tools = append(r.Tools, tool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	if o := req.Output; o != nil {
		if !json.Valid(o.Schema) {
			return nil, fmt.Errorf("output schema is not valid JSON")
		}
		r.OutputConfig = &outputConfig{Format: outputFormat{Type: "json_schema", Schema: o.Schema}}
	}
	if c.caching {
		bp := &cacheControl{Type: "ephemeral"}
		if n := len(r.Tools); n > 0 {
			r.Tools[n-1].CacheControl = bp
		}
		if n := len(r.System); n > 0 {
			r.System[n-1].CacheControl = bp
		}
		if n := len(r.Messages); n > 0 {
			last := r.Messages[n-1].Content
			last[len(last)-1].CacheControl = bp
		}
	}
	return json.Marshal(r)
}

// CheckSettings implements llm.SettingsChecker: temperature 0–1 (and
// none but 1 with thinking, which the API refuses otherwise), max_tokens
// up to the model's limit where known, a thinking budget of at least 1,024
// tokens and below max_tokens; no reasoning effort (the Messages API takes
// a thinking budget instead).
func (c *Client) CheckSettings(model string, s llm.Settings) error {
	if t := s.Temperature; t != nil && (*t < 0 || *t > 1) {
		return fmt.Errorf("temperature must be from 0 to 1 for Anthropic models (got %g)", *t)
	}
	max := s.MaxTokens
	if max <= 0 {
		max = c.maxTokens
	}
	if limit, ok := llm.DefaultMaxOutputTokens().Lookup(apiModel(model)); ok && s.MaxTokens > limit {
		return fmt.Errorf("max_tokens must be at most %d for %s (got %d)", limit, model, s.MaxTokens)
	}
	if s.ReasoningEffort != "" && s.ThinkingBudget == 0 {
		return fmt.Errorf("reasoning.effort is not supported by Anthropic models: set reasoning.budget_tokens (extended thinking)")
	}
	if b := s.ThinkingBudget; b > 0 {
		if b < 1024 {
			return fmt.Errorf("reasoning.budget_tokens must be at least 1024 for Anthropic models (got %d)", b)
		}
		if b >= max {
			return fmt.Errorf("reasoning.budget_tokens (%d) must be less than max_tokens (%d) for Anthropic models", b, max)
		}
		if t := s.Temperature; t != nil && *t != 1 {
			return fmt.Errorf("temperature cannot be set with extended thinking on Anthropic models (only 1 is allowed)")
		}
	}
	return nil
}

// object returns args if it is a JSON object and {} otherwise: the API
// rejects a tool_use whose input is not an object, and a model cut off by
// max_tokens leaves truncated arguments behind.
func object(args json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(args); len(t) > 0 && t[0] == '{' && json.Valid(t) {
		return t
	}
	return json.RawMessage(`{}`)
}

// apiModel maps the dotted spelling of Claude model names that OpenRouter
// uses ("claude-sonnet-4.5") to the API's ("claude-sonnet-4-5"). API model
// names never contain dots.
func apiModel(name string) string {
	if strings.HasPrefix(name, "claude-") {
		return strings.ReplaceAll(name, ".", "-")
	}
	return name
}
