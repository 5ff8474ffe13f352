package builtin

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/tools"
)

var update = flag.Bool("update", false, "rewrite testdata/schemas with the generated input schemas")

// allTools are the built-in tools with the optional ones (memory,
// automations, web_search).
func allTools() []tools.Tool {
	now := func() time.Time { return time.Unix(0, 0) }
	return append(New(nil, Options{Memory: memory.New(herm.NewIDGen(now), now)}), NewAutomations(nil), NewWebSearch(nil))
}

// The input schemas the model sees are generated from the tools' argument
// structs; testdata/schemas holds them as they were written by hand before
// (and as -update writes them since). A generated schema must say the same:
// properties, types, descriptions, enums, bounds and required fields; the
// order of properties and of required fields does not matter.
func TestInputSchemas(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "schemas", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	golden := map[string]string{}
	for _, f := range files {
		golden[strings.TrimSuffix(filepath.Base(f), ".json")] = f
	}
	for _, tl := range allTools() {
		spec := tl.Spec()
		file := filepath.Join("testdata", "schemas", spec.Name+".json")
		if *update {
			var b bytes.Buffer
			if err := json.Indent(&b, spec.InputSchema, "", "  "); err != nil {
				t.Fatal(err)
			}
			b.WriteString("\n")
			if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if golden[spec.Name] == "" {
			t.Errorf("%s: no %s", spec.Name, file)
			continue
		}
		delete(golden, spec.Name)
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(normalSchema(t, want), normalSchema(t, spec.InputSchema)); diff != "" {
			t.Errorf("%s: the schema differs from %s (-want +got):\n%s", spec.Name, file, diff)
		}
	}
	for name := range golden {
		if !*update {
			t.Errorf("%s: a golden schema of no tool", name)
		}
	}
}

// normalSchema decodes a schema with its required lists sorted.
func normalSchema(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if req, ok := v["required"].([]any); ok {
				slices.SortFunc(req, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return v
}
