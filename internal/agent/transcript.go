package agent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// transcript is a run's steps, each decoded once (when the execution reads
// them, or when it records one), with what the loop asks of them kept up to
// date: the last model turn and which of its calls started and finished,
// the current turn's attempts, the call IDs used, the attachments saved, the
// latest compaction. It changes only through change.apply, after the
// transaction that recorded the steps committed.
type transcript struct {
	entries []entry

	turns       int             // recorded model turns
	lastModel   int             // index of the last model step, -1 when none
	started     map[string]bool // calls of the last model turn with a tool_start
	finished    map[string]bool // ... and with a tool_result
	attempt     int             // highest model_start attempt of the next turn
	callIDs     map[string]bool // tool call IDs of every model turn
	attachments int             // attachments saved by input steps
	compaction  int             // index of the latest compaction step, -1 when none
}

// entry is a step with its decoded data (the field of its kind is set).
type entry struct {
	*herm.RunStep
	input      *herm.StepInputData
	model      *herm.StepModelData
	tool       *herm.StepToolData // tool_start, tool_result
	start      *herm.StepModelStartData
	compaction *herm.StepCompactionData
	repair     *herm.StepOutputRepairData
}

// newTranscript decodes a run's stored steps.
func newTranscript(steps []*herm.RunStep) (*transcript, error) {
	t := &transcript{lastModel: -1, compaction: -1, started: map[string]bool{}, finished: map[string]bool{}, callIDs: map[string]bool{}}
	for _, s := range steps {
		e := entry{RunStep: s}
		var v any
		switch s.Kind {
		case herm.StepInput:
			e.input = new(herm.StepInputData)
			v = e.input
		case herm.StepModel:
			e.model = new(herm.StepModelData)
			v = e.model
		case herm.StepToolStart, herm.StepToolResult:
			e.tool = new(herm.StepToolData)
			v = e.tool
		case herm.StepModelStart:
			e.start = new(herm.StepModelStartData)
			v = e.start
		case herm.StepCompaction:
			e.compaction = new(herm.StepCompactionData)
			v = e.compaction
		case herm.StepOutputRepair:
			e.repair = new(herm.StepOutputRepairData)
			v = e.repair
		}
		if v != nil {
			if err := json.Unmarshal(s.Data, v); err != nil {
				return nil, fmt.Errorf("run %s step %d (%s): %w", s.RunID, s.Index, s.Kind, err)
			}
		}
		t.push(e)
	}
	return t, nil
}

// push adds an entry and updates what the loop asks.
func (t *transcript) push(e entry) {
	t.entries = append(t.entries, e)
	i := len(t.entries) - 1
	switch {
	case e.model != nil:
		t.turns++
		t.lastModel, t.attempt = i, 0
		t.started, t.finished = map[string]bool{}, map[string]bool{}
		for _, c := range e.model.ToolCalls {
			t.callIDs[c.ID] = true
		}
	case e.tool != nil && e.Kind == herm.StepToolStart:
		t.started[e.tool.ToolCallID] = true
	case e.tool != nil:
		t.finished[e.tool.ToolCallID] = true
	case e.start != nil:
		if e.start.Turn == t.turns+1 {
			t.attempt = max(t.attempt, e.start.Attempt)
		}
	case e.input != nil:
		t.attachments += len(e.input.Attachments)
	case e.compaction != nil:
		t.compaction = i
	}
}

// len is the number of steps, the next step's index.
func (t *transcript) len() int { return len(t.entries) }

// last returns the last step (nil when there is none).
func (t *transcript) last() *entry {
	if len(t.entries) == 0 {
		return nil
	}
	return &t.entries[len(t.entries)-1]
}

// model returns the last model turn (nil when there is none).
func (t *transcript) model() *herm.StepModelData {
	if t.lastModel < 0 {
		return nil
	}
	return t.entries[t.lastModel].model
}

// unfinishedCalls returns the last model turn's calls that never started.
func (t *transcript) unfinishedCalls() []herm.StepToolCall {
	var out []herm.StepToolCall
	if m := t.model(); m != nil {
		for _, c := range m.ToolCalls {
			if !t.started[c.ID] && !t.finished[c.ID] {
				out = append(out, c)
			}
		}
	}
	return out
}

