package herm

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"time"
)

// Attachment is a file sent with a message: an https URL or a data URL.
type Attachment struct {
	Type string `json:"type"` // image, video, audio or file
	URL  string `json:"url"`
}

// Send modes: what a message does when its thread has an active run.
const (
	ModeSteer     = "steer"
	ModeQueue     = "queue"
	ModeInterrupt = "interrupt"
	ModeReject    = "reject"
)

// MessageSendParams is a message to send to a deployment.
type MessageSendParams struct {
	Content string `json:"content"`
	// ThreadID is the thread: empty for the default thread, "new" for a new
	// one.
	ThreadID    string       `json:"thread_id,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	// Mode says what to do when the thread has an active run: steer (the
	// default), queue, interrupt or reject.
	Mode string `json:"mode,omitempty"`
	// OutputSchema, when set, is a JSON Schema (an object schema, of the
	// subset the API description lists) that the run's final answer must
	// be valid against; the run's Output is then that JSON value, and a
	// run whose answer stays invalid ends in error (output_invalid).
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
}

// SentMessage is the answer to a message send: the run it started or
// joined.
type SentMessage struct {
	RunID        string `json:"run_id"`
	DeploymentID string `json:"deployment_id"`
	ThreadID     string `json:"thread_id"`
	MessageID    string `json:"message_id"`
	Status       string `json:"status"`
	Steered      bool   `json:"steered"`
}

// MessageService is the Messages API.
type MessageService struct{ c *Client }

// Send sends a message to a deployment, which starts (or steers) a run;
// its output arrives on the event stream.
func (s *MessageService) Send(ctx context.Context, deploymentID string, p MessageSendParams) (*SentMessage, error) {
	var m SentMessage
	if err := s.c.do(ctx, http.MethodPost, depPath(deploymentID, "messages"), nil, p, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Run statuses.
const (
	RunQueued         = "queued"
	RunRunning        = "running"
	RunWaitingOnHuman = "waiting_on_human"
	RunCompleted      = "completed"
	RunError          = "error"
	RunCancelled      = "cancelled"
)

// Run is a unit of agent work.
type Run struct {
	RunID        string `json:"run_id"`
	DeploymentID string `json:"deployment_id"`
	ThreadID     string `json:"thread_id"`
	Status       string `json:"status"` // queued, running, waiting_on_human, completed, error, cancelled
	Trigger      struct {
		Type         string `json:"type"` // message, automation or api
		AutomationID string `json:"automation_id,omitempty"`
	} `json:"trigger"`
	ConfigVersion *int       `json:"config_version"` // nil until it starts
	Model         string     `json:"model"`          // empty until it starts
	Usage         Usage      `json:"usage"`
	Error         *ErrorInfo `json:"error"`
	StopReason    string     `json:"stop_reason"` // requires_action while it waits for tool outputs
	// RequiredAction lists the custom tool calls waiting for the client's
	// outputs (nil unless the run stopped with requires_action).
	RequiredAction *RequiredAction `json:"required_action"`
	// OutputSchema is the run's output schema (nil: a free-text answer);
	// Output its typed result once it completed (JSON null before).
	OutputSchema json.RawMessage `json:"output_schema"`
	Output       json.RawMessage `json:"output"`
	CreatedAt    time.Time       `json:"created_at"`
	StartedAt    *time.Time      `json:"started_at"`
	CompletedAt  *time.Time      `json:"completed_at"`
}

// Ended reports whether the run is over: completed, error or cancelled.
func (r *Run) Ended() bool {
	return r.Status == RunCompleted || r.Status == RunError || r.Status == RunCancelled
}

// Usage is what a run used.
type Usage struct {
	InputTokens     int64    `json:"input_tokens"`
	OutputTokens    int64    `json:"output_tokens"`
	CacheReadTokens int64    `json:"cache_read_tokens"`
	ToolCalls       int64    `json:"tool_calls"`
	ModelCalls      int64    `json:"model_calls"`
	CostUSD         *float64 `json:"cost_usd"`
}

// RunListParams filters and pages a run list.
type RunListParams struct {
	ThreadID     string
	Status       string
	AutomationID string
	// Trigger keeps runs of one trigger type: message, automation, api or
	// dreaming.
	Trigger string
	ListParams
}

// RunService is the Runs API.
type RunService struct{ c *Client }

// List reads one page of a deployment's runs, newest first.
func (s *RunService) List(ctx context.Context, deploymentID string, p RunListParams) (*Page[Run], error) {
	q := p.values()
	setIf(q, "thread_id", p.ThreadID)
	setIf(q, "status", p.Status)
	setIf(q, "automation_id", p.AutomationID)
	setIf(q, "trigger", p.Trigger)
	return getPage[Run](ctx, s.c, depPath(deploymentID, "runs"), q)
}

// All iterates over every run p selects, across pages.
func (s *RunService) All(ctx context.Context, deploymentID string, p RunListParams) iter.Seq2[*Run, error] {
	return all(p.Cursor, func(cursor string) (*Page[Run], error) {
		p.Cursor = cursor
		return s.List(ctx, deploymentID, p)
	})
}

// Get reads a run.
func (s *RunService) Get(ctx context.Context, deploymentID, runID string) (*Run, error) {
	var r Run
	if err := s.c.do(ctx, http.MethodGet, depPath(deploymentID, "runs", runID), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Cancel cancels a run: a queued one ends at once, a running one promptly.
// A run that already ended is a 409 conflict.
func (s *RunService) Cancel(ctx context.Context, deploymentID, runID string) (*Run, error) {
	var r Run
	if err := s.c.do(ctx, http.MethodPost, depPath(deploymentID, "runs", runID, "cancel"), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RequiredAction is what a run waits for: Type submit_tool_outputs, with
// the pending custom tool calls in the order the model made them.
type RequiredAction struct {
	Type      string            `json:"type"`
	ToolCalls []PendingToolCall `json:"tool_calls"`
}

// PendingToolCall is a custom tool call waiting for its output.
type PendingToolCall struct {
	ID        string          `json:"id"` // the ToolOutput's ToolCallID
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"` // a JSON object valid against the tool's input schema
}

