package herm

import "time"

// Dream statuses.
const (
	// DreamProposed: the dream's changes wait for an apply or a discard
	// (features.dreaming_review).
	DreamProposed = "proposed"
	// DreamApplied: the changes were made (at once, or by an apply).
	DreamApplied = "applied"
	// DreamDiscarded: the changes were discarded and never made.
	DreamDiscarded = "discarded"
	// DreamFailed: the dream's model call failed; it changed nothing.
	DreamFailed = "failed"
)

// Dream is one consolidation of a deployment's memories while it was idle:
// the changes a model proposed (merged duplicates, dropped stale facts,
// resolved contradictions), checked like the memory observer's, and what
// became of them. Its model call is the run RunID (trigger dreaming).
type Dream struct {
	ID           string
	DeploymentID string
	RunID        string
	Status       string
	Changes      []DreamChange
	// Error says why a failed dream failed.
	Error      string
	CreatedAt  time.Time
	ResolvedAt *time.Time
}

// DreamChange is one change of a dream to one memory: an update (Before
// and After) or a deletion (Before only). Before is the memory's content
// when the dream was made: an apply checks it is still that.
type DreamChange struct {
	Op       string  `json:"op" enum:"update,delete"`
	MemoryID string  `json:"memory_id"`
	Before   *string `json:"before" doc:"The memory's content when the dream was made."`
	After    *string `json:"after" doc:"Its content after the change; null for a delete."`
}
