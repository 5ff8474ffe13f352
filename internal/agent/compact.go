package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/store"
)

// Context management: before each model call the agent estimates the
// context's size (characters/4, calibrated by the tokens the provider
// reported for the previous call). When it passes CompactAt of the model's
// window, the older part of the conversation — earlier runs' messages and
// this run's older turns, never a tool call without its result — is
// replaced by a summary the model writes, while the latest turns stay
// verbatim. The compaction is a run step and a compaction event; the full
// history stays in the store.

// unit is a piece of context kept or summarized whole: a thread message, a
// user input, or a model turn with its tool results.
type unit struct {
	msgs      []llm.Message
	msgIDs    []string  // the thread messages it shows (transcript units)
	historyAt time.Time // a thread message's created_at (zero for transcript units)
	lastStep  int       // a transcript unit's last step index (-1 for thread messages)
}

const summaryTag = "summary of the earlier conversation"

// compactSystem instructs the summarizing call.
const compactSystem = "You compact an AI agent's conversation so that the agent can go on working with less context. " +
	"Write a faithful, dense summary of the transcript you are given: the user's goals and requests, decisions made, " +
	"facts learned, files and commands involved with their important results, errors met, and what remains to do. " +
	"Keep names, paths, numbers and identifiers exact. Write it as notes for the agent itself; no preamble."

// compaction returns the compaction in force for this run: its own latest
// one, else the thread's latest (from an earlier run), else nil.
func (x *exec) compaction(ctx context.Context) (*herm.StepCompactionData, bool, error) {
	if d := x.tr.latestCompaction(); d != nil {
		return d, true, nil
	}
	s, err := x.a.store.LatestCompaction(ctx, x.run.ThreadID)
	if herm.IsCode(err, herm.ENotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var d herm.StepCompactionData
	if err := json.Unmarshal(s.Data, &d); err != nil {
		return nil, false, err
	}
	return &d, false, nil
}

// units builds the context after the compaction in force.
func (x *exec) units(ctx context.Context, comp *herm.StepCompactionData, own bool) ([]unit, error) {
	hist, err := x.a.store.ListMessages(ctx, x.run.ThreadID, 4*x.a.opts.HistoryMessages)
	if err != nil {
		return nil, err
	}
	var out []unit
	covered := map[string]bool{}
	if comp != nil {
		for _, id := range comp.CoveredMessages {
			covered[id] = true
		}
	}
	for _, m := range hist {
		if m.RunID == x.run.ID {
			continue // this run's own messages come from its transcript
		}
		if comp != nil && (!m.CreatedAt.After(comp.HistoryUntil) || covered[m.ID]) {
			continue
		}
		role := llm.RoleUser
		if m.Role == herm.RoleAgent {
			role = llm.RoleAssistant
		}
		out = append(out, unit{msgs: []llm.Message{{Role: role, Content: m.Content}}, historyAt: m.CreatedAt, lastStep: -1})
	}
	from := 0
	if comp != nil && own {
		from = comp.StepsUntil + 1
	}
	for _, s := range x.tr.entries {
		if s.Index < from {
			continue
		}
		switch s.Kind {
		case herm.StepInput:
			d := *s.input
			out = append(out, unit{msgs: []llm.Message{x.inputMessage(ctx, d)}, msgIDs: []string{d.MessageID}, lastStep: s.Index})
		case herm.StepModel:
			d := s.model
			m := llm.Message{Role: llm.RoleAssistant, Content: d.Text}
			for _, t := range d.Thinking {
				m.Thinking = append(m.Thinking, llm.Thinking(t))
			}
			for _, c := range d.ToolCalls {
				m.ToolCalls = append(m.ToolCalls, llm.ToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments})
			}
			u := unit{msgs: []llm.Message{m}, lastStep: s.Index}
			if d.MessageID != "" {
				u.msgIDs = []string{d.MessageID}
			}
			out = append(out, u)
		case herm.StepOutputRepair:
			out = append(out, unit{msgs: []llm.Message{{Role: llm.RoleUser, Content: repairPrompt(s.repair.Error)}}, lastStep: s.Index})
		case herm.StepToolResult:
			d := s.tool
			msg := llm.Message{Role: llm.RoleTool, ToolCallID: d.ToolCallID, Content: d.Result, IsError: d.IsError}
			msg.Images = x.readImages(ctx, d.Images)
			if n := len(out); n > 0 && out[n-1].lastStep >= 0 && len(out[n-1].msgs) > 0 &&
				(out[n-1].msgs[0].Role == llm.RoleAssistant) {
				out[n-1].msgs = append(out[n-1].msgs, msg) // with its model turn
				out[n-1].lastStep = s.Index
			} else {
				out = append(out, unit{msgs: []llm.Message{msg}, lastStep: s.Index})
			}
		}
	}
	return out, nil
}

