package client

import (
	"context"
	"net/url"
	"time"
)

// MessageSendParams is a message to send to a deployment.
type MessageSendParams struct {
	Content string `json:"content"`
	// ThreadID is the thread: empty for the default thread, "new" for a new
	// one.
	ThreadID string `json:"thread_id,omitempty"`
	// Mode says what to do when the thread has an active run: steer (the
	// default), queue, interrupt or reject.
	Mode string `json:"mode,omitempty"`
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

// Send sends a message to a deployment, which starts (or steers) a run.
func (s *MessageService) Send(ctx context.Context, deploymentID string, p MessageSendParams) (*SentMessage, error) {
	var m SentMessage
	if err := s.c.Do(ctx, "POST", "/v1/deployments/"+url.PathEscape(deploymentID)+"/messages", p, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Run is a unit of agent work.
type Run struct {
	RunID        string     `json:"run_id"`
	DeploymentID string     `json:"deployment_id"`
	ThreadID     string     `json:"thread_id"`
	Status       string     `json:"status"` // queued, running, waiting_on_human, completed, error, cancelled
	Model        string     `json:"model"`
	Usage        Usage      `json:"usage"`
	Error        *ErrorInfo `json:"error"`
	StopReason   string     `json:"stop_reason"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at"`
	CompletedAt  *time.Time `json:"completed_at"`
}

// Ended reports whether the run is over: completed, error or cancelled.
func (r *Run) Ended() bool {
	return r.Status == "completed" || r.Status == "error" || r.Status == "cancelled"
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

// RunService is the Runs API.
type RunService struct{ c *Client }

// Get reads a run.
func (s *RunService) Get(ctx context.Context, deploymentID, runID string) (*Run, error) {
	var r Run
	if err := s.c.Do(ctx, "GET", "/v1/deployments/"+url.PathEscape(deploymentID)+"/runs/"+url.PathEscape(runID), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Model is a model the server can run.
type Model struct {
	ID          string `json:"id"` // provider/model
	Provider    string `json:"provider"`
	Description string `json:"description"`
	Demo        bool   `json:"demo"`    // the offline demo model
	Default     bool   `json:"default"` // the server's default model
}

// ModelService is the Models API.
type ModelService struct{ c *Client }

// List lists the models the server can run.
func (s *ModelService) List(ctx context.Context) ([]Model, error) {
	var l List[Model]
	if err := s.c.Do(ctx, "GET", "/v1/models", nil, &l); err != nil {
		return nil, err
	}
	return l.Data, nil
}

// Tool is one of a deployment's tools with its settings.
type Tool struct {
	Name        string `json:"name"`
	Origin      string `json:"origin"` // builtin, or the MCP server's name
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	Permission  string `json:"permission"` // always_allow or always_ask
}

// ToolService is the Tools API.
type ToolService struct{ c *Client }

// List lists a deployment's tools.
func (s *ToolService) List(ctx context.Context, deploymentID string) ([]Tool, error) {
	var l List[Tool]
	if err := s.c.Do(ctx, "GET", "/v1/deployments/"+url.PathEscape(deploymentID)+"/tools", nil, &l); err != nil {
		return nil, err
	}
	return l.Data, nil
}
