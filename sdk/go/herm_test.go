package herm_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	herm "github.com/hermhq/herm/sdk/go"
)

// TestStreamWhileSending opens the stream, sends a message and reads the
// run as it streams: the tokens make up the agent's message.
func TestStreamWhileSending(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	d := readyDeployment(t, c, herm.DeploymentCreateParams{})
	st, err := c.Events.Stream(ctx, d.DeploymentID, herm.EventStreamParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sent, err := c.Messages.Send(ctx, d.DeploymentID, herm.MessageSendParams{Content: "Give me five ad ideas"})
	if err != nil {
		t.Fatal(err)
	}
	if sent.RunID == "" || sent.ThreadID != d.ThreadID {
		t.Fatalf("sent %+v, want a run on the default thread %s", sent, d.ThreadID)
	}
	var tokens, message strings.Builder
	for _, e := range runEvents(t, st, sent.RunID) {
		switch e.Type {
		case "token":
			var tk herm.TokenEvent
			if err := e.Decode(&tk); err != nil {
				t.Fatal(err)
			}
			tokens.WriteString(tk.Delta)
		case "message":
			var m herm.MessageEvent
			if err := e.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if m.Role == "agent" {
				message.WriteString(m.Content)
			}
		}
	}
	if tokens.Len() == 0 || tokens.String() != message.String() {
		t.Fatalf("tokens %q, agent message %q", tokens.String(), message.String())
	}
	r, err := c.Runs.Get(ctx, d.DeploymentID, sent.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != herm.RunCompleted || !r.Ended() || r.Usage.ModelCalls == 0 {
		t.Fatalf("run %+v", r)
	}
	th, err := c.Threads.Get(ctx, d.DeploymentID, d.ThreadID)
	if err != nil {
		t.Fatal(err)
	}
	if len(th.Messages) != 2 || th.Messages[1].Content != message.String() {
		t.Fatalf("thread messages %+v", th.Messages)
	}
}

// TestStreamSurvivesRestart kills the server in the middle of a streaming
// run and starts it again on the same data dir and port: the stream
// reconnects by itself and delivers every event of the log exactly once.
func TestStreamSurvivesRestart(t *testing.T) {
	t.Parallel()
	s := startServer(t, "HERM_DEMO_WORD_DELAY=60ms")
	c := s.client(herm.WithMaxRetries(5))
	ctx := testContext(t)
	d := readyDeployment(t, c, herm.DeploymentCreateParams{})
	st, err := c.Events.Stream(ctx, d.DeploymentID, herm.EventStreamParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	long := strings.Repeat("tell me about the weather and the sea ", 5)
	sent, err := c.Messages.Send(ctx, d.DeploymentID, herm.MessageSendParams{Content: long})
	if err != nil {
		t.Fatal(err)
	}
	var got []herm.Event
	tokens, restarted, done := 0, false, false
	for !done && st.Next() {
		e := st.Current()
		got = append(got, e)
		if e.Type == "token" {
			tokens++
		}
		if tokens == 5 && !restarted {
			restarted = true
			s.kill()
			s.start() // same data dir, same address
		}
		if e.Type == "run_status" && e.RunID == sent.RunID {
			var rs herm.RunStatusEvent
			_ = e.Decode(&rs)
			done = rs.Status == herm.RunCompleted || rs.Status == herm.RunError
		}
	}
	if !done {
		t.Fatalf("stream ended before the run (restarted %v): %v", restarted, st.Err())
	}
	if !restarted {
		t.Fatal("the run ended before the restart")
	}
	// What the stream delivered is the log from its first event on, each
	// event once, in order.
	var logged []int64
	for e, err := range c.Events.All(ctx, d.DeploymentID, herm.EventListParams{After: fmt.Sprintf("evt_%d", got[0].Sequence-1), Limit: 7}) {
		if err != nil {
			t.Fatal(err)
		}
		logged = append(logged, e.Sequence)
	}
	var seqs []int64
	for _, e := range got {
		seqs = append(seqs, e.Sequence)
	}
	if !slices.Equal(seqs, logged[:min(len(seqs), len(logged))]) || len(seqs) > len(logged) {
		t.Fatalf("stream delivered %v, the log holds %v", seqs, logged)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence %d after %d: a gap or a duplicate", seqs[i], seqs[i-1])
		}
	}
	r, err := c.Runs.Get(ctx, d.DeploymentID, sent.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != herm.RunCompleted {
		t.Fatalf("run after restart: %+v", r)
	}
}

// TestRunsAcrossPages lists runs a page at a time and across pages.
func TestRunsAcrossPages(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	d := readyDeployment(t, c, herm.DeploymentCreateParams{})
	var sentIDs []string
	for i := range 5 {
		m, err := c.Messages.Send(ctx, d.DeploymentID, herm.MessageSendParams{Content: fmt.Sprintf("message %d", i), Mode: herm.ModeQueue})
		if err != nil {
			t.Fatal(err)
		}
		sentIDs = append(sentIDs, m.RunID)
	}
	page, err := c.Runs.List(ctx, d.DeploymentID, herm.RunListParams{ListParams: herm.ListParams{Limit: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.NextCursor == "" {
		t.Fatalf("first page: %d runs, next %q", len(page.Data), page.NextCursor)
	}
	var ids []string
	for r, err := range c.Runs.All(ctx, d.DeploymentID, herm.RunListParams{ListParams: herm.ListParams{Limit: 2}}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.RunID)
	}
	slices.Reverse(sentIDs) // newest first
	if !slices.Equal(ids, sentIDs) {
		t.Fatalf("runs across pages %v, want %v", ids, sentIDs)
	}
	// Breaking out of the loop stops it.
	n := 0
	for _, err := range c.Runs.All(ctx, d.DeploymentID, herm.RunListParams{ListParams: herm.ListParams{Limit: 2}}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
}

// TestErrors checks that error answers are *Error with the envelope's
// status, code, message and request id.
func TestErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	check := func(what string, err error, status int, code string) {
		t.Helper()
		var e *herm.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: error %T %v, want *herm.Error", what, err, err)
		}
		if e.Status != status || e.Code != code || e.Message == "" || !strings.HasPrefix(e.RequestID, "req_") {
			t.Fatalf("%s: %+v, want %d %s with a message and request id", what, e, status, code)
		}
		if herm.ErrorCode(fmt.Errorf("wrapped: %w", err)) != code {
			t.Fatalf("%s: ErrorCode does not see through wrapping", what)
		}
	}
	_, err := c.Deployments.Get(ctx, "dep_missing")
	check("get a missing deployment", err, 404, herm.CodeNotFound)
	_, err = c.Deployments.Create(ctx, herm.DeploymentCreateParams{CustomerID: "cus_1"})
	check("create without a name", err, 400, herm.CodeValidation)
	d := readyDeployment(t, c, herm.DeploymentCreateParams{})
	_, err = c.Skills.Create(ctx, d.DeploymentID, herm.SkillParams{Name: "broken", Source: "inline", Content: "no front matter"})
	check("an inline skill without front matter", err, 422, herm.CodeInvalidSkill)
	_, err = c.Deployments.Update(ctx, d.DeploymentID, herm.DeploymentUpdateParams{Secrets: map[string]*string{"TOKEN": herm.String("sec_missing")}})
	check("a reference to a missing secret", err, 422, herm.CodeInvalidSecretRef)
	err = c.Threads.Delete(ctx, d.DeploymentID, d.ThreadID)
	check("delete the default thread", err, 409, herm.CodeConflict)
	bad := herm.NewClient(s.url, "herm_sk_wrong")
	_, err = bad.Deployments.List(ctx, herm.DeploymentListParams{})
	check("a wrong key", err, 401, herm.CodeUnauthorized)
}

// flakyTransport loses the answer of the first POST it forwards, as a
// connection that breaks after the server did the work would.
type flakyTransport struct {
	mu    sync.Mutex
	keys  []string // Idempotency-Key of each POST seen
	lost  bool
	inner http.RoundTripper
}

func (f *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost {
		return f.inner.RoundTrip(r)
	}
	f.mu.Lock()
	f.keys = append(f.keys, r.Header.Get("Idempotency-Key"))
	lose := !f.lost
	f.lost = true
	f.mu.Unlock()
	resp, err := f.inner.RoundTrip(r)
	if err != nil || !lose {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, errors.New("connection reset (the answer was lost)")
}

// TestIdempotentRetry loses the answer to a create: the client sends it
// again with the same Idempotency-Key and gets the first answer, and the
// server made one deployment, not two.
func TestIdempotentRetry(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ft := &flakyTransport{inner: http.DefaultTransport}
	c := s.client(herm.WithHTTPClient(&http.Client{Transport: ft}), herm.WithRetryDelay(1))
	ctx := testContext(t)
	d, err := c.Deployments.Create(ctx, herm.DeploymentCreateParams{CustomerID: "cus_idem", Name: "Once", SystemPrompt: "Hi."})
	if err != nil {
		t.Fatal(err)
	}
	if len(ft.keys) != 2 || ft.keys[0] == "" || ft.keys[0] != ft.keys[1] {
		t.Fatalf("POSTs sent with keys %q, want two with one key", ft.keys)
	}
	var ids []string
	for dep, err := range c.Deployments.All(ctx, herm.DeploymentListParams{CustomerID: "cus_idem"}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, dep.DeploymentID)
	}
	if len(ids) != 1 || ids[0] != d.DeploymentID {
		t.Fatalf("deployments of the customer %v, want only %s", ids, d.DeploymentID)
	}

	// Without retries, the lost answer is the caller's error.
	ft2 := &flakyTransport{inner: http.DefaultTransport}
	c2 := s.client(herm.WithHTTPClient(&http.Client{Transport: ft2}), herm.WithMaxRetries(0))
	if _, err := c2.Deployments.Create(ctx, herm.DeploymentCreateParams{CustomerID: "cus_idem", Name: "Twice"}); err == nil {
		t.Fatal("a lost answer without retries is no error")
	}
	if len(ft2.keys) != 1 || ft2.keys[0] != "" {
		t.Fatalf("POSTs without retries sent with keys %q, want one without", ft2.keys)
	}

}
