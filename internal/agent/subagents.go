package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/tools"
)

// Subagents is the model-facing name of the tool that hands tasks to child
// agents.
const Subagents = tools.Subagents

// Subagent limits.
const (
	maxSubagentTasks    = tools.MaxSubagentTasks
	subagentConcurrency = tools.SubagentConcurrency
	subagentSteps       = 25
)

const subagentSystem = "\n\nYou are a subagent: you were given one task by the agent you work for. Work on it alone with your tools, " +
	"then answer with a concise summary of what you did and found (files changed, results, problems). The summary is all the agent will see."

// subagents runs each task as a child agent loop in the same sandbox. The
// children's events (tokens, tool calls and results) go to the event log
// with the parent run's ID, tagged with "subagent" (the task's number) and
// "parent_tool_call_id"; their model turns are numbered per child (turn and
// attempt as for the run's own, see turns.go); their usage adds to the
// parent run's. Children are not durable on their own: if the server stops
// meanwhile, the parent's call is reported interrupted, like any tool call
// (a child's turn cut short by a stop or a cancel is abandoned; one cut by
// a crash is ended only by that interrupted result).
func (x *exec) subagents(ctx context.Context, c herm.StepToolCall, args json.RawMessage) tools.Result {
	var in tools.SubagentsArgs // the arguments its schema describes
	if err := json.Unmarshal(args, &in); err != nil || len(in.Tasks) == 0 {
		return tools.Result{Content: "tasks must be a non-empty array of {instructions}", IsError: true}
	}
	if len(in.Tasks) > maxSubagentTasks {
		return tools.Result{Content: fmt.Sprintf("at most %d tasks at once", maxSubagentTasks), IsError: true}
	}
	provider, model, err := x.a.models.Resolve(x.cfg.Model)
	if err != nil {
		return tools.Result{Content: "no model for subagents: " + err.Error(), IsError: true}
	}
	var specs []llm.ToolSpec
	for _, s := range x.specs {
		if _, custom := x.custom[s.Name]; s.Name != Subagents && s.Name != AskHuman && !custom {
			specs = append(specs, s)
		}
	}
	out := make([]string, len(in.Tasks))
	usage := make([][]llm.Usage, len(in.Tasks))
	sem := make(chan struct{}, subagentConcurrency)
	var wg sync.WaitGroup
	for i, task := range in.Tasks {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			out[i], usage[i] = x.child(ctx, provider, model, specs, c.ID, i+1, strings.TrimSpace(task.Instructions))
		})
	}
	wg.Wait()
	for _, us := range usage {
		for _, u := range us {
			ev, add := x.usage(u, "subagent")
			x.a.log.Emit(ev)
			x.usageMu.Lock()
			addUsage(&x.unrecorded, add) // recorded with the call's result
			x.usageMu.Unlock()
		}
	}
	var b strings.Builder
	for i, s := range out {
		if i > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, "Task %d: %s", i+1, s)
	}
	return tools.Result{Content: b.String()}
}

// child runs one subagent and returns its summary and its model calls'
// usage.
func (x *exec) child(ctx context.Context, provider llm.Provider, model string, specs []llm.ToolSpec, parentCall string, n int, instructions string) (string, []llm.Usage) {
	if instructions == "" {
		return "(no instructions: nothing done)", nil
	}
	tag := func(fields map[string]any) map[string]any {
		fields["subagent"], fields["parent_tool_call_id"] = n, parentCall
		return fields
	}
	var usage []llm.Usage
	msgs := []llm.Message{{Role: llm.RoleUser, Content: instructions}}
	for step := 0; step < subagentSteps; step++ {
		req := llm.Request{Model: model, System: x.system + subagentSystem, Tools: specs, MaxTokens: x.a.opts.MaxTokens, Messages: limitImages(msgs)}
		LLMSettings(x.cfg.ModelSettings).Apply(&req)
		// A child's turns are numbered on their own; a child never redoes
		// one (it is not resumed), so its attempt is 1 unless its deltas
		// are not its text.
		ts := x.newTurnStream(step+1, 1, tag)
		resp, err := provider.Stream(ctx, req, func(d llm.Delta) { ts.delta(llm.Delta{Text: d.Text}) })
		if err != nil {
			if ts.emitted {
				x.a.log.Emit(ts.abandoned())
			}
			if ctx.Err() != nil {
				return "(stopped)", usage
			}
			return "(failed: the model call failed: " + herm.ErrorMessage(err) + ")", usage
		}
		usage = append(usage, resp.Usage)
		text, ok := ts.finish(resp.Text)
		if !ok {
			x.a.log.Emit(ts.abandoned())
			ts = x.newTurnStream(step+1, 2, tag)
			text, _ = ts.finish(resp.Text)
		}
		resp.Text = text
		if resp.Text != "" {
			x.a.log.Emit(x.event(herm.EventMessage, tag(map[string]any{"role": herm.RoleAgent, "content": resp.Text, "turn": step + 1})))
		}
		if len(resp.ToolCalls) == 0 {
			if strings.TrimSpace(resp.Text) == "" {
				return "(finished without a summary)", usage
			}
			return resp.Text, usage
		}
		msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Content: resp.Text, ToolCalls: resp.ToolCalls, Thinking: resp.Thinking})
		for _, tc := range resp.ToolCalls {
			call := herm.StepToolCall{ID: fmt.Sprintf("%s_sub%d_%s", parentCall, n, tc.ID), Name: tc.Name, Arguments: tc.Arguments}
			_, origin, args := x.toolFor(call)
			x.a.log.Emit(x.event(herm.EventToolCall, tag(map[string]any{"tool_call_id": call.ID, "tool": x.bareName(tc.Name), "origin": origin, "arguments": args})))
			var res tools.Result
			if tc.Name == Subagents || tc.Name == AskHuman || x.interactive(call) {
				res = tools.Result{Content: "a subagent cannot use " + tc.Name + " (it needs a human or would nest); do without it", IsError: true}
			} else {
				res = x.runTool(ctx, call)
			}
			if ctx.Err() != nil {
				return "(stopped)", usage
			}
			content := x.redact(res.Content)
			if len(content) > x.a.opts.PreviewLimit {
				content = clip(content, x.a.opts.PreviewLimit) + "\n[output truncated]"
			}
			x.a.log.Emit(x.event(herm.EventToolResult, tag(map[string]any{"tool_call_id": call.ID, "tool": x.bareName(tc.Name), "origin": origin,
				"result": content, "is_error": res.IsError, "truncated": len(content) < len(res.Content), "output_path": nil})))
			msgs = append(msgs, llm.Message{Role: llm.RoleTool, ToolCallID: tc.ID, Content: content, IsError: res.IsError, Images: x.readImages(ctx, res.SavedImages)})
		}
	}
	return fmt.Sprintf("(stopped after %d steps without finishing)", subagentSteps), usage
}
