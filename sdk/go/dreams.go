package herm

import (
	"context"
	"iter"
	"net/http"
	"time"
)

// Dream is one consolidation of a deployment's memories while it was idle
// (features.dreaming): the changes it proposed and what became of them.
type Dream struct {
	DreamID      string        `json:"dream_id"`
	DeploymentID string        `json:"deployment_id"`
	RunID        string        `json:"run_id"` // its run, trigger dreaming
	Status       string        `json:"status"` // proposed, applied, discarded or failed
	Changes      []DreamChange `json:"changes"`
	Error        *string       `json:"error"`
	CreatedAt    time.Time     `json:"created_at"`
	ResolvedAt   *time.Time    `json:"resolved_at"`
}

// DreamChange is a dream's change to one memory: an update (Before and
// After) or a delete (Before).
type DreamChange struct {
	Op       string  `json:"op"` // update or delete
	MemoryID string  `json:"memory_id"`
	Before   *string `json:"before"`
	After    *string `json:"after"`
}

// DreamService is the Dreams API.
type DreamService struct{ c *Client }

// List reads one page of a deployment's dreams, newest first.
func (s *DreamService) List(ctx context.Context, deploymentID string, p ListParams) (*Page[Dream], error) {
	return getPage[Dream](ctx, s.c, depPath(deploymentID, "dreams"), p.values())
}

// All iterates over every dream of a deployment, across pages.
func (s *DreamService) All(ctx context.Context, deploymentID string, p ListParams) iter.Seq2[*Dream, error] {
	return all(p.Cursor, func(cursor string) (*Page[Dream], error) {
		p.Cursor = cursor
		return s.List(ctx, deploymentID, p)
	})
}

// Get reads a dream.
func (s *DreamService) Get(ctx context.Context, deploymentID, dreamID string) (*Dream, error) {
	return s.call(ctx, http.MethodGet, deploymentID, dreamID, "")
}

// Apply makes a proposed dream's changes (409 when it is not proposed, or
// when a memory it touches changed since).
func (s *DreamService) Apply(ctx context.Context, deploymentID, dreamID string) (*Dream, error) {
	return s.call(ctx, http.MethodPost, deploymentID, dreamID, "apply")
}

// Discard discards a proposed dream (409 when it is not proposed).
func (s *DreamService) Discard(ctx context.Context, deploymentID, dreamID string) (*Dream, error) {
	return s.call(ctx, http.MethodPost, deploymentID, dreamID, "discard")
}

func (s *DreamService) call(ctx context.Context, method, deploymentID, dreamID, action string) (*Dream, error) {
	parts := []string{"dreams", dreamID}
	if action != "" {
		parts = append(parts, action)
	}
	var d Dream
	if err := s.c.do(ctx, method, depPath(deploymentID, parts...), nil, nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}
