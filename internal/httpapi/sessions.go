package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/agents"
	"github.com/hermhq/herm/internal/herm"
)

// The newer API generation: agents, sessions and session events
// (camelCase, as the hosted documentation has them). The engine is
// internal/agents; the session events are a projection of the event log
// (sessionevents.go).

// CamelList is a page of the newer generation's lists.
type CamelList[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor" doc:"Pass as cursor to get the next page; null on the last page."`
}

func camelListOf[T, U any](items []T, limit int, conv func(T) U, id func(T) string) CamelList[U] {
	l := listOf(items, limit, conv, id)
	return CamelList[U](l)
}

// Agent is an agent with the definition of its current version (or, from
// .../versions/{version}, of that version).
type Agent struct {
	ID            string                   `json:"id"`
	Name          string                   `json:"name"`
	Model         string                   `json:"model"`
	Instructions  string                   `json:"instructions"`
	Tools         []herm.AgentTool         `json:"tools"`
	MCPServers    []herm.AgentMCPServer    `json:"mcpServers"`
	Skills        []herm.AgentSkill        `json:"skills"`
	Sandbox       herm.AgentSandbox        `json:"sandbox"`
	Secrets       map[string]string        `json:"secrets" doc:"ENV_NAME → sec_... references (never values)."`
	Features      herm.AgentFeatures       `json:"features"`
	ModelSettings *herm.AgentModelSettings `json:"modelSettings" doc:"Null: the provider's defaults."`
	Timezone      string                   `json:"timezone" doc:"The IANA time zone of the date and time the agent is told (\"\": UTC)."`
	Metadata      map[string]string        `json:"metadata"`
	Version       int                      `json:"version" doc:"The version this definition is (the agent's current one, except from .../versions/{version}). Every accepted update makes a new one; sessions are pinned to the version current when they were created."`
	Status        string                   `json:"status" enum:"active,archived"`
	CreatedAt     time.Time                `json:"createdAt"`
	UpdatedAt     time.Time                `json:"updatedAt" doc:"When this version was made."`
	ArchivedAt    *time.Time               `json:"archivedAt"`
}

func toAgent(st *agents.AgentState) Agent {
	d := st.Definition
	out := Agent{
		ID: st.Agent.ID, Name: d.Name, Model: d.Model, Instructions: d.Instructions,
		Tools: nonNil(d.Tools), MCPServers: nonNil(d.MCPServers), Skills: nonNil(d.Skills),
		Sandbox: d.Sandbox, Secrets: d.Secrets, Features: d.Features, ModelSettings: d.ModelSettings, Timezone: d.Timezone,
		Metadata: st.Agent.Metadata, Version: st.Version, Status: string(st.Agent.Status),
		CreatedAt: st.Agent.CreatedAt, UpdatedAt: st.VersionAt, ArchivedAt: st.Agent.ArchivedAt,
	}
	if out.Secrets == nil {
		out.Secrets = map[string]string{}
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request) error {
	var in herm.AgentInput
	if err := decode(r, &in); err != nil {
		return err
	}
	st, err := s.agents.Create(r.Context(), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toAgent(st))
	return nil
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request) error {
	st, err := s.agents.Get(r.Context(), r.PathValue("agent_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAgent(st))
	return nil
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r, 20, 100)
	if err != nil {
		return err
	}
	f := herm.AgentFilter{Page: herm.Page{Limit: p.Limit + 1, Cursor: p.Cursor}}
	switch v := r.URL.Query().Get("status"); v {
	case "":
	case string(herm.AgentActive), string(herm.AgentArchived):
		archived := v == string(herm.AgentArchived)
		f.Archived = &archived
	default:
		return herm.Errorf(herm.EInvalid, "status must be active or archived")
	}
	list, err := s.agents.List(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, camelListOf(list, p.Limit, toAgent, func(a *agents.AgentState) string { return a.Agent.ID }))
	return nil
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request) error {
	var in herm.AgentInput
	if err := decode(r, &in); err != nil {
		return err
	}
	st, err := s.agents.Update(r.Context(), r.PathValue("agent_id"), &in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAgent(st))
	return nil
}

func (s *Server) archiveAgent(w http.ResponseWriter, r *http.Request) error {
	st, err := s.agents.Archive(r.Context(), r.PathValue("agent_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAgent(st))
	return nil
}

func (s *Server) getAgentVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || v < 1 {
		return herm.Errorf(herm.EInvalid, "version must be a positive integer")
	}
	st, err := s.agents.Version(r.Context(), r.PathValue("agent_id"), v)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAgent(st))
	return nil
}

func (s *Server) listAgentVersions(w http.ResponseWriter, r *http.Request) error {
	limit, before := 20, 0
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return herm.Errorf(herm.EInvalid, "limit must be an integer from 1 to 100")
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return herm.Errorf(herm.EInvalid, "cursor %q is not one this API returned (use a list's nextCursor)", v)
		}
		before = n
	}
	list, err := s.agents.Versions(r.Context(), r.PathValue("agent_id"), before, limit+1)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, camelListOf(list, limit, toAgent, func(a *agents.AgentState) string { return strconv.Itoa(a.Version) }))
	return nil
}

