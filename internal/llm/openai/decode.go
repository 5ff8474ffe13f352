package openai

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/internal/transport"
)

// chunk is one "data:" payload of a Chat Completions stream.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content          string `json:"content"`
			Reasoning        string `json:"reasoning"`         // OpenRouter
			ReasoningContent string `json:"reasoning_content"` // DeepSeek, vLLM
			ToolCalls        []struct {
				Index    *int   `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens        int64 `json:"prompt_tokens"`
		CompletionTokens    int64 `json:"completion_tokens"`
		PromptTokensDetails *struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// decoder accumulates one streamed completion.
type decoder struct {
	text   strings.Builder
	calls  []*call
	index  map[int]int // tool call index in the stream -> position in calls
	finish string
	usage  llm.Usage
}

type call struct {
	id, name string
	args     strings.Builder
}

func (d *decoder) Event(ev transport.Event, emit func(llm.Delta)) (bool, error) {
	if string(bytes.TrimSpace(ev.Data)) == "[DONE]" {
		return true, nil
	}
	var c chunk
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		return false, &llm.Error{Type: transport.TypeInvalidResponse, Message: "decoding stream chunk: " + err.Error()}
	}
	if len(c.Error) > 0 && string(c.Error) != "null" {
		return false, transport.ParseError(0, ev.Data)
	}
	for _, ch := range c.Choices {
		delta := llm.Delta{Text: ch.Delta.Content, Reasoning: ch.Delta.ReasoningContent}
		if delta.Reasoning == "" {
			delta.Reasoning = ch.Delta.Reasoning
		}
		d.text.WriteString(delta.Text)
		emit(delta)
		for _, tc := range ch.Delta.ToolCalls {
			call := d.call(tc.Index, tc.ID)
			if call.id == "" {
				call.id = tc.ID
			}
			if call.name == "" {
				call.name = tc.Function.Name
			}
			call.args.WriteString(tc.Function.Arguments)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			d.finish = *ch.FinishReason
		}
	}
	if u := c.Usage; u != nil {
		d.usage = llm.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
		if u.PromptTokensDetails != nil {
			d.usage.CacheReadTokens = u.PromptTokensDetails.CachedTokens
		}
	}
	return false, nil
}

// call returns the tool call a fragment belongs to. Fragments name their
// call by index, and only the first carries the id. Some servers send no
// index (and whole calls) or reuse an index; there a new id starts a new
// call.
func (d *decoder) call(index *int, id string) *call {
	if index == nil {
		if n := len(d.calls); n > 0 && (id == "" || d.calls[n-1].id == id) {
			return d.calls[n-1]
		}
	} else if i, ok := d.index[*index]; ok && (id == "" || d.calls[i].id == "" || d.calls[i].id == id) {
		return d.calls[i]
	}
	if index != nil {
		d.index[*index] = len(d.calls)
	}
	c := &call{}
	d.calls = append(d.calls, c)
	return c
}

func (d *decoder) Response() *llm.Response {
	r := &llm.Response{Text: d.text.String(), Usage: d.usage}
	for _, c := range d.calls {
		args := c.args.String()
		if strings.TrimSpace(args) == "" {
			args = "{}"
		}
		r.ToolCalls = append(r.ToolCalls, llm.ToolCall{ID: c.id, Name: c.name, Arguments: json.RawMessage(args)})
	}
	switch d.finish {
	case "tool_calls", "function_call":
		r.StopReason = llm.StopToolUse
	case "length":
		r.StopReason = llm.StopMaxTokens
	case "stop", "":
		r.StopReason = llm.StopEndTurn
	default: // content_filter and the like
		r.StopReason = llm.StopOther
	}
	// Some servers (Ollama among them) report "stop" for a turn that called tools.
	if r.StopReason == llm.StopEndTurn && len(r.ToolCalls) > 0 {
		r.StopReason = llm.StopToolUse
	}
	return r
}
