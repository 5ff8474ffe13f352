package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/runner"
)

// Deployments.

func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request) error {
	var in herm.DeploymentInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if c, ok := herm.KeyCustomer(r.Context()); ok {
		// A customer's key creates that customer's deployments only.
		switch {
		case in.CustomerID == nil:
			in.CustomerID = &c
		case *in.CustomerID != c:
			return herm.Errorf(herm.EForbidden, "this API key is limited to customer %s and cannot create deployments of another", c)
		}
	}
	d, err := s.deps.Create(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.deploymentOut(d, s.base(r)))
	return nil
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.deploymentOut(d, s.base(r)))
	return nil
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r, 20, 100)
	if err != nil {
		return err
	}
	f := herm.DeploymentFilter{CustomerID: r.URL.Query().Get("customer_id"), Page: herm.Page{Limit: p.Limit + 1, Cursor: p.Cursor}}
	if c, ok := herm.KeyCustomer(r.Context()); ok {
		// A customer's key lists that customer's deployments only.
		if f.CustomerID != "" && f.CustomerID != c {
			writeJSON(w, http.StatusOK, List[Deployment]{Data: []Deployment{}})
			return nil
		}
		f.CustomerID = c
	}
	if st := r.URL.Query().Get("status"); st != "" {
		switch herm.DeploymentStatus(st) {
		case herm.DeploymentProvisioning, herm.DeploymentReady, herm.DeploymentError, herm.DeploymentDeleting:
			f.Status = herm.DeploymentStatus(st)
		default:
			return herm.Errorf(herm.EInvalid, "status must be provisioning, ready, error or deleting")
		}
	}
	ds, err := s.deps.List(r.Context(), f)
	if err != nil {
		return err
	}
	base := s.base(r)
	writeJSON(w, http.StatusOK, listOf(ds, p.Limit, func(d *herm.Deployment) Deployment { return s.deploymentOut(d, base) }, func(d *herm.Deployment) string { return d.ID }))
	return nil
}

func (s *Server) updateDeployment(w http.ResponseWriter, r *http.Request) error {
	var in herm.DeploymentInput
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := s.deps.Update(r.Context(), r.PathValue("deployment_id"), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.deploymentOut(d, s.base(r)))
	return nil
}

// DeleteDeploymentRequest is an optional JSON body of a deletion, for
// clients that send options in the body rather than the query.
type DeleteDeploymentRequest struct {
	RetainFilesystem *bool `json:"retain_filesystem"`
}

func (s *Server) deleteDeployment(w http.ResponseWriter, r *http.Request) error {
	retain := false
	if v := r.URL.Query().Get("retain_filesystem"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return herm.Errorf(herm.EInvalid, "retain_filesystem must be true or false")
		}
		retain = b
	} else if r.ContentLength != 0 {
		// Never silently drop a retain_filesystem sent in the body: the
		// workspace would be destroyed.
		var in DeleteDeploymentRequest
		if err := decode(r, &in); err != nil {
			return err
		}
		if in.RetainFilesystem != nil {
			retain = *in.RetainFilesystem
		}
	}
	d, snap, err := s.deps.Delete(r.Context(), r.PathValue("deployment_id"), retain)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, DeleteDeploymentResponse{DeploymentID: d.ID, Status: string(herm.DeploymentDeleting), SnapshotID: nullable(snap)})
	return nil
}

// Threads.

func (s *Server) createThread(w http.ResponseWriter, r *http.Request) error {
	var in CreateThreadRequest
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	title := ""
	if in.Title != nil {
		title = *in.Title
	}
	if err := herm.ValidateThreadTitle(title); err != nil {
		return err
	}
	now := s.now().UTC()
	t := &herm.Thread{ID: s.ids.New(herm.PrefixThread), DeploymentID: d.ID, Title: title, Status: herm.ThreadIdle, CreatedAt: now, LastActivityAt: now}
	if err := s.store.CreateThread(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toThread(t))
	return nil
}

func (s *Server) listThreads(w http.ResponseWriter, r *http.Request) error {
	return listOfDeployment(s, w, r, s.store.ListThreads, toThread, func(t *herm.Thread) string { return t.ID })
}

// listOfDeployment answers a page of a deployment's objects, newest first.
func listOfDeployment[T, U any](s *Server, w http.ResponseWriter, r *http.Request, fetch func(ctx context.Context, deploymentID string, p herm.Page) ([]T, error), conv func(T) U, id func(T) string) error {
	p, err := page(r, 20, 100)
	if err != nil {
		return err
	}
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	items, err := fetch(r.Context(), d.ID, herm.Page{Limit: p.Limit + 1, Cursor: p.Cursor})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(items, p.Limit, conv, id))
	return nil
}

