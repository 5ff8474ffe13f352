package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/webhook"
)

// CreateWebhookRequest is the body of a webhook's creation.
type CreateWebhookRequest struct {
	URL          *string  `json:"url" doc:"Where deliveries are POSTed: https (http only when the operator sets HERM_ALLOW_PRIVATE_NETWORKS=1)."`
	Events       []string `json:"events" doc:"The event types to deliver (1 to 32 of the event stream's types; not token or reasoning deltas)."`
	DeploymentID *string  `json:"deployment_id" doc:"Only this deployment's events; omitted: every deployment's."`
}

// Webhook is an outbound webhook.
type Webhook struct {
	WebhookID    string    `json:"webhook_id"`
	URL          string    `json:"url"`
	Events       []string  `json:"events"`
	DeploymentID *string   `json:"deployment_id"`
	Secret       string    `json:"secret,omitempty" doc:"The signing secret (whsec_…); only in the response to the creation."`
	CreatedAt    time.Time `json:"created_at"`
}

// Delivery is one event sent, or to be sent, to a webhook.
type Delivery struct {
	DeliveryID     string     `json:"delivery_id" doc:"Also the cursor of the deliveries list."`
	WebhookID      string     `json:"webhook_id"`
	MessageID      string     `json:"message_id" doc:"The webhook-id header: the same for every attempt."`
	DeploymentID   string     `json:"deployment_id"`
	EventID        string     `json:"event_id"`
	Type           string     `json:"type"`
	Status         string     `json:"status" enum:"pending,succeeded,failed"`
	Attempts       int        `json:"attempts"`
	ResponseStatus *int       `json:"response_status" doc:"The endpoint's last HTTP status (null: no answer yet)."`
	Error          *string    `json:"error" doc:"Why the last attempt failed."`
	NextAttemptAt  *time.Time `json:"next_attempt_at" doc:"When a pending delivery is tried next."`
	CreatedAt      time.Time  `json:"created_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
}

func toWebhook(w *herm.Webhook, secret string) Webhook {
	return Webhook{WebhookID: w.ID, URL: w.URL, Events: w.Events, DeploymentID: nullable(w.DeploymentID), Secret: secret, CreatedAt: w.CreatedAt}
}

const deliveryPrefix = "dlv_"

func toDelivery(d *herm.Delivery) Delivery {
	out := Delivery{
		DeliveryID: deliveryPrefix + strconv.FormatInt(d.ID, 10), WebhookID: d.WebhookID, MessageID: d.MessageID(),
		DeploymentID: d.DeploymentID, EventID: herm.EventID(d.Seq), Type: d.EventType, Status: d.Status, Attempts: d.Attempts,
		Error: nullable(d.LastError), CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt,
	}
	if d.ResponseStatus != 0 {
		st := d.ResponseStatus
		out.ResponseStatus = &st
	}
	if d.Status == herm.DeliveryPending {
		t := d.NextAttemptAt
		out.NextAttemptAt = &t
	}
	return out
}

func (s *Server) webhooksOrErr() (*webhook.Service, error) {
	if s.webhooks == nil {
		return nil, herm.Errorf(herm.EUnavailable, "this server sends no webhooks")
	}
	return s.webhooks, nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooksOrErr()
	if err != nil {
		return err
	}
	var in CreateWebhookRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.URL == nil {
		return herm.Errorf(herm.EInvalid, "url is required")
	}
	dep := ""
	if in.DeploymentID != nil {
		if *in.DeploymentID == "" {
			return herm.Errorf(herm.EInvalid, "deployment_id must name a deployment (omit it for every deployment's events)")
		}
		dep = *in.DeploymentID
	}
	hook, secret, err := svc.Create(r.Context(), webhook.Input{URL: *in.URL, Events: in.Events, DeploymentID: dep})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toWebhook(hook, secret))
	return nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r, 20, 100)
	if err != nil {
		return err
	}
	list, err := s.store.ListWebhooks(r.Context(), herm.Page{Limit: p.Limit + 1, Cursor: p.Cursor})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(list, p.Limit, func(h *herm.Webhook) Webhook { return toWebhook(h, "") }, func(h *herm.Webhook) string { return h.ID }))
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.store.GetWebhook(r.Context(), r.PathValue("webhook_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toWebhook(hook, ""))
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhooksOrErr()
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), r.PathValue("webhook_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("webhook_id")
	if _, err := s.store.GetWebhook(r.Context(), id); err != nil {
		return err
	}
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return herm.Errorf(herm.EInvalid, "limit must be an integer from 1 to 100")
		}
		limit = n
	}
	var before int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(c, deliveryPrefix), 10, 64)
		if err != nil || !strings.HasPrefix(c, deliveryPrefix) || n <= 0 {
			return herm.Errorf(herm.EInvalid, "cursor %q is not one this API returned (use next_cursor)", c)
		}
		before = n
	}
	list, err := s.store.ListDeliveries(r.Context(), id, before, limit+1)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(list, limit, toDelivery, func(d *herm.Delivery) string { return deliveryPrefix + strconv.FormatInt(d.ID, 10) }))
	return nil
}
