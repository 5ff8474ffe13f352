package herm

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// Deployment statuses.
const (
	DeploymentProvisioning = "provisioning"
	DeploymentReady        = "ready"
	DeploymentError        = "error"
	DeploymentDeleting     = "deleting"
)

// Deployment is a customer's dedicated agent: its configuration and status.
type Deployment struct {
	DeploymentID  string                  `json:"deployment_id"`
	CustomerID    string                  `json:"customer_id"`
	Name          string                  `json:"name"`
	Runtime       string                  `json:"runtime"`
	Model         string                  `json:"model"`
	Status        string                  `json:"status"` // provisioning, ready, error, deleting
	SystemPrompt  string                  `json:"system_prompt"`
	Sandbox       Sandbox                 `json:"sandbox"`
	MCPServers    []MCPServer             `json:"mcp_servers"`
	Skills        []SkillRef              `json:"skills"`
	Secrets       map[string]string       `json:"secrets"`
	Features      Features                `json:"features"`
	Tools         map[string]ToolSettings `json:"tools"`
	Metadata      map[string]string       `json:"metadata"`
	ModelSettings ModelSettings           `json:"model_settings"`
	// Timezone is the IANA time zone of the date and time the agent is
	// told ("": UTC).
	Timezone      string       `json:"timezone"`
	CustomTools   []CustomTool `json:"custom_tools"`
	BudgetUSD     *float64     `json:"budget_usd"`
	ThreadID      string       `json:"thread_id"` // the default thread
	ConfigVersion int          `json:"config_version"`
	Filesystem    struct {
		WorkspacePath string `json:"workspace_path"`
		Persistent    bool   `json:"persistent"`
	} `json:"filesystem"`
	Events struct {
		Transport string `json:"transport"`
		URL       string `json:"url"`
	} `json:"events"`
	Error     *ErrorInfo `json:"error"` // why provisioning failed
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// ErrorInfo is why a deployment or a run failed.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Sandbox is a deployment's execution environment.
type Sandbox struct {
	Enabled              bool      `json:"enabled"`
	Type                 string    `json:"type"`
	PersistentFilesystem bool      `json:"persistent_filesystem"`
	Resources            Resources `json:"resources"`
	Network              Network   `json:"network"`
}

// Resources are a sandbox's limits; zero fields are the server's defaults.
type Resources struct {
	CPU      float64 `json:"cpu,omitempty"`
	MemoryMB int     `json:"memory_mb,omitempty"`
	DiskMB   int     `json:"disk_mb,omitempty"`
	PIDs     int     `json:"pids,omitempty"`
}

// Network is a sandbox's outbound network policy.
type Network struct {
	Egress       string   `json:"egress,omitempty"` // none, proxy or open
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
}

// SandboxParams are the sandbox settings of a create or update; nil fields
// are left to the server (or stay, on update).
type SandboxParams struct {
	Enabled              *bool      `json:"enabled,omitempty"`
	Type                 *string    `json:"type,omitempty"`
	PersistentFilesystem *bool      `json:"persistent_filesystem,omitempty"`
	Resources            *Resources `json:"resources,omitempty"`
	Network              *Network   `json:"network,omitempty"`
}

// MCPServer is a remote MCP server whose tools the agent may call.
type MCPServer struct {
	Name       string            `json:"name"`
	URL        string            `json:"url"`
	Tools      []string          `json:"tools,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Permission string            `json:"permission,omitempty"`
}

// SkillRef is a configured skill as the deployment lists it.
type SkillRef struct {
	SkillID string `json:"skill_id"`
	Name    string `json:"name"`
	Source  string `json:"source"`
}

// SkillParams is a skill to configure: inline content, a file of the
// workspace, or a URL.
type SkillParams struct {
	Name    string `json:"name"`
	Source  string `json:"source"` // inline, file or url
	Path    string `json:"path,omitempty"`
	Content string `json:"content,omitempty"`
	URL     string `json:"url,omitempty"`
}

// Features are a deployment's switches.
type Features struct {
	Memory             bool `json:"memory"`
	Dreaming           bool `json:"dreaming"`
	DreamingReview     bool `json:"dreaming_review"`
	Automations        bool `json:"automations"`
	Steering           bool `json:"steering"`
	FilesystemWebhooks bool `json:"filesystem_webhooks"`
}

// Tool permissions.
const (
	PermissionAlwaysAllow = "always_allow"
	PermissionAlwaysAsk   = "always_ask"
)

// ToolSettings are a tool's settings in a deployment.
type ToolSettings struct {
	Enabled    *bool  `json:"enabled,omitempty"`
	Permission string `json:"permission,omitempty"` // always_allow or always_ask
}

// CustomTool is a tool the client implements: when the model calls it, the
// run stops (status waiting_on_human, stop_reason requires_action) with the
// call in its RequiredAction until the client posts the output with
// RunService.SubmitToolOutputs. Name is unique, never a built-in tool's and
// never contains "__"; InputSchema is a JSON Schema object.
type CustomTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// DeploymentCreateParams is a deployment to create. CustomerID and Name
// are required; the zero values of the others are the server's defaults.
type DeploymentCreateParams struct {
	CustomerID        string                  `json:"customer_id"`
	Name              string                  `json:"name"`
	SystemPrompt      string                  `json:"system_prompt,omitempty"`
	Model             string                  `json:"model,omitempty"`
	Sandbox           *SandboxParams          `json:"sandbox,omitempty"`
	MCPServers        []MCPServer             `json:"mcp_servers,omitempty"`
	Skills            []SkillParams           `json:"skills,omitempty"`
	Secrets           map[string]string       `json:"secrets,omitempty"`
	Features          map[string]bool         `json:"features,omitempty"`
	Tools             map[string]ToolSettings `json:"tools,omitempty"`
	Metadata          map[string]string       `json:"metadata,omitempty"`
	ModelSettings     *ModelSettings          `json:"model_settings,omitempty"`
	CustomTools       []CustomTool            `json:"custom_tools,omitempty"`
	BudgetUSD         *float64                `json:"budget_usd,omitempty"`
	RestoreSnapshotID string                  `json:"restore_snapshot_id,omitempty"`
	Timezone          string                  `json:"timezone,omitempty"` // IANA name; "": UTC
}

// DeploymentUpdateParams is a change to a deployment: nil fields stay.
// Secrets, Features, Tools and Metadata merge per key, and a nil value
// removes its key (a feature goes back to its default).
type DeploymentUpdateParams struct {
	Name         *string                  `json:"name,omitempty"`
	Model        *string                  `json:"model,omitempty"`
	SystemPrompt *string                  `json:"system_prompt,omitempty"`
	Sandbox      *SandboxParams           `json:"sandbox,omitempty"`
	MCPServers   *[]MCPServer             `json:"mcp_servers,omitempty"` // replaces the list
	Skills       *[]SkillParams           `json:"skills,omitempty"`      // replaces the list
	Secrets      map[string]*string       `json:"secrets,omitempty"`
	Features     map[string]*bool         `json:"features,omitempty"`
	Tools        map[string]*ToolSettings `json:"tools,omitempty"`
	Metadata     map[string]*string       `json:"metadata,omitempty"`
	// ModelSettings merge per key: a field left zero stays; Reasoning and
	// FallbackModels replace (an empty non-nil FallbackModels clears).
	ModelSettings *ModelSettingsParams `json:"model_settings,omitempty"`
	// CustomTools replaces the list (a pointer to an empty list clears it).
	CustomTools *[]CustomTool `json:"custom_tools,omitempty"`
	BudgetUSD   *float64      `json:"budget_usd,omitempty"`
	Timezone    *string       `json:"timezone,omitempty"` // IANA name; "" or "UTC": UTC
	// RemoveBudget removes the spending cap (budget_usd: null).
	RemoveBudget bool `json:"-"`
}

// MarshalJSON sends budget_usd null for RemoveBudget.
func (p DeploymentUpdateParams) MarshalJSON() ([]byte, error) {
	type plain DeploymentUpdateParams
	b, err := json.Marshal(plain(p))
	if err != nil || !p.RemoveBudget {
		return b, err
	}
	if p.BudgetUSD != nil {
		return nil, fmt.Errorf("herm: BudgetUSD and RemoveBudget both set")
	}
	return withNull(b, "budget_usd")
}

// withNull adds key: null to the JSON object b (a patch that removes what
// key holds).
func withNull(b []byte, key string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m[key] = json.RawMessage("null")
	return json.Marshal(m)
}

// DeploymentListParams filters and pages a deployment list.
type DeploymentListParams struct {
	CustomerID string // only this customer's
	Status     string // only those with this status
	ListParams
}

// DeploymentDeleteParams are a delete's options.
type DeploymentDeleteParams struct {
	// RetainFilesystem keeps a snapshot of the workspace (its id is in the
	// answer), from which a new deployment can start.
	RetainFilesystem bool
}

// DeletedDeployment is the answer to a delete.
type DeletedDeployment struct {
	DeploymentID string `json:"deployment_id"`
	Status       string `json:"status"`      // deleting
	SnapshotID   string `json:"snapshot_id"` // with RetainFilesystem
}

// DeploymentService is the Deployments API.
type DeploymentService struct{ c *Client }

// Create creates a deployment; it returns at once with status
// provisioning (see WaitReady).
func (s *DeploymentService) Create(ctx context.Context, p DeploymentCreateParams) (*Deployment, error) {
	var d Deployment
	if err := s.c.do(ctx, http.MethodPost, path("deployments"), nil, p, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Get reads a deployment.
func (s *DeploymentService) Get(ctx context.Context, id string) (*Deployment, error) {
	var d Deployment
	if err := s.c.do(ctx, http.MethodGet, path("deployments", id), nil, nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// WaitReady polls a deployment until it is no longer provisioning and
// returns it when it is ready; a deployment that ended otherwise (error,
// deleting) is an error that says why.
func (s *DeploymentService) WaitReady(ctx context.Context, id string) (*Deployment, error) {
	wait := 20 * time.Millisecond
	for {
		d, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		switch d.Status {
		case DeploymentReady:
			return d, nil
		case DeploymentProvisioning:
		default:
			why := ""
			if d.Error != nil {
				why = ": " + d.Error.Code + ": " + d.Error.Message
			}
			return d, fmt.Errorf("deployment %s is %s%s", id, d.Status, why)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, time.Second)
	}
}

// List reads one page of deployments, newest first.
func (s *DeploymentService) List(ctx context.Context, p DeploymentListParams) (*Page[Deployment], error) {
	q := p.values()
	setIf(q, "customer_id", p.CustomerID)
	setIf(q, "status", p.Status)
	return getPage[Deployment](ctx, s.c, path("deployments"), q)
}

// All iterates over every deployment p selects, across pages, from
// p.Cursor on.
func (s *DeploymentService) All(ctx context.Context, p DeploymentListParams) iter.Seq2[*Deployment, error] {
	return all(p.Cursor, func(cursor string) (*Page[Deployment], error) {
		p.Cursor = cursor
		return s.List(ctx, p)
	})
}

// Update changes a deployment: a new configuration version, used from the
// next run.
func (s *DeploymentService) Update(ctx context.Context, id string, p DeploymentUpdateParams) (*Deployment, error) {
	var d Deployment
	if err := s.c.do(ctx, http.MethodPatch, path("deployments", id), nil, p, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Delete starts deleting a deployment: it is deleting, then gone.
func (s *DeploymentService) Delete(ctx context.Context, id string, p DeploymentDeleteParams) (*DeletedDeployment, error) {
	var q url.Values
	if p.RetainFilesystem {
		q = url.Values{"retain_filesystem": {"true"}}
	}
	var d DeletedDeployment
	if err := s.c.do(ctx, http.MethodDelete, path("deployments", id), q, nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// String returns a pointer to v, for the optional fields of params.
func String(v string) *string { return &v }

// Bool returns a pointer to v, for the optional fields of params.
func Bool(v bool) *bool { return &v }

// Int returns a pointer to v, for the optional fields of params.
func Int(v int) *int { return &v }

// Float returns a pointer to v, for the optional fields of params.
func Float(v float64) *float64 { return &v }

// ModelSettings are a deployment's settings of its model calls; zero values
// are the provider's defaults.
type ModelSettings struct {
	Temperature    *float64   `json:"temperature,omitempty"`
	MaxTokens      int        `json:"max_tokens,omitempty"`
	Reasoning      *Reasoning `json:"reasoning,omitempty"`
	FallbackModels []string   `json:"fallback_models,omitempty"` // tried in order when a call fails before streaming
}

// Reasoning is a reasoning effort (low, medium, high: OpenAI, OpenRouter)
// and/or an extended thinking budget (Anthropic, OpenRouter).
type Reasoning struct {
	Effort       string `json:"effort,omitempty"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

// ModelSettingsParams change a deployment's model settings: nil fields stay.
type ModelSettingsParams struct {
	Temperature    *float64   `json:"temperature,omitempty"`
	MaxTokens      *int       `json:"max_tokens,omitempty"`
	Reasoning      *Reasoning `json:"reasoning,omitempty"`
	FallbackModels *[]string  `json:"fallback_models,omitempty"`
}
