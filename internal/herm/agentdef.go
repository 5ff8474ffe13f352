package herm

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// Agent tool entry types.
const (
	ToolsetAgent  = "agent_toolset"
	ToolsetMCP    = "mcp_toolset"
	ToolsetCustom = "custom"
)

// memoryTool is the built-in memory tool's name: features.memory turns it
// on and off, not the agent_toolset entry (unless a config names it).
const memoryTool = "memory"

// DefaultInstructions are the instructions of an agent that has none.
const DefaultInstructions = "You are a helpful assistant."

// MaxAgentTools is the most entries an agent's tools list has.
const MaxAgentTools = 100

// AgentInput is the body of an agent create or update (the newer API
// generation: camelCase). On update a field not sent stays; name, model,
// instructions, sandbox and modelSettings replace; tools, mcpServers and
// skills replace the whole list; secrets, features and metadata merge per
// key (null removes a key).
type AgentInput struct {
	Name          *string             `null:"no" json:"name,omitempty" doc:"Display name (≤ 200 chars). Required on create."`
	Model         *string             `null:"no" json:"model,omitempty" doc:"provider/model, e.g. anthropic/claude-sonnet-4.5. Required on create."`
	Instructions  *string             `null:"no" json:"instructions,omitempty" doc:"The agent's system instructions (≤ 100,000 chars; absent or empty: \"You are a helpful assistant.\")."`
	Tools         *[]AgentTool        `null:"no" json:"tools,omitempty" doc:"Toolsets and custom tools (≤ 100 entries); replaces the whole list on update. Without an agent_toolset entry the agent has no built-in tools; an MCP server's tools are offered only through the mcp_toolset entry that names it."`
	MCPServers    *[]AgentMCPServer   `null:"no" json:"mcpServers,omitempty" doc:"≤ 20 MCP servers with unique names, each used by exactly one mcp_toolset entry of tools; replaces the whole list on update."`
	Skills        *[]AgentSkill       `null:"no" json:"skills,omitempty" doc:"≤ 20 configured skills with unique names, source inline or url (a url skill is fetched when the version is made and kept as it was then); replaces the whole list on update."`
	Sandbox       *AgentSandbox       `null:"no" json:"sandbox,omitempty" doc:"The sandbox of each user's workspace; replaced whole on update."`
	Secrets       map[string]*string  `json:"secrets,omitempty" doc:"ENV_NAME → sec_... references to secrets without a customer_id (an agent serves many users); merged per key, null removes a key."`
	Features      map[string]*bool    `json:"features,omitempty" doc:"memory (default true), filesystemWebhooks (default false), dreaming (default false: each user's memories are consolidated while idle, applied at once); merged per key, null resets to the default."`
	ModelSettings *AgentModelSettings `json:"modelSettings,omitempty" doc:"Replaced whole on update (null resets to the provider's defaults)."`
	Timezone      *string             `json:"timezone,omitempty" null:"no" doc:"The IANA time zone (e.g. Europe/Paris) in which the agent is told the current date and time; \"\" or absent: UTC."`
	Metadata      map[string]*string  `json:"metadata,omitempty" doc:"≤ 16 string pairs (keys ≤ 40, values ≤ 500 chars); merged per key, null removes."`

	// ClearModelSettings is set when modelSettings is null (update).
	ClearModelSettings bool `json:"-"`
}

// UnmarshalJSON decodes an AgentInput strictly (unknown fields are
// errors) and notes a null modelSettings.
func (in *AgentInput) UnmarshalJSON(b []byte) error {
	type plain AgentInput
	var p plain
	if err := strictJSON(b, &p); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, k := range nullFields("", raw) {
		switch k {
		case "modelsettings":
			p.ClearModelSettings = true
		case "name", "model", "instructions", "tools", "mcpservers", "skills", "sandbox", "timezone":
			return fmt.Errorf("%s cannot be null", k)
		}
	}
	*in = AgentInput(p)
	return nil
}

