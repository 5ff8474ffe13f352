package tools_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/tools"
)

// fake is a tool; runsCode, feature and permission give it the optional
// interfaces' answers.
type fake struct {
	name, origin string
	runsCode     bool
	gate         func(*herm.Deployment) bool
}

func (f fake) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: f.name, Description: "the " + f.name + " tool", InputSchema: json.RawMessage(`{"type":"object"}`)}
}
func (f fake) Origin() string { return f.origin }
func (f fake) Call(context.Context, tools.Call, json.RawMessage) (tools.Result, error) {
	return tools.Result{}, nil
}
func (f fake) RunsCode() bool { return f.runsCode }

type gated struct{ fake }

func (g gated) AvailableFor(d *herm.Deployment) bool { return g.gate(d) }

type mcpTool struct {
	fake
	perm string
}

func (m mcpTool) Permission() string { return m.perm }

// fakeMCP serves every deployment the same MCP tools.
type fakeMCP struct {
	tools    []tools.Tool
	warnings []string
	states   []tools.ServerState
	waited   time.Duration
}

func (f *fakeMCP) Tools(ctx context.Context, d *herm.Deployment) ([]tools.Tool, []string) {
	return f.tools, f.warnings
}

func (f *fakeMCP) Catalog(ctx context.Context, d *herm.Deployment, wait time.Duration) ([]tools.Tool, []tools.ServerState) {
	f.waited = wait
	return f.tools, f.states
}

func newCatalog(mcp tools.MCP) *tools.Catalog {
	reg := tools.NewRegistry(
		fake{name: "shell", origin: tools.OriginBuiltin, runsCode: true},
		fake{name: "read_file", origin: tools.OriginBuiltin},
		gated{fake{name: "memory", origin: tools.OriginBuiltin, gate: func(d *herm.Deployment) bool { return d.Features.Memory }}},
	)
	return tools.NewCatalog(reg, tools.CatalogOptions{
		CanExec: func(d *herm.Deployment) bool { return d.Sandbox.Enabled && d.Sandbox.Type != "none" },
		MCP:     mcp,
	})
}

// row is an entry as the tests compare it.
type row struct {
	Name, Origin, Default, Permission string
	Enabled, HasTool                  bool
}

func rows(es []tools.Entry) []row {
	var out []row
	for _, e := range es {
		out = append(out, row{e.Name, e.Origin, e.DefaultPermission, e.Permission, e.Enabled, e.Tool != nil})
		if e.Spec.Name != e.Name || e.Spec.Description != e.Description || len(e.Spec.InputSchema) == 0 {
			panic("an entry's spec does not match it: " + e.Name)
		}
	}
	return out
}

func TestCatalogRules(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	allow, ask := herm.PermissionAlwaysAllow, herm.PermissionAlwaysAsk
	mcp := &fakeMCP{
		tools: []tools.Tool{
			mcpTool{fake{name: "acme__zeta", origin: "acme"}, ask},
			mcpTool{fake{name: "acme__alpha", origin: "acme"}, ""},
		},
		warnings: []string{"MCP server down is left out of this run: refused"},
		states:   []tools.ServerState{{Name: "acme", State: "connected"}, {Name: "down", State: "unreachable", Message: "refused"}},
	}
	cat := newCatalog(mcp)
	base := func(f func(d *herm.Deployment)) *herm.Deployment {
		d := &herm.Deployment{ID: "dep_1", Features: herm.DefaultFeatures(), Sandbox: herm.Sandbox{Enabled: true, Type: "local"}, Tools: map[string]herm.ToolSettings{}}
		if f != nil {
			f(d)
		}
		return d
	}
	for _, tc := range []struct {
		name string
		d    *herm.Deployment
		list []row // List: sorted by name, enabled or not
		run  []string
	}{
		{name: "defaults", d: base(nil),
			list: []row{{"ask_human", "builtin", allow, allow, true, false}, {"memory", "builtin", allow, allow, true, true},
				{"read_file", "builtin", allow, allow, true, true}, {"shell", "builtin", allow, allow, true, true}, {"subagents", "builtin", allow, allow, true, false}},
			run: []string{"memory", "read_file", "shell", "ask_human", "subagents"}},
		{name: "no code execution, memory and steering off", d: base(func(d *herm.Deployment) {
			d.Sandbox.Enabled, d.Features.Memory, d.Features.Steering = false, false, false
		}),
			list: []row{{"read_file", "builtin", allow, allow, true, true}, {"subagents", "builtin", allow, allow, true, false}},
			run:  []string{"read_file", "subagents"}},
		{name: "a disabled tool, an always_ask tool, a disabled ask_human", d: base(func(d *herm.Deployment) {
			d.Tools["read_file"] = herm.ToolSettings{Enabled: &no, Permission: ask}
			d.Tools["shell"] = herm.ToolSettings{Permission: ask}
			d.Tools["ask_human"] = herm.ToolSettings{Enabled: &no}
			d.Tools["memory"] = herm.ToolSettings{Enabled: &yes}
		}),
			list: []row{{"ask_human", "builtin", allow, allow, false, false}, {"memory", "builtin", allow, allow, true, true},
				{"read_file", "builtin", allow, ask, false, true}, {"shell", "builtin", allow, ask, true, true}, {"subagents", "builtin", allow, allow, true, false}},
			run: []string{"memory", "shell", "subagents"}},
		{name: "MCP tools", d: base(func(d *herm.Deployment) {
			d.Features.Memory = false
			d.MCPServers = []herm.MCPServer{{Name: "acme"}, {Name: "down"}}
			d.Tools["acme__zeta"] = herm.ToolSettings{Enabled: &no}
			d.Tools["acme__alpha"] = herm.ToolSettings{Permission: ask}
		}),
			list: []row{{"acme__alpha", "acme", allow, ask, true, true}, {"acme__zeta", "acme", ask, ask, false, true},
				{"ask_human", "builtin", allow, allow, true, false}, {"read_file", "builtin", allow, allow, true, true},
				{"shell", "builtin", allow, allow, true, true}, {"subagents", "builtin", allow, allow, true, false}},
			run: []string{"read_file", "shell", "acme__alpha", "ask_human", "subagents"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, states := cat.List(context.Background(), tc.d, time.Second)
			if diff := cmp.Diff(tc.list, rows(list)); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
			run, warnings := cat.Run(context.Background(), tc.d)
			var names []string
			for _, e := range run {
				names = append(names, e.Name)
			}
			if !slices.Equal(names, tc.run) {
				t.Errorf("Run = %v, want %v", names, tc.run)
			}
			if len(tc.d.MCPServers) == 0 {
				if len(states) != 0 || len(warnings) != 0 {
					t.Errorf("MCP asked for a deployment without servers: %v %v", states, warnings)
				}
				return
			}
			if mcp.waited != time.Second || !slices.Equal(states, mcp.states) || !slices.Equal(warnings, mcp.warnings) {
				t.Errorf("MCP: waited %v, states %v, warnings %v", mcp.waited, states, warnings)
			}
			// A run that is ending does not wait for MCP servers.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			run, warnings = cat.Run(ctx, tc.d)
			for _, e := range run {
				if e.Origin != tools.OriginBuiltin {
					t.Errorf("a cancelled run got %s", e.Name)
				}
			}
			if len(warnings) != 0 {
				t.Errorf("a cancelled run got warnings %v", warnings)
			}
		})
	}
}

