package herm_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	herm "github.com/hermhq/herm/sdk/go"
)

// untilIdle reads a session stream until a session.status_idle and
// returns the events read, the idle one last.
func untilIdle(t *testing.T, st *herm.Stream[herm.SessionEvent]) []herm.SessionEvent {
	t.Helper()
	var out []herm.SessionEvent
	for e, err := range st.All() {
		if err != nil {
			t.Fatalf("stream: %v (after %v)", err, eventTypes(out))
		}
		out = append(out, e)
		if e.Type == herm.EventSessionStatusIdle {
			return out
		}
	}
	t.Fatalf("the stream ended before the session went idle: %v", eventTypes(out))
	return nil
}

func eventTypes(evs []herm.SessionEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// idle decodes the last event, a session.status_idle.
func idle(t *testing.T, evs []herm.SessionEvent) herm.SessionStatusIdlePayload {
	t.Helper()
	var p herm.SessionStatusIdlePayload
	if err := evs[len(evs)-1].Decode(&p); err != nil || p.Type != herm.EventSessionStatusIdle {
		t.Fatalf("not idle: %v %+v", err, evs[len(evs)-1])
	}
	return p
}

// TestAgentSessionTurn creates an agent and a session of it, sends a
// message and streams the turn until session.status_idle: the deltas make
// up the agent's message, the envelope's fields are set, and the session's
// history, list filters, update, archive, event pages and delete work.
func TestAgentSessionTurn(t *testing.T) {
	t.Parallel()
	s := startServer(t, "HERM_DEMO_WORD_DELAY=0s")
	c := s.client()
	ctx := testContext(t)
	ag, err := c.Agents.Create(ctx, herm.AgentCreateParams{Name: "Support", Model: "demo/demo", Instructions: "Help.",
		Tools: []herm.AgentTool{{Type: herm.ToolsetAgent}}, Metadata: map[string]string{"team": "care"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ag.ID, "agt_") || ag.Version != 1 || ag.Status != herm.AgentActive || ag.Model != "demo/demo" ||
		!ag.Features.Memory || ag.Metadata["team"] != "care" || len(ag.Tools) != 1 || ag.ModelSettings != nil || ag.ArchivedAt != nil {
		t.Fatalf("agent %+v", ag)
	}
	sess, err := c.Sessions.Create(ctx, ag.ID, herm.SessionCreateParams{UserID: "alice", Title: "First", Metadata: map[string]string{"channel": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if sess.AgentID != ag.ID || sess.AgentVersion != 1 || sess.UserID == nil || *sess.UserID != "alice" || sess.Title != "First" ||
		sess.Status != herm.SessionIdle || sess.Metadata["channel"] != "web" {
		t.Fatalf("session %+v", sess)
	}

	st, err := c.Sessions.Stream(ctx, sess.ID, herm.SessionStreamParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := c.Sessions.Send(ctx, sess.ID, herm.UserMessage("Give me five ad ideas")); err != nil {
		t.Fatal(err)
	}
	evs := untilIdle(t, st)
	if r := idle(t, evs).StopReason; r.Type != herm.StopEndTurn {
		t.Fatalf("stop reason %+v", r)
	}
	var deltas, whole, user strings.Builder
	for i, e := range evs {
		if e.Sequence != int64(i+1) || e.SessionID != sess.ID || !strings.HasPrefix(e.ID, "evt_") || e.Status != "complete" ||
			e.CreatedAt.IsZero() || e.ProcessedAt == nil {
			t.Fatalf("event %d: %+v", i, e)
		}
		var typ struct{ Type string }
		if err := e.Decode(&typ); err != nil || typ.Type != e.Type {
			t.Fatalf("event %d: payload type %q, envelope %q", i, typ.Type, e.Type)
		}
		switch e.Type {
		case herm.EventAgentMessage:
			var m herm.AgentMessagePayload
			if err := e.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if m.Delta {
				deltas.WriteString(m.Text())
			} else {
				whole.WriteString(m.Text())
			}
		case herm.EventUserMessage:
			var m herm.UserMessagePayload
			if err := e.Decode(&m); err != nil || len(m.Content) != 1 {
				t.Fatalf("user.message %v %+v", err, m)
			}
			user.WriteString(m.Content[0].Text)
		}
	}
	if user.String() != "Give me five ad ideas" || deltas.Len() == 0 || deltas.String() != whole.String() {
		t.Fatalf("user %q, deltas %q, agent message %q (%v)", user.String(), deltas.String(), whole.String(), eventTypes(evs))
	}

	full, err := c.Sessions.Get(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if full.Status != herm.SessionIdle || len(full.Messages) != 2 || full.Messages[0].Role != "user" ||
		full.Messages[1].Role != "agent" || full.Messages[1].Text() != whole.String() {
		t.Fatalf("session with messages %+v", full)
	}

	// Events as pages: the same events, in pages of 3.
	var listed []herm.SessionEvent
	for e, err := range c.Sessions.AllEvents(ctx, sess.ID, herm.SessionEventListParams{Limit: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, *e)
	}
	if len(listed) != len(evs) {
		t.Fatalf("listed %d events, streamed %d", len(listed), len(evs))
	}
	for i := range listed {
		if listed[i].ID != evs[i].ID || string(listed[i].Payload) != string(evs[i].Payload) {
			t.Fatalf("event %d: listed %+v, streamed %+v", i, listed[i], evs[i])
		}
	}
	page, err := c.Sessions.Events(ctx, sess.ID, herm.SessionEventListParams{After: 2, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].Sequence != 3 || page.NextCursor != "4" {
		t.Fatalf("page after 2: %+v", page)
	}

	// Lists and filters.
	other, err := c.Sessions.Create(ctx, ag.ID, herm.SessionCreateParams{})
	if err != nil {
		t.Fatal(err)
	}
	if other.UserID != nil {
		t.Fatalf("a session without user: %+v", other)
	}
	ids := func(p herm.SessionListParams) []string {
		t.Helper()
		var out []string
		for x, err := range c.Sessions.All(ctx, p) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, x.ID)
		}
		return out
	}
	if got := ids(herm.SessionListParams{AgentID: ag.ID, ListParams: herm.ListParams{Limit: 1}}); !slices.Equal(got, []string{other.ID, sess.ID}) {
		t.Fatalf("the agent's sessions %v", got)
	}
	if got := ids(herm.SessionListParams{UserID: "alice", Status: herm.SessionIdle}); !slices.Equal(got, []string{sess.ID}) {
		t.Fatalf("alice's idle sessions %v", got)
	}
	if got := ids(herm.SessionListParams{Status: herm.SessionRunning}); len(got) != 0 {
		t.Fatalf("running sessions %v", got)
	}

	up, err := c.Sessions.Update(ctx, sess.ID, herm.SessionUpdateParams{Title: herm.String("Renamed"), Metadata: map[string]*string{"channel": nil, "tier": herm.String("gold")}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Title != "Renamed" || len(up.Metadata) != 1 || up.Metadata["tier"] != "gold" {
		t.Fatalf("updated %+v", up)
	}
	arch, err := c.Sessions.Archive(ctx, sess.ID)
	if err != nil || arch.ArchivedAt == nil {
		t.Fatalf("archive: %+v %v", arch, err)
	}
	if _, err := c.Sessions.Archive(ctx, sess.ID); herm.ErrorCode(err) != herm.CodeConflict {
		t.Fatalf("archive twice: %v", err)
	}
	if got := ids(herm.SessionListParams{AgentID: ag.ID}); !slices.Equal(got, []string{other.ID}) {
		t.Fatalf("active sessions %v", got)
	}
	if got := ids(herm.SessionListParams{AgentID: ag.ID, Archived: herm.ArchivedTrue}); !slices.Equal(got, []string{sess.ID}) {
		t.Fatalf("archived sessions %v", got)
	}
	if got := ids(herm.SessionListParams{AgentID: ag.ID, Archived: herm.ArchivedAny}); len(got) != 2 {
		t.Fatalf("all sessions %v", got)
	}
	if err := c.Sessions.Delete(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sessions.Get(ctx, other.ID); herm.ErrorCode(err) != herm.CodeNotFound {
		t.Fatalf("get a deleted session: %v", err)
	}
	if _, err := c.Sessions.Stream(ctx, other.ID, herm.SessionStreamParams{}); herm.ErrorCode(err) != herm.CodeNotFound {
		t.Fatalf("stream a deleted session: %v", err)
	}
}

// TestAgentVersions: an update is a new version (merging metadata,
// clearing model settings); versions read one at a time and across pages;
// an existing session stays pinned; an archived agent takes no updates and
// no sessions.
func TestAgentVersions(t *testing.T) {
	t.Parallel()
	s := startServer(t, "HERM_DEMO_WORD_DELAY=0s")
	c := s.client()
	ctx := testContext(t)
	ag, err := c.Agents.Create(ctx, herm.AgentCreateParams{Name: "Versioned", Model: "demo/demo", Instructions: "You are version one.",
		ModelSettings: &herm.AgentModelSettings{Temperature: herm.Float(0.5), MaxTokens: 500}, Metadata: map[string]string{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if ag.ModelSettings == nil || ag.ModelSettings.MaxTokens != 500 || *ag.ModelSettings.Temperature != 0.5 {
		t.Fatalf("created %+v", ag)
	}
	pinned, err := c.Sessions.Create(ctx, ag.ID, herm.SessionCreateParams{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := c.Agents.Update(ctx, ag.ID, herm.AgentUpdateParams{Instructions: herm.String("You are version two."),
		Metadata: map[string]*string{"tier": herm.String("gold")}, ClearModelSettings: true})
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version != 2 || v2.Instructions != "You are version two." || v2.Name != "Versioned" || v2.ModelSettings != nil ||
		v2.Metadata["team"] != "a" || v2.Metadata["tier"] != "gold" {
		t.Fatalf("version 2 %+v", v2)
	}
	v3, err := c.Agents.Update(ctx, ag.ID, herm.AgentUpdateParams{Tools: &[]herm.AgentTool{{Type: herm.ToolsetAgent,
		Configs: []herm.AgentToolConfig{{Name: "write_file", PermissionPolicy: &herm.PermissionPolicy{Type: herm.PermissionAlwaysAsk}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if v3.Version != 3 || len(v3.Tools) != 1 || v3.Tools[0].Configs[0].PermissionPolicy.Type != herm.PermissionAlwaysAsk {
		t.Fatalf("version 3 %+v", v3)
	}
	if _, err := c.Agents.Update(ctx, ag.ID, herm.AgentUpdateParams{ModelSettings: &herm.AgentModelSettings{}, ClearModelSettings: true}); err == nil {
		t.Fatal("ModelSettings and ClearModelSettings both set is no error")
	}
	got, err := c.Agents.Get(ctx, ag.ID)
	if err != nil || got.Version != 3 {
		t.Fatalf("get: %+v %v", got, err)
	}
	v1, err := c.Agents.Version(ctx, ag.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.Instructions != "You are version one." || v1.ModelSettings == nil || v1.Metadata["tier"] != "gold" {
		t.Fatalf("version 1 %+v", v1)
	}
	if _, err := c.Agents.Version(ctx, ag.ID, 9); herm.ErrorCode(err) != herm.CodeNotFound {
		t.Fatalf("version 9: %v", err)
	}
	page, err := c.Agents.Versions(ctx, ag.ID, herm.ListParams{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].Version != 3 || page.NextCursor != "2" {
		t.Fatalf("first page of versions: %+v", page)
	}
	var versions []int
	for v, err := range c.Agents.AllVersions(ctx, ag.ID, herm.ListParams{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v.Version)
	}
	if !slices.Equal(versions, []int{3, 2, 1}) {
		t.Fatalf("versions %v", versions)
	}
	fresh, err := c.Sessions.Create(ctx, ag.ID, herm.SessionCreateParams{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if pinned.AgentVersion != 1 || fresh.AgentVersion != 3 {
		t.Fatalf("pinned to %d, fresh on %d", pinned.AgentVersion, fresh.AgentVersion)
	}

	other, err := c.Agents.Create(ctx, herm.AgentCreateParams{Name: "Other", Model: "demo/demo"})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := c.Agents.Archive(ctx, ag.ID)
	if err != nil || arch.Status != herm.AgentArchived || arch.ArchivedAt == nil {
		t.Fatalf("archive: %+v %v", arch, err)
	}
	agentIDs := func(p herm.AgentListParams) []string {
		t.Helper()
		var out []string
		for a, err := range c.Agents.All(ctx, p) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a.ID)
		}
		return out
	}
	if got := agentIDs(herm.AgentListParams{ListParams: herm.ListParams{Limit: 1}}); !slices.Equal(got, []string{other.ID, ag.ID}) {
		t.Fatalf("agents %v", got)
	}
	if got := agentIDs(herm.AgentListParams{Status: herm.AgentArchived}); !slices.Equal(got, []string{ag.ID}) {
		t.Fatalf("archived agents %v", got)
	}
	if _, err := c.Agents.Update(ctx, ag.ID, herm.AgentUpdateParams{Name: herm.String("x")}); herm.ErrorCode(err) != herm.CodeConflict {
		t.Fatalf("update an archived agent: %v", err)
	}
	if _, err := c.Sessions.Create(ctx, ag.ID, herm.SessionCreateParams{}); herm.ErrorCode(err) != herm.CodeConflict {
		t.Fatalf("a session of an archived agent: %v", err)
	}
	if _, err := c.Agents.Create(ctx, herm.AgentCreateParams{Name: "No model"}); herm.ErrorCode(err) != herm.CodeValidation {
		t.Fatalf("an agent without a model: %v", err)
	}
}

// cuttingTransport breaks the session streams it carries: the first
// response's body ends with a connection error after cutAt bytes (in the
// middle of an event), the second's after twice that; it records each
// request's Last-Event-ID.
type cuttingTransport struct {
	inner http.RoundTripper
	cutAt int

	mu     sync.Mutex
	opened []string // Last-Event-ID of each stream request
}

func (c *cuttingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.inner.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/events/stream") {
		return resp, err
	}
	c.mu.Lock()
	c.opened = append(c.opened, r.Header.Get("Last-Event-ID"))
	n := len(c.opened)
	c.mu.Unlock()
	if n <= 2 {
		resp.Body = &cutBody{ReadCloser: resp.Body, left: c.cutAt * n}
	}
	return resp, nil
}

type cutBody struct {
	io.ReadCloser
	left int
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("connection reset by the test")
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= n
	return n, err
}

// TestSessionStreamResume breaks a session's stream twice in the middle
// of an event: it reopens itself with the last whole event's sequence as
// Last-Event-ID and yields every sequence once, in order, as the list has
// them. A stream opened After a sequence starts right after it, and one
// FromStart with the first event.
func TestSessionStreamResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, "HERM_DEMO_WORD_DELAY=20ms")
	ct := &cuttingTransport{inner: http.DefaultTransport, cutAt: 1500}
	c := s.client(herm.WithHTTPClient(&http.Client{Transport: ct}))
	ctx := testContext(t)
	ag, err := c.Agents.Create(ctx, herm.AgentCreateParams{Name: "Talker", Model: "demo/demo"})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.Sessions.Create(ctx, ag.ID, herm.SessionCreateParams{UserID: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Sessions.Stream(ctx, sess.ID, herm.SessionStreamParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := c.Sessions.Send(ctx, sess.ID, herm.UserMessage(strings.Repeat("tell me about the weather and the sea ", 4))); err != nil {
		t.Fatal(err)
	}
	got := untilIdle(t, st)
	ct.mu.Lock()
	opened := slices.Clone(ct.opened)
	ct.mu.Unlock()
	if len(opened) != 3 || opened[0] != "" || opened[1] == "" || opened[2] == "" {
		t.Fatalf("the stream was opened with Last-Event-ID %q, want three opens, the last two resuming", opened)
	}
	for i, e := range got {
		if e.Sequence != int64(i+1) {
			t.Fatalf("sequence %d at %d: %v", e.Sequence, i, eventTypes(got))
		}
	}
	// Each reopen resumed after the last event delivered before it.
	delivered := map[string]bool{}
	for _, e := range got {
		delivered[strconv.FormatInt(e.Sequence, 10)] = true
	}
	for _, id := range opened[1:] {
		if !delivered[id] {
			t.Fatalf("reopened after %s, which was not delivered", id)
		}
	}
	var listed []int64
	for e, err := range c.Sessions.AllEvents(ctx, sess.ID, herm.SessionEventListParams{}) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, e.Sequence)
	}
	if len(listed) != len(got) {
		t.Fatalf("streamed %d events, the list has %d", len(got), len(listed))
	}

	// After and FromStart (the transport cuts no more streams).
	for _, c2 := range []struct {
		p     herm.SessionStreamParams
		first int64
	}{{herm.SessionStreamParams{After: 5}, 6}, {herm.SessionStreamParams{FromStart: true}, 1}} {
		st, err := c.Sessions.Stream(ctx, sess.ID, c2.p)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for st.Next() {
			seqs = append(seqs, st.Current().Sequence)
			if st.Current().Sequence == int64(len(listed)) {
				break
			}
		}
		st.Close()
		if len(seqs) == 0 || seqs[0] != c2.first || int64(len(seqs)) != int64(len(listed))-c2.first+1 {
			t.Fatalf("%+v: sequences %v", c2.p, seqs)
		}
		if st.LastEventID() != strconv.Itoa(len(listed)) {
			t.Fatalf("%+v: LastEventID %q", c2.p, st.LastEventID())
		}
	}
	if _, err := c.Sessions.Stream(ctx, sess.ID, herm.SessionStreamParams{After: int64(len(listed) + 5)}); herm.ErrorCode(err) != herm.CodeValidation {
		t.Fatalf("a stream after the last event: %v", err)
	}
}

// TestSessionToolConfirmation: a tool with an always_ask policy stops the
// turn (requires_action naming the agent.tool_use event); allowing runs
// it, denying tells the model why; a custom tool's use is answered with a
// custom tool result; steer while idle is a conflict; an interrupt ends a
// running turn.
func TestSessionToolConfirmation(t *testing.T) {
	t.Parallel()
	s := startServer(t, "HERM_DEMO_WORD_DELAY=20ms")
	c := s.client()
	ctx := testContext(t)
	ag, err := c.Agents.Create(ctx, herm.AgentCreateParams{Name: "Careful", Model: "demo/demo", Tools: []herm.AgentTool{
		{Type: herm.ToolsetAgent, Configs: []herm.AgentToolConfig{{Name: "write_file", PermissionPolicy: &herm.PermissionPolicy{Type: herm.PermissionAlwaysAsk}}}},
		{Type: herm.ToolsetCustom, Name: "lookup_order", Description: "Look an order up.",
			InputSchema: json.RawMessage(`{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"string"}}}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.Sessions.Create(ctx, ag.ID, herm.SessionCreateParams{UserID: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sessions.Send(ctx, sess.ID, herm.Steer("faster")); herm.ErrorCode(err) != herm.CodeConflict {
		t.Fatalf("steer while idle: %v", err)
	}
	st, err := c.Sessions.Stream(ctx, sess.ID, herm.SessionStreamParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	for _, allow := range []bool{true, false} {
		file := map[bool]string{true: "a.txt", false: "b.txt"}[allow]
		if _, err := c.Sessions.Send(ctx, sess.ID, herm.UserMessage(`/tool write_file {"path":"`+file+`","content":"x"}`)); err != nil {
			t.Fatal(err)
		}
		turn := untilIdle(t, st)
		r := idle(t, turn).StopReason
		if r.Type != herm.StopRequiresAction || len(r.EventIDs) != 1 {
			t.Fatalf("stop reason %+v (%v)", r, eventTypes(turn))
		}
		var use herm.AgentToolUsePayload
		for _, e := range turn {
			if e.ID == r.EventIDs[0] {
				if e.Type != herm.EventAgentToolUse {
					t.Fatalf("event_ids name a %s", e.Type)
				}
				if err := e.Decode(&use); err != nil {
					t.Fatal(err)
				}
			}
		}
		var input struct{ Path string }
		if err := json.Unmarshal(use.Input, &input); err != nil || use.Name != "write_file" || input.Path != file {
			t.Fatalf("tool use %+v (%v)", use, err)
		}
		if _, err := c.Sessions.Send(ctx, sess.ID, herm.UserMessage("again")); herm.ErrorCode(err) != herm.CodeConflict {
			t.Fatalf("a message while the turn waits: %v", err)
		}
		if _, err := c.Sessions.Send(ctx, sess.ID, herm.ToolConfirmation(r.EventIDs[0], allow, "not that file")); err != nil {
			t.Fatal(err)
		}
		rest := untilIdle(t, st)
		if r := idle(t, rest).StopReason; r.Type != herm.StopEndTurn {
			t.Fatalf("after the confirmation: %+v (%v)", r, eventTypes(rest))
		}
		var conf herm.UserToolConfirmationPayload
		var result herm.AgentToolResultPayload
		for _, e := range rest {
			switch e.Type {
			case herm.EventUserToolConfirmation:
				_ = e.Decode(&conf)
			case herm.EventAgentToolResult:
				_ = e.Decode(&result)
			}
		}
		want := map[bool]string{true: "allow", false: "deny"}[allow]
		if conf.ToolUseID != r.EventIDs[0] || conf.Result != want {
			t.Fatalf("confirmation %+v (%v)", conf, eventTypes(rest))
		}
		if result.ToolUseID != r.EventIDs[0] || result.IsError == allow || (!allow && !strings.Contains(result.Text(), "not that file")) {
			t.Fatalf("result %+v", result)
		}
		if _, err := c.Sessions.Send(ctx, sess.ID, herm.ToolConfirmation(r.EventIDs[0], true, "")); herm.ErrorCode(err) != herm.CodeConflict {
			t.Fatalf("confirming twice: %v", err)
		}
	}

	// A custom tool: the session waits for the client's result.
	if _, err := c.Sessions.Send(ctx, sess.ID, herm.UserMessage(`/tool lookup_order {"order_id":"A1"}`)); err != nil {
		t.Fatal(err)
	}
	turn := untilIdle(t, st)
	r := idle(t, turn).StopReason
	if r.Type != herm.StopRequiresAction || len(r.EventIDs) != 1 {
		t.Fatalf("custom tool: stop reason %+v (%v)", r, eventTypes(turn))
	}
	var cu herm.AgentCustomToolUsePayload
	for _, e := range turn {
		if e.ID == r.EventIDs[0] {
			_ = e.Decode(&cu)
		}
	}
	if cu.Type != herm.EventAgentCustomToolUse || cu.Name != "lookup_order" || !strings.Contains(string(cu.Input), "A1") {
		t.Fatalf("custom tool use %+v", cu)
	}
	if _, err := c.Sessions.Send(ctx, sess.ID, herm.CustomToolResult(r.EventIDs[0], "A1 shipped on Monday")); err != nil {
		t.Fatal(err)
	}
	rest := untilIdle(t, st)
	var answered herm.UserCustomToolResultPayload
	var final herm.AgentMessagePayload
	for _, e := range rest {
		switch e.Type {
		case herm.EventUserCustomToolResult:
			_ = e.Decode(&answered)
		case herm.EventAgentMessage:
			var m herm.AgentMessagePayload
			if err := e.Decode(&m); err == nil && !m.Delta {
				final = m
			}
		}
	}
	if answered.CustomToolUseID != r.EventIDs[0] || answered.IsError || !strings.Contains(final.Text(), "A1 shipped on Monday") {
		t.Fatalf("custom tool result %+v, final %+v (%v)", answered, final, eventTypes(rest))
	}

	// Interrupt a running turn once it streams; steer it before.
	if _, err := c.Sessions.Send(ctx, sess.ID, herm.UserMessage(strings.Repeat("word ", 150))); err != nil {
		t.Fatal(err)
	}
	var events []herm.SessionEvent
	for st.Next() {
		events = append(events, st.Current())
		if st.Current().Type == herm.EventAgentMessage {
			break
		}
	}
	if _, err := c.Sessions.Send(ctx, sess.ID, herm.Steer("and be brief")); err != nil {
		t.Fatalf("steer a running turn: %v", err)
	}
	running, err := c.Sessions.Send(ctx, sess.ID, herm.Interrupt())
	if err != nil {
		t.Fatal(err)
	}
	if running.ID != sess.ID {
		t.Fatalf("send returned %+v", running)
	}
	events = append(events, untilIdle(t, st)...)
	if r := idle(t, events).StopReason; r.Type != herm.StopInterrupted {
		t.Fatalf("after the interrupt: %+v", r)
	}
	if _, err := c.Sessions.Send(ctx, sess.ID, herm.Interrupt()); err != nil {
		t.Fatalf("an interrupt while idle: %v", err)
	}
}

// A session's stream token: its URL opens the stream with no
// Authorization header.
func TestSessionStreamToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, "HERM_DEMO_WORD_DELAY=0s")
	c := s.client()
	ctx := testContext(t)
	ag, err := c.Agents.Create(ctx, herm.AgentCreateParams{Name: "Web", Model: "demo/demo"})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.Sessions.Create(ctx, ag.ID, herm.SessionCreateParams{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Sessions.StreamToken(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.SessionID != sess.ID || tok.ExpiresIn != 600 || !strings.HasPrefix(tok.Token, "hst_") {
		t.Fatalf("token %+v", tok)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", tok.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", tok.URL, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
