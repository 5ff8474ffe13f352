package herm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the contract.
const (
	MaxCustomerID   = 255
	MaxName         = 200
	MaxSystemPrompt = 100_000
	MaxContent      = 100_000
	MaxAttachments  = 10
	MaxMCPServers   = 20
	MaxSkills       = 20
	MaxMetadata     = 16
	MaxMetadataKey  = 40
	MaxMetadataVal  = 500
	MaxThreadTitle  = 200
	MaxAllowedHosts = 100
)

// RuntimeHermes is the only runtime.
const RuntimeHermes = "hermes"

// Unavailable names the contract's features this server does not have yet:
// asking for them is an error that says so, never a setting that silently
// does nothing. (The tools it lacks are the tool catalog's to say:
// ToolNames.)
func Unavailable(name string) (string, bool) {
	return "", false
}

// ToolNames answers validation's questions about the names in a
// deployment's tools settings. The server's tool catalog (tools.Catalog)
// implements it.
type ToolNames interface {
	// BuiltinTools lists the names of the built-in tools.
	BuiltinTools() []string
	// UnavailableTool describes a built-in tool of the contract this server
	// does not have (settings may only disable it).
	UnavailableTool(name string) (string, bool)
}

var (
	reMCPName    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	reToolName   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`) // a built-in tool's form
	reSkillName  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	reEnvName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	reHeaderName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
	reHost       = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// HeaderPlaceholder is ${ENV_NAME} in an MCP server's header values,
	// filled on the host from the deployment's secret of that name.
	HeaderPlaceholder = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}`)
)

// Rules are the server's settings that validation depends on.
type Rules struct {
	// DefaultModel is used when a deployment names none.
	DefaultModel string
	// KnownProvider reports whether a model provider is configured.
	KnownProvider func(provider string) bool
	// Providers lists the configured providers, for error messages.
	Providers []string
	// SandboxTypes are the enabled sandbox drivers; DefaultSandbox is one.
	SandboxTypes   []string
	DefaultSandbox string
	// CheckSecretRef reports whether a deployment of a customer may
	// reference a secret (an EInvalidSecretRef error when not). ctx carries
	// the caller (see WithKeyCustomer): a customer's key may reference only
	// that customer's own secrets.
	CheckSecretRef func(ctx context.Context, secretID, customerID string) error
	// SecretHosts returns a secret's allowed_hosts, the only hosts an MCP
	// header that uses it may be sent to (nil func: not checked).
	SecretHosts func(ctx context.Context, secretID string) ([]string, error)
	// CheckSnapshot reports whether a workspace snapshot can be restored
	// into a new deployment of a customer (nil: snapshots not supported).
	CheckSnapshot func(snapshotID, customerID string) error
	// AllowOpenEgress lets deployments use sandbox.network.egress "open".
	AllowOpenEgress bool
	// AllowPrivateNetworks lets MCP and skill URLs use http and private hosts.
	AllowPrivateNetworks bool
	// CheckURL reports why the server may not connect to a URL's host
	// (the network guard: a literal or resolved address that is private,
	// the server's own host, a metadata service, ...); nil: it may. Its
	// message follows the field's name in a validation_error. Used for MCP
	// server, skill and attachment URLs; nil func: not checked.
	CheckURL func(ctx context.Context, rawURL string) error
	// ResolveSkill checks a configured skill's SKILL.md (fetching a url
	// skill's, reading a file skill's from the workspace of d when it has
	// one) and returns the skill with the content to store (an
	// EInvalidSkill error naming the problem otherwise); nil: not checked.
	ResolveSkill func(ctx context.Context, s Skill, d *Deployment) (Skill, error)
	// NewSkillID makes skill IDs.
	NewSkillID func() string
	// Now is the time of new skills (nil: time.Now).
	Now func() time.Time
	// CheckModelSettings reports why a model (provider/model) cannot take
	// model settings: a sentence for the caller (nil func: not checked).
	CheckModelSettings func(model string, s ModelSettings) error
	// Tools says which built-in tools there are (nil: the tools settings'
	// names are checked for their form only).
	Tools ToolNames
}