// AgentTool is one entry of an agent's tools: a toolset (the built-in
// tools, or one MCP server's tools) with its permission policies, or a
// custom tool that the client answers.
type AgentTool struct {
	Type          string            `json:"type" enum:"agent_toolset,mcp_toolset,custom" doc:"agent_toolset: the built-in tools; mcp_toolset: the tools of the MCP server mcpServerName; custom: a tool the client implements (name, description, input_schema), answered with a user.custom_tool_result event."`
	MCPServerName string            `json:"mcpServerName,omitempty" doc:"mcp_toolset: the name of an entry of mcpServers."`
	DefaultConfig *AgentToolConfig  `json:"defaultConfig,omitempty" doc:"Toolsets: the settings of every tool of the set that configs does not name (default: enabled, always_allow; an MCP toolset's tools also default to enabled)."`
	Configs       []AgentToolConfig `json:"configs,omitempty" doc:"Toolsets: per-tool settings by the tool's name within the set (for MCP, the server's own tool name)."`
	Name          string            `json:"name,omitempty" doc:"custom: the model-facing name (1–64 letters, digits, _ or -, without __, not a built-in tool's)."`
	Description   string            `json:"description,omitempty" doc:"custom: what the tool does, for the model (≤ 10,000 chars)."`
	InputSchema   json.RawMessage   `json:"input_schema,omitempty" doc:"custom: the JSON Schema (type object) of the call's input, ≤ 64 KiB; input it refuses goes back to the model as a tool error and never to the client."`
}

// OpenAPIRequired: type.
func (AgentTool) OpenAPIRequired() []string { return []string{"type"} }

// AgentToolConfig is the settings of a tool (configs) or of every tool of a
// set (defaultConfig).
type AgentToolConfig struct {
	Name             string            `json:"name,omitempty" doc:"configs: the tool's name within its set."`
	Enabled          *bool             `json:"enabled,omitempty" doc:"false: the model is not offered the tool (default true)."`
	PermissionPolicy *PermissionPolicy `json:"permissionPolicy,omitempty"`
}

// OpenAPIRequired: none.
func (AgentToolConfig) OpenAPIRequired() []string { return nil }

// PermissionPolicy says whether a tool runs at once (always_allow) or
// waits for the client's confirmation (always_ask: the session goes idle
// with stop_reason requires_action until a user.tool_confirmation).
type PermissionPolicy struct {
	Type string `json:"type" enum:"always_allow,always_ask"`
}

// OpenAPIRequired: type.
func (PermissionPolicy) OpenAPIRequired() []string { return []string{"type"} }

// AgentSkill is a configured skill of an agent: inline, or fetched from a
// URL when the version is made (Content then holds what was fetched).
type AgentSkill struct {
	Name    string `json:"name"`
	Source  string `json:"source" enum:"inline,url"`
	Content string `json:"content,omitempty" doc:"The SKILL.md (inline: required; url: what was fetched, in responses)."`
	URL     string `json:"url,omitempty"`
}

// OpenAPIRequired: name and source.
func (AgentSkill) OpenAPIRequired() []string { return []string{"name", "source"} }

// AgentMCPServer is a remote MCP server of an agent.
type AgentMCPServer struct {
	Type    string            `json:"type" enum:"url" doc:"Only url."`
	Name    string            `json:"name" doc:"^[a-z0-9][a-z0-9_-]{0,31}$, unique within the agent, without \"__\"; its tools are offered as {name}__{tool}."`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty" doc:"Headers sent with each request; values may hold ${ENV_NAME}, filled on the server from the agent's secret of that name (the secret's allowed_hosts must allow the server's host)."`
}

// OpenAPIRequired: type, name and url.
func (AgentMCPServer) OpenAPIRequired() []string { return []string{"type", "name", "url"} }

