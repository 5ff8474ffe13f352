package herm

import (
	"encoding/json"
	"time"
)

// AgentStatus is whether an agent takes new sessions.
type AgentStatus string

// Agent statuses.
const (
	AgentActive AgentStatus = "active"
	// AgentArchived: its sessions keep working, it takes no new ones and
	// no updates.
	AgentArchived AgentStatus = "archived"
)

// Agent is a reusable, versioned definition not bound to a customer: every
// accepted update is a new AgentVersion, and CurrentVersion is the newest.
type Agent struct {
	ID             string
	Name           string
	Status         AgentStatus
	CurrentVersion int
	Metadata       map[string]string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ArchivedAt     *time.Time
}

// AgentVersion is one accepted definition of an agent, kept as accepted
// (JSON; the API layer gives it its form).
type AgentVersion struct {
	AgentID    string
	Version    int
	Definition json.RawMessage
	CreatedAt  time.Time
}

// AgentFilter selects agents in a list.
type AgentFilter struct {
	// Archived, when set, keeps the archived agents (true) or the active
	// ones (false); nil lists both.
	Archived *bool
	Page
}

// Session is one conversation with an agent, pinned to the agent version
// current when it was made: a thread (ThreadID) of the hidden deployment
// (DeploymentID) of its agent and user, which holds the memory that the
// sessions of one AgentID + UserID share. A session without UserID has a
// deployment of its own.
type Session struct {
	ID           string
	AgentID      string
	AgentVersion int
	// UserID is the caller's opaque end-user ID ("" when none).
	UserID       string
	Title        string
	Metadata     map[string]string
	ArchivedAt   *time.Time
	DeploymentID string
	ThreadID     string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// SessionFilter selects sessions in a list. Empty fields match everything.
type SessionFilter struct {
	AgentID string
	UserID  string
	// Archived, when set, keeps the archived sessions (true) or the others
	// (false); nil lists both.
	Archived *bool
	// Metadata keeps the sessions whose metadata has every one of these
	// pairs.
	Metadata map[string]string
	// Status, when set, keeps the sessions with a turn running ("running":
	// a run queued or running) or the others ("idle").
	Status string
	Page
}