func (s *Server) getThread(w http.ResponseWriter, r *http.Request) error {
	t, err := s.store.GetThread(r.Context(), r.PathValue("deployment_id"), r.PathValue("thread_id"))
	if err != nil {
		return err
	}
	msgs, err := s.store.ListMessages(r.Context(), t.ID, 0)
	if err != nil {
		return err
	}
	out := ThreadWithMessages{Thread: toThread(t), Messages: make([]Message, 0, len(msgs))}
	for _, m := range msgs {
		out.Messages = append(out.Messages, toMessage(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) updateThread(w http.ResponseWriter, r *http.Request) error {
	var in UpdateThreadRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Title == nil {
		return herm.Errorf(herm.EInvalid, "title is required")
	}
	if err := herm.ValidateThreadTitle(*in.Title); err != nil {
		return err
	}
	dep, id := r.PathValue("deployment_id"), r.PathValue("thread_id")
	if err := s.store.UpdateThreadTitle(r.Context(), dep, id, *in.Title); err != nil {
		return err
	}
	t, err := s.store.GetThread(r.Context(), dep, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toThread(t))
	return nil
}

func (s *Server) deleteThread(w http.ResponseWriter, r *http.Request) error {
	dep, id := r.PathValue("deployment_id"), r.PathValue("thread_id")
	t, err := s.store.GetThread(r.Context(), dep, id)
	if err != nil {
		return err
	}
	if t.IsDefault {
		return herm.Errorf(herm.EConflict, "the default thread cannot be deleted")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.runner.CancelAll(ctx, dep, id); err != nil {
		return herm.Errorf(herm.EUnavailable, "the thread's active run did not stop in time; retry").WithErr(err)
	}
	if err := s.store.DeleteThread(r.Context(), dep, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Messages and runs.

func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request) error {
	var in SendMessageRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Content == nil {
		return herm.Errorf(herm.EInvalid, "content is required")
	}
	if err := herm.ValidateMessage(*in.Content, in.Attachments); err != nil {
		return err
	}
	if s.deps != nil {
		// An https attachment the server may not fetch is refused now.
		if err := herm.CheckAttachmentURLs(r.Context(), in.Attachments, s.deps.Rules()); err != nil {
			return err
		}
	}
	p := herm.SendParams{DeploymentID: r.PathValue("deployment_id"), Content: *in.Content, Attachments: in.Attachments, Mode: herm.SendSteer}
	if in.ThreadID != nil {
		if *in.ThreadID == "" {
			return herm.Errorf(herm.EInvalid, "thread_id must not be empty (omit it for the default thread)")
		}
		p.ThreadID = *in.ThreadID
	}
	if len(in.OutputSchema) > 0 && string(in.OutputSchema) != "null" {
		if err := herm.ValidateOutputSchema("output_schema", in.OutputSchema); err != nil {
			return err
		}
		p.OutputSchema = in.OutputSchema
	}
	if in.Mode != nil {
		if !slices.Contains([]string{herm.SendSteer, herm.SendQueue, herm.SendInterrupt, herm.SendReject}, *in.Mode) {
			return herm.Errorf(herm.EInvalid, "mode must be steer, queue, interrupt or reject")
		}
		p.Mode = *in.Mode
	}
	res, err := s.runner.Send(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, SendMessageResponse{
		RunID: res.Run.ID, DeploymentID: res.Run.DeploymentID, ThreadID: res.Run.ThreadID,
		MessageID: res.Message.ID, Status: string(res.Run.Status), Steered: res.Steered,
	})
	return nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r, 20, 100)
	if err != nil {
		return err
	}
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := herm.RunFilter{DeploymentID: d.ID, ThreadID: q.Get("thread_id"), AutomationID: q.Get("automation_id"), Page: herm.Page{Limit: p.Limit + 1, Cursor: p.Cursor}}
	if st := q.Get("status"); st != "" {
		switch herm.RunStatus(st) {
		case herm.RunQueued, herm.RunRunning, herm.RunWaitingOnHuman, herm.RunCompleted, herm.RunError, herm.RunCancelled:
			f.Status = herm.RunStatus(st)
		default:
			return herm.Errorf(herm.EInvalid, "status must be queued, running, waiting_on_human, completed, error or cancelled")
		}
	}
	if tr := q.Get("trigger"); tr != "" {
		switch tr {
		case herm.TriggerMessage, herm.TriggerAutomation, herm.TriggerAPI, herm.TriggerDreaming:
			f.TriggerType = tr
		default:
			return herm.Errorf(herm.EInvalid, "trigger must be message, automation, api or dreaming")
		}
	}
	runs, err := s.store.ListRuns(r.Context(), f)
	if err != nil {
		return err
	}
	byID := map[string]Run{}
	for _, run := range runs {
		out, err := s.runOut(r.Context(), run)
		if err != nil {
			return err
		}
		byID[run.ID] = out
	}
	writeJSON(w, http.StatusOK, listOf(runs, p.Limit, func(run *herm.Run) Run { return byID[run.ID] }, func(r *herm.Run) string { return r.ID }))
	return nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.store.GetRun(r.Context(), r.PathValue("deployment_id"), r.PathValue("run_id"))
	if err != nil {
		return err
	}
	out, err := s.runOut(r.Context(), run)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// runOut is the run object with its required_action (the pending custom
// tool calls of a waiting run).
func (s *Server) runOut(ctx context.Context, run *herm.Run) (Run, error) {
	out := toRun(run)
	if run.Status != herm.RunWaitingOnHuman {
		return out, nil
	}
	pending, err := runner.PendingToolCalls(ctx, s.store, run.ID)
	if err != nil {
		return out, err
	}
	out.RequiredAction = herm.RequiredActionOf(pending)
	return out, nil
}

func (s *Server) submitToolOutputs(w http.ResponseWriter, r *http.Request) error {
	var in SubmitToolOutputsRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.ToolOutputs == nil {
		return herm.Errorf(herm.EInvalid, "tool_outputs is required")
	}
	if len(*in.ToolOutputs) == 0 {
		return herm.Errorf(herm.EInvalid, "tool_outputs must hold the output of each pending tool call")
	}
	outputs := make([]herm.ToolOutput, len(*in.ToolOutputs))
	for i, o := range *in.ToolOutputs {
		switch {
		case o.ToolCallID == nil || *o.ToolCallID == "":
			return herm.Errorf(herm.EInvalid, "tool_outputs[%d].tool_call_id is required", i)
		case o.Output == nil:
			return herm.Errorf(herm.EInvalid, "tool_outputs[%d].output is required (a string)", i)
		case len([]rune(*o.Output)) > herm.MaxContent:
			return herm.Errorf(herm.EInvalid, "tool_outputs[%d].output must be at most %d characters", i, herm.MaxContent)
		case strings.ContainsRune(*o.Output, 0):
			return herm.Errorf(herm.EInvalid, "tool_outputs[%d].output must not contain NUL characters", i)
		}
		outputs[i] = herm.ToolOutput{ToolCallID: *o.ToolCallID, Output: *o.Output}
	}
	run, err := s.runner.SubmitToolOutputs(r.Context(), r.PathValue("deployment_id"), r.PathValue("run_id"), outputs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRun(run))
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.runner.Cancel(r.Context(), r.PathValue("deployment_id"), r.PathValue("run_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toRun(run))
	return nil
}

// API keys and models.

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var in CreateAPIKeyRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	name := ""
	if in.Name != nil {
		name = *in.Name
	}
	customer := ""
	if in.CustomerID != nil {
		if *in.CustomerID == "" {
			return herm.Errorf(herm.EInvalid, "customer_id must be 1 to 255 characters (leave it out for a key of every customer)")
		}
		customer = *in.CustomerID
	}
	k, secret, err := s.keys.Create(r.Context(), name, in.Scopes, customer)
	if err != nil {
		return err
	}
	out := toAPIKey(k)
	out.Key = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r, 20, 100)
	if err != nil {
		return err
	}
	ks, err := s.keys.List(r.Context(), herm.Page{Limit: p.Limit + 1, Cursor: p.Cursor})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, listOf(ks, p.Limit, toAPIKey, func(k *herm.APIKey) string { return k.ID }))
	return nil
}

func (s *Server) deleteAPIKey(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("key_id")
	if k := apiKey(r.Context()); k != nil && k.ID == id {
		return herm.Errorf(herm.EConflict, "an API key cannot revoke itself; use another admin key")
	}
	if err := s.keys.Revoke(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	def := s.deps.Rules().DefaultModel
	out := List[Model]{Data: []Model{}}
	for _, m := range s.models.Models() {
		out.Data = append(out.Data, Model{ID: m.ID, Provider: m.Provider, Description: m.Description, Demo: m.Demo, Default: m.ID == def})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Operations.

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	h := Health{Status: "ok", Checks: map[string]string{}}
	status := http.StatusOK
	check := func(name string, err error) {
		if err != nil {
			h.Checks[name] = err.Error()
			h.Status, status = "unavailable", http.StatusServiceUnavailable
		} else {
			h.Checks[name] = "ok"
		}
	}
	check("store", s.store.Ping(ctx))
	for name, fn := range s.cfg.Readiness {
		check(name, fn(ctx))
	}
	for name, warning := range s.cfg.Warnings {
		h.Checks[name] = "degraded: " + warning
		if h.Status == "ok" {
			h.Status = "degraded"
		}
	}
	if status != http.StatusOK {
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, h)
	return nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.MetricsPublic {
		secret, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		k, err := s.keys.Authenticate(r.Context(), strings.TrimSpace(secret))
		if err != nil {
			return err
		}
		if !k.Allows(herm.ScopeAdmin) {
			return herm.Errorf(herm.EForbidden, "/metrics needs an admin key on a non-loopback address")
		}
	}
	s.metrics.Handler().ServeHTTP(w, r)
	return nil
}
