// Package cluster carries what the nodes of a Herm cluster tell each other
// and decides which of them runs the singletons. Two implementations of
// each: in-process (the single binary: signals go to the process's own
// subscribers, and it is always the leader) and PostgreSQL (LISTEN/NOTIFY
// for signals, an advisory lock held on a connection of its own for
// leadership), so a cluster needs nothing but the database it already has.
//
// Signals are hints, never data: a payload names what changed (a
// deployment and its last event sequence, a run to wake or cancel) and the
// receiver reads the store. A lost signal costs latency, not correctness:
// every listener also polls on a slow timer.
package cluster

import (
	"context"
	"sync"
	"time"
)

// Channels of the signals.
const (
	// Events: a deployment's events were appended; payload
	// "<deployment_id> <last sequence>".
	Events = "herm_events"
	// Wake: a deployment has work (a run queued, a steering answer);
	// payload the deployment id.
	Wake = "herm_wake"
	// Cancel: a run's cancel was requested; payload the run id.
	Cancel = "herm_cancel"
	// Changed: a deployment's configuration changed or it was deleted;
	// payload the deployment id (nodes drop what they keep of it, such as
	// MCP sessions).
	Changed = "herm_changed"
)

// MaxChannel is the longest channel name (PostgreSQL's identifiers take 63
// bytes, of which the notifier's schema suffix takes 9).
const MaxChannel = 54

// MaxPayload is the longest payload a signal may carry (PostgreSQL's
// NOTIFY takes under 8000 bytes).
const MaxPayload = 7999

// Notifier sends and receives signals.
type Notifier interface {
	// Notify sends payload on channel to every subscriber of every node
	// (this one included). With PostgreSQL, inside or outside a
	// transaction of the caller's: use NotifyQuery in a transaction so the
	// signal goes out only if it commits.
	Notify(ctx context.Context, channel, payload string) error
	// Subscribe returns the payloads sent on channel from now on, until
	// cancel is called. A subscriber that does not keep up loses signals
	// (it must poll anyway); the channel never blocks a sender.
	Subscribe(channel string) (payloads <-chan string, cancel func())
	// Close stops the notifier; subscriptions' channels are closed.
	Close() error
}

// Leader tells whether this node runs the singletons (retention, the
// steering-timeout sweep, the automation scheduler's due scan,
// provisioning and deletion resume).
type Leader interface {
	// IsLeader reports whether this node holds the leadership now. It can
	// change at any time; a singleton checks it before each pass.
	IsLeader() bool
	// Close gives the leadership up.
	Close() error
}

// FollowerRetry is how often a singleton on a node that does not lead
// asks again whether it does.
const FollowerRetry = 5 * time.Second

// subscriberBuffer is how many signals a subscriber may fall behind.
const subscriberBuffer = 256

// hub fans signals out to a process's subscribers.
type hub struct {
	mu     sync.Mutex
	subs   map[string]map[chan string]struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[string]map[chan string]struct{}{}} }

func (h *hub) subscribe(channel string) (<-chan string, func()) {
	ch := make(chan string, subscriberBuffer)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	if h.subs[channel] == nil {
		h.subs[channel] = map[chan string]struct{}{}
	}
	h.subs[channel][ch] = struct{}{}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if _, ok := h.subs[channel][ch]; ok {
				delete(h.subs[channel], ch)
				close(ch)
			}
		})
	}
}

// deliver sends payload to channel's subscribers, dropping it for those
// whose buffer is full.
func (h *hub) deliver(channel, payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[channel] {
		select {
		case ch <- payload:
		default:
		}
	}
}

// channels lists the channels with subscribers.
func (h *hub) channels() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.subs))
	for c, subs := range h.subs {
		if len(subs) > 0 {
			out = append(out, c)
		}
	}
	return out
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for _, subs := range h.subs {
		for ch := range subs {
			close(ch)
		}
	}
	h.subs = map[string]map[chan string]struct{}{}
}

// Local is the single binary's Notifier: signals go to this process's
// subscribers.
type Local struct{ h *hub }

// NewLocal returns a Local notifier.
func NewLocal() *Local { return &Local{h: newHub()} }

// Notify delivers payload to channel's subscribers.
func (l *Local) Notify(_ context.Context, channel, payload string) error {
	if err := check(channel, payload); err != nil {
		return err
	}
	l.h.deliver(channel, payload)
	return nil
}

// Subscribe returns channel's payloads from now on.
func (l *Local) Subscribe(channel string) (<-chan string, func()) { return l.h.subscribe(channel) }

// Close closes every subscription.
func (l *Local) Close() error {
	l.h.close()
	return nil
}

// Always is the single binary's Leader: it always leads.
type Always struct{}

// IsLeader reports true.
func (Always) IsLeader() bool { return true }

// Close does nothing.
func (Always) Close() error { return nil }

func check(channel, payload string) error {
	if channel == "" || len(channel) > MaxChannel {
		return errChannel
	}
	if len(payload) > MaxPayload {
		return errPayload
	}
	return nil
}

type clusterError string

func (e clusterError) Error() string { return string(e) }

const (
	errChannel = clusterError("cluster: a channel name is 1 to 54 characters")
	errPayload = clusterError("cluster: a signal's payload is at most 7999 bytes (signals name what changed; the store holds the data)")
)
