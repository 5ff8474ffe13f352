// Package demo is Herm's offline demo model. It needs no API key and no
// network, answers deterministically, says in every reply that it is the
// demo, and drives tools on request so that the agent loop and the tools can
// be tried without a real model:
//
//   - a user line "/tool NAME {json args}" (args optional) calls tool NAME,
//     when the request offers it;
//   - a user line "run: COMMAND" calls the "shell" tool with
//     {"command": COMMAND}, when the request offers it;
//   - after tool results it summarises them and ends its turn;
//   - asked for structured output (an output schema), it answers with an
//     example value of the schema;
//   - asked by the memory observer (llm.MemoryOperations), it adds a memory
//     for each user line "remember: FACT" of the conversation, and nothing
//     else;
//   - asked for a dream (llm.DreamOperations), it merges memories whose
//     contents are the same but for case, punctuation and spacing: it
//     keeps the oldest and deletes the others, and changes nothing else;
//   - otherwise it restates the user's message.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hermhq/herm/internal/llm"
)

// Prefix starts every reply of the demo model.
const Prefix = "[demo model] "

const (
	quoteLimit = 200 // runes of a user message or tool result quoted back
	pitch      = "I am Herm's offline demo model: set ANTHROPIC_API_KEY or OPENAI_API_KEY and pick a real model to get real answers."
)

// Model is the demo model, an llm.Provider. It is safe for concurrent use.
type Model struct {
	wordDelay time.Duration
}

// Option configures a Model.
type Option func(*Model)

// WithWordDelay pauses d between the streamed words (default 0), so that a
// quickstart shows streaming.
func WithWordDelay(d time.Duration) Option { return func(m *Model) { m.wordDelay = d } }

// New returns the demo model.
func New(opts ...Option) *Model {
	m := &Model{}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Stream implements llm.Provider. It streams its reply word by word and
// ignores req.Model and req.MaxTokens.
func (m *Model) Stream(ctx context.Context, req llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	text, calls := reply(req)
	switch {
	case req.Output != nil && req.Output.Name == llm.MemoryOperations:
		text, calls = observe(req), nil
	case req.Output != nil && req.Output.Name == llm.DreamOperations:
		text, calls = dream(req), nil
	case req.Output != nil && len(calls) == 0:
		// Asked for structured output: an example value of the schema.
		text = string(example(req.Output.Schema))
	}
	for i, w := range words(text) {
		if i > 0 && m.wordDelay > 0 {
			if err := sleep(ctx, m.wordDelay); err != nil {
				return nil, err
			}
		}
		if onDelta != nil {
			onDelta(llm.Delta{Text: w})
		}
	}
	resp := &llm.Response{Text: text, ToolCalls: calls, StopReason: llm.StopEndTurn}
	if len(calls) > 0 {
		resp.StopReason = llm.StopToolUse
	}
	out := len(text)
	for _, c := range calls {
		out += len(c.Name) + len(c.Arguments)
	}
	in := len(req.System)
	for _, msg := range req.Messages {
		in += len(msg.Content)
		for _, c := range msg.ToolCalls {
			in += len(c.Name) + len(c.Arguments)
		}
	}
	for _, t := range req.Tools {
		in += len(t.Name) + len(t.Description) + len(t.InputSchema)
	}
	resp.Usage = llm.Usage{InputTokens: tokens(in), OutputTokens: tokens(out)}
	return resp, nil
}

// reply decides the demo model's answer to req.
func reply(req llm.Request) (string, []llm.ToolCall) {
	msgs := req.Messages
	if n := len(msgs); n > 0 && msgs[n-1].Role == llm.RoleTool {
		return summarise(msgs), nil
	}
	var last string
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == llm.RoleUser {
			last = msgs[i].Content
			break
		}
	}
	offered := make(map[string]bool, len(req.Tools))
	for _, t := range req.Tools {
		offered[t.Name] = true
	}
	if len(offered) > 0 {
		calls, problem := directives(last, offered, countCalls(msgs))
		if problem != "" {
			return Prefix + problem + " " + pitch, nil
		}
		if len(calls) > 0 {
			var b strings.Builder
			b.WriteString(Prefix)
			for i, c := range calls {
				if i > 0 {
					b.WriteString(" ")
				}
				fmt.Fprintf(&b, "Calling tool %q with %s.", c.Name, c.Arguments)
			}
			return b.String(), calls
		}
	}
	var b strings.Builder
	b.WriteString(Prefix)
	if strings.TrimSpace(last) == "" {
		b.WriteString("I received no message. ")
	} else {
		fmt.Fprintf(&b, "You said: %q. ", quote(last))
	}
	b.WriteString(pitch)
	if len(req.Tools) > 0 {
		names := make([]string, len(req.Tools))
		for i, t := range req.Tools {
			names[i] = t.Name
		}
		fmt.Fprintf(&b, " To try a tool, send a line \"/tool NAME {json args}\"; tools offered: %s.", strings.Join(names, ", "))
	}
	return b.String(), nil
}

