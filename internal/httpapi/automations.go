package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hermhq/herm/internal/automation"
	"github.com/hermhq/herm/internal/herm"
)

// AutomationRequest is the body of an automation's creation or update
// (on update, fields not sent stay).
type AutomationRequest struct {
	Name            *string         `json:"name" doc:"≤ 200 characters. Required on create."`
	Schedule        *string         `json:"schedule" doc:"A 5-field cron expression (minute hour day-of-month month day-of-week) or plain English such as 'every Monday at 9am', 'every 2 hours', 'every weekday at 8:30', read in timezone. Required on create."`
	Instructions    *string         `json:"instructions" doc:"What the agent is asked at each firing (the run's input). Required on create."`
	ThreadID        *string         `json:"thread_id" doc:"The thread its runs go to; default: a thread of its own, made now."`
	Enabled         *bool           `json:"enabled" doc:"Default true."`
	Timezone        *string         `json:"timezone" doc:"IANA time zone the schedule is read in (default UTC)."`
	MissedRunPolicy *string         `json:"missed_run_policy" enum:"skip,run_once" doc:"A firing missed while the server was down: skip it, or run once on start (default)."`
	MaxRetries      *int            `json:"max_retries" doc:"Retries of a run that ended in error (0–10, default 2; after 1 min, 5 min, 15 min…)."`
	Overlap         *string         `json:"overlap" enum:"skip,queue" doc:"A firing while its last run is still going: skip it (default) or queue a run behind it."`
	OutputSchema    json.RawMessage `json:"output_schema" doc:"A JSON Schema for the final answer of the automation's runs, as a message's output_schema (same subset); their output is then that JSON value. null on update removes it."`
}

// Automation is a deployment's scheduled run.
type Automation struct {
	AutomationID    string           `json:"automation_id"`
	DeploymentID    string           `json:"deployment_id"`
	Name            string           `json:"name"`
	Schedule        string           `json:"schedule"`
	Cron            string           `json:"cron" doc:"The schedule as a cron expression."`
	Instructions    string           `json:"instructions"`
	ThreadID        string           `json:"thread_id"`
	Enabled         bool             `json:"enabled"`
	Timezone        string           `json:"timezone"`
	MissedRunPolicy string           `json:"missed_run_policy" enum:"skip,run_once"`
	MaxRetries      int              `json:"max_retries"`
	Overlap         string           `json:"overlap" enum:"skip,queue"`
	OutputSchema    json.RawMessage  `json:"output_schema" doc:"The output_schema of its runs; null when they answer in free text."`
	NextRunAt       *time.Time       `json:"next_run_at"`
	LastRunAt       *time.Time       `json:"last_run_at"`
	LastRunStatus   *string          `json:"last_run_status"`
	CreatedAt       time.Time        `json:"created_at"`
	UpdatedAt       time.Time        `json:"updated_at"`
	RecentRuns      *[]AutomationRun `json:"recent_runs,omitempty" doc:"On GET of one automation: its latest runs, newest first."`
}

// AutomationRun is one of an automation's runs.
type AutomationRun struct {
	RunID       string     `json:"run_id"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

// TriggerResponse is the answer to a manual firing.
type TriggerResponse struct {
	RunID string `json:"run_id"`
}

func toAutomation(a *herm.Automation) Automation {
	return Automation{AutomationID: a.ID, DeploymentID: a.DeploymentID, Name: a.Name, Schedule: a.Schedule, Cron: a.Cron, Instructions: a.Instructions, ThreadID: a.ThreadID,
		Enabled: a.Enabled, Timezone: a.Timezone, MissedRunPolicy: a.MissedRunPolicy, MaxRetries: a.MaxRetries, Overlap: a.Overlap, OutputSchema: a.OutputSchema,
		NextRunAt: a.NextRunAt, LastRunAt: a.LastRunAt, LastRunStatus: nullable(a.LastRunStatus), CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

func (in AutomationRequest) input() herm.AutomationInput {
	return herm.AutomationInput{Name: in.Name, Schedule: in.Schedule, Instructions: in.Instructions, ThreadID: in.ThreadID, Enabled: in.Enabled,
		Timezone: in.Timezone, MissedRunPolicy: in.MissedRunPolicy, MaxRetries: in.MaxRetries, Overlap: in.Overlap, OutputSchema: in.OutputSchema}
}

func (s *Server) automationsOrErr() (*automation.Service, error) {
	if s.automations == nil {
		return nil, herm.Errorf(herm.EUnavailable, "this server runs no automations")
	}
	return s.automations, nil
}

func (s *Server) createAutomation(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.automationsOrErr()
	if err != nil {
		return err
	}
	var in AutomationRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	a, err := svc.Create(r.Context(), r.PathValue("deployment_id"), in.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toAutomation(a))
	return nil
}

func (s *Server) listAutomations(w http.ResponseWriter, r *http.Request) error {
	return listOfDeployment(s, w, r, s.store.ListAutomations, toAutomation, func(a *herm.Automation) string { return a.ID })
}

func (s *Server) getAutomation(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.automationsOrErr()
	if err != nil {
		return err
	}
	a, err := s.store.GetAutomation(r.Context(), r.PathValue("deployment_id"), r.PathValue("automation_id"))
	if err != nil {
		return err
	}
	out := toAutomation(a)
	runs, err := svc.RecentRuns(r.Context(), a, 10)
	if err != nil {
		return err
	}
	recent := make([]AutomationRun, 0, len(runs))
	for _, run := range runs {
		recent = append(recent, AutomationRun{RunID: run.ID, Status: string(run.Status), CreatedAt: run.CreatedAt, CompletedAt: run.CompletedAt})
	}
	out.RecentRuns = &recent
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) updateAutomation(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.automationsOrErr()
	if err != nil {
		return err
	}
	var in AutomationRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	a, err := svc.Update(r.Context(), r.PathValue("deployment_id"), r.PathValue("automation_id"), in.input())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAutomation(a))
	return nil
}

func (s *Server) deleteAutomation(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.automationsOrErr()
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), r.PathValue("deployment_id"), r.PathValue("automation_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) triggerAutomation(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.automationsOrErr()
	if err != nil {
		return err
	}
	run, err := svc.Trigger(r.Context(), r.PathValue("deployment_id"), r.PathValue("automation_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, TriggerResponse{RunID: run.ID})
	return nil
}
