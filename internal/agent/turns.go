package agent

import (
	"context"
	"strings"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/secrets"
	"github.com/hermhq/herm/internal/store"
)

// Model turns and their attempts. A model turn streams its text as token
// events before it is recorded; when it is tried again (after a crash or a
// stop, or when its deltas turn out not to be its text) or fails midway,
// the deltas already out are void. Every token and reasoning event carries
// turn (the model call's ordinal in the run) and attempt (1, then +1 for
// each redo); a message carries turn; turn_abandoned {turn, attempt} is in
// the log before a redo's first delta, and after a stream that failed or
// was cancelled midway. So the token deltas of a turn's last attempt that
// is not abandoned add up to its message's content exactly.
//
// Attempts survive kill -9: each one begins with a model_start step
// recorded before the call streams anything. A redo finds the turn's last
// model_start in the transcript and records the next attempt's step with
// the last one's turn_abandoned in one transaction; whatever deltas of the
// earlier attempt reached the log before the crash (and so any client)
// carry that attempt's number.

// startAttempt records that an attempt at turn begins and returns its
// number. An earlier attempt of the same turn (one that a crash, a stop or
// a diverging stream left unrecorded) is abandoned in the same transaction,
// so its turn_abandoned event is in the log before anything of the new
// attempt.
func (x *exec) startAttempt(ctx context.Context, turn int) (int, error) {
	prev := 0
	if turn == x.tr.nextTurn() {
		prev = x.tr.attempt
	}
	var evs []*herm.Event
	if prev > 0 {
		// Deltas this process emitted for the earlier attempt come first
		// (record flushes them).
		evs = append(evs, x.event(herm.EventTurnAbandoned, map[string]any{"turn": turn, "attempt": prev}))
	}
	attempt := prev + 1
	err := x.record(ctx, func(q store.Querier, c *change) ([]*herm.Event, error) {
		if err := c.step(ctx, q, herm.StepModelStart, herm.StepModelStartData{Turn: turn, Attempt: attempt}); err != nil {
			return nil, err
		}
		// Checks the lease: a runner that lost the run starts no attempt.
		if err := c.saveRun(ctx, q); err != nil {
			return nil, err
		}
		return evs, nil
	})
	if err != nil {
		return 0, err
	}
	return attempt, nil
}

// abandon appends the turn_abandoned event of an attempt that failed or
// was cancelled after some of its deltas went out.
func (x *exec) abandon(ctx context.Context, ts *turnStream) error {
	if !ts.emitted {
		return nil
	}
	return x.a.log.Append(ctx, ts.abandoned())
}

// turnStream turns the deltas of one attempt at a model turn into token and
// reasoning events: redacted (with one secrets.Stream each, so that a value
// split across deltas is caught; what they hold back goes out when the
// attempt ends), tagged with turn and attempt, and kept, so that the turn's
// message is exactly the text its token events carried.
type turnStream struct {
	x        *exec
	tag      func(map[string]any) map[string]any // a subagent's fields; nil for the run's own turns
	turn     int
	attempt  int
	tok, rsn *secrets.Stream
	raw      strings.Builder // the text as the model sent it
	text     strings.Builder // the text as the token events carried it
	emitted  bool            // a delta went out
}

func (x *exec) newTurnStream(turn, attempt int, tag func(map[string]any) map[string]any) *turnStream {
	return &turnStream{x: x, tag: tag, turn: turn, attempt: attempt, tok: x.redactor.Stream(), rsn: x.redactor.Stream()}
}

func (s *turnStream) fields(f map[string]any) map[string]any {
	f["turn"] = s.turn
	if s.tag != nil {
		f = s.tag(f)
	}
	return f
}

func (s *turnStream) emit(typ, delta string) {
	if delta == "" {
		return
	}
	// A model's NUL becomes U+FFFD, in the deltas and so in the message
	// (no text column of PostgreSQL stores NUL).
	delta = strings.ReplaceAll(delta, "\x00", "\uFFFD")
	s.emitted = true
	if typ == herm.EventToken {
		s.text.WriteString(delta)
	}
	s.x.a.log.Emit(s.x.event(typ, s.fields(map[string]any{"delta": delta, "attempt": s.attempt})))
}

// delta is the model call's onDelta.
func (s *turnStream) delta(d llm.Delta) {
	if d.Reasoning != "" {
		s.emit(herm.EventReasoning, s.rsn.Write(d.Reasoning))
	}
	if d.Text != "" {
		if s.rsn.Pending() > 0 {
			s.emit(herm.EventReasoning, s.rsn.Flush()) // the reasoning that led to the text goes first
		}
		s.raw.WriteString(d.Text)
		s.emit(herm.EventToken, s.tok.Write(d.Text))
	}
}

// finish ends an attempt that streamed successfully, whose response's text
// is text: what was held back goes out, and it returns the (redacted) text
// the token events carried, the turn's message. It returns false, sending
// nothing more, when the deltas were not the start of text: they cannot add
// up to the message, and the turn needs another attempt that streams text
// whole. Text that no delta carried (a provider that does not stream it)
// goes out now.
func (s *turnStream) finish(text string) (string, bool) {
	rest, ok := strings.CutPrefix(text, s.raw.String())
	if !ok {
		return "", false
	}
	s.raw.WriteString(rest)
	s.emit(herm.EventReasoning, s.rsn.Flush())
	s.emit(herm.EventToken, s.tok.Write(rest)+s.tok.Flush())
	return s.text.String(), true
}

// abandoned is the attempt's turn_abandoned event.
func (s *turnStream) abandoned() *herm.Event {
	return s.x.event(herm.EventTurnAbandoned, s.fields(map[string]any{"attempt": s.attempt}))
}
