package httpapi

import (
	"bufio"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/eventjson"
	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// events serves a deployment's events: as an SSE stream (the default), or
// as a JSON page with Accept: application/json.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.EventFilter{ThreadID: q.Get("thread_id"), RunID: q.Get("run_id")}
	if v := q.Get("types"); v != "" {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if !slices.Contains(herm.EventTypes(), t) {
				return herm.Errorf(herm.EInvalid, "types: unknown event type %q", t)
			}
			f.Types = append(f.Types, t)
		}
	}
	// Last-Event-ID wins over after: a reconnecting EventSource keeps its
	// original URL but sends the newest id in the header.
	cursorText := r.Header.Get("Last-Event-ID")
	field := "Last-Event-ID"
	if cursorText == "" {
		cursorText, field = q.Get("after"), "after"
	}
	cursor, hasCursor := int64(0), cursorText != ""
	if hasCursor {
		n, ok := herm.ParseEventID(cursorText)
		if !ok {
			return herm.Errorf(herm.EInvalid, "%s must be an event id (evt_<sequence>)", field)
		}
		cursor = n
	}
	if accepts(r, "application/json") {
		return s.eventPage(w, r, d, f, cursor, hasCursor)
	}
	return s.eventStream(w, r, d, f, cursor, hasCursor)
}

// accepts reports whether the request prefers the media type over SSE.
func accepts(r *http.Request, media string) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, media) && !strings.Contains(a, "text/event-stream")
}

// eventLimit reads the page size of an event list: 1–1000, default 100.
func eventLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, herm.Errorf(herm.EInvalid, "limit must be an integer from 1 to 1000")
	}
	return n, nil
}

// checkCursor returns 410 when the cursor points before the retained log,
// and 400 when it points past its end.
func (s *Server) checkCursor(r *http.Request, depID string, cursor int64) (last int64, err error) {
	first, last, err := s.store.EventBounds(r.Context(), depID)
	if err != nil {
		return 0, err
	}
	if cursor > last {
		return 0, herm.Errorf(herm.EInvalid, "event %s is beyond the end of the log (last is %s)", herm.EventID(cursor), herm.EventID(last))
	}
	if cursor < last && (first == 0 || cursor+1 < first) {
		return 0, herm.Errorf(herm.ECursorExpired, "event %s is older than the retained event log; the oldest retained event is %s", herm.EventID(cursor), herm.EventID(max(first, last)))
	}
	return last, nil
}

