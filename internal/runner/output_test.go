package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hermhq/herm/internal/automation"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/anthropic"
	"github.com/hermhq/herm/internal/llm/llmtest"
	"github.com/hermhq/herm/internal/llm/openai"
	"github.com/hermhq/herm/internal/runner"
)

// weatherSchema is an output schema as a client sends it; weatherStrict is
// what native structured output must get (objects closed, every property
// required).
const (
	weatherSchema = `{"type":"object","properties":{"city":{"type":"string"},"temp":{"type":"number"},"tags":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"}}}}},"required":["city","temp"]}`
	weatherStrict = `{"type":"object","properties":{"city":{"type":"string"},"temp":{"type":"number"},"tags":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}}},"required":["city","tags","temp"],"additionalProperties":false}`
)

// bodies records the JSON bodies a fake provider server received.
type bodies struct {
	mu sync.Mutex
	b  []map[string]any
}

func (b *bodies) add(t *testing.T, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		t.Error(err)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Errorf("request body %s: %v", raw, err)
	}
	b.mu.Lock()
	b.b = append(b.b, m)
	b.mu.Unlock()
}

func (b *bodies) all() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any(nil), b.b...)
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// openAIServer answers every Chat Completions call with the next text, in
// the streaming wire format.
func openAIServer(t *testing.T, got *bodies, texts ...string) *httptest.Server {
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.add(t, r)
		mu.Lock()
		text := texts[0]
		if len(texts) > 1 {
			texts = texts[1:]
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range []any{
			map[string]any{"id": "c1", "object": "chat.completion.chunk", "choices": []any{map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": text}, "finish_reason": nil}}},
			map[string]any{"id": "c1", "object": "chat.completion.chunk", "choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": "stop"}}},
			map[string]any{"id": "c1", "object": "chat.completion.chunk", "choices": []any{}, "usage": map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}},
		} {
			b, _ := json.Marshal(c)
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// anthropicServer answers every Messages call with the next text, in the
// streaming wire format.
func anthropicServer(t *testing.T, got *bodies, texts ...string) *httptest.Server {
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.add(t, r)
		mu.Lock()
		text := texts[0]
		if len(texts) > 1 {
			texts = texts[1:]
		}
		mu.Unlock()
		delta, _ := json.Marshal(text)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range [][2]string{
			{"message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"usage":{"input_tokens":10,"output_tokens":1}}}`},
			{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
			{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + string(delta) + `}}`},
			{"content_block_stop", `{"type":"content_block_stop","index":0}`},
			{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`},
			{"message_stop", `{"type":"message_stop"}`},
		} {
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev[0], ev[1])
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// sendTyped sends a message with an output schema.
func (e *env) sendTyped(content, schema string) *herm.SendResult {
	e.t.Helper()
	if err := herm.ValidateOutputSchema("output_schema", json.RawMessage(schema)); err != nil {
		e.t.Fatal(err)
	}
	res, err := e.runner.Send(context.Background(), herm.SendParams{DeploymentID: e.dep.ID, Content: content, OutputSchema: json.RawMessage(schema)})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// completedOutput returns the output that the run's completed run_status
// event carried.
func (e *env) completedOutput(runID string) json.RawMessage {
	e.t.Helper()
	for _, ev := range e.events() {
		if ev.RunID != runID || ev.Type != herm.EventRunStatus {
			continue
		}
		var f struct {
			Status string          `json:"status"`
			Output json.RawMessage `json:"output"`
		}
		if err := json.Unmarshal(ev.Data, &f); err != nil {
			e.t.Fatal(err)
		}
		if f.Status == string(herm.RunCompleted) {
			return f.Output
		}
	}
	e.t.Fatalf("run %s has no completed run_status event", runID)
	return nil
}

// TestOutputNative runs a typed-result run against fake servers of both
// providers' wire formats: each gets the schema in its native parameter,
// and the run's output (and its completed run_status) is the answer.
func TestOutputNative(t *testing.T) {
	t.Parallel()
	const answer = `{"city": "Oslo", "temp": 3.5, "tags": [{"name": "cold"}]}`
	for _, tc := range []struct {
		name  string
		model func(url string) llm.Provider
		serve func(*testing.T, *bodies, ...string) *httptest.Server
		param string // the request's top-level field of structured output
		want  string // its value
	}{
		{
			name:  "openai",
			model: func(url string) llm.Provider { return openai.New("sk", openai.WithBaseURL(url+"/v1")) },
			serve: openAIServer, param: "response_format",
			want: `{"type":"json_schema","json_schema":{"name":"output","strict":true,"schema":` + weatherStrict + `}}`,
		},
		{
			name:  "anthropic",
			model: func(url string) llm.Provider { return anthropic.New("sk", anthropic.WithBaseURL(url)) },
			serve: anthropicServer, param: "output_config",
			want: `{"format":{"type":"json_schema","schema":` + weatherStrict + `}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := &bodies{}
			srv := tc.serve(t, got, answer)
			e := newEnv(t, runner.Options{})
			e.useModel(tc.model(srv.URL))
			e.start()
			res := e.sendTyped("weather in Oslo?", weatherSchema)
			run := e.wait(res.Run.ID, herm.RunCompleted)
			want := `{"city":"Oslo","temp":3.5,"tags":[{"name":"cold"}]}`
			if string(run.Output) != want {
				t.Errorf("output %s, want %s", run.Output, want)
			}
			if string(e.completedOutput(run.ID)) != want {
				t.Errorf("run_status output %s, want %s", e.completedOutput(run.ID), want)
			}
			b := got.all()
			if len(b) != 1 {
				t.Fatalf("%d model calls, want 1", len(b))
			}
			if diff := cmp.Diff(decodeJSON(t, tc.want), b[0][tc.param]); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.param, diff)
			}
		})
	}
}

// TestOutputRepair: a model without native structured output is
// instructed; its invalid first answer gets one repair turn that says why.
func TestOutputRepair(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(
		llmtest.Turn{Words: []string{`{"city": "Oslo"}`}}, // temp is missing
		llmtest.Turn{Words: []string{"```json\n", `{"city": "Oslo", "temp": 3}`, "\n```"}},
	)
	e.start()
	res := e.sendTyped("weather in Oslo?", weatherSchema)
	run := e.wait(res.Run.ID, herm.RunCompleted)
	if string(run.Output) != `{"city":"Oslo","temp":3}` || run.Usage.ModelCalls != 2 {
		t.Fatalf("run %+v, output %s", run, run.Output)
	}
	reqs := e.script.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model calls", len(reqs))
	}
	if reqs[0].Output != nil || !strings.Contains(reqs[0].System, "Final answer format") || !strings.Contains(reqs[0].System, `"temp"`) {
		t.Errorf("first request: output %v, system %q", reqs[0].Output, reqs[0].System)
	}
	last := reqs[1].Messages[len(reqs[1].Messages)-1]
	if last.Role != llm.RoleUser || !strings.Contains(last.Content, "not valid") || !strings.Contains(last.Content, "temp") {
		t.Errorf("repair message %+v", last)
	}
}

// TestOutputInvalid: a second invalid answer ends the run in error,
// output_invalid, without a third model call.
func TestOutputInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(llmtest.Turn{Words: []string{"It is cold."}}, llmtest.Turn{Words: []string{`{"city": 7, "temp": 3}`}})
	e.start()
	res := e.sendTyped("weather in Oslo?", weatherSchema)
	run := e.wait(res.Run.ID, herm.RunError)
	if run.Error == nil || run.Error.Code != herm.EOutputInvalid || !strings.Contains(run.Error.Message, "city") || run.Output != nil {
		t.Fatalf("run %+v, error %+v", run, run.Error)
	}
	if n := len(e.script.Requests()); n != 2 {
		t.Fatalf("%d model calls, want 2", n)
	}
}

