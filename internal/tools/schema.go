package tools

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// Schema returns the JSON schema of a tool's arguments, derived from their
// type A (as the MCP Go SDK's mcp.AddTool[In] does), so that what the model
// is told and what the tool decodes cannot drift apart.
//
// A's fields are its properties, named by their json tags; a field is
// required unless its json tag says omitempty. Struct tags add what a type
// cannot say:
//
//	jsonschema:"..."   the property's description
//	enum:"a,b,c"       the allowed values of a string
//	minimum:"1"        bounds of a number
//	maximum:"3600"
//	minItems:"1"       bounds of an array's length
//	maxItems:"100"
//
// Pointers and slices are plain optional values (not "or null"), and
// objects do not forbid other properties: the schema says what the
// hand-written ones said. Schema panics when A cannot be described (a
// programming error, found by the tools' tests).
func Schema[A any]() json.RawMessage {
	t := reflect.TypeFor[A]()
	s, err := jsonschema.For[A](nil)
	if err != nil {
		panic(fmt.Sprintf("tools.Schema[%v]: %v", t, err))
	}
	if err := annotate(s, t); err != nil {
		panic(fmt.Sprintf("tools.Schema[%v]: %v", t, err))
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("tools.Schema[%v]: %v", t, err))
	}
	return b
}

// annotate applies the struct tags Schema reads to s, the schema of t, and
// removes the "null" alternative and the closed objects jsonschema.For adds.
func annotate(s *jsonschema.Schema, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(s.Types) == 2 && s.Types[0] == "null" {
		s.Type, s.Types = s.Types[1], nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if s.Items != nil {
			return annotate(s.Items, t.Elem())
		}
	case reflect.Struct:
		s.AdditionalProperties = nil
		for _, f := range reflect.VisibleFields(t) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			p := s.Properties[name]
			if p == nil || !f.IsExported() || f.Anonymous {
				continue
			}
			if err := annotate(p, f.Type); err != nil {
				return err
			}
			if err := applyTags(p, f.Tag); err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
		}
	}
	return nil
}

func applyTags(s *jsonschema.Schema, tag reflect.StructTag) error {
	if v, ok := tag.Lookup("enum"); ok {
		for _, e := range strings.Split(v, ",") {
			s.Enum = append(s.Enum, e)
		}
	}
	for _, k := range []struct {
		name string
		dst  **float64
	}{{"minimum", &s.Minimum}, {"maximum", &s.Maximum}} {
		if v, ok := tag.Lookup(k.name); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			*k.dst = &n
		}
	}
	for _, k := range []struct {
		name string
		dst  **int
	}{{"minItems", &s.MinItems}, {"maxItems", &s.MaxItems}} {
		if v, ok := tag.Lookup(k.name); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			*k.dst = &n
		}
	}
	return nil
}