// AgentSandbox is the sandbox of an agent's workspaces.
type AgentSandbox struct {
	Enabled   *bool           `json:"enabled,omitempty" doc:"Code execution in an isolated sandbox (default true)."`
	Type      string          `json:"type,omitempty" doc:"Sandbox driver; one the server has enabled (default: the server's)."`
	Resources *AgentResources `json:"resources,omitempty"`
	Network   *AgentNetwork   `json:"network,omitempty"`
}

// OpenAPIRequired: none.
func (AgentSandbox) OpenAPIRequired() []string { return nil }

// AgentResources are an agent's sandbox limits (absent: the server's
// defaults).
type AgentResources struct {
	CPU      float64 `json:"cpu,omitempty"`
	MemoryMB int     `json:"memoryMb,omitempty"`
	DiskMB   int     `json:"diskMb,omitempty"`
	PIDs     int     `json:"pids,omitempty"`
}

// OpenAPIRequired: none.
func (AgentResources) OpenAPIRequired() []string { return nil }

// AgentNetwork is an agent's sandbox outbound network policy.
type AgentNetwork struct {
	Egress       string   `json:"egress,omitempty" enum:"none,proxy,open" doc:"Default proxy."`
	AllowedHosts []string `json:"allowedHosts,omitempty"`
}

// OpenAPIRequired: none.
func (AgentNetwork) OpenAPIRequired() []string { return nil }

// AgentModelSettings are an agent's model settings (see ModelSettings).
type AgentModelSettings struct {
	Temperature    *float64        `json:"temperature,omitempty" doc:"Sampling temperature: 0–2 for OpenAI and compatible models, 0–1 for Anthropic's."`
	MaxTokens      int             `json:"maxTokens,omitempty" doc:"Most output tokens per model call."`
	Reasoning      *AgentReasoning `json:"reasoning,omitempty"`
	FallbackModels []string        `json:"fallbackModels,omitempty" doc:"≤ 5 provider/model names tried in order when a model call fails before anything was streamed."`
}

// OpenAPIRequired: none.
func (AgentModelSettings) OpenAPIRequired() []string { return nil }

// AgentReasoning is how much an agent's model thinks before it answers.
type AgentReasoning struct {
	Effort       string `json:"effort,omitempty" enum:"low,medium,high"`
	BudgetTokens int    `json:"budgetTokens,omitempty" doc:"Extended thinking budget in tokens (Anthropic models: ≥ 1024 and below maxTokens)."`
}

// OpenAPIRequired: none.
func (AgentReasoning) OpenAPIRequired() []string { return nil }

// AgentDefinition is one version of an agent as accepted: every field
// resolved (a url skill's content is the one fetched then). It is what
// agent_versions keeps, and what its sessions run with.
type AgentDefinition struct {
	Name          string              `json:"name"`
	Model         string              `json:"model"`
	Instructions  string              `json:"instructions"`
	Tools         []AgentTool         `json:"tools"`
	MCPServers    []AgentMCPServer    `json:"mcpServers"`
	Skills        []AgentSkill        `json:"skills"`
	Sandbox       AgentSandbox        `json:"sandbox"`
	Secrets       map[string]string   `json:"secrets"`
	Features      AgentFeatures       `json:"features"`
	ModelSettings *AgentModelSettings `json:"modelSettings,omitempty"`
	Timezone      string              `json:"timezone,omitempty"`
}

// AgentFeatures are an agent's feature flags, resolved.
type AgentFeatures struct {
	Memory             bool `json:"memory"`
	FilesystemWebhooks bool `json:"filesystemWebhooks"`
	Dreaming           bool `json:"dreaming"`
}

// agentFieldNames turns the deployment fields that validation's messages
// name into an agent's.
var agentFieldNames = strings.NewReplacer(
	"system_prompt", "instructions",
	"mcp_servers", "mcpServers",
	"custom_tools", "tools (custom)",
	"model_settings.", "modelSettings.",
	"model_settings", "modelSettings",
	"max_tokens", "maxTokens",
	"budget_tokens", "budgetTokens",
	"fallback_models", "fallbackModels",
	"allowed_hosts", "allowedHosts",
	"memory_mb", "memoryMb",
	"disk_mb", "diskMb",
	"filesystem_webhooks", "filesystemWebhooks",
	"persistent_filesystem", "persistentFilesystem",
	"customer_id", "userId",
)

