package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/hermhq/herm/sdk/go"
)

const testKey = "herm_sk_test_admin_key"

// server is a herm serve started in-process by run, on 127.0.0.1:0 with a
// fresh data dir.
type server struct {
	t    *testing.T
	url  string
	key  string
	app  *app
	dir  string
	logs *syncBuffer
	stop func()
}

func startServer(t *testing.T, env map[string]string) *server {
	t.Helper()
	return startServerWith(t, env, nil)
}

// startServerWith is startServer with settings that are not flags or
// environment variables changed by tune.
func startServerWith(t *testing.T, env map[string]string, tune func(*config)) *server {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{"HERM_ADDR": "127.0.0.1:0", "HERM_DATA_DIR": dir, "HERM_API_KEY": testKey, "HERM_LOG_FORMAT": "json",
		"HERM_RATE_LIMIT": "-1", // tests poll; TestRateLimit sets its own
		// The memory observer's model call after each run would take the
		// scripted turns of later runs: on only in the tests about it.
		"HERM_MEMORY_OBSERVER": "false",
		// Likewise a dream's (and deployments have features.dreaming off).
		"HERM_DREAMING": "false"}
	for k, v := range env {
		vars[k] = v
	}
	if os.Getenv("HERM_TEST_E2E_POSTGRES") == "1" && vars["HERM_DATABASE_URL"] == "" {
		// The end-to-end suite on PostgreSQL: each server on a fresh schema.
		vars["HERM_DATABASE_URL"] = postgresSchemaFor(t, vars["HERM_DATA_DIR"])
	}
	getenv := func(k string) string { return vars[k] }
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *app, 1)
	done := make(chan error, 1)
	var logs syncBuffer
	go func() {
		cfg, err := loadConfig("serve", nil, getenv)
		if err != nil {
			done <- err
			return
		}
		if tune != nil {
			tune(cfg)
		}
		level := vars["HERM_LOG_LEVEL"]
		if level == "" {
			level = "warn"
		}
		logger, _ := newLogger("json", level, &logs)
		done <- serveWith(ctx, cfg, getenv, logger, &logs, func(a *app) { ready <- a })
	}()
	s := &server{t: t, key: testKey, dir: vars["HERM_DATA_DIR"], logs: &logs}
	select {
	case s.app = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("server did not start in time")
	}
	s.url = s.app.URL()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server shutdown: %v\nlogs:\n%s", err, logs.String())
			}
		})
	}
	t.Cleanup(s.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return s
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// errCode returns the error envelope's code, checking the envelope's shape.
func (r response) errCode(t *testing.T) string {
	t.Helper()
	m := r.json(t)
	e, ok := m["error"].(map[string]any)
	if !ok || len(m) != 1 {
		t.Fatalf("not an error envelope: %s", r.body)
	}
	if e["request_id"] != r.header.Get("X-Request-Id") || e["request_id"] == "" || e["message"] == "" {
		t.Fatalf("error envelope without request id or message: %s (header %q)", r.body, r.header.Get("X-Request-Id"))
	}
	return e["code"].(string)
}

func (s *server) do(method, path string, body any, headers ...string) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		s.t.Fatalf("%s %s: no X-Request-Id", method, path)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must checks the status and returns the JSON object.
func (s *server) must(status int, method, path string, body any, headers ...string) map[string]any {
	s.t.Helper()
	r := s.do(method, path, body, headers...)
	if r.status != status {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(s.t)
}

// createReady creates a deployment and waits until it is ready.
func (s *server) createReady(body map[string]any) map[string]any {
	s.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	for k, v := range map[string]any{"customer_id": "cus_1", "name": "Agent", "system_prompt": "Be helpful."} {
		if _, ok := body[k]; !ok {
			body[k] = v
		}
	}
	d := s.must(201, "POST", "/v1/deployments", body)
	id := d["deployment_id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for d["status"] != "ready" {
		if time.Now().After(deadline) || d["status"] == "error" {
			s.t.Fatalf("deployment not ready: %v", d)
		}
		time.Sleep(5 * time.Millisecond)
		d = s.must(200, "GET", "/v1/deployments/"+id, nil)
	}
	return d
}

// waitRun polls the run until it reaches one of the statuses.
func (s *server) waitRun(dep, run string, statuses ...string) map[string]any {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := s.must(200, "GET", "/v1/deployments/"+dep+"/runs/"+run, nil)
		for _, st := range statuses {
			if r["status"] == st {
				return r
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("run %s is %v, want %v", run, r["status"], statuses)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseEvent is one frame of an event stream.
type sseEvent struct {
	id, typ string
	data    map[string]any
}

// stream is an open SSE connection.
type stream struct {
	resp   *http.Response
	events chan sseEvent
	first  string // the first line, "retry: 2000"
}

func (s *server) openStream(path string, headers ...string) *stream {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if s.key != "" {
		req.Header.Set("Authorization", "Bearer "+s.key)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s.t.Fatalf("stream %s: status %d: %s", path, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		s.t.Fatalf("stream content type %q", ct)
	}
	st := &stream{resp: resp, events: make(chan sseEvent, 10000)}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil {
		s.t.Fatal(err)
	}
	st.first = strings.TrimSpace(line)
	go func() {
		// The client package's SSE reader, as an SDK user reads streams.
		defer close(st.events)
		evs := sdk.ReadEvents(br)
		for evs.Next() {
			e := evs.Current()
			ev := sseEvent{id: e.ID, typ: e.Type}
			if err := e.Decode(&ev.data); err != nil {
				ev.data = map[string]any{"_bad": string(e.Data)}
			}
			st.events <- ev
		}
	}()
	s.t.Cleanup(func() { resp.Body.Close() })
	return st
}

// until reads events until one satisfies stop (which sees every event).
func (st *stream) until(t *testing.T, stop func(sseEvent) bool) []sseEvent {
	t.Helper()
	var got []sseEvent
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-st.events:
			if !ok {
				t.Fatalf("stream ended after %d events", len(got))
			}
			got = append(got, ev)
			if stop(ev) {
				return got
			}
		case <-timeout:
			t.Fatalf("no stopping event after %d events: %v", len(got), types(got))
		}
	}
}

func (st *stream) close() { st.resp.Body.Close() }

func runEnded(runID string) func(sseEvent) bool {
	return func(ev sseEvent) bool {
		if ev.typ != "run_status" || ev.data["run_id"] != runID {
			return false
		}
		s := ev.data["status"]
		return s == "completed" || s == "error" || s == "cancelled"
	}
}

func types(evs []sseEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.typ
		if e.typ == "run_status" || e.typ == "deployment_status" {
			out[i] += ":" + fmt.Sprint(e.data["status"])
		}
	}
	return out
}
