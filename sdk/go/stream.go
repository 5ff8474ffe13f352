package herm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is one event of a deployment: the fields every event has, and the
// whole payload in Data (decode the type's own fields with Decode).
type Event struct {
	ID           string    `json:"event_id"` // evt_<sequence>
	Sequence     int64     `json:"sequence"`
	Type         string    `json:"type"`
	DeploymentID string    `json:"deployment_id"`
	ThreadID     string    `json:"thread_id"` // empty for a deployment's own events
	RunID        string    `json:"run_id"`    // empty for events of no run
	CreatedAt    time.Time `json:"created_at"`

	// Data is the event's JSON payload as sent.
	Data json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the whole payload in Data.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	e.Data = append(json.RawMessage(nil), b...)
	return nil
}

// Decode decodes the event's payload into v (a struct with the fields of
// the event's type, such as TokenEvent, or a map).
func (e Event) Decode(v any) error { return json.Unmarshal(e.Data, v) }

// The payloads of the event types a client most often reads; decode them
// from an Event with Decode.
type (
	// TokenEvent is a token or reasoning delta.
	TokenEvent struct {
		Delta   string `json:"delta"`
		Turn    int    `json:"turn"`
		Attempt int    `json:"attempt"`
	}
	// MessageEvent is a whole message (user or agent).
	MessageEvent struct {
		MessageID string `json:"message_id"`
		Role      string `json:"role"`
		Content   string `json:"content"`
	}
	// RunStatusEvent is a run's change of status.
	RunStatusEvent struct {
		Status     string     `json:"status"`
		StopReason string     `json:"stop_reason"`
		Error      *ErrorInfo `json:"error"`
		// Output is a completed run's typed result (runs with an
		// output schema only).
		Output json.RawMessage `json:"output,omitempty"`
		// RequiredAction lists the custom tool calls a run stopped
		// for (StopReason requires_action).
		RequiredAction *RequiredAction `json:"required_action,omitempty"`
	}
	// DeploymentStatusEvent is a deployment's change of status.
	DeploymentStatusEvent struct {
		Status string     `json:"status"`
		Error  *ErrorInfo `json:"error"`
	}
	// ToolCallEvent is a tool call the model made.
	ToolCallEvent struct {
		ToolCallID string          `json:"tool_call_id"`
		Tool       string          `json:"tool"`
		Origin     string          `json:"origin"` // custom for a custom tool
		Arguments  json.RawMessage `json:"arguments"`
		// RequiresAction is true for a custom tool call, whose output
		// the client posts with RunService.SubmitToolOutputs.
		RequiresAction bool `json:"requires_action,omitempty"`
	}
	// ToolResultEvent is a tool call's result.
	ToolResultEvent struct {
		ToolCallID string `json:"tool_call_id"`
		Tool       string `json:"tool"`
		Origin     string `json:"origin"`
		Result     string `json:"result"`
		IsError    bool   `json:"is_error"`
		Truncated  bool   `json:"truncated"`
		OutputPath string `json:"output_path"`
	}
	// SteeringRequestEvent is a run pausing for a human.
	SteeringRequestEvent struct {
		SteeringRequestID string          `json:"steering_request_id"`
		Kind              string          `json:"kind"` // approval or question
		Summary           string          `json:"summary"`
		Tool              string          `json:"tool"`
		Arguments         json.RawMessage `json:"arguments"`
		Options           []string        `json:"options"`
	}
	// SteeringResolvedEvent is the answer to a steering request.
	SteeringResolvedEvent struct {
		SteeringRequestID string `json:"steering_request_id"`
		Decision          string `json:"decision"`
		Message           string `json:"message"`
	}
	// UsageEvent is one model call's usage.
	UsageEvent struct {
		InputTokens     int64    `json:"input_tokens"`
		OutputTokens    int64    `json:"output_tokens"`
		CacheReadTokens int64    `json:"cache_read_tokens"`
		CostUSD         *float64 `json:"cost_usd"`
	}
)

// EventStreamParams selects the events of a stream.
type EventStreamParams struct {
	// LastEventID, when set, starts the stream after that event (replaying
	// the stored ones first); otherwise it starts with the events to come.
	LastEventID string
	// Types, ThreadID and RunID keep only matching events.
	Types    []string
	ThreadID string
	RunID    string
}

// EventListParams selects a page of the event log, oldest first.
type EventListParams struct {
	// After is the event id after which the page starts (empty: the
	// oldest retained event).
	After string
	// Limit is the page size, 1–1000 (0: the server's default, 100).
	Limit int
	// Types, ThreadID and RunID keep only matching events.
	Types    []string
	ThreadID string
	RunID    string
}

// EventService streams and pages deployments' events.
type EventService struct{ c *Client }

