package herm

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"time"
)

// Tool is one of a deployment's tools with its settings.
type Tool struct {
	Name        string `json:"name"`   // model-facing: {server}__{tool} for MCP tools
	Origin      string `json:"origin"` // builtin, or the MCP server's name
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
	Permission  string `json:"permission"` // always_allow or always_ask
}

// ToolList is a deployment's tools with the state of its MCP servers.
type ToolList struct {
	Data       []Tool            `json:"data"`
	MCPServers []MCPServerStatus `json:"mcp_servers"`
	// NextCursor is always nil: the list is whole (the shape of the API's
	// lists).
	NextCursor *string `json:"next_cursor"`
}

// MCPServerStatus says whether an MCP server's tools could be listed.
type MCPServerStatus struct {
	Name    string `json:"name"`
	Status  string `json:"status"` // connected, unreachable or connecting
	Message string `json:"message"`
}

// ToolUpdateParams changes a tool's settings; nil fields stay.
type ToolUpdateParams struct {
	Enabled    *bool   `json:"enabled,omitempty"`
	Permission *string `json:"permission,omitempty"` // always_allow or always_ask
}

// ToolService is the Tools API.
type ToolService struct{ c *Client }

// List lists a deployment's tools.
func (s *ToolService) List(ctx context.Context, deploymentID string) (*ToolList, error) {
	var l ToolList
	if err := s.c.do(ctx, http.MethodGet, depPath(deploymentID, "tools"), nil, nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Update enables or disables a tool or sets its permission (a new
// configuration version).
func (s *ToolService) Update(ctx context.Context, deploymentID, name string, p ToolUpdateParams) (*Tool, error) {
	var t Tool
	if err := s.c.do(ctx, http.MethodPatch, depPath(deploymentID, "tools", name), nil, p, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// MCPServerService manages a deployment's MCP servers.
type MCPServerService struct{ c *Client }

// List lists a deployment's MCP servers.
func (s *MCPServerService) List(ctx context.Context, deploymentID string) ([]MCPServer, error) {
	p, err := getPage[MCPServer](ctx, s.c, depPath(deploymentID, "mcp_servers"), nil)
	if err != nil {
		return nil, err
	}
	return p.Data, nil
}

// Add adds an MCP server (409 when its name is taken).
func (s *MCPServerService) Add(ctx context.Context, deploymentID string, m MCPServer) (*MCPServer, error) {
	var out MCPServer
	if err := s.c.do(ctx, http.MethodPost, depPath(deploymentID, "mcp_servers"), nil, m, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Replace replaces the entry of the MCP server named name.
func (s *MCPServerService) Replace(ctx context.Context, deploymentID, name string, m MCPServer) (*MCPServer, error) {
	var out MCPServer
	if err := s.c.do(ctx, http.MethodPut, depPath(deploymentID, "mcp_servers", name), nil, m, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes an MCP server.
func (s *MCPServerService) Delete(ctx context.Context, deploymentID, name string) error {
	return s.c.do(ctx, http.MethodDelete, depPath(deploymentID, "mcp_servers", name), nil, nil, nil)
}

// Automation is a schedule that sends a deployment instructions as runs.
type Automation struct {
	AutomationID    string          `json:"automation_id"`
	DeploymentID    string          `json:"deployment_id"`
	Name            string          `json:"name"`
	Schedule        string          `json:"schedule"`
	Cron            string          `json:"cron"`
	Instructions    string          `json:"instructions"`
	ThreadID        string          `json:"thread_id"`
	Enabled         bool            `json:"enabled"`
	Timezone        string          `json:"timezone"`
	MissedRunPolicy string          `json:"missed_run_policy"` // skip or run_once
	MaxRetries      int             `json:"max_retries"`
	Overlap         string          `json:"overlap"`       // skip or queue
	OutputSchema    json.RawMessage `json:"output_schema"` // of its runs; nil: free text
	NextRunAt       *time.Time      `json:"next_run_at"`
	LastRunAt       *time.Time      `json:"last_run_at"`
	LastRunStatus   string          `json:"last_run_status"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	RecentRuns      []AutomationRun `json:"recent_runs,omitempty"` // from Get
}

// AutomationRun is one of an automation's runs.
type AutomationRun struct {
	RunID       string     `json:"run_id"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

// AutomationParams is an automation to create (Name, Schedule and
// Instructions required) or a change to one (nil fields stay).
type AutomationParams struct {
	Name            *string `json:"name,omitempty"`
	Schedule        *string `json:"schedule,omitempty"` // cron, or plain English: "every Monday at 9am"
	Instructions    *string `json:"instructions,omitempty"`
	ThreadID        *string `json:"thread_id,omitempty"`
	Enabled         *bool   `json:"enabled,omitempty"`
	Timezone        *string `json:"timezone,omitempty"`
	MissedRunPolicy *string `json:"missed_run_policy,omitempty"`
	MaxRetries      *int    `json:"max_retries,omitempty"`
	Overlap         *string `json:"overlap,omitempty"`
	// OutputSchema is the output schema of its runs (as a message's);
	// json.RawMessage("null") on update removes it.
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
}

// AutomationService is the Automations API.
type AutomationService struct{ c *Client }

// Create adds an automation.
func (s *AutomationService) Create(ctx context.Context, deploymentID string, p AutomationParams) (*Automation, error) {
	var a Automation
	if err := s.c.do(ctx, http.MethodPost, depPath(deploymentID, "automations"), nil, p, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// List reads one page of a deployment's automations, newest first.
func (s *AutomationService) List(ctx context.Context, deploymentID string, p ListParams) (*Page[Automation], error) {
	return getPage[Automation](ctx, s.c, depPath(deploymentID, "automations"), p.values())
}

// All iterates over every automation of a deployment, across pages.
func (s *AutomationService) All(ctx context.Context, deploymentID string, p ListParams) iter.Seq2[*Automation, error] {
	return all(p.Cursor, func(cursor string) (*Page[Automation], error) {
		p.Cursor = cursor
		return s.List(ctx, deploymentID, p)
	})
}

// Get reads an automation with its recent runs.
func (s *AutomationService) Get(ctx context.Context, deploymentID, automationID string) (*Automation, error) {
	var a Automation
	if err := s.c.do(ctx, http.MethodGet, depPath(deploymentID, "automations", automationID), nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Update changes an automation.
func (s *AutomationService) Update(ctx context.Context, deploymentID, automationID string, p AutomationParams) (*Automation, error) {
	var a Automation
	if err := s.c.do(ctx, http.MethodPatch, depPath(deploymentID, "automations", automationID), nil, p, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Delete deletes an automation (its thread and runs stay).
func (s *AutomationService) Delete(ctx context.Context, deploymentID, automationID string) error {
	return s.c.do(ctx, http.MethodDelete, depPath(deploymentID, "automations", automationID), nil, nil, nil)
}

// Trigger fires an automation now and returns its run's id.
func (s *AutomationService) Trigger(ctx context.Context, deploymentID, automationID string) (string, error) {
	var out struct {
		RunID string `json:"run_id"`
	}
	if err := s.c.do(ctx, http.MethodPost, depPath(deploymentID, "automations", automationID, "trigger"), nil, nil, &out); err != nil {
		return "", err
	}
	return out.RunID, nil
}

// Steering decisions.
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
	DecisionAnswer  = "answer"
)

// SteeringRequest is a run paused for a human: the approval of an
// always_ask tool, or a question the agent asked.
type SteeringRequest struct {
	SteeringRequestID string          `json:"steering_request_id"`
	DeploymentID      string          `json:"deployment_id"`
	ThreadID          string          `json:"thread_id"`
	RunID             string          `json:"run_id"`
	ToolCallID        string          `json:"tool_call_id"`
	Kind              string          `json:"kind"` // approval or question
	Summary           string          `json:"summary"`
	Tool              string          `json:"tool"`
	Origin            string          `json:"origin"`
	Arguments         json.RawMessage `json:"arguments"`
	Options           []string        `json:"options"`
	Status            string          `json:"status"`   // pending or resolved
	Decision          string          `json:"decision"` // approve, deny, answer or timeout, once resolved
	Message           string          `json:"message"`
	CreatedAt         time.Time       `json:"created_at"`
	ExpiresAt         time.Time       `json:"expires_at"`
	ResolvedAt        *time.Time      `json:"resolved_at"`
}

// SteeringListParams filters and pages steering requests.
type SteeringListParams struct {
	Status string // pending or resolved
	RunID  string
	ListParams
}

// SteeringResponse answers a steering request.
type SteeringResponse struct {
	Decision string `json:"decision"` // approve, deny or answer
	// Message is reported to the model: why denied, or the answer.
	Message string `json:"message,omitempty"`
}

// SteeringService is the Steering API.
type SteeringService struct{ c *Client }

// List reads one page of a deployment's steering requests, newest first.
func (s *SteeringService) List(ctx context.Context, deploymentID string, p SteeringListParams) (*Page[SteeringRequest], error) {
	q := p.values()
	setIf(q, "status", p.Status)
	setIf(q, "run_id", p.RunID)
	return getPage[SteeringRequest](ctx, s.c, depPath(deploymentID, "steering_requests"), q)
}

// All iterates over every steering request p selects, across pages.
func (s *SteeringService) All(ctx context.Context, deploymentID string, p SteeringListParams) iter.Seq2[*SteeringRequest, error] {
	return all(p.Cursor, func(cursor string) (*Page[SteeringRequest], error) {
		p.Cursor = cursor
		return s.List(ctx, deploymentID, p)
	})
}

// Get reads a steering request.
func (s *SteeringService) Get(ctx context.Context, deploymentID, requestID string) (*SteeringRequest, error) {
	var r SteeringRequest
	if err := s.c.do(ctx, http.MethodGet, depPath(deploymentID, "steering_requests", requestID), nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Respond answers a steering request; the run goes on. Answering twice is
// a 409 conflict.
func (s *SteeringService) Respond(ctx context.Context, deploymentID, requestID string, r SteeringResponse) (*SteeringRequest, error) {
	var out SteeringRequest
	if err := s.c.do(ctx, http.MethodPost, depPath(deploymentID, "steering_requests", requestID), nil, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
