package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	sdk "github.com/hermhq/herm/sdk/go"
)

// send sends a message and prints its run as it streams: tokens as they
// come, tool calls and results folded to a line each, a spinner while the
// model thinks (on a terminal), and steering requests asked inline.
func (x *cli) send(ctx context.Context, depID string, p sdk.MessageSendParams, noWait bool) error {
	var st *sdk.Stream[sdk.Event]
	if !noWait {
		var err error
		// Open the stream first, so that nothing of the run is missed.
		if st, err = x.c.Events.Stream(ctx, depID, sdk.EventStreamParams{}); err != nil {
			return err
		}
		defer st.Close()
	}
	sent, err := x.c.Messages.Send(ctx, depID, p)
	if err != nil {
		return err
	}
	if noWait {
		return x.print(sent, func(w io.Writer) { fmt.Fprintln(w, sent.RunID) })
	}
	if !x.json && sent.Steered {
		fmt.Fprintf(x.errOut, "(the message steers run %s, already under way)\n", sent.RunID)
	}
	return x.followRun(ctx, depID, st, sent.RunID)
}

// followRun prints a run's events from st until it ends.
func (x *cli) followRun(ctx context.Context, depID string, st *sdk.Stream[sdk.Event], runID string) error {
	spin := newSpinner(x.out, x.tty && !x.json)
	defer spin.stop()
	enc := json.NewEncoder(x.out)
	enc.SetEscapeHTML(false)
	midLine := false
	newline := func() {
		if midLine {
			fmt.Fprintln(x.out)
			midLine = false
		}
	}
	input := bufio.NewReader(x.in)
	spin.start()
	for e, err := range st.All() {
		if err != nil {
			spin.stop()
			newline()
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted; run %s goes on (herm runs cancel %s %s stops it)", runID, depID, runID)
			}
			return err
		}
		if e.RunID != runID {
			continue
		}
		spin.stop()
		if x.json {
			if err := enc.Encode(json.RawMessage(e.Data)); err != nil {
				return err
			}
		}
		switch e.Type {
		case "token":
			var t sdk.TokenEvent
			if err := e.Decode(&t); err != nil {
				return err
			}
			if !x.json {
				fmt.Fprint(x.out, t.Delta)
				midLine = !strings.HasSuffix(t.Delta, "\n")
			}
			continue // no spinner mid-answer
		case "turn_abandoned":
			if !x.json {
				newline()
				fmt.Fprintln(x.out, "[the answer above was cut off and is being redone]")
			}
		case "message":
			var m sdk.MessageEvent
			if err := e.Decode(&m); err == nil && m.Role == "agent" && !x.json {
				newline()
			}
		case "tool_call":
			var c sdk.ToolCallEvent
			if err := e.Decode(&c); err != nil {
				return err
			}
			if !x.json {
				newline()
				fmt.Fprintf(x.out, "⚙ %s %s\n", c.Tool, oneLine(string(c.Arguments), 100))
			}
		case "tool_result":
			var r sdk.ToolResultEvent
			if err := e.Decode(&r); err != nil {
				return err
			}
			if !x.json {
				newline()
				mark := "↳"
				if r.IsError {
					mark = "↳ error:"
				}
				lines := strings.Count(strings.TrimRight(r.Result, "\n"), "\n") + 1
				more := ""
				if lines > 1 {
					more = fmt.Sprintf(" (%d lines)", lines)
				}
				fmt.Fprintf(x.out, "  %s %s%s\n", mark, oneLine(r.Result, 100), more)
			}
		case "steering_request":
			var s sdk.SteeringRequestEvent
			if err := e.Decode(&s); err != nil {
				return err
			}
			newline()
			if err := x.askHuman(ctx, depID, input, s); err != nil {
				return err
			}
		case "run_status":
			var s sdk.RunStatusEvent
			if err := e.Decode(&s); err != nil {
				return err
			}
			switch s.Status {
			case sdk.RunCompleted:
				newline()
				return nil
			case sdk.RunCancelled:
				newline()
				return fmt.Errorf("run %s was cancelled", runID)
			case sdk.RunError:
				newline()
				why := "no error was given"
				if s.Error != nil {
					why = s.Error.Code + ": " + s.Error.Message
				}
				return fmt.Errorf("run %s failed: %s", runID, why)
			}
		}
		spin.start()
	}
	return errors.New("the event stream ended before the run did")
}

