package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/cluster"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/runner"
)

// Two nodes on one store: the deployment's owner alone executes its runs;
// a cancel asked of the other node reaches the run at once through the
// signal (the owner's heartbeat, which would see it too, comes only every
// third of the minute-long lease); when the owner stops, the other node
// adopts the deployment and runs its next run.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	signals := cluster.NewLocal() // every node's subscribers hear every signal, as with NOTIFY
	defer signals.Close()
	opts := func(node string) runner.Options {
		return runner.Options{Owner: node, Lease: time.Minute, Signals: signals}
	}
	e := newEnv(t, opts("node-a"))
	other := e.otherNode(opts("node-b"))
	ctx := context.Background()
	if err := other.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.store.AdoptDeployment(ctx, e.dep.ID, "node-b", time.Now()); err != nil || !ok {
		t.Fatalf("adopt: %v %v", ok, err)
	}
	e.start()

	gate := make(chan struct{})
	defer close(gate)
	e.script.Push(llmtest.Turn{Words: []string{"working"}, Gate: gate})
	run := e.send("go", "", "").Run
	running := e.wait(run.ID, herm.RunRunning)
	if running.LeaseOwner != "node-b" {
		t.Fatalf("the run executes on %q, not on the deployment's owner node-b", running.LeaseOwner)
	}
	for deadline := time.Now().Add(5 * time.Second); len(e.script.Requests()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the model was not called")
		}
	}
	start := time.Now()
	if _, err := e.runner.Cancel(ctx, e.dep.ID, run.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second) // the heartbeat would take 20 s
	for {
		r, err := e.store.GetRun(ctx, e.dep.ID, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == herm.RunCancelled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a cancel asked of node-a did not reach the run on node-b (%s after %v)", r.Status, time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("cancelled on another node in %v", time.Since(start))

	// node-b stops (leaves): node-a adopts the deployment and runs the next
	// run.
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := other.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	e.script.Push(llmtest.Turn{Words: []string{"adopted"}})
	next := e.wait(e.send("again", "", "").Run.ID, herm.RunCompleted)
	if next.LeaseOwner != "node-a" {
		t.Fatalf("the next run ran on %q", next.LeaseOwner)
	}
	d, err := e.store.GetDeployment(ctx, e.dep.ID)
	if err != nil || d.Owner != "node-a" {
		t.Fatalf("owner %q, %v", d.Owner, err)
	}
}

// Two processes with one node id: the one registered first learns at its
// next heartbeat that the other took the registration, and stops.
func TestSameNodeIDTwice(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{Owner: "node-x", Lease: 300 * time.Millisecond})
	e.start()
	other := e.otherNode(runner.Options{Owner: "node-x", Lease: 300 * time.Millisecond})
	if err := other.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.runner.Evicted():
	case <-time.After(5 * time.Second):
		t.Fatal("the first process was not told another registered as its node")
	}
	select {
	case <-other.Evicted():
		t.Fatal("the process that registered last was evicted")
	default:
	}
}
