package anthropic

import (
	"encoding/json"
	"strings"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/internal/transport"
)

// event is the union of the Messages API's stream events.
type event struct {
	Type    string `json:"type"`
	Message *struct {
		Usage usage `json:"usage"`
	} `json:"message"` // message_start
	Index        int `json:"index"`
	ContentBlock *struct {
		Type      string          `json:"type"`
		ID        string          `json:"id"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
		Text      string          `json:"text"`
		Thinking  string          `json:"thinking"`
		Signature string          `json:"signature"`
		Data      string          `json:"data"` // redacted_thinking
	} `json:"content_block"` // content_block_start
	Delta *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		Thinking    string `json:"thinking"`
		Signature   string `json:"signature"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"` // content_block_delta, message_delta
	Usage *usage `json:"usage"` // message_delta
}

// usage fields are pointers because message_delta repeats only some of them.
type usage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
}

// decoder accumulates one streamed message.
type decoder struct {
	text  strings.Builder
	calls map[int]*call // tool_use blocks by content block index
	order []*call
	// Thinking blocks by content block index, in order.
	thinking map[int]*thinkingBlock
	thoughts []*thinkingBlock
	stop     string
	// Token counts; the API counts cached input apart from input_tokens.
	in, out, cacheRead, cacheWrite int64
}

type thinkingBlock struct {
	text              strings.Builder
	signature, redact string
}

func (d *decoder) thought(index int) *thinkingBlock {
	if d.thinking == nil {
		d.thinking = map[int]*thinkingBlock{}
	}
	t := d.thinking[index]
	if t == nil {
		t = &thinkingBlock{}
		d.thinking[index] = t
		d.thoughts = append(d.thoughts, t)
	}
	return t
}

type call struct {
	id, name string
	input    json.RawMessage // from content_block_start, used when no deltas follow
	args     strings.Builder
}

func (d *decoder) Event(ev transport.Event, emit func(llm.Delta)) (bool, error) {
	var e event
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return false, &llm.Error{Type: transport.TypeInvalidResponse, Message: "decoding " + ev.Name + " event: " + err.Error()}
	}
	switch e.Type {
	case "message_start":
		if e.Message != nil {
			d.addUsage(&e.Message.Usage)
		}
	case "content_block_start":
		b := e.ContentBlock
		if b == nil {
			break
		}
		switch b.Type {
		case "text":
			d.text.WriteString(b.Text)
			emit(llm.Delta{Text: b.Text})
		case "thinking":
			t := d.thought(e.Index)
			t.text.WriteString(b.Thinking)
			t.signature = b.Signature
			emit(llm.Delta{Reasoning: b.Thinking})
		case "redacted_thinking":
			d.thought(e.Index).redact = b.Data
		case "tool_use":
			c := &call{id: b.ID, name: b.Name, input: b.Input}
			d.calls[e.Index] = c
			d.order = append(d.order, c)
		}
	case "content_block_delta":
		if e.Delta == nil {
			break
		}
		switch e.Delta.Type {
		case "text_delta":
			d.text.WriteString(e.Delta.Text)
			emit(llm.Delta{Text: e.Delta.Text})
		case "thinking_delta":
			d.thought(e.Index).text.WriteString(e.Delta.Thinking)
			emit(llm.Delta{Reasoning: e.Delta.Thinking})
		case "signature_delta":
			d.thought(e.Index).signature += e.Delta.Signature
		case "input_json_delta":
			if c := d.calls[e.Index]; c != nil {
				c.args.WriteString(e.Delta.PartialJSON)
			}
		}
	case "message_delta":
		if e.Delta != nil && e.Delta.StopReason != "" {
			d.stop = e.Delta.StopReason
		}
		if e.Usage != nil {
			d.addUsage(e.Usage)
		}
	case "message_stop":
		return true, nil
	case "error":
		return false, transport.ParseError(0, ev.Data)
	}
	// ping, content_block_stop and event types added later need nothing.
	return false, nil
}

// addUsage takes the counts u has; later events carry running totals.
func (d *decoder) addUsage(u *usage) {
	set := func(dst *int64, src *int64) {
		if src != nil {
			*dst = *src
		}
	}
	set(&d.in, u.InputTokens)
	set(&d.out, u.OutputTokens)
	set(&d.cacheRead, u.CacheReadInputTokens)
	set(&d.cacheWrite, u.CacheCreationInputTokens)
}

func (d *decoder) Response() *llm.Response {
	r := &llm.Response{
		Text: d.text.String(),
		// InputTokens counts all input, cached or not, as OpenAI's does.
		Usage: llm.Usage{InputTokens: d.in + d.cacheRead + d.cacheWrite, OutputTokens: d.out, CacheReadTokens: d.cacheRead},
	}
	for _, t := range d.thoughts {
		r.Thinking = append(r.Thinking, llm.Thinking{Text: t.text.String(), Signature: t.signature, Redacted: t.redact})
	}
	for _, c := range d.order {
		args := json.RawMessage(c.args.String())
		if len(args) == 0 {
			args = object(c.input)
		}
		r.ToolCalls = append(r.ToolCalls, llm.ToolCall{ID: c.id, Name: c.name, Arguments: args})
	}
	switch d.stop {
	case "end_turn", "stop_sequence":
		r.StopReason = llm.StopEndTurn
	case "tool_use":
		r.StopReason = llm.StopToolUse
	case "max_tokens", "model_context_window_exceeded":
		r.StopReason = llm.StopMaxTokens
	default: // pause_turn, refusal, a missing stop_reason
		r.StopReason = llm.StopOther
	}
	return r
}
