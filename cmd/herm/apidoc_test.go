package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hermhq/herm/internal/httpapi"
	"github.com/hermhq/herm/internal/openapi"
)

// servedDoc fetches GET /openapi.yaml (without a key), checks it is
// api/openapi.yaml's document, and parses it.
func servedDoc(t *testing.T, s *server) map[string]any {
	t.Helper()
	resp, err := http.Get(s.url + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	want, err := openapi.Generate(httpapi.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml" || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("GET /openapi.yaml: %d %q, %d bytes (want %d)", resp.StatusCode, resp.Header.Get("Content-Type"), buf.Len(), len(want))
	}
	var doc map[string]any
	if err := yaml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// at walks a parsed document.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// schemaNamed resolves a {$ref} to the schema it names.
func schemaNamed(doc map[string]any, ref any) map[string]any {
	name := strings.TrimPrefix(at(ref, "$ref").(string), "#/components/schemas/")
	s, _ := at(doc, "components", "schemas", name).(map[string]any)
	return s
}

func strings1(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// Every request body's required properties in the served document are
// exactly what the server enforces: the body with only them (plus what
// another field's value makes necessary) is accepted, and without any one
// of them it is a 400 validation_error naming it.
func TestRequiredFields(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	doc := servedDoc(t, s)
	d := s.createReady(nil)
	dep := "/v1/deployments/" + d["deployment_id"].(string)
	thread := d["thread_id"].(string)

	type request struct {
		path  string         // default: the operation's, with ids filled in
		body  map[string]any // exactly the document's required properties
		extra map[string]any // what the values in body make necessary besides
	}
	ids := map[string]string{} // made by the operations before
	fill := func(p string) string {
		p = strings.ReplaceAll(p, "/v1/deployments/{deployment_id}", dep)
		for k, v := range ids {
			p = strings.ReplaceAll(p, "{"+k+"}", v)
		}
		return p
	}
	skill := "---\nname: greet\ndescription: Greets.\n---\nSay hello."
	// In order: later operations use what earlier ones made.
	ops := []struct {
		op string
		request
		id string // the response's field to keep as {id}
	}{
		{"POST /v1/api_keys", request{body: map[string]any{"name": "k", "scopes": []string{"deployments:read"}}}, ""},
		{"POST /v1/deployments", request{body: map[string]any{"customer_id": "cus_r", "name": "n", "system_prompt": "p"}}, ""},
		{"PATCH /v1/deployments/{deployment_id}", request{body: map[string]any{}}, ""},
		{"POST /v1/deployments/{deployment_id}/threads", request{body: map[string]any{}}, ""},
		{"PATCH /v1/deployments/{deployment_id}/threads/{thread_id}", request{body: map[string]any{"title": "t"}}, ""},
		{"POST /v1/deployments/{deployment_id}/messages", request{body: map[string]any{"content": "hi"}}, ""},
		{"POST /v1/deployments/{deployment_id}/automations", request{body: map[string]any{"name": "a", "schedule": "every 2 hours", "instructions": "i"}}, "automation_id"},
		{"PATCH /v1/deployments/{deployment_id}/automations/{automation_id}", request{body: map[string]any{}}, ""},
		{"POST /v1/deployments/{deployment_id}/memories", request{body: map[string]any{"content": "likes tea"}}, "memory_id"},
		{"PATCH /v1/deployments/{deployment_id}/memories/{memory_id}", request{body: map[string]any{"content": "likes coffee"}}, ""},
		{"POST /v1/deployments/{deployment_id}/skills", request{body: map[string]any{"name": "greet", "source": "inline"}, extra: map[string]any{"content": skill}}, "skill_id"},
		{"PUT /v1/deployments/{deployment_id}/skills/{skill_id}", request{body: map[string]any{"name": "greet", "source": "inline"}, extra: map[string]any{"content": skill}}, ""},
		{"POST /v1/deployments/{deployment_id}/mcp_servers", request{body: map[string]any{"name": "srv", "url": "https://mcp.example.com/mcp"}}, ""},
		{"PUT /v1/deployments/{deployment_id}/mcp_servers/{name}", request{path: dep + "/mcp_servers/srv", body: map[string]any{"url": "https://mcp2.example.com/mcp"}}, ""},
		{"PATCH /v1/deployments/{deployment_id}/tools/{name}", request{path: dep + "/tools/todo", body: map[string]any{}}, ""},
		{"PUT /v1/deployments/{deployment_id}/files", request{path: dep + "/files?path=a.txt", body: map[string]any{"content": "x"}}, ""},
		{"DELETE /v1/deployments/{deployment_id}/files", request{body: map[string]any{"path": "a.txt"}}, ""},
		// Answering checks the body before it looks for the request: a
		// valid body for no such request is a 404.
		{"POST /v1/deployments/{deployment_id}/steering_requests/{steering_request_id}", request{path: dep + "/steering_requests/str_none", body: map[string]any{"decision": "deny"}}, ""},
		{"POST /v1/secrets", request{body: map[string]any{"name": "TOKEN", "value": "v"}}, "secret_id"},
		{"PUT /v1/secrets/{secret_id}", request{body: map[string]any{"value": "w"}}, ""},
		{"POST /v1/webhooks", request{body: map[string]any{"url": "https://hooks.example.com/h", "events": []string{"run_status"}}}, ""},
		// Its body is optional and requires nothing; the deletion is tested
		// elsewhere (TestDeleteDeployment).
		{"DELETE /v1/deployments/{deployment_id}", request{body: nil}, ""},
	}
	ids["thread_id"] = thread

	covered := map[string]bool{}
	for _, o := range ops {
		covered[o.op] = true
		method, path, _ := strings.Cut(o.op, " ")
		op, _ := at(doc, "paths", path, strings.ToLower(method)).(map[string]any)
		ref := at(op, "requestBody", "content", "application/json", "schema")
		if ref == nil {
			t.Errorf("%s: no JSON request body in the document", o.op)
			continue
		}
		schema := schemaNamed(doc, ref)
		var required []string
		if r, ok := schema["required"]; ok {
			required = strings1(r)
		}
		if got := slices.Sorted(maps.Keys(o.body)); !slices.Equal(got, slices.Sorted(slices.Values(required))) {
			t.Errorf("%s: the document requires %v; the table's body has %v", o.op, required, got)
			continue
		}
		if o.body == nil {
			continue
		}
		target := o.path
		if target == "" {
			target = fill(path)
		}
		full := maps.Clone(o.body)
		maps.Copy(full, o.extra)
		for _, field := range required {
			without := maps.Clone(full)
			delete(without, field)
			r := s.do(method, target, without)
			if r.status != 400 || r.errCode(t) != "validation_error" || !strings.Contains(string(r.body), field) {
				t.Errorf("%s without %s: %d %s", o.op, field, r.status, r.body)
			}
		}
		r := s.do(method, target, full)
		if r.status == 400 || r.status >= 500 || (r.status == 404 && !strings.Contains(path, "steering_request_id")) {
			t.Errorf("%s with %v: %d %s", o.op, full, r.status, r.body)
			continue
		}
		if o.id != "" {
			ids[o.id] = r.json(t)[o.id].(string)
		}
	}
	// Every operation with a JSON body is in the table.
	for _, op := range httpapi.OpenAPI().Operations {
		if op.Request != nil && !covered[op.Method+" "+op.Path] {
			t.Errorf("%s %s has a request body the test does not try", op.Method, op.Path)
		}
	}
}

// The events a run sends match the document: each is the variant its type
// names in Event's discriminator, with every required property and none
// it does not describe; the JSON page is an EventList.
func TestEventSchemas(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	doc := servedDoc(t, s)
	d := s.createReady(nil)
	dep := d["deployment_id"].(string)
	res := s.must(202, "POST", "/v1/deployments/"+dep+"/messages", map[string]any{"content": "Give me two ideas"})
	s.waitRun(dep, res["run_id"].(string), "completed")
	thr := s.must(201, "POST", "/v1/deployments/"+dep+"/threads", map[string]any{"title": "x"})
	s.must(204, "DELETE", "/v1/deployments/"+dep+"/threads/"+thr["thread_id"].(string), nil)

	ev := at(doc, "components", "schemas", "Event").(map[string]any)
	mapping := at(ev, "discriminator", "mapping").(map[string]any)
	if at(ev, "discriminator", "propertyName") != "type" || len(ev["oneOf"].([]any)) != len(mapping) {
		t.Fatalf("Event: %v", ev)
	}
	list := at(doc, "paths", "/v1/deployments/{deployment_id}/events", "get", "responses", "200", "content", "application/json", "schema")
	if schemaNamed(doc, list) == nil || at(schemaNamed(doc, list), "properties", "data", "items", "$ref") != "#/components/schemas/Event" {
		t.Fatalf("the JSON page's schema: %v", list)
	}
	r := s.do("GET", "/v1/deployments/"+dep+"/events?limit=1000", nil, "Accept", "application/json")
	var page struct {
		Data       []map[string]json.RawMessage `json:"data"`
		NextCursor *string                      `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil || r.status != 200 {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	types := map[string]bool{}
	for _, e := range page.Data {
		var typ string
		_ = json.Unmarshal(e["type"], &typ)
		types[typ] = true
		ref, ok := mapping[typ]
		if !ok {
			t.Errorf("event type %q is not in Event's discriminator", typ)
			continue
		}
		schema := schemaNamed(doc, map[string]any{"$ref": ref})
		props := schema["properties"].(map[string]any)
		for _, req := range strings1(schema["required"]) {
			if _, ok := e[req]; !ok {
				t.Errorf("%s event lacks required %s: %s", typ, req, mustJSON(e))
			}
		}
		for k := range e {
			if _, ok := props[k]; !ok {
				t.Errorf("%s event has %s, which its schema does not describe", typ, k)
			}
		}
	}
	for _, want := range []string{"deployment_status", "run_status", "message", "token", "usage"} {
		if !types[want] {
			t.Errorf("the run sent no %s event (got %v)", want, slices.Sorted(maps.Keys(types)))
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
