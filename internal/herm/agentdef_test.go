package herm

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func agentInput(t *testing.T, body string) *AgentInput {
	t.Helper()
	var in AgentInput
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return &in
}

// deploymentOf is the deployment a definition runs its sessions on.
func deploymentOf(t *testing.T, d *AgentDefinition) *Deployment {
	t.Helper()
	dep, err := NewDeployment(context.Background(), d.DeploymentInput("u1", testTools{}), testRules())
	if err != nil {
		t.Fatal(err)
	}
	return dep
}

func TestAgentToolsets(t *testing.T) {
	ctx := context.Background()
	def, meta, err := ApplyAgentInput(ctx, nil, nil, agentInput(t, `{
		"name": "Support", "model": "openai/gpt-x", "instructions": "Be kind.",
		"tools": [
			{"type": "agent_toolset", "defaultConfig": {"permissionPolicy": {"type": "always_ask"}},
			 "configs": [{"name": "read_file", "permissionPolicy": {"type": "always_allow"}}, {"name": "shell", "enabled": false}]},
			{"type": "mcp_toolset", "mcpServerName": "crm", "defaultConfig": {"permissionPolicy": {"type": "always_ask"}},
			 "configs": [{"name": "lookup", "permissionPolicy": {"type": "always_allow"}}]},
			{"type": "custom", "name": "refund", "description": "Refund an order.", "input_schema": {"type": "object"}}
		],
		"mcpServers": [{"type": "url", "name": "crm", "url": "https://crm.example.com/mcp"}],
		"metadata": {"team": "a"}
	}`), testRules())
	if err != nil {
		t.Fatal(err)
	}
	if meta["team"] != "a" || def.Name != "Support" || !def.Features.Memory {
		t.Fatalf("definition %+v meta %v", def, meta)
	}
	d := deploymentOf(t, def)
	want := map[string]string{"write_file": PermissionAlwaysAsk, "read_file": PermissionAlwaysAllow, "todo": PermissionAlwaysAsk, "crm__lookup": PermissionAlwaysAllow}
	for name, perm := range want {
		if got := d.Tools[name].Permission; got != perm {
			t.Errorf("%s: permission %q, want %q", name, got, perm)
		}
	}
	if e := d.Tools["shell"].Enabled; e == nil || *e {
		t.Errorf("shell: %+v", d.Tools["shell"])
	}
	if e := d.Tools["ask_human"].Enabled; e == nil || *e {
		t.Errorf("ask_human must be off in sessions: %+v", d.Tools["ask_human"])
	}
	if len(d.MCPServers) != 1 || d.MCPServers[0].Permission != PermissionAlwaysAsk {
		t.Errorf("mcp servers %+v", d.MCPServers)
	}
	if len(d.CustomTools) != 1 || d.CustomTools[0].Name != "refund" {
		t.Errorf("custom tools %+v", d.CustomTools)
	}
	if d.SystemPrompt != "Be kind." || d.CustomerID != "u1" || !d.Features.Steering || d.Features.Automations {
		t.Errorf("deployment %+v", d)
	}

	// Without an agent_toolset: no built-in tools (memory is the feature's).
	bare, _, err := ApplyAgentInput(ctx, nil, nil, agentInput(t, `{"name": "Chat", "model": "demo/demo"}`), testRules())
	if err != nil {
		t.Fatal(err)
	}
	d = deploymentOf(t, bare)
	for _, name := range (testTools{}).BuiltinTools() {
		if e := d.Tools[name].Enabled; e == nil || *e {
			t.Errorf("%s enabled without an agent_toolset: %+v", name, d.Tools[name])
		}
	}
}

