// Package automation runs a deployment's scheduled work: each automation
// sends its instructions to a thread at every firing of its schedule (cron
// or plain English, in its time zone), as an ordinary run triggered by the
// automation, with a policy for missed firings, for a firing while the
// last run is still going, and retries of a run that ended in error.
package automation

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/cluster"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Limits and defaults.
const (
	MaxName         = 200
	MaxInstructions = 100_000
	MaxPerDeploy    = 50
	DefaultRetries  = 2
	MaxRetries      = 10
	// grace is how late a firing may be and still count as on time (the
	// scheduler looks every few seconds); later is missed.
	grace = 2 * time.Minute
)

// Sender starts runs (the runner): also is called inside the send's
// transaction with its result, and an error from it undoes the send.
type Sender interface {
	SendTx(ctx context.Context, p herm.SendParams, also func(q store.Querier, res *herm.SendResult) error) (*herm.SendResult, error)
}

// writeAttempts is how many times a change of an automation is applied
// again to a newer version when another writer (the scheduler on another
// node, a concurrent request) changed it meanwhile.
const writeAttempts = 3

// Options configure a Service.
type Options struct {
	// Poll is how often the scheduler looks (default 5 s).
	Poll time.Duration
	// RetryDelays are the waits before each retry of a run that ended in
	// error (default 1 min, 5 min, 15 min, then 15 min).
	RetryDelays []time.Duration
	// Leader decides whether this node's scheduler fires automations
	// (default: always). Any node's API manages them.
	Leader cluster.Leader
	Logger *slog.Logger
}

// Service manages automations and fires them.
type Service struct {
	store  store.Store
	runs   Sender
	ids    *herm.IDGen
	now    func() time.Time
	opts   Options
	mu     sync.Mutex // one writer of automations at a time (API and scheduler)
	wakeCh chan struct{}
}

// New returns a Service; Run fires automations.
func New(st store.Store, runs Sender, ids *herm.IDGen, now func() time.Time, opts Options) *Service {
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	if opts.RetryDelays == nil {
		opts.RetryDelays = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Leader == nil {
		opts.Leader = cluster.Always{}
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, runs: runs, ids: ids, now: now, opts: opts, wakeCh: make(chan struct{}, 1)}
}

func (s *Service) nowUTC() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// apply validates in and sets it on a (create: every required field).
func (s *Service) apply(ctx context.Context, a *herm.Automation, in herm.AutomationInput, create bool) error {
	bad := func(format string, args ...any) error { return herm.Errorf(herm.EInvalid, format, args...) }
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if n == "" || utf8.RuneCountInString(n) > MaxName || !utf8.ValidString(n) || strings.ContainsRune(n, 0) {
			return bad("name must be 1 to %d characters of UTF-8 text without NUL", MaxName)
		}
		a.Name = n
	} else if create {
		return bad("name is required")
	}
	if in.Instructions != nil {
		t := strings.TrimSpace(*in.Instructions)
		if t == "" || utf8.RuneCountInString(t) > MaxInstructions || !utf8.ValidString(t) || strings.ContainsRune(t, 0) {
			return bad("instructions must be 1 to %d characters of UTF-8 text without NUL", MaxInstructions)
		}
		a.Instructions = t
	} else if create {
		return bad("instructions are required")
	}
	if in.Timezone != nil {
		if _, err := time.LoadLocation(*in.Timezone); err != nil || *in.Timezone == "" {
			return bad("timezone %q is not an IANA time zone such as Europe/Berlin", *in.Timezone)
		}
		a.Timezone = *in.Timezone
	} else if create {
		a.Timezone = "UTC"
	}
	if in.Schedule != nil {
		sch, err := ParseSchedule(*in.Schedule)
		if err != nil {
			return err
		}
		if sch.Next(s.now(), time.UTC).IsZero() {
			return bad("schedule %q never fires", *in.Schedule)
		}
		a.Schedule, a.Cron = strings.TrimSpace(*in.Schedule), sch.Cron
	} else if create {
		return bad("schedule is required")
	}
	if in.MissedRunPolicy != nil {
		if *in.MissedRunPolicy != herm.MissedSkip && *in.MissedRunPolicy != herm.MissedRunOnce {
			return bad("missed_run_policy must be skip or run_once")
		}
		a.MissedRunPolicy = *in.MissedRunPolicy
	} else if create {
		a.MissedRunPolicy = herm.MissedRunOnce
	}
	if in.Overlap != nil {
		if *in.Overlap != herm.OverlapSkip && *in.Overlap != herm.OverlapQueue {
			return bad("overlap must be skip or queue")
		}
		a.Overlap = *in.Overlap
	} else if create {
		a.Overlap = herm.OverlapSkip
	}
	if in.MaxRetries != nil {
		if *in.MaxRetries < 0 || *in.MaxRetries > MaxRetries {
			return bad("max_retries must be 0 to %d", MaxRetries)
		}
		a.MaxRetries = *in.MaxRetries
	} else if create {
		a.MaxRetries = DefaultRetries
	}
	if in.Enabled != nil {
		a.Enabled = *in.Enabled
	} else if create {
		a.Enabled = true
	}
	if in.OutputSchema != nil {
		if string(in.OutputSchema) == "null" {
			a.OutputSchema = nil
		} else if err := herm.ValidateOutputSchema("output_schema", in.OutputSchema); err != nil {
			return err
		} else {
			a.OutputSchema = in.OutputSchema
		}
	}
	if in.ThreadID != nil && *in.ThreadID != "" {
		if _, err := s.store.GetThread(ctx, a.DeploymentID, *in.ThreadID); err != nil {
			if herm.IsCode(err, herm.ENotFound) {
				return bad("thread_id: the deployment has no thread %s", *in.ThreadID)
			}
			return err
		}
		a.ThreadID = *in.ThreadID
	}
	return nil
}

