// Package webhook sends events to the operator's webhooks: deliveries are
// written by the store with their events (so none is lost when the server
// stops), and the dispatcher POSTs each one signed by the Standard Webhooks
// scheme (webhook-id, webhook-timestamp, webhook-signature: v1 and the
// base64 HMAC-SHA256 of "id.timestamp.body" under the secret), retrying
// with backoff until it succeeds or its attempts run out.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hermhq/herm/internal/eventjson"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/netguard"
	"github.com/hermhq/herm/internal/store"
)

// Limits.
const (
	MaxEvents   = 32
	SecretBytes = 24
)

// DefaultBackoff is the wait before each retry (after the first attempt):
// the Standard Webhooks schedule; the delivery fails after the last.
func DefaultBackoff() []time.Duration {
	return []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
}

// Sealer keeps signing secrets encrypted at rest (the vault).
type Sealer interface {
	Seal(id, value string) []byte
	Open(id string, ciphertext []byte) (string, error)
}

// Options configure a Service. Zero values mean defaults.
type Options struct {
	// HTTPClient sends deliveries (default: 10 s timeout, no redirects,
	// connecting through Guard). Give it a dialer that refuses what Guard
	// refuses.
	HTTPClient *http.Client
	// AllowPrivateNetworks lets webhook URLs be http (and, when Guard is
	// nil, private).
	AllowPrivateNetworks bool
	// Guard decides which hosts webhook URLs may name (default: one made
	// with AllowPrivateNetworks).
	Guard *netguard.Guard
	// Backoff is the wait before each retry (default DefaultBackoff).
	Backoff []time.Duration
	// Poll is how often due deliveries are looked for when nothing wakes
	// the dispatcher (default 1 s).
	Poll time.Duration
	// Workers is how many deliveries are sent at once (default 8).
	Workers int
	// OnAttempt is told each attempt's outcome: succeeded, retry or failed
	// (metrics); nil: nobody.
	OnAttempt func(outcome string)
	Logger    *slog.Logger
}

// Service manages webhooks and sends their deliveries.
type Service struct {
	store  store.Store
	sealer Sealer
	ids    *herm.IDGen
	now    func() time.Time
	opts   Options
	wake   chan struct{}
	// active: webhooks may exist (only then is there anything to send);
	// known at Run's start, set by Create, checked again by Delete and,
	// while false, at every poll (another node may create one).
	active atomic.Bool
}

