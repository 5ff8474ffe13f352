package herm

import "time"

// ThreadStatus is derived from the thread's active run.
type ThreadStatus string

// Thread statuses.
const (
	ThreadIdle           ThreadStatus = "idle"
	ThreadRunning        ThreadStatus = "running"
	ThreadWaitingOnHuman ThreadStatus = "waiting_on_human"
)

// DefaultThreadTitle is the title of the thread created with a deployment.
const DefaultThreadTitle = "Default"

// Thread is one conversation of a deployment.
type Thread struct {
	ID             string
	DeploymentID   string
	Title          string
	IsDefault      bool
	Status         ThreadStatus // derived: running if a run is queued or running, waiting_on_human if one waits
	MessageCount   int          // derived: messages taken into the history (not pending)
	CreatedAt      time.Time
	LastActivityAt time.Time
}

// Message roles.
const (
	RoleUser  = "user"
	RoleAgent = "agent"
)

// Message is an entry of a thread's history.
type Message struct {
	ID           string
	DeploymentID string
	ThreadID     string
	RunID        string
	Role         string
	Content      string
	Attachments  []Attachment
	// Pending is true for a user message that its run has not taken in yet
	// (the run's first input, or steering input sent while it runs).
	Pending   bool
	CreatedAt time.Time
}

// Attachment kinds.
const (
	AttachImage = "image"
	AttachVideo = "video"
	AttachAudio = "audio"
	AttachFile  = "file"
)

// Attachment is a media input of a message.
type Attachment struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}
