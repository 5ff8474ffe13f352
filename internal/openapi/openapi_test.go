package openapi_test

import (
	"bytes"
	"encoding/json"
	"image"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hermhq/herm/internal/openapi"
)

// generate generates doc and parses the output back.
func generate(t *testing.T, doc openapi.Document) map[string]any {
	t.Helper()
	out, err := openapi.Generate(doc)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	var parsed map[string]any
	if err := yaml.Unmarshal(out, &parsed); err != nil {
		t.Fatalf("the output is not YAML: %v\n%s", err, out)
	}
	return parsed
}

// bodyDoc returns a document with one operation that answers body.
func bodyDoc(body any) openapi.Document {
	return openapi.Document{
		Title: "T", Version: "1",
		Operations: []openapi.Operation{{
			Method: "GET", Path: "/x", Scope: "read",
			Responses: []openapi.Response{{Status: 200, Body: body}},
		}},
	}
}

// schemasOf returns components/schemas of the document answering body.
func schemasOf(t *testing.T, body any) map[string]any {
	t.Helper()
	return dig(t, generate(t, bodyDoc(body)), "components", "schemas").(map[string]any)
}

// dig follows keys (map keys, or indexes of lists) into a parsed document.
func dig(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for i, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %T is not a map", keys[:i], v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("at %v: no key %q in %v", keys[:i], k, m)
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: no item %d in %v", keys[:i], k, v)
			}
			v = l[k]
		}
	}
	return v
}

func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

type Pointers struct {
	S    *string    `json:"s"`
	I    *int       `json:"i"`
	PP   **bool     `json:"pp"`
	T    *time.Time `json:"t"`
	Obj  *Inner     `json:"obj" doc:"An inner thing."`
	List *[]string  `json:"list"`
	E    *string    `json:"e" enum:"a,b"`
	N    *string    `json:"n,omitempty" null:"no"`
	NObj *Inner     `json:"nobj,omitempty" null:"no"`
}

type Inner struct {
	A string `json:"a"`
}

func TestNullablePointers(t *testing.T) {
	p := dig(t, schemasOf(t, Pointers{}), "Pointers", "properties")
	wantEqual(t, "s.type", dig(t, p, "s", "type"), []any{"string", "null"})
	wantEqual(t, "n.type", dig(t, p, "n", "type"), "string")
	wantEqual(t, "nobj.$ref", dig(t, p, "nobj", "$ref"), "#/components/schemas/Inner")
	wantEqual(t, "i.type", dig(t, p, "i", "type"), []any{"integer", "null"})
	wantEqual(t, "pp.type", dig(t, p, "pp", "type"), []any{"boolean", "null"})
	wantEqual(t, "t.type", dig(t, p, "t", "type"), []any{"string", "null"})
	wantEqual(t, "t.format", dig(t, p, "t", "format"), "date-time")
	wantEqual(t, "list.type", dig(t, p, "list", "type"), []any{"array", "null"})
	wantEqual(t, "obj", dig(t, p, "obj"), map[string]any{
		"anyOf":       []any{map[string]any{"$ref": "#/components/schemas/Inner"}, map[string]any{"type": "null"}},
		"description": "An inner thing.",
	})
	wantEqual(t, "e.enum", dig(t, p, "e", "enum"), []any{"a", "b", nil})
}

type Embedded struct {
	E1 string `json:"e1"`
	E2 string `json:"e2,omitempty"`
}

type Optional struct {
	Embedded
	*Inner
	Plain     string            `json:"plain"`
	Omit      string            `json:"omit,omitempty"`
	OmitZero  int               `json:"omit_zero,omitzero"`
	PtrOmit   *string           `json:"ptr_omit,omitempty"`
	SliceOmit []string          `json:"slice_omit,omitempty"`
	MapOmit   map[string]string `json:"map_omit,omitempty"`
	StructOm  Inner             `json:"struct_omitempty,omitempty"` // encoding/json never omits a struct
	NoTag     bool
	Skipped   string `json:"-"`
	Quoted    int64  `json:"quoted,string"`
	hidden    string
}

