package herm

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Rules.CheckURL (the network guard) is asked about every MCP server, url
// skill and https attachment URL, and its refusal is a validation_error
// naming the field.
func TestRulesCheckURL(t *testing.T) {
	t.Parallel()
	var asked []string
	r := Rules{DefaultModel: "demo/demo", AllowPrivateNetworks: true, CheckURL: func(_ context.Context, raw string) error {
		asked = append(asked, raw)
		if strings.Contains(raw, "10.0.0.1") {
			return errors.New("10.0.0.1 is a private address")
		}
		return nil
	}}
	str := func(s string) *string { return &s }
	in := func() *DeploymentInput {
		return &DeploymentInput{CustomerID: str("c"), Name: str("n"), SystemPrompt: str("p")}
	}
	tests := []struct {
		name string
		in   *DeploymentInput
		want string
	}{
		{"mcp", func() *DeploymentInput {
			d := in()
			d.MCPServers = &[]MCPServer{{Name: "ok", URL: "https://mcp.example.com/"}, {Name: "bad", URL: "http://10.0.0.1/mcp"}}
			return d
		}(), "mcp_servers[1].url: 10.0.0.1 is a private address"},
		{"skill", func() *DeploymentInput {
			d := in()
			d.Skills = &[]SkillInput{{Name: "s", Source: SkillURL, URL: "https://10.0.0.1/SKILL.md"}}
			return d
		}(), "skills[0].url: 10.0.0.1 is a private address"},
	}
	for _, tt := range tests {
		_, err := NewDeployment(context.Background(), tt.in, r)
		if ErrorCode(err) != EInvalid || ErrorMessage(err) != tt.want {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	d, err := NewDeployment(context.Background(), in(), r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyUpdate(context.Background(), d, tests[0].in, r); ErrorMessage(err) != tests[0].want {
		t.Errorf("update: %v", err)
	}
	atts := []Attachment{{Type: AttachFile, URL: "data:text/plain,hi"}, {Type: AttachFile, URL: "https://10.0.0.1/x.csv"}}
	if err := CheckAttachmentURLs(context.Background(), atts, r); ErrorCode(err) != EInvalid || ErrorMessage(err) != "attachments[1].url: 10.0.0.1 is a private address" {
		t.Errorf("attachments: %v", err)
	}
	if err := CheckAttachmentURLs(context.Background(), atts[:1], r); err != nil {
		t.Errorf("a data URL: %v", err)
	}
	if !strings.Contains(strings.Join(asked, " "), "https://mcp.example.com/") {
		t.Errorf("asked about %v", asked)
	}
}
