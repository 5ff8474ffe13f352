package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hermhq/herm/internal/llm/llmtest"
)

// The Tools API and the tools offered to the model are one answer (the tool
// catalog): for deployments with steering, code execution, memory and
// automations on and off, a disabled tool, an always_ask tool and an MCP
// server's tool, the tools GET .../tools lists as enabled are exactly those
// the model received, with the same descriptions.
func TestToolsAPIAgreesWithModel(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "acme", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "ping", Description: "answers pong"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, struct{}{}, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer ts.Close()

	script := llmtest.NewScript() // every run: one model call that answers "ok"
	s := transcriptServer(t, script, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1", "HERM_SANDBOX": "process"})
	off := map[string]any{"enabled": false}
	for _, tc := range []struct {
		name       string
		body       map[string]any
		has, lacks []string          // offered to the model, or not
		perms      map[string]string // permissions the API lists
		disabled   []string          // listed with enabled: false
	}{
		{name: "defaults", has: []string{"shell", "read_file", "ask_human", "subagents", "memory", "automations", "todo"}},
		{name: "steering off", body: map[string]any{"features": map[string]any{"steering": false}}, has: []string{"subagents"}, lacks: []string{"ask_human"}},
		{name: "no code execution", body: map[string]any{"sandbox": map[string]any{"enabled": false}}, has: []string{"read_file"}, lacks: []string{"shell"}},
		{name: "memory and automations off", body: map[string]any{"features": map[string]any{"memory": false, "automations": false}},
			has: []string{"todo"}, lacks: []string{"memory", "automations"}},
		{name: "a disabled tool and an always_ask tool",
			body: map[string]any{"tools": map[string]any{"write_file": off, "subagents": off, "todo": map[string]any{"permission": "always_ask"}}},
			has:  []string{"todo", "edit_file"}, lacks: []string{"write_file", "subagents"},
			perms: map[string]string{"todo": "always_ask", "edit_file": "always_allow"}, disabled: []string{"write_file", "subagents"}},
		{name: "an MCP server", body: map[string]any{"mcp_servers": []any{map[string]any{"name": "acme", "url": ts.URL, "permission": "always_ask"}},
			"tools": map[string]any{"read_file": map[string]any{"permission": "always_ask"}}},
			has: []string{"acme__ping", "read_file"}, perms: map[string]string{"acme__ping": "always_ask", "read_file": "always_ask"}},
		{name: "an MCP tool disabled", body: map[string]any{"mcp_servers": []any{map[string]any{"name": "acme", "url": ts.URL}},
			"tools": map[string]any{"acme__ping": off}},
			lacks: []string{"acme__ping"}, perms: map[string]string{"acme__ping": "always_allow"}, disabled: []string{"acme__ping"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := s.createReady(tc.body)["deployment_id"].(string)
			list := s.must(200, "GET", "/v1/deployments/"+id+"/tools", nil)
			listed := map[string]string{} // enabled tools' descriptions
			var disabled []string
			for _, x := range list["data"].([]any) {
				m := x.(map[string]any)
				name := m["name"].(string)
				if want, ok := tc.perms[name]; ok && m["permission"] != want {
					t.Errorf("%s: permission %v, want %s", name, m["permission"], want)
				}
				if m["enabled"] == true {
					listed[name] = m["description"].(string)
				} else {
					disabled = append(disabled, name)
				}
			}
			slices.Sort(disabled)
			slices.Sort(tc.disabled)
			if !slices.Equal(disabled, tc.disabled) {
				t.Errorf("listed as disabled: %v, want %v", disabled, tc.disabled)
			}

			before := len(script.Requests())
			if run := s.sendAndWait(id, "hello"); run["status"] != "completed" {
				t.Fatalf("run %v", run)
			}
			reqs := script.Requests()
			if len(reqs) != before+1 {
				t.Fatalf("%d model calls, want 1", len(reqs)-before)
			}
			offered := map[string]string{}
			for _, spec := range reqs[len(reqs)-1].Tools {
				offered[spec.Name] = spec.Description
			}
			for name, desc := range listed {
				if got, ok := offered[name]; !ok {
					t.Errorf("%s is listed as enabled but not offered to the model", name)
				} else if got != desc {
					t.Errorf("%s: the model's description %q, the API's %q", name, got, desc)
				}
			}
			for name := range offered {
				if _, ok := listed[name]; !ok {
					t.Errorf("%s is offered to the model but not listed as enabled", name)
				}
			}
			for _, name := range tc.has {
				if _, ok := offered[name]; !ok {
					t.Errorf("%s is not offered", name)
				}
			}
			for _, name := range tc.lacks {
				if _, ok := offered[name]; ok {
					t.Errorf("%s is offered", name)
				}
			}
		})
	}
}
