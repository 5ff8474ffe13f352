package openai_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/openai"
)

// The settings in the request body as each wire takes them: OpenAI's
// max_completion_tokens and reasoning_effort, a compatible server's
// max_tokens, OpenRouter's reasoning object.
func TestSettingsInRequestBody(t *testing.T) {
	t.Parallel()
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: "+finishChunk("stop")+"\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	temp := 0.25
	msgs := []llm.Message{{Role: llm.RoleUser, Content: "hi"}}
	head := `"model":"o3","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name string
		opts []openai.Option
		req  llm.Request
		want string
	}{
		{"openai", []openai.Option{openai.WithMaxCompletionTokens(true)},
			llm.Request{Model: "o3", Messages: msgs, MaxTokens: 500, ReasoningEffort: "high"},
			`{` + head + `,"max_completion_tokens":500,"reasoning_effort":"high"}`},
		{"compatible", nil,
			llm.Request{Model: "o3", Messages: msgs, MaxTokens: 500, Temperature: &temp},
			`{` + head + `,"max_tokens":500,"temperature":0.25}`},
		{"openrouter effort", []openai.Option{openai.WithReasoningObject(true)},
			llm.Request{Model: "o3", Messages: msgs, ReasoningEffort: "low"},
			`{` + head + `,"reasoning":{"effort":"low"}}`},
		{"openrouter budget", []openai.Option{openai.WithReasoningObject(true)},
			llm.Request{Model: "o3", Messages: msgs, ReasoningEffort: "low", ThinkingBudget: 2048},
			`{` + head + `,"reasoning":{"max_tokens":2048}}`},
	} {
		c := openai.New("k", append(tc.opts, openai.WithBaseURL(srv.URL))...)
		if _, _, err := collect(t, c, tc.req); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		assertJSON(t, tc.want, body)
	}
}

func finishChunk(reason string) string {
	return `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"` + reason + `"}]}`
}

func TestCheckSettings(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	official := openai.New("k", openai.WithMaxCompletionTokens(true))
	compat := openai.New("k", openai.WithName("vllm"))
	router := openai.New("k", openai.WithName("openrouter"), openai.WithReasoningObject(true))
	for _, tc := range []struct {
		name  string
		c     *openai.Client
		model string
		s     llm.Settings
		err   string
	}{
		{"temperature 2", official, "gpt-4.1", llm.Settings{Temperature: f(2), MaxTokens: 32768}, ""},
		{"temperature above 2", official, "gpt-4.1", llm.Settings{Temperature: f(2.1)}, "from 0 to 2"},
		{"max_tokens over the limit", official, "gpt-4o", llm.Settings{MaxTokens: 16385}, "at most 16384"},
		{"effort on a reasoning model", official, "o4-mini", llm.Settings{ReasoningEffort: "medium"}, ""},
		{"effort on gpt-4.1", official, "gpt-4.1", llm.Settings{ReasoningEffort: "medium"}, "only by reasoning models"},
		{"temperature on o3", official, "o3", llm.Settings{Temperature: f(0.5)}, "not supported by the reasoning model"},
		{"budget at openai", official, "o3", llm.Settings{ThinkingBudget: 2000}, "budget_tokens is not supported"},
		{"anything at a compatible server", compat, "qwen3", llm.Settings{Temperature: f(0.7), ReasoningEffort: "low"}, ""},
		{"budget at openrouter", router, "anthropic/claude-sonnet-4.5", llm.Settings{ThinkingBudget: 2000, MaxTokens: 4000}, ""},
		{"budget at openrouter over max_tokens", router, "anthropic/claude-sonnet-4.5", llm.Settings{ThinkingBudget: 4000, MaxTokens: 4000}, "less than max_tokens"},
		{"openrouter limit by model", router, "openai/gpt-4o", llm.Settings{MaxTokens: 20000}, "at most 16384"},
	} {
		err := tc.c.CheckSettings(tc.model, tc.s)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}
