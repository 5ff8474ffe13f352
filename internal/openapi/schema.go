package openapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// schema is a JSON Schema under construction. Named struct types are refs,
// resolved to names when every type is known.
type schema struct {
	ref             key // a named struct type (ref.t != nil): $ref to its component
	nullable        bool
	typ             string // "" (with ref nil): any JSON value
	format          string
	contentEncoding string
	description     string
	enum            []any // nil, string, int64, float64 or bool
	examples        []*yaml.Node
	minimum         *int64
	items           *schema
	minItems        *int
	maxItems        *int
	props           []property
	required        []string
	additional      *schema
	oneOf           []key    // a Union: its variants, named struct types
	discriminator   string   // the property that tells them apart
	mapping         []string // the property's value for each variant
}

type property struct {
	name   string
	schema *schema
}

// key identifies a component: a named struct type as part of a request
// body (input) or of a response. The two are one component unless they
// differ (mergeInputs).
type key struct {
	t     reflect.Type
	input bool
}

// generator holds the state of one Generate call.
type generator struct {
	components map[key]*schema         // named struct types; nil while being built
	pinned     map[reflect.Type]string // names chosen by Generate itself
	strict     bool                    // Document.StrictRequests
	alias      map[key]key             // input keys described by their response twin; set by mergeInputs
	names      map[key]string          // set by assignNames
	byName     map[string]key          // set by assignNames
	refs       []refFix                // $ref values to fill in once names are known
}

type refFix struct {
	node *yaml.Node
	key  key
}

func newGenerator() *generator {
	return &generator{
		components: map[key]*schema{},
		pinned:     map[reflect.Type]string{},
		alias:      map[key]key{},
	}
}

// schemaOf returns the schema of values of type t, registering the named
// struct types it meets as components: as part of a request body when
// input is true, of a response otherwise.
func (g *generator) schemaOf(t reflect.Type, input bool) (*schema, error) {
	if t == nil {
		return &schema{}, nil
	}
	nullable := false
	for t.Kind() == reflect.Pointer {
		nullable = true
		t = t.Elem()
	}
	s, err := g.baseSchema(t, input)
	if err != nil {
		return nil, err
	}
	s.nullable = s.nullable || nullable
	return s, nil
}