// schedule sets a's next firing from now (none when disabled).
func (s *Service) schedule(a *herm.Automation, now time.Time) {
	a.NextRunAt = nil
	if !a.Enabled {
		return
	}
	sch, err := ParseSchedule(a.Cron)
	if err != nil {
		return
	}
	loc, err := time.LoadLocation(a.Timezone)
	if err != nil {
		loc = time.UTC
	}
	if next := sch.Next(now, loc); !next.IsZero() {
		a.NextRunAt = &next
	}
}

// Create adds an automation to a deployment; without a thread_id it gets a
// thread of its own.
//
// MaxPerDeploy is checked by counting before the insert, not by the insert:
// s.mu keeps to it on one node, but creations racing on several nodes of a
// cluster may each pass the count, and a deployment may so end with a few
// more than MaxPerDeploy automations. That is accepted: the limit stops
// runaway clients, not a count that must hold exactly.
func (s *Service) Create(ctx context.Context, deploymentID string, in herm.AutomationInput) (*herm.Automation, error) {
	if _, err := s.store.GetDeployment(ctx, deploymentID); err != nil {
		return nil, err
	}
	now := s.nowUTC()
	a := &herm.Automation{ID: s.ids.New(herm.PrefixAutomation), DeploymentID: deploymentID, CreatedAt: now, UpdatedAt: now}
	if err := s.apply(ctx, a, in, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	existing, err := s.store.ListAutomations(ctx, deploymentID, herm.Page{Limit: MaxPerDeploy + 1})
	if err != nil {
		return nil, err
	}
	if len(existing) >= MaxPerDeploy {
		return nil, herm.Errorf(herm.EInvalid, "the deployment has %d automations, the most it can have", MaxPerDeploy)
	}
	s.schedule(a, now)
	err = s.store.InTx(ctx, func(q store.Querier) error {
		if a.ThreadID == "" {
			t := &herm.Thread{ID: s.ids.New(herm.PrefixThread), DeploymentID: deploymentID, Title: "Automation: " + a.Name, CreatedAt: now, LastActivityAt: now}
			if err := q.CreateThread(ctx, t); err != nil {
				return err
			}
			a.ThreadID = t.ID
		}
		return q.CreateAutomation(ctx, a)
	})
	if err != nil {
		return nil, err
	}
	s.wake()
	return a, nil
}

// Update changes an automation; a new schedule, time zone or enabling
// takes effect from now.
func (s *Service) Update(ctx context.Context, deploymentID, id string, in herm.AutomationInput) (*herm.Automation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		a, err := s.store.GetAutomation(ctx, deploymentID, id)
		if err != nil {
			return nil, err
		}
		if err := s.apply(ctx, a, in, false); err != nil {
			return nil, err
		}
		now := s.nowUTC()
		if in.Schedule != nil || in.Timezone != nil || in.Enabled != nil {
			s.schedule(a, now)
		}
		a.UpdatedAt = now
		err = s.store.UpdateAutomation(ctx, a)
		if herm.IsCode(err, herm.EConflict) && attempt < writeAttempts {
			continue // fired meanwhile: apply the change to what is stored now
		}
		if err != nil {
			return nil, err
		}
		s.wake()
		return a, nil
	}
}