// New returns a Service; Run sends deliveries.
func New(st store.Store, sealer Sealer, ids *herm.IDGen, now func() time.Time, opts Options) *Service {
	if opts.Guard == nil {
		opts.Guard = netguard.New(netguard.Options{AllowPrivate: opts.AllowPrivateNetworks})
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: opts.Guard.Transport(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff()
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: st, sealer: sealer, ids: ids, now: now, opts: opts, wake: make(chan struct{}, 1)}
}

// Input is a webhook's definition.
type Input struct {
	URL          string
	Events       []string
	DeploymentID string
}

// Create stores a webhook and returns it with its signing secret
// ("whsec_" and base64), which is shown only now.
func (s *Service) Create(ctx context.Context, in Input) (*herm.Webhook, string, error) {
	if err := herm.CheckWebhookURL(ctx, in.URL, s.opts.AllowPrivateNetworks); err != nil {
		return nil, "", err
	}
	// A literal address, or a name that resolves now, is checked now; every
	// delivery's connection is checked again when dialled.
	if err := s.opts.Guard.CheckURL(ctx, in.URL); err != nil {
		return nil, "", herm.Errorf(herm.EInvalid, "url: %v", err)
	}
	if len(in.Events) == 0 || len(in.Events) > MaxEvents {
		return nil, "", herm.Errorf(herm.EInvalid, "events must list 1 to %d event types (%s)", MaxEvents, strings.Join(herm.EventTypes(), ", "))
	}
	seen := map[string]bool{}
	for i, t := range in.Events {
		if t == herm.EventToken || t == herm.EventReasoning {
			return nil, "", herm.Errorf(herm.EInvalid, "events[%d]: %s deltas are not sent to webhooks (a request each); the message event carries the whole text, and the event stream the deltas", i, t)
		}
		if !slices.Contains(herm.EventTypes(), t) {
			return nil, "", herm.Errorf(herm.EInvalid, "events[%d]: unknown event type %q (known: %s)", i, t, strings.Join(herm.EventTypes(), ", "))
		}
		if seen[t] {
			return nil, "", herm.Errorf(herm.EInvalid, "events[%d]: %q is listed twice", i, t)
		}
		seen[t] = true
	}
	if in.DeploymentID != "" {
		if _, err := s.store.GetDeployment(ctx, in.DeploymentID); err != nil {
			if herm.IsCode(err, herm.ENotFound) {
				return nil, "", herm.Errorf(herm.EInvalid, "deployment_id: deployment %s does not exist", in.DeploymentID)
			}
			return nil, "", err
		}
	}
	raw := make([]byte, SecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", err
	}
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	w := &herm.Webhook{ID: s.ids.New(herm.PrefixWebhook), URL: in.URL, Events: slices.Clone(in.Events), DeploymentID: in.DeploymentID,
		CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	w.Secret = s.sealer.Seal(w.ID, secret)
	if err := s.store.CreateWebhook(ctx, w); err != nil {
		return nil, "", err
	}
	s.active.Store(true)
	return w, secret, nil
}

// Delete removes a webhook and its deliveries.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.store.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	s.refresh(ctx)
	return nil
}

// refresh finds out whether any webhook exists.
func (s *Service) refresh(ctx context.Context) {
	list, err := s.store.ListWebhooks(ctx, herm.Page{Limit: 1})
	s.active.Store(err != nil || len(list) > 0) // in doubt, look for deliveries
}

// Wake tells the dispatcher that deliveries may be due (events were
// appended); nothing happens while no webhook exists.
func (s *Service) Wake() {
	if !s.active.Load() {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends due deliveries until ctx ends.
func (s *Service) Run(ctx context.Context) {
	s.refresh(ctx)
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		if s.active.Load() {
			s.sendDue(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !s.active.Load() {
				s.refresh(ctx) // another node's API may have created one
			}
		case <-s.wake:
		}
	}
}

// lease is how long a claimed delivery is not claimed again: past the
// client's timeout, so that a stopped process's claims come back.
const lease = time.Minute

// sendDue sends every delivery due now, a few at a time.
func (s *Service) sendDue(ctx context.Context) {
	// A rolling pool: a slow endpoint holds one worker, not everyone's
	// batch. Claims are only as many as there are free workers.
	free := make(chan struct{}, s.opts.Workers)
	for range s.opts.Workers {
		free <- struct{}{}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	hooks := map[string]*herm.Webhook{}
	var mu sync.Mutex
	for ctx.Err() == nil {
		select {
		case <-free: // at least one worker is free
		case <-ctx.Done():
			return
		}
		n := 1 + len(free)
		for range n - 1 {
			<-free
		}
		due, err := s.store.ClaimDeliveries(ctx, s.now(), lease, n)
		if err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("webhook deliveries: claim failed", "err", err)
		}
		for range n - len(due) {
			free <- struct{}{}
		}
		if len(due) == 0 {
			return // nothing due now: the in-flight ones finish before we return
		}
		for _, d := range due {
			wg.Go(func() {
				defer func() { free <- struct{}{} }()
				s.deliver(ctx, d, hooks, &mu)
			})
		}
	}
}

// deliver makes one attempt at d and records its outcome.
func (s *Service) deliver(ctx context.Context, d *herm.Delivery, hooks map[string]*herm.Webhook, mu *sync.Mutex) {
	mu.Lock()
	w, ok := hooks[d.WebhookID]
	mu.Unlock()
	if !ok {
		var err error
		w, err = s.store.GetWebhook(ctx, d.WebhookID)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				s.release(ctx, d)
			case !herm.IsCode(err, herm.ENotFound): // not found: deleted, with its deliveries
				s.opts.Logger.Warn("webhook delivery: webhook", "webhook_id", d.WebhookID, "err", err)
			}
			return
		}
		mu.Lock()
		hooks[d.WebhookID] = w
		mu.Unlock()
	}
	status, err := s.send(ctx, w, d)
	if err != nil && ctx.Err() != nil {
		s.release(ctx, d) // stopping: not an attempt
		return
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	d.Attempts++
	d.ResponseStatus = status
	outcome := "retry"
	switch {
	case err == nil:
		d.Status, d.LastError, d.DeliveredAt = herm.DeliverySucceeded, "", &now
		outcome = herm.DeliverySucceeded
	case errors.Is(err, errGone) || d.Attempts > len(s.opts.Backoff):
		d.Status, d.LastError = herm.DeliveryFailed, err.Error()
		outcome = herm.DeliveryFailed
	default:
		d.LastError, d.NextAttemptAt = err.Error(), now.Add(s.opts.Backoff[d.Attempts-1])
	}
	if s.opts.OnAttempt != nil {
		s.opts.OnAttempt(outcome)
	}
	if err := s.store.UpdateDelivery(context.WithoutCancel(ctx), d); err != nil && !herm.IsCode(err, herm.ENotFound) {
		s.opts.Logger.Warn("webhook delivery: record the attempt", "webhook_id", d.WebhookID, "err", err)
	}
}

// release makes a claimed delivery due again at once (the process is
// stopping before it could try it).
func (s *Service) release(ctx context.Context, d *herm.Delivery) {
	d.NextAttemptAt = s.now()
	if err := s.store.UpdateDelivery(context.WithoutCancel(ctx), d); err != nil && !herm.IsCode(err, herm.ENotFound) {
		s.opts.Logger.Warn("webhook delivery: release", "webhook_id", d.WebhookID, "err", err)
	}
}

// errGone is an event that no longer exists (its deployment was deleted,
// or retention removed it): there is nothing left to send.
var errGone = errors.New("the event no longer exists")

// send POSTs d's event to w and returns the response status (0 when none
// came) and an error unless it was 2xx.
func (s *Service) send(ctx context.Context, w *herm.Webhook, d *herm.Delivery) (int, error) {
	evs, err := s.store.ListEvents(ctx, d.DeploymentID, d.Seq-1, 1, store.EventFilter{})
	if err != nil {
		return 0, fmt.Errorf("reading the event: %w", err)
	}
	if len(evs) == 0 || evs[0].Seq != d.Seq {
		return 0, errGone
	}
	body := eventjson.Marshal(evs[0])
	secret, err := s.sealer.Open(w.ID, w.Secret)
	if err != nil {
		return 0, fmt.Errorf("the webhook's secret: %w", err)
	}
	id, ts := d.MessageID(), strconv.FormatInt(s.now().Unix(), 10)
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herm-Webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", sig)
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("sending: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("the endpoint answered HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// Sign returns the webhook-signature header value for a message: "v1,"
// and the base64 HMAC-SHA256 of "id.timestamp.body" under the secret's key
// (the base64 after "whsec_").
func Sign(secret, id, timestamp string, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", fmt.Errorf("the signing secret is not whsec_ and base64")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + timestamp + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}