// DeploymentInput is the body of a deployment create or update. Pointers and
// maps of pointers tell "absent" from "null" from a value.
type DeploymentInput struct {
	CustomerID        *string                  `json:"customer_id,omitempty" doc:"Your id for the customer (≤ 255 chars); forwarded to MCP servers. Required on create, immutable."`
	Name              *string                  `json:"name,omitempty" doc:"Display name (≤ 200 chars). Required on create."`
	SystemPrompt      *string                  `json:"system_prompt,omitempty" doc:"The agent's instructions (≤ 100,000 chars). Required on create."`
	Runtime           *string                  `json:"runtime,omitempty" enum:"hermes" doc:"Agent runtime; only hermes. Immutable."`
	Model             *string                  `json:"model,omitempty" doc:"provider/model, e.g. anthropic/claude-sonnet-4.5; default: the server's default model."`
	Sandbox           *SandboxInput            `json:"sandbox,omitempty"`
	MCPServers        *[]MCPServer             `json:"mcp_servers,omitempty" doc:"≤ 20 servers with unique names; replaces the whole list on update."`
	Skills            *[]SkillInput            `json:"skills,omitempty" doc:"≤ 20 skills with unique names; replaces the whole list on update."`
	Secrets           map[string]*string       `json:"secrets,omitempty" doc:"ENV_NAME → sec_... references; on update merged per key, null removes a key."`
	Features          map[string]*bool         `json:"features,omitempty" doc:"memory, dreaming, dreaming_review, automations, steering, filesystem_webhooks; merged per key, null resets to the default."`
	Tools             map[string]*ToolSettings `json:"tools,omitempty" doc:"Per-tool settings by model-facing tool name; merged per tool and field (a setting not sent stays), null removes the tool's settings."`
	CustomTools       *[]CustomTool            `json:"custom_tools,omitempty" doc:"≤ 64 tools the client implements, with unique names; replaces the whole list on update ([] clears). When the model calls one the run waits (status waiting_on_human, stop_reason requires_action, the run's required_action lists the calls) until the client posts their outputs to POST /v1/deployments/{deployment_id}/runs/{run_id}/tool_outputs."`
	Metadata          map[string]*string       `json:"metadata,omitempty" doc:"≤ 16 string pairs (keys ≤ 40, values ≤ 500 chars); merged per key, null removes."`
	ModelSettings     *ModelSettingsInput      `json:"model_settings,omitempty"`
	Timezone          *string                  `json:"timezone,omitempty" doc:"The IANA time zone (e.g. Europe/Paris) in which the agent is told the current date and time at the start of each run; \"\" or absent: UTC."`
	BudgetUSD         *float64                 `json:"budget_usd,omitempty" doc:"Spending cap for model usage in USD (0 or more; a PATCH replaces it, null removes it). When the deployment's runs have cost this much, new runs get 402 insufficient_credits and a running one stops before its next model call."`
	RestoreSnapshotID *string                  `json:"restore_snapshot_id,omitempty" doc:"Create only: start the workspace from a snapshot kept by a delete with retain_filesystem=true (of the same customer_id, not expired)."`
	// IfConfigVersion makes an update apply only to this configuration
	// version (EConflict otherwise): for callers that built the input from
	// the version they read (the skills and MCP server APIs). Not part of
	// the wire format.
	IfConfigVersion int `json:"-"`
	// NullFields are the fields the request set to null (set by
	// UnmarshalJSON; top level, and sandbox's with its network and
	// resources, as "sandbox.network"): budget_usd null removes the cap; on
	// update any other is refused (on create, null is the same as absent).
	NullFields []string `json:"-"`
}

// nullFields lists the keys of obj whose value is null, lowercased (field
// names match case-insensitively) and prefixed.
func nullFields(prefix string, obj map[string]json.RawMessage) []string {
	var out []string
	for _, k := range sortedKeys(obj) {
		if string(bytes.TrimSpace(obj[k])) == "null" {
			out = append(out, prefix+strings.ToLower(k))
		}
	}
	return out
}

// UnmarshalJSON decodes a DeploymentInput strictly (unknown fields are
// errors) and notes which fields are null, which a pointer alone cannot
// tell from absent ones.
func (in *DeploymentInput) UnmarshalJSON(b []byte) error {
	type plain DeploymentInput
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.NullFields = nullFields("", raw)
	// One level into sandbox, and into its network and resources; one
	// into model_settings.
	for k, v := range raw {
		if strings.EqualFold(k, "model_settings") {
			var ms map[string]json.RawMessage
			if json.Unmarshal(v, &ms) == nil {
				p.NullFields = append(p.NullFields, nullFields("model_settings.", ms)...)
			}
		}
		if !strings.EqualFold(k, "sandbox") {
			continue
		}
		var sb map[string]json.RawMessage
		if json.Unmarshal(v, &sb) == nil {
			p.NullFields = append(p.NullFields, nullFields("sandbox.", sb)...)
			for k2, v2 := range sb {
				var inner map[string]json.RawMessage
				if (strings.EqualFold(k2, "network") || strings.EqualFold(k2, "resources")) && json.Unmarshal(v2, &inner) == nil {
					p.NullFields = append(p.NullFields, nullFields("sandbox."+strings.ToLower(k2)+".", inner)...)
				}
			}
		}
	}
	*in = DeploymentInput(p)
	return nil
}

// SandboxInput is the sandbox part of a DeploymentInput.
type SandboxInput struct {
	Enabled              *bool      `json:"enabled,omitempty" doc:"Code execution in an isolated sandbox (default true)."`
	Type                 *string    `json:"type,omitempty" doc:"Sandbox driver; one the server has enabled (see the error message). Immutable."`
	PersistentFilesystem *bool      `json:"persistent_filesystem,omitempty" doc:"Keep the workspace across runs (default true; false is not available on this server yet and is refused)."`
	Resources            *Resources `json:"resources,omitempty"`
	Network              *Network   `json:"network,omitempty"`
}

