package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermhq/herm/client"
)

// newServer serves h and returns a client of it with the key "k".
func newServer(t *testing.T, h http.HandlerFunc) *client.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return client.New(srv.URL+"/", "k", &client.Options{RetryDelay: time.Millisecond})
}

func TestCreateGetSend(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" {
			t.Errorf("%s %s: Authorization %q", r.Method, r.URL, r.Header.Get("Authorization"))
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" "+string(body))
		mu.Unlock()
		switch r.Method + " " + r.URL.Path {
		case "POST /v1/deployments":
			if r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("create: Content-Type %q", r.Header.Get("Content-Type"))
			}
			w.WriteHeader(201)
			fmt.Fprint(w, `{"deployment_id":"dep_1","status":"provisioning","thread_id":"thr_1","sandbox":{"enabled":true}}`)
		case "GET /v1/deployments/dep_1":
			fmt.Fprint(w, `{"deployment_id":"dep_1","status":"ready","error":null}`)
		case "POST /v1/deployments/dep_1/messages":
			w.WriteHeader(202)
			fmt.Fprint(w, `{"run_id":"run_1","status":"queued"}`)
		case "GET /v1/deployments/dep_1/runs/run_1":
			fmt.Fprint(w, `{"run_id":"run_1","status":"completed","usage":{"input_tokens":3}}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
		}
	})
	ctx := context.Background()
	d, err := c.Deployments.Create(ctx, client.DeploymentCreateParams{CustomerID: "cus_1", Name: "A",
		Extra: map[string]any{"features": map[string]bool{"memory": true}}})
	if err != nil || d.DeploymentID != "dep_1" || d.Status != "provisioning" || d.ThreadID != "thr_1" {
		t.Fatalf("create: %+v %v", d, err)
	}
	var raw struct{ Sandbox struct{ Enabled bool } }
	if json.Unmarshal(d.Raw, &raw) != nil || !raw.Sandbox.Enabled {
		t.Fatalf("Raw lacks the sandbox: %s", d.Raw)
	}
	if d, err = c.Deployments.Get(ctx, "dep_1"); err != nil || d.Status != "ready" {
		t.Fatalf("get: %+v %v", d, err)
	}
	m, err := c.Messages.Send(ctx, "dep_1", client.MessageSendParams{Content: "hi", Mode: "queue"})
	if err != nil || m.RunID != "run_1" {
		t.Fatalf("send: %+v %v", m, err)
	}
	r, err := c.Runs.Get(ctx, "dep_1", "run_1")
	if err != nil || !r.Ended() || r.Usage.InputTokens != 3 {
		t.Fatalf("run: %+v %v", r, err)
	}
	want := []string{
		`POST /v1/deployments {"customer_id":"cus_1","features":{"memory":true},"name":"A"}`,
		`GET /v1/deployments/dep_1 `,
		`POST /v1/deployments/dep_1/messages {"content":"hi","mode":"queue"}`,
		`GET /v1/deployments/dep_1/runs/run_1 `,
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

func TestError(t *testing.T) {
	t.Parallel()
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req_header")
		if r.URL.Path == "/v1/deployments/dep_x" {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":{"code":"not_found","message":"deployment dep_x not found","request_id":"req_1"}}`)
			return
		}
		w.WriteHeader(502)
		fmt.Fprint(w, "<html>bad gateway</html>")
	})
	_, err := c.Deployments.Get(context.Background(), "dep_x")
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v, want *client.Error", err, err)
	}
	want := client.Error{StatusCode: 404, Code: "not_found", Message: "deployment dep_x not found", RequestID: "req_1", Method: "GET", Path: "/v1/deployments/dep_x"}
	if *e != want || e.Error() != "GET /v1/deployments/dep_x: 404 not_found: deployment dep_x not found" {
		t.Fatalf("error %+v (%q), want %+v", *e, e.Error(), want)
	}
	_, err = c.Models.List(context.Background())
	if !errors.As(err, &e) || e.StatusCode != 502 || e.Code != "" || e.RequestID != "req_header" || e.Error() != "GET /v1/models: HTTP 502" {
		t.Fatalf("non-envelope error: %#v", err)
	}
}

