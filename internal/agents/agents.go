// Package agents is the newer API generation's engine: versioned agents
// and their sessions, on the same deployments, runs, event log, sandboxes
// and tools as the first generation.
//
// An agent is a versioned definition (herm.AgentDefinition). Its sessions
// run on hidden deployments (herm.Deployment.AgentID set; no
// /v1/deployments route reaches them): one per agent and userId, which
// owns the workspace, and so the memory and learned skills, that the
// sessions of that user share; a session without userId has a deployment
// of its own, deleted with it. A session is a thread of its deployment;
// its runs are pinned to the session's agent version through the
// deployment's configuration versions, which mirror the agent's (version
// n of the deployment is version n of the agent, recorded when a session
// of that version first sends a message).
package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/deployment"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Runner is what sessions need of the runner.
type Runner interface {
	Send(ctx context.Context, p herm.SendParams) (*herm.SendResult, error)
	Cancel(ctx context.Context, deploymentID, runID string) (*herm.Run, error)
	CancelAll(ctx context.Context, deploymentID, threadID string) error
	Resolve(ctx context.Context, deploymentID, id, decision, message string) (*herm.SteeringRequest, error)
	AnswerToolCalls(ctx context.Context, deploymentID, runID string, outputs []herm.ToolOutput) (*herm.Run, error)
}

// Service manages agents and sessions.
type Service struct {
	store  store.Store
	deps   *deployment.Service
	runner Runner
	ids    *herm.IDGen
	now    func() time.Time
}

// New returns a Service.
func New(s store.Store, deps *deployment.Service, r Runner, ids *herm.IDGen, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: s, deps: deps, runner: r, ids: ids, now: now}
}

// AgentState is an agent with the definition of a version of it.
type AgentState struct {
	Agent      *herm.Agent
	Version    int
	Definition *herm.AgentDefinition
	VersionAt  time.Time
}

func decodeDef(v *herm.AgentVersion) (*herm.AgentDefinition, error) {
	var d herm.AgentDefinition
	if err := json.Unmarshal(v.Definition, &d); err != nil {
		return nil, fmt.Errorf("agent %s version %d: %w", v.AgentID, v.Version, err)
	}
	if d.Secrets == nil {
		d.Secrets = map[string]string{}
	}
	return &d, nil
}

