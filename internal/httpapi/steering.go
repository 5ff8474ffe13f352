package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// SteeringRequest is a run's pause for a human.
type SteeringRequest struct {
	SteeringRequestID string          `json:"steering_request_id"`
	DeploymentID      string          `json:"deployment_id"`
	ThreadID          string          `json:"thread_id"`
	RunID             string          `json:"run_id"`
	ToolCallID        string          `json:"tool_call_id"`
	Kind              string          `json:"kind" enum:"approval,question" doc:"approval: an always_ask tool is about to run; question: the agent asked (ask_human)."`
	Summary           string          `json:"summary"`
	Tool              string          `json:"tool" doc:"The paused tool's own name (ask_human for questions)."`
	Origin            string          `json:"origin" doc:"builtin, or the MCP server the tool is from."`
	Arguments         json.RawMessage `json:"arguments" doc:"The tool call's arguments (a JSON object)."`
	Options           []string        `json:"options" doc:"A question's suggested answers."`
	Status            string          `json:"status" enum:"pending,resolved"`
	Decision          *string         `json:"decision" enum:"approve,deny,answer,timeout"`
	Message           *string         `json:"message"`
	CreatedAt         time.Time       `json:"created_at"`
	ExpiresAt         time.Time       `json:"expires_at" doc:"When a pending request resolves by itself as timeout (a deny)."`
	ResolvedAt        *time.Time      `json:"resolved_at"`
}

// ResolveSteeringRequest is the body of an answer to a steering request.
type ResolveSteeringRequest struct {
	Decision *string `json:"decision" enum:"approve,deny,answer" doc:"approve or deny an approval; answer a question (or an approval, with a message instead of approving: the tool does not run); deny a question to decline it."`
	Message  *string `json:"message" doc:"Reported to the model: why denied, or the answer."`
}

func toSteering(s *herm.SteeringRequest) SteeringRequest {
	args := s.Arguments
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	opts := s.Options
	if opts == nil {
		opts = []string{}
	}
	out := SteeringRequest{
		SteeringRequestID: s.ID, DeploymentID: s.DeploymentID, ThreadID: s.ThreadID, RunID: s.RunID, ToolCallID: s.ToolCallID,
		Kind: s.Kind, Summary: s.Summary, Arguments: args, Options: opts, Status: s.Status,
		CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, ResolvedAt: s.ResolvedAt,
	}
	out.Tool, out.Origin = herm.SplitToolName(s.Tool)
	if s.Status == herm.SteeringResolved {
		d, m := s.Decision, s.Message
		out.Decision, out.Message = &d, &m
	}
	return out
}

func (s *Server) listSteering(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r, 20, 100)
	if err != nil {
		return err
	}
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	f := herm.SteeringFilter{DeploymentID: d.ID, RunID: r.URL.Query().Get("run_id"), NotKind: herm.SteeringCustomTool, Limit: p.Limit + 1, Cursor: p.Cursor}
	switch st := r.URL.Query().Get("status"); st {
	case "", herm.SteeringPending, herm.SteeringResolved:
		f.Status = st
	default:
		return herm.Errorf(herm.EInvalid, "status must be pending or resolved")
	}
	list, err := s.store.ListSteeringRequests(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(list, p.Limit, toSteering, func(s *herm.SteeringRequest) string { return s.ID }))
	return nil
}

func (s *Server) getSteering(w http.ResponseWriter, r *http.Request) error {
	sr, err := s.store.GetSteeringRequest(r.Context(), r.PathValue("deployment_id"), r.PathValue("steering_request_id"))
	if err != nil {
		return err
	}
	if sr.Kind == herm.SteeringCustomTool {
		return herm.Errorf(herm.ENotFound, "steering request not found") // a run's required_action
	}
	writeJSON(w, http.StatusOK, toSteering(sr))
	return nil
}

func (s *Server) resolveSteering(w http.ResponseWriter, r *http.Request) error {
	var in ResolveSteeringRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Decision == nil {
		return herm.Errorf(herm.EInvalid, "decision is required (approve, deny or answer)")
	}
	msg := ""
	if in.Message != nil {
		if n := len([]rune(*in.Message)); n > herm.MaxContent {
			return herm.Errorf(herm.EInvalid, "message must be at most %d characters (got %d)", herm.MaxContent, n)
		}
		if strings.ContainsRune(*in.Message, 0) {
			return herm.Errorf(herm.EInvalid, "message must not contain NUL characters")
		}
		msg = *in.Message
	}
	if *in.Decision == herm.DecisionAnswer && msg == "" {
		return herm.Errorf(herm.EInvalid, "message is required with decision answer")
	}
	sr, err := s.runner.Resolve(r.Context(), r.PathValue("deployment_id"), r.PathValue("steering_request_id"), *in.Decision, msg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toSteering(sr))
	return nil
}