func TestRequiredAndOmitempty(t *testing.T) {
	// Unexported fields are left out.
	s := dig(t, schemasOf(t, Optional{hidden: "x"}), "Optional")
	wantEqual(t, "required", dig(t, s, "required"),
		[]any{"e1", "plain", "struct_omitempty", "NoTag", "quoted"})
	var names []string
	for k := range dig(t, s, "properties").(map[string]any) {
		names = append(names, k)
	}
	slices.Sort(names)
	wantEqual(t, "properties", names, []string{
		"NoTag", "a", "e1", "e2", "map_omit", "omit", "omit_zero", "plain", "ptr_omit", "quoted", "slice_omit", "struct_omitempty",
	})
	wantEqual(t, "quoted.type", dig(t, s, "properties", "quoted", "type"), "string")
}

func TestPropertiesKeepFieldOrder(t *testing.T) {
	out, err := openapi.Generate(bodyDoc(Optional{}))
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(out, &root); err != nil {
		t.Fatal(err)
	}
	props := findKey(findKey(findKey(findKey(root.Content[0], "components"), "schemas"), "Optional"), "properties")
	var got []string
	for i := 0; i < len(props.Content); i += 2 {
		got = append(got, props.Content[i].Value)
	}
	want := []string{"e1", "e2", "a", "plain", "omit", "omit_zero", "ptr_omit", "slice_omit", "map_omit", "struct_omitempty", "NoTag", "quoted"}
	wantEqual(t, "property order", got, want)
}

func findKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return &yaml.Node{}
}

type Outer struct {
	First  Middle   `json:"first"`
	Second []Middle `json:"second"`
	Anon   struct {
		X int `json:"x"`
	} `json:"anon"`
}

type Middle struct {
	Inner Inner `json:"inner" doc:"The inner part."`
}

func TestNamedStructsAreRefs(t *testing.T) {
	s := schemasOf(t, Outer{})
	for _, name := range []string{"Outer", "Middle", "Inner", "Error"} {
		if _, ok := s[name]; !ok {
			t.Errorf("no schema %s", name)
		}
	}
	wantEqual(t, "len(schemas)", len(s), 4)
	wantEqual(t, "first", dig(t, s, "Outer", "properties", "first"), map[string]any{"$ref": "#/components/schemas/Middle"})
	wantEqual(t, "second.items", dig(t, s, "Outer", "properties", "second", "items"), map[string]any{"$ref": "#/components/schemas/Middle"})
	wantEqual(t, "anon", dig(t, s, "Outer", "properties", "anon"), map[string]any{
		"type": "object", "required": []any{"x"},
		"properties": map[string]any{"x": map[string]any{"type": "integer", "format": "int64"}},
	})
	wantEqual(t, "inner", dig(t, s, "Middle", "properties", "inner"), map[string]any{
		"$ref": "#/components/schemas/Inner", "description": "The inner part.",
	})
	doc := generate(t, bodyDoc(Outer{}))
	wantEqual(t, "response schema", dig(t, doc, "paths", "/x", "get", "responses", "200", "content", "application/json", "schema"),
		map[string]any{"$ref": "#/components/schemas/Outer"})
}

type Maps struct {
	Strings map[string]string   `json:"strings"`
	Ints    map[int]Inner       `json:"ints"`
	Lists   map[string][]string `json:"lists"`
	Any     map[string]any      `json:"any"`
}

func TestMaps(t *testing.T) {
	p := dig(t, schemasOf(t, Maps{}), "Maps", "properties")
	wantEqual(t, "strings", dig(t, p, "strings"), map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}})
	wantEqual(t, "ints", dig(t, p, "ints"), map[string]any{"type": "object", "additionalProperties": map[string]any{"$ref": "#/components/schemas/Inner"}})
	wantEqual(t, "lists", dig(t, p, "lists", "additionalProperties"), map[string]any{"type": "array", "items": map[string]any{"type": "string"}})
	wantEqual(t, "any", dig(t, p, "any", "additionalProperties"), map[string]any{})
}