// ToolOutput is the client's output of one custom tool call.
type ToolOutput struct {
	ToolCallID string `json:"tool_call_id"`
	Output     string `json:"output"`
}

type toolOutputs struct {
	ToolOutputs []ToolOutput `json:"tool_outputs"`
}

// SubmitToolOutputs answers every pending custom tool call of a run that
// stopped with requires_action, all in one request; the run then resumes.
// A pending call left out, an id that is not pending or one given twice is
// a 400 naming them; a run not waiting for tool outputs is a 409 conflict.
func (s *RunService) SubmitToolOutputs(ctx context.Context, deploymentID, runID string, outputs []ToolOutput) (*Run, error) {
	if outputs == nil {
		outputs = []ToolOutput{}
	}
	var r Run
	if err := s.c.do(ctx, http.MethodPost, depPath(deploymentID, "runs", runID, "tool_outputs"), nil, toolOutputs{outputs}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Thread is a conversation of a deployment.
type Thread struct {
	ThreadID       string    `json:"thread_id"`
	DeploymentID   string    `json:"deployment_id"`
	Title          string    `json:"title"`
	Status         string    `json:"status"` // idle, running, waiting_on_human
	MessageCount   int       `json:"message_count"`
	IsDefault      bool      `json:"is_default"`
	CreatedAt      time.Time `json:"created_at"`
	LastActivityAt time.Time `json:"last_activity_at"`
}

// ThreadWithMessages is a thread with its history, oldest first.
type ThreadWithMessages struct {
	Thread
	Messages []Message `json:"messages"`
}

// Message is an entry of a thread's history.
type Message struct {
	MessageID   string       `json:"message_id"`
	Role        string       `json:"role"` // user or agent
	Content     string       `json:"content"`
	RunID       string       `json:"run_id"`
	Attachments []Attachment `json:"attachments,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
}

// ThreadService is the Threads API.
type ThreadService struct{ c *Client }

type threadTitle struct {
	Title *string `json:"title,omitempty"`
}

// Create creates a thread; an empty title is none.
func (s *ThreadService) Create(ctx context.Context, deploymentID, title string) (*Thread, error) {
	var body threadTitle
	if title != "" {
		body.Title = &title
	}
	var t Thread
	if err := s.c.do(ctx, http.MethodPost, depPath(deploymentID, "threads"), nil, body, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// List reads one page of a deployment's threads, newest first.
func (s *ThreadService) List(ctx context.Context, deploymentID string, p ListParams) (*Page[Thread], error) {
	return getPage[Thread](ctx, s.c, depPath(deploymentID, "threads"), p.values())
}

// All iterates over every thread of a deployment, across pages.
func (s *ThreadService) All(ctx context.Context, deploymentID string, p ListParams) iter.Seq2[*Thread, error] {
	return all(p.Cursor, func(cursor string) (*Page[Thread], error) {
		p.Cursor = cursor
		return s.List(ctx, deploymentID, p)
	})
}

// Get reads a thread with its messages.
func (s *ThreadService) Get(ctx context.Context, deploymentID, threadID string) (*ThreadWithMessages, error) {
	var t ThreadWithMessages
	if err := s.c.do(ctx, http.MethodGet, depPath(deploymentID, "threads", threadID), nil, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Update renames a thread.
func (s *ThreadService) Update(ctx context.Context, deploymentID, threadID, title string) (*Thread, error) {
	var t Thread
	if err := s.c.do(ctx, http.MethodPatch, depPath(deploymentID, "threads", threadID), nil, threadTitle{&title}, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Delete deletes a thread and its history (its active run is cancelled);
// the default thread cannot be deleted (409 conflict).
func (s *ThreadService) Delete(ctx context.Context, deploymentID, threadID string) error {
	return s.c.do(ctx, http.MethodDelete, depPath(deploymentID, "threads", threadID), nil, nil, nil)
}