func filters(types []string, threadID, runID string) url.Values {
	q := url.Values{}
	if len(types) > 0 {
		q.Set("types", strings.Join(types, ","))
	}
	setIf(q, "thread_id", threadID)
	setIf(q, "run_id", runID)
	return q
}

// List reads one page of a deployment's stored events, oldest first.
func (s *EventService) List(ctx context.Context, deploymentID string, p EventListParams) (*Page[Event], error) {
	q := filters(p.Types, p.ThreadID, p.RunID)
	setIf(q, "after", p.After)
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	return getPage[Event](ctx, s.c, depPath(deploymentID, "events"), q)
}

// All iterates over a deployment's stored events from p.After on, oldest
// first, across pages; it ends with the newest stored event.
func (s *EventService) All(ctx context.Context, deploymentID string, p EventListParams) iter.Seq2[*Event, error] {
	return all(p.After, func(cursor string) (*Page[Event], error) {
		p.After = cursor
		return s.List(ctx, deploymentID, p)
	})
}

// Stream opens a deployment's event stream. It returns once the server has
// answered, so that every event appended afterwards is in the stream. The
// stream reopens itself after a disconnect, from the last event it
// delivered (Last-Event-ID; before any, from p.LastEventID, or with the
// events to come when that is empty), and never delivers an event twice.
// Close it when done.
func (s *EventService) Stream(ctx context.Context, deploymentID string, p EventStreamParams) (*Stream[Event], error) {
	r := &request{method: http.MethodGet, path: depPath(deploymentID, "events"), query: filters(p.Types, p.ThreadID, p.RunID)}
	open := s.c.openStream(r)
	st := newStream(ctx, decodeEvent, open, s.c.reconnects, time.Second)
	st.lastID = p.LastEventID
	st.lastSeq = sequenceOf(p.LastEventID)
	st.seqOf = func(e Event) int64 { return e.Sequence }
	body, err := open(st.ctx, st.lastID)
	if err != nil {
		st.cancel()
		return nil, err
	}
	st.setBody(body)
	return st, nil
}

// sequenceOf is the sequence of an event id (evt_<sequence>), or 0.
func sequenceOf(id string) int64 {
	n, err := strconv.ParseInt(strings.TrimPrefix(id, "evt_"), 10, 64)
	if err != nil || !strings.HasPrefix(id, "evt_") {
		return 0
	}
	return n
}

// ReadEvents reads the events of an SSE stream from r, e.g. a stream saved
// to a file; it ends where r does.
func ReadEvents(r io.Reader) *Stream[Event] {
	st := newStream(context.Background(), decodeEvent, nil, 0, 0)
	st.setBody(io.NopCloser(r))
	return st
}

func decodeEvent(f Frame) (Event, error) {
	var e Event
	if err := json.Unmarshal([]byte(f.Data), &e); err != nil {
		return e, err
	}
	if e.Type == "" {
		e.Type = f.Event
	}
	if e.ID == "" {
		e.ID = f.ID
	}
	return e, nil
}

// Frame is one server-sent event as it came: its id, event type and data
// (several data lines joined by newlines).
type Frame struct {
	ID, Event, Data string
}

// Stream is a stream of server-sent events decoded as T:
//
//	for s.Next() {
//		e := s.Current()
//	}
//	if err := s.Err(); err != nil { ... }
//
// or, the same, for e, err := range s.All() { ... }.
//
// A stream from the server reopens itself after a disconnect, from the last
// event it delivered. It is not safe for concurrent use, except Close,
// which may be called from another goroutine to end a Next that waits.
type Stream[T any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	decode func(Frame) (T, error)
	open   func(ctx context.Context, lastID string) (io.ReadCloser, error) // nil: not reopened
	seqOf  func(T) int64                                                   // nil: no duplicate check

	mu     sync.Mutex // guards body and closed against Close
	body   io.ReadCloser
	closed bool

	rd         *bufio.Reader
	cur        T
	err        error
	lastID     string
	lastSeq    int64
	retry      time.Duration
	reconnects int // left in a row
	maxRetries int
}

func newStream[T any](ctx context.Context, decode func(Frame) (T, error), open func(context.Context, string) (io.ReadCloser, error), reconnects int, retry time.Duration) *Stream[T] {
	ctx, cancel := context.WithCancel(ctx)
	return &Stream[T]{ctx: ctx, cancel: cancel, decode: decode, open: open, reconnects: reconnects, maxRetries: reconnects, retry: retry}
}

func (s *Stream[T]) setBody(b io.ReadCloser) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		b.Close()
		return false
	}
	s.body = b
	s.rd = bufio.NewReaderSize(b, 64<<10)
	return true
}

