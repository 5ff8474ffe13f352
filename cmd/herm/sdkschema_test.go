package main

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	sdk "github.com/hermhq/herm/sdk/go"
	"go.yaml.in/yaml/v3"
)

// The Go SDK's response types against api/openapi.yaml: every field an SDK
// type decodes is a property of the schema of its name, and every property
// the schema requires is a field of it (the SDK neither invents fields nor
// misses ones the server always sends).
func TestGoSDKMatchesOpenAPI(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `yaml:"properties"`
				Required   []string       `yaml:"required"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"APIKey": sdk.APIKey{}, "Agent": sdk.Agent{}, "AgentFeatures": sdk.AgentFeatures{}, "AgentMCPServer": sdk.AgentMCPServer{},
		"AgentModelSettings": sdk.AgentModelSettings{}, "AgentNetwork": sdk.AgentNetwork{}, "AgentReasoning": sdk.AgentReasoning{},
		"AgentResources": sdk.AgentResources{}, "AgentSandbox": sdk.AgentSandbox{}, "AgentSkill": sdk.AgentSkill{}, "AgentTool": sdk.AgentTool{},
		"AgentToolConfig": sdk.AgentToolConfig{}, "Attachment": sdk.Attachment{}, "Automation": sdk.Automation{}, "AutomationRun": sdk.AutomationRun{},
		"CustomTool": sdk.CustomTool{}, "Delivery": sdk.Delivery{}, "Deployment": sdk.Deployment{}, "ErrorInfo": sdk.ErrorInfo{},
		"Features": sdk.Features{}, "FileEntry": sdk.FileEntry{}, "FileInfo": sdk.FileInfo{}, "FileList": sdk.FileList{},
		"MCPServer": sdk.MCPServer{}, "MCPServerStatus": sdk.MCPServerStatus{}, "Memory": sdk.Memory{}, "Message": sdk.Message{},
		"Model": sdk.Model{}, "ModelSettings": sdk.ModelSettings{}, "Network": sdk.Network{}, "PendingToolCall": sdk.PendingToolCall{},
		"PermissionPolicy": sdk.PermissionPolicy{}, "Reasoning": sdk.Reasoning{}, "RequiredAction": sdk.RequiredAction{},
		"Resources": sdk.Resources{}, "Run": sdk.Run{}, "Sandbox": sdk.Sandbox{}, "Secret": sdk.Secret{}, "Session": sdk.Session{},
		"SessionError": sdk.SessionError{}, "SessionEvent": sdk.SessionEvent{}, "SessionMessage": sdk.SessionMessage{},
		"SessionStreamToken": sdk.SessionStreamToken{}, "SessionWithMessages": sdk.SessionWithMessages{}, "SkillRef": sdk.SkillRef{},
		"SteeringRequest": sdk.SteeringRequest{}, "StopReason": sdk.StopReason{}, "TextBlock": sdk.TextBlock{}, "Thread": sdk.Thread{},
		"ThreadWithMessages": sdk.ThreadWithMessages{}, "ToolList": sdk.ToolList{}, "ToolSettings": sdk.ToolSettings{}, "Usage": sdk.Usage{},
		"Webhook":             sdk.Webhook{},
		"AgentMessagePayload": sdk.AgentMessagePayload{}, "AgentThinkingPayload": sdk.AgentThinkingPayload{},
		"AgentToolUsePayload": sdk.AgentToolUsePayload{}, "AgentMCPToolUsePayload": sdk.AgentMCPToolUsePayload{},
		"AgentCustomToolUsePayload": sdk.AgentCustomToolUsePayload{}, "AgentToolResultPayload": sdk.AgentToolResultPayload{},
		"UserMessagePayload": sdk.UserMessagePayload{}, "UserToolConfirmationPayload": sdk.UserToolConfirmationPayload{},
		"UserCustomToolResultPayload": sdk.UserCustomToolResultPayload{}, "SessionErrorPayload": sdk.SessionErrorPayload{},
		"SessionStatusIdlePayload": sdk.SessionStatusIdlePayload{}, "SessionStatusRunningPayload": sdk.SessionStatusRunningPayload{},
		"ContextCompactedPayload": sdk.ContextCompactedPayload{}, "ToolInfo": sdk.Tool{},
		// The first generation's events: the SDK decodes their own fields
		// (the common ones are sdk.Event's), so only that their fields
		// are the schema's is checked (partial).
		"TokenEvent": partial{sdk.TokenEvent{}}, "MessageEvent": partial{sdk.MessageEvent{}}, "RunStatusEvent": partial{sdk.RunStatusEvent{}},
		"DeploymentStatusEvent": partial{sdk.DeploymentStatusEvent{}}, "ToolCallEvent": partial{sdk.ToolCallEvent{}},
		"ToolResultEvent": partial{sdk.ToolResultEvent{}}, "SteeringRequestEvent": partial{sdk.SteeringRequestEvent{}},
		"SteeringResolvedEvent": partial{sdk.SteeringResolvedEvent{}}, "UsageEvent": partial{sdk.UsageEvent{}},
	} {
		p, isPartial := v.(partial)
		if isPartial {
			v = p.v
		}
		schema, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("%s: no schema of that name", name)
			continue
		}
		fields := jsonFields(reflect.TypeOf(v))
		for _, f := range fields {
			if _, ok := schema.Properties[f]; !ok {
				t.Errorf("sdk.%s has %q, which the schema %s does not", name, f, name)
			}
		}
		for _, r := range schema.Required {
			if !isPartial && !slices.Contains(fields, r) {
				t.Errorf("sdk.%s lacks %q, which the schema %s requires", name, r, name)
			}
		}
	}
}

// partial marks an SDK type that holds some of its schema's properties.
type partial struct{ v any }

// jsonFields lists the JSON names of a struct's fields as encoding/json
// sees them (embedded structs flattened, "-" left out).
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}
