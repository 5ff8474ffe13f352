package herm

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const okSchema = `{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}`

func customTool(name, schema string) map[string]any {
	return map[string]any{"name": name, "description": "Look an order up.", "input_schema": json.RawMessage(schema)}
}

func withCustomTools(t *testing.T, tools ...any) *DeploymentInput {
	t.Helper()
	b, err := json.Marshal(map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p", "custom_tools": tools})
	if err != nil {
		t.Fatal(err)
	}
	var in DeploymentInput
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return &in
}

func TestCustomToolsValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testRules()
	d, err := NewDeployment(ctx, withCustomTools(t, customTool("lookup_order", "{\n  \"type\": \"object\",\n  \"properties\": {\"order_id\": {\"type\": \"string\"}}\n}"), customTool("cancel-order", okSchema)), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.CustomTools) != 2 || d.CustomTools[0].Name != "lookup_order" || string(d.CustomTools[0].InputSchema) != `{"type":"object","properties":{"order_id":{"type":"string"}}}` {
		t.Fatalf("stored %+v (%s)", d.CustomTools, d.CustomTools[0].InputSchema)
	}

	tooMany := make([]any, MaxCustomTools+1)
	for i := range tooMany {
		tooMany[i] = customTool(fmt.Sprintf("t%d", i), okSchema)
	}
	bigSchema := `{"type":"object","description":"` + strings.Repeat("x", MaxCustomToolSchema) + `"}`
	for _, c := range []struct {
		name  string
		tools []any
		want  string
	}{
		{"no name", []any{customTool("", okSchema)}, "custom_tools[0].name is required"},
		{"space", []any{customTool("look up", okSchema)}, "must be 1 to 64 letters"},
		{"dot", []any{customTool("shop.lookup", okSchema)}, "must be 1 to 64 letters"},
		{"too long", []any{customTool(strings.Repeat("a", 65), okSchema)}, "must be 1 to 64 letters"},
		{"double underscore", []any{customTool("shop__lookup", okSchema)}, "without __"},
		{"built-in", []any{customTool("shell", okSchema)}, `"shell" is a built-in tool's name`},
		{"contract's built-in", []any{customTool("web_search", okSchema)}, `"web_search" is a built-in tool's name`},
		{"duplicate", []any{customTool("a", okSchema), customTool("b", okSchema), customTool("a", okSchema)}, `custom_tools[2].name: "a" is there twice`},
		{"no description", []any{map[string]any{"name": "a", "description": " ", "input_schema": json.RawMessage(okSchema)}}, "custom_tools[0].description is required"},
		{"long description", []any{map[string]any{"name": "a", "description": strings.Repeat("é", MaxCustomToolDescription+1), "input_schema": json.RawMessage(okSchema)}}, "description must be at most"},
		{"no schema", []any{map[string]any{"name": "a", "description": "d"}}, "input_schema: is required"},
		{"null schema", []any{customTool("a", "null")}, "input_schema: is required"},
		{"array schema", []any{customTool("a", `[{"type":"object"}]`)}, "must be a JSON Schema object"},
		{"string schema", []any{customTool("a", `"object"`)}, "must be a JSON Schema object"},
		{"schema of a string", []any{customTool("a", `{"type":"string"}`)}, `must describe an object`},
		{"schema without type", []any{customTool("a", `{"properties":{}}`)}, `must describe an object`},
		{"remote $ref", []any{customTool("a", `{"type":"object","properties":{"x":{"$ref":"https://example.com/schema.json"}}}`)}, "input_schema: is not a valid JSON Schema"},
		{"bad keyword value", []any{customTool("a", `{"type":"object","required":"order_id"}`)}, "input_schema: is not a valid JSON Schema"},
		{"schema too big", []any{customTool("a", bigSchema)}, fmt.Sprintf("must be at most %d bytes", MaxCustomToolSchema)},
		{"too many", tooMany, fmt.Sprintf("at most %d tools", MaxCustomTools)},
	} {
		_, err := NewDeployment(ctx, withCustomTools(t, c.tools...), r)
		if err == nil || !IsCode(err, EInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// At the limits: 64 tools, a schema just under 64 KiB.
	atLimit := tooMany[:MaxCustomTools]
	atLimit[0] = customTool("t0", `{"type":"object","description":"`+strings.Repeat("x", MaxCustomToolSchema-40)+`"}`)
	if _, err := NewDeployment(ctx, withCustomTools(t, atLimit...), r); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
	// A local $ref resolves.
	if _, err := NewDeployment(ctx, withCustomTools(t, customTool("a", `{"type":"object","$defs":{"id":{"type":"string"}},"properties":{"x":{"$ref":"#/$defs/id"}}}`)), r); err != nil {
		t.Fatalf("a local $ref: %v", err)
	}
}

func TestCustomToolsUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testRules()
	d, err := NewDeployment(ctx, withCustomTools(t, customTool("a", okSchema), customTool("b", okSchema)), r)
	if err != nil {
		t.Fatal(err)
	}
	patch := func(body string) (*Deployment, error) {
		var in DeploymentInput
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return ApplyUpdate(ctx, d, &in, r)
	}
	names := func(d *Deployment) string {
		var n []string
		for _, t := range d.CustomTools {
			n = append(n, t.Name)
		}
		return strings.Join(n, ",")
	}
	// Absent: the list stays.
	up, err := patch(`{"name":"renamed"}`)
	if err != nil || names(up) != "a,b" {
		t.Fatalf("without custom_tools: %v %v", names(up), err)
	}
	// A list replaces the whole list (no merge by name).
	up, err = patch(`{"custom_tools":[{"name":"c","description":"C","input_schema":{"type":"object"}}]}`)
	if err != nil || names(up) != "c" {
		t.Fatalf("replaced: %v %v", names(up), err)
	}
	if names(d) != "a,b" {
		t.Fatalf("the old configuration changed: %v", names(d))
	}
	// [] clears.
	up, err = patch(`{"custom_tools":[]}`)
	if err != nil || len(up.CustomTools) != 0 {
		t.Fatalf("cleared: %+v %v", up.CustomTools, err)
	}
	// An invalid list is refused and nothing changes.
	if _, err = patch(`{"custom_tools":[{"name":"a__b","description":"x","input_schema":{"type":"object"}}]}`); err == nil || !strings.Contains(err.Error(), "without __") {
		t.Fatalf("an invalid update: %v", err)
	}
	if names(d) != "a,b" {
		t.Fatalf("after a refused update: %v", names(d))
	}
	// Unknown fields of a custom tool are refused.
	var in DeploymentInput
	if err := json.Unmarshal([]byte(`{"custom_tools":[{"name":"a","description":"x","input_schema":{"type":"object"},"strict":true}]}`), &in); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("an unknown field: %v", err)
	}
}
