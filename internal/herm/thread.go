package herm

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"
)

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

// SavedAttachment is an attachment as a run saved it in the workspace.
type SavedAttachment struct {
	Type      string `json:"type"`
	Path      string `json:"path"` // in the workspace: attachments/<run_id>/<n>-<name>
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
}

// IsImageType reports a media type models take as image input.
func IsImageType(mt string) bool {
	switch mt {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return true
	}
	return false
}

// MaxAttachmentBytes is the largest attachment a run fetches and saves.
const MaxAttachmentBytes = 25 << 20

// DecodeDataURL decodes a data URL ("data:<type>[;base64],<data>").
func DecodeDataURL(u string) (mediaType string, data []byte, err error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", nil, fmt.Errorf("not a data URL")
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return "", nil, fmt.Errorf("a data URL needs a comma before its data")
	}
	b64 := strings.HasSuffix(meta, ";base64")
	meta = strings.TrimSuffix(meta, ";base64")
	mediaType, _, _ = strings.Cut(meta, ";")
	if mediaType == "" {
		mediaType = "text/plain"
	}
	if b64 {
		data, err = base64.StdEncoding.DecodeString(payload)
		if err != nil {
			data, err = base64.RawStdEncoding.DecodeString(payload)
		}
		if err != nil {
			return "", nil, fmt.Errorf("the data is not valid base64")
		}
	} else {
		s, err := url.PathUnescape(payload)
		if err != nil {
			return "", nil, fmt.Errorf("the data is not valid percent-encoding")
		}
		data = []byte(s)
	}
	return strings.ToLower(mediaType), data, nil
}
