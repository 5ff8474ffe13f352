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
	deps map[string]*followers // deployments with subscribers
	n    int
}

// followers are a deployment's subscribers.
type followers struct {
	subs map[*Subscription]struct{}
	// high is the highest sequence published since the first of them came
	// (0: none yet).
	high int64
}

// NewBroker returns a broker whose subscribers buffer up to buffer events.
func NewBroker(buffer int) *Broker {
	return &Broker{buffer: buffer, deps: make(map[string]*followers)}
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
	f := b.deps[deploymentID]
	if f == nil {
		f = &followers{subs: make(map[*Subscription]struct{})}
		b.deps[deploymentID] = f
	}
	f.subs[s] = struct{}{}
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
	f := b.deps[e.DeploymentID]
	if f == nil {
		b.mu.Unlock()
		return
	}
	f.high = max(f.high, e.Seq)
	for s := range f.subs {
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
	f, ok := b.deps[deploymentID]
	if !ok {
		return 0, false
	}
	return f.high, true
}

// watched returns the deployments with subscribers and the highest
// sequence published for each.
func (b *Broker) watched() map[string]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int64, len(b.deps))
	for d, f := range b.deps {
		out[d] = f.high
	}
	return out
}

// CloseDeployment ends every subscription to a deployment (it was deleted).
func (b *Broker) CloseDeployment(deploymentID string) {
	b.mu.Lock()
	var all []*Subscription
	for s := range b.deps[deploymentID].subsOrNil() {
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
	for _, f := range b.deps {
		for s := range f.subs {
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
	f := b.deps[s.deploymentID]
	if _, ok := f.subsOrNil()[s]; ok {
		delete(f.subs, s)
		if len(f.subs) == 0 {
			delete(b.deps, s.deploymentID)
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

// subsOrNil returns f's subscribers (none for a nil f).
func (f *followers) subsOrNil() map[*Subscription]struct{} {
	if f == nil {
		return nil
	}
	return f.subs
}