type Scalars struct {
	Time    time.Time       `json:"time"`
	Raw     json.RawMessage `json:"raw"`
	Iface   any             `json:"iface"`
	Bytes   []byte          `json:"bytes"`
	Int32   int32           `json:"int32"`
	Uint    uint            `json:"uint"`
	Float32 float32         `json:"float32"`
	Number  json.Number     `json:"number"`
	Array   [2]string       `json:"array"`
	Dur     time.Duration   `json:"dur"`
	Named   Status          `json:"named" enum:"on,off"`
	Text    textOnly        `json:"text"`
	Ex      []int           `json:"ex" example:"[1, 2]"`
	ExFloat float64         `json:"ex_float" example:"1.5"`
}

type Status string

type textOnly struct{ v int }

func (textOnly) MarshalText() ([]byte, error) { return []byte("x"), nil }

func TestScalars(t *testing.T) {
	p := dig(t, schemasOf(t, Scalars{Text: textOnly{v: 1}}), "Scalars", "properties")
	for name, want := range map[string]map[string]any{
		"time":     {"type": "string", "format": "date-time"},
		"raw":      {},
		"iface":    {},
		"bytes":    {"type": "string", "contentEncoding": "base64"},
		"int32":    {"type": "integer", "format": "int32"},
		"uint":     {"type": "integer", "format": "int64", "minimum": 0},
		"float32":  {"type": "number", "format": "float"},
		"number":   {"type": "number"},
		"array":    {"type": "array", "items": map[string]any{"type": "string"}, "minItems": 2, "maxItems": 2},
		"dur":      {"type": "integer", "format": "int64"},
		"named":    {"type": "string", "enum": []any{"on", "off"}},
		"text":     {"type": "string"},
		"ex":       {"type": "array", "items": map[string]any{"type": "integer", "format": "int64"}, "examples": []any{[]any{1, 2}}},
		"ex_float": {"type": "number", "format": "double", "examples": []any{1.5}},
	} {
		wantEqual(t, name, dig(t, p, name), want)
	}
}

type Tree struct {
	Name     string           `json:"name"`
	Children []Tree           `json:"children"`
	Parent   *Tree            `json:"parent"`
	Ring     *RingA           `json:"ring"`
	Index    map[string]*Tree `json:"index"`
}

type RingA struct {
	B *RingB `json:"b"`
}

type RingB struct {
	A RingA `json:"a"`
}

func TestRecursion(t *testing.T) {
	s := schemasOf(t, Tree{})
	wantEqual(t, "children.items", dig(t, s, "Tree", "properties", "children", "items"), map[string]any{"$ref": "#/components/schemas/Tree"})
	wantEqual(t, "parent", dig(t, s, "Tree", "properties", "parent", "anyOf", 0), map[string]any{"$ref": "#/components/schemas/Tree"})
	wantEqual(t, "RingB.a", dig(t, s, "RingB", "properties", "a"), map[string]any{"$ref": "#/components/schemas/RingA"})
	wantEqual(t, "RingA.b", dig(t, s, "RingA", "properties", "b", "anyOf", 0), map[string]any{"$ref": "#/components/schemas/RingB"})
}

// Point clashes with image.Point.
type Point struct {
	Label string `json:"label"`
}

type Clash struct {
	Mine   Point       `json:"mine"`
	Theirs image.Point `json:"theirs"`
}

type Page[T any] struct {
	Items []T `json:"items"`
}

type Named struct {
	A int `json:"a"`
}

func (Named) OpenAPISchemaName() string { return "ChosenName" }

type PtrNamed struct {
	A int `json:"a"`
}

func (*PtrNamed) OpenAPISchemaName() string { return "PointerChosen" }

func TestSchemaNames(t *testing.T) {
	s := schemasOf(t, Clash{})
	wantEqual(t, "mine", dig(t, s, "Clash", "properties", "mine", "$ref"), "#/components/schemas/Openapi_testPoint")
	wantEqual(t, "theirs", dig(t, s, "Clash", "properties", "theirs", "$ref"), "#/components/schemas/ImagePoint")
	if _, ok := s["Point"]; ok {
		t.Error("a clashing name is used as it is")
	}

	s = schemasOf(t, Page[Inner]{})
	if _, ok := s["PageInner"]; !ok {
		t.Errorf("no PageInner among %v", keys(s))
	}
	s = schemasOf(t, Page[Page[*Inner]]{})
	if _, ok := s["PagePageInner"]; !ok {
		t.Errorf("no PagePageInner among %v", keys(s))
	}

	s = schemasOf(t, struct {
		A Named    `json:"a"`
		B PtrNamed `json:"b"`
	}{})
	wantEqual(t, "names", keys(s), []string{"ChosenName", "Error", "PointerChosen"})
}