// Create validates in and stores a new agent as its version 1.
func (s *Service) Create(ctx context.Context, in *herm.AgentInput) (*AgentState, error) {
	def, meta, err := herm.ApplyAgentInput(ctx, nil, nil, in, s.deps.Rules())
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	a := &herm.Agent{ID: s.ids.New(herm.PrefixAgent), Name: def.Name, Metadata: meta, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateAgent(ctx, a, raw); err != nil {
		return nil, err
	}
	return &AgentState{Agent: a, Version: a.CurrentVersion, Definition: def, VersionAt: now}, nil
}

// Get returns an agent with its current version (ENotFound).
func (s *Service) Get(ctx context.Context, id string) (*AgentState, error) {
	a, err := s.store.GetAgent(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.withVersion(ctx, a, a.CurrentVersion)
}

func (s *Service) withVersion(ctx context.Context, a *herm.Agent, version int) (*AgentState, error) {
	v, err := s.store.GetAgentVersion(ctx, a.ID, version)
	if err != nil {
		return nil, err
	}
	def, err := decodeDef(v)
	if err != nil {
		return nil, err
	}
	return &AgentState{Agent: a, Version: v.Version, Definition: def, VersionAt: v.CreatedAt}, nil
}

// List lists agents with their current versions, newest first.
func (s *Service) List(ctx context.Context, f herm.AgentFilter) ([]*AgentState, error) {
	list, err := s.store.ListAgents(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]*AgentState, 0, len(list))
	for _, a := range list {
		st, err := s.withVersion(ctx, a, a.CurrentVersion)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// updateAttempts is how many times Update applies a patch to the version
// it reads when another update is stored first.
const updateAttempts = 3

// Update applies a patch: every accepted update is a new version (EConflict
// for an archived agent).
func (s *Service) Update(ctx context.Context, id string, in *herm.AgentInput) (*AgentState, error) {
	for range updateAttempts {
		cur, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if cur.Agent.Status == herm.AgentArchived {
			return nil, herm.Errorf(herm.EConflict, "agent %s is archived: it takes no updates", id)
		}
		def, meta, err := herm.ApplyAgentInput(ctx, cur.Definition, cur.Agent.Metadata, in, s.deps.Rules())
		if err != nil {
			return nil, err
		}
		raw, err := json.Marshal(def)
		if err != nil {
			return nil, err
		}
		a := *cur.Agent
		a.Name, a.Metadata = def.Name, meta
		a.CurrentVersion++
		a.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
		err = s.store.UpdateAgent(ctx, &a, raw)
		if herm.IsCode(err, herm.EConflict) {
			continue // updated or archived meanwhile: read it again
		}
		if err != nil {
			return nil, err
		}
		return &AgentState{Agent: &a, Version: a.CurrentVersion, Definition: def, VersionAt: a.UpdatedAt}, nil
	}
	return nil, herm.Errorf(herm.EConflict, "agent %s was changed by another request meanwhile; read it again and retry", id)
}

// Archive archives an agent: its sessions keep working, it takes no new
// ones and no updates.
func (s *Service) Archive(ctx context.Context, id string) (*AgentState, error) {
	if err := s.store.ArchiveAgent(ctx, id, s.now().UTC()); err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Version returns one version of an agent.
func (s *Service) Version(ctx context.Context, id string, version int) (*AgentState, error) {
	a, err := s.store.GetAgent(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.withVersion(ctx, a, version)
}

// Versions lists an agent's versions newest first, those below before.
func (s *Service) Versions(ctx context.Context, id string, before, limit int) ([]*AgentState, error) {
	a, err := s.store.GetAgent(ctx, id)
	if err != nil {
		return nil, err
	}
	vs, err := s.store.ListAgentVersions(ctx, id, before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*AgentState, 0, len(vs))
	for _, v := range vs {
		def, err := decodeDef(v)
		if err != nil {
			return nil, err
		}
		out = append(out, &AgentState{Agent: a, Version: v.Version, Definition: def, VersionAt: v.CreatedAt})
	}
	return out, nil
}

// Limits of sessions.
const (
	MaxUserID      = 255
	MaxTitle       = 200
	MaxBlocks      = 100
	MaxBlockText   = 20_000
	MaxEventsInOne = 100
)

// userKey is the hidden deployment's key of a session: its user's, or
// the session's own when it has none.
func userKey(userID, sessionID string) string {
	if userID == "" {
		return "session:" + sessionID
	}
	return "user:" + userID
}

// SessionInput is a session create (UserID, Title, Metadata) or update
// (Title, Metadata: userId is immutable).
type SessionInput struct {
	UserID   *string
	Title    *string
	Metadata map[string]*string
}

// CreateSession starts a session of an agent, pinned to its current
// version: its user's deployment is made (and provisioned) when it is the
// user's first, and the session gets a thread of it.
func (s *Service) CreateSession(ctx context.Context, agentID string, in SessionInput) (*herm.Session, error) {
	ag, err := s.Get(ctx, agentID)
	if err != nil {
		return nil, err
	}
	if ag.Agent.Status == herm.AgentArchived {
		return nil, herm.Errorf(herm.EConflict, "agent %s is archived: it takes no new sessions", agentID)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	sess := &herm.Session{
		ID: s.ids.New(herm.PrefixSession), AgentID: agentID, AgentVersion: ag.Version,
		Metadata: map[string]string{}, CreatedAt: now, UpdatedAt: now,
	}
	if in.UserID != nil {
		u := *in.UserID
		if u == "" || utf8.RuneCountInString(u) > MaxUserID || strings.ContainsRune(u, 0) {
			return nil, herm.Errorf(herm.EInvalid, "userId must be 1 to %d characters", MaxUserID)
		}
		sess.UserID = u
	}
	if err := applySession(sess, in); err != nil {
		return nil, err
	}
	key := userKey(sess.UserID, sess.ID)
	customer := sess.UserID
	if customer == "" {
		customer = sess.ID
	}
	d, err := s.deps.EnsureForAgent(ctx, agentID, key, ag.Version, ag.Definition.DeploymentInput(customer, s.deps.Rules().Tools))
	if err != nil {
		return nil, err
	}
	t := &herm.Thread{ID: s.ids.New(herm.PrefixThread), DeploymentID: d.ID, Title: sess.Title, CreatedAt: now, LastActivityAt: now}
	if t.Title == "" {
		t.Title = "Session"
	}
	sess.DeploymentID, sess.ThreadID = d.ID, t.ID
	err = s.store.InTx(ctx, func(q store.Querier) error {
		if err := q.CreateThread(ctx, t); err != nil {
			return err
		}
		return q.CreateSession(ctx, sess)
	})
	if err != nil {
		if sess.UserID == "" {
			// The session's own deployment goes with it.
			_, _, _ = s.deps.Delete(context.WithoutCancel(ctx), d.ID, false)
		}
		return nil, err
	}
	return sess, nil
}

func applySession(sess *herm.Session, in SessionInput) error {
	if in.Title != nil {
		t := strings.TrimSpace(*in.Title)
		if utf8.RuneCountInString(t) > MaxTitle || strings.ContainsRune(t, 0) {
			return herm.Errorf(herm.EInvalid, "title must be at most %d characters", MaxTitle)
		}
		sess.Title = t
	}
	for k, v := range in.Metadata {
		if v == nil {
			delete(sess.Metadata, k)
		} else {
			sess.Metadata[k] = *v
		}
	}
	return herm.CheckMetadata(sess.Metadata)
}

// Session returns a session (ENotFound).
func (s *Service) Session(ctx context.Context, id string) (*herm.Session, error) {
	return s.store.GetSession(ctx, id)
}

// SessionState is what a session's thread says of it.
type SessionState struct {
	// Status is running while a turn runs (queued or running), else idle
	// (also while it waits for the client: RequiresAction).
	Status         string
	RequiresAction bool
	// LastActivityAt is when a message last came or went.
	LastActivityAt time.Time
}

// State returns a session's state.
func (s *Service) State(ctx context.Context, sess *herm.Session) (SessionState, error) {
	t, err := s.store.GetThread(ctx, sess.DeploymentID, sess.ThreadID)
	if err != nil {
		return SessionState{}, err
	}
	st := SessionState{Status: "idle", RequiresAction: t.Status == herm.ThreadWaitingOnHuman, LastActivityAt: t.LastActivityAt}
	if t.Status == herm.ThreadRunning {
		st.Status = "running"
	}
	return st, nil
}

// UpdateSession changes a session's title and metadata (userId and the
// pinned version are immutable).
func (s *Service) UpdateSession(ctx context.Context, id string, in SessionInput) (*herm.Session, error) {
	sess, err := s.store.GetSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := applySession(sess, in); err != nil {
		return nil, err
	}
	sess.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	if err := s.store.UpdateSession(ctx, sess); err != nil {
		return nil, err
	}
	return sess, nil
}

// ArchiveSession hides a session from the active listings; it keeps
// working.
func (s *Service) ArchiveSession(ctx context.Context, id string) (*herm.Session, error) {
	if err := s.store.ArchiveSession(ctx, id, s.now().UTC()); err != nil {
		return nil, err
	}
	return s.store.GetSession(ctx, id)
}

// DeleteSession deletes a session and its history, its turn cancelled
// first. The memory and learned skills of its agent and user stay (their
// deployment does); a session without userId takes its deployment with it.
func (s *Service) DeleteSession(ctx context.Context, id string) error {
	sess, err := s.store.GetSession(ctx, id)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.runner.CancelAll(cctx, sess.DeploymentID, sess.ThreadID); err != nil {
		return herm.Errorf(herm.EUnavailable, "the session's turn did not stop in time; retry").WithErr(err)
	}
	if err := s.store.DeleteSession(ctx, id); err != nil {
		return err
	}
	if sess.UserID == "" {
		if _, _, err := s.deps.Delete(ctx, sess.DeploymentID, false); err != nil && !herm.IsCode(err, herm.ENotFound) {
			return err
		}
	}
	return nil
}

// ListSessions lists sessions, newest first.
func (s *Service) ListSessions(ctx context.Context, f herm.SessionFilter) ([]*herm.Session, error) {
	return s.store.ListSessions(ctx, f)
}

// User event types (POST /v1/sessions/{id}/events).
const (
	UserMessage          = "user.message"
	UserSteer            = "user.steer"
	UserInterrupt        = "user.interrupt"
	UserToolConfirmation = "user.tool_confirmation"
	UserCustomToolResult = "user.custom_tool_result"
)

// TextBlock is a content block: only text.
type TextBlock struct {
	Type string `json:"type" enum:"text"`
	Text string `json:"text" doc:"≤ 20,000 characters."`
}

// OpenAPIRequired: type and text.
func (TextBlock) OpenAPIRequired() []string { return []string{"type", "text"} }

// UserEvent is one event a client sends to a session.
type UserEvent struct {
	Type string
	// user.message: Content; user.custom_tool_result: Content (or Text).
	Content []TextBlock
	// user.steer, user.interrupt: Message.
	Message string
	// user.tool_confirmation: ToolUseID (the agent.tool_use or
	// agent.mcp_tool_use event's id), Result (allow|deny), DenyMessage.
	ToolUseID   string
	Result      string
	DenyMessage string
	// user.custom_tool_result: the agent.custom_tool_use event's id.
	CustomToolUseID string
	// OutputSchema of a user.message (optional): the turn's typed result.
	OutputSchema json.RawMessage
}

// ToolUse resolves the id of a session's tool use event (agent.tool_use,
// agent.mcp_tool_use or agent.custom_tool_use: the tool_call event of its
// thread) to its run and tool call.
type ToolUse struct {
	RunID, ToolCallID, Origin string
}

// FindToolUse returns the tool call of a session's tool use event id.
func (s *Service) FindToolUse(ctx context.Context, sess *herm.Session, eventID string) (*ToolUse, error) {
	seq, ok := herm.ParseEventID(eventID)
	if !ok || !strings.HasPrefix(eventID, herm.PrefixEvent) {
		return nil, herm.Errorf(herm.EInvalid, "%q is not an event id (evt_...)", eventID)
	}
	evs, err := s.store.ListEvents(ctx, sess.DeploymentID, seq-1, 1, store.EventFilter{ThreadID: sess.ThreadID})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[0].Seq != seq || evs[0].Type != herm.EventToolCall {
		return nil, herm.Errorf(herm.ENotFound, "the session has no tool use event %s", eventID)
	}
	var d struct {
		ToolCallID string `json:"tool_call_id"`
		Origin     string `json:"origin"`
	}
	if err := json.Unmarshal(evs[0].Data, &d); err != nil {
		return nil, err
	}
	return &ToolUse{RunID: evs[0].RunID, ToolCallID: d.ToolCallID, Origin: d.Origin}, nil
}

// turnTimeout bounds how long a first message waits for its session's
// workspace to be provisioned.
const turnTimeout = 2 * time.Minute

// Send carries out a request's user events in order; the first that fails
// stops the rest (those before it took effect). It returns the run a
// user.message started, if any.
func (s *Service) Send(ctx context.Context, sess *herm.Session, evs []UserEvent) (*herm.Run, error) {
	if len(evs) == 0 {
		return nil, herm.Errorf(herm.EInvalid, "events must hold 1 to %d events", MaxEventsInOne)
	}
	if len(evs) > MaxEventsInOne {
		return nil, herm.Errorf(herm.EInvalid, "events must hold 1 to %d events", MaxEventsInOne)
	}
	messages := 0
	var outputs []herm.ToolOutput
	var outputRun string
	for i, e := range evs {
		if err := checkEvent(i, e); err != nil {
			return nil, err
		}
		if e.Type == UserMessage {
			messages++
		}
	}
	if messages > 1 {
		return nil, herm.Errorf(herm.EInvalid, "events: only one user.message per request")
	}
	var started *herm.Run
	for i, e := range evs {
		field := fmt.Sprintf("events[%d]", i)
		switch e.Type {
		case UserMessage:
			run, err := s.message(ctx, sess, e)
			if err != nil {
				return nil, err
			}
			started = run
		case UserSteer:
			if err := s.steer(ctx, sess, e.Message); err != nil {
				return nil, err
			}
		case UserInterrupt:
			if err := s.interrupt(ctx, sess); err != nil {
				return nil, err
			}
		case UserToolConfirmation:
			if err := s.confirm(ctx, sess, field, e); err != nil {
				return nil, err
			}
		case UserCustomToolResult:
			use, err := s.FindToolUse(ctx, sess, e.CustomToolUseID)
			if err != nil {
				return nil, fieldErr(field+".custom_tool_use_id", err)
			}
			if use.Origin != herm.OriginCustom {
				return nil, herm.Errorf(herm.EInvalid, "%s.custom_tool_use_id %s is not an agent.custom_tool_use event (answer tool uses with user.tool_confirmation)", field, e.CustomToolUseID)
			}
			if outputRun != "" && outputRun != use.RunID {
				return nil, herm.Errorf(herm.EInvalid, "%s: custom tool results of one request answer calls of one turn", field)
			}
			outputRun = use.RunID
			outputs = append(outputs, herm.ToolOutput{ToolCallID: use.ToolCallID, Output: joinBlocks(e.Content)})
		}
	}
	if len(outputs) > 0 {
		if _, err := s.runner.AnswerToolCalls(ctx, sess.DeploymentID, outputRun, outputs); err != nil {
			return nil, err
		}
	}
	return started, nil
}

func fieldErr(field string, err error) error {
	var he *herm.Error
	if errors.As(err, &he) {
		c := *he
		c.Message = field + ": " + he.Message
		return &c
	}
	return err
}

func checkEvent(i int, e UserEvent) error {
	field := fmt.Sprintf("events[%d]", i)
	checkBlocks := func(name string) error {
		if len(e.Content) == 0 || len(e.Content) > MaxBlocks {
			return herm.Errorf(herm.EInvalid, "%s.%s must hold 1 to %d text blocks", field, name, MaxBlocks)
		}
		for j, b := range e.Content {
			if b.Type == "" {
				return herm.Errorf(herm.EInvalid, "%s.%s[%d].type is required (text)", field, name, j)
			}
			if b.Type != "text" {
				return herm.Errorf(herm.EInvalid, "%s.%s[%d].type must be text", field, name, j)
			}
			if b.Text == "" {
				return herm.Errorf(herm.EInvalid, "%s.%s[%d].text is required (1 to %d characters)", field, name, j, MaxBlockText)
			}
			if utf8.RuneCountInString(b.Text) > MaxBlockText {
				return herm.Errorf(herm.EInvalid, "%s.%s[%d].text must be at most %d characters", field, name, j, MaxBlockText)
			}
			if strings.ContainsRune(b.Text, 0) {
				return herm.Errorf(herm.EInvalid, "%s.%s[%d].text must not contain NUL characters", field, name, j)
			}
		}
		return nil
	}
	switch e.Type {
	case UserMessage:
		if err := checkBlocks("content"); err != nil {
			return err
		}
		if len(e.OutputSchema) > 0 {
			if err := herm.ValidateOutputSchema(field+".output_schema", e.OutputSchema); err != nil {
				return err
			}
		}
	case UserSteer:
		if strings.TrimSpace(e.Message) == "" || utf8.RuneCountInString(e.Message) > herm.MaxContent {
			return herm.Errorf(herm.EInvalid, "%s.message must be 1 to %d characters", field, herm.MaxContent)
		}
	case UserInterrupt:
	case UserToolConfirmation:
		if e.ToolUseID == "" {
			return herm.Errorf(herm.EInvalid, "%s.tool_use_id is required", field)
		}
		if e.Result != "allow" && e.Result != "deny" {
			return herm.Errorf(herm.EInvalid, "%s.result must be allow or deny", field)
		}
	case UserCustomToolResult:
		if e.CustomToolUseID == "" {
			return herm.Errorf(herm.EInvalid, "%s.custom_tool_use_id is required", field)
		}
		if err := checkBlocks("content"); err != nil {
			return err
		}
	case "":
		return herm.Errorf(herm.EInvalid, "%s.type is required", field)
	default:
		return herm.Errorf(herm.EInvalid, "%s.type %q is not a user event (user.message, user.steer, user.interrupt, user.tool_confirmation, user.custom_tool_result)", field, e.Type)
	}
	return nil
}

func joinBlocks(bs []TextBlock) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = b.Text
	}
	return strings.Join(parts, "\n\n")
}

// message starts a turn: rejected while another runs or waits.
func (s *Service) message(ctx context.Context, sess *herm.Session, e UserEvent) (*herm.Run, error) {
	ag, err := s.store.GetAgentVersion(ctx, sess.AgentID, sess.AgentVersion)
	if err != nil {
		return nil, err
	}
	def, err := decodeDef(ag)
	if err != nil {
		return nil, err
	}
	d, err := s.store.GetDeployment(ctx, sess.DeploymentID)
	if err != nil {
		return nil, err
	}
	customer := sess.UserID
	if customer == "" {
		customer = sess.ID
	}
	if err := s.deps.PutVersion(ctx, d, sess.AgentVersion, def.DeploymentInput(customer, s.deps.Rules().Tools)); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, turnTimeout)
	defer cancel()
	if _, err := s.deps.WaitReady(wctx, d.ID); err != nil {
		return nil, err
	}
	res, err := s.runner.Send(ctx, herm.SendParams{
		DeploymentID: d.ID, ThreadID: sess.ThreadID, Content: joinBlocks(e.Content), Mode: herm.SendReject,
		OutputSchema: e.OutputSchema, ConfigVersion: sess.AgentVersion, Model: def.Model,
	})
	if herm.IsCode(err, herm.EConflict) {
		return nil, herm.Errorf(herm.EConflict, "session %s has a turn running (or waiting for the client): a user.message is taken once it is idle; use user.steer, user.interrupt or answer its requires_action", sess.ID)
	}
	if err != nil {
		return nil, err
	}
	return res.Run, nil
}

// activeRun is the session's active run (nil when idle).
func (s *Service) activeRun(ctx context.Context, sess *herm.Session) (*herm.Run, error) {
	runs, err := s.store.ActiveRuns(ctx, sess.ThreadID)
	if err != nil || len(runs) == 0 {
		return nil, err
	}
	return runs[0], nil
}

func (s *Service) steer(ctx context.Context, sess *herm.Session, msg string) error {
	run, err := s.activeRun(ctx, sess)
	if err != nil {
		return err
	}
	switch {
	case run == nil:
		return herm.Errorf(herm.EConflict, "session %s is idle: there is no turn to steer (send a user.message)", sess.ID)
	case run.Status == herm.RunWaitingOnHuman:
		return herm.Errorf(herm.EConflict, "session %s waits for the client (requires_action): answer it with user.tool_confirmation or user.custom_tool_result, or interrupt it", sess.ID)
	}
	_, err = s.runner.Send(ctx, herm.SendParams{DeploymentID: sess.DeploymentID, ThreadID: sess.ThreadID, Content: msg, Mode: herm.SendSteer})
	return err
}

func (s *Service) interrupt(ctx context.Context, sess *herm.Session) error {
	runs, err := s.store.ActiveRuns(ctx, sess.ThreadID)
	if err != nil {
		return err
	}
	for _, run := range runs {
		if _, err := s.runner.Cancel(ctx, sess.DeploymentID, run.ID); err != nil && !herm.IsCode(err, herm.EConflict) {
			return err
		}
	}
	return nil
}

func (s *Service) confirm(ctx context.Context, sess *herm.Session, field string, e UserEvent) error {
	use, err := s.FindToolUse(ctx, sess, e.ToolUseID)
	if err != nil {
		return fieldErr(field+".tool_use_id", err)
	}
	if use.Origin == herm.OriginCustom {
		return herm.Errorf(herm.EInvalid, "%s.tool_use_id %s is a custom tool use: answer it with user.custom_tool_result", field, e.ToolUseID)
	}
	sr, err := s.store.SteeringRequestFor(ctx, use.RunID, use.ToolCallID)
	if herm.IsCode(err, herm.ENotFound) {
		return herm.Errorf(herm.EConflict, "%s: the tool use %s does not wait for a confirmation (its permission policy is always_allow)", field, e.ToolUseID)
	}
	if err != nil {
		return err
	}
	decision := herm.DecisionApprove
	if e.Result == "deny" {
		decision = herm.DecisionDeny
	}
	_, err = s.runner.Resolve(ctx, sess.DeploymentID, sr.ID, decision, e.DenyMessage)
	return fieldErr(field, err)
}
