package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/llmtest"
)

// A deployment with an MCP server (the SDK's own, in process) and an
// allowlist: the tools API shows exactly the allowed tools, the model calls
// one by its prefixed name, and the events carry the bare name and the
// server as origin. A server that is down is left out with a warning event.
func TestMCPTools(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "acme", Version: "1"}, nil)
	type in struct{ A, B int }
	type out struct {
		Sum int `json:"sum"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "sum", Description: "adds two numbers"}, func(_ context.Context, _ *mcp.CallToolRequest, v in) (*mcp.CallToolResult, out, error) {
		return nil, out{Sum: v.A + v.B}, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "delete_everything", Description: "not allowed"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		t.Error("a tool outside the allowlist was called")
		return nil, struct{}{}, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "report", Description: "a long report"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("line of the report\n", 10000) + "THE END"}}}, struct{}{}, nil
	})
	png := "\x89PNG\r\n\x1a\nnot really an image"
	mcp.AddTool(srv, &mcp.Tool{Name: "chart", Description: "draws a chart"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Your chart:"}, &mcp.ImageContent{MIMEType: "image/png", Data: []byte(png)}}}, struct{}{}, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer ts.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	script := llmtest.NewScript(
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c1", "acme__sum", `{"A":40,"B":2}`)}},
		words("It is 42."),
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c2", "acme__report", `{}`)}},
		words("Read it."),
		llmtest.Turn{ToolCalls: []llm.ToolCall{call("c3", "acme__chart", `{}`)}},
		words("Here."),
	)
	s := transcriptServer(t, script, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1", "HERM_DEFAULT_MODEL": "openai/gpt-4o"})
	d := s.createReady(map[string]any{"mcp_servers": []any{
		map[string]any{"name": "acme", "url": ts.URL, "tools": []string{"sum", "report", "chart"}},
		map[string]any{"name": "gone", "url": down.URL},
	}})
	id := d["deployment_id"].(string)

	list := s.must(200, "GET", "/v1/deployments/"+id+"/tools", nil)
	var mcpTools []string
	for _, x := range list["data"].([]any) {
		m := x.(map[string]any)
		if m["origin"] != "builtin" {
			mcpTools = append(mcpTools, m["name"].(string)+"@"+m["origin"].(string))
		}
	}
	if strings.Join(mcpTools, ",") != "acme__chart@acme,acme__report@acme,acme__sum@acme" {
		t.Fatalf("MCP tools listed: %v", mcpTools)
	}

	run := s.sendAndWait(id, "what is 40+2?")
	if run["status"] != "completed" {
		t.Fatalf("run %v", run)
	}
	calls := s.events(id, "tool_call")
	if len(calls) != 1 || calls[0]["tool"] != "sum" || calls[0]["origin"] != "acme" {
		t.Fatalf("tool_call events %v", calls)
	}
	res := s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || !strings.Contains(res[0]["result"].(string), `"sum":42`) || res[0]["tool"] != "sum" {
		t.Fatalf("tool_result events %v", res)
	}
	offered := script.Requests()[0].Tools
	var names []string
	for _, tl := range offered {
		if strings.Contains(tl.Name, "__") {
			names = append(names, tl.Name)
		}
	}
	if strings.Join(names, ",") != "acme__chart,acme__report,acme__sum" {
		t.Fatalf("offered to the model: %v", names)
	}
	warnings := s.events(id, "warning")
	if len(warnings) == 0 || !strings.Contains(warnings[0]["message"].(string), "gone") || !strings.Contains(warnings[0]["message"].(string), "cannot be reached") {
		t.Fatalf("warnings %v", warnings)
	}

	// A long result: a preview for the model, the whole in the workspace.
	run = s.sendAndWait(id, "the report please")
	res = s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || res[0]["truncated"] != true || res[0]["output_path"] == nil || len(str(res[0]["result"])) > 17<<10 {
		t.Fatalf("long MCP result: %v", res)
	}
	if full := s.do("GET", "/v1/deployments/"+id+"/files/content?path="+str(res[0]["output_path"]), nil); !strings.HasSuffix(string(full.body), "THE END") {
		t.Fatalf("the whole result: %d bytes", len(full.body))
	}

	// An image is saved in the workspace, and the model told where.
	run = s.sendAndWait(id, "a chart please")
	res = s.toolResults(id, run["run_id"].(string))
	if len(res) != 1 || res[0]["is_error"] != false || str(res[0]["result"]) != "Your chart:\n[1-image.png (image/png, 27 bytes) saved as .herm/outputs/c3-1-image.png; also shown to you as an image]" {
		t.Fatalf("image result: %v", res)
	}
	if img := s.do("GET", "/v1/deployments/"+id+"/files/content?path=.herm/outputs/c3-1-image.png", nil); string(img.body) != png {
		t.Fatalf("saved image: %d %q", img.status, img.body)
	}
	// The model saw the image after the tool's result (Chat Completions:
	// as a user message following the tool messages).
	reqs := script.Requests()
	last := reqs[len(reqs)-1].Messages
	var images []llm.Image
	for _, m := range last {
		images = append(images, m.Images...)
	}
	if len(images) != 1 || string(images[0].Data) != png || images[0].MediaType != "image/png" {
		t.Fatalf("images sent to the model: %d", len(images))
	}
}

func TestMCPServersAPI(t *testing.T) {
	s := startServer(t, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})
	id := s.createReady(nil)["deployment_id"].(string)
	base := "/v1/deployments/" + id + "/mcp_servers"
	got := s.must(201, "POST", base, map[string]any{"name": "acme", "url": "http://127.0.0.1:9/mcp", "tools": []string{"a"}, "permission": "always_ask"})
	if got["name"] != "acme" || got["permission"] != "always_ask" {
		t.Fatalf("added %v", got)
	}
	if r := s.do("POST", base, map[string]any{"name": "acme", "url": "http://127.0.0.1:9/other"}); r.status != 409 {
		t.Fatalf("duplicate: %d %s", r.status, r.body)
	}
	if r := s.do("POST", base, map[string]any{"name": "Bad Name", "url": "http://127.0.0.1:9/"}); r.status != 400 {
		t.Fatalf("bad name: %d %s", r.status, r.body)
	}
	s.must(200, "PUT", base+"/acme", map[string]any{"url": "http://127.0.0.1:9/v2"})
	list := s.must(200, "GET", base, nil)["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["url"] != "http://127.0.0.1:9/v2" {
		t.Fatalf("list %v", list)
	}
	if r := s.do("PUT", base+"/nope", map[string]any{"url": "http://127.0.0.1:9/"}); r.status != 404 {
		t.Fatalf("put unknown: %d", r.status)
	}
	s.must(204, "DELETE", base+"/acme", nil)
	if r := s.do("DELETE", base+"/acme", nil); r.status != 404 {
		t.Fatalf("delete twice: %d", r.status)
	}
	dep := s.must(200, "GET", "/v1/deployments/"+id, nil)
	if dep["config_version"].(float64) != 4 {
		t.Fatalf("config_version %v", dep["config_version"])
	}
}

// The vault: values never come back from the API; deployments reference
// only their customer's secrets (422 otherwise); an MCP server's header
// placeholder is filled on the host with the value, which appears in no
// event.
func TestSecretsVault(t *testing.T) {
	const canary = "canary-7f3a9c-secret-value"
	var gotAuth string
	var mu sync.Mutex
	srv := mcp.NewServer(&mcp.Implementation{Name: "acme", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "echoes nothing"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, struct{}, error) {
		mu.Lock()
		if req.Extra != nil {
			gotAuth = req.Extra.Header.Get("Authorization")
		}
		mu.Unlock()
		// A careless server that echoes the credential back.
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "you are authenticated with " + gotAuth}}}, struct{}{}, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer ts.Close()

	script := llmtest.NewScript(llmtest.Turn{ToolCalls: []llm.ToolCall{call("c1", "acme__whoami", `{}`)}}, words("OK."))
	s := transcriptServer(t, script, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})
	created := s.must(201, "POST", "/v1/secrets", map[string]any{"name": "acme-token", "value": canary, "customer_id": "cus_1", "allowed_hosts": []string{"127.0.0.1"}})
	id := created["secret_id"].(string)
	other := s.must(201, "POST", "/v1/secrets", map[string]any{"name": "other", "value": "x", "customer_id": "cus_2"})["secret_id"].(string)
	for _, body := range []string{
		string(s.do("POST", "/v1/secrets", map[string]any{"name": "n", "value": "v"}).body),
		string(s.do("GET", "/v1/secrets", nil).body),
		string(s.do("GET", "/v1/secrets/"+id, nil).body),
		string(s.do("PUT", "/v1/secrets/"+id, map[string]any{"value": canary}).body),
	} {
		if strings.Contains(body, canary) || strings.Contains(body, `"value"`) {
			t.Fatalf("a response carries the value: %s", body)
		}
	}
	if got := s.must(200, "GET", "/v1/secrets/"+id, nil); got["rotated_at"] == nil || got["customer_id"] != "cus_1" {
		t.Fatalf("after rotation %v", got)
	}

	// Another customer's secret is not a valid reference.
	r := s.do("POST", "/v1/deployments", map[string]any{"customer_id": "cus_1", "name": "n", "system_prompt": "p", "secrets": map[string]any{"TOKEN": other}})
	if r.status != 422 || r.errCode(t) != "invalid_secret_ref" {
		t.Fatalf("another customer's secret: %d %s", r.status, r.body)
	}
	d := s.createReady(map[string]any{"secrets": map[string]any{"ACME_TOKEN": id},
		"mcp_servers": []any{map[string]any{"name": "acme", "url": ts.URL, "headers": map[string]any{"Authorization": "Bearer ${ACME_TOKEN}"}}}})
	dep := d["deployment_id"].(string)
	run := s.sendAndWait(dep, "who am I?")
	if run["status"] != "completed" {
		t.Fatalf("run %v", run)
	}
	mu.Lock()
	if gotAuth != "Bearer "+canary {
		t.Fatalf("the MCP server got Authorization %q", gotAuth)
	}
	mu.Unlock()
	all := s.do("GET", "/v1/deployments/"+dep+"/events?after=evt_0&limit=1000", nil, "Accept", "application/json")
	if strings.Contains(string(all.body), canary) {
		t.Fatal("the value is in the event log")
	}
	res := s.toolResults(dep, run["run_id"].(string))
	if len(res) != 1 || !strings.Contains(res[0]["result"].(string), "Bearer [REDACTED:ACME_TOKEN]") {
		t.Fatalf("tool result %v", res)
	}
	for _, req := range script.Requests() {
		for _, m := range req.Messages {
			if strings.Contains(m.Content, canary) {
				t.Fatal("the value reached the model")
			}
		}
	}
	s.must(204, "DELETE", "/v1/secrets/"+id, nil)
	if r := s.do("GET", "/v1/secrets/"+id, nil); r.status != 404 {
		t.Fatalf("deleted secret: %d", r.status)
	}
}

// The Tools API does not wait on MCP servers that hang: it answers within
// a short bound, lists the tools of servers that answered, and says which
// servers are unreachable (and why) or still connecting.
func TestToolsListingDoesNotWaitOnMCP(t *testing.T) {
	t.Parallel()
	srv := mcp.NewServer(&mcp.Implementation{Name: "ok", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "ping", Description: "pings"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{}, struct{}{}, nil
	})
	ok := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer ok.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // answers nothing until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	s := startServer(t, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})
	id := s.createReady(map[string]any{"mcp_servers": []any{
		map[string]any{"name": "ok", "url": ok.URL},
		map[string]any{"name": "hangs", "url": hang.URL},
		map[string]any{"name": "down", "url": down.URL},
	}})["deployment_id"].(string)
	list := s.must(200, "GET", "/v1/deployments/"+id+"/tools", nil)
	states := map[string]string{}
	for _, x := range list["mcp_servers"].([]any) {
		m := x.(map[string]any)
		states[m["name"].(string)] = m["status"].(string)
		if m["status"] == "unreachable" && (m["message"] == nil || m["message"] == "") {
			t.Errorf("an unreachable server without a reason: %v", m)
		}
	}
	// "connecting": the listing did not wait for the hanging server's
	// listing timeout (15 s), after which it would be unreachable.
	if states["ok"] != "connected" || states["hangs"] != "connecting" || states["down"] != "unreachable" {
		t.Fatalf("server states %v", states)
	}
	found := false
	for _, x := range list["data"].([]any) {
		found = found || x.(map[string]any)["name"] == "ok__ping"
	}
	if !found {
		t.Fatalf("the answering server's tools are not listed: %v", list["data"])
	}
	// PATCH of a tool answers from the same bounded listing.
	s.must(200, "PATCH", "/v1/deployments/"+id+"/tools/ok__ping", map[string]any{"permission": "always_ask"})
}
