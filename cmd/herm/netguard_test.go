package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/netguard"
)

// refused checks a 400 validation_error whose message holds want.
func (s *server) refused(want, method, path string, body any) {
	s.t.Helper()
	r := s.do(method, path, body)
	if r.status != 400 || r.errCode(s.t) != "validation_error" || !strings.Contains(string(r.body), want) {
		s.t.Errorf("%s %s: %d %s, want a validation_error with %q", method, path, r.status, r.body, want)
	}
}

// MCP servers, url skills and attachments are checked by the network guard
// when they are set: a literal address (any notation) or a name resolving
// to a refused one is a 400 naming the field; metadata services stay
// refused when private networks are allowed.
func TestGuardAtCreate(t *testing.T) {
	s := startServer(t, nil)
	base := func(extra map[string]any) map[string]any {
		b := map[string]any{"customer_id": "cus_1", "name": "Agent", "system_prompt": "Be helpful."}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	mcp := func(u string) map[string]any {
		return map[string]any{"mcp_servers": []any{map[string]any{"name": "acme", "url": u}}}
	}
	for u, want := range map[string]string{
		"https://169.254.169.254/":         "mcp_servers[0].url: 169.254.169.254 is a cloud metadata address",
		"https://10.0.0.1/mcp":             "mcp_servers[0].url: 10.0.0.1 is a private address",
		"https://0xa9fea9fe/":              "mcp_servers[0].url: 0xa9fea9fe is 169.254.169.254, a cloud metadata address",
		"https://[::ffff:a9fe:a9fe]/":      "embeds 169.254.169.254, a cloud metadata address",
		"https://metadata.google.internal": "mcp_servers[0].url: metadata.google.internal is a cloud metadata host",
	} {
		s.refused(want, "POST", "/v1/deployments", base(mcp(u)))
	}
	id := s.createReady(nil)["deployment_id"].(string)
	s.refused("mcp_servers[0].url: 10.0.0.1 is a private address", "PATCH", "/v1/deployments/"+id, mcp("https://10.0.0.1/mcp"))
	s.refused("mcp_servers[0].url: 169.254.169.254 is a cloud metadata address", "PATCH", "/v1/deployments/"+id, mcp("https://169.254.169.254/"))
	s.refused("mcp_servers[0].url: 10.0.0.1 is a private address", "POST", "/v1/deployments/"+id+"/mcp_servers", map[string]any{"name": "acme", "url": "https://10.0.0.1/mcp"})
	s.refused("skills[0].url: 10.0.0.1 is a private address", "PATCH", "/v1/deployments/"+id,
		map[string]any{"skills": []any{map[string]any{"name": "s", "source": "url", "url": "https://10.0.0.1/SKILL.md"}}})
	s.refused("attachments[1].url: 127.1 is 127.0.0.1, a loopback address", "POST", "/v1/deployments/"+id+"/messages",
		map[string]any{"content": "x", "attachments": []any{
			map[string]any{"type": "file", "url": "data:text/plain,hi"},
			map[string]any{"type": "image", "url": "https://127.1/x.png"}}})
	if d := s.must(200, "GET", "/v1/deployments/"+id, nil); d["config_version"].(float64) != 1 {
		t.Errorf("a refused update changed the deployment: %v", d)
	}

	// With private networks allowed: private is fine, metadata is not.
	lax := startServer(t, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})
	lax.refused("mcp_servers[0].url: 169.254.169.254 is a cloud metadata address", "POST", "/v1/deployments", base(mcp("http://169.254.169.254/")))
	lax.refused("mcp_servers[0].url: fd00:ec2::254 is a cloud metadata address", "POST", "/v1/deployments", base(mcp("http://[fd00:ec2::254]/")))
	lid := lax.createReady(mcp("http://10.0.0.1/mcp"))["deployment_id"].(string)
	lax.refused("attachments[0].url: 169.254.169.254 is a cloud metadata address", "POST", "/v1/deployments/"+lid+"/messages",
		map[string]any{"content": "x", "attachments": []any{map[string]any{"type": "file", "url": "https://169.254.169.254/latest/meta-data/"}}})
}

// An attachment that cannot be fetched ends the run with an
// attachment_error that says why (not "an internal error").
func TestAttachmentErrorSaysWhy(t *testing.T) {
	script := llmtest.NewScript(words("unused"))
	s := transcriptServer(t, script, nil)
	id := s.createReady(nil)["deployment_id"].(string) // egress proxy, no allowed hosts
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "read it",
		"attachments": []any{map[string]any{"type": "file", "url": "https://files.invalid/report.csv"}}})
	r := s.waitRun(id, sent["run_id"].(string), "completed", "error")
	msg := fmt.Sprint(r["error"])
	if r["status"] != "error" || !strings.Contains(msg, "attachment_error") || !strings.Contains(msg, "https://files.invalid/report.csv") ||
		!strings.Contains(msg, "host files.invalid is not allowed") {
		t.Fatalf("run %v", r)
	}
}