// flatten turns units into messages that start with the user, as providers
// want: after a summary, a short user note opens the conversation (the
// turns that follow must stay whole); without one, leading agent messages
// of the history are left out.
func flatten(units []unit, summarized bool) []llm.Message {
	n := 0
	for _, u := range units {
		n += len(u.msgs)
	}
	out := make([]llm.Message, 0, n+1)
	for _, u := range units {
		out = append(out, u.msgs...)
	}
	if len(out) > 0 && out[0].Role != llm.RoleUser && summarized {
		return append([]llm.Message{{Role: llm.RoleUser, Content: continueNote}}, out...)
	}
	for len(out) > 0 && out[0].Role != llm.RoleUser {
		out = out[1:]
	}
	return out
}

// continueNote opens a compacted conversation that goes on with the agent.
const continueNote = "(The earlier part of this conversation is summarized in the system prompt. Continue from where you are.)"

func systemWith(system string, comp *herm.StepCompactionData) string {
	if comp == nil || comp.Summary == "" {
		return system
	}
	return system + "\n\n<" + summaryTag + ">\n" + comp.Summary + "\n</" + summaryTag + ">"
}

// estimate is a request's size in tokens: about 4 characters a token, plus
// a little per message, times the calibration from the provider's counts.
func (x *exec) estimate(system string, msgs []llm.Message) int {
	n := len(system)
	for _, s := range x.specs {
		n += len(s.Name) + len(s.Description) + len(s.InputSchema)
	}
	for _, m := range msgs {
		n += len(m.Content) + 16 + 4000*len(m.Images) // an image counts about 1,000 tokens
		for _, c := range m.ToolCalls {
			n += len(c.Name) + len(c.Arguments) + 16
		}
	}
	t := float64(n) / 4
	if x.calib > 0 {
		t *= x.calib
	}
	return int(t) + 1
}

// request builds the model's context, compacting it first when it is too
// large for the model's window.
func (x *exec) request(ctx context.Context, provider llm.Provider, model string) (string, []llm.Message, error) {
	comp, own, err := x.compaction(ctx)
	if err != nil {
		return "", nil, err
	}
	units, err := x.units(ctx, comp, own)
	if err != nil {
		return "", nil, err
	}
	system, msgs := systemWith(x.system, comp), limitImages(flatten(units, comp != nil))
	window := x.a.opts.ContextWindows.Lookup(x.cfg.Model)
	limit := int(float64(window) * x.a.opts.CompactAt)
	before := x.estimate(system, msgs)
	if before <= limit && len(units) <= x.a.opts.HistoryMessages {
		return system, msgs, nil
	}
	keep := x.a.opts.KeepRecent
	if len(units) <= keep {
		return system, msgs, nil // nothing older to summarize: try as it is
	}
	// Keep as many recent units verbatim as fit in half the limit (at least
	// KeepRecent); summarize the rest.
	cut := len(units) - keep
	for cut > 0 && x.estimate(system, flatten(units[cut-1:], true)) < limit/2 {
		cut--
	}
	if cut == 0 {
		return system, msgs, nil
	}
	// What one summarizing call can read: about three quarters of the
	// window, less the summary so far. Older units beyond that wait for a
	// later compaction (they stay verbatim meanwhile).
	avail := window*3 - 400
	if comp != nil {
		avail -= len(comp.Summary)
	}
	n, size := 0, 0
	for n < cut {
		size += rendered(units[n])
		if size > avail && n > 0 {
			break
		}
		n++
	}
	cut = n
	old := units[:cut]
	summary, err := x.summarize(ctx, provider, model, comp, old, window)
	if err != nil {
		return "", nil, err
	}
	next := &herm.StepCompactionData{Summary: summary, StepsUntil: -1}
	if comp != nil {
		next.HistoryUntil = comp.HistoryUntil
		if own {
			next.StepsUntil = comp.StepsUntil
		}
		next.CoveredMessages = comp.CoveredMessages
	}
	for _, u := range old {
		next.CoveredMessages = append(next.CoveredMessages, u.msgIDs...)
		next.Messages += len(u.msgs)
		if u.lastStep >= 0 {
			next.StepsUntil = u.lastStep
		} else if u.historyAt.After(next.HistoryUntil) {
			next.HistoryUntil = u.historyAt
		}
	}
	if n := len(next.CoveredMessages); n > 4*x.a.opts.HistoryMessages {
		next.CoveredMessages = next.CoveredMessages[n-4*x.a.opts.HistoryMessages:] // older ones are behind HistoryUntil by then
	}
	system, msgs = systemWith(x.system, next), limitImages(flatten(units[cut:], true))
	next.TokensBefore, next.TokensAfter = before, x.estimate(system, msgs)
	if err := x.recordCompaction(ctx, next); err != nil {
		return "", nil, err
	}
	return system, msgs, nil
}

