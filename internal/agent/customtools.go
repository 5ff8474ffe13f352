package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/tools"
)

// Custom tools are the deployment's client's: when the model calls them the
// run waits (waiting_on_human, stop_reason requires_action) for the client's
// outputs, recorded as pending requests of kind herm.SteeringCustomTool, so
// that a waiting run holds no goroutine, lease or sandbox, resumes on any
// node, and is cancelled, interrupted and timed out as a steering pause is.
//
// Order within a turn: the turn's other calls go first, in the model's
// order (approvals included, each pausing alone); then every custom call of
// the turn whose arguments fit its schema is listed in one required_action.

// customSpecs returns the model-facing specs of the deployment's custom
// tools (those whose name no offered tool has).
func (x *exec) customSpecs() []llm.ToolSpec {
	var out []llm.ToolSpec
	for _, t := range x.cfg.CustomTools {
		if _, taken := x.perms[t.Name]; taken {
			continue // validation keeps this from happening
		}
		x.custom[t.Name] = t
		out = append(out, llm.ToolSpec{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema})
	}
	return out
}

// isCustom reports a call of one of the run's custom tools.
func (x *exec) isCustom(c herm.StepToolCall) bool {
	_, ok := x.custom[c.Name]
	return ok
}

// callCustom handles the turn's custom calls: those answered (or cancelled,
// or timed out) get their results; a call whose arguments do not fit the
// tool's schema goes back to the model as a tool error; the others pause
// the run, together, for the client.
func (x *exec) callCustom(ctx context.Context, calls []herm.StepToolCall) error {
	var wait []herm.StepToolCall
	for _, c := range calls {
		sr, err := x.a.store.SteeringRequestFor(ctx, x.run.ID, c.ID)
		switch {
		case herm.IsCode(err, herm.ENotFound):
			_, _, args := x.toolFor(c)
			if err := x.custom[c.Name].CheckArguments(args); err != nil {
				if err := x.recordResult(ctx, c, herm.OriginCustom, tools.Result{Content: err.Error() + ". Call it again with arguments that fit its input schema.", IsError: true}); err != nil {
					return err
				}
				continue
			}
			wait = append(wait, c)
		case err != nil:
			return err
		case sr.Status == herm.SteeringPending:
			return x.waitAgain(ctx, c.ID) // resumed while still pending (should not happen)
		default:
			if err := x.recordResult(ctx, c, herm.OriginCustom, x.preview(ctx, c.ID, customResult(sr))); err != nil {
				return err
			}
		}
	}
	if len(wait) == 0 {
		return nil
	}
	return x.pauseCustom(ctx, wait)
}

// customResult is what the model gets for a resolved custom call.
func customResult(sr *herm.SteeringRequest) tools.Result {
	switch sr.Decision {
	case herm.DecisionAnswer:
		return tools.Result{Content: sr.Message}
	case herm.DecisionTimeout:
		return tools.Result{Content: "No output came in time: the client did not answer this tool call.", IsError: true}
	default:
		out := "The tool call was not answered"
		if m := strings.TrimSpace(sr.Message); m != "" {
			out += ": " + m
		}
		return tools.Result{Content: out, IsError: true}
	}
}

// pauseCustom records a pending request for each call and moves the run to
// waiting_on_human, with the calls' tool_call events (requires_action) and
// the run_status that lists them, in one transaction.
func (x *exec) pauseCustom(ctx context.Context, calls []herm.StepToolCall) error {
	now := x.a.now().UTC()
	var evs []*herm.Event
	var pending []*herm.SteeringRequest
	ids := make([]string, 0, len(calls))
	for _, c := range calls {
		ids = append(ids, c.ID)
		_, _, args := x.toolFor(c)
		sr := x.newRequest(c, herm.SteeringCustomTool, args, now)
		sr.Summary = fmt.Sprintf("The agent calls the custom tool %s", c.Name)
		pending = append(pending, sr)
		evs = append(evs, x.event(herm.EventToolCall, map[string]any{
			"tool_call_id": c.ID, "tool": c.Name, "origin": herm.OriginCustom, "arguments": args, "requires_action": true,
		}))
	}
	evs = append(evs, x.event(herm.EventRunStatus, map[string]any{
		"status": herm.RunWaitingOnHuman, "stop_reason": herm.StopRequiresAction, "error": nil,
		"required_action": herm.RequiredActionOf(pending), "tool_call_ids": ids,
	}))
	err := x.a.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		// The run first: a cancel committed since it was claimed wins.
		if err := q.WaitForHuman(ctx, x.run.ID, x.owner); err != nil {
			return nil, err
		}
		for _, sr := range pending {
			if err := q.CreateSteeringRequest(ctx, sr); err != nil {
				return nil, err
			}
		}
		return evs, nil
	})
	return x.paused(err)
}
