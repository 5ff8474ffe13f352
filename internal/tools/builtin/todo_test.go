package builtin

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTodo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	if got := ok(t, e.call(t, "todo", map[string]any{})); got != "the todo list is empty" {
		t.Errorf("no list yet: %q", got)
	}

	items := []map[string]string{
		{"content": "read the code", "status": "completed"},
		{"content": "write  the\ntests", "status": "in_progress"},
		{"content": "ship it", "status": "pending"},
	}
	want := "[x] read the code\n[>] write the tests\n[ ] ship it\n(1 completed, 1 in progress, 1 pending)"
	if diff := cmp.Diff(want, ok(t, e.call(t, "todo", map[string]any{"items": items}))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	var stored TodoList
	if err := json.Unmarshal([]byte(e.readFile(t, TodoPath)), &stored); err != nil {
		t.Fatal(err)
	}
	wantStored := TodoList{Items: []TodoItem{
		{"read the code", TodoCompleted}, {"write  the\ntests", TodoInProgress}, {"ship it", TodoPending},
	}}
	if diff := cmp.Diff(wantStored, stored); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}

	// A new set of tools (a restarted server) reads the stored list.
	again := toolMap(New(e.get, Options{}))
	e2 := &env{sb: e.sb, dep: e.dep, tools: again}
	if diff := cmp.Diff(want, ok(t, e2.call(t, "todo", `{}`))); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}

	// Refused lists leave the stored one alone.
	failed(t, e.call(t, "todo", map[string]any{"items": []map[string]string{
		{"content": "a", "status": "in_progress"}, {"content": "b", "status": "in_progress"},
	}}), "2 items are in_progress; at most one may be")
	failed(t, e.call(t, "todo", map[string]any{"items": []map[string]string{{"content": "a", "status": "done"}}}),
		`items[0].status "done" must be pending, in_progress or completed`)
	failed(t, e.call(t, "todo", map[string]any{"items": []map[string]string{{"content": "a"}}}),
		`items[0].status "" must be pending, in_progress or completed`)
	failed(t, e.call(t, "todo", map[string]any{"items": []map[string]string{{"content": "a", "status": "pending"}, {"content": " ", "status": "pending"}}}),
		"items[1].content must not be empty")
	failed(t, e.call(t, "todo", map[string]any{"items": []map[string]string{{"content": strings.Repeat("x", 1001), "status": "pending"}}}),
		"items[0].content is longer than 1000 bytes")
	many := make([]map[string]string, 101)
	for i := range many {
		many[i] = map[string]string{"content": "x", "status": "pending"}
	}
	failed(t, e.call(t, "todo", map[string]any{"items": many}), "the list has 101 items; at most 100 are allowed")
	failed(t, e.call(t, "todo", `{"items": {"content": "a"}}`), `invalid arguments for todo: field "items" must be an array, not object`)
	if diff := cmp.Diff(want, ok(t, e.call(t, "todo", `{}`))); diff != "" {
		t.Errorf("after refused lists (-want +got):\n%s", diff)
	}

	// An empty list clears it.
	if got := ok(t, e.call(t, "todo", `{"items": []}`)); got != "the todo list is empty" {
		t.Errorf("cleared: %q", got)
	}
	if got := e.readFile(t, TodoPath); got != "{\n  \"items\": []\n}\n" {
		t.Errorf("stored after clearing: %q", got)
	}

	// A corrupt file is reported, and replaced by the next list.
	e.writeFile(t, TodoPath, "{not json")
	failed(t, e.call(t, "todo", `{}`), ".herm/todo.json is not a valid todo list")
	ok(t, e.call(t, "todo", map[string]any{"items": items[:1]}))

	// Quota errors come back as results.
	e.sb.Workspace().SetQuota(10)
	failed(t, e.call(t, "todo", map[string]any{"items": items}), "workspace disk quota exceeded")
}
