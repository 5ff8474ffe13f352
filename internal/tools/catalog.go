package tools

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
)

// Tools that the agent loop implements itself: the catalog offers them like
// any other tool, but no Tool runs them (Entry.Tool is nil).
const (
	// AskHuman asks the human a question and pauses the run until they
	// answer (offered when features.steering is on).
	AskHuman = "ask_human"
	// Subagents hands tasks to child agents.
	Subagents = "subagents"
)

// Limits of a subagents call.
const (
	MaxSubagentTasks    = 8
	SubagentConcurrency = 3
)

// AskHumanArgs are ask_human's arguments.
type AskHumanArgs struct {
	Question string   `json:"question" jsonschema:"The question, complete enough to answer without context."`
	Options  []string `json:"options,omitempty" jsonschema:"Suggested answers, if the choice is among a few."`
}

// SubagentsArgs are the subagents tool's arguments (maxItems is
// MaxSubagentTasks; a test holds them equal).
type SubagentsArgs struct {
	Tasks []SubagentTask `json:"tasks" minItems:"1" maxItems:"8"`
}

// SubagentTask is one task of a subagents call.
type SubagentTask struct {
	Instructions string `json:"instructions" jsonschema:"Everything the subagent needs to know: it sees nothing else."`
}

// AskHumanSpec is ask_human's model-facing spec.
func AskHumanSpec() llm.ToolSpec {
	return llm.ToolSpec{
		Name: AskHuman,
		Description: "Ask the human you work for a question and wait for the answer. Use it when you need a decision, " +
			"a preference or information only they have. The run pauses until they answer.",
		InputSchema: Schema[AskHumanArgs](),
	}
}

// SubagentsSpec is the subagents tool's model-facing spec.
func SubagentsSpec() llm.ToolSpec {
	return llm.ToolSpec{
		Name: Subagents,
		Description: fmt.Sprintf("Hand independent tasks to subagents: each works alone on its task, with its own context and the same "+
			"tools and workspace (files it writes are yours too), and returns only a summary of what it did and found. "+
			"Use it to split large work or keep your own context small. At most %d tasks, %d at a time.", MaxSubagentTasks, SubagentConcurrency),
		InputSchema: Schema[SubagentsArgs](),
	}
}

// unavailable are the contract's built-in tools (and the hosted product's
// browser tool) this server does not have: disabling them is accepted,
// anything else is an error that says so. web_search is one until the
// operator configures a search backend (the tool is registered then).
func unavailable(name string) (string, bool) {
	switch name {
	case "web_search":
		return "web search (no search backend is configured: the operator sets HERM_SEARXNG_URL, HERM_BRAVE_API_KEY or HERM_TAVILY_API_KEY)", true
	case "browser":
		return "the browser tool", true
	}
	return "", false
}

// Permissioned is a tool whose origin sets its default permission (an MCP
// server's tools get the server's permission).
type Permissioned interface {
	Permission() string
}

// MCP lists the tools of a deployment's MCP servers (mcpclient.Pool).
type MCP interface {
	// Tools waits for each server (bounded by its own listing timeout) and
	// returns the tools of those that answered, with a warning for each
	// server left out.
	Tools(ctx context.Context, d *herm.Deployment) ([]Tool, []string)
	// Catalog waits at most wait and answers with what is known then, and
	// the state of each server.
	Catalog(ctx context.Context, d *herm.Deployment, wait time.Duration) ([]Tool, []ServerState)
}

// ServerState is what is known of one of a deployment's MCP servers when
// its tools are listed.
type ServerState struct {
	Name    string
	State   string // connected, unreachable or connecting
	Message string // why it is unreachable
}

// CatalogOptions configure a Catalog. The zero value means defaults.
type CatalogOptions struct {
	// CanExec decides whether a deployment may run code (default: its
	// sandbox is enabled); tools that run code (CodeRunner) are offered
	// only where it may.
	CanExec func(*herm.Deployment) bool
	// MCP lists deployments' MCP tools (nil: none).
	MCP MCP
}

// Catalog is the one answer to "which tools does this deployment get, with
// which origin, permission and state": the agent asks it which tools to
// offer a run's model, the Tools API what to list, and validation which
// tool names a deployment's settings may use.
type Catalog struct {
	reg                 *Registry
	opts                CatalogOptions
	askHuman, subagents llm.ToolSpec
}

// NewCatalog returns the catalog of the built-in tools in reg (read at each
// question: tools added later count) and the tools of opts.MCP.
func NewCatalog(reg *Registry, opts CatalogOptions) *Catalog {
	if reg == nil {
		reg = NewRegistry()
	}
	return &Catalog{reg: reg, opts: opts, askHuman: AskHumanSpec(), subagents: SubagentsSpec()}
}