func (s *Server) eventPage(w http.ResponseWriter, r *http.Request, d *herm.Deployment, f store.EventFilter, cursor int64, hasCursor bool) error {
	limit, err := eventLimit(r)
	if err != nil {
		return err
	}
	if hasCursor {
		if _, err := s.checkCursor(r, d.ID, cursor); err != nil {
			return err
		}
	}
	evs, err := s.store.ListEvents(r.Context(), d.ID, cursor, limit+1, f)
	if err != nil {
		return err
	}
	more := len(evs) > limit
	if more {
		evs = evs[:limit]
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	bw.WriteString(`{"data":[`)
	for i, e := range evs {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(eventjson.Marshal(e))
	}
	bw.WriteString(`],"next_cursor":`)
	if more {
		bw.WriteString(strconv.Quote(evs[len(evs)-1].ID()))
	} else {
		bw.WriteString("null")
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// eventStream replays the events after the cursor from the store, then
// follows the live feed (follow).
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request, d *herm.Deployment, f store.EventFilter, cursor int64, hasCursor bool) error {
	sub := s.log.Subscribe(d.ID)
	var last int64
	var err error
	if hasCursor {
		last, err = s.checkCursor(r, d.ID, cursor)
	} else {
		_, last, err = s.store.EventBounds(r.Context(), d.ID) // live only: retention does not matter
		cursor = last
	}
	if err != nil {
		sub.Close()
		return err
	}
	s.follow(w, r, sub, feed{
		deploymentID: d.ID,
		pos:          func(e *herm.Event) int64 { return e.Seq },
		id:           herm.EventID,
		live:         !hasCursor,
		match:        f.Match,
		stored: func(ctx context.Context, after int64) ([]*herm.Event, error) {
			return s.store.ListEvents(ctx, d.ID, after, feedBatch, f)
		},
		last: func(ctx context.Context) (int64, error) {
			_, last, err := s.store.EventBounds(ctx, d.ID)
			return last, err
		},
		write: func(bw *bufio.Writer, e *herm.Event) {
			bw.WriteString("id: " + herm.PrefixEvent)
			bw.Write(strconv.AppendInt(bw.AvailableBuffer(), e.Seq, 10)) // no string per subscriber
			bw.WriteString("\nevent: ")
			bw.WriteString(e.Type)
			bw.WriteString("\ndata: ")
			bw.Write(eventjson.Marshal(e))
			bw.WriteString("\n\n")
		},
	}, cursor, last)
	return nil
}

// feedBatch is the most stored events a stream reads at once.
const feedBatch = 1000

// feed is one SSE stream of a deployment's events: where each event is in
// it, which it sends, how to read its stored events and how to send one.
type feed struct {
	deploymentID string
	// pos is an event's position in the stream: each event of the stream
	// has the next one (positions grow by exactly one); 0 for an event
	// that is not in it.
	pos func(e *herm.Event) int64
	// match says whether an event in the stream is sent (a filter); nil:
	// every one.
	match func(e *herm.Event) bool
	// stored lists, oldest first, the stored events of the stream after a
	// position (at most feedBatch, those that match at least).
	stored func(ctx context.Context, after int64) ([]*herm.Event, error)
	// last is the last position assigned.
	last func(ctx context.Context) (int64, error)
	// write writes the SSE frame of an event.
	write func(bw *bufio.Writer, e *herm.Event)
	// seen, when set, is told of every event that is not sent (not in the
	// stream, sent already, or not matching).
	seen func(e *herm.Event)
	// id is the SSE id of a position.
	id func(pos int64) string
	// live is set for a stream opened without a position (live only): its
	// first frame is then its position, an SSE id without data, so that a
	// client cut off before the first event resumes from there.
	live bool
}

// follow sends a stream's events after position cursor: the stored ones
// through last, then those of the live feed (sub, which it closes). A
// subscription dropped for being slow, or a gap in the live feed, is
// filled from the store; the client sees every event of the stream once,
// in order.
func (s *Server) follow(w http.ResponseWriter, r *http.Request, sub *eventlog.Subscription, f feed, cursor, last int64) {
	defer func() { sub.Close() }()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 16<<10)
	bw.WriteString("retry: 2000\n\n")
	if f.live {
		bw.WriteString("id: " + f.id(cursor) + "\n\n")
	}

	sent := cursor // every event of the stream up to sent has been handled
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	write := func(e *herm.Event) {
		p := f.pos(e)
		if p == 0 || p <= sent {
			if f.seen != nil {
				f.seen(e)
			}
			return
		}
		sent = p
		if f.match != nil && !f.match(e) {
			if f.seen != nil {
				f.seen(e)
			}
			return
		}
		f.write(bw, e)
	}
	// catchUp sends stored events after sent, through at least upTo.
	catchUp := func(upTo int64) error {
		for sent < upTo {
			evs, err := f.stored(r.Context(), sent)
			if err != nil {
				return err
			}
			for _, e := range evs {
				write(e)
			}
			if len(evs) < feedBatch {
				sent = max(sent, upTo) // the rest up to upTo did not match
				break
			}
		}
		return flush()
	}
	// live sends an event of the live feed, after what the store has
	// before it when events were published out of order.
	live := func(e *herm.Event) error {
		if p := f.pos(e); p > sent+1 {
			// Committed by another writer and published out of order;
			// everything before e is committed, so the store has it.
			if err := catchUp(p - 1); err != nil {
				return err
			}
		}
		write(e)
		return nil
	}
	if err := catchUp(last); err != nil {
		return // the stream has started: nothing more to tell the client
	}
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.streams.Done():
			return
		case <-ping.C:
			if !s.keyLive(r.Context()) {
				return // its key was revoked: a reconnect gets 401
			}
			bw.WriteString(": ping\n\n")
			if err := flush(); err != nil {
				return
			}
		case e, ok := <-sub.C():
			if !ok {
				if !sub.Dropped() {
					return // deployment deleted or server stopping
				}
				// Too slow: subscribe again and fill the gap from the store.
				sub = s.log.Subscribe(f.deploymentID)
				last, err := f.last(r.Context())
				if err != nil || catchUp(last) != nil {
					return
				}
				continue
			}
			if live(e) != nil {
				return
			}
			// Send what is already queued before flushing.
			for n := len(sub.C()); n > 0; n-- {
				e, ok := <-sub.C()
				if !ok {
					break
				}
				if live(e) != nil {
					return
				}
			}
			if err := flush(); err != nil {
				return
			}
		}
	}
}

// keyLive reports whether the request's API key is still live (a stream
// outlives the authentication it started with; a store error is not
// taken as a revocation).
func (s *Server) keyLive(ctx context.Context) bool {
	k := apiKey(ctx)
	if k == nil {
		return true
	}
	cur, err := s.store.APIKeyByHash(ctx, k.Hash)
	if herm.IsCode(err, herm.ENotFound) {
		return false
	}
	return err != nil || cur.RevokedAt == nil
}