// baseSchema returns the schema of a type that is not a pointer.
func (g *generator) baseSchema(t reflect.Type, input bool) (*schema, error) {
	switch {
	case t == reflect.TypeFor[time.Time]():
		return &schema{typ: "string", format: "date-time"}, nil
	case t == reflect.TypeFor[json.RawMessage]():
		return &schema{}, nil
	case t == reflect.TypeFor[json.Number]():
		return &schema{typ: "number"}, nil
	case implements(t, reflect.TypeFor[json.Marshaler]()):
		return &schema{}, nil // its own JSON: anything
	case implements(t, reflect.TypeFor[encoding.TextMarshaler]()):
		return &schema{typ: "string"}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return &schema{typ: "boolean"}, nil
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return &schema{typ: "integer", format: "int32"}, nil
	case reflect.Int, reflect.Int64:
		return &schema{typ: "integer", format: "int64"}, nil
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint, reflect.Uint64, reflect.Uintptr:
		zero := int64(0)
		format := "int64"
		if t.Size() < 4 {
			format = "int32"
		}
		return &schema{typ: "integer", format: format, minimum: &zero}, nil
	case reflect.Float32:
		return &schema{typ: "number", format: "float"}, nil
	case reflect.Float64:
		return &schema{typ: "number", format: "double"}, nil
	case reflect.String:
		return &schema{typ: "string"}, nil
	case reflect.Interface:
		return &schema{}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !implements(t.Elem(), reflect.TypeFor[json.Marshaler]()) &&
			!implements(t.Elem(), reflect.TypeFor[encoding.TextMarshaler]()) {
			return &schema{typ: "string", contentEncoding: "base64"}, nil
		}
		items, err := g.schemaOf(t.Elem(), input)
		if err != nil {
			return nil, err
		}
		return &schema{typ: "array", items: items}, nil
	case reflect.Array:
		items, err := g.schemaOf(t.Elem(), input)
		if err != nil {
			return nil, err
		}
		n := t.Len()
		return &schema{typ: "array", items: items, minItems: &n, maxItems: &n}, nil
	case reflect.Map:
		switch k := t.Key(); {
		case k.Kind() == reflect.String, k.Kind() >= reflect.Int && k.Kind() <= reflect.Uintptr, implements(k, reflect.TypeFor[encoding.TextMarshaler]()):
		default:
			return nil, fmt.Errorf("unsupported map key type %s", k)
		}
		values, err := g.schemaOf(t.Elem(), input)
		if err != nil {
			return nil, err
		}
		return &schema{typ: "object", additional: values}, nil
	case reflect.Struct:
		if t.Name() == "" {
			if input && g.strict {
				return nil, fmt.Errorf("%s: an unnamed struct in a request body cannot list its required properties", t)
			}
			return g.objectSchema(t, input)
		}
		k := key{t, input}
		if _, ok := g.components[k]; !ok {
			g.components[k] = nil // being built: recursion ends here
			s, err := g.namedSchema(t, input)
			if err != nil {
				delete(g.components, k)
				return nil, err
			}
			g.components[k] = s
		}
		return &schema{ref: k}, nil
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

// namedSchema returns the schema of a named struct type: a union's, or its
// fields'. In a response, the fields without omitempty or omitzero are
// required; in a request body, those the type lists (RequiredProperties),
// if it does.
func (g *generator) namedSchema(t reflect.Type, input bool) (*schema, error) {
	if u, ok := zeroAs[Union](t); ok {
		return g.unionSchema(t, u, input)
	}
	s, err := g.objectSchema(t, input)
	if err != nil {
		return nil, err
	}
	if !input {
		return s, nil
	}
	rp, ok := zeroAs[RequiredProperties](t)
	if !ok {
		if g.strict {
			return nil, fmt.Errorf("%s is part of a request body but does not list its required properties (RequiredProperties)", t)
		}
		return s, nil
	}
	required := rp.OpenAPIRequired()
	for i, name := range required {
		if !slices.ContainsFunc(s.props, func(p property) bool { return p.name == name }) {
			return nil, fmt.Errorf("%s: required property %q is not a property of the type", t, name)
		}
		if slices.Contains(required[:i], name) {
			return nil, fmt.Errorf("%s: required property %q appears twice", t, name)
		}
	}
	s.required = slices.Clone(required)
	return s, nil
}

// unionSchema returns the schema of a Union: oneOf its variants, with a
// discriminator.
func (g *generator) unionSchema(t reflect.Type, u Union, input bool) (*schema, error) {
	prop, variants := u.OpenAPIUnion()
	if prop == "" || len(variants) == 0 {
		return nil, fmt.Errorf("%s: a union needs a discriminating property and variants", t)
	}
	s := &schema{discriminator: prop}
	for _, v := range variants {
		vt := reflect.TypeOf(v)
		if vt == nil || vt.Kind() != reflect.Struct || vt.Name() == "" || vt == t {
			return nil, fmt.Errorf("%s: union variant %v is not another named struct type", t, vt)
		}
		if _, err := g.schemaOf(vt, input); err != nil {
			return nil, err
		}
		vs := g.components[key{vt, input}]
		if vs == nil {
			return nil, fmt.Errorf("%s: union variant %s refers back to the union", t, vt)
		}
		i := slices.IndexFunc(vs.props, func(p property) bool { return p.name == prop })
		if i < 0 || !slices.Contains(vs.required, prop) || vs.props[i].schema.typ != "string" || len(vs.props[i].schema.enum) != 1 {
			return nil, fmt.Errorf("%s: union variant %s needs a required string property %q with an enum tag of one value", t, vt, prop)
		}
		value := vs.props[i].schema.enum[0].(string)
		if slices.Contains(s.mapping, value) {
			return nil, fmt.Errorf("%s: two union variants have %s %q", t, prop, value)
		}
		s.oneOf = append(s.oneOf, key{vt, input})
		s.mapping = append(s.mapping, value)
	}
	return s, nil
}

// zeroAs returns the zero value of t (or of *t) as an I, if it is one.
func zeroAs[I any](t reflect.Type) (I, bool) {
	if v, ok := reflect.Zero(t).Interface().(I); ok {
		return v, true
	}
	v, ok := reflect.New(t).Interface().(I)
	return v, ok
}

// implements reports whether t or *t implements the interface it.
func implements(t, it reflect.Type) bool {
	return t.Implements(it) || t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(it)
}

// objectSchema returns the schema of a struct's fields.
func (g *generator) objectSchema(t reflect.Type, input bool) (*schema, error) {
	s := &schema{typ: "object"}
	for _, f := range structFields(t) {
		fs, err := g.fieldSchema(f, input)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, f.goName, err)
		}
		s.props = append(s.props, property{f.name, fs})
		if !f.optional {
			s.required = append(s.required, f.name)
		}
	}
	return s, nil
}