func TestAgentUpdateMerges(t *testing.T) {
	ctx := context.Background()
	def, meta, err := ApplyAgentInput(ctx, nil, nil, agentInput(t, `{"name": "A", "model": "demo/demo", "instructions": "one",
		"metadata": {"a": "1", "b": "2"}, "modelSettings": {"temperature": 0.5}, "secrets": {"API_KEY": "sec_1"},
		"tools": [{"type": "agent_toolset"}]}`), testRules())
	if err != nil {
		t.Fatal(err)
	}
	next, meta2, err := ApplyAgentInput(ctx, def, meta, agentInput(t, `{"instructions": "two", "metadata": {"a": null, "c": "3"},
		"modelSettings": null, "tools": [], "features": {"memory": false}}`), testRules())
	if err != nil {
		t.Fatal(err)
	}
	if next.Instructions != "two" || next.Name != "A" || next.ModelSettings != nil || len(next.Tools) != 0 ||
		next.Features.Memory || next.Secrets["API_KEY"] != "sec_1" {
		t.Fatalf("after the update %+v", next)
	}
	dreamy, _, err := ApplyAgentInput(ctx, next, meta2, agentInput(t, `{"features": {"dreaming": true}}`), testRules())
	if err != nil || !dreamy.Features.Dreaming || !deploymentOf(t, dreamy).Features.Dreaming {
		t.Fatalf("dreaming on: %+v %v", dreamy, err)
	}
	if len(meta2) != 2 || meta2["b"] != "2" || meta2["c"] != "3" {
		t.Fatalf("metadata %v", meta2)
	}
	if def.Instructions != "one" || def.ModelSettings == nil || len(meta) != 2 || meta["a"] != "1" {
		t.Fatalf("the update changed the version it started from: %+v %v", def, meta)
	}
}

func TestAgentInputErrors(t *testing.T) {
	ctx := context.Background()
	for body, want := range map[string]string{
		`{"model": "demo/demo"}`: "name is required",
		`{"name": "x"}`:          "model is required",
		`{"name": "x", "model": "demo/demo", "instructions": "` + strings.Repeat("x", MaxSystemPrompt+1) + `"}`:                                      "instructions",
		`{"name": "x", "model": "demo/demo", "tools": [{"type": "mcp_toolset", "mcpServerName": "nope"}]}`:                                           "not the name of an entry of mcpServers",
		`{"name": "x", "model": "demo/demo", "mcpServers": [{"type": "url", "name": "crm", "url": "https://crm.example.com/mcp"}]}`:                  "no mcp_toolset entry",
		`{"name": "x", "model": "demo/demo", "tools": [{"type": "agent_toolset"}, {"type": "agent_toolset"}]}`:                                       "more than one agent_toolset",
		`{"name": "x", "model": "demo/demo", "tools": [{"type": "agent_toolset", "configs": [{"name": "nope", "enabled": false}]}]}`:                 "nope",
		`{"name": "x", "model": "demo/demo", "tools": [{"type": "agent_toolset", "configs": [{"permissionPolicy": {"type": "always_ask"}}]}]}`:       "configs[0].name is required",
		`{"name": "x", "model": "demo/demo", "tools": [{"type": "agent_toolset", "defaultConfig": {"permissionPolicy": {"type": "sometimes"}}}]}`:    "always_allow or always_ask",
		`{"name": "x", "model": "demo/demo", "tools": [{"type": "custom", "name": "a__b", "description": "d", "input_schema": {"type": "object"}}]}`: "tools (custom)",
		`{"name": "x", "model": "demo/demo", "tools": [{"type": "toolbox"}]}`:                                                                        "agent_toolset, mcp_toolset or custom",
		`{"name": "x", "model": "demo/demo", "features": {"dreamingReview": true}}`:                                                                  "not available",
		`{"name": "x", "model": "demo/demo", "features": {"steering": true}}`:                                                                        "not a feature of agents",
		`{"name": "x", "model": "demo/demo", "skills": [{"name": "a", "source": "file"}]}`:                                                           "source file",
		`{"name": "x", "model": "demo/demo", "secrets": {"K": "sec_theirs"}}`:                                                                        "sec_theirs",
		`{"name": "x", "model": "nope/model"}`: "nope",
	} {
		var in AgentInput
		err := json.Unmarshal([]byte(body), &in)
		if err == nil {
			_, _, err = ApplyAgentInput(ctx, nil, nil, &in, testRules())
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.120s: %v, want %q", body, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "system_prompt") {
			t.Errorf("%.120s: the error names a deployment field: %v", body, err)
		}
	}
	var in AgentInput
	if err := json.Unmarshal([]byte(`{"name": "x", "model": "demo/demo", "colour": "red"}`), &in); err == nil {
		t.Fatal("an unknown field was accepted")
	}
	if err := json.Unmarshal([]byte(`{"name": null}`), &in); err == nil {
		t.Fatal("a null name was accepted")
	}
}
