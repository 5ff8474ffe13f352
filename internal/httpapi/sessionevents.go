package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/agents"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// A session's events are its thread's events that herm.InThreadSequence
// numbers (events.thread_seq, contiguous per thread: the session's
// sequence), each projected to exactly one session event:
//
//	message (user)            → user.message
//	message (agent)           → agent.message {delta: false}
//	token                     → agent.message {delta: true}
//	reasoning                 → agent.thinking
//	tool_call                 → agent.tool_use | agent.mcp_tool_use | agent.custom_tool_use
//	tool_result               → agent.tool_result | agent.mcp_tool_result | user.custom_tool_result
//	steering_resolved         → user.tool_confirmation (session.error for a custom call that timed out)
//	compaction                → agent.thread_context_compacted
//	warning                   → session.error
//	run_status running        → session.status_running
//	run_status (others)       → session.status_idle {stop_reason}
//
// The envelope's id is the event log's (evt_<n>): the id that
// tool_use_id, custom_tool_use_id and event_ids name.

// SessionEvent is the envelope of a session's events.
type SessionEvent struct {
	ID          string         `json:"id" doc:"The event's id (evt_...): tool uses are named by it (tool_use_id, custom_tool_use_id, event_ids)."`
	Type        string         `json:"type" enum:"user.message,user.tool_confirmation,user.custom_tool_result,agent.message,agent.thinking,agent.tool_use,agent.mcp_tool_use,agent.custom_tool_use,agent.tool_result,agent.mcp_tool_result,agent.thread_context_compacted,session.status_running,session.status_idle,session.error" doc:"A copy of payload.type."`
	SessionID   string         `json:"sessionId"`
	Sequence    int64          `json:"sequence" doc:"Per session, from 1, grows by exactly one per event: the SSE id, for Last-Event-ID, and the list's cursor."`
	Status      string         `json:"status" enum:"complete"`
	Payload     SessionPayload `json:"payload"`
	ProcessedAt *time.Time     `json:"processedAt"`
	CreatedAt   time.Time      `json:"createdAt"`
}

// SessionPayload is one of the session event payloads, told apart by
// type.
type SessionPayload struct{}

// OpenAPIUnion lists the session event payloads.
func (SessionPayload) OpenAPIUnion() (string, []any) {
	return "type", []any{
		UserMessagePayload{}, AgentMessagePayload{}, AgentThinkingPayload{}, AgentToolUsePayload{},
		AgentMCPToolUsePayload{}, AgentCustomToolUsePayload{}, AgentToolResultPayload{}, AgentMCPToolResultPayload{},
		UserCustomToolResultPayload{}, UserToolConfirmationPayload{}, ContextCompactedPayload{},
		SessionErrorPayload{}, SessionStatusRunningPayload{}, SessionStatusIdlePayload{},
	}
}

// subagentField marks the events of a subagent (a child loop of the
// subagents tool).
type subagentField struct {
	Subagent *int `json:"subagent,omitempty" doc:"The subagent's task number, on a subagent's events only."`
}

// UserMessagePayload: the user's message that started a turn (or steered
// one).
type UserMessagePayload struct {
	Type    string             `json:"type" enum:"user.message"`
	Content []agents.TextBlock `json:"content"`
}

// AgentMessagePayload: the agent's text: chunks as they stream (delta
// true), then the whole message (delta false), which supersedes them.
type AgentMessagePayload struct {
	Type    string             `json:"type" enum:"agent.message"`
	Delta   bool               `json:"delta"`
	Content []agents.TextBlock `json:"content"`
	attemptField
	subagentField
}

// attemptField numbers a model turn's chunks.
type attemptField struct {
	Turn    int `json:"turn,omitempty" doc:"The model call's ordinal in the turn's run, from 1 (chunks; and the whole message)."`
	Attempt int `json:"attempt,omitempty" doc:"Chunks: 1, then +1 each time the model call is redone (after a crash or a failed stream): a chunk of a higher attempt of the same turn voids the chunks of the lower ones."`
}

// AgentThinkingPayload: a chunk of the model's reasoning, where the
// provider exposes it.
type AgentThinkingPayload struct {
	Type     string `json:"type" enum:"agent.thinking"`
	Thinking string `json:"thinking"`
	attemptField
	subagentField
}

// AgentToolUsePayload: the agent calls a built-in tool.
type AgentToolUsePayload struct {
	Type  string          `json:"type" enum:"agent.tool_use"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input" doc:"The call's input (a JSON object)."`
	subagentField
}

