package herm

import "encoding/json"

// Modes of a message sent to a thread that has an active run.
const (
	SendSteer     = "steer"
	SendQueue     = "queue"
	SendInterrupt = "interrupt"
	SendReject    = "reject"
)

// NewThread is the thread_id value that asks for a new thread.
const NewThread = "new"

// SendParams is a message sent to a deployment.
type SendParams struct {
	DeploymentID string
	// ThreadID is "" for the default thread, NewThread for a new one, or an
	// existing thread's ID.
	ThreadID    string
	Content     string
	Attachments []Attachment
	// Mode is SendSteer ("" too), SendQueue, SendInterrupt or SendReject.
	Mode    string
	Trigger Trigger // default {Type: message}
	// OutputSchema, when set, is the run's output schema (validated by
	// ValidateOutputSchema). A message with one is not folded into an
	// active run that has another.
	OutputSchema json.RawMessage
	// ConfigVersion, when set, pins the run to this configuration version
	// of the deployment (and Model to its model): a session's runs use its
	// agent version.
	ConfigVersion int
	Model         string
}

// SendResult says which run a message went to.
type SendResult struct {
	Run     *Run
	Message *Message
	Steered bool
}