// agentError restates a deployment validation error in an agent's terms.
func agentError(err error) error {
	var he *Error
	if e, ok := err.(*Error); ok {
		he = e
	}
	if he == nil {
		return err
	}
	c := *he
	c.Message = agentFieldNames.Replace(c.Message)
	return &c
}

// ApplyAgentInput applies in to def (nil: a new agent) with the merge
// rules, resolves url skills (r.ResolveSkill) and validates the result as
// a deployment would be. It returns the new definition and the metadata
// after the merge (of meta, the agent's current).
func ApplyAgentInput(ctx context.Context, def *AgentDefinition, meta map[string]string, in *AgentInput, r Rules) (*AgentDefinition, map[string]string, error) {
	create := def == nil
	var d AgentDefinition
	if create {
		if in.Name == nil {
			return nil, nil, invalid("name is required")
		}
		if in.Model == nil {
			return nil, nil, invalid("model is required")
		}
		d = AgentDefinition{Features: AgentFeatures{Memory: true}, Secrets: map[string]string{}}
	} else {
		d = def.clone()
	}
	if in.Name != nil {
		d.Name = *in.Name
	}
	if in.Model != nil {
		d.Model = *in.Model
	}
	if in.Instructions != nil {
		d.Instructions = *in.Instructions
	}
	if in.Tools != nil {
		d.Tools = slices.Clone(*in.Tools)
	}
	if in.MCPServers != nil {
		d.MCPServers = slices.Clone(*in.MCPServers)
	}
	if in.Sandbox != nil {
		d.Sandbox = *in.Sandbox
	}
	if in.Timezone != nil {
		tz, err := CheckTimezone("timezone", *in.Timezone)
		if err != nil {
			return nil, nil, err
		}
		d.Timezone = tz
	}
	if in.ModelSettings != nil {
		ms := *in.ModelSettings
		d.ModelSettings = &ms
	} else if in.ClearModelSettings {
		d.ModelSettings = nil
	}
	for k, v := range in.Secrets {
		if v == nil {
			delete(d.Secrets, k)
		} else {
			d.Secrets[k] = *v
		}
	}
	for k, v := range in.Features {
		switch k {
		case "memory":
			d.Features.Memory = v == nil || *v
		case "filesystemWebhooks":
			d.Features.FilesystemWebhooks = v != nil && *v
		case "dreaming":
			d.Features.Dreaming = v != nil && *v
		case "dreamingReview":
			if v != nil && *v {
				return nil, nil, invalid("features.dreamingReview is not available to agents yet (sessions have no dreams API to review them): their dreams apply at once")
			}
		case "automations", "steering":
			return nil, nil, invalid("features.%s is not a feature of agents (sessions have no automations; always_ask permission policies pause for a user.tool_confirmation)", k)
		default:
			return nil, nil, invalid("features.%s is not a feature of agents (memory, filesystemWebhooks, dreaming)", k)
		}
	}
	newMeta := maps.Clone(meta)
	if newMeta == nil {
		newMeta = map[string]string{}
	}
	for k, v := range in.Metadata {
		if v == nil {
			delete(newMeta, k)
		} else {
			newMeta[k] = *v
		}
	}
	if err := CheckMetadata(newMeta); err != nil {
		return nil, nil, err
	}
	if in.Skills != nil {
		d.Skills = make([]AgentSkill, len(*in.Skills))
		for i, s := range *in.Skills {
			field := fmt.Sprintf("skills[%d]", i)
			switch s.Source {
			case SkillInline:
			case SkillURL:
				if r.ResolveSkill != nil && s.URL != "" {
					got, err := r.ResolveSkill(ctx, Skill{Name: s.Name, Source: s.Source, URL: s.URL}, nil)
					if err != nil {
						return nil, nil, err
					}
					s.Content = got.Content
				}
			case SkillFile:
				return nil, nil, invalid("%s.source file is not available for agents (each user's workspace starts empty); use inline or url", field)
			}
			d.Skills[i] = s
		}
	}
	if len(d.Tools) > MaxAgentTools {
		return nil, nil, invalid("tools can hold at most %d entries", MaxAgentTools)
	}
	if err := d.checkTools(); err != nil {
		return nil, nil, err
	}
	// Validate as the deployment every user's sessions will run on.
	if _, err := NewDeployment(ctx, d.DeploymentInput("agent-validation", r.Tools), r); err != nil {
		return nil, nil, agentError(err)
	}
	return &d, newMeta, nil
}

