package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

var errRollback = errors.New("roll back")

func webhookTests() []test {
	return append(webhookTxTests(), []test{
		{"Webhook/CRUD", func(t *testing.T, f *fixture) {
			a := &herm.Webhook{ID: f.id(herm.PrefixWebhook), URL: "https://a.example/hook", Events: []string{herm.EventRunStatus}, Secret: []byte{1, 2}, CreatedAt: at(0)}
			b := &herm.Webhook{ID: f.id(herm.PrefixWebhook), URL: "https://b.example/hook", Events: []string{herm.EventMessage, herm.EventToolCall}, DeploymentID: "dep_x", Secret: []byte{3}, CreatedAt: at(time.Second)}
			f.must(f.s.CreateWebhook(f.ctx, a))
			f.must(f.s.CreateWebhook(f.ctx, b))
			wantCode(t, f.s.CreateWebhook(f.ctx, a), herm.EConflict)
			got, err := f.s.GetWebhook(f.ctx, b.ID)
			f.must(err)
			wantDiff(t, "webhook", b, got)
			list, err := f.s.ListWebhooks(f.ctx, herm.Page{})
			f.must(err)
			wantDiff(t, "list", []*herm.Webhook{b, a}, list)
			f.must(f.s.ResealWebhook(f.ctx, a.ID, []byte{9}, []byte{7})) // not the current secret: nothing
			f.must(f.s.ResealWebhook(f.ctx, a.ID, []byte{1, 2}, []byte{7}))
			got, err = f.s.GetWebhook(f.ctx, a.ID)
			f.must(err)
			a.Secret = []byte{7}
			wantDiff(t, "resealed", a, got)
			f.must(f.s.DeleteWebhook(f.ctx, a.ID))
			_, err = f.s.GetWebhook(f.ctx, a.ID)
			wantCode(t, err, herm.ENotFound)
			wantCode(t, f.s.DeleteWebhook(f.ctx, a.ID), herm.ENotFound)
		}},
		{"Webhook/Deliveries", func(t *testing.T, f *fixture) {
			d1, d2 := f.deployment(), f.deployment()
			f.appendEvents(d1.ID, 2) // before any webhook: nothing to deliver
			all := &herm.Webhook{ID: f.id(herm.PrefixWebhook), URL: "https://a.example", Events: []string{herm.EventToken}, Secret: []byte{1}, CreatedAt: at(0)}
			one := &herm.Webhook{ID: f.id(herm.PrefixWebhook), URL: "https://b.example", Events: []string{herm.EventToken, herm.EventMessage}, DeploymentID: d2.ID, Secret: []byte{1}, CreatedAt: at(0)}
			f.must(f.s.CreateWebhook(f.ctx, all))
			f.must(f.s.CreateWebhook(f.ctx, one))
			f.must(f.s.AppendEvents(f.ctx, []*herm.Event{
				event(d1.ID, "", "", herm.EventToken, 1),   // all
				event(d2.ID, "", "", herm.EventToken, 2),   // all, one
				event(d2.ID, "", "", herm.EventMessage, 3), // one
				event(d2.ID, "", "", herm.EventUsage, 4),   // nobody
			}))
			now := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond) // deliveries are due from when their events were appended
			due, err := f.s.ClaimDeliveries(f.ctx, now, time.Minute, 10)
			f.must(err)
			type key struct {
				Hook, Dep string
				Seq       int64
				Type      string
			}
			var got []key
			for _, d := range due {
				got = append(got, key{d.WebhookID, d.DeploymentID, d.Seq, d.EventType})
				if d.Status != herm.DeliveryPending || d.Attempts != 0 {
					t.Errorf("claimed %+v", d)
				}
			}
			wantDiff(t, "deliveries", []key{
				{all.ID, d1.ID, 3, herm.EventToken},
				{all.ID, d2.ID, 1, herm.EventToken}, {one.ID, d2.ID, 1, herm.EventToken},
				{one.ID, d2.ID, 2, herm.EventMessage},
			}, got)
			// Claimed ones are leased: not claimed again until it ends.
			again, err := f.s.ClaimDeliveries(f.ctx, now.Add(30*time.Second), time.Minute, 10)
			f.must(err)
			if len(again) != 0 {
				t.Fatalf("claimed twice: %d", len(again))
			}
			// One succeeds, one waits for a retry; the others' leases end.
			ok, retry := due[0], due[1]
			delivered := now.Add(time.Second)
			ok.Status, ok.Attempts, ok.ResponseStatus, ok.DeliveredAt = herm.DeliverySucceeded, 1, 200, &delivered
			f.must(f.s.UpdateDelivery(f.ctx, ok))
			retry.Attempts, retry.ResponseStatus, retry.LastError, retry.NextAttemptAt = 1, 500, "HTTP 500", now.Add(time.Hour)
			f.must(f.s.UpdateDelivery(f.ctx, retry))
			later, err := f.s.ClaimDeliveries(f.ctx, now.Add(2*time.Minute), time.Minute, 10)
			f.must(err)
			if len(later) != 2 {
				t.Fatalf("after the leases: %d claimed, want 2", len(later))
			}
			list, err := f.s.ListDeliveries(f.ctx, all.ID, 0, 10)
			f.must(err)
			if len(list) != 2 || list[1].ID != ok.ID || list[1].Status != herm.DeliverySucceeded || list[1].ResponseStatus != 200 ||
				list[1].DeliveredAt == nil || !list[1].DeliveredAt.Equal(delivered) || list[0].LastError != "HTTP 500" {
				t.Fatalf("deliveries of %s: %+v", all.ID, list)
			}
			page, err := f.s.ListDeliveries(f.ctx, all.ID, list[0].ID, 10)
			f.must(err)
			if len(page) != 1 || page[0].ID != ok.ID {
				t.Fatalf("page after %d: %+v", list[0].ID, page)
			}
			f.must(f.s.DeleteWebhook(f.ctx, all.ID))
			gone, err := f.s.ListDeliveries(f.ctx, all.ID, 0, 10)
			f.must(err)
			if len(gone) != 0 {
				t.Fatalf("deliveries of a deleted webhook: %d", len(gone))
			}
			wantCode(t, f.s.UpdateDelivery(f.ctx, ok), herm.ENotFound)
			// Retention takes deliveries with the events.
			_, err = f.s.DeleteEventsBefore(f.ctx, time.Now().Add(2*time.Hour))
			f.must(err)
			left, err := f.s.ListDeliveries(f.ctx, one.ID, 0, 10)
			f.must(err)
			if len(left) != 0 {
				t.Fatalf("deliveries after retention: %d", len(left))
			}
		}},
	}...)
}

func webhookTxTests() []test {
	return []test{
		{"Webhook/RolledBackDelete", func(t *testing.T, f *fixture) {
			d := f.deployment()
			w := &herm.Webhook{ID: f.id(herm.PrefixWebhook), URL: "https://a.example", Events: []string{herm.EventToken}, Secret: []byte{1}, CreatedAt: at(0)}
			f.must(f.s.CreateWebhook(f.ctx, w))
			// Delete the only webhook and append in one transaction, then
			// roll it back: the webhook stays, and so do its deliveries.
			_ = f.s.InTx(f.ctx, func(q store.Querier) error {
				f.must(q.DeleteWebhook(f.ctx, w.ID))
				f.must(q.AppendEvents(f.ctx, []*herm.Event{event(d.ID, "", "", herm.EventToken, 1)}))
				return errRollback
			})
			f.must(f.s.AppendEvents(f.ctx, []*herm.Event{event(d.ID, "", "", herm.EventToken, 2)}))
			list, err := f.s.ListDeliveries(f.ctx, w.ID, 0, 10)
			f.must(err)
			if len(list) != 1 {
				t.Fatalf("%d deliveries after a rolled-back delete, want 1", len(list))
			}
		}},
	}
}
