package agent

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

func stepsOf(t *testing.T, list ...any) []*herm.RunStep {
	t.Helper()
	var out []*herm.RunStep
	for i := 0; i < len(list); i += 2 {
		raw, err := json.Marshal(list[i+1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &herm.RunStep{RunID: "run_1", Index: len(out), Kind: list[i].(string), Data: raw})
	}
	return out
}

func idsOf(calls []herm.StepToolCall) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.ID)
	}
	return out
}

// TestTranscript checks what the loop asks of a decoded transcript.
func TestTranscript(t *testing.T) {
	calls := []herm.StepToolCall{{ID: "c1", Name: "echo"}, {ID: "c2", Name: "echo"}, {ID: "c3", Name: "echo"}}
	tr, err := newTranscript(stepsOf(t,
		herm.StepInput, herm.StepInputData{MessageID: "msg_1", Attachments: make([]herm.SavedAttachment, 2)},
		herm.StepModelStart, herm.StepModelStartData{Turn: 1, Attempt: 1},
		herm.StepModelStart, herm.StepModelStartData{Turn: 1, Attempt: 2},
		herm.StepModel, herm.StepModelData{ToolCalls: []herm.StepToolCall{{ID: "c0", Name: "echo"}}},
		herm.StepToolStart, herm.StepToolData{ToolCallID: "c0"},
		herm.StepToolResult, herm.StepToolData{ToolCallID: "c0"},
		herm.StepCompaction, herm.StepCompactionData{Summary: "so far", StepsUntil: 5},
		herm.StepModelStart, herm.StepModelStartData{Turn: 2, Attempt: 1},
		herm.StepModel, herm.StepModelData{ToolCalls: calls},
		herm.StepToolStart, herm.StepToolData{ToolCallID: "c1"},
		herm.StepToolResult, herm.StepToolData{ToolCallID: "c1"},
		herm.StepToolStart, herm.StepToolData{ToolCallID: "c2"},
		herm.StepInput, herm.StepInputData{MessageID: "msg_2", Attachments: make([]herm.SavedAttachment, 1)},
		herm.StepModelStart, herm.StepModelStartData{Turn: 3, Attempt: 4},
	))
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.nextTurn(); got != 3 {
		t.Errorf("nextTurn = %d, want 3", got)
	}
	if tr.attempt != 4 {
		t.Errorf("attempt of the next turn = %d, want 4", tr.attempt)
	}
	if got := idsOf(tr.unfinishedCalls()); !slices.Equal(got, []string{"c3"}) {
		t.Errorf("unfinished calls %v, want [c3]", got)
	}
	if got := idsOf(tr.interruptedCalls()); !slices.Equal(got, []string{"c2"}) {
		t.Errorf("interrupted calls %v, want [c2]", got)
	}
	if m := tr.model(); m == nil || len(m.ToolCalls) != 3 {
		t.Errorf("last model turn %+v", m)
	}
	for _, id := range []string{"c0", "c1", "c2", "c3"} {
		if !tr.callIDs[id] {
			t.Errorf("call ID %s not known as used", id)
		}
	}
	if tr.attachments != 3 {
		t.Errorf("attachments = %d, want 3", tr.attachments)
	}
	if c := tr.latestCompaction(); c == nil || c.Summary != "so far" {
		t.Errorf("compaction %+v", c)
	}
	if last := tr.last(); last == nil || last.start == nil || last.Index != tr.len()-1 {
		t.Errorf("last step %+v", last)
	}

	// A step that does not decode is an error.
	if _, err := newTranscript(stepsOf(t, herm.StepModel, "not an object")); err == nil {
		t.Error("a step that does not decode was accepted")
	}
	empty, err := newTranscript(nil)
	if err != nil || empty.last() != nil || empty.model() != nil || empty.nextTurn() != 1 || empty.unfinishedCalls() != nil {
		t.Errorf("empty transcript: %+v %v", empty, err)
	}
}

// TestChangeAppliesAfterCommit checks that a change is invisible until
// applied, and that its usage does not share the run's.
func TestChangeAppliesAfterCommit(t *testing.T) {
	tr, _ := newTranscript(nil)
	one := 1.0
	x := &exec{run: &herm.Run{ID: "run_1", Usage: herm.Usage{ModelCalls: 1, CostUSD: &one}}, tr: tr}
	x.unrecorded = herm.Usage{InputTokens: 5}
	c := x.change()
	two := 2.0
	c.addUsage(herm.Usage{ToolCalls: 1, CostUSD: &two})
	c.steps = append(c.steps, entry{RunStep: &herm.RunStep{Kind: herm.StepModel}, model: &herm.StepModelData{}})
	if *x.run.Usage.CostUSD != 1 || x.run.Usage.ToolCalls != 0 || x.tr.len() != 0 || x.tr.turns != 0 {
		t.Fatalf("an unapplied change shows: usage %+v, %d steps", x.run.Usage, x.tr.len())
	}
	c.apply()
	if *x.run.Usage.CostUSD != 3 || x.run.Usage.ToolCalls != 1 || x.run.Usage.InputTokens != 5 || x.run.Usage.ModelCalls != 1 {
		t.Fatalf("applied usage %+v", x.run.Usage)
	}
	if x.tr.len() != 1 || x.tr.nextTurn() != 2 || x.unrecorded != (herm.Usage{}) {
		t.Fatalf("applied transcript: %d steps, next turn %d, unrecorded %+v", x.tr.len(), x.tr.nextTurn(), x.unrecorded)
	}
}

func TestNow(t *testing.T) {
	at := time.Date(2026, 12, 5, 23, 30, 0, 0, time.UTC)
	for tz, want := range map[string]string{
		"":           "Current date and time: Saturday, 5 December 2026, 23:30 (UTC, UTC+00:00).",
		"Asia/Tokyo": "Current date and time: Sunday, 6 December 2026, 08:30 (Asia/Tokyo, UTC+09:00).",
		"Nope/Zone":  "Current date and time: Saturday, 5 December 2026, 23:30 (UTC, UTC+00:00).",
	} {
		if got := Now(at, tz); got != want {
			t.Errorf("%q: %s", tz, got)
		}
	}
}
