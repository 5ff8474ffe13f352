package demo

import (
	"encoding/json"
)

// StructuredOutput implements llm.StructuredOutput: the demo model answers
// a request with an output schema (llm.Request.Output) with an example
// value of the schema, so that typed results can be tried offline.
func (m *Model) StructuredOutput(string) bool { return true }

// example returns a JSON value valid against schema, a schema of the
// subset that output schemas use (herm.ValidateOutputSchema): the first of
// an enum or anyOf, the const, every property of an object, an empty
// array, "demo" or an example of the string's format, 0, false, null.
func example(schema json.RawMessage) json.RawMessage {
	var s map[string]any
	if err := json.Unmarshal(schema, &s); err != nil {
		return json.RawMessage(`{}`)
	}
	b, err := json.Marshal(exampleOf(s, 0))
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

// formats are example strings of the formats output schemas may name.
var formats = map[string]string{
	"date-time": "2026-01-01T00:00:00Z", "time": "00:00:00Z", "date": "2026-01-01", "duration": "P1D",
	"email": "demo@example.com", "hostname": "example.com", "uri": "https://example.com/",
	"ipv4": "192.0.2.1", "ipv6": "2001:db8::1", "uuid": "00000000-0000-4000-8000-000000000000",
}

func exampleOf(s map[string]any, depth int) any {
	if depth > 32 {
		return nil
	}
	if c, ok := s["const"]; ok {
		return c
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	if a, ok := s["anyOf"].([]any); ok && len(a) > 0 {
		if sub, ok := a[0].(map[string]any); ok {
			return exampleOf(sub, depth+1)
		}
	}
	typ, _ := s["type"].(string)
	if list, ok := s["type"].([]any); ok {
		for _, t := range list {
			if t, _ := t.(string); t != "null" || typ == "" {
				typ = t
				if t != "null" {
					break
				}
			}
		}
	}
	switch typ {
	case "object":
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		for name, p := range props {
			if ps, ok := p.(map[string]any); ok {
				out[name] = exampleOf(ps, depth+1)
			}
		}
		return out
	case "array":
		return []any{}
	case "string":
		if f, ok := formats[str(s["format"])]; ok {
			return f
		}
		return "demo"
	case "number", "integer":
		return 0
	case "boolean":
		return false
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }
