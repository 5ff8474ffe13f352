package herm

import (
	"context"
	"encoding/json"
	"time"
)

// RunStatus is the state of a run.
type RunStatus string

// Run statuses. queued → running ⇄ waiting_on_human → completed | error | cancelled.
const (
	RunQueued         RunStatus = "queued"
	RunRunning        RunStatus = "running"
	RunWaitingOnHuman RunStatus = "waiting_on_human"
	RunCompleted      RunStatus = "completed"
	RunError          RunStatus = "error"
	RunCancelled      RunStatus = "cancelled"
)

// Active reports whether a run in this status still holds its thread.
func (s RunStatus) Active() bool {
	return s == RunQueued || s == RunRunning || s == RunWaitingOnHuman
}

// Stop reasons of a finished run.
const (
	StopEndTurn        = "end_turn"
	StopMaxSteps       = "max_steps"
	StopCancelled      = "cancelled"
	StopError          = "error"
	StopRequiresAction = "requires_action"
)

// Trigger types of a run.
const (
	TriggerMessage    = "message"
	TriggerAutomation = "automation"
	TriggerAPI        = "api"
	// TriggerDreaming: the run is a dream (see Dream), started by the
	// server when the deployment was idle; it has no messages.
	TriggerDreaming = "dreaming"
)

// Trigger says what started a run.
type Trigger struct {
	Type         string `json:"type" enum:"message,automation,api,dreaming"`
	AutomationID string `json:"automation_id,omitempty"`
}

// Usage is what a run (or one model call) consumed.
type Usage struct {
	InputTokens     int64    `json:"input_tokens"`
	OutputTokens    int64    `json:"output_tokens"`
	CacheReadTokens int64    `json:"cache_read_tokens"`
	ToolCalls       int64    `json:"tool_calls"`
	ModelCalls      int64    `json:"model_calls"`
	CostUSD         *float64 `json:"cost_usd"`
}

// Add adds d to u (a cost stays unknown only while every part's is).
func (u *Usage) Add(d Usage) {
	u.InputTokens += d.InputTokens
	u.OutputTokens += d.OutputTokens
	u.CacheReadTokens += d.CacheReadTokens
	u.ToolCalls += d.ToolCalls
	u.ModelCalls += d.ModelCalls
	if d.CostUSD != nil {
		sum := *d.CostUSD
		if u.CostUSD != nil {
			sum += *u.CostUSD
		}
		u.CostUSD = &sum
	}
}

// Run is one unit of agent work on a thread. It is a durable state machine:
// the row records status and lease; the transcript (RunStep) records progress.
type Run struct {
	ID           string
	DeploymentID string
	ThreadID     string
	Status       RunStatus
	Trigger      Trigger
	// ConfigVersion and Model are pinned when the run first starts; 0 and ""
	// while it is queued.
	ConfigVersion int
	Model         string
	Usage         Usage
	Error         *ErrorInfo
	StopReason    string
	// OutputSchema is the JSON Schema the run's final answer must be valid
	// against (nil: a free-text answer); Output is that answer, set when
	// the run completed with it.
	OutputSchema json.RawMessage
	Output       json.RawMessage
	// CancelRequested is set by a cancel; the node running it stops it.
	CancelRequested bool
	// LeaseOwner and LeaseExpiresAt say which runner holds a running run and
	// until when; an expired lease lets any runner take the run over.
	LeaseOwner     string
	LeaseExpiresAt time.Time
	CreatedAt      time.Time
	StartedAt      *time.Time
	CompletedAt    *time.Time
}

// RunFilter selects runs in a list.
type RunFilter struct {
	DeploymentID string
	ThreadID     string
	Status       RunStatus
	AutomationID string
	// TriggerType keeps runs of one trigger type (TriggerMessage, …).
	TriggerType string
	Page
}

// Kinds of transcript steps.
const (
	// StepInput: user input taken into the run. Data: StepInputData.
	StepInput = "input"
	// StepModel: a model turn, recorded once fully streamed. Data: StepModelData.
	StepModel = "model"
	// StepModelStart: an attempt at a model turn begins (written before the
	// call streams anything), so that a redo after a crash knows which
	// attempt it is. Data: StepModelStartData.
	StepModelStart = "model_start"
	// StepToolStart: a tool call is about to execute. Data: StepToolData (no result).
	StepToolStart = "tool_start"
	// StepToolResult: a tool call's result. Data: StepToolData.
	StepToolResult = "tool_result"
	// StepCompaction: older context replaced by a summary the model wrote.
	// Data: StepCompactionData.
	StepCompaction = "compaction"
	// StepOutputRepair: the final answer was not valid against the run's
	// output schema; the model is told why and answers once more. Data:
	// StepOutputRepairData.
	StepOutputRepair = "output_repair"
)

