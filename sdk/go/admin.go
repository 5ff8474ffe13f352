package herm

import (
	"context"
	"iter"
	"net/http"
	"time"
)

// Secret is a secret of the vault, without its value (no endpoint returns
// it).
type Secret struct {
	SecretID     string     `json:"secret_id"`
	Name         string     `json:"name"`
	CustomerID   string     `json:"customer_id"` // empty: usable by any customer
	AllowedHosts []string   `json:"allowed_hosts"`
	CreatedAt    time.Time  `json:"created_at"`
	RotatedAt    *time.Time `json:"rotated_at"`
}

// SecretCreateParams is a secret to store.
type SecretCreateParams struct {
	Name         string   `json:"name"`
	Value        string   `json:"value"`
	CustomerID   string   `json:"customer_id,omitempty"`
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
}

// SecretService is the vault's API (admin keys only).
type SecretService struct{ c *Client }

// Create stores a secret.
func (s *SecretService) Create(ctx context.Context, p SecretCreateParams) (*Secret, error) {
	var out Secret
	if err := s.c.do(ctx, http.MethodPost, path("secrets"), nil, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List reads one page of secrets, newest first.
func (s *SecretService) List(ctx context.Context, p ListParams) (*Page[Secret], error) {
	return getPage[Secret](ctx, s.c, path("secrets"), p.values())
}

// All iterates over every secret, across pages.
func (s *SecretService) All(ctx context.Context, p ListParams) iter.Seq2[*Secret, error] {
	return all(p.Cursor, func(cursor string) (*Page[Secret], error) {
		p.Cursor = cursor
		return s.List(ctx, p)
	})
}

// Get reads a secret (without its value).
func (s *SecretService) Get(ctx context.Context, secretID string) (*Secret, error) {
	var out Secret
	if err := s.c.do(ctx, http.MethodGet, path("secrets", secretID), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Rotate replaces a secret's value.
func (s *SecretService) Rotate(ctx context.Context, secretID, value string) (*Secret, error) {
	var out Secret
	body := struct {
		Value string `json:"value"`
	}{value}
	if err := s.c.do(ctx, http.MethodPut, path("secrets", secretID), nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes a secret.
func (s *SecretService) Delete(ctx context.Context, secretID string) error {
	return s.c.do(ctx, http.MethodDelete, path("secrets", secretID), nil, nil, nil)
}

// API key scopes.
const (
	ScopeRead  = "deployments:read"
	ScopeWrite = "deployments:write"
	ScopeAdmin = "admin"
)

// APIKey is an API key; Key, the key itself, only in Create's answer.
type APIKey struct {
	KeyID      string     `json:"key_id"`
	Name       string     `json:"name"`
	Scopes     []string   `json:"scopes"`
	CustomerID string     `json:"customer_id"` // empty: every customer's
	Prefix     string     `json:"prefix"`
	Key        string     `json:"key,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// APIKeyCreateParams is an API key to create.
type APIKeyCreateParams struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	// CustomerID limits the key to one customer's deployments.
	CustomerID string `json:"customer_id,omitempty"`
}

// APIKeyService is the API keys API (admin keys only).
type APIKeyService struct{ c *Client }

// Create creates an API key; its Key is in this answer only.
func (s *APIKeyService) Create(ctx context.Context, p APIKeyCreateParams) (*APIKey, error) {
	var out APIKey
	if err := s.c.do(ctx, http.MethodPost, path("api_keys"), nil, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List reads one page of live API keys, newest first.
func (s *APIKeyService) List(ctx context.Context, p ListParams) (*Page[APIKey], error) {
	return getPage[APIKey](ctx, s.c, path("api_keys"), p.values())
}

// All iterates over every live API key, across pages.
func (s *APIKeyService) All(ctx context.Context, p ListParams) iter.Seq2[*APIKey, error] {
	return all(p.Cursor, func(cursor string) (*Page[APIKey], error) {
		p.Cursor = cursor
		return s.List(ctx, p)
	})
}

// Delete revokes an API key (a key cannot revoke itself).
func (s *APIKeyService) Delete(ctx context.Context, keyID string) error {
	return s.c.do(ctx, http.MethodDelete, path("api_keys", keyID), nil, nil, nil)
}

// Webhook is an outbound webhook; Secret, its signing secret, only in
// Create's answer.
type Webhook struct {
	WebhookID    string    `json:"webhook_id"`
	URL          string    `json:"url"`
	Events       []string  `json:"events"`
	DeploymentID string    `json:"deployment_id"` // empty: every deployment's
	Secret       string    `json:"secret,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// WebhookCreateParams is a webhook to add.
type WebhookCreateParams struct {
	URL          string   `json:"url"`
	Events       []string `json:"events"`
	DeploymentID string   `json:"deployment_id,omitempty"`
}

// Delivery is one event sent, or to be sent, to a webhook.
type Delivery struct {
	DeliveryID     string     `json:"delivery_id"`
	WebhookID      string     `json:"webhook_id"`
	MessageID      string     `json:"message_id"`
	DeploymentID   string     `json:"deployment_id"`
	EventID        string     `json:"event_id"`
	Type           string     `json:"type"`
	Status         string     `json:"status"` // pending, succeeded or failed
	Attempts       int        `json:"attempts"`
	ResponseStatus *int       `json:"response_status"`
	Error          string     `json:"error"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	CreatedAt      time.Time  `json:"created_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
}

// WebhookService is the Webhooks API (admin keys only).
type WebhookService struct{ c *Client }

// Create adds a webhook; its Secret is in this answer only.
func (s *WebhookService) Create(ctx context.Context, p WebhookCreateParams) (*Webhook, error) {
	var out Webhook
	if err := s.c.do(ctx, http.MethodPost, path("webhooks"), nil, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List reads one page of webhooks, newest first.
func (s *WebhookService) List(ctx context.Context, p ListParams) (*Page[Webhook], error) {
	return getPage[Webhook](ctx, s.c, path("webhooks"), p.values())
}

// All iterates over every webhook, across pages.
func (s *WebhookService) All(ctx context.Context, p ListParams) iter.Seq2[*Webhook, error] {
	return all(p.Cursor, func(cursor string) (*Page[Webhook], error) {
		p.Cursor = cursor
		return s.List(ctx, p)
	})
}

// Get reads a webhook (without its secret).
func (s *WebhookService) Get(ctx context.Context, webhookID string) (*Webhook, error) {
	var out Webhook
	if err := s.c.do(ctx, http.MethodGet, path("webhooks", webhookID), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes a webhook and its deliveries.
func (s *WebhookService) Delete(ctx context.Context, webhookID string) error {
	return s.c.do(ctx, http.MethodDelete, path("webhooks", webhookID), nil, nil, nil)
}

// Deliveries reads one page of a webhook's deliveries, newest first.
func (s *WebhookService) Deliveries(ctx context.Context, webhookID string, p ListParams) (*Page[Delivery], error) {
	return getPage[Delivery](ctx, s.c, path("webhooks", webhookID, "deliveries"), p.values())
}

// AllDeliveries iterates over every delivery of a webhook, across pages.
func (s *WebhookService) AllDeliveries(ctx context.Context, webhookID string, p ListParams) iter.Seq2[*Delivery, error] {
	return all(p.Cursor, func(cursor string) (*Page[Delivery], error) {
		p.Cursor = cursor
		return s.Deliveries(ctx, webhookID, p)
	})
}

// Model is a model the server can run.
type Model struct {
	ID          string `json:"id"` // provider/model
	Provider    string `json:"provider"`
	Description string `json:"description"`
	Demo        bool   `json:"demo"`    // the offline demo model
	Default     bool   `json:"default"` // the server's default model
}

// ModelService is the Models API.
type ModelService struct{ c *Client }

// List lists the models the server can run.
func (s *ModelService) List(ctx context.Context) ([]Model, error) {
	p, err := getPage[Model](ctx, s.c, path("models"), nil)
	if err != nil {
		return nil, err
	}
	return p.Data, nil
}