// ModelSettingsInput is the model_settings part of a DeploymentInput. On
// update it merges per key: a key not sent stays, null resets it to the
// default; reasoning and fallback_models are replaced whole.
type ModelSettingsInput struct {
	Temperature    *float64   `json:"temperature,omitempty" doc:"Sampling temperature: 0–2 for OpenAI and compatible models, 0–1 for Anthropic's (and none but 1 with extended thinking)."`
	MaxTokens      *int       `json:"max_tokens,omitempty" doc:"Most output tokens per model call (1 or more, up to the model's limit where the server knows it)."`
	Reasoning      *Reasoning `json:"reasoning,omitempty"`
	FallbackModels *[]string  `json:"fallback_models,omitempty" doc:"≤ 5 provider/model names tried in order when a model call fails before anything was streamed (connection failure, 5xx, 429 or overload after retries); never after output was streamed. [] clears."`
}

// MaxFallbackModels is the most fallback_models a deployment has.
const MaxFallbackModels = 5

// applyModelSettings merges in into s and validates the result for the
// deployment's model and its fallbacks.
func applyModelSettings(s *ModelSettings, model string, in *ModelSettingsInput, nulls []string, r Rules) error {
	for _, k := range nulls {
		switch k {
		case "model_settings":
			*s = ModelSettings{}
		case "model_settings.temperature":
			s.Temperature = nil
		case "model_settings.max_tokens":
			s.MaxTokens = 0
		case "model_settings.reasoning":
			s.Reasoning = nil
		case "model_settings.fallback_models":
			s.FallbackModels = nil
		}
	}
	if in != nil {
		if t := in.Temperature; t != nil {
			if *t < 0 || *t > 2 || math.IsNaN(*t) {
				return invalid("model_settings.temperature must be from 0 to 2 (got %g)", *t)
			}
			v := *t
			s.Temperature = &v
		}
		if in.MaxTokens != nil {
			if *in.MaxTokens < 1 || *in.MaxTokens > 1_000_000 {
				return invalid("model_settings.max_tokens must be from 1 to 1000000 (got %d)", *in.MaxTokens)
			}
			s.MaxTokens = *in.MaxTokens
		}
		if rs := in.Reasoning; rs != nil {
			switch rs.Effort {
			case "", "low", "medium", "high":
			default:
				return invalid("model_settings.reasoning.effort must be low, medium or high (got %q)", rs.Effort)
			}
			if rs.BudgetTokens < 0 {
				return invalid("model_settings.reasoning.budget_tokens must be positive (got %d)", rs.BudgetTokens)
			}
			if rs.Effort == "" && rs.BudgetTokens == 0 {
				return invalid("model_settings.reasoning needs effort or budget_tokens (null turns reasoning off)")
			}
			v := *rs
			s.Reasoning = &v
		}
		if in.FallbackModels != nil {
			list := slices.Clone(*in.FallbackModels)
			if len(list) > MaxFallbackModels {
				return invalid("model_settings.fallback_models: at most %d models (got %d)", MaxFallbackModels, len(list))
			}
			s.FallbackModels = nil
			if len(list) > 0 {
				s.FallbackModels = list
			}
		}
	}
	for i, m := range s.FallbackModels {
		if err := checkModel(m, r); err != nil {
			return invalid("model_settings.fallback_models[%d]: %s", i, ErrorMessage(err))
		}
		if m == model || slices.Index(s.FallbackModels, m) < i {
			return invalid("model_settings.fallback_models[%d]: %q is the model or an earlier fallback", i, m)
		}
	}
	if r.CheckModelSettings != nil {
		for _, m := range append([]string{model}, s.FallbackModels...) {
			if err := r.CheckModelSettings(m, *s); err != nil {
				return invalid("model_settings: %s: %s", m, err.Error())
			}
		}
	}
	return nil
}

// SkillInput is a skill in a DeploymentInput.
type SkillInput struct {
	Name    string `json:"name"`
	Source  string `json:"source" enum:"file,inline,url"`
	Path    string `json:"path,omitempty"`
	Content string `json:"content,omitempty"`
	URL     string `json:"url,omitempty"`
	// SkillID keeps a skill's ID when it is replaced under another name
	// (the skills API's PUT); not part of the wire format.
	SkillID string `json:"-"`
	// Keep takes the skill as stored in the deployment (with SkillID), not
	// checked or fetched again (the skills API's changes to other skills).
	Keep bool `json:"-"`
}

func invalid(format string, args ...any) *Error { return Errorf(EInvalid, format, args...) }

// NewDeployment validates a create request and returns the deployment it
// describes, with every default resolved (ID, thread, times and status are
// left to the caller).
func NewDeployment(ctx context.Context, in *DeploymentInput, r Rules) (*Deployment, error) {
	if in.CustomerID == nil {
		return nil, invalid("customer_id is required")
	}
	if in.Name == nil {
		return nil, invalid("name is required")
	}
	if in.SystemPrompt == nil {
		return nil, invalid("system_prompt is required")
	}
	d := &Deployment{
		Runtime:  RuntimeHermes,
		Model:    r.DefaultModel,
		Sandbox:  Sandbox{Enabled: true, Type: r.DefaultSandbox, PersistentFilesystem: true, Network: Network{Egress: EgressProxy, AllowedHosts: []string{}}},
		Features: DefaultFeatures(),
		Secrets:  map[string]string{},
		Tools:    map[string]ToolSettings{},
		Metadata: map[string]string{},
	}
	if err := apply(ctx, d, in, r, true); err != nil {
		return nil, err
	}
	return d, nil
}

