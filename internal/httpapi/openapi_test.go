package httpapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
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

// TestRedoclyLint runs `redocly lint` (its recommended rules, as
// api/redocly.yaml adjusts them) on api/openapi.yaml when HERM_TEST_REDOCLY
// names the redocly binary (npm's @redocly/cli), and fails on any error or
// warning.
func TestRedoclyLint(t *testing.T) {
	bin := os.Getenv("HERM_TEST_REDOCLY")
	if bin == "" {
		t.Skip("HERM_TEST_REDOCLY is not set (the path of @redocly/cli's redocly binary)")
	}
	root := filepath.Join("..", "..")
	cmd := exec.Command(bin, "lint", "--config", filepath.Join("api", "redocly.yaml"), "--format", "json", filepath.Join("api", "openapi.yaml"))
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var report struct {
		Totals *struct {
			Errors, Warnings, Ignored int
		} `json:"totals"`
	}
	if jerr := json.Unmarshal(out, &report); jerr != nil || report.Totals == nil {
		t.Fatalf("redocly lint: %v (output %q, stderr %s): %v", err, out, stderr.String(), jerr)
	}
	if report.Totals.Errors+report.Totals.Warnings > 0 || err != nil {
		human, _ := exec.Command(bin, "lint", "--config", filepath.Join(root, "api", "redocly.yaml"), filepath.Join(root, "api", "openapi.yaml")).CombinedOutput()
		t.Fatalf("redocly lint: %d errors, %d warnings (%v):\n%s", report.Totals.Errors, report.Totals.Warnings, err, human)
	}
}