// EOutputInvalid is the error code of a run whose final answer was not
// valid against its output schema, also after the repair turn.
const EOutputInvalid = "output_invalid"

// StepOutputRepairData is the data of a StepOutputRepair.
type StepOutputRepairData struct {
	Error string `json:"error"` // why the answer was not valid
}

// RunStep is one entry of a run's transcript. Steps are appended in order
// (Index 0, 1, 2…) and never changed; a run resumes from them after a crash.
type RunStep struct {
	RunID     string
	Index     int
	Kind      string
	Data      json.RawMessage
	CreatedAt time.Time
}

// StepInputData is the data of a StepInput.
type StepInputData struct {
	MessageID   string            `json:"message_id"`
	Content     string            `json:"content"`
	Attachments []SavedAttachment `json:"attachments,omitempty"`
}

// StepModelData is the data of a StepModel.
type StepModelData struct {
	// Model is the model that answered ("provider/model"): the
	// deployment's, or one of its fallback models ("" in steps recorded
	// before fallbacks existed: the run's model).
	Model      string          `json:"model,omitempty"`
	MessageID  string          `json:"message_id,omitempty"` // the agent message recorded for Text
	Text       string          `json:"text"`
	ToolCalls  []StepToolCall  `json:"tool_calls,omitempty"`
	StopReason string          `json:"stop_reason"`
	Usage      Usage           `json:"usage"`
	Raw        json.RawMessage `json:"raw,omitempty"`
	// Thinking are the turn's signed thinking blocks, sent back with it.
	Thinking []Thinking `json:"thinking,omitempty"`
}

// Thinking is a thinking block of a model turn: its text and the
// provider's signature, or a redacted block's opaque data.
type Thinking struct {
	Text      string `json:"text,omitempty"`
	Signature string `json:"signature,omitempty"`
	Redacted  string `json:"redacted,omitempty"`
}

// StepModelStartData is the data of a StepModelStart: Turn is the model
// turn's ordinal in the run (1-based: the run's model steps before it, plus
// one), Attempt counts its tries (1, then +1 for each redo).
type StepModelStartData struct {
	Turn    int `json:"turn"`
	Attempt int `json:"attempt"`
}

// StepToolCall is one tool call of a model turn.
type StepToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// StepToolData is the data of StepToolStart and StepToolResult.
type StepToolData struct {
	ToolCallID string `json:"tool_call_id"`
	Tool       string `json:"tool"`
	Origin     string `json:"origin"`
	Result     string `json:"result,omitempty"`
	IsError    bool   `json:"is_error,omitempty"`
	// Images are images the tool returned, saved in the workspace: the
	// model sees them with the result.
	Images []SavedAttachment `json:"images,omitempty"`
}

// StepCompactionData is the data of a StepCompaction: from then on the
// model sees Summary instead of the thread's messages up to HistoryUntil
// and this run's steps up to StepsUntil.
type StepCompactionData struct {
	Summary      string    `json:"summary"`
	HistoryUntil time.Time `json:"history_until"` // created_at of the last summarized thread message (zero: none)
	StepsUntil   int       `json:"steps_until"`   // index of the run's last summarized step (-1: none)
	Messages     int       `json:"messages"`      // how many messages and turns it replaced, in all
	TokensBefore int       `json:"tokens_before"` // estimated context before
	TokensAfter  int       `json:"tokens_after"`  // estimated context after
	// CoveredMessages are thread messages the summary covers beyond
	// HistoryUntil: those of runs' summarized turns (later runs must not
	// see them again verbatim).
	CoveredMessages []string `json:"covered_messages,omitempty"`
}

// runKey is the context key of WithRun.
type runKey struct{}

// WithRun returns ctx carrying the thread and run that work done under it
// is for (workspace changes are attributed to them).
func WithRun(ctx context.Context, threadID, runID string) context.Context {
	return context.WithValue(ctx, runKey{}, [2]string{threadID, runID})
}

// RunOf returns the thread and run of WithRun ("" when none).
func RunOf(ctx context.Context) (threadID, runID string) {
	v, _ := ctx.Value(runKey{}).([2]string)
	return v[0], v[1]
}

// Lease is a run lease as a node's renewal found it: the run is still
// held by the node, and whether its cancel was requested meanwhile.
type Lease struct {
	RunID           string
	CancelRequested bool
}
