// Package eventjson is an event's wire form: the one line of JSON that the
// event stream (SSE frames and JSON pages) and webhook deliveries carry,
// the common fields followed by the event type's own.
package eventjson

import (
	"encoding/json"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// Event is the payload of an event: the common fields, then the type's own
// fields (see the event table in the contract).
type Event struct {
	EventID      string    `json:"event_id"`
	Sequence     int64     `json:"sequence"`
	Type         string    `json:"type"`
	DeploymentID string    `json:"deployment_id"`
	ThreadID     *string   `json:"thread_id"`
	RunID        *string   `json:"run_id"`
	CreatedAt    time.Time `json:"created_at"`
}

// Marshal renders an event as its stream and webhook payload, encoding it
// at most once however many subscribers and webhooks it goes to.
func Marshal(e *herm.Event) []byte { return e.Encoded(marshal) }

func marshal(e *herm.Event) []byte {
	head, _ := json.Marshal(Event{
		EventID: e.ID(), Sequence: e.Seq, Type: e.Type, DeploymentID: e.DeploymentID,
		ThreadID: nullable(e.ThreadID), RunID: nullable(e.RunID), CreatedAt: e.CreatedAt,
	})
	data := e.Data
	if len(data) < 2 || data[0] != '{' || string(data) == "{}" {
		return head
	}
	out := make([]byte, 0, len(head)+len(data))
	out = append(out, head[:len(head)-1]...)
	out = append(out, ',')
	return append(out, data[1:]...)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