// Delete removes an automation (its thread and runs stay).
func (s *Service) Delete(ctx context.Context, deploymentID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.DeleteAutomation(ctx, deploymentID, id)
}

// Trigger fires an automation now, whatever its schedule (queued behind a
// run of its thread that is still going).
func (s *Service) Trigger(ctx context.Context, deploymentID, id string) (*herm.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 1; ; attempt++ {
		a, err := s.store.GetAutomation(ctx, deploymentID, id)
		if err != nil {
			return nil, err
		}
		a.Retries, a.RetryAt = 0, nil
		run, err := s.fire(ctx, a)
		if herm.IsCode(err, herm.EConflict) && errors.Is(err, errChanged) && attempt < writeAttempts {
			continue
		}
		return run, err
	}
}

// errChanged marks a firing undone because the automation changed after
// it was read.
var errChanged = errors.New("the automation changed meanwhile")

// fire sends a's instructions to its thread as a new run and records the
// firing in a (its last run) in the same transaction, guarded by the
// version of a that was read: if anyone changed the automation meanwhile
// (another scheduler fired it), nothing happens and the error is an
// EConflict wrapping errChanged. A crash at any point leaves either both
// the run and its record or neither: a firing is never lost nor doubled.
func (s *Service) fire(ctx context.Context, a *herm.Automation) (*herm.Run, error) {
	now := s.nowUTC()
	next := *a
	res, err := s.runs.SendTx(ctx, herm.SendParams{
		DeploymentID: a.DeploymentID, ThreadID: a.ThreadID, Content: a.Instructions, Mode: herm.SendQueue, OutputSchema: a.OutputSchema,
		Trigger: herm.Trigger{Type: herm.TriggerAutomation, AutomationID: a.ID},
	}, func(q store.Querier, res *herm.SendResult) error {
		next.LastRunID, next.LastRunAt, next.LastRunStatus = res.Run.ID, &now, string(res.Run.Status)
		err := q.UpdateAutomation(ctx, &next)
		if herm.IsCode(err, herm.EConflict) {
			return herm.Errorf(herm.EConflict, "automation %s changed meanwhile; its firing was not made", a.ID).WithErr(errChanged)
		}
		return err
	})
	if err != nil {
		if herm.IsCode(err, herm.ENotFound) {
			// Its thread was deleted: the firing is an error the API shows.
			a.LastRunID, a.LastRunAt, a.LastRunStatus = "", &now, string(herm.RunError)
		}
		return nil, err
	}
	*a = next
	return res.Run, nil
}

func (s *Service) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

// Run fires due automations until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		if s.opts.Leader.IsLeader() {
			s.checkAll(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wakeCh:
		}
	}
}

func (s *Service) checkAll(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowUTC()
	list, err := s.store.AutomationsToCheck(ctx, now, 200)
	if err != nil {
		if ctx.Err() == nil {
			s.opts.Logger.Warn("automations: check failed", "err", err)
		}
		return
	}
	for _, a := range list {
		if ctx.Err() != nil {
			return
		}
		s.check(ctx, a, now)
	}
}