// Session is one conversation with an agent.
type Session struct {
	ID             string            `json:"id"`
	AgentID        string            `json:"agentId"`
	AgentVersion   int               `json:"agentVersion" doc:"The agent version the session is pinned to (its agent's current version when it was created)."`
	UserID         *string           `json:"userId" doc:"The caller's end-user id: the sessions of one agentId + userId share memory and learned skills; null: the session's memory is its own."`
	Title          string            `json:"title"`
	Metadata       map[string]string `json:"metadata"`
	Status         string            `json:"status" enum:"idle,running" doc:"running while a turn runs; idle otherwise (also while it waits for the client: requiresAction)."`
	RequiresAction bool              `json:"requiresAction" doc:"true while the turn waits for the client: tool uses to confirm or custom tool uses to answer (the event_ids of the last session.status_idle)."`
	LastActivityAt time.Time         `json:"lastActivityAt" doc:"When a message of the session last came or went."`
	ArchivedAt     *time.Time        `json:"archivedAt"`
	CreatedAt      time.Time         `json:"createdAt"`
	UpdatedAt      time.Time         `json:"updatedAt"`
}

// SessionWithMessages is a session with its message history.
type SessionWithMessages struct {
	Session
	Messages []SessionMessage `json:"messages" doc:"The conversation, oldest first (a user's message appears once its turn took it in)."`
}

// SessionMessage is one message of a session's history.
type SessionMessage struct {
	ID        string             `json:"id"`
	Role      string             `json:"role" enum:"user,agent"`
	Content   []agents.TextBlock `json:"content"`
	CreatedAt time.Time          `json:"createdAt"`
}