// checkTools checks what DeploymentInput cannot: the toolset entries'
// forms and their links with mcpServers.
func (d *AgentDefinition) checkTools() error {
	servers := map[string]bool{}
	for i, s := range d.MCPServers {
		switch {
		case s.Type == "":
			return invalid("mcpServers[%d].type is required (url)", i)
		case s.Type != "url":
			return invalid("mcpServers[%d].type must be url", i)
		case s.Name == "":
			return invalid("mcpServers[%d].name is required", i)
		case s.URL == "":
			return invalid("mcpServers[%d].url is required", i)
		}
		servers[s.Name] = false
	}
	agentSets := 0
	for i, t := range d.Tools {
		field := fmt.Sprintf("tools[%d]", i)
		switch t.Type {
		case ToolsetAgent, ToolsetMCP, ToolsetCustom:
		case "":
			return invalid("%s.type is required (agent_toolset, mcp_toolset or custom)", field)
		default:
			return invalid("%s.type must be agent_toolset, mcp_toolset or custom", field)
		}
		isSet := t.Type == ToolsetAgent || t.Type == ToolsetMCP
		if isSet && (t.Name != "" || t.Description != "" || len(t.InputSchema) > 0) {
			return invalid("%s: name, description and input_schema belong to custom tools, not to a %s", field, t.Type)
		}
		if !isSet && (t.DefaultConfig != nil || len(t.Configs) > 0 || t.MCPServerName != "") {
			return invalid("%s: defaultConfig, configs and mcpServerName belong to toolsets, not to a custom tool", field)
		}
		if t.Type != ToolsetMCP && t.MCPServerName != "" {
			return invalid("%s.mcpServerName belongs to an mcp_toolset", field)
		}
		switch t.Type {
		case ToolsetAgent:
			agentSets++
		case ToolsetMCP:
			used, ok := servers[t.MCPServerName]
			switch {
			case t.MCPServerName == "":
				return invalid("%s.mcpServerName is required", field)
			case !ok:
				return invalid("%s.mcpServerName %q is not the name of an entry of mcpServers", field, t.MCPServerName)
			case used:
				return invalid("%s: the MCP server %q has another mcp_toolset entry already", field, t.MCPServerName)
			}
			servers[t.MCPServerName] = true
		}
		if isSet {
			checkPolicy := func(at string, p *PermissionPolicy) error {
				if p != nil && p.Type != PermissionAlwaysAllow && p.Type != PermissionAlwaysAsk {
					return invalid("%s.permissionPolicy.type must be always_allow or always_ask", at)
				}
				return nil
			}
			if c := t.DefaultConfig; c != nil {
				if c.Name != "" {
					return invalid("%s.defaultConfig has no name (it is every tool's)", field)
				}
				if err := checkPolicy(field+".defaultConfig", c.PermissionPolicy); err != nil {
					return err
				}
			}
			seen := map[string]bool{}
			for j, c := range t.Configs {
				if err := checkPolicy(fmt.Sprintf("%s.configs[%d]", field, j), c.PermissionPolicy); err != nil {
					return err
				}
				if c.Name == "" {
					return invalid("%s.configs[%d].name is required", field, j)
				}
				if seen[c.Name] {
					return invalid("%s.configs names %q twice", field, c.Name)
				}
				seen[c.Name] = true
			}
		}
	}
	if agentSets > 1 {
		return invalid("tools has more than one agent_toolset entry")
	}
	for name, used := range servers {
		if !used {
			return invalid("the MCP server %q has no mcp_toolset entry in tools: add {\"type\": \"mcp_toolset\", \"mcpServerName\": %q}", name, name)
		}
	}
	return nil
}

