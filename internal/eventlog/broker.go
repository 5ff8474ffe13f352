package eventlog

import (
	"sync"

	"github.com/hermhq/herm/internal/herm"
)

// Broker fans events out to in-process subscribers. Publishing never blocks:
// a subscriber whose buffer is full is dropped (its channel closed and
// Dropped reports true); it catches up from the store.
type Broker struct {
	buffer int

	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}
	// high is the highest sequence published per deployment with
	// subscribers (0: none yet since its first subscriber came).
	high map[string]int64
	n    int
}

// NewBroker returns a broker whose subscribers buffer up to buffer events.
func NewBroker(buffer int) *Broker {
	return &Broker{buffer: buffer, subs: make(map[string]map[*Subscription]struct{}), high: make(map[string]int64)}
}

// Subscription is a live feed of one deployment's events.
type Subscription struct {
	b            *Broker
	deploymentID string
	c            chan *herm.Event

	mu      sync.Mutex
	dropped bool
	closed  bool
}

// C delivers events in commit order. It is closed when the subscription is
// dropped or closed.
func (s *Subscription) C() <-chan *herm.Event { return s.c }

// Dropped reports whether the subscription was dropped for falling behind.
func (s *Subscription) Dropped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Close ends the subscription. Safe to call more than once.
func (s *Subscription) Close() { s.b.remove(s, false) }

// Subscribe adds a subscriber for a deployment.
func (b *Broker) Subscribe(deploymentID string) *Subscription {
	s := &Subscription{b: b, deploymentID: deploymentID, c: make(chan *herm.Event, b.buffer)}
	b.mu.Lock()
	m := b.subs[deploymentID]
	if m == nil {
		m = make(map[*Subscription]struct{})
		b.subs[deploymentID] = m
		b.high[deploymentID] = 0
	}
	m[s] = struct{}{}
	b.n++
	b.mu.Unlock()
	return s
}

// Subscribers returns the number of live subscriptions.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// Publish delivers e to the deployment's subscribers without blocking.
func (b *Broker) Publish(e *herm.Event) {
	var slow []*Subscription
	b.mu.Lock()
	if _, ok := b.high[e.DeploymentID]; ok {
		b.high[e.DeploymentID] = max(b.high[e.DeploymentID], e.Seq)
	}
	for s := range b.subs[e.DeploymentID] {
		select {
		case s.c <- e:
		default:
			slow = append(slow, s)
		}
	}
	b.mu.Unlock()
	for _, s := range slow {
		b.remove(s, true)
	}
}

// highest returns the highest sequence published for a deployment since
// its first current subscriber came (0: none), and whether it has
// subscribers.
func (b *Broker) highest(deploymentID string) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, ok := b.high[deploymentID]
	return h, ok
}

// watched returns the deployments with subscribers and the highest
// sequence published for each.
func (b *Broker) watched() map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int64, len(b.high))
	for d, h := range b.high {
		out[d] = h
	}
	return out
}

// CloseDeployment ends every subscription to a deployment (it was deleted).
func (b *Broker) CloseDeployment(deploymentID string) {
	b.mu.Lock()
	var all []*Subscription
	for s := range b.subs[deploymentID] {
		all = append(all, s)
	}
	b.mu.Unlock()
	for _, s := range all {
		b.remove(s, false)
	}
}

// CloseAll ends every subscription (shutdown).
func (b *Broker) CloseAll() {
	b.mu.Lock()
	var all []*Subscription
	for _, m := range b.subs {
		for s := range m {
			all = append(all, s)
		}
	}
	b.mu.Unlock()
	for _, s := range all {
		b.remove(s, false)
	}
}

func (b *Broker) remove(s *Subscription, dropped bool) {
	b.mu.Lock()
	m := b.subs[s.deploymentID]
	if _, ok := m[s]; ok {
		delete(m, s)
		if len(m) == 0 {
			delete(b.subs, s.deploymentID)
			delete(b.high, s.deploymentID)
		}
		b.n--
	}
	b.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.dropped = dropped
	// Close under the broker's guarantee: remove ran first, so no Publish
	// sends on s.c after this point... except one already holding b.mu,
	// which finished before we got b.mu above.
	close(s.c)
}