// askHuman asks the person at the terminal to answer a steering request
// and sends the answer.
func (x *cli) askHuman(ctx context.Context, depID string, in *bufio.Reader, s sdk.SteeringRequestEvent) error {
	prompt := x.errOut
	if !x.json {
		prompt = x.out
	}
	var r sdk.SteeringResponse
	if s.Kind == "question" {
		fmt.Fprintf(prompt, "? %s\n", s.Summary)
		if len(s.Options) > 0 {
			fmt.Fprintf(prompt, "  (%s)\n", strings.Join(s.Options, " / "))
		}
		fmt.Fprint(prompt, "answer> ")
		line, err := in.ReadString('\n')
		if line = strings.TrimSpace(line); line == "" {
			return x.unanswered(depID, s, err)
		}
		r = sdk.SteeringResponse{Decision: sdk.DecisionAnswer, Message: line}
	} else {
		fmt.Fprintf(prompt, "? %s\n  %s %s\nApprove? [y/n] ", s.Summary, s.Tool, oneLine(string(s.Arguments), 200))
		for {
			line, err := in.ReadString('\n')
			switch strings.ToLower(strings.TrimSpace(line)) {
			case "y", "yes":
				r = sdk.SteeringResponse{Decision: sdk.DecisionApprove}
			case "n", "no":
				r = sdk.SteeringResponse{Decision: sdk.DecisionDeny, Message: "denied at the terminal"}
			default:
				if err != nil {
					return x.unanswered(depID, s, err)
				}
				fmt.Fprint(prompt, "please answer y or n: ")
				continue
			}
			break
		}
	}
	if _, err := x.c.Steering.Respond(ctx, depID, s.SteeringRequestID, r); err != nil {
		return err
	}
	if !x.json {
		fmt.Fprintf(x.out, "  → %s\n", r.Decision)
	}
	return nil
}

// unanswered is the error of a steering request no one answered at the
// terminal (its input ended).
func (x *cli) unanswered(depID string, s sdk.SteeringRequestEvent, err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("no answer on the input: the run waits; answer with herm steering respond %s %s approve|deny|answer [message]", depID, s.SteeringRequestID)
	}
	return err
}

// events prints a deployment's events: the stored ones (from after, or
// the oldest), then with follow the stream, until ctx ends.
func (x *cli) events(ctx context.Context, depID string, follow bool, after string, types []string, runID, threadID string) error {
	show := func(e *sdk.Event) error {
		if x.json {
			_, err := fmt.Fprintf(x.out, "%s\n", e.Data)
			return err
		}
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(e.Data, &fields)
		for _, k := range []string{"event_id", "sequence", "type", "deployment_id", "thread_id", "run_id", "created_at"} {
			delete(fields, k)
		}
		rest, _ := json.Marshal(fields)
		_, err := fmt.Fprintf(x.out, "%s  %s  %s  %-16s %s\n", e.ID, e.CreatedAt.UTC().Format("15:04:05.000"), orDash(e.RunID), e.Type, oneLine(string(rest), 160))
		return err
	}
	if !follow {
		for e, err := range x.c.Events.All(ctx, depID, sdk.EventListParams{After: after, Types: types, RunID: runID, ThreadID: threadID, Limit: 1000}) {
			if err != nil {
				return err
			}
			if err := show(e); err != nil {
				return err
			}
		}
		return nil
	}
	// --follow goes on until it is interrupted: through a server's restart
	// however long, reopening the stream after the last event printed.
	c := x.client(sdk.WithReconnects(math.MaxInt32))
	st, err := c.Events.Stream(ctx, depID, sdk.EventStreamParams{LastEventID: after, Types: types, RunID: runID, ThreadID: threadID})
	return followStream(ctx, st, err, show)
}

// followStream shows a stream's events (st and err as its Stream call
// returned them) until it is interrupted, the normal end of --follow.
func followStream[T any](ctx context.Context, st *sdk.Stream[T], err error, show func(*T) error) error {
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted before the stream opened
		}
		return err
	}
	defer st.Close()
	for e, err := range st.All() {
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: the normal end of --follow
			}
			return err
		}
		if err := show(&e); err != nil {
			return err
		}
	}
	return nil
}

// spinner shows that the model is thinking, on a terminal only.
type spinner struct {
	w       io.Writer
	enabled bool
	mu      sync.Mutex
	stopc   chan struct{}
	done    chan struct{}
}

func newSpinner(w io.Writer, enabled bool) *spinner { return &spinner{w: w, enabled: enabled} }

func (s *spinner) start() {
	if !s.enabled {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopc != nil {
		return
	}
	s.stopc, s.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				if i > 0 {
					fmt.Fprint(s.w, "\r\033[K") // clear the spinner's line
				}
				return
			case <-t.C:
				fmt.Fprintf(s.w, "\r%s thinking…", frames[i%len(frames)])
			}
		}
	}(s.stopc, s.done)
}

// stop stops the spinner and waits until its line is cleared; safe to call
// when it is not spinning.
func (s *spinner) stop() {
	s.mu.Lock()
	stop, done := s.stopc, s.done
	s.stopc, s.done = nil, nil
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}