// TestOutputSchemaNotFoldedIntoAnotherRun: steering a message with another
// output schema into an active run is a conflict.
func TestOutputSchemaNotFoldedIntoAnotherRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	gate := make(chan struct{})
	e.script.Push(llmtest.Turn{Words: []string{"working"}, Gate: gate})
	e.start()
	res := e.send("first", "", "")
	<-e.script.Started()
	_, err := e.runner.Send(context.Background(), herm.SendParams{DeploymentID: e.dep.ID, Content: "typed", OutputSchema: json.RawMessage(weatherSchema)})
	if !herm.IsCode(err, herm.EConflict) {
		t.Fatalf("steer with another schema: %v", err)
	}
	close(gate)
	e.wait(res.Run.ID, herm.RunCompleted)
}

// TestAutomationOutput: an automation with an output schema makes runs
// that have it and complete with their output; a schema outside the subset
// is refused.
func TestAutomationOutput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, runner.Options{})
	e.script.Push(llmtest.Turn{Words: []string{`{"city": "Bergen", "temp": 9}`}})
	e.start()
	svc := automation.New(e.store, e.runner, e.ids, time.Now, automation.Options{Logger: e.logger})
	in := herm.AutomationInput{
		Name: ptr("weather"), Schedule: ptr("every day at 9am"), Instructions: ptr("weather in Bergen?"),
		OutputSchema: json.RawMessage(`{"type":"object","patternProperties":{}}`),
	}
	if _, err := svc.Create(context.Background(), e.dep.ID, in); !herm.IsCode(err, herm.EInvalid) || !strings.Contains(err.Error(), "patternProperties") {
		t.Fatalf("create with an unsupported keyword: %v", err)
	}
	in.OutputSchema = json.RawMessage(weatherSchema)
	a, err := svc.Create(context.Background(), e.dep.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	run, err := svc.Trigger(context.Background(), e.dep.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	done := e.wait(run.ID, herm.RunCompleted)
	if string(done.Output) != `{"city":"Bergen","temp":9}` || string(done.OutputSchema) != weatherSchema || done.Trigger.AutomationID != a.ID {
		t.Fatalf("run %+v: output %s, output_schema %s", done, done.Output, done.OutputSchema)
	}
}

func ptr[T any](v T) *T { return &v }
