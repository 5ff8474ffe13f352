package tools_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/tools"
)

// SameSchema fails t when got (a generated schema) does not say what the
// golden file (the schema as it was written by hand) says: the same
// properties, types, descriptions, enums, bounds and required fields.
// Property order and formatting do not matter.
func sameSchema(t *testing.T, golden string, got json.RawMessage) {
	t.Helper()
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: %v", golden, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: generated: %v", golden, err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("%s: the generated schema differs (-hand-written +generated):\n%s", golden, diff)
	}
}

func TestLoopToolSchemas(t *testing.T) {
	t.Parallel()
	for _, spec := range []llm.ToolSpec{tools.AskHumanSpec(), tools.SubagentsSpec()} {
		sameSchema(t, filepath.Join("testdata", "schemas", spec.Name+".json"), spec.InputSchema)
	}
	var sub struct {
		Properties struct {
			Tasks struct {
				MaxItems int `json:"maxItems"`
			} `json:"tasks"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(tools.SubagentsSpec().InputSchema, &sub); err != nil || sub.Properties.Tasks.MaxItems != tools.MaxSubagentTasks {
		t.Errorf("subagents: maxItems %d, MaxSubagentTasks %d (%v)", sub.Properties.Tasks.MaxItems, tools.MaxSubagentTasks, err)
	}
}
