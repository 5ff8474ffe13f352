package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is one event of a deployment's stream: the fields every event has,
// and the whole payload in Data (decode the type's own fields with Decode).
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

// Decode decodes the event's payload into v (a struct with the fields of
// the event's type, or a map).
func (e Event) Decode(v any) error { return json.Unmarshal(e.Data, v) }

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

// EventService opens event streams.
type EventService struct{ c *Client }

// Stream opens a deployment's event stream. It returns once the server has
// answered, so that every event appended afterwards is in the stream. The
// stream reopens itself after a disconnect, from the last event it
// delivered (Last-Event-ID; before any, from p.LastEventID, or with the
// events to come when that is empty). Close it when done.
func (s *EventService) Stream(ctx context.Context, deploymentID string, p EventStreamParams) (*Stream[Event], error) {
	q := url.Values{}
	if len(p.Types) > 0 {
		q.Set("types", strings.Join(p.Types, ","))
	}
	if p.ThreadID != "" {
		q.Set("thread_id", p.ThreadID)
	}
	if p.RunID != "" {
		q.Set("run_id", p.RunID)
	}
	path := "/v1/deployments/" + url.PathEscape(deploymentID) + "/events"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	open := func(ctx context.Context, lastID string) (io.ReadCloser, error) {
		req, err := s.c.newRequest(ctx, "GET", path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "text/event-stream")
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := s.c.http.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			defer resp.Body.Close()
			return nil, errorFrom(resp, "GET", path)
		}
		return resp.Body, nil
	}
	st := newStream(ctx, decodeEvent, open, s.c.reconnect, s.c.retry)
	st.lastID = p.LastEventID
	body, err := open(st.ctx, st.lastID)
	if err != nil {
		st.cancel()
		return nil, err
	}
	st.setBody(body)
	return st, nil
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
	e.Data = json.RawMessage(f.Data)
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
// A stream from the server reopens itself after a disconnect, from the last
// event it delivered. It is not safe for concurrent use, except Close,
// which may be called from another goroutine to end a Next that waits.
type Stream[T any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	decode func(Frame) (T, error)
	open   func(ctx context.Context, lastID string) (io.ReadCloser, error) // nil: not reopened

	mu     sync.Mutex // guards body against Close
	body   io.ReadCloser
	closed bool

	rd         *bufio.Reader
	cur        T
	err        error
	lastID     string
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

// reopen opens the stream again after it broke with err, waiting the retry
// delay first; it reports whether it did.
func (s *Stream[T]) reopen(err error) bool {
	if s.ctx.Err() != nil {
		s.err = s.ctx.Err()
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
		if errors.As(oerr, &apiErr) || s.ctx.Err() != nil {
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
				s.lastID = f.ID // only a whole event moves the cursor
				return f, nil
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