// directives returns the tool calls the lines of msg ask for, numbering them
// after the n calls already made, or a problem to explain instead.
func directives(msg string, offered map[string]bool, n int) ([]llm.ToolCall, string) {
	var calls []llm.ToolCall
	for line := range strings.Lines(msg) {
		line = strings.TrimSpace(line)
		var name string
		var args json.RawMessage
		if rest, ok := strings.CutPrefix(line, "/tool"); ok && (rest == "" || unicode.IsSpace(rune(rest[0]))) {
			name, rest = cutSpace(strings.TrimSpace(rest))
			switch {
			case name == "":
				return nil, `A "/tool" line needs a tool name: "/tool NAME {json args}".`
			case !offered[name]:
				return nil, fmt.Sprintf("There is no tool %q in this request.", name)
			case rest == "":
				args = json.RawMessage(`{}`)
			case !isObject(rest):
				return nil, fmt.Sprintf("The arguments for tool %q are not a JSON object: %s.", name, rest)
			default:
				args = json.RawMessage(rest)
			}
		} else if cmd, ok := strings.CutPrefix(line, "run:"); ok && offered["shell"] && strings.TrimSpace(cmd) != "" {
			name = "shell"
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false) // shell commands are full of > and &
			_ = enc.Encode(map[string]string{"command": strings.TrimSpace(cmd)})
			args = json.RawMessage(strings.TrimSpace(b.String()))
		} else {
			continue
		}
		calls = append(calls, llm.ToolCall{ID: fmt.Sprintf("call_demo_%d", n+len(calls)+1), Name: name, Arguments: args})
	}
	return calls, ""
}

// summarise reports the tool results at the end of msgs.
func summarise(msgs []llm.Message) string {
	start := len(msgs)
	for start > 0 && msgs[start-1].Role == llm.RoleTool {
		start--
	}
	names := map[string]string{}
	for _, m := range msgs[:start] {
		for _, c := range m.ToolCalls {
			names[c.ID] = c.Name
		}
	}
	var b strings.Builder
	b.WriteString(Prefix)
	for _, m := range msgs[start:] {
		name := names[m.ToolCallID]
		if name == "" {
			name = m.ToolCallID
		}
		verb := "returned"
		if m.IsError {
			verb = "failed with"
		}
		if strings.TrimSpace(m.Content) == "" {
			fmt.Fprintf(&b, "The tool %q %s no output. ", name, verb)
		} else {
			fmt.Fprintf(&b, "The tool %q %s: %q. ", name, verb, quote(m.Content))
		}
	}
	b.WriteString(pitch)
	return b.String()
}

// countCalls counts the tool calls made so far, to number new ones.
func countCalls(msgs []llm.Message) int {
	n := 0
	for _, m := range msgs {
		n += len(m.ToolCalls)
	}
	return n
}

// cutSpace cuts s around its first run of whitespace.
func cutSpace(s string) (before, after string) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

func isObject(s string) bool {
	return strings.HasPrefix(s, "{") && json.Valid([]byte(s))
}

// quote returns s on one line, cut to quoteLimit runes.
func quote(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= quoteLimit {
		return s
	}
	return strings.TrimRight(string([]rune(s)[:quoteLimit]), " ") + "…"
}

// words splits s into words, each with the whitespace that follows it, so
// that the words concatenate to s.
func words(s string) []string {
	var out []string
	start, inSpace := 0, false
	for i, r := range s {
		space := unicode.IsSpace(r)
		if inSpace && !space {
			out = append(out, s[start:i])
			start = i
		}
		inSpace = space
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// tokens estimates the tokens of n bytes of text.
func tokens(n int) int64 { return int64((n + 3) / 4) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CheckSettings implements llm.SettingsChecker: the offline demo model
// takes every setting (it samples nothing, so they change nothing), so that
// a configuration can be tried out before a provider is set up.
func (m *Model) CheckSettings(string, llm.Settings) error { return nil }

// observe answers the memory observer: an add for each "User: remember:
// FACT" line of its request.
func observe(req llm.Request) string {
	type op struct {
		Op       string `json:"op"`
		MemoryID string `json:"memory_id"`
		Content  string `json:"content"`
	}
	ops := []op{}
	for _, m := range req.Messages {
		if m.Role != llm.RoleUser {
			continue
		}
		for _, line := range strings.Split(m.Content, "\n") {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "User:")
			rest = strings.TrimSpace(rest)
			if !ok || len(rest) < len("remember:") || !strings.EqualFold(rest[:len("remember:")], "remember:") {
				continue
			}
			if fact := strings.TrimSpace(rest[len("remember:"):]); fact != "" {
				ops = append(ops, op{Op: "add", Content: fact})
			}
		}
	}
	b, _ := json.Marshal(map[string]any{"operations": ops})
	return string(b)
}

// dream answers a dream's request: the memories are listed as lines
// "- [mem_…] content", newest first; of each group of memories with the
// same normalized content the oldest stays and the others are deleted.
func dream(req llm.Request) string {
	type op struct {
		Op       string `json:"op"`
		MemoryID string `json:"memory_id"`
		Content  string `json:"content"`
	}
	type mem struct{ id, key string }
	var mems []mem
	for _, m := range req.Messages {
		if m.Role != llm.RoleUser {
			continue
		}
		for _, line := range strings.Split(m.Content, "\n") {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "- [")
			if !ok {
				continue
			}
			id, content, ok := strings.Cut(rest, "] ")
			if ok && strings.HasPrefix(id, "mem_") {
				mems = append(mems, mem{id, normalize(content)})
			}
		}
	}
	kept := map[string]bool{}
	ops := []op{}
	for i := len(mems) - 1; i >= 0; i-- { // oldest first
		if kept[mems[i].key] {
			ops = append(ops, op{Op: "delete", MemoryID: mems[i].id})
			continue
		}
		kept[mems[i].key] = true
	}
	b, _ := json.Marshal(map[string]any{"operations": ops})
	return string(b)
}

// normalize lowers s and keeps its letters and digits, words separated by
// single spaces.
func normalize(s string) string {
	f := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	return strings.Join(f, " ")
}
