package herm

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Event types.
const (
	EventDeploymentStatus = "deployment_status"
	EventRunStatus        = "run_status"
	EventToken            = "token"
	EventMessage          = "message"
	EventReasoning        = "reasoning"
	EventTurnAbandoned    = "turn_abandoned"
	EventToolCall         = "tool_call"
	EventToolResult       = "tool_result"
	EventSteeringRequest  = "steering_request"
	EventSteeringResolved = "steering_resolved"
	EventFilesystem       = "filesystem"
	EventMemory           = "memory"
	EventUsage            = "usage"
	EventAutomation       = "automation"
	EventCompaction       = "compaction"
	EventWarning          = "warning"
	EventEgress           = "egress"
)

// EventTypes lists every event type, for validating filters.
func EventTypes() []string {
	return []string{EventDeploymentStatus, EventRunStatus, EventToken, EventMessage, EventReasoning,
		EventToolCall, EventToolResult, EventSteeringRequest, EventSteeringResolved, EventFilesystem,
		EventMemory, EventUsage, EventAutomation, EventCompaction, EventWarning, EventEgress, EventTurnAbandoned}
}

// Event is one entry of a deployment's event log. Seq is assigned when the
// event is appended: per deployment it increases by exactly one.
type Event struct {
	Seq          int64
	DeploymentID string
	ThreadID     string // "" for deployment-level events
	RunID        string // "" for events outside a run
	Type         string
	// ThreadSeq is the event's place among its thread's events that a
	// session shows (InThreadSequence), assigned with Seq in the threads of
	// hidden deployments (Deployment.AgentID set), the sessions' threads:
	// per thread it increases by exactly one. 0 for the others, and for
	// every event of a first-generation deployment.
	ThreadSeq int64
	// Data is the JSON object of the event's own fields (without the common
	// ones above).
	Data      json.RawMessage
	CreatedAt time.Time

	// encoded caches the event's wire form: one live event goes to every
	// subscriber of the deployment, and is encoded once for all of them.
	encoded atomic.Pointer[[]byte]
}

// Encoded returns encode(e), computing it at most once per event in the
// common case (concurrent first callers may each compute it). An event must
// not be modified after it has been encoded.
func (e *Event) Encoded(encode func(*Event) []byte) []byte {
	if b := e.encoded.Load(); b != nil {
		return *b
	}
	b := encode(e)
	e.encoded.Store(&b)
	return b
}

// ID returns the event's wire id, "evt_<seq>".
func (e *Event) ID() string { return EventID(e.Seq) }

// EventID formats a sequence number as an event id.
func EventID(seq int64) string { return PrefixEvent + strconv.FormatInt(seq, 10) }

// ParseEventID parses "evt_<seq>" (or a bare number) into a sequence number.
func ParseEventID(s string) (int64, bool) {
	s = strings.TrimPrefix(s, PrefixEvent)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// NewEvent builds an event whose Data is fields marshalled as JSON.
func NewEvent(deploymentID, threadID, runID, typ string, fields any) *Event {
	data, err := json.Marshal(fields)
	if err != nil {
		// fields are always our own plain structs and maps.
		data = []byte(`{}`)
	}
	return &Event{DeploymentID: deploymentID, ThreadID: threadID, RunID: runID, Type: typ, Data: data}
}

// InThreadSequence reports whether an event is one that a session of the
// newer API shows (user and agent messages, tokens, reasoning, tool calls
// and results, answers to pending calls, compactions, warnings, and run
// statuses but queued), numbered in its thread's sequence (ThreadSeq).
// The store numbers them only in hidden deployments (Deployment.AgentID
// set), whose threads are sessions: a first-generation deployment's
// events get no numbers, since nothing reads them. The others (usage,
// memory, egress, steering requests, abandoned turns, queued runs, events
// outside a thread) are the first generation's only.
func InThreadSequence(e *Event) bool {
	if e.ThreadID == "" {
		return false
	}
	switch e.Type {
	case EventMessage, EventToken, EventReasoning, EventToolCall, EventToolResult,
		EventSteeringResolved, EventCompaction, EventWarning:
		return true
	case EventRunStatus:
		var d struct {
			Status RunStatus `json:"status"`
		}
		return json.Unmarshal(e.Data, &d) == nil && d.Status != "" && d.Status != RunQueued
	}
	return false
}