// summarize asks the model for a summary of units (and of the summary they
// follow), fitting the transcript into its window.
func (x *exec) summarize(ctx context.Context, provider llm.Provider, model string, prev *herm.StepCompactionData, units []unit, window int) (string, error) {
	budget := window * 3 // characters: about three quarters of the window in tokens
	per := budget
	if n := countMsgs(units); n > 0 {
		per = max(budget/n, 200)
	}
	var b strings.Builder
	if prev != nil && prev.Summary != "" {
		fmt.Fprintf(&b, "Summary so far:\n%s\n\n", prev.Summary)
	}
	b.WriteString("Transcript to add:\n")
	for _, u := range units {
		for _, m := range u.msgs {
			switch m.Role {
			case llm.RoleUser:
				fmt.Fprintf(&b, "User: %s\n", clip(m.Content, per))
			case llm.RoleAssistant:
				if m.Content != "" {
					fmt.Fprintf(&b, "Agent: %s\n", clip(m.Content, per))
				}
				for _, c := range m.ToolCalls {
					fmt.Fprintf(&b, "Agent called %s %s\n", c.Name, clip(string(c.Arguments), per/2))
				}
			case llm.RoleTool:
				status := "result"
				if m.IsError {
					status = "error"
				}
				fmt.Fprintf(&b, "Tool %s (%s): %s\n", status, m.ToolCallID, clip(m.Content, per))
			}
		}
	}
	limit := min(max(window/8, 256), 8192)
	req := llm.Request{
		Model: model, System: compactSystem + fmt.Sprintf(" Keep it under %d words.", limit*2/3), MaxTokens: limit,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: b.String() + "\n\nWrite the updated summary."}},
	}
	resp, err := provider.Stream(ctx, req, func(llm.Delta) {})
	if x.a.opts.OnModelCall != nil {
		var u llm.Usage
		if resp != nil {
			u = resp.Usage
		}
		x.a.opts.OnModelCall(x.cfg.Model, u, err)
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", &modelError{fmt.Errorf("compacting the conversation: %w", err)}
	}
	x.pendingUsage = append(x.pendingUsage, resp.Usage)
	summary := strings.TrimSpace(resp.Text)
	if summary == "" {
		return "", &modelError{fmt.Errorf("compacting the conversation: the model wrote an empty summary")}
	}
	return summary, nil
}

func countMsgs(units []unit) int {
	n := 0
	for _, u := range units {
		n += len(u.msgs)
	}
	return n
}

// recordCompaction stores the compaction step with its event, and the
// summarizing call's usage.
func (x *exec) recordCompaction(ctx context.Context, c *herm.StepCompactionData) error {
	evs := []*herm.Event{x.event(herm.EventCompaction, map[string]any{
		"messages": c.Messages, "tokens_before": c.TokensBefore, "tokens_after": c.TokensAfter, "summary": c.Summary,
	})}
	var used []herm.Usage
	for _, u := range x.pendingUsage {
		ev, add := x.usage(u, "compaction")
		evs = append(evs, ev)
		used = append(used, add)
	}
	err := x.record(ctx, func(q store.Querier, ch *change) ([]*herm.Event, error) {
		if err := ch.step(ctx, q, herm.StepCompaction, c); err != nil {
			return nil, err
		}
		for _, u := range used {
			ch.addUsage(u)
		}
		if err := ch.saveRun(ctx, q); err != nil {
			return nil, err
		}
		return evs, nil
	})
	if err != nil {
		return err
	}
	x.pendingUsage = nil
	return nil
}