// fieldSchema returns the schema of a field, with its tags applied.
func (g *generator) fieldSchema(f field, input bool) (*schema, error) {
	s, err := g.schemaOf(f.typ, input)
	if err != nil {
		return nil, err
	}
	if f.quoted && s.ref.t == nil && (s.typ == "integer" || s.typ == "number" || s.typ == "boolean") {
		s.typ, s.format, s.minimum = "string", "", nil
	}
	s.description = f.tag.Get("doc")
	if f.tag.Get("null") == "no" {
		s.nullable = false // a pointer that tells absent from a value
	}
	if tag, ok := f.tag.Lookup("enum"); ok {
		target := s
		if s.typ == "array" && s.items != nil {
			target = s.items
		}
		switch target.typ {
		case "string", "integer", "number", "boolean":
		default:
			return nil, fmt.Errorf("enum tag on a field that is not a scalar or a slice of scalars")
		}
		for v := range strings.SplitSeq(tag, ",") {
			ev, err := enumValue(target.typ, strings.TrimSpace(v))
			if err != nil {
				return nil, err
			}
			target.enum = append(target.enum, ev)
		}
	}
	if tag, ok := f.tag.Lookup("example"); ok {
		var ex any = tag
		if s.ref.t != nil || s.typ != "string" {
			d := json.NewDecoder(strings.NewReader(tag))
			d.UseNumber()
			if err := d.Decode(&ex); err != nil {
				return nil, fmt.Errorf("example tag is not JSON: %w", err)
			}
		}
		s.examples = append(s.examples, valueNode(ex))
	}
	return s, nil
}

// enumValue parses an enum value written as text into a value of type typ.
func enumValue(typ, v string) (any, error) {
	var (
		out any = v
		err error
	)
	switch typ {
	case "integer":
		out, err = strconv.ParseInt(v, 10, 64)
	case "number":
		out, err = strconv.ParseFloat(v, 64)
	case "boolean":
		out, err = strconv.ParseBool(v)
	}
	if err != nil {
		return nil, fmt.Errorf("enum value %q is not a valid %s", v, typ)
	}
	return out, nil
}

// field is a struct field as encoding/json sees it.
type field struct {
	name     string // the JSON name
	goName   string
	tagged   bool // the name comes from a json tag
	index    []int
	typ      reflect.Type
	tag      reflect.StructTag
	optional bool // may be left out: omitempty, omitzero, or behind an embedded pointer
	quoted   bool // the ",string" option
}