// Entry is one tool a deployment has.
type Entry struct {
	Name        string // model-facing
	Origin      string // OriginBuiltin or the MCP server's name
	Description string
	Spec        llm.ToolSpec
	// DefaultPermission is the origin's (an MCP server's permission, or
	// always_allow); Permission is the deployment's setting, or the
	// default without one. always_ask pauses calls for a human's approval
	// when features.steering is on.
	DefaultPermission string
	Permission        string
	// Enabled is false when the deployment's settings turn the tool off:
	// it is listed, not offered to the model.
	Enabled bool
	// Tool runs the tool; nil for the tools the agent loop implements
	// (AskHuman, Subagents).
	Tool Tool
}

// CanExec reports whether a deployment may run code.
func (c *Catalog) CanExec(d *herm.Deployment) bool {
	if c.opts.CanExec == nil {
		return d.Sandbox.Enabled
	}
	return c.opts.CanExec(d)
}

// List returns every tool the deployment has, enabled or not, sorted by
// name, and the state of each of its MCP servers; it waits at most wait for
// them (a server still connecting lists the tools it had before).
func (c *Catalog) List(ctx context.Context, d *herm.Deployment, wait time.Duration) ([]Entry, []ServerState) {
	var mcp []Tool
	states := []ServerState{}
	if c.opts.MCP != nil && len(d.MCPServers) > 0 {
		mcp, states = c.opts.MCP.Catalog(ctx, d, wait)
	}
	out := c.entries(d, mcp)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, states
}

// Run returns the tools offered to the model of a run of the deployment
// (the enabled entries, in the order the model sees them: built-in tools by
// name, MCP tools by name, then ask_human and subagents), waiting for each
// MCP server, and a warning for each server left out. A run whose ctx is
// done gets no MCP tools: it is ending.
func (c *Catalog) Run(ctx context.Context, d *herm.Deployment) ([]Entry, []string) {
	var mcp []Tool
	var warnings []string
	if c.opts.MCP != nil && len(d.MCPServers) > 0 && ctx.Err() == nil {
		mcp, warnings = c.opts.MCP.Tools(ctx, d)
	}
	all := c.entries(d, mcp)
	out := all[:0]
	for _, e := range all {
		if e.Enabled {
			out = append(out, e)
		}
	}
	return out, warnings
}

// entries applies the rules: built-in tools the deployment may use (code
// execution, features), then its MCP tools, ask_human with steering on,
// subagents; each with its permission and whether the settings enable it.
func (c *Catalog) entries(d *herm.Deployment, mcp []Tool) []Entry {
	var out []Entry
	seen := map[string]bool{}
	add := func(spec llm.ToolSpec, origin, def string, t Tool) {
		if seen[spec.Name] {
			return // the first of a name wins
		}
		seen[spec.Name] = true
		if def == "" {
			def = herm.PermissionAlwaysAllow
		}
		st := d.Tools[spec.Name]
		e := Entry{Name: spec.Name, Origin: origin, Description: spec.Description, Spec: spec, DefaultPermission: def,
			Permission: st.Permission, Enabled: st.Enabled == nil || *st.Enabled, Tool: t}
		if e.Permission == "" {
			e.Permission = def
		}
		out = append(out, e)
	}
	exec := c.CanExec(d)
	for _, t := range c.reg.All() {
		if cr, ok := t.(CodeRunner); ok && cr.RunsCode() && !exec {
			continue // no code execution for this deployment
		}
		if g, ok := t.(Gated); ok && !g.AvailableFor(d) {
			continue // its feature is off
		}
		add(t.Spec(), t.Origin(), "", t)
	}
	mcp = slices.Clone(mcp)
	sort.SliceStable(mcp, func(i, j int) bool { return mcp[i].Spec().Name < mcp[j].Spec().Name })
	for _, t := range mcp {
		def := ""
		if p, ok := t.(Permissioned); ok {
			def = p.Permission()
		}
		add(t.Spec(), t.Origin(), def, t)
	}
	if d.Features.Steering {
		add(c.askHuman, OriginBuiltin, "", nil)
	}
	add(c.subagents, OriginBuiltin, "", nil)
	return out
}

// BuiltinTools returns the names of the built-in tools (whichever
// deployment may use them), sorted: the names a deployment's tools
// settings may use besides MCP tools.
func (c *Catalog) BuiltinTools() []string {
	var out []string
	for _, t := range c.reg.All() {
		if t.Origin() == OriginBuiltin {
			out = append(out, t.Spec().Name)
		}
	}
	out = append(out, AskHuman, Subagents)
	slices.Sort(out)
	return slices.Compact(out)
}

// UnavailableTool describes a built-in tool of the contract (or the hosted
// product's browser tool) that this server does not have: settings may
// only disable it.
func (c *Catalog) UnavailableTool(name string) (string, bool) {
	if slices.Contains(c.BuiltinTools(), name) {
		return "", false
	}
	return unavailable(name)
}
