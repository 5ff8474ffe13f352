package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/tools"
)

// TodoPath is where the todo tool keeps the list, in the workspace.
const TodoPath = ".herm/todo.json"

// Todo statuses.
const (
	TodoPending    = "pending"
	TodoInProgress = "in_progress"
	TodoCompleted  = "completed"
)

const (
	maxTodoItems   = 100
	maxTodoContent = 1000
)

// TodoItem is one task of the todo list.
type TodoItem struct {
	Content string `json:"content" jsonschema:"What the task is, in one line."`
	Status  string `json:"status" enum:"pending,in_progress,completed" jsonschema:"At most one task may be in_progress."`
}

// TodoList is the stored form of the todo list.
type TodoList struct {
	Items []TodoItem `json:"items"`
}

type todoArgs struct {
	Items *[]TodoItem `json:"items,omitempty" maxItems:"100" jsonschema:"The whole task list, replacing the previous one. Omit it to see the current list."`
}

func newTodo(get getFunc) Tool {
	return newTool("todo",
		"Keep a task list for multi-step work: send the whole list each time (each item's content and status: pending, in_progress or completed; "+
			"at most one in_progress). The list is kept in the workspace and returned as a checklist.",
		false,
		func(ctx context.Context, c tools.Call, a todoArgs) (tools.Result, error) {
			ws, err := workspace(ctx, get, c)
			if err != nil {
				return tools.Result{}, err
			}
			if a.Items == nil {
				data, err := ws.ReadFile(TodoPath, 1<<20)
				if herm.IsCode(err, herm.ENotFound) {
					return tools.Result{Content: "the todo list is empty"}, nil
				}
				if err != nil {
					return fileErr(err)
				}
				var l TodoList
				if err := json.Unmarshal(data, &l); err != nil {
					return errResult("%s is not a valid todo list (%v); send the whole list to replace it", TodoPath, err), nil
				}
				return tools.Result{Content: renderTodo(l.Items)}, nil
			}
			items := *a.Items
			if msg := validateTodo(items); msg != "" {
				return errResult("%s", msg), nil
			}
			if items == nil {
				items = []TodoItem{}
			}
			data, err := json.MarshalIndent(TodoList{Items: items}, "", "  ")
			if err != nil {
				return tools.Result{}, err
			}
			if _, err := ws.WriteFile(TodoPath, bytes.NewReader(append(data, '\n'))); err != nil {
				return fileErr(err)
			}
			return tools.Result{Content: renderTodo(items)}, nil
		})
}

// validateTodo returns what is wrong with a list, or "".
func validateTodo(items []TodoItem) string {
	if len(items) > maxTodoItems {
		return fmt.Sprintf("the list has %d items; at most %d are allowed", len(items), maxTodoItems)
	}
	inProgress := 0
	for i, it := range items {
		if strings.TrimSpace(it.Content) == "" {
			return fmt.Sprintf("items[%d].content must not be empty", i)
		}
		if len(it.Content) > maxTodoContent {
			return fmt.Sprintf("items[%d].content is longer than %d bytes", i, maxTodoContent)
		}
		switch it.Status {
		case TodoPending, TodoCompleted:
		case TodoInProgress:
			inProgress++
		default:
			return fmt.Sprintf("items[%d].status %q must be pending, in_progress or completed", i, it.Status)
		}
	}
	if inProgress > 1 {
		return fmt.Sprintf("%d items are in_progress; at most one may be", inProgress)
	}
	return ""
}

// renderTodo shows a list as a checklist with a summary line.
func renderTodo(items []TodoItem) string {
	if len(items) == 0 {
		return "the todo list is empty"
	}
	var b strings.Builder
	counts := map[string]int{}
	for _, it := range items {
		counts[it.Status]++
		mark := "[ ]"
		switch it.Status {
		case TodoInProgress:
			mark = "[>]"
		case TodoCompleted:
			mark = "[x]"
		}
		fmt.Fprintf(&b, "%s %s\n", mark, strings.Join(strings.Fields(it.Content), " "))
	}
	fmt.Fprintf(&b, "(%d completed, %d in progress, %d pending)", counts[TodoCompleted], counts[TodoInProgress], counts[TodoPending])
	return b.String()
}