// ownAddr is an address of one of this machine's interfaces that is neither
// loopback nor link-local.
func ownAddr(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := netguard.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsMulticast() {
			return a
		}
	}
	t.Skip("this machine has no non-loopback interface address")
	return netip.Addr{}
}

// The sandbox's egress proxy does not connect to the server's own host,
// even when a secret's allowed_hosts names it: only the operator's switch
// allows that.
func TestEgressRefusesOwnHost(t *testing.T) {
	own := ownAddr(t)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(own, 0).String())
	if err != nil {
		t.Skipf("cannot listen on %s: %v", own, err)
	}
	var hits atomic.Int64
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "the host's own service")
	}))
	upstream.Listener.Close()
	upstream.Listener = ln
	upstream.Start()
	defer upstream.Close()

	cmd := `curl -s -m 10 http://` + ln.Addr().String() + `/; echo; curl -s -m 10 -o /dev/null -w '%{http_code}' https://` + ln.Addr().String() + `/`
	args, _ := json.Marshal(map[string]string{"command": cmd})
	script := llmtest.NewScript(llmtest.Turn{ToolCalls: []llm.ToolCall{call("c1", "shell", string(args))}}, words("done"))
	s := transcriptServer(t, script, nil)
	if !localSandbox(t, s) {
		t.Skip("the local driver does not run here (it needs root and user namespaces)")
	}
	// A deployment's allowed_hosts cannot name it (refused when set, see
	// TestAllowedHostsTheGuardRefuses); a secret's allowed_hosts can, and
	// the proxy then lets the host through to the dial, which refuses it.
	sec := s.must(201, "POST", "/v1/secrets", map[string]any{"name": "own", "value": "own-host-value", "customer_id": "cus_1", "allowed_hosts": []string{own.String()}})["secret_id"].(string)
	id := s.createReady(map[string]any{"secrets": map[string]any{"OWN": sec}, "sandbox": map[string]any{"network": map[string]any{"egress": "proxy"}}})["deployment_id"].(string)
	defer s.do("DELETE", "/v1/deployments/"+id, nil)
	run := s.sendAndWait(id, "go")
	res := s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 {
		t.Fatalf("results %v", res)
	}
	out := fmt.Sprint(res[0]["result"])
	want := own.String() + " is an address of this server's own host"
	if !strings.Contains(out, want) || strings.Contains(out, "the host's own service") {
		t.Errorf("the sandbox got %q, want a refusal with %q", out, want)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the host's service got %d requests", n)
	}
	var reasons []string
	for _, e := range s.events(id, "egress") {
		reasons = append(reasons, fmt.Sprint(e["reason"]))
	}
	if !strings.Contains(strings.Join(reasons, "\n"), want) {
		t.Errorf("egress events %v", reasons)
	}
}

// An allowed host the network guard would refuse when dialled is refused
// when it is set, naming the field; with private networks allowed it is
// accepted.
func TestAllowedHostsTheGuardRefuses(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, h := range []string{"10.0.0.5", "169.254.169.254", "127.0.0.1", "::1", "localhost"} {
		r := s.do("POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p",
			"sandbox": map[string]any{"network": map[string]any{"allowed_hosts": []string{"api.example.com", h}}}})
		if r.status != 400 || r.errCode(t) != "validation_error" || !strings.Contains(string(r.body), "sandbox.network.allowed_hosts") {
			t.Errorf("%s: %d %s", h, r.status, r.body)
		}
	}
	s.must(201, "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p",
		"sandbox": map[string]any{"network": map[string]any{"allowed_hosts": []string{"93.184.216.34", "*.example.com"}}}})
	dev := startServer(t, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})
	dev.must(201, "POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p",
		"sandbox": map[string]any{"network": map[string]any{"allowed_hosts": []string{"10.0.0.5"}}}})
	if r := dev.do("POST", "/v1/deployments", map[string]any{"customer_id": "c", "name": "n", "system_prompt": "p",
		"sandbox": map[string]any{"network": map[string]any{"allowed_hosts": []string{"169.254.169.254"}}}}); r.status != 400 {
		t.Errorf("a metadata address with private networks allowed: %d %s", r.status, r.body)
	}
}
