package runner

import (
	"context"
	"fmt"
	"strings"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Resolve answers a pending steering request: the decision is recorded, a
// steering_resolved event emitted, and the run resumes exactly where it
// paused (its tool runs once after an approval, never after a deny).
// Errors: ENotFound, EConflict (already resolved), EInvalid (a decision the
// request's kind does not take).
func (r *Runner) Resolve(ctx context.Context, deploymentID, id, decision, message string) (*herm.SteeringRequest, error) {
	var sr *herm.SteeringRequest
	err := r.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		var err error
		if sr, err = q.GetSteeringRequest(ctx, deploymentID, id); err != nil {
			return nil, err
		}
		if sr.Kind == herm.SteeringCustomTool {
			// A custom tool call is answered with its output (SubmitToolOutputs).
			return nil, herm.Errorf(herm.ENotFound, "steering request not found")
		}
		if sr.Status != herm.SteeringPending {
			return nil, herm.Errorf(herm.EConflict, "steering request %s is already resolved (%s)", id, sr.Decision)
		}
		if err := checkDecision(sr, decision); err != nil {
			return nil, err
		}
		return r.resolveInTx(ctx, q, sr, decision, message)
	})
	if err != nil {
		return nil, err
	}
	r.wakeAll(ctx, deploymentID)
	return sr, nil
}

func checkDecision(sr *herm.SteeringRequest, decision string) error {
	switch decision {
	case herm.DecisionApprove:
		if sr.Kind == herm.SteeringQuestion {
			return herm.Errorf(herm.EInvalid, "decision: a question is answered (answer) or declined (deny), not approved")
		}
	case herm.DecisionDeny, herm.DecisionAnswer:
	default:
		return herm.Errorf(herm.EInvalid, "decision must be approve, deny or answer")
	}
	return nil
}

// resolveInTx records a decision and resumes the run when no other request
// of it is pending; sr is updated. It returns the events for the caller to
// append (in the same transaction) and publish.
func (r *Runner) resolveInTx(ctx context.Context, q store.Querier, sr *herm.SteeringRequest, decision, message string) ([]*herm.Event, error) {
	now := r.now().UTC()
	if err := q.ResolveSteeringRequest(ctx, sr.ID, decision, message, now); err != nil {
		return nil, err
	}
	sr.Status, sr.Decision, sr.Message, sr.ResolvedAt = herm.SteeringResolved, decision, message, &now
	evs := []*herm.Event{herm.NewEvent(sr.DeploymentID, sr.ThreadID, sr.RunID, herm.EventSteeringResolved, map[string]any{
		"steering_request_id": sr.ID, "decision": decision, "message": message,
	})}
	// The run resumes once none of its requests is pending (ResumeRun
	// checks); a run no longer waiting just goes on.
	if _, err := q.ResumeRun(ctx, sr.RunID); err != nil && !herm.IsCode(err, herm.EConflict) {
		return nil, err
	}
	return evs, nil
}

// expireSteering resolves the steering requests nobody answered in time as
// timeout (for the run, a deny).
func (r *Runner) expireSteering(ctx context.Context) {
	expired, err := r.store.ExpiredSteeringRequests(ctx, r.now(), 100)
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Warn("expired steering requests", "err", err)
		}
		return
	}
	for _, sr := range expired {
		err := r.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
			return r.resolveInTx(ctx, q, sr, herm.DecisionTimeout, fmt.Sprintf("no answer by %s", sr.ExpiresAt.Format("2006-01-02 15:04:05 MST")))
		})
		if err != nil {
			if !herm.IsCode(err, herm.EConflict) && ctx.Err() == nil {
				r.logger.Warn("expire steering request", "steering_request_id", sr.ID, "err", err)
			}
			continue
		}
		r.wakeAll(ctx, sr.DeploymentID)
	}
}

// answerWaiting answers the oldest pending request of a waiting run with a
// user message (decision answer), inside Send's transaction.
func (r *Runner) answerWaiting(ctx context.Context, q store.Querier, run *herm.Run, content string) ([]*herm.Event, error) {
	pending, err := q.ListSteeringRequests(ctx, herm.SteeringFilter{RunID: run.ID, Status: herm.SteeringPending, NotKind: herm.SteeringCustomTool, Limit: 100})
	if err != nil {
		return nil, err
	}
	if len(pending) == 0 {
		if calls, err := PendingToolCalls(ctx, q, run.ID); err != nil || len(calls) == 0 {
			return nil, err
		}
		// A message is not a tool's output: the client answers those.
		return nil, herm.Errorf(herm.EConflict, "run %s is waiting for the outputs of its custom tool calls: post them to /v1/deployments/%s/runs/%s/tool_outputs, or send the message with mode queue or interrupt", run.ID, run.DeploymentID, run.ID)
	}
	oldest := pending[len(pending)-1] // the list is newest first
	return r.resolveInTx(ctx, q, oldest, herm.DecisionAnswer, strings.TrimSpace(content))
}

// cancelWaiting resolves a waiting run's pending requests as denied and
// resumes it, so that its runner ends it as cancelled.
func (r *Runner) cancelWaiting(ctx context.Context, q store.Querier, run *herm.Run) ([]*herm.Event, error) {
	pending, err := q.ListSteeringRequests(ctx, herm.SteeringFilter{RunID: run.ID, Status: herm.SteeringPending, Limit: 100})
	if err != nil {
		return nil, err
	}
	var evs []*herm.Event
	for _, sr := range pending {
		e, err := r.resolveInTx(ctx, q, sr, herm.DecisionDeny, "the run was cancelled")
		if err != nil {
			return nil, err
		}
		evs = append(evs, e...)
	}
	if len(pending) == 0 {
		if _, err := q.ResumeRun(ctx, run.ID); err != nil && !herm.IsCode(err, herm.EConflict) {
			return nil, err
		}
	}
	return evs, nil
}