// The stream reopens after a disconnect from the last event it delivered,
// waiting the delay the server names, and delivers each event once.
func TestStreamResumes(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var lastIDs []string
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/deployments/dep_1/events" || r.URL.Query().Get("types") != "token,run_status" || r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("request %s %v", r.URL, r.Header)
		}
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		switch n {
		case 1: // two events, then the connection drops
			fmt.Fprint(w, "retry: 1\n\n: ping\n\n")
			fmt.Fprint(w, "id: evt_1\nevent: token\ndata: {\"event_id\":\"evt_1\",\"sequence\":1,\"type\":\"token\",\"run_id\":\"run_1\",\"delta\":\"Hel\"}\n\n")
			fmt.Fprint(w, "id: evt_2\r\nevent: token\r\ndata: {\"event_id\":\"evt_2\",\"sequence\":2,\"type\":\"token\",\"run_id\":\"run_1\",\"delta\":\"lo\"}\r\n\r\n")
			fmt.Fprint(w, "id: evt_3\nevent: token\ndata: {\"event_id\":\"evt_3\"") // cut mid-frame
		case 2:
			fmt.Fprint(w, "retry: 1\n\nid: evt_3\nevent: run_status\ndata: {\"event_id\":\"evt_3\",\"sequence\":3,\"type\":\"run_status\",\n")
			fmt.Fprint(w, "data: \"run_id\":\"run_1\",\"status\":\"completed\"}\n\n")
		default: // the deployment is gone
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":{"code":"not_found","message":"gone","request_id":"req_9"}}`)
		}
	})
	st, err := c.Events.Stream(context.Background(), "dep_1", client.EventStreamParams{Types: []string{"token", "run_status"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []string
	for st.Next() {
		e := st.Current()
		var f struct{ Delta, Status string }
		if err := e.Decode(&f); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %d %s %s %s%s", e.ID, e.Sequence, e.Type, e.RunID, f.Delta, f.Status))
	}
	want := []string{"evt_1 1 token run_1 Hel", "evt_2 2 token run_1 lo", "evt_3 3 run_status run_1 completed"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var e *client.Error
	if !errors.As(st.Err(), &e) || e.StatusCode != 404 || e.RequestID != "req_9" {
		t.Fatalf("Err %v, want the 404 that refused to reopen it", st.Err())
	}
	if strings.Join(lastIDs, ",") != ",evt_2,evt_3" {
		t.Fatalf("Last-Event-ID of each connection: %q", lastIDs)
	}
	if st.LastEventID() != "evt_3" {
		t.Fatalf("LastEventID %q", st.LastEventID())
	}
}

// A stream whose server refuses it at once is an error of Stream; one given
// a LastEventID starts after it.
func TestStreamOpen(t *testing.T) {
	t.Parallel()
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-ID") == "evt_old" {
			w.WriteHeader(410)
			fmt.Fprint(w, `{"error":{"code":"cursor_expired","message":"too old","request_id":"req_2"}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 2000\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	_, err := c.Events.Stream(context.Background(), "dep_1", client.EventStreamParams{LastEventID: "evt_old"})
	var e *client.Error
	if !errors.As(err, &e) || e.Code != "cursor_expired" {
		t.Fatalf("open with an expired cursor: %v", err)
	}
	// Close from another goroutine ends a Next that waits, without error.
	st, err := c.Events.Stream(context.Background(), "dep_1", client.EventStreamParams{})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, func() { st.Close() })
	done := make(chan bool)
	go func() { done <- st.Next() }()
	select {
	case ok := <-done:
		if ok || st.Err() != nil {
			t.Fatalf("Next after Close: %v, Err %v", ok, st.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end Next")
	}
	st.Close() // twice is fine
}

// A stream whose connections keep failing gives up after Reconnects
// attempts in a row.
func TestStreamGivesUp(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 1\n\n") // and ends, with no event
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, "k", &client.Options{Reconnects: 3})
	st, err := c.Events.Stream(context.Background(), "dep_1", client.EventStreamParams{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Next() {
		t.Fatal("an event from nowhere")
	}
	if !errors.Is(st.Err(), io.ErrUnexpectedEOF) {
		t.Fatalf("Err %v", st.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 4 {
		t.Fatalf("%d connections, want 1 and 3 reconnections", conns)
	}
}

func TestReadEvents(t *testing.T) {
	t.Parallel()
	in := "retry: 2000\n\n: comment\n\nid: evt_7\nevent: message\ndata: {\"event_id\":\"evt_7\",\"type\":\"message\",\"thread_id\":null,\"content\":\"a\"}\n\n"
	st := client.ReadEvents(strings.NewReader(in))
	if !st.Next() {
		t.Fatalf("no event: %v", st.Err())
	}
	e := st.Current()
	if e.ID != "evt_7" || e.Type != "message" || e.ThreadID != "" || !strings.Contains(string(e.Data), `"content":"a"`) {
		t.Fatalf("event %+v", e)
	}
	if st.Next() || st.Err() != nil {
		t.Fatalf("after the input's end: Err %v", st.Err())
	}
	bad := client.ReadEvents(strings.NewReader("data: {not json\n\n"))
	if bad.Next() || bad.Err() == nil {
		t.Fatal("bad JSON is not an error")
	}
}

// All follows the pages' cursors.
func TestDeploymentsAll(t *testing.T) {
	t.Parallel()
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("status") != "ready" || q.Get("limit") != "2" {
			t.Errorf("query %s", r.URL.RawQuery)
		}
		switch q.Get("cursor") {
		case "":
			fmt.Fprint(w, `{"data":[{"deployment_id":"dep_3"},{"deployment_id":"dep_2"}],"next_cursor":"c2"}`)
		case "c2":
			fmt.Fprint(w, `{"data":[{"deployment_id":"dep_1"}],"next_cursor":null}`)
		default:
			t.Errorf("cursor %q", q.Get("cursor"))
		}
	})
	var ids []string
	for d, err := range c.Deployments.All(context.Background(), client.DeploymentListParams{Status: "ready", Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.DeploymentID)
	}
	if strings.Join(ids, ",") != "dep_3,dep_2,dep_1" {
		t.Fatalf("ids %v", ids)
	}
}
