package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// resolve follows a schema's $ref, and the non-null alternative of an
// anyOf with null, to the schema of the value; named gets each name met.
func resolve(doc map[string]any, s any, named func(string)) map[string]any {
	for {
		m, _ := s.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/components/schemas/")
			if named != nil {
				named(name)
			}
			s = at(doc, "components", "schemas", name)
			continue
		}
		if alts, ok := m["anyOf"].([]any); ok {
			var next any
			for _, a := range alts {
				if at(a, "type") != "null" {
					next = a
				}
			}
			s = next
			continue
		}
		return m
	}
}

// allowsNull reports whether a schema (before resolve) admits null.
func allowsNull(s any) bool {
	m, _ := s.(map[string]any)
	if alts, ok := m["anyOf"].([]any); ok {
		return slices.ContainsFunc(alts, func(a any) bool { return at(a, "type") == "null" })
	}
	switch t := m["type"].(type) {
	case []any:
		return slices.Contains(t, any("null"))
	case nil:
		return m["$ref"] == nil
	}
	enum, _ := m["enum"].([]any)
	return slices.Contains(enum, nil)
}

// objectAt is an object of a JSON value and the schema that describes it.
type objectAt struct {
	path   []any // keys and indexes from the root
	schema map[string]any
	value  map[string]any
}

// pathString writes a path as the server's messages do: a.b[0].c.
func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

// objects walks a JSON value along its schema and returns its objects that
// have properties (not maps), the root first; a property the schema does
// not describe is an error, and so is a null where the schema admits none.
// named gets the name of each schema met.
func objects(t *testing.T, doc map[string]any, what string, v, schema any, named func(string)) []objectAt {
	t.Helper()
	var out []objectAt
	var walk func(v, schema any, path []any)
	walk = func(v, schema any, path []any) {
		if v == nil {
			if !allowsNull(schema) {
				t.Errorf("%s: %s is null, which its schema does not allow", what, pathString(path))
			}
			return
		}
		s := resolve(doc, schema, named)
		switch v := v.(type) {
		case map[string]any:
			if props, ok := s["properties"].(map[string]any); ok {
				out = append(out, objectAt{path, s, v})
				for _, k := range slices.Sorted(maps.Keys(v)) {
					ps, ok := props[k]
					if !ok {
						t.Errorf("%s: %s has %s, which its schema does not describe", what, pathString(path), k)
						continue
					}
					walk(v[k], ps, append(slices.Clip(path), k))
				}
			} else if add, ok := s["additionalProperties"]; ok {
				for _, k := range slices.Sorted(maps.Keys(v)) {
					walk(v[k], add, append(slices.Clip(path), k))
				}
			}
		case []any:
			for i, e := range v {
				walk(e, s["items"], append(slices.Clip(path), i))
			}
		}
	}
	walk(v, schema, nil)
	return out
}

// reachable returns the names of the schemas a schema refers to, at every
// depth, itself included when it is a $ref.
func reachable(doc map[string]any, s any, names map[string]bool) {
	switch s := s.(type) {
	case map[string]any:
		if ref, ok := s["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/components/schemas/")
			if !names[name] {
				names[name] = true
				reachable(doc, at(doc, "components", "schemas", name), names)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(s)) {
			if k != "examples" {
				reachable(doc, s[k], names)
			}
		}
	case []any:
		for _, e := range s {
			reachable(doc, e, names)
		}
	}
}

// deleteAt returns a copy of body without the property at path.
func deleteAt(t *testing.T, body map[string]any, path []any) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(mustJSON(body)), &out); err != nil {
		t.Fatal(err)
	}
	var v any = out
	for _, p := range path[:len(path)-1] {
		switch p := p.(type) {
		case string:
			v = v.(map[string]any)[p]
		case int:
			v = v.([]any)[p]
		}
	}
	delete(v.(map[string]any), path[len(path)-1].(string))
	return out
}

