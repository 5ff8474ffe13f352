package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/tools"
)

// AskHuman is the model-facing name of the tool with which the agent asks
// the human a question (offered when features.steering is on).
const AskHuman = tools.AskHuman

// errWaiting ends Execute without ending the run: it waits for a human.
var errWaiting = errors.New("waiting on a human")

// needsHuman says whether a tool call pauses for a human first: a question
// (ask_human), an approval (an always_ask tool), or "" (run it).
func (x *exec) needsHuman(c herm.StepToolCall, known bool) string {
	if !x.cfg.Features.Steering {
		return ""
	}
	if c.Name == AskHuman {
		return herm.SteeringQuestion
	}
	if !known && c.Name != Subagents {
		return ""
	}
	// The catalog's permission: the deployment's setting, else the
	// origin's (an MCP server's own permission).
	if x.perms[c.Name] == herm.PermissionAlwaysAsk {
		return herm.SteeringApproval
	}
	return ""
}

// steer handles a tool call that needs a human: the first time it records a
// steering request and pauses the run (errWaiting); once the request is
// resolved it tells whether the tool may run (proceed) or gives the result
// to report instead.
func (x *exec) steer(ctx context.Context, c herm.StepToolCall, kind string, args json.RawMessage) (res tools.Result, proceed bool, err error) {
	sr, err := x.a.store.SteeringRequestFor(ctx, x.run.ID, c.ID)
	switch {
	case herm.IsCode(err, herm.ENotFound):
		return res, false, x.pause(ctx, c, kind, args)
	case err != nil:
		return res, false, err
	case sr.Status == herm.SteeringPending:
		// Resumed while still pending (should not happen): wait again.
		return res, false, x.waitAgain(ctx, c.ID)
	}
	msg := strings.TrimSpace(sr.Message)
	if kind == herm.SteeringQuestion {
		switch sr.Decision {
		case herm.DecisionAnswer, herm.DecisionApprove:
			return tools.Result{Content: "The human answered: " + msg}, false, nil
		case herm.DecisionTimeout:
			return tools.Result{Content: "No answer came in time: the question timed out. Go on without it, or ask again later.", IsError: true}, false, nil
		default:
			out := "The human declined to answer."
			if msg != "" {
				out += " They said: " + msg
			}
			return tools.Result{Content: out, IsError: true}, false, nil
		}
	}
	switch sr.Decision {
	case herm.DecisionApprove:
		return res, true, nil
	case herm.DecisionTimeout:
		return tools.Result{Content: "The tool call was not run: it needed a human's approval, and none came in time.", IsError: true}, false, nil
	case herm.DecisionAnswer:
		return tools.Result{Content: "The tool call was not run: instead of approving it, the human said: " + msg, IsError: true}, false, nil
	default:
		out := "The tool call was not run: the human denied it."
		if msg != "" {
			out += " Their reason: " + msg
		}
		return tools.Result{Content: out, IsError: true}, false, nil
	}
}

// pause records a steering request and moves the run to waiting_on_human,
// with their events, in one transaction.
func (x *exec) pause(ctx context.Context, c herm.StepToolCall, kind string, args json.RawMessage) error {
	now := x.a.now().UTC()
	sr := x.newRequest(c, kind, args, now)
	if kind == herm.SteeringQuestion {
		var q tools.AskHumanArgs // the arguments its schema describes
		_ = json.Unmarshal(args, &q)
		sr.Summary = strings.TrimSpace(q.Question)
		if sr.Summary == "" {
			sr.Summary = "The agent asks for your input."
		}
		if q.Options != nil {
			sr.Options = q.Options
		}
	} else {
		_, origin, _ := x.toolFor(c)
		tool := x.bareName(c.Name)
		if origin != tools.OriginBuiltin {
			tool += " (" + origin + ")"
		}
		sr.Summary = fmt.Sprintf("The agent wants to run %s with %s", tool, clip(string(args), 500))
	}
	err := x.a.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		// The run first: a cancel committed since it was claimed wins (a
		// waiting run would have no one to end it).
		if err := q.WaitForHuman(ctx, x.run.ID, x.owner); err != nil {
			return nil, err
		}
		if err := q.CreateSteeringRequest(ctx, sr); err != nil {
			return nil, err
		}
		// The call is announced before the pause (its start is recorded
		// only once it may run).
		_, origin, _ := x.toolFor(c)
		return []*herm.Event{
			x.event(herm.EventToolCall, map[string]any{"tool_call_id": c.ID, "tool": x.bareName(c.Name), "origin": origin, "arguments": args}),
			x.event(herm.EventSteeringRequest, SteeringEventData(sr)),
			x.event(herm.EventRunStatus, map[string]any{"status": herm.RunWaitingOnHuman, "stop_reason": herm.StopRequiresAction, "error": nil, "tool_call_ids": []string{c.ID}}),
		}, nil
	})
	return x.paused(err)
}

// SteeringEventData is the steering_request event's payload.
func SteeringEventData(sr *herm.SteeringRequest) map[string]any {
	args := sr.Arguments
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	tool, origin := herm.SplitToolName(sr.Tool)
	return map[string]any{
		"steering_request_id": sr.ID, "kind": sr.Kind, "summary": sr.Summary, "tool": tool, "origin": origin,
		"tool_call_id": sr.ToolCallID, "arguments": args, "options": sr.Options, "expires_at": sr.ExpiresAt,
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// paused ends Execute after the transaction that recorded the run's wait
// (err is its result): errWaiting, unless a cancel came first.
func (x *exec) paused(err error) error {
	if errors.Is(err, store.ErrCancelRequested) {
		return errCancelled
	}
	if err != nil {
		return err
	}
	x.run.Status = herm.RunWaitingOnHuman
	return errWaiting
}

// newRequest is a pending steering request of the run for tool call c.
func (x *exec) newRequest(c herm.StepToolCall, kind string, args json.RawMessage, now time.Time) *herm.SteeringRequest {
	return &herm.SteeringRequest{
		ID: x.a.ids.New(herm.PrefixSteering), DeploymentID: x.run.DeploymentID, ThreadID: x.run.ThreadID, RunID: x.run.ID,
		ToolCallID: c.ID, Kind: kind, Tool: c.Name, Arguments: args, Status: herm.SteeringPending,
		CreatedAt: now, ExpiresAt: now.Add(x.a.opts.SteeringTimeout), Options: []string{},
	}
}

// waitAgain moves the run back to waiting_on_human, for the pending tool
// calls ids.
func (x *exec) waitAgain(ctx context.Context, ids ...string) error {
	err := x.a.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		if err := q.WaitForHuman(ctx, x.run.ID, x.owner); err != nil {
			return nil, err
		}
		return []*herm.Event{x.event(herm.EventRunStatus, map[string]any{"status": herm.RunWaitingOnHuman, "stop_reason": herm.StopRequiresAction, "error": nil, "tool_call_ids": ids})}, nil
	})
	return x.paused(err)
}
