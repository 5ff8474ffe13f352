// Package storetest is the behaviour suite of store.Store: every backend
// runs Run against itself, so that all backends behave alike.
//
// A backend's test calls
//
//	storetest.Run(t, func(t *testing.T) (store.Store, func() store.Store) { ... })
//
// where the function returns a new, empty, migrated store, independent of
// every other store it returned (subtests run in parallel), and a function
// that opens another handle on that same database (its own connections, as
// a second node would have); it closes every store with t.Cleanup. The race
// tests run the transitions (and what callers do in one transaction) on two
// handles at once.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// test is one behaviour of the suite.
type test struct {
	name string
	fn   func(t *testing.T, f *fixture)
}

// Run runs the whole suite, each subtest on a fresh store from open.
func Run(t *testing.T, open func(t *testing.T) (s store.Store, another func() store.Store)) {
	var all []test
	for _, group := range [][]test{
		apiKeyTests(), idempotencyTests(), deploymentTests(), threadTests(), messageTests(),
		runTests(), claimTests(), stepTests(), eventTests(), txTests(), pageTests(), steeringTests(), budgetTests(), compactionTests(), secretTests(), webhookTests(),
		transitionTests(), raceTests(), guardTests(), nodeTests(), automationTests(), agentTests(), threadSeqTests(), observeTests(), dreamTests(),
	} {
		all = append(all, group...)
	}
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, another := open(t)
			f := newFixture(t, s)
			f.another = another
			tc.fn(t, f)
		})
	}
}

// at returns the suite's base time plus d. Times carry microseconds, the
// precision stores keep.
func at(d time.Duration) time.Time {
	return time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC).Add(d)
}

// fixture holds a store under test and makes objects in it.
type fixture struct {
	t   *testing.T
	s   store.Store
	ctx context.Context
	ids *herm.IDGen
	// another opens a second handle on s's database (race tests).
	another func() store.Store
}

func newFixture(t *testing.T, s store.Store) *fixture {
	var tick atomic.Int64
	// Each ID is one millisecond after the previous one, so IDs sort in the
	// order they were made (as the store's cursors assume).
	ids := herm.NewIDGen(func() time.Time { return at(time.Duration(tick.Add(1)) * time.Millisecond) })
	return &fixture{t: t, s: s, ctx: t.Context(), ids: ids}
}

// id returns a new ID with the prefix.
func (f *fixture) id(prefix string) string { return f.ids.New(prefix) }

// must fails the test on err.
func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("unexpected error: %v", err)
	}
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := herm.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// diff compares with go-cmp; JSON documents compare by meaning (a backend
// may store them normalised). Two empty ones are left to the default
// comparison (or to cmpopts.EquateEmpty, which would overlap).
func diff(want, got any, opts ...cmp.Option) string {
	nonEmpty := cmp.FilterValues(func(a, b json.RawMessage) bool { return len(a) > 0 || len(b) > 0 }, cmp.Comparer(jsonEqual))
	return cmp.Diff(want, got, append(opts, nonEmpty, cmpopts.IgnoreUnexported(herm.Event{}))...)
}

func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(x, y)
}

// wantDiff fails the test when want and got differ.
func wantDiff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if d := diff(want, got, opts...); d != "" {
		t.Fatalf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// newDeployment returns an unsaved deployment with a minimal configuration
// and its default thread.
func (f *fixture) newDeployment(customerID string) (*herm.Deployment, *herm.Thread) {
	d := &herm.Deployment{
		ID: f.id(herm.PrefixDeployment), CustomerID: customerID, Name: "agent", Runtime: "herm",
		Model: "demo/echo", Status: herm.DeploymentReady, Features: herm.DefaultFeatures(),
		ConfigVersion: 1, CreatedAt: at(0), UpdatedAt: at(0),
	}
	t := &herm.Thread{
		ID: f.id(herm.PrefixThread), DeploymentID: d.ID, Title: herm.DefaultThreadTitle, IsDefault: true,
		CreatedAt: at(0), LastActivityAt: at(0),
	}
	d.ThreadID = t.ID
	return d, t
}

// deployment stores a new deployment (with its default thread).
func (f *fixture) deployment() *herm.Deployment {
	f.t.Helper()
	d, t := f.newDeployment("cus_1")
	f.must(f.s.CreateDeployment(f.ctx, d, t))
	return d
}

// thread stores a new thread of the deployment.
func (f *fixture) thread(deploymentID string) *herm.Thread {
	f.t.Helper()
	t := &herm.Thread{
		ID: f.id(herm.PrefixThread), DeploymentID: deploymentID, Title: "thread",
		CreatedAt: at(time.Second), LastActivityAt: at(time.Second),
	}
	f.must(f.s.CreateThread(f.ctx, t))
	t.Status = herm.ThreadIdle
	return t
}

// run stores a new run of the thread.
func (f *fixture) run(deploymentID, threadID string, status herm.RunStatus, created time.Time) *herm.Run {
	f.t.Helper()
	r := &herm.Run{
		ID: f.id(herm.PrefixRun), DeploymentID: deploymentID, ThreadID: threadID, Status: status,
		Trigger: herm.Trigger{Type: herm.TriggerMessage}, CreatedAt: created,
	}
	f.must(f.s.CreateRun(f.ctx, r))
	return r
}

// message stores a new user message.
func (f *fixture) message(deploymentID, threadID, runID string, pending bool, created time.Time) *herm.Message {
	f.t.Helper()
	m := &herm.Message{
		ID: f.id(herm.PrefixMessage), DeploymentID: deploymentID, ThreadID: threadID, RunID: runID,
		Role: herm.RoleUser, Content: "hello " + created.Format(time.StampMicro), Pending: pending, CreatedAt: created,
	}
	f.must(f.s.CreateMessage(f.ctx, m))
	return m
}

// event returns an unsaved event.
func event(deploymentID, threadID, runID, typ string, n int) *herm.Event {
	return &herm.Event{
		DeploymentID: deploymentID, ThreadID: threadID, RunID: runID, Type: typ,
		Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)), CreatedAt: at(time.Duration(n) * time.Second),
	}
}

// appendEvents appends n deployment-level events numbered from 1.
func (f *fixture) appendEvents(deploymentID string, n int) []*herm.Event {
	f.t.Helper()
	evs := make([]*herm.Event, n)
	for i := range evs {
		evs[i] = event(deploymentID, "", "", herm.EventToken, i+1)
	}
	f.must(f.s.AppendEvents(f.ctx, evs))
	return evs
}

// seqs returns the events' sequence numbers.
func seqs(evs []*herm.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