// DeploymentInput is the configuration of the hidden deployment that runs
// the definition's sessions for a user (customerID: what its MCP servers
// are told). builtins names the server's built-in tools (nil: none known).
func (d *AgentDefinition) DeploymentInput(customerID string, builtins ToolNames) *DeploymentInput {
	in := &DeploymentInput{
		CustomerID:   &customerID,
		Name:         ptr(clipRunes(d.Name, MaxName)),
		SystemPrompt: ptr(cmp.Or(d.Instructions, DefaultInstructions)),
		Model:        ptr(d.Model),
		Secrets:      map[string]*string{},
		Features: map[string]*bool{
			"memory": ptr(d.Features.Memory), "filesystem_webhooks": ptr(d.Features.FilesystemWebhooks), "dreaming": ptr(d.Features.Dreaming),
			// Approvals (always_ask) need steering; sessions have no
			// automations, and no way to answer ask_human's questions
			// (it is disabled below).
			"steering": ptr(true), "automations": ptr(false),
		},
		Tools:    map[string]*ToolSettings{},
		Timezone: ptr(d.Timezone),
	}
	sb := &SandboxInput{Enabled: d.Sandbox.Enabled}
	if d.Sandbox.Type != "" {
		sb.Type = ptr(d.Sandbox.Type)
	}
	if r := d.Sandbox.Resources; r != nil {
		sb.Resources = &Resources{CPU: r.CPU, MemoryMB: r.MemoryMB, DiskMB: r.DiskMB, PIDs: r.PIDs}
	}
	if n := d.Sandbox.Network; n != nil {
		sb.Network = &Network{Egress: n.Egress, AllowedHosts: slices.Clone(n.AllowedHosts)}
		if sb.Network.Egress == "" {
			sb.Network.Egress = EgressProxy
		}
	}
	in.Sandbox = sb
	for k, v := range d.Secrets {
		in.Secrets[k] = ptr(v)
	}
	servers := make([]MCPServer, 0, len(d.MCPServers))
	for _, s := range d.MCPServers {
		servers = append(servers, MCPServer{Name: s.Name, URL: s.URL, Headers: maps.Clone(s.Headers)})
	}
	skills := make([]SkillInput, 0, len(d.Skills))
	for _, s := range d.Skills {
		in := SkillInput{Name: s.Name, Source: s.Source, Content: s.Content, URL: s.URL}
		if s.Source == SkillURL && s.Content != "" {
			// As fetched when the version was made.
			in = SkillInput{Name: s.Name, Source: SkillInline, Content: s.Content}
		}
		skills = append(skills, in)
	}
	in.Skills = &skills
	var custom []CustomTool
	hasAgentSet := false
	for _, t := range d.Tools {
		switch t.Type {
		case ToolsetCustom:
			custom = append(custom, CustomTool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema})
		case ToolsetAgent:
			hasAgentSet = true
			def := t.DefaultConfig
			named := map[string]AgentToolConfig{}
			for _, c := range t.Configs {
				named[c.Name] = c
			}
			if builtins != nil {
				for _, name := range builtins.BuiltinTools() {
					c, ok := named[name]
					if !ok && name == memoryTool {
						continue // features.memory's
					}
					if !ok && def != nil {
						c = *def
					}
					if st := c.settings(); st != nil {
						in.Tools[name] = st
					}
				}
			}
			// A config naming a tool this server does not have is kept,
			// for validation to say so.
			for name, c := range named {
				if _, done := in.Tools[name]; !done {
					in.Tools[name] = c.settings()
					if in.Tools[name] == nil {
						in.Tools[name] = &ToolSettings{}
					}
				}
			}
		case ToolsetMCP:
			for i := range servers {
				if servers[i].Name != t.MCPServerName {
					continue
				}
				if t.DefaultConfig != nil {
					if p := t.DefaultConfig.PermissionPolicy; p != nil {
						servers[i].Permission = p.Type
					}
					if e := t.DefaultConfig.Enabled; e != nil && !*e {
						// Only the tools configs enable.
						servers[i].Tools = []string{}
						for _, c := range t.Configs {
							if c.Enabled != nil && *c.Enabled {
								servers[i].Tools = append(servers[i].Tools, c.Name)
							}
						}
						if len(servers[i].Tools) == 0 {
							servers[i].Tools = nil
						}
					}
				}
				for _, c := range t.Configs {
					if st := c.settings(); st != nil {
						in.Tools[t.MCPServerName+"__"+c.Name] = st
					}
				}
			}
		}
	}
	if !hasAgentSet && builtins != nil {
		for _, name := range builtins.BuiltinTools() {
			if name == memoryTool {
				continue // features.memory's
			}
			in.Tools[name] = &ToolSettings{Enabled: ptr(false)}
		}
	}
	// Sessions cannot answer ask_human's questions: the agent asks in its
	// answer instead.
	in.Tools["ask_human"] = &ToolSettings{Enabled: ptr(false)}
	in.MCPServers = &servers
	in.CustomTools = &custom
	if ms := d.ModelSettings; ms != nil {
		msi := &ModelSettingsInput{Temperature: ms.Temperature}
		if ms.MaxTokens != 0 {
			msi.MaxTokens = ptr(ms.MaxTokens)
		}
		if ms.Reasoning != nil {
			msi.Reasoning = &Reasoning{Effort: ms.Reasoning.Effort, BudgetTokens: ms.Reasoning.BudgetTokens}
		}
		if ms.FallbackModels != nil {
			fb := slices.Clone(ms.FallbackModels)
			msi.FallbackModels = &fb
		}
		in.ModelSettings = msi
	}
	return in
}