// check follows a's last run and fires it when due.
func (s *Service) check(ctx context.Context, a *herm.Automation, now time.Time) {
	log := s.opts.Logger.With("automation_id", a.ID, "deployment_id", a.DeploymentID)
	changed := false
	if a.Watching() {
		run, err := s.store.GetRun(ctx, a.DeploymentID, a.LastRunID)
		switch {
		case herm.IsCode(err, herm.ENotFound):
			a.LastRunStatus, changed = string(herm.RunCancelled), true
		case err != nil:
			log.Warn("automation: its last run", "err", err)
		case string(run.Status) != a.LastRunStatus:
			a.LastRunStatus, changed = string(run.Status), true
			if run.Status == herm.RunError && a.Retries < a.MaxRetries {
				delay := s.opts.RetryDelays[min(a.Retries, len(s.opts.RetryDelays)-1)]
				a.Retries++
				at := now.Add(delay)
				a.RetryAt = &at
			}
		}
	}
	dep, err := s.store.GetDeployment(ctx, a.DeploymentID)
	if err != nil {
		if !herm.IsCode(err, herm.ENotFound) {
			log.Warn("automation: its deployment", "err", err)
		}
		return // being deleted: its automations go with it
	}
	on := a.Enabled && dep.Features.Automations && dep.Status == herm.DeploymentReady
	busy := a.Watching()
	if !on && a.RetryAt != nil && !a.RetryAt.After(now) {
		a.RetryAt, changed = nil, true // not fired days later when it comes back on
	}
	fire, why := false, ""
	if on && a.RetryAt != nil && !a.RetryAt.After(now) && !busy {
		a.RetryAt, changed = nil, true
		fire, why, busy = true, "retry", true
	}
	if a.NextRunAt != nil && !a.NextRunAt.After(now) {
		missed := now.Sub(*a.NextRunAt) > grace
		switch {
		case !on:
		case missed && a.MissedRunPolicy == herm.MissedSkip:
			log.Info("automation: missed firing skipped", "was_due", a.NextRunAt)
		case busy && (a.Overlap == herm.OverlapSkip || a.LastRunStatus == string(herm.RunQueued) || fire):
			// (queue: at most one run waits behind the one going)
			log.Info("automation: firing skipped, its last run is still going", "run_id", a.LastRunID)
		default:
			a.Retries, a.RetryAt = 0, nil
			fire, why = true, "run"
		}
		s.schedule(a, now) // from now: several missed firings make one run
		changed = true
	}
	if fire {
		// The firing is recorded with every change above, in its run's
		// transaction, guarded by the version read: another scheduler that
		// fired it meanwhile wins, and this one does nothing.
		_, err := s.fire(ctx, a)
		switch {
		case err == nil:
			return
		case errors.Is(err, errChanged):
			log.Debug("automation: fired or changed elsewhere meanwhile", "err", err)
			return
		default:
			log.Warn("automation: "+why+" not started", "err", err)
		}
	}
	if changed {
		err := s.store.UpdateAutomation(ctx, a)
		if herm.IsCode(err, herm.EConflict) {
			log.Debug("automation: changed elsewhere meanwhile; looked at again next time", "err", err)
		} else if err != nil && !herm.IsCode(err, herm.ENotFound) {
			log.Warn("automation: record", "err", err)
		}
	}
}

// List returns a deployment's automations, newest first.
func (s *Service) List(ctx context.Context, deploymentID string) ([]*herm.Automation, error) {
	return s.store.ListAutomations(ctx, deploymentID, herm.Page{Limit: MaxPerDeploy})
}

// RecentRuns lists an automation's latest runs.
func (s *Service) RecentRuns(ctx context.Context, a *herm.Automation, n int) ([]*herm.Run, error) {
	return s.store.ListRuns(ctx, herm.RunFilter{DeploymentID: a.DeploymentID, AutomationID: a.ID, Page: herm.Page{Limit: n}})
}