// structFields returns the fields encoding/json encodes for a struct type,
// in its order, with embedded structs flattened and conflicts resolved by
// encoding/json's rules.
func structFields(t reflect.Type) []field {
	var fields []field
	current := []field{}
	next := []field{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, f := range current {
			if visited[f.typ] {
				continue
			}
			visited[f.typ] = true
			for i := range f.typ.NumField() {
				sf := f.typ.Field(i)
				if sf.Anonymous {
					et := sf.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if !sf.IsExported() && et.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validJSONName(name) {
					name = ""
				}
				index := append(slices.Clone(f.index), i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					fl := field{
						name: name, goName: sf.Name, tagged: name != "", index: index, typ: sf.Type, tag: sf.Tag,
						optional: f.optional || hasOption(opts, "omitzero") ||
							hasOption(opts, "omitempty") && !(ft.Kind() == reflect.Struct && sf.Type.Kind() != reflect.Pointer) &&
								!(sf.Type.Kind() == reflect.Array && sf.Type.Len() > 0),
					}
					if fl.name == "" {
						fl.name = sf.Name
					}
					if hasOption(opts, "string") {
						switch ft.Kind() {
						case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
							reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
							reflect.Float32, reflect.Float64, reflect.String:
							fl.quoted = true
						}
					}
					fields = append(fields, fl)
					if count[f.typ] > 1 {
						// The same type embedded twice at one depth: its
						// fields annihilate each other, as in encoding/json.
						fields = append(fields, fields[len(fields)-1])
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, field{
						name: ft.Name(), index: index, typ: ft,
						optional: f.optional || sf.Type.Kind() == reflect.Pointer,
					})
				}
			}
		}
	}

	slices.SortFunc(fields, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := len(a.index) - len(b.index); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0]
	for advance, i := 0, 0; i < len(fields); i += advance {
		fi := fields[i]
		for advance = 1; i+advance < len(fields); advance++ {
			if fields[i+advance].name != fi.name {
				break
			}
		}
		if advance == 1 {
			out = append(out, fi)
			continue
		}
		// The shallowest field wins, a tagged one among equals; otherwise
		// none does.
		if rest := fields[i : i+advance]; len(rest[0].index) != len(rest[1].index) || rest[0].tagged != rest[1].tagged {
			out = append(out, fi)
		}
	}
	slices.SortFunc(out, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return out
}

func hasOption(opts, name string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == name {
			return true
		}
	}
	return false
}

// validJSONName reports whether encoding/json accepts name as a field name
// in a tag.
func validJSONName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// mergeInputs describes each type that is part of both request bodies and
// responses by one component when the two schemas are the same (the same
// required properties, at every depth), and by two otherwise: the request
// body's is then the response's name followed by "Input".
func (g *generator) mergeInputs() {
	split := map[key]bool{} // input keys whose schema differs from their twin's
	for k, s := range g.components {
		if out, ok := g.components[key{k.t, false}]; k.input && ok && !sameRequired(s, out) {
			split[k] = true
		}
	}
	// A schema that refers to a split one differs from its twin too.
	for changed := true; changed; {
		changed = false
		for k, s := range g.components {
			if _, ok := g.components[key{k.t, false}]; k.input && ok && !split[k] && refersTo(s, split) {
				split[k], changed = true, true
			}
		}
	}
	for k := range g.components {
		if _, ok := g.components[key{k.t, false}]; k.input && ok && !split[k] {
			g.alias[k] = key{k.t, false}
			delete(g.components, k)
		}
	}
}

// sameRequired reports whether two schemas of one type list the same
// required properties, at every depth of the schema itself.
func sameRequired(a, b *schema) bool {
	if a == nil || b == nil {
		return a == b
	}
	if !slices.Equal(a.required, b.required) || len(a.props) != len(b.props) {
		return false
	}
	for i := range a.props {
		if !sameRequired(a.props[i].schema, b.props[i].schema) {
			return false
		}
	}
	return sameRequired(a.items, b.items) && sameRequired(a.additional, b.additional)
}

// refersTo reports whether a schema refers to one of keys.
func refersTo(s *schema, keys map[key]bool) bool {
	if s == nil {
		return false
	}
	if keys[s.ref] || slices.ContainsFunc(s.oneOf, func(k key) bool { return keys[k] }) {
		return true
	}
	for _, p := range s.props {
		if refersTo(p.schema, keys) {
			return true
		}
	}
	return refersTo(s.items, keys) || refersTo(s.additional, keys)
}

// assignNames names the components: names chosen by Generate or by
// SchemaNamer first, then Go names that are unique, then the others
// prefixed with their package name (and numbered if need be); a request
// body's own schema of a type that responses describe otherwise is the
// response schema's name followed by "Input". The result depends only on
// the set of types.
func (g *generator) assignNames() error {
	var types, inputs []reflect.Type
	for k := range g.components {
		if _, twin := g.components[key{k.t, !k.input}]; twin && k.input {
			inputs = append(inputs, k.t)
		} else {
			types = append(types, k.t)
		}
	}
	byKey := func(a, b reflect.Type) int { return strings.Compare(typeKey(a), typeKey(b)) }
	slices.SortFunc(types, byKey)
	slices.SortFunc(inputs, byKey)
	g.names = map[key]string{}
	g.byName = map[string]key{}
	// The component of a type that has one (its response schema's when it
	// has two).
	of := func(t reflect.Type) key {
		if _, ok := g.components[key{t, false}]; ok {
			return key{t, false}
		}
		return key{t, true}
	}
	claim := func(k key, name string) {
		g.names[k] = name
		g.byName[name] = k
	}

	var free []reflect.Type
	for _, t := range types {
		name, ok := g.pinned[t]
		if !ok {
			name, ok = chosenName(t)
		}
		if !ok {
			free = append(free, t)
			continue
		}
		if !validComponentName(name) {
			return fmt.Errorf("openapi: %s: bad schema name %q", t, name)
		}
		if other, taken := g.byName[name]; taken {
			return fmt.Errorf("openapi: %s and %s both want the schema name %q", typeKey(other.t), typeKey(t), name)
		}
		claim(of(t), name)
	}

	count := map[string]int{}
	for _, t := range free {
		count[baseName(t)]++
	}
	var clashed []reflect.Type
	for _, t := range free {
		name := baseName(t)
		if _, taken := g.byName[name]; count[name] == 1 && !taken {
			claim(of(t), name)
		} else {
			clashed = append(clashed, t)
		}
	}
	for _, t := range clashed {
		base := packagePrefix(t) + baseName(t)
		name := base
		for i := 2; ; i++ {
			if _, taken := g.byName[name]; !taken {
				break
			}
			name = base + strconv.Itoa(i)
		}
		claim(of(t), name)
	}
	for _, t := range inputs {
		name := g.names[key{t, false}] + "Input"
		if other, taken := g.byName[name]; taken {
			return fmt.Errorf("openapi: %s's request body schema and %s both want the schema name %q", typeKey(t), typeKey(other.t), name)
		}
		claim(key{t, true}, name)
	}
	return nil
}

// sortedNames returns the component names in order.
func (g *generator) sortedNames() []string {
	names := make([]string, 0, len(g.byName))
	for name := range g.byName {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// typeKey identifies a named type.
func typeKey(t reflect.Type) string { return t.PkgPath() + "." + t.Name() }

// chosenName returns the name a type chooses through SchemaNamer.
func chosenName(t reflect.Type) (string, bool) {
	namer := reflect.TypeFor[SchemaNamer]()
	switch {
	case t.Implements(namer):
		return reflect.Zero(t).Interface().(SchemaNamer).OpenAPISchemaName(), true
	case reflect.PointerTo(t).Implements(namer):
		return reflect.New(t).Interface().(SchemaNamer).OpenAPISchemaName(), true
	}
	return "", false
}

// baseName returns the Go name of a type, with the type arguments of a
// generic type appended without their package paths: List[a/b.Thing] is
// ListThing.
func baseName(t reflect.Type) string {
	name, args, generic := strings.Cut(t.Name(), "[")
	if !generic {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	for _, tok := range strings.FieldsFunc(args, func(r rune) bool { return strings.ContainsRune("[]*,; (){}", r) }) {
		if i := strings.LastIndexByte(tok, '.'); i >= 0 {
			tok = tok[i+1:]
		}
		b.WriteString(upperFirst(alphanumeric(tok)))
	}
	return b.String()
}

// packagePrefix returns the name of a type's package as a prefix: Herm for
// example.com/herm.
func packagePrefix(t reflect.Type) string {
	return upperFirst(alphanumeric(path.Base(t.PkgPath())))
}

func alphanumeric(s string) string {
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			return r
		}
		return -1
	}, s)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// validComponentName reports whether name may be a key of components/schemas.
func validComponentName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)) {
			return false
		}
	}
	return true
}

