package herm

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Session statuses.
const (
	SessionIdle    = "idle"    // no turn runs (also while one waits for the client)
	SessionRunning = "running" // a turn runs
)

// Session is a conversation with an agent, pinned to the agent version
// current when it was created.
type Session struct {
	ID           string `json:"id"`
	AgentID      string `json:"agentId"`
	AgentVersion int    `json:"agentVersion"`
	// UserID is the caller's end-user id: the sessions of one agent and
	// user share memory and learned skills. Nil: the session's memory is
	// its own.
	UserID   *string           `json:"userId"`
	Title    string            `json:"title"`
	Metadata map[string]string `json:"metadata"`
	// Status is running while a turn runs, else idle; a turn waiting for
	// the client is idle too, with RequiresAction (its session.status_idle
	// event's stop reason is requires_action).
	Status         string     `json:"status"`
	RequiresAction bool       `json:"requiresAction"`
	LastActivityAt time.Time  `json:"lastActivityAt"`
	ArchivedAt     *time.Time `json:"archivedAt"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
}

// SessionWithMessages is a session with its message history, oldest
// first.
type SessionWithMessages struct {
	Session
	Messages []SessionMessage `json:"messages"`
}

// SessionMessage is one message of a session's history.
type SessionMessage struct {
	ID        string      `json:"id"`
	Role      string      `json:"role"` // user or agent
	Content   []TextBlock `json:"content"`
	CreatedAt time.Time   `json:"createdAt"`
}

// Text is the message's text blocks joined.
func (m SessionMessage) Text() string { return joinText(m.Content) }

// TextBlock is a content block: Type is text.
type TextBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Text is one text block.
func Text(s string) TextBlock { return TextBlock{Type: "text", Text: s} }

func joinText(bs []TextBlock) string {
	var b strings.Builder
	for _, t := range bs {
		b.WriteString(t.Text)
	}
	return b.String()
}

// SessionCreateParams is a session to create; every field is optional.
type SessionCreateParams struct {
	// UserID is your end user's id (1–255 characters, opaque to the
	// server): the sessions of one agent and user share memory and learned
	// skills. Empty: the session's memory is its own.
	UserID   string            `json:"userId,omitempty"`
	Title    string            `json:"title,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// SessionUpdateParams changes a session: nil fields stay; Metadata merges
// per key, and a nil value removes its key.
type SessionUpdateParams struct {
	Title    *string            `json:"title,omitempty"`
	Metadata map[string]*string `json:"metadata,omitempty"`
}

// Values of SessionListParams.Archived.
const (
	ArchivedFalse = "false" // active sessions only (the default)
	ArchivedTrue  = "true"  // archived sessions only
	ArchivedAny   = "any"   // both
)

// SessionListParams filters and pages a session list.
type SessionListParams struct {
	AgentID string // only this agent's sessions
	UserID  string // only this user's sessions
	Status  string // only sessions in this status: idle or running
	// Archived is ArchivedFalse (the default when empty), ArchivedTrue or
	// ArchivedAny.
	Archived string
	ListParams
}

// SessionService is the Sessions API: conversations with agents, and
// their events.
type SessionService struct{ c *Client }

// Create creates a session of an agent, pinned to its current version. An
// archived agent is a 409 conflict.
func (s *SessionService) Create(ctx context.Context, agentID string, p SessionCreateParams) (*Session, error) {
	var out Session
	if err := s.c.do(ctx, http.MethodPost, path("agents", agentID, "sessions"), nil, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Get reads a session with its message history.
func (s *SessionService) Get(ctx context.Context, id string) (*SessionWithMessages, error) {
	var out SessionWithMessages
	if err := s.c.do(ctx, http.MethodGet, path("sessions", id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List reads one page of sessions, newest first.
func (s *SessionService) List(ctx context.Context, p SessionListParams) (*CamelPage[Session], error) {
	q := p.values()
	setIf(q, "agentId", p.AgentID)
	setIf(q, "userId", p.UserID)
	setIf(q, "status", p.Status)
	setIf(q, "archived", p.Archived)
	return getCamelPage[Session](ctx, s.c, path("sessions"), q)
}

// All iterates over every session p selects, across pages.
func (s *SessionService) All(ctx context.Context, p SessionListParams) iter.Seq2[*Session, error] {
	return allCamel(p.Cursor, func(cursor string) (*CamelPage[Session], error) {
		p.Cursor = cursor
		return s.List(ctx, p)
	})
}

// Update changes a session's title or metadata.
func (s *SessionService) Update(ctx context.Context, id string, p SessionUpdateParams) (*Session, error) {
	var out Session
	if err := s.c.do(ctx, http.MethodPatch, path("sessions", id), nil, p, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Archive hides a session from the active listings; it keeps working.
// Archiving twice is a 409 conflict.
func (s *SessionService) Archive(ctx context.Context, id string) (*Session, error) {
	var out Session
	if err := s.c.do(ctx, http.MethodPost, path("sessions", id, "archive"), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete deletes a session and its history (a running turn is interrupted
// first). The memory of its agent and user stays; a session without a user
// takes its own with it.
func (s *SessionService) Delete(ctx context.Context, id string) error {
	return s.c.do(ctx, http.MethodDelete, path("sessions", id), nil, nil, nil)
}

// User event types.
const (
	UserEventMessage          = "user.message"
	UserEventSteer            = "user.steer"
	UserEventInterrupt        = "user.interrupt"
	UserEventToolConfirmation = "user.tool_confirmation"
	UserEventCustomToolResult = "user.custom_tool_result"
)

// UserEvent is an event a client sends to a session (the API's
// UserEventInput); make one with UserMessage, Steer, Interrupt,
// ToolConfirmation or CustomToolResult.
type UserEvent struct {
	Type string `json:"type"`
	// Content is the text of a user.message or a user.custom_tool_result.
	Content []TextBlock `json:"content,omitempty"`
	// Message is a user.steer's text, or a user.interrupt's note.
	Message string `json:"message,omitempty"`
	// ToolUseID, Result (allow or deny) and DenyMessage are a
	// user.tool_confirmation's.
	ToolUseID   string `json:"tool_use_id,omitempty"`
	Result      string `json:"result,omitempty"`
	DenyMessage string `json:"deny_message,omitempty"`
	// CustomToolUseID is the agent.custom_tool_use event a
	// user.custom_tool_result answers.
	CustomToolUseID string `json:"custom_tool_use_id,omitempty"`
	// OutputSchema, on a user.message, is a JSON Schema the turn's final
	// answer must be valid against; the typed result is the Output of the
	// turn's session.status_idle.
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
}

// UserMessage is a user.message: it starts a turn (a 409 conflict while one
// runs or waits for the client).
func UserMessage(text string) UserEvent {
	return UserEvent{Type: UserEventMessage, Content: []TextBlock{Text(text)}}
}

// Steer is a user.steer: text added to the running turn (a 409 conflict
// when the session is idle or waits for the client).
func Steer(text string) UserEvent { return UserEvent{Type: UserEventSteer, Message: text} }

// Interrupt is a user.interrupt: it ends the active turn (its
// session.status_idle has stop reason interrupted); nothing when idle.
func Interrupt() UserEvent { return UserEvent{Type: UserEventInterrupt} }

// ToolConfirmation is a user.tool_confirmation: it allows or denies the
// tool use toolUseID (an agent.tool_use or agent.mcp_tool_use event's id,
// listed in the EventIDs of a requires_action stop reason). A denial's
// message, if any, is told to the model.
func ToolConfirmation(toolUseID string, allow bool, denyMessage string) UserEvent {
	e := UserEvent{Type: UserEventToolConfirmation, ToolUseID: toolUseID, Result: "allow"}
	if !allow {
		e.Result, e.DenyMessage = "deny", denyMessage
	}
	return e
}

// CustomToolResult is a user.custom_tool_result: the client's result of
// the custom tool use customToolUseID (an agent.custom_tool_use event's
// id). The turn resumes once every pending use is answered.
func CustomToolResult(customToolUseID, text string) UserEvent {
	return UserEvent{Type: UserEventCustomToolResult, CustomToolUseID: customToolUseID, Content: []TextBlock{Text(text)}}
}

type userEvents struct {
	Events []UserEvent `json:"events"`
}

// Send sends user events to a session (1–100, at most one user.message),
// carried out in order: one that fails stops the rest, those before it
// took effect. It returns the session; what the agent does arrives as the
// session's events (Stream). The first message of a user's session may
// wait while the user's workspace is provisioned.
func (s *SessionService) Send(ctx context.Context, id string, events ...UserEvent) (*Session, error) {
	if events == nil {
		events = []UserEvent{}
	}
	var out Session
	if err := s.c.do(ctx, http.MethodPost, path("sessions", id, "events"), nil, userEvents{events}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Session event types (SessionEvent.Type, the payload's type).
const (
	EventUserMessage           = "user.message"
	EventAgentMessage          = "agent.message"
	EventAgentThinking         = "agent.thinking"
	EventAgentToolUse          = "agent.tool_use"
	EventAgentMCPToolUse       = "agent.mcp_tool_use"
	EventAgentCustomToolUse    = "agent.custom_tool_use"
	EventAgentToolResult       = "agent.tool_result"
	EventAgentMCPToolResult    = "agent.mcp_tool_result"
	EventUserCustomToolResult  = "user.custom_tool_result"
	EventUserToolConfirmation  = "user.tool_confirmation"
	EventAgentContextCompacted = "agent.thread_context_compacted"
	EventSessionError          = "session.error"
	EventSessionStatusRunning  = "session.status_running"
	EventSessionStatusIdle     = "session.status_idle"
)

// Stop reasons of a session.status_idle (StopReason.Type).
const (
	StopEndTurn        = "end_turn"
	StopRequiresAction = "requires_action"
	StopError          = "error"
	StopInterrupted    = "interrupted"
	StopMaxSteps       = "max_steps"
)

// SessionEvent is one event of a session: the envelope, and the payload as
// sent (decode it with Decode into the payload type of Type).
type SessionEvent struct {
	// ID is the event's id (evt_...): tool uses are named by it
	// (tool_use_id, custom_tool_use_id, event_ids).
	ID        string `json:"id"`
	Type      string `json:"type"` // the payload's type
	SessionID string `json:"sessionId"`
	// Sequence is the event's number in its session: from 1, one more for
	// each event. It is the list's cursor and the stream's event id.
	Sequence    int64           `json:"sequence"`
	Status      string          `json:"status"` // complete
	Payload     json.RawMessage `json:"payload"`
	ProcessedAt *time.Time      `json:"processedAt"`
	CreatedAt   time.Time       `json:"createdAt"`
}

// Decode decodes the event's payload into v: the payload type of its Type
// (AgentMessagePayload for agent.message, SessionStatusIdlePayload for
// session.status_idle, …) or a map.
func (e SessionEvent) Decode(v any) error { return json.Unmarshal(e.Payload, v) }

// The payloads of session events, by type; decode them from a SessionEvent
// with Decode. A Subagent field, when not nil, is the number of the
// subagent task whose event it is.
type (
	// UserMessagePayload (user.message): the user's message that started a
	// turn, or steered one.
	UserMessagePayload struct {
		Type    string      `json:"type"`
		Content []TextBlock `json:"content"`
	}
	// AgentMessagePayload (agent.message): the agent's text, in chunks as
	// it streams (Delta true), then the whole message (Delta false), which
	// supersedes them.
	AgentMessagePayload struct {
		Type    string      `json:"type"`
		Delta   bool        `json:"delta"`
		Content []TextBlock `json:"content"`
		// Turn is the model call's ordinal in its run; Attempt (chunks
		// only) starts at 1 and grows when the call is redone after a
		// crash: a chunk of a higher attempt of the same turn voids the
		// chunks of the lower ones.
		Turn     int  `json:"turn,omitempty"`
		Attempt  int  `json:"attempt,omitempty"`
		Subagent *int `json:"subagent,omitempty"`
	}
	// AgentThinkingPayload (agent.thinking): a chunk of the model's
	// reasoning, where the provider exposes it.
	AgentThinkingPayload struct {
		Type     string `json:"type"`
		Thinking string `json:"thinking"`
		Turn     int    `json:"turn,omitempty"`
		Attempt  int    `json:"attempt,omitempty"`
		Subagent *int   `json:"subagent,omitempty"`
	}
	// AgentToolUsePayload (agent.tool_use): the agent calls a built-in tool.
	AgentToolUsePayload struct {
		Type     string          `json:"type"`
		Name     string          `json:"name"`
		Input    json.RawMessage `json:"input"` // a JSON object
		Subagent *int            `json:"subagent,omitempty"`
	}
	// AgentMCPToolUsePayload (agent.mcp_tool_use): the agent calls an MCP
	// server's tool (Name is its name on the server).
	AgentMCPToolUsePayload struct {
		Type          string          `json:"type"`
		Name          string          `json:"name"`
		MCPServerName string          `json:"mcp_server_name"`
		Input         json.RawMessage `json:"input"`
		Subagent      *int            `json:"subagent,omitempty"`
	}
	// AgentCustomToolUsePayload (agent.custom_tool_use): the agent calls a
	// custom tool; the session goes idle (requires_action) until a
	// user.custom_tool_result answers it.
	AgentCustomToolUsePayload struct {
		Type  string          `json:"type"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	}
	// AgentToolResultPayload (agent.tool_result, agent.mcp_tool_result): a
	// tool's result; ToolUseID is the id of the tool use event.
	AgentToolResultPayload struct {
		Type      string      `json:"type"`
		ToolUseID string      `json:"tool_use_id"`
		Content   []TextBlock `json:"content"`
		IsError   bool        `json:"is_error"`
		Subagent  *int        `json:"subagent,omitempty"`
	}
	// UserCustomToolResultPayload (user.custom_tool_result): the client's
	// result of a custom tool use as the agent got it, or the error it got
	// instead.
	UserCustomToolResultPayload struct {
		Type            string      `json:"type"`
		CustomToolUseID string      `json:"custom_tool_use_id"`
		Content         []TextBlock `json:"content"`
		IsError         bool        `json:"is_error"`
	}
	// UserToolConfirmationPayload (user.tool_confirmation): a tool use that
	// waited for confirmation was allowed or denied (also: denied because
	// nobody answered in time).
	UserToolConfirmationPayload struct {
		Type        string `json:"type"`
		ToolUseID   string `json:"tool_use_id"`
		Result      string `json:"result"` // allow or deny
		DenyMessage string `json:"deny_message,omitempty"`
	}
	// ContextCompactedPayload (agent.thread_context_compacted): older
	// context was replaced by a summary.
	ContextCompactedPayload struct {
		Type string `json:"type"`
	}
	// SessionErrorPayload (session.error): something went wrong that did
	// not end the turn.
	SessionErrorPayload struct {
		Type  string       `json:"type"`
		Error SessionError `json:"error"`
	}
	// SessionStatusRunningPayload (session.status_running): a turn runs (it
	// started, or resumed after the client answered).
	SessionStatusRunningPayload struct {
		Type string `json:"type"`
	}
	// SessionStatusIdlePayload (session.status_idle): the turn stopped, for
	// StopReason. Output is the typed result of an end_turn of a
	// user.message with an OutputSchema.
	SessionStatusIdlePayload struct {
		Type       string          `json:"type"`
		StopReason StopReason      `json:"stop_reason"`
		Output     json.RawMessage `json:"output,omitempty"`
	}
)

// AgentMCPToolResultPayload (agent.mcp_tool_result) is an MCP tool's
// result.
type AgentMCPToolResultPayload = AgentToolResultPayload

// Text is the message's text blocks joined.
func (p AgentMessagePayload) Text() string { return joinText(p.Content) }

// Text is the result's text blocks joined.
func (p AgentToolResultPayload) Text() string { return joinText(p.Content) }

// SessionError says what went wrong in a session.error.
type SessionError struct {
	Type    string `json:"type"` // warning or custom_tool_timeout
	Message string `json:"message"`
}

// StopReason is why a session went idle.
type StopReason struct {
	// Type is end_turn (the agent answered), requires_action (tool uses
	// wait for the client: EventIDs), error (the turn failed: Message),
	// interrupted (a user.interrupt ended it) or max_steps (the turn hit the
	// server's step limit).
	Type string `json:"type"`
	// EventIDs, for requires_action, are the ids of the agent.tool_use and
	// agent.mcp_tool_use events to confirm (ToolConfirmation) and of the
	// agent.custom_tool_use events to answer (CustomToolResult).
	EventIDs []string `json:"event_ids,omitempty"`
	Message  string   `json:"message,omitempty"`
}

// SessionEventListParams selects a page of a session's events, oldest
// first.
type SessionEventListParams struct {
	// After is the sequence after which the page starts (0: the first
	// event).
	After int64
	// Limit is the page size, 1–1000 (0: the server's default, 100).
	Limit int
}

// SessionStreamToken opens one session's event stream without the
// Authorization header (a browser's EventSource): URL, until ExpiresAt.
type SessionStreamToken struct {
	Token     string    `json:"token"`
	SessionID string    `json:"sessionId"`
	ExpiresAt time.Time `json:"expiresAt"`
	ExpiresIn int       `json:"expiresIn"`
	URL       string    `json:"url"`
}

// StreamToken mints a stream token of a session (10 minutes): its URL
// opens the session's stream as ?access_token=, for a browser; no other
// endpoint, session or deployment takes it.
func (s *SessionService) StreamToken(ctx context.Context, id string) (*SessionStreamToken, error) {
	var out SessionStreamToken
	if err := s.c.do(ctx, http.MethodPost, path("sessions", id, "events", "tokens"), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Events reads one page of a session's events, oldest first. An After
// older than the retained events is a 410 cursor_expired.
func (s *SessionService) Events(ctx context.Context, id string, p SessionEventListParams) (*CamelPage[SessionEvent], error) {
	q := url.Values{}
	if p.After > 0 {
		q.Set("cursor", strconv.FormatInt(p.After, 10))
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	return getCamelPage[SessionEvent](ctx, s.c, path("sessions", id, "events"), q)
}

// AllEvents iterates over a session's events after p.After, oldest first,
// across pages; it ends with the newest.
func (s *SessionService) AllEvents(ctx context.Context, id string, p SessionEventListParams) iter.Seq2[*SessionEvent, error] {
	after := ""
	if p.After > 0 {
		after = strconv.FormatInt(p.After, 10)
	}
	return allCamel(after, func(cursor string) (*CamelPage[SessionEvent], error) {
		p.After = 0
		if cursor != "" {
			n, err := strconv.ParseInt(cursor, 10, 64)
			if err != nil {
				return nil, err
			}
			p.After = n
		}
		return s.Events(ctx, id, p)
	})
}

// SessionStreamParams says where a session's event stream starts.
type SessionStreamParams struct {
	// After, when above 0, starts the stream after that sequence: the
	// events after it are replayed, then it follows live. With 0 it starts
	// with the events to come, unless FromStart.
	After int64
	// FromStart starts the stream with the session's first event.
	FromStart bool
}

// Stream opens a session's event stream (SSE). It returns once the server
// has answered, so that every event that comes afterwards is in the
// stream. The stream reopens itself after a disconnect, from the last
// event it delivered (Last-Event-ID: its sequence; before any, from where
// p said), and never delivers a sequence twice. Close it when done.
func (s *SessionService) Stream(ctx context.Context, id string, p SessionStreamParams) (*Stream[SessionEvent], error) {
	r := &request{method: http.MethodGet, path: path("sessions", id, "events", "stream")}
	open := s.c.openStream(r)
	st := newStream(ctx, decodeSessionEvent, open, s.c.reconnects, time.Second)
	switch {
	case p.After > 0:
		st.lastID, st.lastSeq = strconv.FormatInt(p.After, 10), p.After
	case p.FromStart:
		st.lastID = "0"
	}
	st.seqOf = func(e SessionEvent) int64 { return e.Sequence }
	body, err := open(st.ctx, st.lastID)
	if err != nil {
		st.cancel()
		return nil, err
	}
	st.setBody(body)
	return st, nil
}

func decodeSessionEvent(f Frame) (SessionEvent, error) {
	var e SessionEvent
	if err := json.Unmarshal([]byte(f.Data), &e); err != nil {
		return e, err
	}
	if e.Type == "" {
		e.Type = f.Event
	}
	if e.Sequence == 0 {
		e.Sequence, _ = strconv.ParseInt(f.ID, 10, 64)
	}
	return e, nil
}