func (s *Server) toSession(r *http.Request, sess *herm.Session) (Session, error) {
	st, err := s.agents.State(r.Context(), sess)
	if err != nil {
		return Session{}, err
	}
	out := Session{
		ID: sess.ID, AgentID: sess.AgentID, AgentVersion: sess.AgentVersion, Title: sess.Title, Metadata: sess.Metadata,
		Status: st.Status, RequiresAction: st.RequiresAction, LastActivityAt: st.LastActivityAt,
		ArchivedAt: sess.ArchivedAt, CreatedAt: sess.CreatedAt, UpdatedAt: sess.UpdatedAt,
	}
	if sess.UserID != "" {
		u := sess.UserID
		out.UserID = &u
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	return out, nil
}

// writeSession answers with a session.
func (s *Server) writeSession(w http.ResponseWriter, r *http.Request, status int, sess *herm.Session) error {
	out, err := s.toSession(r, sess)
	if err != nil {
		return err
	}
	writeJSON(w, status, out)
	return nil
}

// CreateSessionRequest is the body of a session create.
type CreateSessionRequest struct {
	UserID   *string           `json:"userId,omitempty" doc:"Your end user's id (1–255 chars, opaque to the server): scopes memory and learned skills to agentId + userId. Without it the session's memory is its own."`
	Title    *string           `json:"title,omitempty" doc:"≤ 200 chars."`
	Metadata map[string]string `json:"metadata,omitempty" doc:"≤ 16 string pairs (keys ≤ 40, values ≤ 500 chars)."`
}

// UpdateSessionRequest is the body of a session update.
type UpdateSessionRequest struct {
	Title    *string            `json:"title,omitempty"`
	Metadata map[string]*string `json:"metadata,omitempty" doc:"Merged per key; null removes a key."`
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	var in CreateSessionRequest
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	si := agents.SessionInput{UserID: in.UserID, Title: in.Title, Metadata: map[string]*string{}}
	for k, v := range in.Metadata {
		si.Metadata[k] = &v
	}
	sess, err := s.agents.CreateSession(r.Context(), r.PathValue("agent_id"), si)
	if err != nil {
		return err
	}
	return s.writeSession(w, r, http.StatusCreated, sess)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.agents.Session(r.Context(), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	out, err := s.toSession(r, sess)
	if err != nil {
		return err
	}
	msgs, err := s.store.ListMessages(r.Context(), sess.ThreadID, 0)
	if err != nil {
		return err
	}
	full := SessionWithMessages{Session: out, Messages: make([]SessionMessage, 0, len(msgs))}
	for _, m := range msgs {
		full.Messages = append(full.Messages, SessionMessage{ID: m.ID, Role: m.Role, Content: []agents.TextBlock{{Type: "text", Text: m.Content}}, CreatedAt: m.CreatedAt})
	}
	writeJSON(w, http.StatusOK, full)
	return nil
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) error {
	p, err := page(r, 20, 100)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := herm.SessionFilter{AgentID: q.Get("agentId"), UserID: q.Get("userId"), Page: herm.Page{Limit: p.Limit + 1, Cursor: p.Cursor}}
	for k, vs := range q {
		key, ok := strings.CutPrefix(k, "metadata[")
		if !ok {
			continue
		}
		key, ok = strings.CutSuffix(key, "]")
		if !ok || key == "" || len(vs) != 1 {
			return herm.Errorf(herm.EInvalid, "%s: a metadata filter is metadata[key]=value, once per key", k)
		}
		if f.Metadata == nil {
			f.Metadata = map[string]string{}
		}
		f.Metadata[key] = vs[0]
	}
	if len(f.Metadata) > herm.MaxMetadata {
		return herm.Errorf(herm.EInvalid, "at most %d metadata filters", herm.MaxMetadata)
	}
	switch v := q.Get("status"); v {
	case "":
	case "idle", "running":
		f.Status = v
	default:
		return herm.Errorf(herm.EInvalid, "status must be idle or running")
	}
	switch v := q.Get("archived"); v {
	case "":
		no := false
		f.Archived = &no // archived sessions are hidden from the active listings
	case "true", "false":
		b := v == "true"
		f.Archived = &b
	case "any":
	default:
		return herm.Errorf(herm.EInvalid, "archived must be true, false or any")
	}
	list, err := s.agents.ListSessions(r.Context(), f)
	if err != nil {
		return err
	}
	out := CamelList[Session]{Data: make([]Session, 0, min(len(list), p.Limit))}
	for i, sess := range list {
		if i == p.Limit {
			c := list[p.Limit-1].ID
			out.NextCursor = &c
			break
		}
		o, err := s.toSession(r, sess)
		if err != nil {
			return err
		}
		out.Data = append(out.Data, o)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) updateSession(w http.ResponseWriter, r *http.Request) error {
	var in UpdateSessionRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	sess, err := s.agents.UpdateSession(r.Context(), r.PathValue("session_id"), agents.SessionInput{Title: in.Title, Metadata: in.Metadata})
	if err != nil {
		return err
	}
	return s.writeSession(w, r, http.StatusOK, sess)
}

func (s *Server) archiveSession(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.agents.ArchiveSession(r.Context(), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	return s.writeSession(w, r, http.StatusOK, sess)
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.agents.DeleteSession(r.Context(), r.PathValue("session_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// SendSessionEventsRequest is the body of POST /v1/sessions/{id}/events.
type SendSessionEventsRequest struct {
	Events []UserEventInput `json:"events" doc:"1–100 user events, carried out in order (one that fails stops the rest; those before it took effect). At most one user.message."`
}

// OpenAPIRequired: events.
func (SendSessionEventsRequest) OpenAPIRequired() []string { return []string{"events"} }

// UserEventInput is one user event.
type UserEventInput struct {
	Type            string             `json:"type" enum:"user.message,user.steer,user.interrupt,user.tool_confirmation,user.custom_tool_result" doc:"user.message starts a turn (409 while one runs or waits); user.steer adds text to the running turn (409 when idle or waiting); user.interrupt ends the active turn (nothing when idle); user.tool_confirmation allows or denies a tool use waiting for it; user.custom_tool_result answers a custom tool use (the turn resumes once every pending one is answered)."`
	Content         []agents.TextBlock `json:"content,omitempty" doc:"user.message and user.custom_tool_result: 1–100 text blocks of ≤ 20,000 characters."`
	Message         string             `json:"message,omitempty" doc:"user.steer: the text (required); user.interrupt: a note for your own records (optional; not stored)."`
	ToolUseID       string             `json:"tool_use_id,omitempty" doc:"user.tool_confirmation: the id of the agent.tool_use or agent.mcp_tool_use event."`
	Result          string             `json:"result,omitempty" enum:"allow,deny" doc:"user.tool_confirmation."`
	DenyMessage     string             `json:"deny_message,omitempty" doc:"user.tool_confirmation with deny: told to the model."`
	CustomToolUseID string             `json:"custom_tool_use_id,omitempty" doc:"user.custom_tool_result: the id of the agent.custom_tool_use event."`
	OutputSchema    json.RawMessage    `json:"output_schema,omitempty" doc:"user.message: a JSON Schema the turn's final answer must be valid against (the typed result is the output of its session.status_idle)."`
}

// OpenAPIRequired: type.
func (UserEventInput) OpenAPIRequired() []string { return []string{"type"} }

func (s *Server) sendSessionEvents(w http.ResponseWriter, r *http.Request) error {
	var in SendSessionEventsRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	sess, err := s.agents.Session(r.Context(), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	evs := make([]agents.UserEvent, len(in.Events))
	for i, e := range in.Events {
		evs[i] = agents.UserEvent{
			Type: e.Type, Content: e.Content, Message: e.Message, ToolUseID: e.ToolUseID, Result: e.Result,
			DenyMessage: e.DenyMessage, CustomToolUseID: e.CustomToolUseID, OutputSchema: e.OutputSchema,
		}
	}
	if _, err := s.agents.Send(r.Context(), sess, evs); err != nil {
		return err
	}
	return s.writeSession(w, r, http.StatusAccepted, sess)
}
