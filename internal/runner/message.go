package runner

import (
	"context"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Modes of a message sent to a thread that has an active run.
const (
	ModeSteer     = "steer"
	ModeQueue     = "queue"
	ModeInterrupt = "interrupt"
	ModeReject    = "reject"
)

// NewThread is the thread_id value that asks for a new thread.
const NewThread = "new"

// SendParams is a message sent to a deployment.
type SendParams struct {
	DeploymentID string
	// ThreadID is "" for the default thread, NewThread for a new one, or an
	// existing thread's ID.
	ThreadID    string
	Content     string
	Attachments []herm.Attachment
	// Mode is ModeSteer ("" too), ModeQueue, ModeInterrupt or ModeReject.
	Mode    string
	Trigger herm.Trigger // default {Type: message}
}

// SendResult says which run the message went to.
type SendResult struct {
	Run     *herm.Run
	Message *herm.Message
	Steered bool
}

// Send stores a user message and starts, queues or steers a run with it.
// Errors: ENotFound (deployment or thread), ENotReady (deployment not ready),
// EConflict (mode reject and the thread has an active run).
func (r *Runner) Send(ctx context.Context, p SendParams) (*SendResult, error) {
	if p.Trigger.Type == "" {
		p.Trigger.Type = herm.TriggerMessage
	}
	now := r.now().UTC()
	var res *SendResult
	var evs []*herm.Event
	var interrupted []string
	err := r.store.InTx(ctx, func(q store.Querier) error {
		res, evs, interrupted = nil, nil, nil
		dep, err := q.GetDeployment(ctx, p.DeploymentID)
		if err != nil {
			return err
		}
		if dep.Status != herm.DeploymentReady {
			return herm.Errorf(herm.ENotReady, "deployment %s is %s, not ready", dep.ID, dep.Status)
		}
		threadID := p.ThreadID
		switch threadID {
		case "":
			threadID = dep.ThreadID
		case NewThread:
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
		res = &SendResult{Message: msg}
		mode := p.Mode
		if len(active) == 0 {
			mode = ModeQueue // nothing to steer, interrupt or reject: just start
		}
		switch mode {
		case ModeReject:
			return herm.Errorf(herm.EConflict, "thread %s has an active run (%s); send with mode queue, steer or interrupt", threadID, active[0].ID)
		case ModeInterrupt:
			for _, a := range active {
				cevs, local, err := r.cancelInTx(ctx, q, a, now)
				if err != nil {
					return err
				}
				evs = append(evs, cevs...)
				if local {
					interrupted = append(interrupted, a.ID)
				}
			}
			fallthrough
		case ModeQueue:
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
				Status: herm.RunQueued, Trigger: p.Trigger, CreatedAt: now,
			}
			if err := q.CreateRun(ctx, run); err != nil {
				return err
			}
			res.Run = run
			evs = append(evs, herm.NewEvent(dep.ID, threadID, run.ID, herm.EventRunStatus, map[string]any{
				"status": herm.RunQueued, "stop_reason": nil, "error": nil,
			}))
		default: // steer
			res.Run, res.Steered = active[0], true
			if active[0].Status == herm.RunWaitingOnHuman {
				// The message answers the run's pending steering request.
				aevs, err := r.answerWaiting(ctx, q, active[0], p.Content)
				if err != nil {
					return err
				}
				evs = append(evs, aevs...)
				msg.Pending = false // given to the run as the answer, not as input
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
		return q.AppendEvents(ctx, evs)
	})
	if err != nil {
		return nil, err
	}
	r.log.Publish(evs...)
	for _, id := range interrupted {
		r.cancelLocal(id)
	}
	r.Wake()
	return res, nil
}

// cancelInTx cancels run inside a transaction and returns the events to
// append. A queued run is cancelled at once; a running one is marked
// cancel-requested and its runner ends it (local: interrupt it if it runs
// here); a waiting one's requests are denied and it resumes, to be ended.
func (r *Runner) cancelInTx(ctx context.Context, q store.Querier, run *herm.Run, now time.Time) (evs []*herm.Event, local bool, err error) {
	if run.Status == herm.RunWaitingOnHuman {
		run.CancelRequested = true
		if err := q.RequestCancel(ctx, run.ID); err != nil {
			return nil, false, err
		}
		evs, err := r.cancelWaiting(ctx, q, run)
		return evs, false, err
	}
	ev, err := cancelQueuedOrRunning(ctx, q, run, now)
	if ev != nil {
		evs = []*herm.Event{ev}
	}
	return evs, ev == nil && err == nil, err
}

func cancelQueuedOrRunning(ctx context.Context, q store.Querier, run *herm.Run, now time.Time) (*herm.Event, error) {
	if run.Status == herm.RunQueued {
		t := now.UTC()
		// Its input goes into the history, so that no message is lost.
		pending, err := q.PendingMessages(ctx, run.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range pending {
			if err := q.TakeMessage(ctx, m.ID, t); err != nil {
				return nil, err
			}
		}
		run.Status, run.StopReason, run.CompletedAt, run.CancelRequested = herm.RunCancelled, herm.StopCancelled, &t, true
		if err := q.UpdateRun(ctx, run, ""); err != nil {
			return nil, err
		}
		return herm.NewEvent(run.DeploymentID, run.ThreadID, run.ID, herm.EventRunStatus, map[string]any{
			"status": herm.RunCancelled, "stop_reason": herm.StopCancelled, "error": nil,
		}), nil
	}
	run.CancelRequested = true
	return nil, q.RequestCancel(ctx, run.ID)
}

// Cancel cancels a run: a queued run ends at once, a running one within a
// moment (its in-flight model call is aborted). Errors: ENotFound, EConflict
// when the run already ended.
func (r *Runner) Cancel(ctx context.Context, deploymentID, runID string) (*herm.Run, error) {
	var run *herm.Run
	var evs []*herm.Event
	var local bool
	err := r.store.InTx(ctx, func(q store.Querier) error {
		var err error
		if run, err = q.GetRun(ctx, deploymentID, runID); err != nil {
			return err
		}
		if !run.Status.Active() {
			return herm.Errorf(herm.EConflict, "run %s already ended (%s)", run.ID, run.Status)
		}
		evs, local, err = r.cancelInTx(ctx, q, run, r.now())
		if err != nil {
			return err
		}
		return q.AppendEvents(ctx, evs)
	})
	if err != nil {
		return nil, err
	}
	r.log.Publish(evs...)
	if local {
		r.cancelLocal(run.ID)
	}
	r.Wake()
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
				r.cancelLocal(run.ID)
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
