package herm

import (
	"encoding/json"
	"time"
)

// Kinds of steering requests.
const (
	SteeringApproval = "approval" // an always_ask tool is about to run
	SteeringQuestion = "question" // the agent asked (ask_human)
)

// Decisions that resolve a steering request.
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
	DecisionAnswer  = "answer"
	DecisionTimeout = "timeout"
)

// Steering request statuses.
const (
	SteeringPending  = "pending"
	SteeringResolved = "resolved"
)

// PrefixSteering starts steering request IDs.
const PrefixSteering = "str_"

// SteeringRequest is a run's pause for a human: an approval before an
// always_ask tool runs, or a question the agent asked.
type SteeringRequest struct {
	ID           string
	DeploymentID string
	ThreadID     string
	RunID        string
	ToolCallID   string // the paused tool call (ask_human's own call for questions)
	Kind         string
	Summary      string
	Tool         string
	Arguments    json.RawMessage
	Options      []string // a question's suggested answers
	Status       string
	Decision     string // when resolved
	Message      string // the human's message (the answer, or why denied)
	CreatedAt    time.Time
	ExpiresAt    time.Time
	ResolvedAt   *time.Time
}

// SteeringFilter selects steering requests in a list.
type SteeringFilter struct {
	DeploymentID string
	RunID        string
	Status       string // "" = any
	Kind         string // "" = any
	NotKind      string // leave out requests of this kind ("" = none)
	Limit        int
	Cursor       string // list after this ID (newest first)
}
