package automation

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/sqlite"
)

// sender stands in for the runner: it records what was sent and stores a
// run with the status the test chooses (the scheduler's decisions are
// under test, not the runner's).
type sender struct {
	t      *testing.T
	st     *sqlite.Store
	ids    *herm.IDGen
	mu     sync.Mutex
	sent   []herm.SendParams
	status herm.RunStatus
	now    func() time.Time
	// crash, when set, is called inside the send's transaction after the
	// run is made; it panics, as the process dying there would end it.
	crash func()
}

func (s *sender) SendTx(ctx context.Context, p herm.SendParams, also func(store.Querier, *herm.SendResult) error) (*herm.SendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &herm.Run{ID: s.ids.New(herm.PrefixRun), DeploymentID: p.DeploymentID, ThreadID: p.ThreadID, Status: s.status, Trigger: p.Trigger, CreatedAt: s.now()}
	res := &herm.SendResult{Run: r}
	err := s.st.InTx(ctx, func(q store.Querier) error {
		if err := q.CreateRun(ctx, r); err != nil {
			return err
		}
		if s.crash != nil {
			s.crash()
		}
		if also != nil {
			return also(q, res)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.sent = append(s.sent, p)
	return res, nil
}

type env struct {
	t     *testing.T
	ctx   context.Context
	st    *sqlite.Store
	path  string
	svc   *Service
	snd   *sender
	dep   *herm.Deployment
	clock time.Time
}

func newEnv(t *testing.T) *env {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herm.db")
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ids := herm.NewIDGen(nil)
	e := &env{t: t, ctx: ctx, st: st, path: path, clock: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)} // a Monday
	e.snd = &sender{t: t, st: st, ids: ids, status: herm.RunRunning, now: func() time.Time { return e.clock }}
	e.svc = New(st, e.snd, ids, func() time.Time { return e.clock }, Options{RetryDelays: []time.Duration{time.Minute}, Logger: slog.New(slog.DiscardHandler)})
	e.dep = &herm.Deployment{ID: ids.New(herm.PrefixDeployment), CustomerID: "c", Name: "n", Runtime: "hermes", Model: "demo/demo",
		Status: herm.DeploymentReady, Features: herm.DefaultFeatures(), ConfigVersion: 1, CreatedAt: e.clock, UpdatedAt: e.clock}
	th := &herm.Thread{ID: ids.New(herm.PrefixThread), DeploymentID: e.dep.ID, Title: herm.DefaultThreadTitle, IsDefault: true, CreatedAt: e.clock, LastActivityAt: e.clock}
	e.dep.ThreadID = th.ID
	if err := st.CreateDeployment(ctx, e.dep, th); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) at(d time.Duration) { e.clock = e.clock.Add(d); e.svc.checkAll(e.ctx) }

func (e *env) sends() int {
	e.snd.mu.Lock()
	defer e.snd.mu.Unlock()
	return len(e.snd.sent)
}

func (e *env) endLastRun(status herm.RunStatus) {
	e.t.Helper()
	e.snd.mu.Lock()
	defer e.snd.mu.Unlock()
	runs, err := e.st.ListRuns(e.ctx, herm.RunFilter{DeploymentID: e.dep.ID, Page: herm.Page{Limit: 1}})
	if err != nil || len(runs) == 0 {
		e.t.Fatalf("runs %v %v", runs, err)
	}
	r := runs[0] // running, leased to nobody (the sender made it so)
	if status == herm.RunError {
		err = e.st.FailRun(e.ctx, r.ID, "", &herm.ErrorInfo{Code: "model_error", Message: "failed"}, e.clock)
	} else {
		err = e.st.CompleteRun(e.ctx, r.ID, "", herm.StopEndTurn, e.clock)
	}
	if err != nil {
		e.t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestScheduler(t *testing.T) {
	e := newEnv(t)
	a, err := e.svc.Create(e.ctx, e.dep.ID, herm.AutomationInput{Name: ptr("Weekly report"), Schedule: ptr("every 2 hours"), Instructions: ptr("Write the report.")})
	if err != nil {
		t.Fatal(err)
	}
	if a.Cron != "0 */2 * * *" || a.NextRunAt == nil || !a.NextRunAt.Equal(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)) || a.ThreadID == e.dep.ThreadID {
		t.Fatalf("created %+v", a)
	}
	e.at(time.Hour) // 9:00: not yet
	if e.sends() != 0 {
		t.Fatal("fired early")
	}
	e.at(time.Hour + 10*time.Second) // 10:00:10: due
	if e.sends() != 1 {
		t.Fatalf("%d sends at 10:00", e.sends())
	}
	p := e.snd.sent[0]
	if p.Content != "Write the report." || p.ThreadID != a.ThreadID || p.Trigger.Type != herm.TriggerAutomation || p.Trigger.AutomationID != a.ID || p.Mode != herm.SendQueue {
		t.Fatalf("sent %+v", p)
	}
	got, _ := e.st.GetAutomation(e.ctx, e.dep.ID, a.ID)
	if !got.NextRunAt.Equal(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)) || got.LastRunStatus != "running" {
		t.Fatalf("after firing %+v", got)
	}
	// 12:00 while the 10:00 run still runs: overlap skip.
	e.at(2 * time.Hour)
	if e.sends() != 1 {
		t.Fatal("fired over a running run")
	}
	// It ends in error: one retry a minute later.
	e.endLastRun(herm.RunError)
	e.at(10 * time.Second)
	if e.sends() != 1 {
		t.Fatal("retried at once")
	}
	e.at(time.Minute)
	if e.sends() != 2 {
		t.Fatalf("%d sends after the retry delay", e.sends())
	}

	// Missed firings while down: run_once fires once, skip does not.
	e.endLastRun(herm.RunCompleted)
	e.at(10 * time.Second)
	e.at(7 * time.Hour) // 12:01 + 7 h: three firings missed
	if e.sends() != 3 {
		t.Fatalf("%d sends after missed firings (run_once)", e.sends())
	}
	e.endLastRun(herm.RunCompleted)
	if _, err := e.svc.Update(e.ctx, e.dep.ID, a.ID, herm.AutomationInput{MissedRunPolicy: ptr(herm.MissedSkip)}); err != nil {
		t.Fatal(err)
	}
	e.at(10 * time.Second)
	e.at(5 * time.Hour)
	if e.sends() != 3 {
		t.Fatalf("%d sends after missed firings (skip)", e.sends())
	}
	// Paused: nothing; the feature off: nothing.
	if _, err := e.svc.Update(e.ctx, e.dep.ID, a.ID, herm.AutomationInput{Enabled: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	e.at(3 * time.Hour)
	if e.sends() != 3 {
		t.Fatal("a paused automation fired")
	}
	// A manual trigger fires whatever the schedule.
	if run, err := e.svc.Trigger(e.ctx, e.dep.ID, a.ID); err != nil || run == nil || e.sends() != 4 {
		t.Fatalf("trigger: %v %v", run, err)
	}
	if err := e.svc.Delete(e.ctx, e.dep.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Trigger(e.ctx, e.dep.ID, a.ID); !herm.IsCode(err, herm.ENotFound) {
		t.Fatalf("trigger of a deleted automation: %v", err)
	}
}

func TestAutomationValidation(t *testing.T) {
	e := newEnv(t)
	for _, in := range []herm.AutomationInput{
		{Schedule: ptr("every 2 hours"), Instructions: ptr("x")},
		{Name: ptr("n"), Instructions: ptr("x")},
		{Name: ptr("n"), Schedule: ptr("sometimes"), Instructions: ptr("x")},
		{Name: ptr("n"), Schedule: ptr("hourly")},
		{Name: ptr("n"), Schedule: ptr("hourly"), Instructions: ptr("x"), Timezone: ptr("Mars/Olympus")},
		{Name: ptr("n"), Schedule: ptr("hourly"), Instructions: ptr("x"), MaxRetries: ptr(11)},
		{Name: ptr("n"), Schedule: ptr("hourly"), Instructions: ptr("x"), Overlap: ptr("maybe")},
		{Name: ptr("n"), Schedule: ptr("hourly"), Instructions: ptr("x"), ThreadID: ptr("thr_01JNFRR1MSBEFN4B44HKWMD5YD")},
		{Name: ptr("n\x00"), Schedule: ptr("hourly"), Instructions: ptr("x")},
		{Name: ptr("n"), Schedule: ptr("hourly"), Instructions: ptr("do \x00 it")},
	} {
		if _, err := e.svc.Create(e.ctx, e.dep.ID, in); herm.ErrorCode(err) != herm.EInvalid {
			t.Errorf("%+v: %v", in, err)
		}
	}
	if _, err := e.svc.Create(e.ctx, "dep_01JNFRR1MSBEFN4B44HKWMD5YD", herm.AutomationInput{Name: ptr("n"), Schedule: ptr("hourly"), Instructions: ptr("x")}); !herm.IsCode(err, herm.ENotFound) {
		t.Errorf("unknown deployment: %v", err)
	}
	// 9:00 in Berlin is 8:00 UTC: today's is now, so the next is a week on.
	a, err := e.svc.Create(e.ctx, e.dep.ID, herm.AutomationInput{Name: ptr("n"), Schedule: ptr("every Monday at 9am"), Instructions: ptr("x"), Timezone: ptr("Europe/Berlin"), ThreadID: ptr(e.dep.ThreadID)})
	if err != nil || a.ThreadID != e.dep.ThreadID || !strings.Contains(a.NextRunAt.String(), "2026-12-07 08:00:00") {
		t.Fatalf("%+v %v", a, err)
	}
}

// A firing's run and its record commit together: a crash between them
// (the transaction never commits) leaves neither, and the firing happens
// at the next look — once.
func TestFiringAfterACrash(t *testing.T) {
	e := newEnv(t)
	a, err := e.svc.Create(e.ctx, e.dep.ID, herm.AutomationInput{Name: ptr("n"), Schedule: ptr("hourly"), Instructions: ptr("x")})
	if err != nil {
		t.Fatal(err)
	}
	e.snd.crash = func() { panic("killed") }
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no crash")
			}
		}()
		e.at(time.Hour)
	}()
	runs, _ := e.st.ListRuns(e.ctx, herm.RunFilter{DeploymentID: e.dep.ID, AutomationID: a.ID, Page: herm.Page{Limit: 10}})
	if e.sends() != 0 || len(runs) != 0 {
		t.Fatalf("a firing that did not commit left %d sends, %d runs", e.sends(), len(runs))
	}
	e.snd.crash = nil
	e.at(10 * time.Second)
	e.at(10 * time.Second)
	runs, _ = e.st.ListRuns(e.ctx, herm.RunFilter{DeploymentID: e.dep.ID, AutomationID: a.ID, Page: herm.Page{Limit: 10}})
	got, _ := e.st.GetAutomation(e.ctx, e.dep.ID, a.ID)
	if e.sends() != 1 || len(runs) != 1 || got.LastRunID != runs[0].ID {
		t.Fatalf("after the crash: %d sends, %d runs, following %q", e.sends(), len(runs), got.LastRunID)
	}
}

// Schedulers on two nodes (two store handles on one database) look at the
// same due automation at once: it fires once per due time, and the one
// that lost does not write over the winner's record.
func TestTwoSchedulers(t *testing.T) {
	e := newEnv(t)
	st2, err := sqlite.Open(e.ctx, e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st2.Close() })
	e.snd.status = herm.RunQueued // (both may make a run: one is undone)
	snd2 := &sender{t: t, st: st2, ids: herm.NewIDGen(nil), status: herm.RunQueued, now: e.snd.now}
	svc2 := New(st2, snd2, herm.NewIDGen(nil), e.snd.now, Options{RetryDelays: []time.Duration{time.Minute}, Logger: slog.New(slog.DiscardHandler)})
	a, err := e.svc.Create(e.ctx, e.dep.ID, herm.AutomationInput{Name: ptr("n"), Schedule: ptr("hourly"), Instructions: ptr("x")})
	if err != nil {
		t.Fatal(err)
	}
	// Both read the automation before either fires it.
	stale, _ := e.st.GetAutomation(e.ctx, e.dep.ID, a.ID)
	e.clock = e.clock.Add(time.Hour)
	now := e.clock
	e.svc.check(e.ctx, e.copy(stale), now)
	svc2.check(e.ctx, e.copy(stale), now)
	e.cancelLastRun()
	var wg sync.WaitGroup
	for range 3 {
		e.clock = e.clock.Add(time.Hour)
		wg.Go(func() { e.svc.checkAll(e.ctx) })
		wg.Go(func() { svc2.checkAll(e.ctx) })
		wg.Wait()
		e.cancelLastRun()
	}
	runs, _ := e.st.ListRuns(e.ctx, herm.RunFilter{DeploymentID: e.dep.ID, AutomationID: a.ID, Page: herm.Page{Limit: 10}})
	if n := e.sends() + len(snd2.sent); n != 4 || len(runs) != 4 {
		t.Fatalf("4 due times made %d sends and %d runs", n, len(runs))
	}
	got, _ := e.st.GetAutomation(e.ctx, e.dep.ID, a.ID)
	if got.LastRunID != runs[0].ID {
		t.Fatalf("the automation follows %q, not its latest run %s", got.LastRunID, runs[0].ID)
	}
}

// cancelLastRun ends the latest run (queued: cancelled).
func (e *env) cancelLastRun() {
	e.t.Helper()
	runs, err := e.st.ListRuns(e.ctx, herm.RunFilter{DeploymentID: e.dep.ID, Page: herm.Page{Limit: 1}})
	if err != nil || len(runs) == 0 {
		e.t.Fatalf("runs %v %v", runs, err)
	}
	if _, err := e.st.CancelRun(e.ctx, runs[0].ID, e.clock); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) copy(a *herm.Automation) *herm.Automation {
	c := *a
	return &c
}
