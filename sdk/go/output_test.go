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
// model answers with an example value of the schema: the run completes
// with it as its output, its output_schema kept on the run. (The
// output_invalid path: the runner's and the server's tests, with scripted
// models.)
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
	if end.Status != herm.RunCompleted || end.Error != nil || string(end.Output) != `{"idea":"demo"}` {
		t.Fatalf("last run_status %+v (output %s)", end, end.Output)
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
	if r.Usage.ModelCalls != 1 || string(r.Output) != `{"idea":"demo"}` || !jsonEqual(got, want) {
		t.Fatalf("run %+v (output_schema %s, output %s)", r, r.OutputSchema, r.Output)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