// interruptedCalls returns the last model turn's calls that started and
// have no result (a crash or a stop cut them).
func (t *transcript) interruptedCalls() []herm.StepToolCall {
	var out []herm.StepToolCall
	if m := t.model(); m != nil {
		for _, c := range m.ToolCalls {
			if t.started[c.ID] && !t.finished[c.ID] {
				out = append(out, c)
			}
		}
	}
	return out
}

// nextTurn returns the ordinal of the run's next model turn.
func (t *transcript) nextTurn() int { return t.turns + 1 }

// latestCompaction returns the run's own latest compaction (nil when none).
func (t *transcript) latestCompaction() *herm.StepCompactionData {
	if t.compaction < 0 {
		return nil
	}
	return t.entries[t.compaction].compaction
}

// change is what one transaction records of a run: steps appended to its
// transcript and usage added to its totals. Nothing of it is visible to
// the loop until apply, which the caller runs once the transaction
// committed; a failed transaction just drops it.
type change struct {
	x     *exec
	steps []entry
	usage herm.Usage // the run's totals with this change
}

// change starts a change of x's run.
func (x *exec) change() *change {
	c := &change{x: x, usage: x.run.Usage}
	if x.run.Usage.CostUSD != nil {
		cost := *x.run.Usage.CostUSD
		c.usage.CostUSD = &cost
	}
	x.usageMu.Lock()
	addUsage(&c.usage, x.unrecorded)
	x.usageMu.Unlock()
	return c
}

// step appends a step in the transaction; data is one of the step data
// types (herm.StepInputData, ...), by value.
func (c *change) step(ctx context.Context, q store.Querier, kind string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	s := &herm.RunStep{RunID: c.x.run.ID, Index: c.x.tr.len() + len(c.steps), Kind: kind, Data: raw, CreatedAt: c.x.a.now().UTC()}
	if err := q.AppendStep(ctx, s); err != nil {
		return err
	}
	e := entry{RunStep: s}
	switch d := data.(type) {
	case herm.StepInputData:
		e.input = &d
	case herm.StepModelData:
		e.model = &d
	case herm.StepToolData:
		e.tool = &d
	case herm.StepModelStartData:
		e.start = &d
	case herm.StepCompactionData:
		e.compaction = &d
	case *herm.StepCompactionData:
		e.compaction = d
	case herm.StepOutputRepairData:
		e.repair = &d
	default:
		return fmt.Errorf("agent: a %s step with data %T", kind, data)
	}
	c.steps = append(c.steps, e)
	return nil
}

// addUsage adds a model call's usage (or a tool call's count) to the totals.
func (c *change) addUsage(d herm.Usage) { addUsage(&c.usage, d) }

// saveRun stores the run's totals with this change, checking the lease.
func (c *change) saveRun(ctx context.Context, q store.Querier) error {
	r := *c.x.run
	r.Usage = c.usage
	return q.UpdateRun(ctx, &r, c.x.owner)
}

// apply makes the committed change the loop's state.
func (c *change) apply() {
	for _, e := range c.steps {
		c.x.tr.push(e)
	}
	c.x.run.Usage = c.usage
	c.x.usageMu.Lock()
	c.x.unrecorded = herm.Usage{} // folded into this change (nothing adds to it meanwhile: see usage)
	c.x.usageMu.Unlock()
}

// record runs fn in one transaction (eventlog.Tx: earlier events flushed
// first, fn's events appended with it and published after the commit) with
// a change of the run, applied once it committed.
func (x *exec) record(ctx context.Context, fn func(q store.Querier, c *change) ([]*herm.Event, error)) error {
	var c *change
	err := x.a.log.Tx(ctx, func(q store.Querier) ([]*herm.Event, error) {
		c = x.change()
		return fn(q, c)
	})
	if err != nil {
		return err
	}
	c.apply()
	return nil
}

// addUsage adds d to total (costs add when d has one).
func addUsage(total *herm.Usage, d herm.Usage) { total.Add(d) }

// repaired reports whether the run had its output repair turn.
func (t *transcript) repaired() bool {
	for _, e := range t.entries {
		if e.repair != nil {
			return true
		}
	}
	return false
}
