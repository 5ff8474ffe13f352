package runner

import (
	"context"
	"encoding/json"
	"reflect"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Send stores a user message and starts, queues or steers a run with it.
// Errors: ENotFound (deployment or thread), ENotReady (deployment not ready),
// EConflict (mode reject and the thread has an active run; mode steer
// with an output schema other than the active run's).
func (r *Runner) Send(ctx context.Context, p herm.SendParams) (*herm.SendResult, error) {
	return r.SendTx(ctx, p, nil)
}

// SendTx is Send with also, when set, called inside Send's transaction
// with its result: an error from it undoes the send. An automation's
// firing is recorded with its run this way, so that a firing is never
// lost nor made twice.
func (r *Runner) SendTx(ctx context.Context, p herm.SendParams, also func(q store.Querier, res *herm.SendResult) error) (*herm.SendResult, error) {
	if p.Trigger.Type == "" {
		p.Trigger.Type = herm.TriggerMessage
	}
	now := r.now().UTC()
	var res *herm.SendResult
	var evs []*herm.Event
	var interrupted []string
	var owner string // the deployment's owner when the send read it
	send := func(q store.Querier) error {
		dep, err := q.GetDeployment(ctx, p.DeploymentID)
		if err != nil {
			return err
		}
		owner = dep.Owner
		if dep.Status != herm.DeploymentReady {
			return herm.Errorf(herm.ENotReady, "deployment %s is %s, not ready", dep.ID, dep.Status)
		}
		threadID := p.ThreadID
		switch threadID {
		case "":
			threadID = dep.ThreadID
		case herm.NewThread:
			t := &herm.Thread{ID: r.ids.New(herm.PrefixThread), DeploymentID: dep.ID, CreatedAt: now, LastActivityAt: now}
			if err := q.CreateThread(ctx, t); err != nil {
				return err
			}
			threadID = t.ID
		default:
			if _, err := q.GetThread(ctx, dep.ID, threadID); err != nil {
				return err
			}
		}
		active, err := q.ActiveRuns(ctx, threadID)
		if err != nil {
			return err
		}
		msg := &herm.Message{
			ID: r.ids.New(herm.PrefixMessage), DeploymentID: dep.ID, ThreadID: threadID,
			Role: herm.RoleUser, Content: p.Content, Attachments: p.Attachments, Pending: true, CreatedAt: now,
		}
		res = &herm.SendResult{Message: msg}
		mode := p.Mode
		if len(active) == 0 {
			mode = herm.SendQueue // nothing to steer, interrupt or reject: just start
		}
		switch mode {
		case herm.SendReject:
			return herm.Errorf(herm.EConflict, "thread %s has an active run (%s); send with mode queue, steer or interrupt", threadID, active[0].ID)
		case herm.SendInterrupt:
			for _, a := range active {
				_, cevs, local, err := r.cancelInTx(ctx, q, a.ID, now)
				if err != nil {
					return err
				}
				evs = append(evs, cevs...)
				if local {
					interrupted = append(interrupted, a.ID)
				}
			}
			fallthrough
		case herm.SendQueue:
			if dep.BudgetUSD != nil {
				spent, err := q.DeploymentSpend(ctx, dep.ID)
				if err != nil {
					return err
				}
				if spent >= *dep.BudgetUSD {
					return herm.Errorf(herm.EInsufficientCredit, "the deployment's budget of $%.2f is spent ($%.4f); raise budget_usd to start new runs", *dep.BudgetUSD, spent)
				}
			}
			run := &herm.Run{
				ID: r.ids.New(herm.PrefixRun), DeploymentID: dep.ID, ThreadID: threadID,
				Status: herm.RunQueued, Trigger: p.Trigger, OutputSchema: p.OutputSchema, CreatedAt: now,
				ConfigVersion: p.ConfigVersion, Model: p.Model,
			}
			if err := q.CreateRun(ctx, run); err != nil {
				return err
			}
			res.Run = run
			evs = append(evs, herm.NewEvent(dep.ID, threadID, run.ID, herm.EventRunStatus, map[string]any{
				"status": herm.RunQueued, "stop_reason": nil, "error": nil,
			}))
		default: // steer
			if len(p.OutputSchema) > 0 && !sameJSON(p.OutputSchema, active[0].OutputSchema) {
				return herm.Errorf(herm.EConflict, "thread %s has an active run (%s) with another output_schema: a message with an output_schema is folded only into a run with the same one; send with mode queue or interrupt", threadID, active[0].ID)
			}
			res.Run, res.Steered = active[0], true
			if active[0].Status == herm.RunWaitingOnHuman {
				// The message answers the run's pending steering request.
				aevs, err := r.answerWaiting(ctx, q, active[0], p.Content)
				if err != nil {
					return err
				}
				evs = append(evs, aevs...)
				msg.Pending = false // given to the run as the answer, not as input
			} else if res.Run, err = q.SteerRun(ctx, active[0].ID); err != nil {
				return err // (ActiveRuns holds the runs: not expected; the send fails whole)
			}
		}
		msg.RunID = res.Run.ID
		if err := q.CreateMessage(ctx, msg); err != nil {
			return err
		}
		if err := q.TouchThread(ctx, threadID, now); err != nil {
			return err
		}
		evs = append(evs, herm.NewEvent(dep.ID, threadID, res.Run.ID, herm.EventMessage, map[string]string{
			"message_id": msg.ID, "role": herm.RoleUser, "content": msg.Content,
		}))
		return nil
	}
	err := r.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		res, evs, interrupted = nil, nil, nil
		if err := send(q); err != nil {
			return nil, err
		}
		if also != nil {
			if err := also(q, res); err != nil {
				return nil, err
			}
		}
		return evs, nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range interrupted {
		r.interrupt(ctx, id)
	}
	if owner != r.opts.Owner {
		r.adoptDue.Store(true) // it may have no live owner: look at once
	}
	r.wakeAll(ctx, p.DeploymentID)
	return res, nil
}

// cancelInTx cancels run inside a transaction (store.CancelRun) and returns
// the run as it is now and the events to append. A queued run is cancelled
// at once (its input released into the history); a running one is marked
// cancel-requested and its runner ends it (local: interrupt it if it runs
// here); a waiting one's requests are denied and it resumes, to be ended.
func (r *Runner) cancelInTx(ctx context.Context, q store.Querier, runID string, now time.Time) (run *herm.Run, evs []*herm.Event, local bool, err error) {
	t := now.UTC()
	if run, err = q.CancelRun(ctx, runID, t); err != nil {
		return nil, nil, false, err
	}
	switch run.Status {
	case herm.RunWaitingOnHuman:
		evs, err = r.cancelWaiting(ctx, q, run)
		return run, evs, false, err
	case herm.RunCancelled:
		// Its input goes into the history, so that no message is lost.
		pending, err := q.PendingMessages(ctx, run.ID)
		if err != nil {
			return nil, nil, false, err
		}
		for _, m := range pending {
			if err := q.TakeMessage(ctx, m.ID, t); err != nil {
				return nil, nil, false, err
			}
		}
		return run, []*herm.Event{herm.NewEvent(run.DeploymentID, run.ThreadID, run.ID, herm.EventRunStatus, map[string]any{
			"status": herm.RunCancelled, "stop_reason": herm.StopCancelled, "error": nil,
		})}, false, nil
	}
	return run, nil, true, nil
}

// Cancel cancels a run: a queued run ends at once, a running one within a
// moment (its in-flight model call is aborted). Errors: ENotFound, EConflict
// when the run already ended.
func (r *Runner) Cancel(ctx context.Context, deploymentID, runID string) (*herm.Run, error) {
	var run *herm.Run
	var local bool
	err := r.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		if _, err := q.GetRun(ctx, deploymentID, runID); err != nil {
			return nil, err // not this deployment's
		}
		var evs []*herm.Event
		var err error
		run, evs, local, err = r.cancelInTx(ctx, q, runID, r.now())
		return evs, err
	})
	if err != nil {
		return nil, err
	}
	if local {
		r.interrupt(ctx, run.ID)
	}
	r.wakeAll(ctx, deploymentID)
	return run, nil
}

// CancelAll cancels every active run of a deployment's thread ("" = all
// threads) and waits, at most until ctx ends, until none is active.
func (r *Runner) CancelAll(ctx context.Context, deploymentID, threadID string) error {
	for {
		runs, err := r.activeRuns(ctx, deploymentID, threadID)
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			return nil
		}
		for _, run := range runs {
			if !run.CancelRequested || run.Status == herm.RunWaitingOnHuman {
				if _, err := r.Cancel(ctx, deploymentID, run.ID); err != nil && !herm.IsCode(err, herm.EConflict) {
					return err
				}
			} else {
				r.interrupt(ctx, run.ID)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *Runner) activeRuns(ctx context.Context, deploymentID, threadID string) ([]*herm.Run, error) {
	var out []*herm.Run
	for _, st := range []herm.RunStatus{herm.RunQueued, herm.RunRunning, herm.RunWaitingOnHuman} {
		runs, err := r.store.ListRuns(ctx, herm.RunFilter{DeploymentID: deploymentID, ThreadID: threadID, Status: st, Page: herm.Page{Limit: 100}})
		if err != nil {
			return nil, err
		}
		out = append(out, runs...)
	}
	return out, nil
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