// ErrorLike is named Error like the envelope.
type ErrorLike struct{}

func (ErrorLike) OpenAPISchemaName() string { return "Error" }

type Dup1 struct{}

func (Dup1) OpenAPISchemaName() string { return "Dup" }

type Dup2 struct{}

func (Dup2) OpenAPISchemaName() string { return "Dup" }

type BadName struct{}

func (BadName) OpenAPISchemaName() string { return "bad name" }

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestPathParams(t *testing.T) {
	doc := openapi.Document{Title: "T", Version: "1", Operations: []openapi.Operation{
		{
			Method: "GET", Path: "/v1/a/{a_id}/b/{b_id}", Scope: "s",
			PathParams: []openapi.Param{{Name: "b_id", Type: "integer", Description: "The b."}},
			Query:      []openapi.Param{{Name: "q", Required: true}},
			Responses:  []openapi.Response{{Status: 204}},
		},
		{Method: "GET", Path: "/files/{path...}", Scope: "s", Responses: []openapi.Response{{Status: 204}}},
		{Method: "GET", Path: "/{$}", Responses: []openapi.Response{{Status: 204}}},
	}}
	out := generate(t, doc)
	params := dig(t, out, "paths", "/v1/a/{a_id}/b/{b_id}", "get", "parameters")
	wantEqual(t, "parameters", params, []any{
		map[string]any{"name": "a_id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}},
		map[string]any{"name": "b_id", "in": "path", "required": true, "description": "The b.",
			"schema": map[string]any{"type": "integer", "format": "int64"}},
		map[string]any{"name": "q", "in": "query", "required": true, "schema": map[string]any{"type": "string"}},
	})
	wantEqual(t, "wildcard", dig(t, out, "paths", "/files/{path}", "get", "parameters", 0, "name"), "path")
	dig(t, out, "paths", "/", "get")
}

func TestSecurity(t *testing.T) {
	doc := openapi.Document{Title: "T", Version: "1", Operations: []openapi.Operation{
		{Method: "GET", Path: "/healthz", Description: "Alive?", Responses: []openapi.Response{{Status: 200}}},
		{Method: "GET", Path: "/things", Scope: "things:read", Responses: []openapi.Response{{Status: 200}}},
	}}
	out := generate(t, doc)
	wantEqual(t, "security", dig(t, out, "security"), []any{map[string]any{"bearerAuth": []any{}}})
	wantEqual(t, "healthz security", dig(t, out, "paths", "/healthz", "get", "security"), []any{})
	if _, ok := dig(t, out, "paths", "/healthz", "get").(map[string]any)["x-required-scope"]; ok {
		t.Error("healthz has x-required-scope")
	}
	wantEqual(t, "healthz description", dig(t, out, "paths", "/healthz", "get", "description"), "Alive?\n\nNeeds no authentication.")
	op := dig(t, out, "paths", "/things", "get")
	wantEqual(t, "things security", dig(t, op, "security"), []any{map[string]any{"bearerAuth": []any{"things:read"}}})
	wantEqual(t, "x-required-scope", dig(t, op, "x-required-scope"), "things:read")
	if d := dig(t, op, "description").(string); !strings.Contains(d, "`things:read`") {
		t.Errorf("description %q does not name the scope", d)
	}
	wantEqual(t, "scheme", dig(t, out, "components", "securitySchemes", "bearerAuth", "scheme"), "bearer")
}

type CustomError struct {
	Error CustomErrorDetail `json:"error"`
}

type CustomErrorDetail struct {
	Code string `json:"code" enum:"bad,worse"`
}

func TestErrors(t *testing.T) {
	doc := bodyDoc(Inner{})
	doc.Operations[0].Errors = []int{404, 400}
	doc.ErrorDescriptions = map[int]string{404: "No such thing."}
	out := generate(t, doc)
	wantEqual(t, "400", dig(t, out, "paths", "/x", "get", "responses", "400"), map[string]any{"$ref": "#/components/responses/BadRequest"})
	wantEqual(t, "NotFound", dig(t, out, "components", "responses", "NotFound"), map[string]any{
		"description": "No such thing.",
		"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}},
	})
	wantEqual(t, "BadRequest.description", dig(t, out, "components", "responses", "BadRequest", "description"), "Bad Request")
	wantEqual(t, "error fields", dig(t, out, "components", "schemas", "Error", "properties", "error", "required"),
		[]any{"code", "message", "request_id"})

	doc.ErrorBody = CustomError{}
	s := dig(t, generate(t, doc), "components", "schemas").(map[string]any)
	wantEqual(t, "custom error", dig(t, s, "Error", "properties", "error", "$ref"), "#/components/schemas/CustomErrorDetail")
	wantEqual(t, "custom error code", dig(t, s, "CustomErrorDetail", "properties", "code", "enum"), []any{"bad", "worse"})
	if _, ok := s["CustomError"]; ok {
		t.Error("the error envelope is also under its Go name")
	}
}

func TestRequestBodies(t *testing.T) {
	doc := openapi.Document{Title: "T", Version: "1", Operations: []openapi.Operation{
		{
			Method: "POST", Path: "/json", Scope: "w", Request: Inner{}, RequestOptional: true,
			Responses: []openapi.Response{{Status: 204}},
		},
		{
			Method: "PUT", Path: "/both", Scope: "w", Request: Inner{},
			RequestContentTypes: []string{"application/json", "application/octet-stream", "text/plain"},
			Responses:           []openapi.Response{{Status: 204}},
		},
	}}
	out := generate(t, doc)
	wantEqual(t, "optional", dig(t, out, "paths", "/json", "post", "requestBody"), map[string]any{
		"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Inner"}}},
	})
	wantEqual(t, "both", dig(t, out, "paths", "/both", "put", "requestBody"), map[string]any{
		"required": true,
		"content": map[string]any{
			"application/json":         map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Inner"}},
			"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}},
			"text/plain":               map[string]any{"schema": map[string]any{"type": "string"}},
		},
	})
}

