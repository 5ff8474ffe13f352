package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/tools"
)

type memoryArgs struct {
	Action   string `json:"action" enum:"add,replace,remove,list" jsonschema:"add a new fact, replace one (memory_id and content), remove one (memory_id), or list them all."`
	Content  string `json:"content,omitempty" jsonschema:"For add and replace: one durable fact about the customer (a preference, a correction, a convention), at most 2000 characters."`
	MemoryID string `json:"memory_id,omitempty" jsonschema:"For replace and remove: the memory's id (mem_…), as listed."`
}

// memoryTool is the agent's memory: offered only to deployments with
// features.memory on.
type memoryTool struct {
	*tool[memoryArgs]
}

// AvailableFor implements tools.Gated.
func (memoryTool) AvailableFor(d *herm.Deployment) bool { return d.Features.Memory }

func newMemory(get getFunc, store *memory.Store) Tool {
	return memoryTool{newTool("memory", "Remember durable facts about this customer across conversations (preferences, corrections, conventions), or correct or forget them. What you remember is shown to you at the start of every run; do not store secrets or passing details.", false,
		func(ctx context.Context, c tools.Call, a memoryArgs) (tools.Result, error) {
			ws, err := workspace(ctx, get, c)
			if err != nil {
				return tools.Result{}, err
			}
			announce := func(id, change string) {
				store.Announce(ctx, memory.Event{DeploymentID: c.Deployment.ID, ThreadID: c.ThreadID, RunID: c.RunID,
					MemoryID: id, Change: change, Source: memory.SourceAgent})
			}
			result := func(m memory.Memory, err error, verb string) (tools.Result, error) {
				if err != nil {
					if herm.ErrorCode(err) == herm.EInternal {
						return tools.Result{}, err
					}
					return errResult("%s", herm.ErrorMessage(err)), nil
				}
				return tools.Result{Content: fmt.Sprintf("%s %s: %s", verb, m.ID, m.Content)}, nil
			}
			switch a.Action {
			case "add":
				m, created, err := store.Create(ws, a.Content, memory.SourceAgent)
				if err == nil && !created {
					return tools.Result{Content: "already remembered as " + m.ID + ": " + m.Content}, nil
				}
				if err == nil {
					announce(m.ID, memory.Created)
				}
				return result(m, err, "remembered")
			case "replace":
				if a.MemoryID == "" {
					return errResult("replace needs memory_id (list the memories to see them)"), nil
				}
				m, err := store.Update(ws, a.MemoryID, a.Content)
				if err == nil {
					announce(m.ID, memory.Updated)
				}
				return result(m, err, "replaced")
			case "remove":
				if a.MemoryID == "" {
					return errResult("remove needs memory_id (list the memories to see them)"), nil
				}
				if err := store.Delete(ws, a.MemoryID); err != nil {
					return result(memory.Memory{}, err, "")
				}
				announce(a.MemoryID, memory.Deleted)
				return tools.Result{Content: "forgot " + a.MemoryID}, nil
			case "list":
				list, err := store.List(ws, "")
				if err != nil {
					return tools.Result{}, err
				}
				if len(list) == 0 {
					return tools.Result{Content: "no memories yet"}, nil
				}
				var b strings.Builder
				for _, m := range list {
					fmt.Fprintf(&b, "%s (%s, %s): %s\n", m.ID, m.Source, m.UpdatedAt.Format("2006-01-02"), m.Content)
				}
				return tools.Result{Content: b.String()}, nil
			default:
				return errResult("action must be add, replace, remove or list (got %q)", a.Action), nil
			}
		})}
}