func TestCatalogNames(t *testing.T) {
	t.Parallel()
	cat := newCatalog(nil)
	if got, want := cat.BuiltinTools(), []string{"ask_human", "memory", "read_file", "shell", "subagents"}; !slices.Equal(got, want) {
		t.Errorf("BuiltinTools = %v, want %v", got, want)
	}
	for name, want := range map[string]bool{"browser": true, "web_search": true, "shell": false, "nope": false, "acme__x": false} {
		if what, ok := cat.UnavailableTool(name); ok != want || ok && what == "" {
			t.Errorf("UnavailableTool(%s) = %q, %v", name, what, ok)
		}
	}
	// web_search is unavailable until a backend is configured, when the
	// tool is registered; the message says how.
	if what, _ := cat.UnavailableTool("web_search"); !strings.Contains(what, "HERM_SEARXNG_URL") {
		t.Errorf("UnavailableTool(web_search) = %q", what)
	}
	reg := tools.NewRegistry(fake{name: "web_search", origin: tools.OriginBuiltin})
	if what, ok := tools.NewCatalog(reg, tools.CatalogOptions{}).UnavailableTool("web_search"); ok {
		t.Errorf("registered web_search: UnavailableTool = %q", what)
	}
	// Without an MCP source, servers are not asked: no tools, no states.
	d := &herm.Deployment{MCPServers: []herm.MCPServer{{Name: "acme"}}, Sandbox: herm.Sandbox{Enabled: true}}
	list, states := cat.List(context.Background(), d, time.Second)
	if len(states) != 0 || slices.ContainsFunc(list, func(e tools.Entry) bool { return e.Origin != tools.OriginBuiltin }) {
		t.Errorf("List without MCP: %v %v", rows(list), states)
	}
}

// A catalog of nothing still has the loop's own tools, and sees tools added
// to its registry later (the automations tool is added once the runner
// exists).
func TestCatalogRegistryLater(t *testing.T) {
	t.Parallel()
	reg := tools.NewRegistry()
	cat := tools.NewCatalog(reg, tools.CatalogOptions{})
	d := &herm.Deployment{Features: herm.Features{Steering: true}}
	run, _ := cat.Run(context.Background(), d)
	if got := rows(run); len(got) != 2 || got[0].Name != tools.AskHuman || got[1].Name != tools.Subagents {
		t.Fatalf("Run = %v", got)
	}
	reg.Add(fake{name: "later", origin: tools.OriginBuiltin})
	if run, _ := cat.Run(context.Background(), d); len(run) != 3 || run[0].Name != "later" {
		t.Fatalf("Run after Add = %v", rows(run))
	}
	if !slices.Contains(cat.BuiltinTools(), "later") {
		t.Errorf("BuiltinTools = %v", cat.BuiltinTools())
	}
}
