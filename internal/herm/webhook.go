package herm

import "time"

// PrefixWebhook starts webhook IDs.
const PrefixWebhook = "whk_"

// Webhook is an outbound webhook: events of the listed types (of one
// deployment, or of all) are POSTed to URL, signed with its secret by the
// Standard Webhooks scheme.
type Webhook struct {
	ID           string
	URL          string
	Events       []string
	DeploymentID string // "" = every deployment
	Secret       []byte // the signing secret, encrypted by the server
	CreatedAt    time.Time
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// Delivery is one event sent (or to be sent) to one webhook.
type Delivery struct {
	ID             int64
	WebhookID      string
	DeploymentID   string
	Seq            int64
	EventType      string
	Status         string
	Attempts       int
	NextAttemptAt  time.Time
	ResponseStatus int // 0: none yet
	LastError      string
	CreatedAt      time.Time
	DeliveredAt    *time.Time
}

// MessageID is the webhook-id of the delivery's message: the same for
// every attempt, unique per event.
func (d *Delivery) MessageID() string { return d.DeploymentID + "." + EventID(d.Seq) }
