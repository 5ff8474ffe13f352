package herm

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The newer API generation: agents, their sessions and the sessions'
// events (/v1/agents, /v1/sessions). Its JSON is camelCase, except the
// fields of session event payloads and user events, which are snake_case
// as the API has them.

// CamelPage is one page of a list of the newer API generation (agents,
// agent versions, sessions, session events), whose cursor field is
// nextCursor.
type CamelPage[T any] struct {
	Data []T `json:"data"`
	// NextCursor is the cursor of the next page; empty on the last page.
	NextCursor string `json:"nextCursor"`
}

// getCamelPage reads one page of a camelCase list.
func getCamelPage[T any](ctx context.Context, c *Client, path string, q url.Values) (*CamelPage[T], error) {
	var p CamelPage[T]
	if err := c.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// allCamel is all for camelCase lists.
func allCamel[T any](cursor string, page func(cursor string) (*CamelPage[T], error)) iter.Seq2[*T, error] {
	return all(cursor, func(cursor string) (*Page[T], error) {
		p, err := page(cursor)
		if err != nil {
			return nil, err
		}
		return &Page[T]{Data: p.Data, NextCursor: p.NextCursor}, nil
	})
}

// Agent statuses.
const (
	AgentActive   = "active"
	AgentArchived = "archived"
)

// Agent tool entry types.
const (
	ToolsetAgent  = "agent_toolset" // the built-in tools
	ToolsetMCP    = "mcp_toolset"   // one MCP server's tools
	ToolsetCustom = "custom"        // a tool the client answers
)

// Agent is an agent with the definition of one of its versions: the
// current one, except from AgentService.Version and Versions.
type Agent struct {
	ID           string           `json:"id"`
	Name         string           `json:"name"`
	Model        string           `json:"model"`
	Instructions string           `json:"instructions"`
	Tools        []AgentTool      `json:"tools"`
	MCPServers   []AgentMCPServer `json:"mcpServers"`
	Skills       []AgentSkill     `json:"skills"`
	Sandbox      AgentSandbox     `json:"sandbox"`
	// Secrets are ENV_NAME → sec_... references (never values).
	Secrets  map[string]string `json:"secrets"`
	Features AgentFeatures     `json:"features"`
	// ModelSettings is nil for the provider's defaults.
	ModelSettings *AgentModelSettings `json:"modelSettings"`
	Timezone      string              `json:"timezone"` // IANA name; "": UTC
	Metadata      map[string]string   `json:"metadata"`
	// Version is the version this definition is. Every accepted update
	// makes a new one; sessions are pinned to the version current when
	// they were created.
	Version    int        `json:"version"`
	Status     string     `json:"status"` // active or archived
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"` // when this version was made
	ArchivedAt *time.Time `json:"archivedAt"`
}

// AgentTool is one entry of an agent's tools: a toolset (Type
// agent_toolset, the built-in tools; mcp_toolset, the tools of the MCP
// server MCPServerName) with its per-tool settings, or a custom tool (Type
// custom: Name, Description, InputSchema) that the client answers with a
// user.custom_tool_result (CustomToolResult).
type AgentTool struct {
	Type          string `json:"type"`
	MCPServerName string `json:"mcpServerName,omitempty"`
	// DefaultConfig is the settings of every tool of the set that Configs
	// does not name (default: enabled, always_allow).
	DefaultConfig *AgentToolConfig `json:"defaultConfig,omitempty"`
	// Configs are per-tool settings by the tool's name within the set.
	Configs     []AgentToolConfig `json:"configs,omitempty"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	InputSchema json.RawMessage   `json:"input_schema,omitempty"`
}

// AgentToolConfig is the settings of a tool of a toolset (Configs), or of
// every tool of the set (DefaultConfig, without Name).
type AgentToolConfig struct {
	Name             string            `json:"name,omitempty"`
	Enabled          *bool             `json:"enabled,omitempty"`
	PermissionPolicy *PermissionPolicy `json:"permissionPolicy,omitempty"`
}

// PermissionPolicy says whether a tool runs at once (always_allow) or waits
// for the client's confirmation (always_ask: the session goes idle with
// stop reason requires_action until a user.tool_confirmation).
type PermissionPolicy struct {
	Type string `json:"type"` // PermissionAlwaysAllow or PermissionAlwaysAsk
}

// AgentMCPServer is a remote MCP server of an agent; an mcp_toolset entry
// of its tools names it.
type AgentMCPServer struct {
	Type    string            `json:"type"` // url
	Name    string            `json:"name"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

// AgentSandbox is the sandbox of an agent's workspaces; zero fields are the
// server's defaults.
type AgentSandbox struct {
	Enabled   *bool           `json:"enabled,omitempty"`
	Type      string          `json:"type,omitempty"`
	Resources *AgentResources `json:"resources,omitempty"`
	Network   *AgentNetwork   `json:"network,omitempty"`
}

// AgentResources are an agent's sandbox limits; zero fields are the
// server's defaults.
type AgentResources struct {
	CPU      float64 `json:"cpu,omitempty"`
	MemoryMB int     `json:"memoryMb,omitempty"`
	DiskMB   int     `json:"diskMb,omitempty"`
	PIDs     int     `json:"pids,omitempty"`
}

// AgentNetwork is an agent's sandbox outbound network policy.
type AgentNetwork struct {
	Egress       string   `json:"egress,omitempty"` // none, proxy (default) or open
	AllowedHosts []string `json:"allowedHosts,omitempty"`
}

// AgentFeatures are an agent's feature flags.
type AgentFeatures struct {
	Memory             bool `json:"memory"`
	FilesystemWebhooks bool `json:"filesystemWebhooks"`
	Dreaming           bool `json:"dreaming"`
}

// AgentModelSettings are an agent's settings of its model calls; zero
// fields are the provider's defaults.
type AgentModelSettings struct {
	Temperature    *float64        `json:"temperature,omitempty"`
	MaxTokens      int             `json:"maxTokens,omitempty"`
	Reasoning      *AgentReasoning `json:"reasoning,omitempty"`
	FallbackModels []string        `json:"fallbackModels,omitempty"`
}

// AgentReasoning is a reasoning effort (low, medium, high) and/or an
// extended thinking budget.
type AgentReasoning struct {
	Effort       string `json:"effort,omitempty"`
	BudgetTokens int    `json:"budgetTokens,omitempty"`
}

// AgentCreateParams is an agent to create (its version 1). Name and Model
// are required; zero values of the others are the server's defaults.
type AgentCreateParams struct {
	Name          string              `json:"name"`
	Model         string              `json:"model"`
	Instructions  string              `json:"instructions,omitempty"`
	Tools         []AgentTool         `json:"tools,omitempty"`
	MCPServers    []AgentMCPServer    `json:"mcpServers,omitempty"`
	Skills        []AgentSkill        `json:"skills,omitempty"`
	Sandbox       *AgentSandbox       `json:"sandbox,omitempty"`
	Secrets       map[string]string   `json:"secrets,omitempty"`
	Features      map[string]bool     `json:"features,omitempty"` // memory, filesystemWebhooks
	ModelSettings *AgentModelSettings `json:"modelSettings,omitempty"`
	Timezone      string              `json:"timezone,omitempty"` // IANA name; "": UTC
	Metadata      map[string]string   `json:"metadata,omitempty"`
}

// AgentUpdateParams is a change to an agent, which makes a new version:
// nil fields stay. Name, Model, Instructions, Sandbox and ModelSettings
// replace; Tools, MCPServers and Skills replace the whole list (a pointer
// to an empty list clears it); Secrets, Features and Metadata merge per
// key, and a nil value removes its key (a feature goes back to its
// default).
type AgentUpdateParams struct {
	Name          *string             `json:"name,omitempty"`
	Model         *string             `json:"model,omitempty"`
	Instructions  *string             `json:"instructions,omitempty"`
	Tools         *[]AgentTool        `json:"tools,omitempty"`
	MCPServers    *[]AgentMCPServer   `json:"mcpServers,omitempty"`
	Skills        *[]AgentSkill       `json:"skills,omitempty"`
	Sandbox       *AgentSandbox       `json:"sandbox,omitempty"`
	Secrets       map[string]*string  `json:"secrets,omitempty"`
	Features      map[string]*bool    `json:"features,omitempty"`
	ModelSettings *AgentModelSettings `json:"modelSettings,omitempty"`
	Timezone      *string             `json:"timezone,omitempty"` // IANA name; "" or "UTC": UTC
	Metadata      map[string]*string  `json:"metadata,omitempty"`
	// ClearModelSettings goes back to the provider's defaults
	// (modelSettings: null).
	ClearModelSettings bool `json:"-"`
}

// MarshalJSON sends modelSettings null for ClearModelSettings.
func (p AgentUpdateParams) MarshalJSON() ([]byte, error) {
	type plain AgentUpdateParams
	b, err := json.Marshal(plain(p))
	if err != nil || !p.ClearModelSettings {
		return b, err
	}
	if p.ModelSettings != nil {
		return nil, fmt.Errorf("herm: ModelSettings and ClearModelSettings both set")
	}
	return withNull(b, "modelSettings")
}

// AgentListParams filters and pages an agent list.
type AgentListParams struct {
	Status string // only agents in this status: active or archived
	ListParams
}

// AgentService is the Agents API: reusable, versioned agent definitions.
// Agents and sessions need an API key not limited to a customer.
type AgentService struct{ c *Client }

// Create creates an agent: version 1 of its definition.
func (s *AgentService) Create(ctx context.Context, p AgentCreateParams) (*Agent, error) {
	var a Agent
	if err := s.c.do(ctx, http.MethodPost, path("agents"), nil, p, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Get reads an agent with its current version.
func (s *AgentService) Get(ctx context.Context, id string) (*Agent, error) {
	var a Agent
	if err := s.c.do(ctx, http.MethodGet, path("agents", id), nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// List reads one page of agents with their current versions, newest first.
func (s *AgentService) List(ctx context.Context, p AgentListParams) (*CamelPage[Agent], error) {
	q := p.values()
	setIf(q, "status", p.Status)
	return getCamelPage[Agent](ctx, s.c, path("agents"), q)
}

// All iterates over every agent p selects, across pages.
func (s *AgentService) All(ctx context.Context, p AgentListParams) iter.Seq2[*Agent, error] {
	return allCamel(p.Cursor, func(cursor string) (*CamelPage[Agent], error) {
		p.Cursor = cursor
		return s.List(ctx, p)
	})
}

// Update changes an agent: every accepted update is a new version, which
// new sessions get; existing sessions keep theirs. An archived agent is a
// 409 conflict.
func (s *AgentService) Update(ctx context.Context, id string, p AgentUpdateParams) (*Agent, error) {
	var a Agent
	if err := s.c.do(ctx, http.MethodPatch, path("agents", id), nil, p, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Archive archives an agent: its sessions keep working; it takes no new
// sessions and no updates. Archiving twice is a 409 conflict.
func (s *AgentService) Archive(ctx context.Context, id string) (*Agent, error) {
	var a Agent
	if err := s.c.do(ctx, http.MethodPost, path("agents", id, "archive"), nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Version reads one version of an agent: its definition then (its status
// and metadata are the agent's now).
func (s *AgentService) Version(ctx context.Context, id string, version int) (*Agent, error) {
	var a Agent
	if err := s.c.do(ctx, http.MethodGet, path("agents", id, "versions", strconv.Itoa(version)), nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Versions reads one page of an agent's versions, newest first (the
// cursor is a version number).
func (s *AgentService) Versions(ctx context.Context, id string, p ListParams) (*CamelPage[Agent], error) {
	return getCamelPage[Agent](ctx, s.c, path("agents", id, "versions"), p.values())
}

// AllVersions iterates over an agent's versions, newest first, across
// pages.
func (s *AgentService) AllVersions(ctx context.Context, id string, p ListParams) iter.Seq2[*Agent, error] {
	return allCamel(p.Cursor, func(cursor string) (*CamelPage[Agent], error) {
		p.Cursor = cursor
		return s.Versions(ctx, id, p)
	})
}

// AgentSkill is a configured skill of an agent: inline (Content), or
// fetched from URL when the version is made (Content then holds what was
// fetched, in responses).
type AgentSkill struct {
	Name    string `json:"name"`
	Source  string `json:"source"` // inline or url
	Content string `json:"content,omitempty"`
	URL     string `json:"url,omitempty"`
}