// render returns a schema as YAML. The $refs are filled in by patchRefs.
// A schema without refs may be rendered by a nil generator.
func (g *generator) render(s *schema) *yaml.Node {
	n := mapping()
	switch {
	case s.ref.t != nil && s.nullable:
		null := mapping()
		add(null, "type", str("null"))
		add(n, "anyOf", sequence(g.refNode(s.ref), null))
	case s.ref.t != nil:
		add(n, "$ref", g.refValue(s.ref))
	case s.typ != "" && s.nullable:
		add(n, "type", flowSequence(str(s.typ), str("null")))
	case s.typ != "":
		add(n, "type", str(s.typ))
	}
	if s.format != "" {
		add(n, "format", str(s.format))
	}
	if s.contentEncoding != "" {
		add(n, "contentEncoding", str(s.contentEncoding))
	}
	if s.description != "" {
		add(n, "description", str(s.description))
	}
	if len(s.enum) > 0 {
		enum := sequence()
		for _, v := range s.enum {
			enum.Content = append(enum.Content, valueNode(v))
		}
		if s.nullable {
			enum.Content = append(enum.Content, valueNode(nil))
		}
		add(n, "enum", enum)
	}
	if s.minimum != nil {
		add(n, "minimum", valueNode(*s.minimum))
	}
	if s.items != nil {
		add(n, "items", g.render(s.items))
	}
	if s.minItems != nil {
		add(n, "minItems", valueNode(int64(*s.minItems)))
	}
	if s.maxItems != nil {
		add(n, "maxItems", valueNode(int64(*s.maxItems)))
	}
	if len(s.required) > 0 {
		req := sequence()
		for _, r := range s.required {
			req.Content = append(req.Content, str(r))
		}
		add(n, "required", req)
	}
	if len(s.props) > 0 {
		props := mapping()
		for _, p := range s.props {
			add(props, p.name, g.render(p.schema))
		}
		add(n, "properties", props)
	}
	if s.additional != nil {
		add(n, "additionalProperties", g.render(s.additional))
	}
	if len(s.oneOf) > 0 {
		variants, byValue := sequence(), mapping()
		for i, t := range s.oneOf {
			variants.Content = append(variants.Content, g.refNode(t))
			add(byValue, s.mapping[i], g.refValue(t))
		}
		add(n, "oneOf", variants)
		d := mapping()
		add(d, "propertyName", str(s.discriminator))
		add(d, "mapping", byValue)
		add(n, "discriminator", d)
	}
	if len(s.examples) > 0 {
		add(n, "examples", sequence(s.examples...))
	}
	return n
}