// Next waits for the next event and reports whether there is one; false
// when the stream ended (see Err).
func (s *Stream[T]) Next() bool {
	for s.err == nil {
		f, err := s.readFrame()
		if err == nil {
			v, derr := s.decode(f)
			if derr != nil {
				s.err = derr
				return false
			}
			if s.seqOf != nil {
				// The server resumes after Last-Event-ID, so this should not
				// happen; it is checked so that it cannot.
				if seq := s.seqOf(v); seq > 0 {
					if seq <= s.lastSeq {
						continue
					}
					s.lastSeq = seq
				}
			}
			s.cur = v
			s.reconnects = s.maxRetries // progress: the count starts again
			return true
		}
		if s.isClosed() {
			return false
		}
		if !s.reopen(err) {
			return false
		}
	}
	return false
}

// All iterates over the stream's events until it ends; when it ended with
// an error (see Err), the last pair yielded holds it. Breaking out of the
// loop leaves the stream open: Close it.
func (s *Stream[T]) All() iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for s.Next() {
			if !yield(s.cur, nil) {
				return
			}
		}
		if s.err != nil {
			var zero T
			yield(zero, s.err)
		}
	}
}

// reopen opens the stream again after it broke with err, waiting the retry
// delay first; it reports whether it did.
func (s *Stream[T]) reopen(err error) bool {
	if s.ctx.Err() != nil {
		if !s.isClosed() {
			s.err = s.ctx.Err()
		}
		return false
	}
	if s.open == nil {
		if !errors.Is(err, io.EOF) {
			s.err = err
		}
		return false
	}
	for {
		if s.reconnects <= 0 {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			s.err = err
			return false
		}
		s.reconnects--
		t := time.NewTimer(s.retry)
		select {
		case <-s.ctx.Done():
			t.Stop()
			if !s.isClosed() {
				s.err = s.ctx.Err()
			}
			return false
		case <-t.C:
		}
		s.mu.Lock()
		if s.body != nil {
			s.body.Close()
		}
		s.mu.Unlock()
		body, oerr := s.open(s.ctx, s.lastID)
		if oerr == nil {
			return s.setBody(body)
		}
		var apiErr *Error
		if (errors.As(oerr, &apiErr) && !retryableStatus(apiErr.Status)) || s.ctx.Err() != nil {
			// The server refused (the deployment is gone, the cursor
			// expired, the key was revoked): reopening will not help.
			if !s.isClosed() {
				s.err = oerr
			}
			return false
		}
		err = oerr
	}
}

// readFrame reads lines until an event is complete (a blank line after
// data), keeping its id as the last one and the retry delay as it goes.
func (s *Stream[T]) readFrame() (Frame, error) {
	var f Frame
	var data strings.Builder
	hasData := false
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			return Frame{}, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if hasData {
				f.Data = data.String()
				if f.ID == "" {
					f.ID = s.lastID
				}
				s.lastID = f.ID // only a whole frame moves the cursor
				return f, nil
			}
			if f.ID != "" {
				// A position without data (the server's first frame of a
				// live stream): where a reconnection resumes.
				s.lastID = f.ID
			}
			f = Frame{}
			continue
		}
		if line[0] == ':' {
			continue // a comment (keep-alive)
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			if !strings.ContainsRune(value, 0) {
				f.ID = value
			}
		case "event":
			f.Event = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms >= 0 {
				s.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// Current is the event Next found.
func (s *Stream[T]) Current() T { return s.cur }

// Err is why the stream ended: nil when it was closed or its input ended,
// the context's error when that ended, a *Error when the server refused
// to reopen it, or the last connection error once the reconnections were
// used up.
func (s *Stream[T]) Err() error { return s.err }

// LastEventID is the id of the last event read, from which a reopened
// stream goes on.
func (s *Stream[T]) LastEventID() string { return s.lastID }

// Close ends the stream; safe to call twice, and from another goroutine.
func (s *Stream[T]) Close() error {
	s.mu.Lock()
	s.closed = true
	b := s.body
	s.mu.Unlock()
	s.cancel()
	if b != nil {
		return b.Close()
	}
	return nil
}

func (s *Stream[T]) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// openStream returns what (re)opens the SSE stream of r: a GET with Accept
// text/event-stream, and Last-Event-ID when a position is given; an answer
// other than 200 is its error.
func (c *Client) openStream(r *request) func(ctx context.Context, lastID string) (io.ReadCloser, error) {
	return func(ctx context.Context, lastID string) (io.ReadCloser, error) {
		r.header = http.Header{"Accept": {"text/event-stream"}}
		if lastID != "" {
			r.header.Set("Last-Event-ID", lastID)
		}
		resp, err := c.sendOnce(ctx, r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			defer resp.Body.Close()
			return nil, errorFrom(resp, r.method, r.path)
		}
		return resp.Body, nil
	}
}