// ApplyUpdate validates an update request and applies it to d with the
// contract's merge rules. d is unchanged when an error is returned.
func ApplyUpdate(ctx context.Context, d *Deployment, in *DeploymentInput, r Rules) (*Deployment, error) {
	c := d.Clone()
	if in.CustomerID != nil && *in.CustomerID != d.CustomerID {
		return nil, invalid("customer_id is immutable")
	}
	if in.Runtime != nil && *in.Runtime != d.Runtime {
		return nil, invalid("runtime is immutable")
	}
	if in.Sandbox != nil && in.Sandbox.Type != nil && *in.Sandbox.Type != d.Sandbox.Type {
		return nil, invalid("sandbox.type is immutable (it is %q)", d.Sandbox.Type)
	}
	if err := apply(ctx, c, in, r, false); err != nil {
		return nil, err
	}
	return c, nil
}

// Clone returns a deep copy of d.
func (d *Deployment) Clone() *Deployment {
	c := *d
	c.Sandbox.Network.AllowedHosts = slices.Clone(d.Sandbox.Network.AllowedHosts)
	c.MCPServers = slices.Clone(d.MCPServers)
	for i := range c.MCPServers {
		c.MCPServers[i].Tools = slices.Clone(c.MCPServers[i].Tools)
		c.MCPServers[i].Headers = maps.Clone(c.MCPServers[i].Headers)
	}
	c.Skills = slices.Clone(d.Skills)
	c.Secrets = maps.Clone(d.Secrets)
	c.Tools = maps.Clone(d.Tools)
	c.CustomTools = slices.Clone(d.CustomTools)
	c.Metadata = maps.Clone(d.Metadata)
	c.ModelSettings = d.ModelSettings.Clone()
	if d.Error != nil {
		e := *d.Error
		c.Error = &e
	}
	return &c
}