// settings is a tool config as a deployment's tool settings (nil: none).
func (c AgentToolConfig) settings() *ToolSettings {
	if c.Enabled == nil && c.PermissionPolicy == nil {
		return nil
	}
	st := &ToolSettings{Enabled: c.Enabled}
	if c.PermissionPolicy != nil {
		st.Permission = c.PermissionPolicy.Type
	}
	return st
}

func (d AgentDefinition) clone() AgentDefinition {
	c := d
	c.Tools = slices.Clone(d.Tools)
	c.MCPServers = slices.Clone(d.MCPServers)
	c.Skills = slices.Clone(d.Skills)
	c.Secrets = maps.Clone(d.Secrets)
	if c.Secrets == nil {
		c.Secrets = map[string]string{}
	}
	if d.ModelSettings != nil {
		ms := *d.ModelSettings
		c.ModelSettings = &ms
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// clipRunes cuts s to at most n runes.
func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// CheckMetadata checks a metadata map against the contract's limits.
func CheckMetadata(m map[string]string) error {
	if len(m) > MaxMetadata {
		return invalid("metadata can hold at most %d keys", MaxMetadata)
	}
	for _, k := range sortedKeys(m) {
		if k == "" || utf8.RuneCountInString(k) > MaxMetadataKey {
			return invalid("metadata keys must be 1 to %d characters", MaxMetadataKey)
		}
		if utf8.RuneCountInString(m[k]) > MaxMetadataVal {
			return invalid("metadata.%s must be at most %d characters", k, MaxMetadataVal)
		}
	}
	return nil
}

// strictJSON decodes b into v, unknown fields being errors.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
