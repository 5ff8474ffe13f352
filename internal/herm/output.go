package herm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// Typed results: a message or an automation may carry output_schema, a JSON
// Schema that the run's final answer must be valid against. The schema is
// held to the subset that both providers' native structured outputs take
// (OpenAI's strict json_schema response format, Anthropic's
// output_config.format), so that what the server accepts it can send:
//
//   - the root is an object schema ("type": "object");
//   - keywords: type (one of object, array, string, number, integer,
//     boolean, null, or a list of them), properties, required,
//     additionalProperties (false only: objects are closed), items (one
//     schema), enum, const, anyOf, description, title, format (date-time,
//     time, date, duration, email, hostname, uri, ipv4, ipv6, uuid) and
//     $schema (draft 2020-12 or draft-07);
//   - at most MaxOutputSchemaBytes of JSON, nested at most
//     maxOutputSchemaDepth deep.
//
// Anything else ($ref, allOf, oneOf, not, if/then/else, patternProperties,
// numeric and length bounds, pattern, ...) is a 400 naming the keyword and
// where it is.

// MaxOutputSchemaBytes is the largest output_schema accepted.
const MaxOutputSchemaBytes = 32 << 10

const maxOutputSchemaDepth = 10

// The keywords, types and formats of the supported subset (space-separated).
const (
	outputKeywordList = "type properties required additionalProperties items enum const anyOf description title format $schema"
	outputTypeList    = "object array string number integer boolean null"
	outputFormatList  = "date-time time date duration email hostname uri ipv4 ipv6 uuid"
)

func inList(list, s string) bool { return slices.Contains(strings.Fields(list), s) }

// ValidateOutputSchema checks that raw (the field named field) is a
// well-formed JSON Schema of the supported subset. Its errors are
// EInvalid naming the field and the place in the schema.
func ValidateOutputSchema(field string, raw json.RawMessage) error {
	if len(raw) > MaxOutputSchemaBytes {
		return Errorf(EInvalid, "%s is over %d bytes", field, MaxOutputSchemaBytes)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return Errorf(EInvalid, "%s is not valid JSON", field)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return Errorf(EInvalid, "%s must be a JSON Schema object", field)
	}
	if root["type"] != "object" {
		return Errorf(EInvalid, `%s: the root schema must have "type": "object"`, field)
	}
	if s, ok := root["$schema"]; ok && s != "https://json-schema.org/draft/2020-12/schema" && s != "http://json-schema.org/draft-07/schema#" {
		return Errorf(EInvalid, "%s: $schema must be draft 2020-12 or draft-07", field)
	}
	if err := checkSubset(field, root, 0); err != nil {
		return err
	}
	if _, err := resolveOutputSchema(raw); err != nil {
		return Errorf(EInvalid, "%s is not a valid JSON Schema: %s", field, err)
	}
	return nil
}

