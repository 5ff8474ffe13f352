package httpapi

import (
	"encoding/json"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// The event payloads, one type per event type, for the OpenAPI document:
// the events are written by the agent, the runner and the other services
// as JSON (internal/eventjson puts the common fields first), and these
// types describe that JSON; TestEventSchemas checks them against events
// the server really sends.

// Event is the payload of one event: an SSE frame's data line, an item of
// the JSON page of the event log, a webhook delivery's body. It is one of
// the types below, told apart by type.
type Event struct{}

// OpenAPIUnion lists the event types.
func (Event) OpenAPIUnion() (string, []any) {
	return "type", []any{
		DeploymentStatusEvent{}, RunStatusEvent{}, TokenEvent{}, MessageEvent{}, ReasoningEvent{},
		TurnAbandonedEvent{}, ToolCallEvent{}, ToolResultEvent{}, SteeringRequestEvent{},
		SteeringResolvedEvent{}, FilesystemEvent{}, MemoryEvent{}, UsageEvent{}, AutomationEvent{},
		CompactionEvent{}, WarningEvent{}, EgressEvent{},
	}
}

// EventList is the JSON form of the event log (Accept: application/json):
// a page of events, oldest first.
type EventList struct {
	Data       []Event `json:"data" doc:"Events, oldest first."`
	NextCursor *string `json:"next_cursor" doc:"The last event's id when more events follow (pass it as after), null at the end of the log."`
}

// eventCommon are the fields every event has.
type eventCommon struct {
	EventID      string    `json:"event_id" doc:"evt_<sequence>: the SSE id, for Last-Event-ID and after."`
	Sequence     int64     `json:"sequence" doc:"Per deployment, grows by exactly one per event."`
	DeploymentID string    `json:"deployment_id"`
	ThreadID     *string   `json:"thread_id" doc:"Null for deployment-level events."`
	RunID        *string   `json:"run_id" doc:"Null for events outside a run."`
	CreatedAt    time.Time `json:"created_at"`
}

// subagentTag marks the events of a subagent (a child loop of the
// subagents tool), which are its parent run's.
type subagentTag struct {
	Subagent         *int    `json:"subagent,omitempty" doc:"The subagent's task number, on a subagent's events only."`
	ParentToolCallID *string `json:"parent_tool_call_id,omitempty" doc:"The parent's subagents call, on a subagent's events only."`
}

// turnTag numbers a model turn's deltas.
type turnTag struct {
	Turn    int `json:"turn" doc:"The model call's ordinal in the run (per subagent for a subagent's), from 1."`
	Attempt int `json:"attempt" doc:"1, then +1 each time the turn is redone (after a crash, a restart or a failed stream); drop the deltas of an attempt that turn_abandoned names."`
}

// DeploymentStatusEvent: the deployment's status changed.
type DeploymentStatusEvent struct {
	Type string `json:"type" enum:"deployment_status"`
	eventCommon
	Status string          `json:"status" enum:"provisioning,ready,error,deleting"`
	Error  *herm.ErrorInfo `json:"error" doc:"Why provisioning failed (status error); null otherwise."`
}

// RunStatusEvent: a run's status changed.
type RunStatusEvent struct {
	Type string `json:"type" enum:"run_status"`
	eventCommon
	Status     string          `json:"status" enum:"queued,running,waiting_on_human,completed,error,cancelled"`
	StopReason *string         `json:"stop_reason" doc:"Why the run stopped: end_turn, max_steps, cancelled, error or requires_action (waiting on a human); null while it has not."`
	Error      *herm.ErrorInfo `json:"error" doc:"Of a run that ended in error: model_error, attachment_error, no_input, insufficient_credits, output_invalid (the final answer was not valid against the run's output_schema, also after a repair turn) or internal_error."`
	// RequiredAction is sent when the run waits for its custom tool calls.
	RequiredAction *herm.RequiredAction `json:"required_action,omitempty" doc:"Only when the run starts waiting for the outputs of its custom tool calls: the calls to answer with POST .../runs/{run_id}/tool_outputs (as the run's required_action)."`
	ToolCallIDs    []string             `json:"tool_call_ids,omitempty" doc:"Only on waiting_on_human: the tool calls the run waits for (approvals of always_ask tools, questions, custom tool calls)."`
	Output         json.RawMessage      `json:"output,omitempty" doc:"On the completed status of a run with an output_schema: its typed result, the final answer as JSON valid against the schema (also the run's output)."`
}

// TokenEvent: a delta of the agent's text.
type TokenEvent struct {
	Type string `json:"type" enum:"token"`
	eventCommon
	Delta string `json:"delta"`
	turnTag
	subagentTag
}

// MessageEvent: a whole message, once complete (the user's when its run
// takes it in, the agent's at the end of a turn with text).
type MessageEvent struct {
	Type string `json:"type" enum:"message"`
	eventCommon
	MessageID string `json:"message_id"`
	Role      string `json:"role" enum:"user,agent"`
	Content   string `json:"content"`
	Turn      *int   `json:"turn,omitempty" doc:"The agent's message: the turn whose token deltas add up to it."`
	Model     string `json:"model,omitempty" doc:"The agent's message: the model that answered (the deployment's model, or one of its model_settings.fallback_models when the model failed before streaming)."`
	subagentTag
}

// ReasoningEvent: a delta of the model's reasoning, where the provider
// exposes it.
type ReasoningEvent struct {
	Type string `json:"type" enum:"reasoning"`
	eventCommon
	Delta string `json:"delta"`
	turnTag
	subagentTag
}

// TurnAbandonedEvent: an attempt at a turn was cut (its deltas are void).
type TurnAbandonedEvent struct {
	Type string `json:"type" enum:"turn_abandoned"`
	eventCommon
	turnTag
	subagentTag
}

// ToolCallEvent: the agent calls a tool.
type ToolCallEvent struct {
	Type string `json:"type" enum:"tool_call"`
	eventCommon
	ToolCallID string          `json:"tool_call_id"`
	Tool       string          `json:"tool" doc:"The tool's bare name (an MCP tool's name on its server)."`
	Origin     string          `json:"origin" doc:"builtin, the MCP server's name, or custom for the deployment's custom tools (with requires_action true)."`
	Arguments  json.RawMessage `json:"arguments" doc:"The call's arguments (a JSON object)."`
	// RequiresAction marks a custom tool call: the client answers it.
	RequiresAction bool `json:"requires_action,omitempty" doc:"true for a call of one of the deployment's custom_tools, whose output the client posts (POST .../runs/{run_id}/tool_outputs); absent otherwise."`
	subagentTag
}

// ToolResultEvent: a tool call's result.
type ToolResultEvent struct {
	Type string `json:"type" enum:"tool_result"`
	eventCommon
	ToolCallID string  `json:"tool_call_id"`
	Tool       string  `json:"tool"`
	Origin     string  `json:"origin"`
	Result     string  `json:"result" doc:"The result (a preview when truncated), secret values redacted."`
	IsError    bool    `json:"is_error"`
	Truncated  bool    `json:"truncated"`
	OutputPath *string `json:"output_path" doc:"Workspace path of the whole output when truncated; null otherwise."`
	subagentTag
}

// SteeringRequestEvent: the run pauses for a human.
type SteeringRequestEvent struct {
	Type string `json:"type" enum:"steering_request"`
	eventCommon
	SteeringRequestID string          `json:"steering_request_id"`
	Kind              string          `json:"kind" enum:"approval,question"`
	Summary           string          `json:"summary"`
	Tool              string          `json:"tool"`
	Origin            string          `json:"origin"`
	ToolCallID        string          `json:"tool_call_id"`
	Arguments         json.RawMessage `json:"arguments" doc:"The paused call's arguments (a JSON object)."`
	Options           *[]string       `json:"options" doc:"A question's suggested answers, or null."`
	ExpiresAt         time.Time       `json:"expires_at" doc:"When it resolves as timeout (a deny) if nobody answers."`
}

// SteeringResolvedEvent: a steering request was answered.
type SteeringResolvedEvent struct {
	Type string `json:"type" enum:"steering_resolved"`
	eventCommon
	SteeringRequestID string `json:"steering_request_id"`
	Decision          string `json:"decision" enum:"approve,deny,answer,timeout"`
	Message           string `json:"message" doc:"The human's message (empty when none)."`
}

// FilesystemEvent: a file of the workspace changed (with
// features.filesystem_webhooks).
type FilesystemEvent struct {
	Type string `json:"type" enum:"filesystem"`
	eventCommon
	Change string `json:"change" enum:"created,modified,deleted"`
	Path   string `json:"path" doc:"Relative to the workspace."`
	Size   int64  `json:"size"`
}

// MemoryEvent: a memory changed: by the agent's memory tool (agent), the
// memories API (api), the memory observer after a run (observer) or a
// dream (dreaming).
type MemoryEvent struct {
	Type string `json:"type" enum:"memory"`
	eventCommon
	MemoryID string `json:"memory_id"`
	Change   string `json:"change" enum:"created,updated,deleted"`
	Source   string `json:"source" enum:"agent,api,observer,dreaming"`
}

// UsageEvent: one model call's usage.
type UsageEvent struct {
	Type string `json:"type" enum:"usage"`
	eventCommon
	InputTokens     int64    `json:"input_tokens"`
	OutputTokens    int64    `json:"output_tokens"`
	CacheReadTokens int64    `json:"cache_read_tokens"`
	CostUSD         *float64 `json:"cost_usd" doc:"Null when the model's price is unknown."`
	Model           string   `json:"model" doc:"The model that answered the call (provider/model): the deployment's, or a fallback model."`
	Purpose         *string  `json:"purpose,omitempty" enum:"compaction,subagent,observer,dreaming" doc:"A call other than one of the agent's own turns (observer: the memory observer's, after the run ended; dreaming: a dream's, the only call of its run)."`
}

// AutomationEvent: an automation changed or fired. Reserved: this server
// does not send it yet (the contract names it; filters and webhooks accept
// the type).
type AutomationEvent struct {
	Type string `json:"type" enum:"automation"`
	eventCommon
	AutomationID string `json:"automation_id"`
	Change       string `json:"change" enum:"created,updated,deleted,fired,missed"`
}

// CompactionEvent: older context was summarized.
type CompactionEvent struct {
	Type string `json:"type" enum:"compaction"`
	eventCommon
	Messages     int    `json:"messages" doc:"How many messages the summary replaces."`
	TokensBefore int    `json:"tokens_before"`
	TokensAfter  int    `json:"tokens_after"`
	Summary      string `json:"summary"`
}

// WarningEvent: something the run went on without (an MCP server down).
type WarningEvent struct {
	Type string `json:"type" enum:"warning"`
	eventCommon
	Message string `json:"message"`
	Source  string `json:"source" doc:"What it concerns, such as mcp."`
}

// EgressEvent: the sandbox's egress proxy refused an outbound request
// (thread_id and run_id null).
type EgressEvent struct {
	Type string `json:"type" enum:"egress"`
	eventCommon
	Decision string `json:"decision" enum:"denied"`
	Host     string `json:"host"`
	Reason   string `json:"reason"`
}