// refNode returns {$ref: …} for a component.
func (g *generator) refNode(k key) *yaml.Node {
	n := mapping()
	add(n, "$ref", g.refValue(k))
	return n
}

// refValue returns the value of a $ref to a component, to be filled in by
// patchRefs.
func (g *generator) refValue(k key) *yaml.Node {
	v := str("")
	g.refs = append(g.refs, refFix{v, k})
	return v
}

// patchRefs fills in the $refs once the components are merged and named.
func (g *generator) patchRefs() {
	for _, r := range g.refs {
		k := r.key
		if a, ok := g.alias[k]; ok {
			k = a
		}
		r.node.Value = "#/components/schemas/" + g.names[k]
	}
}

// YAML building blocks.

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func sequence(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

func flowSequence(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: items}
}

func add(m *yaml.Node, key string, v *yaml.Node) { m.Content = append(m.Content, str(key), v) }

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

// valueNode returns a JSON value as YAML: nil, a string, a bool, a number
// (int64, float64 or json.Number), []any or map[string]any (keys sorted).
func valueNode(v any) *yaml.Node {
	switch v := v.(type) {
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case string:
		return str(v)
	case bool:
		return boolean(v)
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v, 10)}
	case float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(v, 'g', -1, 64)}
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return valueNode(i)
		}
		f, _ := v.Float64()
		return valueNode(f)
	case []any:
		n := sequence()
		for _, e := range v {
			n.Content = append(n.Content, valueNode(e))
		}
		return n
	case map[string]any:
		n := mapping()
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			add(n, k, valueNode(v[k]))
		}
		return n
	}
	return str(fmt.Sprint(v))
}