// checkSubset walks one schema object at path.
func checkSubset(path string, s map[string]any, depth int) error {
	if depth > maxOutputSchemaDepth {
		return Errorf(EInvalid, "%s: schemas nest at most %d deep", path, maxOutputSchemaDepth)
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !inList(outputKeywordList, k) {
			return Errorf(EInvalid, "%s: keyword %q is not supported in output_schema (supported: %s)", path, k, strings.Join(strings.Fields(outputKeywordList), ", "))
		}
		if k == "$schema" && depth > 0 {
			return Errorf(EInvalid, "%s: $schema belongs at the root only", path)
		}
	}
	sub := func(name string, v any) error {
		m, ok := v.(map[string]any)
		if !ok {
			return Errorf(EInvalid, "%s must be a schema object", name)
		}
		return checkSubset(name, m, depth+1)
	}
	switch t := s["type"].(type) {
	case nil:
	case string:
		if !inList(outputTypeList, t) {
			return Errorf(EInvalid, "%s.type: %q is not a JSON Schema type", path, t)
		}
	case []any:
		for _, e := range t {
			if str, ok := e.(string); !ok || !inList(outputTypeList, str) {
				return Errorf(EInvalid, "%s.type: %v is not a JSON Schema type", path, e)
			}
		}
	default:
		return Errorf(EInvalid, "%s.type must be a string or a list of strings", path)
	}
	if f, ok := s["format"]; ok {
		if str, _ := f.(string); !inList(outputFormatList, str) {
			return Errorf(EInvalid, "%s.format: %v is not supported (supported: %s)", path, f, strings.Join(strings.Fields(outputFormatList), ", "))
		}
	}
	if ap, ok := s["additionalProperties"]; ok && ap != false {
		return Errorf(EInvalid, "%s.additionalProperties may only be false (objects are closed)", path)
	}
	if props, ok := s["properties"]; ok {
		m, ok := props.(map[string]any)
		if !ok {
			return Errorf(EInvalid, "%s.properties must be an object", path)
		}
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := sub(path+".properties."+n, m[n]); err != nil {
				return err
			}
		}
	}
	if req, ok := s["required"]; ok {
		props, _ := s["properties"].(map[string]any)
		list, ok := req.([]any)
		if !ok {
			return Errorf(EInvalid, "%s.required must be a list of property names", path)
		}
		for _, r := range list {
			name, ok := r.(string)
			if !ok {
				return Errorf(EInvalid, "%s.required must be a list of property names", path)
			}
			if _, ok := props[name]; !ok {
				return Errorf(EInvalid, "%s.required names %q, which is not in properties", path, name)
			}
		}
	}
	if items, ok := s["items"]; ok {
		if err := sub(path+".items", items); err != nil {
			return err
		}
	}
	if alts, ok := s["anyOf"]; ok {
		list, ok := alts.([]any)
		if !ok || len(list) == 0 {
			return Errorf(EInvalid, "%s.anyOf must be a non-empty list of schemas", path)
		}
		for i, e := range list {
			if err := sub(fmt.Sprintf("%s.anyOf[%d]", path, i), e); err != nil {
				return err
			}
		}
	}
	if e, ok := s["enum"]; ok {
		if list, ok := e.([]any); !ok || len(list) == 0 {
			return Errorf(EInvalid, "%s.enum must be a non-empty list", path)
		}
	}
	return nil
}

func resolveOutputSchema(raw json.RawMessage) (*jsonschema.Resolved, error) {
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return s.Resolve(nil)
}

// StrictOutputSchema returns the schema that goes to a provider's native
// structured output: raw (of the supported subset) with every object closed
// (additionalProperties false) and all its properties required, as OpenAI's
// strict mode and Anthropic's JSON outputs want. It only narrows: an answer
// valid against it is valid against raw.
func StrictOutputSchema(raw json.RawMessage) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	tighten(v)
	return json.Marshal(v)
}

func tighten(v any) {
	s, ok := v.(map[string]any)
	if !ok {
		return
	}
	if props, ok := s["properties"].(map[string]any); ok || isObjectType(s["type"]) {
		names := make([]string, 0, len(props))
		for n, p := range props {
			names = append(names, n)
			tighten(p)
		}
		sort.Strings(names)
		req := make([]any, len(names))
		for i, n := range names {
			req[i] = n
		}
		s["required"] = req
		s["additionalProperties"] = false
		if props == nil {
			s["properties"] = map[string]any{}
		}
	}
	tighten(s["items"])
	if list, ok := s["anyOf"].([]any); ok {
		for _, e := range list {
			tighten(e)
		}
	}
}

func isObjectType(t any) bool {
	switch t := t.(type) {
	case string:
		return t == "object"
	case []any:
		return slices.Contains(t, any("object"))
	}
	return false
}

// CheckOutput reads a run's final answer as JSON and validates it against
// schema (which ValidateOutputSchema accepted). It returns the JSON value
// (compacted) or why the answer is not valid. A Markdown code fence around
// the JSON is tolerated: models that are only instructed often add one.
func CheckOutput(schema json.RawMessage, answer string) (json.RawMessage, error) {
	rs, err := resolveOutputSchema(schema)
	if err != nil {
		return nil, fmt.Errorf("the output schema does not resolve: %w", err)
	}
	text := strings.TrimSpace(answer)
	if strings.HasPrefix(text, "```") && strings.HasSuffix(text, "```") && len(text) >= 6 {
		text = strings.TrimSpace(strings.TrimSuffix(text[3:], "```"))
		text = strings.TrimPrefix(text, "json")
	}
	if text == "" {
		return nil, fmt.Errorf("the answer is empty, not a JSON value")
	}
	var plain any
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&plain); err != nil {
		return nil, fmt.Errorf("the answer is not JSON: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("the answer has text after its JSON value")
	}
	if err := rs.Validate(plain); err != nil {
		return nil, fmt.Errorf("the answer does not match the output schema: %v", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(text)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
