package herm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
)

// Limits of a deployment's custom tools.
const (
	MaxCustomTools           = 64
	MaxCustomToolDescription = 10_000
	MaxCustomToolSchema      = 64 << 10 // bytes of input_schema's JSON
)

// OriginCustom is the origin of custom tools in events: the call is the
// client's to answer (POST .../runs/{run_id}/tool_outputs).
const OriginCustom = "custom"

// SteeringCustomTool is the kind of the pending request that records a
// custom tool call waiting for the client's output. Such requests are the
// run's required_action, not steering requests: the steering API does not
// list or answer them.
const SteeringCustomTool = "custom_tool"

// A custom tool's name: what the providers accept, and never "__", which
// is the form of MCP tools' names (server__tool), so that no MCP server can
// ever offer a tool of the same name.
var reCustomToolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// CustomTool is a tool the deployment's client implements: the model may
// call it; the run then waits (requires_action) until the client posts the
// call's output.
type CustomTool struct {
	Name        string          `json:"name" doc:"The model-facing name: 1–64 letters, digits, _ or -, without __ (the form of MCP tools' names), and not a built-in tool's name."`
	Description string          `json:"description" doc:"What the tool does, for the model (≤ 10,000 chars)."`
	InputSchema json.RawMessage `json:"input_schema" doc:"The JSON Schema (an object schema: type object) of the call's arguments, ≤ 64 KiB; a call whose arguments it refuses goes back to the model as a tool error and never to the client. Remote $refs are not resolved."`
}

// OpenAPIRequired: name, description and input_schema.
func (CustomTool) OpenAPIRequired() []string { return []string{"name", "description", "input_schema"} }

// checkCustomTools validates a deployment's custom tools.
func checkCustomTools(list []CustomTool, r Rules) ([]CustomTool, error) {
	if len(list) > MaxCustomTools {
		return nil, invalid("custom_tools can hold at most %d tools", MaxCustomTools)
	}
	out := make([]CustomTool, len(list))
	seen := map[string]bool{}
	for i, t := range list {
		field := fmt.Sprintf("custom_tools[%d]", i)
		switch {
		case t.Name == "":
			return nil, invalid("%s.name is required", field)
		case !reCustomToolName.MatchString(t.Name) || strings.Contains(t.Name, "__"):
			return nil, invalid("%s.name %q must be 1 to 64 letters, digits, _ or -, without __ (the form of MCP tools' names)", field, t.Name)
		case seen[t.Name]:
			return nil, invalid("%s.name: %q is there twice: custom tool names must be unique", field, t.Name)
		case isBuiltinName(t.Name, r):
			return nil, invalid("%s.name: %q is a built-in tool's name", field, t.Name)
		}
		seen[t.Name] = true
		if strings.TrimSpace(t.Description) == "" {
			return nil, invalid("%s.description is required", field)
		}
		if utf8.RuneCountInString(t.Description) > MaxCustomToolDescription {
			return nil, invalid("%s.description must be at most %d characters", field, MaxCustomToolDescription)
		}
		schema, err := checkInputSchema(t.InputSchema)
		if err != nil {
			return nil, invalid("%s.input_schema: %s", field, err)
		}
		out[i] = CustomTool{Name: t.Name, Description: t.Description, InputSchema: schema}
	}
	return out, nil
}

// isBuiltinName reports a name the server's own tools use, or one the
// contract reserves for a built-in tool this server lacks.
func isBuiltinName(name string, r Rules) bool {
	if r.Tools == nil {
		return false
	}
	if slices.Contains(r.Tools.BuiltinTools(), name) {
		return true
	}
	_, ok := r.Tools.UnavailableTool(name)
	return ok
}

// checkInputSchema checks that raw is a usable JSON Schema of an arguments
// object and returns it compacted.
func checkInputSchema(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("is required")
	}
	if len(raw) > MaxCustomToolSchema {
		return nil, fmt.Errorf("must be at most %d bytes", MaxCustomToolSchema)
	}
	var obj map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		return nil, fmt.Errorf("must be a JSON Schema object")
	}
	if t, ok := obj["type"]; !ok || !bytes.Equal(bytes.TrimSpace(t), []byte(`"object"`)) {
		return nil, fmt.Errorf(`must describe an object ("type": "object"): a tool's arguments are a JSON object`)
	}
	if _, err := ResolveSchema(raw); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("must be a JSON Schema object")
	}
	return buf.Bytes(), nil
}

// ResolveSchema parses and resolves a JSON Schema (no remote references).
func ResolveSchema(raw json.RawMessage) (*jsonschema.Resolved, error) {
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("is not a valid JSON Schema: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		return nil, fmt.Errorf("is not a valid JSON Schema: %s", err)
	}
	return rs, nil
}

// CheckArguments validates a custom tool call's arguments against the
// tool's input schema; the error says why they do not fit.
func (t CustomTool) CheckArguments(args json.RawMessage) error {
	var v any
	if err := json.Unmarshal(args, &v); err != nil {
		return fmt.Errorf("the arguments are not valid JSON")
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("the arguments are not a JSON object")
	}
	rs, err := ResolveSchema(t.InputSchema)
	if err != nil {
		return fmt.Errorf("the tool's input schema %s", err)
	}
	if err := rs.Validate(v); err != nil {
		return fmt.Errorf("the arguments do not match the tool's input schema: %s", err)
	}
	return nil
}

// CustomTool returns the deployment's custom tool of that name.
func (d *Deployment) CustomTool(name string) (CustomTool, bool) {
	for _, t := range d.CustomTools {
		if t.Name == name {
			return t, true
		}
	}
	return CustomTool{}, false
}

// ToolOutput is a client's output of a pending custom tool call.
type ToolOutput struct {
	ToolCallID string
	Output     string
}

// RequiredAction is what a run waiting for its client's tool outputs needs:
// the run resource's and the run_status event's required_action.
type RequiredAction struct {
	Type      string            `json:"type" enum:"submit_tool_outputs" doc:"submit_tool_outputs: post every listed call's output in one POST /v1/deployments/{deployment_id}/runs/{run_id}/tool_outputs."`
	ToolCalls []PendingToolCall `json:"tool_calls"`
}

// PendingToolCall is a custom tool call waiting for its output.
type PendingToolCall struct {
	ID        string          `json:"id" doc:"The tool_call_id to answer."`
	Name      string          `json:"name" doc:"The custom tool's name."`
	Arguments json.RawMessage `json:"arguments" doc:"The call's arguments: a JSON object valid against the tool's input_schema."`
}

// RequiredActionOf lists a run's pending custom tool calls (nil when there
// are none), in the order given.
func RequiredActionOf(pending []*SteeringRequest) *RequiredAction {
	var calls []PendingToolCall
	for _, sr := range pending {
		if sr.Kind == SteeringCustomTool && sr.Status == SteeringPending {
			calls = append(calls, PendingToolCall{ID: sr.ToolCallID, Name: sr.Tool, Arguments: sr.Arguments})
		}
	}
	if len(calls) == 0 {
		return nil
	}
	return &RequiredAction{Type: "submit_tool_outputs", ToolCalls: calls}
}
