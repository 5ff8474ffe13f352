package herm

import (
	"encoding/json"
	"time"
)

// PrefixAutomation starts automation IDs.
const PrefixAutomation = "auto_"

// Automation policies.
const (
	MissedSkip    = "skip"
	MissedRunOnce = "run_once"
	OverlapSkip   = "skip"
	OverlapQueue  = "queue"
)

// Automation is a deployment's scheduled run: at each firing of Schedule
// (read in Timezone) Instructions go to ThreadID as a run's input.
type Automation struct {
	ID              string `json:"id"`
	DeploymentID    string `json:"deployment_id"`
	Name            string `json:"name"`
	Schedule        string `json:"schedule"` // as given
	Cron            string `json:"cron"`     // as read
	Timezone        string `json:"timezone"`
	Instructions    string `json:"instructions"`
	ThreadID        string `json:"thread_id"`
	Enabled         bool   `json:"enabled"`
	MissedRunPolicy string `json:"missed_run_policy"`
	MaxRetries      int    `json:"max_retries"`
	Overlap         string `json:"overlap"`
	// OutputSchema, when set, is the output_schema of the automation's
	// runs (see ValidateOutputSchema).
	OutputSchema  json.RawMessage `json:"output_schema,omitempty"`
	NextRunAt     *time.Time      `json:"next_run_at,omitempty"`
	LastRunAt     *time.Time      `json:"last_run_at,omitempty"`
	LastRunID     string          `json:"last_run_id,omitempty"`
	LastRunStatus string          `json:"last_run_status,omitempty"`
	Retries       int             `json:"retries,omitempty"` // retries of the last firing so far
	RetryAt       *time.Time      `json:"retry_at,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	// Version grows by one with every stored change; a change is stored
	// only over the version it was made from (store.UpdateAutomation).
	Version int64 `json:"-"`
}

// AutomationInput is an automation's definition as the API and the
// agent's tool give it, every field optional on update.
type AutomationInput struct {
	Name            *string
	Schedule        *string
	Instructions    *string
	ThreadID        *string
	Enabled         *bool
	Timezone        *string
	MissedRunPolicy *string
	MaxRetries      *int
	Overlap         *string
	// OutputSchema: nil leaves it; JSON null clears it; a schema sets it.
	OutputSchema json.RawMessage
}

// DueAt is when the scheduler should next act on a: its retry or its next
// firing, whichever comes first (nil: neither).
func (a *Automation) DueAt() *time.Time {
	switch {
	case a.RetryAt == nil:
		return a.NextRunAt
	case a.NextRunAt == nil || a.RetryAt.Before(*a.NextRunAt):
		return a.RetryAt
	}
	return a.NextRunAt
}

// Watching reports whether a's last run may still be going.
func (a *Automation) Watching() bool {
	return a.LastRunID != "" && (a.LastRunStatus == "" || RunStatus(a.LastRunStatus).Active())
}
