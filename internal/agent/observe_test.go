package agent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hermhq/herm/internal/herm"
)

func TestParseMemoryOps(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []MemoryOp
		err        bool
	}{
		{"empty", `{"operations": []}`, nil, false},
		{"all kinds", `{"operations": [
			{"op": "add", "memory_id": "", "content": " Prefers tea. "},
			{"op": "update", "memory_id": "mem_1", "content": "Lives in Paris."},
			{"op": "delete", "memory_id": "mem_2", "content": "ignored"}]}`,
			[]MemoryOp{{Op: "add", Content: "Prefers tea."}, {Op: "update", MemoryID: "mem_1", Content: "Lives in Paris."}, {Op: "delete", MemoryID: "mem_2"}}, false},
		{"fenced", "```json\n{\"operations\": [{\"op\": \"add\", \"content\": \"Likes Go.\"}]}\n```",
			[]MemoryOp{{Op: "add", Content: "Likes Go."}}, false},
		{"invalid ops skipped", `{"operations": [
			{"op": "remember", "content": "x"}, {"op": "add", "content": ""}, {"op": "update", "content": "no id"},
			{"op": "delete"}, 42, {"op": ["add"]}, {"op": "add", "content": "Kept."}]}`,
			[]MemoryOp{{Op: "add", Content: "Kept."}}, false},
		{"prose", `Sure! Here are the memories: none.`, nil, true},
		{"two values", `{"operations": []} {"operations": []}`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMemoryOps(tc.text)
			if (err != nil) != tc.err {
				t.Fatalf("err %v, want error %v", err, tc.err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("ops (-want +got):\n%s", d)
			}
		})
	}
	many := `{"operations": [` + strings.TrimSuffix(strings.Repeat(`{"op": "add", "content": "x"},`, 50), ",") + `]}`
	if ops, _ := ParseMemoryOps(many); len(ops) != maxObserveOps {
		t.Fatalf("%d ops kept, want %d", len(ops), maxObserveOps)
	}
}

func TestObservedIsBounded(t *testing.T) {
	tr := &transcript{}
	long := strings.Repeat("é", 10000)
	tr.entries = append(tr.entries,
		entry{RunStep: &herm.RunStep{Kind: herm.StepInput}, input: &herm.StepInputData{Content: "first " + long}},
		entry{RunStep: &herm.RunStep{Kind: herm.StepModel}, model: &herm.StepModelData{Text: "answer"}},
		entry{RunStep: &herm.RunStep{Kind: herm.StepInput}, input: &herm.StepInputData{Content: "I prefer tea."}})
	got := observed(tr, 1000)
	if len(got) > 1000+len("…") || !strings.HasSuffix(got, "Agent: answer\nUser: I prefer tea.") || !strings.HasPrefix(got, "…") {
		t.Fatalf("observed: %q", got)
	}
}
