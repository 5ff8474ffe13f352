package runner

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// SubmitToolOutputs answers every pending custom tool call of a waiting run
// of the deployment at once; the run then resumes (on whichever node claims
// it) and the model gets the outputs as the calls' results. Errors:
// ENotFound (no such run of this deployment), EConflict (the run is not
// waiting for tool outputs, or they were answered meanwhile), EInvalid
// (outputs missing for pending calls, or for calls that are not pending, or
// given twice: the message names them).
func (r *Runner) SubmitToolOutputs(ctx context.Context, deploymentID, runID string, outputs []herm.ToolOutput) (*herm.Run, error) {
	return r.answerToolCalls(ctx, deploymentID, runID, outputs, true)
}

// AnswerToolCalls is SubmitToolOutputs that takes some of the pending
// calls' outputs: those are recorded, and the run resumes once none is
// pending (a session's user.custom_tool_result events may come one by
// one).
func (r *Runner) AnswerToolCalls(ctx context.Context, deploymentID, runID string, outputs []herm.ToolOutput) (*herm.Run, error) {
	return r.answerToolCalls(ctx, deploymentID, runID, outputs, false)
}

func (r *Runner) answerToolCalls(ctx context.Context, deploymentID, runID string, outputs []herm.ToolOutput, all bool) (*herm.Run, error) {
	var run *herm.Run
	err := r.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		var err error
		if run, err = q.GetRun(ctx, deploymentID, runID); err != nil {
			return nil, err
		}
		var pending []*herm.SteeringRequest
		if run.Status == herm.RunWaitingOnHuman {
			if pending, err = PendingToolCalls(ctx, q, run.ID); err != nil {
				return nil, err
			}
		}
		if len(pending) == 0 {
			return nil, herm.Errorf(herm.EConflict, "run %s is not waiting for tool outputs (it is %s)", run.ID, run.Status)
		}
		byCall := map[string]*herm.SteeringRequest{}
		for _, sr := range pending {
			byCall[sr.ToolCallID] = sr
		}
		seen := map[string]bool{}
		var unknown, dup []string
		for _, o := range outputs {
			switch {
			case seen[o.ToolCallID]:
				dup = append(dup, o.ToolCallID)
			case byCall[o.ToolCallID] == nil:
				unknown = append(unknown, o.ToolCallID)
			}
			seen[o.ToolCallID] = true
		}
		var missing []string
		for _, sr := range pending {
			if all && !seen[sr.ToolCallID] {
				missing = append(missing, sr.ToolCallID)
			}
		}
		var problems []string
		if len(missing) > 0 {
			problems = append(problems, "missing outputs for pending tool calls "+quoted(missing))
		}
		if len(unknown) > 0 {
			problems = append(problems, "no pending tool call of the run has the ids "+quoted(unknown))
		}
		if len(dup) > 0 {
			problems = append(problems, "outputs given twice for "+quoted(slices.Compact(slices.Sorted(slices.Values(dup)))))
		}
		if len(problems) > 0 {
			return nil, herm.Errorf(herm.EInvalid, "tool_outputs: %s (all of the run's pending calls are answered in one request)", strings.Join(problems, "; "))
		}
		now := r.now().UTC()
		for _, o := range outputs {
			if err := q.ResolveSteeringRequest(ctx, byCall[o.ToolCallID].ID, herm.DecisionAnswer, o.Output, now); err != nil {
				return nil, err
			}
		}
		if _, err := q.ResumeRun(ctx, run.ID); err != nil && (all || !herm.IsCode(err, herm.EConflict)) {
			return nil, err // (not all answered: it goes on waiting)
		}
		run, err = q.GetRun(ctx, deploymentID, runID)
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	r.wakeAll(ctx, deploymentID)
	return run, nil
}

// PendingToolCalls returns a run's custom tool calls waiting for the
// client's output, oldest first (in the order the model made them).
func PendingToolCalls(ctx context.Context, q store.Querier, runID string) ([]*herm.SteeringRequest, error) {
	list, err := q.ListSteeringRequests(ctx, herm.SteeringFilter{RunID: runID, Status: herm.SteeringPending, Kind: herm.SteeringCustomTool, Limit: herm.MaxCustomTools * 4})
	if err != nil {
		return nil, err
	}
	slices.Reverse(list) // the list is newest first
	return list, nil
}

func quoted(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}