// strings1 returns a list of strings (nil for none).
func strings1(v any) []string {
	var out []string
	xs, _ := v.([]any)
	for _, x := range xs {
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
		// nested are optional properties holding objects, each with exactly
		// its required properties (at every depth), but for nestedExtra:
		// the paths of what their values make necessary besides.
		nested      map[string]any
		nestedExtra []string
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
	// Every object a deployment's configuration holds, with only what each
	// requires.
	config := map[string]any{
		"sandbox":      map[string]any{"network": map[string]any{}, "resources": map[string]any{}},
		"mcp_servers":  []any{map[string]any{"name": "cfg", "url": "https://mcp.example.com/mcp"}},
		"skills":       []any{map[string]any{"name": "hello", "source": "inline", "content": strings.ReplaceAll(skill, "greet", "hello")}},
		"tools":        map[string]any{"todo": map[string]any{}},
		"custom_tools": []any{map[string]any{"name": "lookup", "description": "Looks up.", "input_schema": map[string]any{"type": "object"}}},
		// reasoning needs effort or budget_tokens, either.
		"model_settings": map[string]any{"reasoning": map[string]any{"effort": "low"}},
	}
	configExtra := []string{"skills[0].content", "model_settings.reasoning.effort"}
	// An agent's: every object its definition holds (a custom tool's and
	// an MCP toolset's fields are what their type makes necessary).
	agentConfig := map[string]any{
		"tools": []any{
			map[string]any{"type": "agent_toolset", "defaultConfig": map[string]any{"permissionPolicy": map[string]any{"type": "always_ask"}}},
			map[string]any{"type": "custom", "name": "lookup", "description": "Looks up.", "input_schema": map[string]any{"type": "object"}},
			map[string]any{"type": "mcp_toolset", "mcpServerName": "cfg"},
		},
		"mcpServers":    []any{map[string]any{"type": "url", "name": "cfg", "url": "https://mcp.example.com/mcp"}},
		"skills":        []any{map[string]any{"name": "hello", "source": "inline", "content": strings.ReplaceAll(skill, "greet", "hello")}},
		"sandbox":       map[string]any{"network": map[string]any{}, "resources": map[string]any{}},
		"modelSettings": map[string]any{"reasoning": map[string]any{"effort": "low"}},
	}
	agentExtra := []string{"tools[1].name", "tools[1].description", "tools[2].mcpServerName", "skills[0].content", "modelSettings.reasoning.effort"}
	// The placeholders of the ids the newer generation's creates return as id.
	placeholder := map[string]string{"POST /v1/agents": "agent_id", "POST /v1/agents/{agent_id}/sessions": "session_id"}
	// In order: later operations use what earlier ones made.
	ops := []struct {
		op string
		request
		id string // the response's field to keep as {id}
	}{
		{"POST /v1/api_keys", request{body: map[string]any{"name": "k", "scopes": []string{"deployments:read"}}}, ""},
		{"POST /v1/deployments", request{body: map[string]any{"customer_id": "cus_r", "name": "n", "system_prompt": "p"}, nested: config, nestedExtra: configExtra}, ""},
		{"PATCH /v1/deployments/{deployment_id}", request{body: map[string]any{}, nested: config, nestedExtra: configExtra}, ""},
		{"POST /v1/deployments/{deployment_id}/threads", request{body: map[string]any{}}, ""},
		{"PATCH /v1/deployments/{deployment_id}/threads/{thread_id}", request{body: map[string]any{"title": "t"}}, ""},
		{"POST /v1/deployments/{deployment_id}/messages", request{body: map[string]any{"content": "hi"}, nested: map[string]any{
			"attachments": []any{map[string]any{"type": "file", "url": "data:text/plain;base64,aGk="}},
		}}, ""},
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
		// Likewise for a run that does not exist.
		{"POST /v1/deployments/{deployment_id}/runs/{run_id}/tool_outputs", request{path: dep + "/runs/run_none/tool_outputs",
			body:   map[string]any{"tool_outputs": []any{map[string]any{"tool_call_id": "c1", "output": "x"}}},
			nested: map[string]any{"tool_outputs": []any{map[string]any{"tool_call_id": "c1", "output": "x"}}}}, ""},
		{"POST /v1/secrets", request{body: map[string]any{"name": "TOKEN", "value": "v"}}, "secret_id"},
		{"PUT /v1/secrets/{secret_id}", request{body: map[string]any{"value": "w"}}, ""},
		{"POST /v1/webhooks", request{body: map[string]any{"url": "https://hooks.example.com/h", "events": []string{"run_status"}}}, ""},
		{"POST /v1/agents", request{body: map[string]any{"name": "a", "model": "demo/demo"}, nested: agentConfig, nestedExtra: agentExtra}, "id"},
		{"PATCH /v1/agents/{agent_id}", request{body: map[string]any{}, nested: agentConfig, nestedExtra: agentExtra}, ""},
		{"POST /v1/agents/{agent_id}/sessions", request{body: map[string]any{}}, "id"},
		{"PATCH /v1/sessions/{session_id}", request{body: map[string]any{}}, ""},
		{"POST /v1/sessions/{session_id}/events", request{body: map[string]any{"events": []any{map[string]any{"type": "user.interrupt"}}},
			nested: map[string]any{"events": []any{map[string]any{"type": "user.message", "content": []any{map[string]any{"type": "text", "text": "hi"}}}}}}, ""},
		// Its body is optional and requires nothing; the deletion is tested
		// elsewhere (TestDeleteDeployment).
		{"DELETE /v1/deployments/{deployment_id}", request{body: nil}, ""},
	}
	ids["thread_id"] = thread

	covered := map[string]bool{}
	tried := map[string]bool{} // the schemas of the objects the bodies held
	for _, o := range ops {
		covered[o.op] = true
		method, path, _ := strings.Cut(o.op, " ")
		op, _ := at(doc, "paths", path, strings.ToLower(method)).(map[string]any)
		ref := at(op, "requestBody", "content", "application/json", "schema")
		if ref == nil {
			t.Errorf("%s: no JSON request body in the document", o.op)
			continue
		}
		tried[strings.TrimPrefix(at(ref, "$ref").(string), "#/components/schemas/")] = true
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
		if r.status == 400 || r.status >= 500 || (r.status == 404 && !strings.Contains(path, "steering_request_id") && !strings.Contains(path, "tool_outputs")) {
			t.Errorf("%s with %v: %d %s", o.op, full, r.status, r.body)
			continue
		}
		if o.id != "" {
			key := o.id
			if p, ok := placeholder[o.op]; ok {
				key = p
			}
			ids[key] = r.json(t)[o.id].(string)
		}
		if o.nested == nil {
			continue
		}
		// The nested objects: each with exactly its required properties,
		// refused without any one of them (the message naming it by its
		// path), and the whole body accepted.
		maps.Copy(full, o.nested)
		var body map[string]any
		if err := json.Unmarshal([]byte(mustJSON(full)), &body); err != nil {
			t.Fatal(err)
		}
		for _, obj := range objects(t, doc, o.op, body, ref, func(name string) { tried[name] = true })[1:] {
			var required []string
			if r, ok := obj.schema["required"]; ok {
				required = strings1(r)
			}
			for k, v := range obj.value {
				p := pathString(append(slices.Clip(obj.path), k))
				_, container := v.(map[string]any)
				if _, list := v.([]any); list {
					container = true
				}
				if !slices.Contains(required, k) && !container && !slices.Contains(o.nestedExtra, p) {
					t.Errorf("%s: the table's %s is neither required nor an object", o.op, p)
				}
			}
			for _, field := range required {
				p := append(slices.Clip(obj.path), field)
				if _, ok := obj.value[field]; !ok {
					t.Errorf("%s: the table's %s lacks the required %s", o.op, pathString(obj.path), field)
					continue
				}
				r := s.do(method, target, deleteAt(t, body, p))
				if r.status != 400 || r.errCode(t) != "validation_error" || !strings.Contains(string(r.body), pathString(p)) {
					t.Errorf("%s without %s: %d %s", o.op, pathString(p), r.status, r.body)
				}
			}
		}
		if r := s.do(method, target, body); r.status == 400 || r.status >= 500 {
			t.Errorf("%s with %s: %d %s", o.op, mustJSON(body), r.status, r.body)
		}
	}
	// Every schema a request body may hold, at any depth, was in a body.
	all := map[string]bool{}
	for _, o := range ops {
		method, path, _ := strings.Cut(o.op, " ")
		reachable(doc, at(doc, "paths", path, strings.ToLower(method), "requestBody"), all)
	}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		if !tried[name] {
			t.Errorf("no body in the table holds a %s", name)
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
	s := startServer(t, map[string]string{"HERM_MEMORY_OBSERVER": "true"}) // its memory and usage events too
	doc := servedDoc(t, s)
	d := s.createReady(nil)
	dep := d["deployment_id"].(string)
	res := s.must(202, "POST", "/v1/deployments/"+dep+"/messages", map[string]any{"content": "remember: Likes lists of two."})
	s.waitRun(dep, res["run_id"].(string), "completed")
	s.waitObserved(dep, res["run_id"].(string))
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
	for _, want := range []string{"deployment_status", "run_status", "message", "token", "usage", "memory"} {
		if !types[want] {
			t.Errorf("the run sent no %s event (got %v)", want, slices.Sorted(maps.Keys(types)))
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The main objects the server sends match their response schemas at every
// depth: every required property present, null only where allowed, nothing
// undescribed (a deployment with every part of its configuration set, a
// run, a thread with its messages, one with an attachment, and their lists).
func TestResponseSchemas(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	doc := servedDoc(t, s)
	skill := "---\nname: greet\ndescription: Greets.\n---\nSay hello."
	d := s.createReady(map[string]any{
		"sandbox":     map[string]any{"network": map[string]any{"egress": "proxy", "allowed_hosts": []string{"api.example.com"}}, "resources": map[string]any{"memory_mb": 512}},
		"mcp_servers": []any{map[string]any{"name": "cfg", "url": "https://mcp.example.com/mcp", "tools": []string{"a"}, "headers": map[string]string{"X-A": "b"}, "permission": "always_ask"}},
		"skills":      []any{map[string]any{"name": "greet", "source": "inline", "content": skill}},
		"tools":       map[string]any{"todo": map[string]any{"enabled": false}},
		"metadata":    map[string]any{"plan": "pro"},
		"budget_usd":  5,
		"model_settings": map[string]any{"temperature": 0.5, "max_tokens": 4000,
			"reasoning": map[string]any{"effort": "low", "budget_tokens": 2048}},
	})
	dep := "/v1/deployments/" + d["deployment_id"].(string)
	res := s.must(202, "POST", dep+"/messages", map[string]any{
		"content": "Give me two ideas", "attachments": []any{map[string]any{"type": "file", "url": "data:text/plain;base64,aGk="}},
	})
	s.waitRun(d["deployment_id"].(string), res["run_id"].(string), "completed")
	// The newer generation: an agent with every part, a session with a turn.
	ag := s.createAgent(map[string]any{
		"name": "Full", "model": "demo/demo", "instructions": "Help.", "metadata": map[string]any{"plan": "pro"},
		"tools": []any{
			map[string]any{"type": "agent_toolset", "defaultConfig": map[string]any{"enabled": true, "permissionPolicy": map[string]any{"type": "always_allow"}},
				"configs": []any{map[string]any{"name": "todo", "enabled": false}}},
			map[string]any{"type": "mcp_toolset", "mcpServerName": "cfg", "configs": []any{map[string]any{"name": "a", "permissionPolicy": map[string]any{"type": "always_ask"}}}},
			map[string]any{"type": "custom", "name": "lookup", "description": "Looks up.", "input_schema": map[string]any{"type": "object"}},
		},
		"mcpServers":    []any{map[string]any{"type": "url", "name": "cfg", "url": "https://mcp.example.com/mcp", "headers": map[string]string{"X-A": "b"}}},
		"skills":        []any{map[string]any{"name": "greet", "source": "inline", "content": skill}},
		"sandbox":       map[string]any{"network": map[string]any{"egress": "proxy", "allowedHosts": []string{"api.example.com"}}, "resources": map[string]any{"memoryMb": 512}},
		"modelSettings": map[string]any{"temperature": 0.5, "maxTokens": 4000, "reasoning": map[string]any{"effort": "low", "budgetTokens": 2048}},
	})
	agent := "/v1/agents/" + ag["id"].(string)
	sess := s.must(201, "POST", agent+"/sessions", map[string]any{"userId": "u1", "title": "t", "metadata": map[string]any{"k": "v"}})
	session := "/v1/sessions/" + sess["id"].(string)
	s.say(sess["id"].(string), "Give me two ideas")

	for _, p := range []struct{ get, path string }{
		{"/v1/agents/{agent_id}", agent},
		{"/v1/agents", "/v1/agents"},
		{"/v1/agents/{agent_id}/versions/{version}", agent + "/versions/1"},
		{"/v1/agents/{agent_id}/versions", agent + "/versions"},
		{"/v1/sessions/{session_id}", session},
		{"/v1/sessions", "/v1/sessions"},
		{"/v1/sessions/{session_id}/events", session + "/events"},
		{"/v1/deployments/{deployment_id}", dep},
		{"/v1/deployments", "/v1/deployments"},
		{"/v1/deployments/{deployment_id}/runs/{run_id}", dep + "/runs/" + res["run_id"].(string)},
		{"/v1/deployments/{deployment_id}/runs", dep + "/runs"},
		{"/v1/deployments/{deployment_id}/threads/{thread_id}", dep + "/threads/" + res["thread_id"].(string)},
		{"/v1/deployments/{deployment_id}/threads", dep + "/threads"},
	} {
		schema := at(doc, "paths", p.get, "get", "responses", "200", "content", "application/json", "schema")
		if schema == nil {
			t.Errorf("GET %s: no JSON response in the document", p.get)
			continue
		}
		r := s.do("GET", p.path, nil)
		var body any
		if err := json.Unmarshal(r.body, &body); err != nil || r.status != 200 {
			t.Fatalf("GET %s: %d %s", p.path, r.status, r.body)
		}
		objs := objects(t, doc, "GET "+p.get, body, schema, nil)
		for _, obj := range objs {
			for _, req := range strings1(obj.schema["required"]) {
				if _, ok := obj.value[req]; !ok {
					t.Errorf("GET %s: %s lacks the required %s: %s", p.get, pathString(obj.path), req, mustJSON(obj.value))
				}
			}
		}
		if len(objs) < 2 {
			t.Errorf("GET %s: only %d objects: %s", p.get, len(objs), r.body)
		}
	}
}
