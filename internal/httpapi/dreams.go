package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// Dream is one consolidation of a deployment's memories while it was idle
// (features.dreaming): the changes it proposed and what became of them.
type Dream struct {
	DreamID      string             `json:"dream_id"`
	DeploymentID string             `json:"deployment_id"`
	RunID        string             `json:"run_id" doc:"The dream's run (trigger dreaming): its model call and usage."`
	Status       string             `json:"status" enum:"proposed,applied,discarded,failed" doc:"proposed: held for review (features.dreaming_review) until POST …/apply or …/discard; applied: its changes were made (at once without review); discarded: never made; failed: the model call failed and nothing changed."`
	Changes      []herm.DreamChange `json:"changes" doc:"Each change to one memory: update (before and after) or delete (before). A merge of duplicates is an update of one and deletes of the others. For an applied dream, the changes made."`
	Error        *string            `json:"error" doc:"Why a failed dream failed; null otherwise."`
	CreatedAt    time.Time          `json:"created_at"`
	ResolvedAt   *time.Time         `json:"resolved_at" doc:"When it was applied, discarded or failed; null while proposed."`
}

func toDream(d *herm.Dream) Dream {
	out := Dream{DreamID: d.ID, DeploymentID: d.DeploymentID, RunID: d.RunID, Status: d.Status, Changes: d.Changes,
		CreatedAt: d.CreatedAt, ResolvedAt: d.ResolvedAt}
	if out.Changes == nil {
		out.Changes = []herm.DreamChange{}
	}
	if d.Error != "" {
		out.Error = &d.Error
	}
	return out
}

func (s *Server) listDreams(w http.ResponseWriter, r *http.Request) error {
	return listOfDeployment(s, w, r, func(ctx context.Context, deploymentID string, p herm.Page) ([]*herm.Dream, error) {
		return s.store.ListDreams(ctx, deploymentID, p.Cursor, p.Limit)
	}, toDream, func(d *herm.Dream) string { return d.ID })
}

func (s *Server) getDream(w http.ResponseWriter, r *http.Request) error {
	d, err := s.store.GetDream(r.Context(), r.PathValue("deployment_id"), r.PathValue("dream_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDream(d))
	return nil
}

func (s *Server) applyDream(w http.ResponseWriter, r *http.Request) error {
	return s.resolveDream(w, r, s.runner.ApplyDream)
}

func (s *Server) discardDream(w http.ResponseWriter, r *http.Request) error {
	return s.resolveDream(w, r, s.runner.DiscardDream)
}

func (s *Server) resolveDream(w http.ResponseWriter, r *http.Request, resolve func(ctx context.Context, deploymentID, dreamID string) (*herm.Dream, error)) error {
	dep, err := s.deployment(r)
	if err != nil {
		return err
	}
	if s.runner == nil {
		return herm.Errorf(herm.EUnavailable, "this server has no runner")
	}
	d, err := resolve(r.Context(), dep.ID, r.PathValue("dream_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDream(d))
	return nil
}
