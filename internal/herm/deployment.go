package herm

import (
	"slices"
	"time"
)

// DeploymentStatus is the lifecycle state of a deployment.
type DeploymentStatus string

// Deployment statuses.
const (
	DeploymentProvisioning DeploymentStatus = "provisioning"
	DeploymentReady        DeploymentStatus = "ready"
	DeploymentError        DeploymentStatus = "error"
	DeploymentDeleting     DeploymentStatus = "deleting"
)

// Deployment is one customer's dedicated agent: its configuration, its
// sandbox and workspace, its threads and runs.
type Deployment struct {
	ID           string
	CustomerID   string
	Name         string
	Runtime      string
	Model        string
	SystemPrompt string
	Status       DeploymentStatus
	Sandbox      Sandbox
	MCPServers   []MCPServer
	Skills       []Skill
	Secrets      map[string]string // ENV_NAME → sec_...
	Features     Features
	Tools        map[string]ToolSettings
	// CustomTools are the tools the client implements (see CustomTool).
	CustomTools []CustomTool
	Metadata    map[string]string
	// ModelSettings tune the model calls of the deployment's runs.
	ModelSettings ModelSettings
	// Timezone is the IANA time zone in which the agent is told the date
	// and time ("" is UTC).
	Timezone string
	// ThreadID is the default thread, created with the deployment.
	ThreadID string
	// ConfigVersion starts at 1 and grows by one with every accepted update.
	ConfigVersion int
	Error         *ErrorInfo
	// BudgetUSD caps the deployment's model spending (nil = no cap).
	BudgetUSD *float64
	// RestoreSnapshotID is the snapshot a new deployment's workspace starts
	// from; set on create only, not stored with the configuration.
	RestoreSnapshotID string
	// Owner is the node that runs the deployment's sandbox and claims its
	// runs ("" while none does); never shown by the API. Set on create; it
	// changes only through the store's node methods.
	Owner string
	// AgentID and UserKey are set on the hidden deployment of an agent
	// and a user (see Session): "" for the deployments of /v1/deployments,
	// which lists and reaches only those. Set on create only.
	AgentID   string
	UserKey   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ModelSettings are a deployment's settings of its model calls; zero
// values are the provider's defaults.
type ModelSettings struct {
	Temperature    *float64   `json:"temperature,omitempty" doc:"Sampling temperature: 0–2 for OpenAI and compatible models, 0–1 for Anthropic's (and none but 1 with extended thinking). Absent: the provider's default."`
	MaxTokens      int        `json:"max_tokens,omitempty" doc:"Most output tokens per model call, up to the model's limit where the server knows it. Absent: the server's default."`
	Reasoning      *Reasoning `json:"reasoning,omitempty"`
	FallbackModels []string   `json:"fallback_models,omitempty" doc:"≤ 5 provider/model names tried in order when a model call fails before anything was streamed (connection failure, 5xx, 429 or overload after the provider's retries); never after output was streamed. Each must take these settings."`
}

// Reasoning is how much a model thinks before it answers.
type Reasoning struct {
	Effort       string `json:"effort,omitempty" enum:"low,medium,high" doc:"Reasoning effort, for OpenAI's reasoning models, OpenRouter and compatible servers."`
	BudgetTokens int    `json:"budget_tokens,omitempty" doc:"Extended thinking budget in tokens, for Anthropic models (≥ 1024 and below max_tokens) and OpenRouter. Set both effort and budget_tokens when fallback_models mix providers: each provider takes the one it understands."`
}

// Clone returns a deep copy of s.
func (s ModelSettings) Clone() ModelSettings {
	if s.Temperature != nil {
		t := *s.Temperature
		s.Temperature = &t
	}
	if s.Reasoning != nil {
		r := *s.Reasoning
		s.Reasoning = &r
	}
	s.FallbackModels = slices.Clone(s.FallbackModels)
	return s
}

// ErrorInfo is the {"code","message"} object of a failed deployment or run.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Sandbox is a deployment's execution environment settings.
type Sandbox struct {
	Enabled              bool      `json:"enabled"`
	Type                 string    `json:"type"`
	PersistentFilesystem bool      `json:"persistent_filesystem"`
	Resources            Resources `json:"resources" doc:"The limits in effect: those set, and the server's defaults for the others (local, docker and gvisor sandboxes: 1 CPU, 1024 MB of memory, 512 processes; disk_mb absent: no disk quota). The unisolated process driver applies none but disk_mb."`
	Network              Network   `json:"network"`
}

// Resources are the sandbox's limits. Zero means the server default.
type Resources struct {
	CPU      float64 `json:"cpu,omitempty"`
	MemoryMB int     `json:"memory_mb,omitempty"`
	DiskMB   int     `json:"disk_mb,omitempty"`
	PIDs     int     `json:"pids,omitempty"`
}

// Egress policies of a sandbox.
const (
	EgressNone  = "none"
	EgressProxy = "proxy"
	EgressOpen  = "open"
)

// Network is the sandbox's outbound network policy.
type Network struct {
	Egress       string   `json:"egress"`
	AllowedHosts []string `json:"allowed_hosts"`
}

// MCPServer is a remote MCP server whose tools the agent may call.
type MCPServer struct {
	Name       string            `json:"name" doc:"^[a-z0-9][a-z0-9_-]{0,31}$, without \"__\" and not ending in \"_\"; its tools are offered as {name}__{tool}."`
	URL        string            `json:"url"`
	Tools      []string          `json:"tools,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Permission string            `json:"permission,omitempty"`
}

// Skill sources.
const (
	SkillFile   = "file"
	SkillInline = "inline"
	SkillURL    = "url"
)

// Skill is a configured skill of a deployment.
type Skill struct {
	SkillID string `json:"skill_id"`
	Name    string `json:"name"`
	Source  string `json:"source"`
	Path    string `json:"path,omitempty"`
	Content string `json:"content,omitempty"`
	URL     string `json:"url,omitempty"`
	// CreatedAt is when the skill was added.
	CreatedAt time.Time `json:"created_at,omitempty"`
}

// Features are a deployment's feature flags, always fully resolved.
type Features struct {
	Memory bool `json:"memory"`
	// Dreaming: when the deployment is idle, a run with trigger dreaming
	// consolidates its memories (DreamingReview: the dream's changes wait
	// for an apply or a discard).
	Dreaming           bool `json:"dreaming"`
	DreamingReview     bool `json:"dreaming_review"`
	Automations        bool `json:"automations"`
	Steering           bool `json:"steering"`
	FilesystemWebhooks bool `json:"filesystem_webhooks"`
}

// DefaultFeatures are the features of a deployment that names none (the
// contract's defaults).
func DefaultFeatures() Features {
	return Features{Memory: true, Automations: true, Steering: true}
}

// Tool permissions.
const (
	PermissionAlwaysAllow = "always_allow"
	PermissionAlwaysAsk   = "always_ask"
)

// ToolSettings are per-tool settings of a deployment.
type ToolSettings struct {
	Enabled    *bool  `json:"enabled,omitempty"`
	Permission string `json:"permission,omitempty"`
}

// DeploymentFilter selects deployments in a list.
type DeploymentFilter struct {
	CustomerID string
	Status     DeploymentStatus
	Page
}

// Page is a list request: at most Limit items after the Cursor (an object ID;
// lists are newest first, so "after" means "older than").
type Page struct {
	Limit  int
	Cursor string
}
