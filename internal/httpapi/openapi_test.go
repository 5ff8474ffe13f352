package httpapi

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/hermhq/herm/internal/openapi"
)

var update = flag.Bool("update", false, "rewrite api/openapi.yaml")

// TestOpenAPIUpToDate fails when api/openapi.yaml no longer matches the code.
func TestOpenAPIUpToDate(t *testing.T) {
	got, err := openapi.Generate(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "api", "openapi.yaml")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./internal/httpapi -run OpenAPI -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Error("api/openapi.yaml is stale: go test ./internal/httpapi -run OpenAPI -update")
	}
}

// TestRoutesAreDocumented checks that every served route is in the document
// with its scope, and every documented path is served.
func TestRoutesAreDocumented(t *testing.T) {
	doc := OpenAPI()
	s := &Server{}
	if len(doc.Operations) != len(s.routes()) {
		t.Fatalf("%d operations for %d routes", len(doc.Operations), len(s.routes()))
	}
	for i, rt := range s.routes() {
		op := doc.Operations[i]
		if op.Path != rt.path || op.Method != rt.method || op.Scope != rt.scope || op.Summary == "" {
			t.Errorf("route %s %s documented as %+v", rt.method, rt.path, op)
		}
		if rt.scope != "" && !contains(op.Errors, 401) {
			t.Errorf("%s %s: protected but 401 not documented", rt.method, rt.path)
		}
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