func apply(ctx context.Context, d *Deployment, in *DeploymentInput, r Rules, create bool) error {
	var msNulls []string
	for _, k := range in.NullFields {
		switch {
		case k == "budget_usd":
			d.BudgetUSD = nil // no cap
		case k == "model_settings" || strings.HasPrefix(k, "model_settings."):
			msNulls = append(msNulls, k)
		case !create: // on create, null is as good as absent
			return invalid("%s cannot be null (omit it to leave it as it is)", k)
		}
	}
	if in.Timezone != nil {
		tz, err := CheckTimezone("timezone", *in.Timezone)
		if err != nil {
			return err
		}
		d.Timezone = tz
	}
	if in.BudgetUSD != nil {
		b := *in.BudgetUSD
		if b < 0 || math.IsNaN(b) || math.IsInf(b, 0) || b > 1e9 {
			return invalid("budget_usd must be a number from 0 to 1e9")
		}
		d.BudgetUSD = &b
	}
	if in.RestoreSnapshotID != nil {
		switch {
		case !create:
			return invalid("restore_snapshot_id: only when creating a deployment")
		case r.CheckSnapshot == nil:
			return invalid("restore_snapshot_id is not supported by this server")
		case in.CustomerID == nil:
			return invalid("customer_id is required")
		}
		if err := r.CheckSnapshot(*in.RestoreSnapshotID, *in.CustomerID); err != nil {
			return invalid("restore_snapshot_id: %s", ErrorMessage(err))
		}
		d.RestoreSnapshotID = *in.RestoreSnapshotID
	}
	if in.CustomerID != nil {
		if err := checkText("customer_id", *in.CustomerID, MaxCustomerID, true); err != nil {
			return err
		}
		d.CustomerID = *in.CustomerID
	}
	if in.Name != nil {
		if err := checkText("name", *in.Name, MaxName, true); err != nil {
			return err
		}
		d.Name = *in.Name
	}
	if in.SystemPrompt != nil {
		if err := checkText("system_prompt", *in.SystemPrompt, MaxSystemPrompt, false); err != nil {
			return err
		}
		if strings.TrimSpace(*in.SystemPrompt) == "" {
			return invalid("system_prompt must not be empty")
		}
		d.SystemPrompt = *in.SystemPrompt
	}
	if in.Runtime != nil {
		if *in.Runtime != RuntimeHermes {
			return invalid("runtime must be %q", RuntimeHermes)
		}
		d.Runtime = *in.Runtime
	}
	if in.Model != nil {
		if err := checkModel(*in.Model, r); err != nil {
			return err
		}
		d.Model = *in.Model
	}
	if in.Model != nil || in.ModelSettings != nil || len(msNulls) > 0 {
		if err := applyModelSettings(&d.ModelSettings, d.Model, in.ModelSettings, msNulls, r); err != nil {
			return err
		}
	}
	if in.Sandbox != nil {
		if err := applySandbox(ctx, &d.Sandbox, in.Sandbox, r, create); err != nil {
			return err
		}
	}
	if in.CustomTools != nil {
		list, err := checkCustomTools(*in.CustomTools, r)
		if err != nil {
			return err
		}
		d.CustomTools = list
	}
	if in.MCPServers != nil {
		if err := checkMCPServers(ctx, *in.MCPServers, r); err != nil {
			return err
		}
		d.MCPServers = slices.Clone(*in.MCPServers)
		if d.MCPServers == nil {
			d.MCPServers = []MCPServer{}
		}
	}
	if in.Skills != nil {
		skills, err := checkSkills(ctx, *in.Skills, d.Skills, r, d)
		if err != nil {
			return err
		}
		d.Skills = skills
	}
	for _, k := range sortedKeys(in.Secrets) {
		if !reEnvName.MatchString(k) {
			return invalid("secrets: %q is not a valid environment variable name", k)
		}
		v := in.Secrets[k]
		if v == nil {
			delete(d.Secrets, k)
			continue
		}
		if !strings.HasPrefix(*v, "sec_") || len(*v) > 255 {
			return invalid("secrets.%s must be a secret reference (sec_...)", k)
		}
		if r.CheckSecretRef != nil {
			if err := r.CheckSecretRef(ctx, *v, d.CustomerID); err != nil {
				return Errorf(ErrorCode(err), "secrets.%s: %s", k, ErrorMessage(err))
			}
		}
		d.Secrets[k] = *v
	}
	for _, k := range sortedKeys(in.Features) {
		def := DefaultFeatures()
		var dst, dflt *bool
		switch k {
		case "memory":
			dst, dflt = &d.Features.Memory, &def.Memory
		case "dreaming":
			dst, dflt = &d.Features.Dreaming, &def.Dreaming
		case "automations":
			dst, dflt = &d.Features.Automations, &def.Automations
		case "steering":
			dst, dflt = &d.Features.Steering, &def.Steering
		case "dreaming_review":
			dst, dflt = &d.Features.DreamingReview, &def.DreamingReview
		case "filesystem_webhooks":
			dst, dflt = &d.Features.FilesystemWebhooks, &def.FilesystemWebhooks
		default:
			return invalid("features: unknown feature %q (known: memory, dreaming, dreaming_review, automations, steering, filesystem_webhooks)", k)
		}
		if v := in.Features[k]; v != nil {
			if what, ok := Unavailable(k); ok && *v {
				return invalid("features.%s: %s is not available on this server yet; leave it unset or false", k, what)
			}
			*dst = *v
		} else {
			*dst = *dflt
		}
	}
	for _, k := range sortedKeys(in.Tools) {
		v := in.Tools[k]
		if _, missing := r.unavailableTool(k); missing && (v == nil || v.Enabled != nil && !*v.Enabled && v.Permission == "") {
			// Removing or turning off a tool this server lacks asks
			// nothing of it.
			if v == nil {
				delete(d.Tools, k)
			} else {
				d.Tools[k] = *v
			}
			continue
		}
		if err := checkToolName(k, r); err != nil {
			return err
		}
		if v == nil {
			delete(d.Tools, k)
			continue
		}
		if v.Permission != "" && v.Permission != PermissionAlwaysAllow && v.Permission != PermissionAlwaysAsk {
			return invalid("tools.%s.permission must be always_allow or always_ask", k)
		}
		// Merged field by field: enabling a tool keeps its permission.
		cur := d.Tools[k]
		if v.Enabled != nil {
			cur.Enabled = v.Enabled
		}
		if v.Permission != "" {
			cur.Permission = v.Permission
		}
		d.Tools[k] = cur
	}
	for _, k := range sortedKeys(in.Metadata) {
		if k == "" || utf8.RuneCountInString(k) > MaxMetadataKey {
			return invalid("metadata keys must be 1 to %d characters", MaxMetadataKey)
		}
		v := in.Metadata[k]
		if v == nil {
			delete(d.Metadata, k)
			continue
		}
		if utf8.RuneCountInString(*v) > MaxMetadataVal {
			return invalid("metadata.%s must be at most %d characters", k, MaxMetadataVal)
		}
		d.Metadata[k] = *v
	}
	if len(d.Metadata) > MaxMetadata {
		return invalid("metadata can hold at most %d keys", MaxMetadata)
	}
	return checkHeaderSecrets(ctx, d, r)
}

