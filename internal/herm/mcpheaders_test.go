package herm

import (
	"context"
	"strings"
	"testing"
)

// MCP server headers: X-Herm-* are the server's own; a placeholder's
// secret must be the deployment's and allowed for the server's host, on
// create and on every update that changes the servers or the secrets.
func TestMCPHeaderRules(t *testing.T) {
	t.Parallel()
	hosts := map[string][]string{"sec_a": {"mcp.example.com"}, "sec_b": {"*.other.com"}, "sec_none": nil}
	r := Rules{DefaultModel: "demo/demo",
		SecretHosts: func(_ context.Context, id string) ([]string, error) { return hosts[id], nil },
	}
	str := func(s string) *string { return &s }
	server := func(url string, h map[string]string) *[]MCPServer {
		return &[]MCPServer{{Name: "m", URL: url, Headers: h}}
	}
	base := &DeploymentInput{CustomerID: str("c"), Name: str("n"), SystemPrompt: str("p"),
		Secrets: map[string]*string{"A": str("sec_a"), "B": str("sec_b"), "NONE": str("sec_none")}}
	d, err := NewDeployment(context.Background(), base, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		in   DeploymentInput
		code string
		msg  string
	}{
		{"allowed host", DeploymentInput{MCPServers: server("https://mcp.example.com/mcp", map[string]string{"Authorization": "Bearer ${A}"})}, "", ""},
		{"wildcard host", DeploymentInput{MCPServers: server("https://api.other.com/mcp", map[string]string{"X-Key": "${B}"})}, "", ""},
		{"another host", DeploymentInput{MCPServers: server("https://evil.example.net/mcp", map[string]string{"X-Key": "${A}"})}, EInvalidSecretRef, "evil.example.net"},
		{"no allowed hosts", DeploymentInput{MCPServers: server("https://mcp.example.com/mcp", map[string]string{"X-Key": "${NONE}"})}, EInvalidSecretRef, "allowed_hosts: none"},
		{"two secrets, one not allowed", DeploymentInput{MCPServers: server("https://mcp.example.com/mcp", map[string]string{"X-Key": "${A}:${B}"})}, EInvalidSecretRef, "${B}"},
		{"not the deployment's", DeploymentInput{MCPServers: server("https://mcp.example.com/mcp", map[string]string{"X-Key": "${OTHER}"})}, EInvalidSecretRef, "not in the deployment's secrets"},
		{"x-herm header", DeploymentInput{MCPServers: server("https://mcp.example.com/mcp", map[string]string{"x-herm-customer-id": "cus_other"})}, EInvalid, "X-Herm-*"},
		{"a secret moved away from its server", DeploymentInput{MCPServers: server("https://mcp.example.com/mcp", map[string]string{"X-Key": "${A}"}),
			Secrets: map[string]*string{"A": str("sec_b")}}, EInvalidSecretRef, "mcp.example.com"},
	} {
		_, err := ApplyUpdate(context.Background(), d, &c.in, r)
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if ErrorCode(err) != c.code || !strings.Contains(ErrorMessage(err), c.msg) {
			t.Errorf("%s: %v (want %s with %q)", c.name, err, c.code, c.msg)
		}
	}
	// A deployment whose server is allowed cannot then move it elsewhere.
	ok, err := ApplyUpdate(context.Background(), d, &DeploymentInput{MCPServers: server("https://mcp.example.com/mcp", map[string]string{"X-Key": "${A}"})}, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ApplyUpdate(context.Background(), ok, &DeploymentInput{Secrets: map[string]*string{"A": str("sec_none")}}, r); ErrorCode(err) != EInvalidSecretRef {
		t.Fatalf("re-pointing the secret: %v", err)
	}
}
