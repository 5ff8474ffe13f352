package herm_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	herm "github.com/hermhq/herm/sdk/go"
)

// TestOutputSchema sends typed-result messages: a schema outside the
// supported subset is a validation error naming the keyword; the demo
// model, which has no structured output and answers in prose, gets its
// repair turn and the run ends in error, output_invalid, its output_schema
// kept on the run and its output null.
func TestOutputSchema(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.client()
	ctx := testContext(t)
	d := readyDeployment(t, c, herm.DeploymentCreateParams{})

	_, err := c.Messages.Send(ctx, d.DeploymentID, herm.MessageSendParams{
		Content: "hi", OutputSchema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer","minimum":1}}}`),
	})
	var he *herm.Error
	if !errors.As(err, &he) || he.Status != 400 || he.Code != "validation_error" || !strings.Contains(he.Message, "minimum") {
		t.Fatalf("send with an unsupported keyword: %v", err)
	}

	schema := json.RawMessage(`{"type":"object","properties":{"idea":{"type":"string"}},"required":["idea"]}`)
	st, err := c.Events.Stream(ctx, d.DeploymentID, herm.EventStreamParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sent, err := c.Messages.Send(ctx, d.DeploymentID, herm.MessageSendParams{Content: "one idea", OutputSchema: schema})
	if err != nil {
		t.Fatal(err)
	}
	evs := runEvents(t, st, sent.RunID)
	var end herm.RunStatusEvent
	if err := evs[len(evs)-1].Decode(&end); err != nil {
		t.Fatal(err)
	}
	if end.Status != herm.RunError || end.Error == nil || end.Error.Code != "output_invalid" || end.Output != nil {
		t.Fatalf("last run_status %+v", end)
	}
	r, err := c.Runs.Get(ctx, d.DeploymentID, sent.RunID)
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(r.OutputSchema, &got); err != nil {
		t.Fatalf("run output_schema %s: %v", r.OutputSchema, err)
	}
	_ = json.Unmarshal(schema, &want)
	if r.Usage.ModelCalls != 2 || (r.Output != nil && string(r.Output) != "null") || !jsonEqual(got, want) {
		t.Fatalf("run %+v (output_schema %s, output %s)", r, r.OutputSchema, r.Output)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