// rendered estimates a unit's size in the summarizing call's transcript.
func rendered(u unit) int {
	n := 0
	for _, m := range u.msgs {
		n += len(m.Content) + 24
		for _, c := range m.ToolCalls {
			n += len(c.Name) + len(c.Arguments) + 24
		}
	}
	return n
}

// inputMessage is a user input for the model: its text, a note of the
// attachments saved in the workspace, and images as image input.
func (x *exec) inputMessage(ctx context.Context, d herm.StepInputData) llm.Message {
	m := llm.Message{Role: llm.RoleUser, Content: d.Content}
	if len(d.Attachments) == 0 {
		return m
	}
	var b strings.Builder
	b.WriteString(d.Content)
	b.WriteString("\n\n[Attachments, saved in the workspace:")
	for _, a := range d.Attachments {
		fmt.Fprintf(&b, "\n- %s (%s, %s, %d bytes)", a.Path, a.Type, a.MediaType, a.Size)
		if a.Type == herm.AttachImage && herm.IsImageType(a.MediaType) && x.a.opts.Attachments != nil && x.images {
			data, err := x.a.opts.Attachments.Read(ctx, x.cfg, a.Path)
			switch {
			case err != nil:
				b.WriteString(" — could not be read back: " + herm.ErrorMessage(err))
			case len(data) > maxImageBytes:
				b.WriteString(" — too large to show you as an image")
			case http.DetectContentType(data) != a.MediaType:
				b.WriteString(" — not shown to you: the file is no longer that image")
			default:
				m.Images = append(m.Images, llm.Image{MediaType: a.MediaType, Data: data})
				b.WriteString(" — also shown to you as an image")
			}
		} else if a.Type != herm.AttachFile {
			// Audio, video, and images a model without image input
			// cannot see: said, so that it works on the file instead.
			b.WriteString(" — not shown to you (your model takes no " + a.Type + " input); work on the file with your tools")
		}
	}
	b.WriteString("]")
	m.Content = b.String()
	return m
}

// Images one model request carries at most: the newest are kept (a
// provider refuses requests past its own limits, and old screenshots cost
// much and tell little).
const (
	maxRequestImages     = 8
	maxRequestImageBytes = 20 << 20
)

// limitImages keeps the newest images of msgs within the request limits;
// the messages whose images are dropped say so.
func limitImages(msgs []llm.Message) []llm.Message {
	n, size := 0, 0
	for i := len(msgs) - 1; i >= 0; i-- {
		m := &msgs[i]
		if len(m.Images) == 0 {
			continue
		}
		var kept []llm.Image
		for j := len(m.Images) - 1; j >= 0; j-- {
			im := m.Images[j]
			if n < maxRequestImages && size+len(im.Data) <= maxRequestImageBytes {
				kept = append([]llm.Image{im}, kept...)
				n++
				size += len(im.Data)
			}
		}
		if len(kept) < len(m.Images) {
			m.Content += fmt.Sprintf("\n[%d of its images are no longer shown; the files are in the workspace]", len(m.Images)-len(kept))
			m.Images = kept
		}
	}
	return msgs
}

// readImages reads a tool result's saved images back for the model
// (none when it takes no images). One deleted or replaced since by
// something that is not that image is left out: the text still names it.
func (x *exec) readImages(ctx context.Context, saved []herm.SavedAttachment) []llm.Image {
	if x.a.opts.Attachments == nil || !x.images {
		return nil
	}
	var out []llm.Image
	for _, im := range saved {
		data, err := x.a.opts.Attachments.Read(ctx, x.cfg, im.Path)
		if err != nil || len(data) > maxImageBytes || http.DetectContentType(data) != im.MediaType {
			continue
		}
		out = append(out, llm.Image{MediaType: im.MediaType, Data: data})
	}
	return out
}