// AgentMCPToolUsePayload: the agent calls an MCP server's tool.
type AgentMCPToolUsePayload struct {
	Type          string          `json:"type" enum:"agent.mcp_tool_use"`
	Name          string          `json:"name" doc:"The tool's name on its server."`
	MCPServerName string          `json:"mcp_server_name"`
	Input         json.RawMessage `json:"input"`
	subagentField
}

// AgentCustomToolUsePayload: the agent calls a custom tool; the session
// goes idle (requires_action) until a user.custom_tool_result answers.
type AgentCustomToolUsePayload struct {
	Type  string          `json:"type" enum:"agent.custom_tool_use"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// AgentToolResultPayload: a built-in tool's result.
type AgentToolResultPayload struct {
	Type string `json:"type" enum:"agent.tool_result"`
	toolResult
}

// AgentMCPToolResultPayload: an MCP tool's result.
type AgentMCPToolResultPayload struct {
	Type string `json:"type" enum:"agent.mcp_tool_result"`
	toolResult
}

// toolResult is what a tool result says.
type toolResult struct {
	ToolUseID string             `json:"tool_use_id" doc:"The id of the tool use event."`
	Content   []agents.TextBlock `json:"content" doc:"The result (a preview when it was truncated), secret values redacted."`
	IsError   bool               `json:"is_error"`
	subagentField
}

// UserCustomToolResultPayload: the client's result of a custom tool use,
// as the agent got it (or the error it got instead: cancelled, timed out).
type UserCustomToolResultPayload struct {
	Type            string             `json:"type" enum:"user.custom_tool_result"`
	CustomToolUseID string             `json:"custom_tool_use_id"`
	Content         []agents.TextBlock `json:"content"`
	IsError         bool               `json:"is_error"`
}

// UserToolConfirmationPayload: a tool use waiting for confirmation was
// allowed or denied (also: denied because nobody answered in time).
type UserToolConfirmationPayload struct {
	Type        string `json:"type" enum:"user.tool_confirmation"`
	ToolUseID   string `json:"tool_use_id"`
	Result      string `json:"result" enum:"allow,deny"`
	DenyMessage string `json:"deny_message,omitempty"`
}

// ContextCompactedPayload: older context was replaced by a summary.
type ContextCompactedPayload struct {
	Type string `json:"type" enum:"agent.thread_context_compacted"`
}

// SessionErrorPayload: something went wrong that did not end the turn
// (an MCP server unreachable, a custom tool use unanswered in time).
type SessionErrorPayload struct {
	Type  string       `json:"type" enum:"session.error"`
	Error SessionError `json:"error"`
}

// SessionError describes a session.error.
type SessionError struct {
	Type    string `json:"type" enum:"warning,custom_tool_timeout"`
	Message string `json:"message"`
}

// SessionStatusRunningPayload: a turn runs (it started, or resumed after
// the client answered).
type SessionStatusRunningPayload struct {
	Type string `json:"type" enum:"session.status_running"`
}

// SessionStatusIdlePayload: the turn stopped.
type SessionStatusIdlePayload struct {
	Type       string          `json:"type" enum:"session.status_idle"`
	StopReason StopReason      `json:"stop_reason"`
	Output     json.RawMessage `json:"output,omitempty" doc:"end_turn of a user.message with an output_schema: the typed result, JSON valid against it."`
}

// StopReason is why a session went idle.
type StopReason struct {
	Type     string   `json:"type" enum:"end_turn,requires_action,error,interrupted,max_steps" doc:"end_turn: the agent answered; requires_action: tool uses wait for the client (event_ids); error: the turn failed (message); interrupted: a user.interrupt ended it; max_steps: the turn hit the server's step limit."`
	EventIDs []string `json:"event_ids,omitempty" doc:"requires_action: the ids of the agent.tool_use / agent.mcp_tool_use events to confirm (user.tool_confirmation) and agent.custom_tool_use events to answer (user.custom_tool_result)."`
	Message  string   `json:"message,omitempty" doc:"error: what went wrong."`
}

// OpenAPIRequired: type.
func (StopReason) OpenAPIRequired() []string { return []string{"type"} }

// sessionEvent is what is sent of a SessionEvent (its payload as JSON).
type sessionEvent struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	SessionID   string          `json:"sessionId"`
	Sequence    int64           `json:"sequence"`
	Status      string          `json:"status"`
	Payload     json.RawMessage `json:"payload"`
	ProcessedAt *time.Time      `json:"processedAt"`
	CreatedAt   time.Time       `json:"createdAt"`
}

// projector turns a session's logged events into session events. It
// remembers which event announced each tool call (per run), reading the
// log for calls it has not seen (a stream that starts mid-turn).
type projector struct {
	s     *Server
	sess  *herm.Session
	calls map[string]map[string]string // run → tool_call_id → event id
}

func (s *Server) newProjector(sess *herm.Session) *projector {
	return &projector{s: s, sess: sess, calls: map[string]map[string]string{}}
}

// toolUseID returns the id of the event that announced a run's tool call.
func (p *projector) toolUseID(ctx context.Context, runID, callID string) string {
	m := p.calls[runID]
	if id, ok := m[callID]; ok {
		return id
	}
	if m == nil {
		m = map[string]string{}
		p.calls[runID] = m
	}
	after := int64(0)
	for {
		evs, err := p.s.store.ListEvents(ctx, p.sess.DeploymentID, after, 1000, store.EventFilter{ThreadID: p.sess.ThreadID, RunID: runID, Types: []string{herm.EventToolCall}})
		if err != nil {
			return ""
		}
		for _, e := range evs {
			p.note(e)
			after = e.Seq
		}
		if len(evs) < 1000 {
			break
		}
	}
	return m[callID]
}

// note remembers the event of a tool call.
func (p *projector) note(e *herm.Event) {
	if e.Type != herm.EventToolCall {
		return
	}
	var d struct {
		ToolCallID string `json:"tool_call_id"`
	}
	if json.Unmarshal(e.Data, &d) != nil {
		return
	}
	m := p.calls[e.RunID]
	if m == nil {
		m = map[string]string{}
		p.calls[e.RunID] = m
	}
	if _, ok := m[d.ToolCallID]; !ok {
		m[d.ToolCallID] = e.ID()
	}
}

func text(s string) []agents.TextBlock { return []agents.TextBlock{{Type: "text", Text: s}} }

// project returns the session event of an in-sequence event.
func (p *projector) project(ctx context.Context, e *herm.Event) sessionEvent {
	p.note(e)
	var d struct {
		Role          string          `json:"role"`
		Content       string          `json:"content"`
		Delta         string          `json:"delta"`
		ToolCallID    string          `json:"tool_call_id"`
		Tool          string          `json:"tool"`
		Origin        string          `json:"origin"`
		Arguments     json.RawMessage `json:"arguments"`
		Result        string          `json:"result"`
		IsError       bool            `json:"is_error"`
		SteeringID    string          `json:"steering_request_id"`
		Decision      string          `json:"decision"`
		Message       string          `json:"message"`
		Source        string          `json:"source"`
		Status        herm.RunStatus  `json:"status"`
		StopReason    *string         `json:"stop_reason"`
		Error         *herm.ErrorInfo `json:"error"`
		Output        json.RawMessage `json:"output"`
		ToolCallIDs   []string        `json:"tool_call_ids"`
		Subagent      *int            `json:"subagent"`
		Turn          int             `json:"turn"`
		Attempt       int             `json:"attempt"`
		RequiresInput bool            `json:"requires_action"`
	}
	_ = json.Unmarshal(e.Data, &d)
	sub := subagentField{Subagent: d.Subagent}
	try := attemptField{Turn: d.Turn, Attempt: d.Attempt}
	input := d.Arguments
	if len(input) == 0 {
		input = json.RawMessage(`{}`)
	}
	var payload any
	switch e.Type {
	case herm.EventMessage:
		if d.Role == herm.RoleUser {
			payload = UserMessagePayload{Type: "user.message", Content: text(d.Content)}
		} else {
			payload = AgentMessagePayload{Type: "agent.message", Delta: false, Content: text(d.Content), attemptField: attemptField{Turn: d.Turn}, subagentField: sub}
		}
	case herm.EventToken:
		payload = AgentMessagePayload{Type: "agent.message", Delta: true, Content: text(d.Delta), attemptField: try, subagentField: sub}
	case herm.EventReasoning:
		payload = AgentThinkingPayload{Type: "agent.thinking", Thinking: d.Delta, attemptField: try, subagentField: sub}
	case herm.EventToolCall:
		switch d.Origin {
		case "builtin", "":
			payload = AgentToolUsePayload{Type: "agent.tool_use", Name: d.Tool, Input: input, subagentField: sub}
		case herm.OriginCustom:
			payload = AgentCustomToolUsePayload{Type: "agent.custom_tool_use", Name: d.Tool, Input: input}
		default:
			payload = AgentMCPToolUsePayload{Type: "agent.mcp_tool_use", Name: d.Tool, MCPServerName: d.Origin, Input: input, subagentField: sub}
		}
	case herm.EventToolResult:
		use := p.toolUseID(ctx, e.RunID, d.ToolCallID)
		switch d.Origin {
		case herm.OriginCustom:
			payload = UserCustomToolResultPayload{Type: "user.custom_tool_result", CustomToolUseID: use, Content: text(d.Result), IsError: d.IsError}
		case "builtin", "":
			payload = AgentToolResultPayload{Type: "agent.tool_result", toolResult: toolResult{ToolUseID: use, Content: text(d.Result), IsError: d.IsError, subagentField: sub}}
		default:
			payload = AgentMCPToolResultPayload{Type: "agent.mcp_tool_result", toolResult: toolResult{ToolUseID: use, Content: text(d.Result), IsError: d.IsError, subagentField: sub}}
		}
	case herm.EventSteeringResolved:
		sr, err := p.s.store.GetSteeringRequest(ctx, p.sess.DeploymentID, d.SteeringID)
		switch {
		case err == nil && sr.Kind == herm.SteeringCustomTool:
			payload = SessionErrorPayload{Type: "session.error", Error: SessionError{Type: "custom_tool_timeout", Message: "the custom tool use " + p.toolUseID(ctx, sr.RunID, sr.ToolCallID) + " was not answered in time: the agent got an error result"}}
		default:
			c := UserToolConfirmationPayload{Type: "user.tool_confirmation", Result: "allow"}
			if err == nil {
				c.ToolUseID = p.toolUseID(ctx, sr.RunID, sr.ToolCallID)
			}
			switch d.Decision {
			case herm.DecisionDeny:
				c.Result, c.DenyMessage = "deny", d.Message
			case herm.DecisionTimeout:
				c.Result, c.DenyMessage = "deny", "no confirmation came in time"
			}
			payload = c
		}
	case herm.EventCompaction:
		payload = ContextCompactedPayload{Type: "agent.thread_context_compacted"}
	case herm.EventWarning:
		payload = SessionErrorPayload{Type: "session.error", Error: SessionError{Type: "warning", Message: d.Message}}
	case herm.EventRunStatus:
		if d.Status == herm.RunRunning {
			payload = SessionStatusRunningPayload{Type: "session.status_running"}
			break
		}
		idle := SessionStatusIdlePayload{Type: "session.status_idle", StopReason: StopReason{Type: "end_turn"}}
		switch d.Status {
		case herm.RunWaitingOnHuman:
			idle.StopReason.Type = "requires_action"
			idle.StopReason.EventIDs = []string{}
			for _, id := range d.ToolCallIDs {
				if ev := p.toolUseID(ctx, e.RunID, id); ev != "" {
					idle.StopReason.EventIDs = append(idle.StopReason.EventIDs, ev)
				}
			}
		case herm.RunError:
			idle.StopReason.Type = "error"
			if d.Error != nil {
				idle.StopReason.Message = d.Error.Message
			}
		case herm.RunCancelled:
			idle.StopReason.Type = "interrupted"
		default:
			if d.StopReason != nil && *d.StopReason == herm.StopMaxSteps {
				idle.StopReason.Type = "max_steps"
			}
			idle.Output = d.Output
		}
		payload = idle
	default:
		payload = SessionErrorPayload{Type: "session.error", Error: SessionError{Type: "warning", Message: "an event of type " + e.Type}}
	}
	raw, _ := json.Marshal(payload)
	var typ struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &typ)
	at := e.CreatedAt
	return sessionEvent{
		ID: e.ID(), Type: typ.Type, SessionID: p.sess.ID, Sequence: e.ThreadSeq, Status: "complete",
		ProcessedAt: &at, CreatedAt: e.CreatedAt, Payload: raw,
	}
}

// SessionEventList is a page of a session's events.
type SessionEventList struct {
	Data       []SessionEvent `json:"data" doc:"Events, oldest first."`
	NextCursor *string        `json:"nextCursor" doc:"The last event's sequence when more follow (pass it as cursor), null at the end."`
}

// sessionCursor reads the position to list or stream after: the
// Last-Event-ID header (streams), cursor or after (a sequence).
func sessionCursor(r *http.Request) (int64, bool, error) {
	v, field := r.Header.Get("Last-Event-ID"), "Last-Event-ID"
	if v == "" {
		v, field = r.URL.Query().Get("cursor"), "cursor"
	}
	if v == "" {
		v, field = r.URL.Query().Get("after"), "after"
	}
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, false, herm.Errorf(herm.EInvalid, "%s must be a sequence number of the session's events", field)
	}
	return n, true, nil
}

// checkSessionCursor returns 410 when the cursor points before the
// retained events, and 400 when past the last.
func (s *Server) checkSessionCursor(ctx context.Context, sess *herm.Session, cursor int64) (last int64, err error) {
	first, last, err := s.store.ThreadEventBounds(ctx, sess.DeploymentID, sess.ThreadID)
	if err != nil {
		return 0, err
	}
	if cursor > last {
		return 0, herm.Errorf(herm.EInvalid, "sequence %d is beyond the session's last event (%d)", cursor, last)
	}
	if cursor < last && (first == 0 || cursor+1 < first) {
		return 0, herm.Errorf(herm.ECursorExpired, "sequence %d is older than the retained events; the oldest retained is %d", cursor, max(first, last))
	}
	return last, nil
}

func (s *Server) listSessionEvents(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.agents.Session(r.Context(), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	cursor, has, err := sessionCursor(r)
	if err != nil {
		return err
	}
	limit, err := eventLimit(r)
	if err != nil {
		return err
	}
	if has {
		if _, err := s.checkSessionCursor(r.Context(), sess, cursor); err != nil {
			return err
		}
	}
	evs, err := s.store.ListThreadEvents(r.Context(), sess.DeploymentID, sess.ThreadID, cursor, limit+1)
	if err != nil {
		return err
	}
	out := CamelList[sessionEvent]{Data: make([]sessionEvent, 0, min(len(evs), limit))}
	p := s.newProjector(sess)
	for i, e := range evs {
		if i == limit {
			c := strconv.FormatInt(evs[limit-1].ThreadSeq, 10)
			out.NextCursor = &c
			break
		}
		out.Data = append(out.Data, p.project(r.Context(), e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// streamSessionEvents replays the session's events after the cursor, then
// follows the live feed; like the deployments' stream, every event
// reaches the client once, in sequence order (gaps in the live feed, or a
// subscription dropped for being slow, are filled from the store). The
// SSE id is the sequence.
func (s *Server) streamSessionEvents(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.agents.Session(r.Context(), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	cursor, has, err := sessionCursor(r)
	if err != nil {
		return err
	}
	sub := s.log.Subscribe(sess.DeploymentID)
	var last int64
	if has {
		last, err = s.checkSessionCursor(r.Context(), sess, cursor)
	} else {
		_, last, err = s.store.ThreadEventBounds(r.Context(), sess.DeploymentID, sess.ThreadID)
		cursor = last
	}
	if err != nil {
		sub.Close()
		return err
	}
	p := s.newProjector(sess)
	s.follow(w, r, sub, feed{
		deploymentID: sess.DeploymentID,
		id:           func(pos int64) string { return strconv.FormatInt(pos, 10) },
		live:         !has,
		pos: func(e *herm.Event) int64 {
			if e.ThreadID != sess.ThreadID {
				return 0
			}
			return e.ThreadSeq
		},
		stored: func(ctx context.Context, after int64) ([]*herm.Event, error) {
			return s.store.ListThreadEvents(ctx, sess.DeploymentID, sess.ThreadID, after, feedBatch)
		},
		last: func(ctx context.Context) (int64, error) {
			_, last, err := s.store.ThreadEventBounds(ctx, sess.DeploymentID, sess.ThreadID)
			return last, err
		},
		write: func(bw *bufio.Writer, e *herm.Event) {
			ev := p.project(r.Context(), e)
			b, _ := json.Marshal(ev)
			bw.WriteString("id: " + strconv.FormatInt(e.ThreadSeq, 10) + "\nevent: " + ev.Type + "\ndata: ")
			bw.Write(b)
			bw.WriteString("\n\n")
		},
		seen: p.note,
	}, cursor, last)
	return nil
}