func TestDeterministic(t *testing.T) {
	doc := fakeAPI()
	first, err := openapi.Generate(doc)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, err := openapi.Generate(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("two runs differ")
		}
	}
	// The order of the operations does not matter either.
	slices.Reverse(doc.Operations)
	reversed, err := openapi.Generate(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, reversed) {
		t.Fatalf("reordering the operations changes the output:\n%s", firstDiff(first, reversed))
	}
	// Nor that of the types met (the name clash is resolved the same way).
	a, errA := openapi.Generate(bodyDoc(Clash{}))
	b, errB := openapi.Generate(bodyDoc(struct {
		Theirs image.Point `json:"theirs"`
		Mine   Point       `json:"mine"`
	}{}))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if sa, sb := componentsPart(a), componentsPart(b); !strings.Contains(sb, "ImagePoint:") || !strings.Contains(sa, "ImagePoint:") ||
		!strings.Contains(sb, "Openapi_testPoint:") || !strings.Contains(sa, "Openapi_testPoint:") {
		t.Errorf("clash names depend on the order:\n%s\n%s", sa, sb)
	}
}

func componentsPart(out []byte) string {
	s := string(out)
	return s[strings.Index(s, "components:"):]
}

func TestGenerateErrors(t *testing.T) {
	ok := func() openapi.Operation {
		return openapi.Operation{Method: "GET", Path: "/x", Scope: "s", Responses: []openapi.Response{{Status: 200, Body: Inner{}}}}
	}
	with := func(f func(*openapi.Operation)) openapi.Document {
		op := ok()
		f(&op)
		return openapi.Document{Title: "T", Version: "1", Operations: []openapi.Operation{op}}
	}
	for name, tc := range map[string]struct {
		doc  openapi.Document
		want string
	}{
		"no title":         {openapi.Document{Version: "1"}, "title"},
		"bad method":       {with(func(o *openapi.Operation) { o.Method = "get" }), "unknown method"},
		"relative path":    {with(func(o *openapi.Operation) { o.Path = "x" }), "must start with /"},
		"unbalanced":       {with(func(o *openapi.Operation) { o.Path = "/x/{id" }), "unbalanced"},
		"empty param":      {with(func(o *openapi.Operation) { o.Path = "/x/{}" }), "bad path parameter"},
		"twice in path":    {with(func(o *openapi.Operation) { o.Path = "/x/{id}/{id}" }), "appears twice"},
		"unknown path par": {with(func(o *openapi.Operation) { o.PathParams = []openapi.Param{{Name: "nope"}} }), "not in the path"},
		"bad param type":   {with(func(o *openapi.Operation) { o.Query = []openapi.Param{{Name: "q", Type: "date"}} }), "unknown type"},
		"bad enum": {with(func(o *openapi.Operation) {
			o.Query = []openapi.Param{{Name: "q", Type: "integer", Enum: []string{"x"}}}
		}), "not a valid integer"},
		"dup query":         {with(func(o *openapi.Operation) { o.Query = []openapi.Param{{Name: "q"}, {Name: "q"}} }), "appears twice"},
		"dup header":        {with(func(o *openapi.Operation) { o.Headers = []openapi.Param{{Name: "x-a"}, {Name: "X-A"}} }), "appears twice"},
		"no responses":      {with(func(o *openapi.Operation) { o.Responses = nil }), "no responses"},
		"dup status":        {with(func(o *openapi.Operation) { o.Errors = []int{200} }), "status 200 appears twice"},
		"bad status":        {with(func(o *openapi.Operation) { o.Errors = []int{42} }), "bad status 42"},
		"json without body": {with(func(o *openapi.Operation) { o.RequestContentTypes = []string{"application/json"} }), "needs a Request"},
		"unused request":    {with(func(o *openapi.Operation) { o.Request = Inner{}; o.RequestContentTypes = []string{"text/plain"} }), "has a Request but"},
		"json resp no body": {with(func(o *openapi.Operation) {
			o.Responses[0] = openapi.Response{Status: 200, ContentType: "application/json"}
		}), "needs a Body"},
		"chan":       {with(func(o *openapi.Operation) { o.Responses[0].Body = struct{ C chan int }{} }), "unsupported type chan int"},
		"func field": {with(func(o *openapi.Operation) { o.Request = struct{ F func() }{} }), "unsupported type func()"},
		"map key":    {with(func(o *openapi.Operation) { o.Request = map[[2]int]string{} }), "unsupported map key"},
		"enum on object": {with(func(o *openapi.Operation) {
			o.Request = struct {
				I Inner `enum:"a"`
			}{}
		}), "enum tag"},
		"bad example": {with(func(o *openapi.Operation) {
			o.Request = struct {
				N int `example:"x"`
			}{}
		}), "example tag"},
		"error envelope": {openapi.Document{Title: "T", Version: "1", ErrorBody: "x"}, "named struct"},
		"error name":     {with(func(o *openapi.Operation) { o.Request = ErrorLike{} }), `both want the schema name "Error"`},
		"dup chosen name": {with(func(o *openapi.Operation) {
			o.Request = struct {
				A Dup1
				B Dup2
			}{}
		}), `both want the schema name "Dup"`},
		"bad chosen name": {with(func(o *openapi.Operation) { o.Request = BadName{} }), "bad schema name"},
		"dup operation": {openapi.Document{Title: "T", Version: "1", Operations: []openapi.Operation{ok(), ok()}},
			"more than one operation"},
		"dup id": {openapi.Document{Title: "T", Version: "1", Operations: []openapi.Operation{
			{Method: "GET", Path: "/a", ID: "x", Responses: []openapi.Response{{Status: 204}}},
			{Method: "GET", Path: "/b", ID: "x", Responses: []openapi.Response{{Status: 204}}},
		}}, "used twice"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := openapi.Generate(tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Generate: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// createNote is a request body that says which of its fields are required.
type createNote struct {
	Title *string   `json:"title"`
	Body  *string   `json:"body"`
	Tags  *[]string `json:"tags,omitempty"`
}

func (createNote) OpenAPIRequired() []string { return []string{"body", "tags"} }

// patchNote requires nothing, although no field has omitempty.
type patchNote struct {
	Title *string `json:"title"`
}

func (*patchNote) OpenAPIRequired() []string { return nil }

type badRequired struct {
	Title string `json:"title"`
}

func (badRequired) OpenAPIRequired() []string { return []string{"titel"} }

// requestDoc returns a document with one operation that takes body and
// answers answer (nil: nothing).
func requestDoc(body, answer any) openapi.Document {
	return openapi.Document{
		Title: "T", Version: "1",
		Operations: []openapi.Operation{{
			Method: "POST", Path: "/x", Scope: "write", Request: body,
			Responses: []openapi.Response{{Status: 200, Body: answer}},
		}},
	}
}

func TestRequiredProperties(t *testing.T) {
	type both struct {
		C createNote `json:"c"`
		P patchNote  `json:"p"`
	}
	schemas := dig(t, generate(t, requestDoc(both{}, nil)), "components", "schemas").(map[string]any)
	wantEqual(t, "createNote.required", dig(t, schemas, "createNote", "required"), []any{"body", "tags"})
	if _, ok := dig(t, schemas, "patchNote").(map[string]any)["required"]; ok {
		t.Errorf("patchNote has required: %v", dig(t, schemas, "patchNote"))
	}
	// In a response the list is the inferred one.
	schemas = schemasOf(t, both{})
	wantEqual(t, "createNote.required in a response", dig(t, schemas, "createNote", "required"), []any{"title", "body"})
	wantEqual(t, "patchNote.required in a response", dig(t, schemas, "patchNote", "required"), []any{"title"})
	if _, err := openapi.Generate(requestDoc(badRequired{}, nil)); err == nil || !strings.Contains(err.Error(), "titel") {
		t.Errorf("an unknown required property: %v", err)
	}
}

// noteLimits is part of both a request and a response; the server fills
// in what a request leaves out.
type noteLimits struct {
	MaxTags int    `json:"max_tags"`
	Color   string `json:"color"`
}

func (noteLimits) OpenAPIRequired() []string { return nil }

// noteColor is described alike in both.
type noteColor struct {
	Name string `json:"name"`
}

func (noteColor) OpenAPIRequired() []string { return []string{"name"} }

type noteSettings struct {
	Limits *noteLimits `json:"limits,omitempty"`
	Color  *noteColor  `json:"color,omitempty"`
}

func (noteSettings) OpenAPIRequired() []string { return nil }

type noteConfig struct {
	Settings noteSettings `json:"settings"`
	Colors   []noteColor  `json:"colors"`
}

func (noteConfig) OpenAPIRequired() []string { return nil }

type noteConfigResponse struct {
	Config noteConfig `json:"config"`
}

// A type in both a request and a response has a request schema of its own
// when its required lists differ, or when it refers to such a type; one
// schema otherwise.
func TestRequestSchemas(t *testing.T) {
	out := generate(t, requestDoc(noteConfig{}, noteConfigResponse{}))
	schemas := dig(t, out, "components", "schemas").(map[string]any)
	names := slices.Sorted(maps.Keys(schemas))
	wantEqual(t, "schemas", names, []string{"Error", "noteColor", "noteConfig", "noteConfigInput", "noteConfigResponse", "noteLimits", "noteLimitsInput", "noteSettings", "noteSettingsInput"})
	wantEqual(t, "request body", dig(t, out, "paths", "/x", "post", "requestBody", "content", "application/json", "schema", "$ref"), "#/components/schemas/noteConfigInput")
	wantEqual(t, "noteLimits.required", dig(t, schemas, "noteLimits", "required"), []any{"max_tags", "color"})
	if _, ok := schemas["noteLimitsInput"].(map[string]any)["required"]; ok {
		t.Errorf("noteLimitsInput has required: %v", schemas["noteLimitsInput"])
	}
	wantEqual(t, "noteSettingsInput.limits", dig(t, schemas, "noteSettingsInput", "properties", "limits", "anyOf", 0, "$ref"), "#/components/schemas/noteLimitsInput")
	wantEqual(t, "noteSettingsInput.color", dig(t, schemas, "noteSettingsInput", "properties", "color", "anyOf", 0, "$ref"), "#/components/schemas/noteColor")
	wantEqual(t, "noteSettings.limits", dig(t, schemas, "noteSettings", "properties", "limits", "anyOf", 0, "$ref"), "#/components/schemas/noteLimits")
	wantEqual(t, "noteConfigInput.settings", dig(t, schemas, "noteConfigInput", "properties", "settings", "$ref"), "#/components/schemas/noteSettingsInput")
	wantEqual(t, "noteConfigInput.colors", dig(t, schemas, "noteConfigInput", "properties", "colors", "items", "$ref"), "#/components/schemas/noteColor")
	wantEqual(t, "noteConfig.required", dig(t, schemas, "noteConfig", "required"), []any{"settings", "colors"})

	// Only in a request: one schema, with its plain name.
	schemas = dig(t, generate(t, requestDoc(noteConfig{}, nil)), "components", "schemas").(map[string]any)
	wantEqual(t, "request only", slices.Sorted(maps.Keys(schemas)), []string{"Error", "noteColor", "noteConfig", "noteLimits", "noteSettings"})
}

type looseRequest struct {
	Inner looseInner `json:"inner"`
}

func (looseRequest) OpenAPIRequired() []string { return nil }

type looseInner struct {
	A string `json:"a"`
}

type unnamedRequest struct {
	Inner struct {
		A string `json:"a"`
	} `json:"inner"`
}

func (unnamedRequest) OpenAPIRequired() []string { return nil }

// With StrictRequests, every struct in a request body says what it
// requires; without, the others' lists are inferred.
func TestStrictRequests(t *testing.T) {
	doc := requestDoc(looseRequest{}, nil)
	wantEqual(t, "inferred", dig(t, generate(t, doc), "components", "schemas", "looseInner", "required"), []any{"a"})
	doc.StrictRequests = true
	if _, err := openapi.Generate(doc); err == nil || !strings.Contains(err.Error(), "looseInner") {
		t.Errorf("a nested type without RequiredProperties: %v", err)
	}
	doc = requestDoc(unnamedRequest{}, nil)
	doc.StrictRequests = true
	if _, err := openapi.Generate(doc); err == nil || !strings.Contains(err.Error(), "unnamed struct") {
		t.Errorf("an unnamed struct: %v", err)
	}
	doc = requestDoc(noteConfig{}, looseRequest{})
	doc.StrictRequests = true // responses need nothing
	generate(t, doc)
}

type noteEvent struct{}

func (noteEvent) OpenAPIUnion() (string, []any) {
	return "type", []any{noteCreated{}, noteDeleted{}}
}

type noteCreated struct {
	Type  string `json:"type" enum:"created"`
	Title string `json:"title"`
}

type noteDeleted struct {
	Type string `json:"type" enum:"deleted"`
}

type twoCreated struct{}

func (twoCreated) OpenAPIUnion() (string, []any) {
	return "type", []any{noteCreated{}, noteCreated2{}}
}

type noteCreated2 struct {
	Type string `json:"type" enum:"created"`
}

type untagged struct{}

func (untagged) OpenAPIUnion() (string, []any) { return "type", []any{noteUntagged{}} }

type noteUntagged struct {
	Type string `json:"type,omitempty" enum:"x"`
}

func TestUnion(t *testing.T) {
	schemas := schemasOf(t, noteEvent{})
	u := dig(t, schemas, "noteEvent")
	wantEqual(t, "oneOf", dig(t, u, "oneOf"), []any{
		map[string]any{"$ref": "#/components/schemas/noteCreated"},
		map[string]any{"$ref": "#/components/schemas/noteDeleted"},
	})
	wantEqual(t, "discriminator", dig(t, u, "discriminator"), map[string]any{
		"propertyName": "type",
		"mapping": map[string]any{
			"created": "#/components/schemas/noteCreated",
			"deleted": "#/components/schemas/noteDeleted",
		},
	})
	wantEqual(t, "noteCreated.type.enum", dig(t, schemas, "noteCreated", "properties", "type", "enum"), []any{"created"})
	for _, bad := range []any{twoCreated{}, untagged{}} {
		if _, err := openapi.Generate(bodyDoc(bad)); err == nil {
			t.Errorf("%T: no error", bad)
		}
	}
}
