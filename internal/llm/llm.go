// Package llm defines how the agent loop talks to language models: one
// streaming interface that every provider (openai, anthropic, openrouter,
// OpenAI-compatible servers from the config file, the offline demo model)
// implements, and a registry that maps "provider/model" names to providers.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Role is the author of a message in a model request.
type Role string

// Roles of messages in a request.
const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	// RoleTool carries the result of one tool call (ToolCallID, Content, IsError).
	RoleTool Role = "tool"
)

// Message is one entry of the conversation sent to a model.
type Message struct {
	Role    Role
	Content string
	// ToolCalls are the calls an assistant message made (RoleAssistant only).
	ToolCalls []ToolCall
	// ToolCallID names the call a RoleTool message answers.
	ToolCallID string
	// IsError marks a RoleTool message whose tool failed.
	IsError bool
	// Images go with a RoleUser message as image input, or with a RoleTool
	// message as images the tool returned (each provider in its own way).
	Images []Image
	// Thinking are the signed thinking blocks of a RoleAssistant message,
	// sent back as they came (Anthropic requires those of the turn that
	// called tools; providers without them ignore them).
	Thinking []Thinking
}

// Thinking is one thinking block of an assistant turn: its text and the
// provider's signature over it, or, for a redacted block, the opaque data.
type Thinking struct {
	Text      string `json:"text,omitempty"`
	Signature string `json:"signature,omitempty"`
	Redacted  string `json:"redacted,omitempty"`
}

// ImageInput is implemented by providers that can say whether a model
// takes image input.
type ImageInput interface {
	AcceptsImages(model string) bool
}

// AcceptsImages reports whether p's model takes image input (false when p
// cannot say: images are then described in text only).
func AcceptsImages(p Provider, model string) bool {
	ii, ok := p.(ImageInput)
	return ok && ii.AcceptsImages(model)
}

// Image is image input: its bytes and media type (image/png, image/jpeg,
// image/gif or image/webp).
type Image struct {
	MediaType string
	Data      []byte
}

// ToolCall is one tool invocation requested by the model.
type ToolCall struct {
	ID        string
	Name      string
	Arguments json.RawMessage // a JSON object; "{}" when the model sent nothing
}

// ToolSpec describes a tool offered to the model.
type ToolSpec struct {
	Name        string
	Description string
	InputSchema json.RawMessage // JSON Schema of the arguments object
}

// Request is one model call.
type Request struct {
	Model     string // the provider's own model name, without the "provider/" prefix
	System    string
	Messages  []Message
	Tools     []ToolSpec
	MaxTokens int // 0 = provider default
	// Temperature is the sampling temperature (nil = provider default).
	Temperature *float64
	// ReasoningEffort is "low", "medium" or "high" for providers that take
	// an effort ("" = none sent).
	ReasoningEffort string
	// ThinkingBudget is the extended thinking budget in tokens for
	// providers that take one (0 = thinking off).
	ThinkingBudget int
	// Output, when set, asks the provider's native structured output for
	// the model's text: JSON valid against Output.Schema. Only providers
	// whose StructuredOutput says yes for the model get it.
	Output *OutputFormat
}

// OutputFormat is a JSON Schema that the model's text must follow, in the
// form native structured outputs take: every object closed and all its
// properties required (herm.StrictOutputSchema).
type OutputFormat struct {
	Name   string // a name for the schema: letters, digits, _ and -
	Schema json.RawMessage
}

// StructuredOutput is implemented by providers that constrain a model's
// text to a JSON Schema natively (Request.Output).
type StructuredOutput interface {
	StructuredOutput(model string) bool
}

// HasStructuredOutput reports whether p constrains model's text to a JSON
// Schema natively (false when p cannot say: the model is then instructed
// and its answer validated).
func HasStructuredOutput(p Provider, model string) bool {
	so, ok := p.(StructuredOutput)
	return ok && so.StructuredOutput(model)
}

// Settings are the model settings of a deployment, as a provider checks
// them before they are used.
type Settings struct {
	Temperature     *float64
	MaxTokens       int // 0 = provider default
	ReasoningEffort string
	ThinkingBudget  int
}

// Apply sets s on req.
func (s Settings) Apply(req *Request) {
	if s.MaxTokens > 0 {
		req.MaxTokens = s.MaxTokens
	}
	req.Temperature, req.ReasoningEffort, req.ThinkingBudget = s.Temperature, s.ReasoningEffort, s.ThinkingBudget
}

// SettingsChecker is implemented by providers that take model settings.
// CheckSettings returns an error, a sentence for the API's caller, when the
// provider cannot honour s for model (the provider's own model name).
type SettingsChecker interface {
	CheckSettings(model string, s Settings) error
}

// Delta is an incremental piece of a streamed response.
type Delta struct {
	Text      string // visible assistant text
	Reasoning string // thinking/reasoning text, where the provider streams it
}

// StopReason says why the model stopped.
type StopReason string

// Stop reasons, normalised across providers.
const (
	StopEndTurn   StopReason = "end_turn"
	StopToolUse   StopReason = "tool_use"
	StopMaxTokens StopReason = "max_tokens"
	StopOther     StopReason = "other"
)

// Usage is the token accounting of one model call.
type Usage struct {
	InputTokens     int64
	OutputTokens    int64
	CacheReadTokens int64
}

// Response is the complete result of one streamed model call.
type Response struct {
	Text       string
	ToolCalls  []ToolCall
	StopReason StopReason
	Usage      Usage
	// Thinking are the turn's thinking blocks, to send back with it.
	Thinking []Thinking
}

// Provider streams one model call. onDelta is called, in order and from the
// calling goroutine, for every text or reasoning fragment as it arrives; the
// returned Response holds the whole turn. Stream honours ctx promptly: when
// ctx is cancelled the in-flight HTTP request is aborted and ctx.Err() (or an
// error wrapping it) is returned.
type Provider interface {
	Stream(ctx context.Context, req Request, onDelta func(Delta)) (*Response, error)
}

// Error is a failed model call. Retryable errors (429, 5xx, connection
// failures before any output) have already been retried by the provider
// before they are returned.
type Error struct {
	Provider   string
	StatusCode int    // HTTP status, 0 when the failure was not an HTTP status
	Type       string // provider's error type, e.g. "overloaded_error", "rate_limit_error", "stream_broken"
	Message    string
}

// Transient reports whether the failure is one of the provider rather than
// of the request: a connection failure, a broken stream, a timeout, rate
// limiting, overload or a server error. Such a failure is retried, and a
// call that failed so before any output may go to a fallback model.
func (e *Error) Transient() bool {
	switch e.Type {
	case "stream_broken", "connection_error", "overloaded_error", "api_error",
		"rate_limit_error", "timeout_error", "server_error":
		return true
	}
	c := e.StatusCode
	return c == 408 || c == 409 || c == 429 || c >= 500
}

func (e *Error) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("%s: HTTP %d %s: %s", e.Provider, e.StatusCode, e.Type, e.Message)
	}
	return fmt.Sprintf("%s: %s: %s", e.Provider, e.Type, e.Message)
}

// ErrUnknownProvider is returned by Registry.Resolve for a provider prefix the
// server does not know.
var ErrUnknownProvider = errors.New("unknown model provider")
