package main

import (
	"context"
	"strings"
	"testing"
	"time"

	sdk "github.com/hermhq/herm/sdk/go"
)

// A failed run is reported by its error's code and message; tool calls are
// shown as a person writes them.
func TestPrintRun(t *testing.T) {
	t.Parallel()
	stream := "retry: 2000\n\n" +
		"event: tool_call\ndata: {\"run_id\":\"run_1\",\"tool\":\"shell\",\"arguments\":{\"command\":\"echo a > b && cat b\"}}\n\n" +
		"event: run_status\ndata: {\"run_id\":\"run_1\",\"status\":\"error\",\"error\":{\"code\":\"model_error\",\"message\":\"the provider said <overloaded>\"}}\n\n"
	var out strings.Builder
	err := printRun(sdk.ReadEvents(strings.NewReader(stream)), "run_1", &out)
	if err == nil || err.Error() != "the run failed: model_error: the provider said <overloaded>" {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(out.String(), `[tool_call] shell {"command":"echo a > b && cat b"}`) {
		t.Fatalf("output:\n%s", out.String())
	}
}

// Where the server runs no code, the quickstart says that it skipped the
// sandbox step and why.
func TestQuickstartWithoutCodeExecution(t *testing.T) {
	t.Parallel()
	var out, errb syncBuffer
	env := func(k string) string {
		if k == "HERM_SANDBOX" {
			return "none"
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx, []string{"quickstart"}, env, &out, &errb); err != nil {
		t.Fatalf("quickstart: %v\n%s\n%s", err, out.String(), errb.String())
	}
	o := out.String()
	for _, want := range []string{"Sandbox step skipped: this server gives its deployments no code execution", "--sandbox none", "[run_status] completed"} {
		if !strings.Contains(o, want) {
			t.Fatalf("quickstart output lacks %q:\n%s", want, o)
		}
	}
	if strings.Contains(o, "run: echo") {
		t.Fatalf("the quickstart asked for a command anyway:\n%s", o)
	}
}

// A turn abandoned midway (a crash, a stream cut) is said to be void, so
// that the redone answer is not read as its continuation.
func TestPrintRunAbandonedTurn(t *testing.T) {
	t.Parallel()
	stream := "event: token\ndata: {\"run_id\":\"run_1\",\"delta\":\"Hel\",\"turn\":1,\"attempt\":1}\n\n" +
		"event: turn_abandoned\ndata: {\"run_id\":\"run_1\",\"turn\":1,\"attempt\":1}\n\n" +
		"event: token\ndata: {\"run_id\":\"run_1\",\"delta\":\"Hello\",\"turn\":1,\"attempt\":2}\n\n" +
		"event: run_status\ndata: {\"run_id\":\"run_1\",\"status\":\"completed\"}\n\n"
	var out strings.Builder
	if err := printRun(sdk.ReadEvents(strings.NewReader(stream)), "run_1", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "agent: Hel\n  [turn_abandoned]") || !strings.Contains(out.String(), "agent: Hello\n") {
		t.Fatalf("output:\n%s", out.String())
	}
}