// checkHeaderSecrets: MCP headers may only use the deployment's own
// secrets, each allowed for its server's host (checked on the result, so
// that removing a secret a header uses, or moving a server to another
// host, is refused too).
func checkHeaderSecrets(ctx context.Context, d *Deployment, r Rules) error {
	for i, srv := range d.MCPServers {
		for _, h := range sortedKeys(srv.Headers) {
			for _, m := range HeaderPlaceholder.FindAllStringSubmatch(srv.Headers[h], -1) {
				id, ok := d.Secrets[m[1]]
				if !ok {
					return Errorf(EInvalidSecretRef, "mcp_servers[%d].headers.%s uses ${%s}, which is not in the deployment's secrets", i, h, m[1])
				}
				if r.SecretHosts == nil {
					continue
				}
				hosts, err := r.SecretHosts(ctx, id)
				if err != nil {
					return Errorf(ErrorCode(err), "mcp_servers[%d].headers.%s: ${%s}: %s", i, h, m[1], ErrorMessage(err))
				}
				u, _ := url.Parse(srv.URL)
				if host := u.Hostname(); !HostMatch(hosts, host) {
					allowed := "none"
					if len(hosts) > 0 {
						allowed = strings.Join(hosts, ", ")
					}
					return Errorf(EInvalidSecretRef, "mcp_servers[%d].headers.%s uses ${%s}, whose secret is not allowed for the server's host %s (its allowed_hosts: %s)", i, h, m[1], host, allowed)
				}
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// checkText validates a string field's length (in characters) and encoding.
func checkText(field, s string, max int, required bool) error {
	if !utf8.ValidString(s) {
		return invalid("%s must be valid UTF-8", field)
	}
	if strings.ContainsRune(s, 0) {
		return invalid("%s must not contain NUL characters", field) // no text column of PostgreSQL takes them
	}
	if required && strings.TrimSpace(s) == "" {
		return invalid("%s must not be empty", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid("%s must be at most %d characters (got %d)", field, max, n)
	}
	return nil
}

func checkModel(m string, r Rules) error {
	provider, name, ok := strings.Cut(m, "/")
	if !ok || provider == "" || name == "" {
		return invalid("model must be provider/model, e.g. anthropic/claude-sonnet-4.5 (got %q)", m)
	}
	if r.KnownProvider != nil && !r.KnownProvider(provider) {
		return invalid("model: unknown or unconfigured provider %q (available: %s)", provider, strings.Join(r.Providers, ", "))
	}
	return nil
}

func applySandbox(ctx context.Context, s *Sandbox, in *SandboxInput, r Rules, create bool) error {
	if in.Type != nil && create {
		if !slices.Contains(r.SandboxTypes, *in.Type) {
			return invalid("sandbox.type %q is not available on this server (available: %s)", *in.Type, strings.Join(r.SandboxTypes, ", "))
		}
		s.Type = *in.Type
	}
	if in.Enabled != nil {
		s.Enabled = *in.Enabled
	}
	if in.PersistentFilesystem != nil {
		if !*in.PersistentFilesystem {
			return invalid("sandbox.persistent_filesystem: false (a fresh workspace for each run) is not available on this server yet; workspaces persist")
		}
		s.PersistentFilesystem = *in.PersistentFilesystem
	}
	if in.Resources != nil {
		res := *in.Resources
		switch {
		case res.CPU < 0 || res.CPU > 256:
			return invalid("sandbox.resources.cpu must be between 0 and 256 cores")
		case res.MemoryMB < 0:
			return invalid("sandbox.resources.memory_mb must not be negative")
		case res.DiskMB < 0:
			return invalid("sandbox.resources.disk_mb must not be negative")
		case res.PIDs < 0:
			return invalid("sandbox.resources.pids must not be negative")
		}
		s.Resources = res
	}
	if in.Network != nil {
		n := *in.Network
		switch n.Egress {
		case "":
			n.Egress = EgressProxy
		case EgressNone, EgressProxy:
		case EgressOpen:
			if !r.AllowOpenEgress {
				return invalid("sandbox.network.egress \"open\" is not allowed by this server's operator")
			}
		default:
			return invalid("sandbox.network.egress must be none, proxy or open")
		}
		if len(n.AllowedHosts) > MaxAllowedHosts {
			return invalid("sandbox.network.allowed_hosts can hold at most %d hosts", MaxAllowedHosts)
		}
		hosts := make([]string, 0, len(n.AllowedHosts))
		for _, h := range n.AllowedHosts {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			if len(h) > 253 || (!reHost.MatchString(h) && net.ParseIP(h) == nil) {
				return invalid("sandbox.network.allowed_hosts: %q is not a host name (use api.example.com or *.example.com)", h)
			}
			// An address the network guard refuses would be allowed here
			// and refused when dialled: said now instead.
			if ip := net.ParseIP(h); (ip != nil || h == "localhost") && r.CheckURL != nil {
				if err := r.CheckURL(ctx, "https://"+net.JoinHostPort(h, "443")); err != nil {
					return invalid("sandbox.network.allowed_hosts: %s", err.Error())
				}
			}
			hosts = append(hosts, h)
		}
		n.AllowedHosts = hosts
		*s = Sandbox{Enabled: s.Enabled, Type: s.Type, PersistentFilesystem: s.PersistentFilesystem, Resources: s.Resources, Network: n}
	}
	return nil
}

func checkMCPServers(ctx context.Context, list []MCPServer, r Rules) error {
	if len(list) > MaxMCPServers {
		return invalid("mcp_servers can hold at most %d servers", MaxMCPServers)
	}
	seen := map[string]bool{}
	for i, m := range list {
		f := fmt.Sprintf("mcp_servers[%d]", i)
		if !reMCPName.MatchString(m.Name) {
			return invalid("%s.name must match ^[a-z0-9][a-z0-9_-]{0,31}$ (got %q)", f, m.Name)
		}
		if strings.Contains(m.Name, "__") || strings.HasSuffix(m.Name, "_") {
			// Its tools are named name__tool: the name must end where "__" starts.
			return invalid("%s.name must not contain \"__\" or end with \"_\" (its tools are named %s__<tool>; got %q)", f, m.Name, m.Name)
		}
		if seen[m.Name] {
			return invalid("%s.name %q is used twice", f, m.Name)
		}
		seen[m.Name] = true
		if err := checkURL(ctx, f+".url", m.URL, r); err != nil {
			return err
		}
		for _, t := range m.Tools {
			if t == "" || len(t) > 128 {
				return invalid("%s.tools: tool names must be 1 to 128 characters", f)
			}
		}
		for _, k := range sortedKeys(m.Headers) {
			if !reHeaderName.MatchString(k) {
				return invalid("%s.headers: %q is not a valid header name", f, k)
			}
			if strings.HasPrefix(strings.ToLower(k), "x-herm-") {
				// The server sets these (the customer id): a deployment
				// cannot speak for another customer.
				return invalid("%s.headers: %s is set by the server; X-Herm-* headers cannot be configured", f, k)
			}
		}
		if m.Permission != "" && m.Permission != PermissionAlwaysAllow && m.Permission != PermissionAlwaysAsk {
			return invalid("%s.permission must be always_allow or always_ask", f)
		}
	}
	return nil
}

// checkURL accepts https URLs, and http ones only when private networks are
// allowed (that is where plain http servers live), whose host the server
// may connect to (r.CheckURL).
func checkURL(ctx context.Context, field, raw string, r Rules) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return invalid("%s must be an absolute URL (got %q)", field, raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !r.AllowPrivateNetworks {
			return invalid("%s must use https (http is allowed only when the operator sets HERM_ALLOW_PRIVATE_NETWORKS=1)", field)
		}
	default:
		return invalid("%s must be an https URL", field)
	}
	if u.User != nil {
		return invalid("%s must not contain credentials; use headers with secret placeholders", field)
	}
	if r.CheckURL != nil {
		if err := r.CheckURL(ctx, raw); err != nil {
			return invalid("%s: %s", field, err.Error())
		}
	}
	return nil
}

// CheckAttachmentURLs checks that the server may fetch a message's https
// attachments (r.CheckURL; ValidateMessage checks the rest).
func CheckAttachmentURLs(ctx context.Context, atts []Attachment, r Rules) error {
	if r.CheckURL == nil {
		return nil
	}
	for i, a := range atts {
		if !strings.HasPrefix(a.URL, "https://") {
			continue
		}
		if err := r.CheckURL(ctx, a.URL); err != nil {
			return invalid("attachments[%d].url: %s", i, err.Error())
		}
	}
	return nil
}

// CheckWebhookURL checks a webhook's URL: https (http only when private
// networks are allowed), no credentials.
func CheckWebhookURL(ctx context.Context, raw string, allowPrivate bool) error {
	return checkURL(ctx, "url", raw, Rules{AllowPrivateNetworks: allowPrivate})
}

func checkSkills(ctx context.Context, list []SkillInput, old []Skill, r Rules, d *Deployment) ([]Skill, error) {
	if len(list) > MaxSkills {
		return nil, invalid("skills can hold at most %d skills", MaxSkills)
	}
	seen := map[string]bool{}
	out := make([]Skill, 0, len(list))
	for i, s := range list {
		f := fmt.Sprintf("skills[%d]", i)
		if len(s.Name) > 64 || !reSkillName.MatchString(s.Name) {
			return nil, invalid("%s.name must be 1 to 64 lowercase letters, digits and hyphens (got %q)", f, s.Name)
		}
		if seen[s.Name] {
			return nil, invalid("%s.name %q is used twice", f, s.Name)
		}
		seen[s.Name] = true
		switch s.Source {
		case SkillInline:
			if strings.TrimSpace(s.Content) == "" {
				return nil, invalid("%s.content is required for an inline skill", f)
			}
		case SkillURL:
			if err := checkURL(ctx, f+".url", s.URL, r); err != nil {
				return nil, err
			}
		case SkillFile:
			p := s.Path
			if p == "" || strings.HasPrefix(p, "/") || slices.Contains(strings.Split(p, "/"), "..") {
				return nil, invalid("%s.path must be a relative path inside the workspace", f)
			}
		default:
			return nil, invalid("%s.source must be file, inline or url", f)
		}
		if s.Keep {
			i := slices.IndexFunc(old, func(o Skill) bool { return o.SkillID == s.SkillID })
			if i < 0 {
				return nil, Errorf(EConflict, "skill %s changed meanwhile; try again", s.SkillID)
			}
			out = append(out, old[i])
			continue
		}
		id := s.SkillID
		for _, o := range old {
			if id != "" {
				break
			}
			if o.Name == s.Name {
				id = o.SkillID // keep the id of a skill that stays
			}
		}
		var created time.Time
		for _, o := range old {
			if id != "" && o.SkillID == id {
				created = o.CreatedAt
			}
		}
		if id == "" && r.NewSkillID != nil {
			id = r.NewSkillID()
		}
		if created.IsZero() {
			created = time.Now()
			if r.Now != nil {
				created = r.Now()
			}
			created = created.UTC().Truncate(time.Microsecond)
		}
		sk := Skill{SkillID: id, Name: s.Name, Source: s.Source, Path: s.Path, Content: s.Content, URL: s.URL, CreatedAt: created}
		if r.ResolveSkill != nil {
			resolved, err := r.ResolveSkill(ctx, sk, d)
			if err != nil {
				switch ErrorCode(err) {
				case EInternal, EUnavailable:
					return nil, err // the server's trouble, not the skill's
				}
				return nil, Errorf(EInvalidSkill, "%s (%s): %s", f, s.Name, ErrorMessage(err))
			}
			sk = resolved
		}
		out = append(out, sk)
	}
	return out, nil
}

// SplitToolName splits a model-facing tool name into the tool's own name
// and its origin: "server__tool" is an MCP server's tool, anything else a
// built-in one.
func SplitToolName(name string) (tool, origin string) {
	if server, t, ok := strings.Cut(name, "__"); ok && server != "" && t != "" {
		return t, server
	}
	return name, "builtin"
}

func checkToolName(name string, r Rules) error {
	if r.Tools == nil && reToolName.MatchString(name) || r.Tools != nil && slices.Contains(r.Tools.BuiltinTools(), name) {
		return nil
	}
	if what, ok := r.unavailableTool(name); ok {
		return invalid("tools.%s: %s is not available on this server yet", name, what)
	}
	server, tool, ok := strings.Cut(name, "__")
	if ok && reMCPName.MatchString(server) && tool != "" && len(tool) <= 128 {
		return nil
	}
	if r.Tools == nil {
		return invalid("tools: %q is neither a built-in tool's name nor an MCP tool named server__tool", name)
	}
	return invalid("tools: %q is neither a built-in tool (%s) nor an MCP tool named server__tool", name, strings.Join(r.Tools.BuiltinTools(), ", "))
}

// unavailableTool asks r.Tools whether name is a tool this server lacks.
func (r Rules) unavailableTool(name string) (string, bool) {
	if r.Tools == nil {
		return "", false
	}
	return r.Tools.UnavailableTool(name)
}

// ValidateThreadTitle checks a thread title.
func ValidateThreadTitle(title string) error {
	return checkText("title", title, MaxThreadTitle, false)
}

// ValidateMessage checks a message's content and attachments.
func ValidateMessage(content string, atts []Attachment) error {
	if !utf8.ValidString(content) {
		return invalid("content must be valid UTF-8")
	}
	if strings.ContainsRune(content, 0) {
		return invalid("content must not contain NUL characters")
	}
	n := utf8.RuneCountInString(content)
	if n == 0 {
		return invalid("content is required")
	}
	if n > MaxContent {
		return invalid("content must be at most %d characters (got %d)", MaxContent, n)
	}
	if len(atts) > MaxAttachments {
		return invalid("attachments: at most %d per message", MaxAttachments)
	}
	for i, a := range atts {
		switch a.Type {
		case AttachImage, AttachVideo, AttachAudio, AttachFile:
		default:
			return invalid("attachments[%d].type must be image, video, audio or file", i)
		}
		switch {
		case strings.HasPrefix(a.URL, "https://"):
			u, err := url.Parse(a.URL)
			if err != nil || u.Hostname() == "" {
				return invalid("attachments[%d].url is not a valid https URL", i)
			}
		case strings.HasPrefix(a.URL, "data:"):
			mt, data, err := DecodeDataURL(a.URL)
			if err != nil {
				return invalid("attachments[%d].url: %v", i, err)
			}
			if len(data) > MaxAttachmentBytes {
				return invalid("attachments[%d]: %d bytes, more than the limit of %d", i, len(data), MaxAttachmentBytes)
			}
			if a.Type == AttachImage && !IsImageType(mt) {
				return invalid("attachments[%d]: an image must be png, jpeg, gif or webp (this is %s)", i, mt)
			}
		default:
			return invalid("attachments[%d].url must be an https URL or a data URL", i)
		}
	}
	return nil
}

// CheckTimezone checks an IANA time zone name (field names it in the
// error) and returns it as stored: "" and "UTC" are UTC ("").
func CheckTimezone(field, tz string) (string, error) {
	if tz == "" || tz == "UTC" {
		return "", nil
	}
	if len(tz) > 64 || strings.ContainsAny(tz, "\x00\\") || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") {
		return "", invalid("%s must be an IANA time zone name such as Europe/Paris", field)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return "", invalid("%s: %q is not an IANA time zone this server knows (such as Europe/Paris or America/New_York)", field, tz)
	}
	return tz, nil
}
