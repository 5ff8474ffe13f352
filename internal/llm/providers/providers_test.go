package providers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/providers"
)

func TestDemoOnly(t *testing.T) {
	t.Parallel()
	r, err := providers.New(llm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"demo"}, r.Providers()); diff != "" {
		t.Errorf("Providers (-want +got):\n%s", diff)
	}
	if got := r.Default(); got != "demo/demo" {
		t.Errorf("Default() = %q", got)
	}
	models := r.Models()
	if len(models) != 1 || models[0].ID != "demo/demo" || !models[0].Demo || models[0].Provider != "demo" {
		t.Errorf("Models() = %+v", models)
	}
	p, model, err := r.Resolve(r.Default())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Stream(context.Background(), llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}, nil)
	if err != nil || !strings.HasPrefix(resp.Text, "[demo model] ") {
		t.Fatalf("demo answered %v, %v", resp, err)
	}
}

func TestAllProviders(t *testing.T) {
	t.Parallel()
	r, err := providers.New(llm.Config{
		AnthropicAPIKey:  "a",
		OpenAIAPIKey:     "o",
		OpenRouterAPIKey: "r",
		Compat: []llm.CompatProvider{
			{Name: "vllm", BaseURL: "http://127.0.0.1:8000/v1", Models: []string{"Qwen/Qwen3-8B", "other"}, Vision: true},
			{Name: "ollama", BaseURL: "http://localhost:11434/v1", DefaultModel: "llama3.2", Models: []string{"qwen3"}},
			{Name: "bare", BaseURL: "http://localhost:1/v1"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"demo", "anthropic", "openai", "openrouter", "vllm", "ollama", "bare"}, r.Providers()); diff != "" {
		t.Errorf("Providers (-want +got):\n%s", diff)
	}
	if got := r.Default(); got != "anthropic/claude-sonnet-4-5" {
		t.Errorf("Default() = %q", got)
	}
	var ids []string
	for _, m := range r.Models() {
		if !strings.HasPrefix(m.ID, m.Provider+"/") || m.Description == "" {
			t.Errorf("bad model %+v", m)
		}
		ids = append(ids, m.ID)
	}
	want := []string{
		"demo/demo",
		"anthropic/claude-sonnet-4-5", "anthropic/claude-opus-4-1", "anthropic/claude-haiku-4-5",
		"openai/gpt-4.1", "openai/gpt-4.1-mini", "openai/gpt-4o",
		"openrouter/anthropic/claude-sonnet-4.5", "openrouter/openai/gpt-4.1",
		"vllm/Qwen/Qwen3-8B", "vllm/other",
		"ollama/llama3.2", "ollama/qwen3",
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("model IDs (-want +got):\n%s", diff)
	}
	if _, model, err := r.Resolve("bare/x/y"); err != nil || model != "x/y" {
		t.Errorf("Resolve(bare/x/y) = %q, %v", model, err)
	}
	// Which models take images: the rest get text that names the files.
	for name, want := range map[string]bool{
		"demo/demo": false, "anthropic/claude-haiku-4-5": true, "openai/gpt-4.1": true, "openai/gpt-3.5-turbo": false,
		"openai/o3-mini": false, "openrouter/anthropic/claude-sonnet-4.5": true, "openrouter/google/gemini-2.5-pro": true,
		"openrouter/deepseek/deepseek-chat": false, "openrouter/qwen/qwen2.5-vl-72b-instruct": true,
		"vllm/Qwen/Qwen3-8B": true, "ollama/llama3.2": false,
	} {
		p, model, err := r.Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := llm.AcceptsImages(p, model); got != want {
			t.Errorf("AcceptsImages(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  llm.Config
		want string
	}{
		{llm.Config{OpenAIAPIKey: "o", OpenRouterAPIKey: "r"}, "openai/gpt-4.1"},
		{llm.Config{OpenRouterAPIKey: "r"}, "openrouter/anthropic/claude-sonnet-4.5"},
		{llm.Config{Compat: []llm.CompatProvider{{Name: "x", BaseURL: "http://h/v1", Models: []string{"m1", "m2"}}}}, "x/m1"},
		{llm.Config{Compat: []llm.CompatProvider{{Name: "x", BaseURL: "http://h/v1"}}}, "demo/demo"},
	} {
		r, err := providers.New(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Default(); got != tt.want {
			t.Errorf("%+v: Default() = %q, want %q", tt.cfg, got, tt.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	ok := llm.CompatProvider{Name: "x", BaseURL: "http://h/v1"}
	for _, cfg := range []llm.Config{
		{Compat: []llm.CompatProvider{{Name: "demo", BaseURL: "http://h/v1"}}},
		{OpenAIAPIKey: "o", Compat: []llm.CompatProvider{{Name: "openai", BaseURL: "http://h/v1"}}},
		{Compat: []llm.CompatProvider{ok, ok}},
		{Compat: []llm.CompatProvider{{Name: "", BaseURL: "http://h/v1"}}},
		{Compat: []llm.CompatProvider{{Name: "a/b", BaseURL: "http://h/v1"}}},
		{Compat: []llm.CompatProvider{{Name: "x"}}},
		{Compat: []llm.CompatProvider{{Name: "x", BaseURL: "localhost:8000"}}},
	} {
		if _, err := providers.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	// A compatible provider may take a built-in name whose key is unset.
	if _, err := providers.New(llm.Config{Compat: []llm.CompatProvider{{Name: "openai", BaseURL: "http://h/v1"}}}); err != nil {
		t.Error(err)
	}
}

// TestWiring sends one request through each HTTP provider of a registry.
func TestWiring(t *testing.T) {
	t.Parallel()
	type seen struct {
		path, auth, apiKey, title string
		body                      map[string]any
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := seen{path: r.URL.Path, auth: r.Header.Get("Authorization"), apiKey: r.Header.Get("X-Api-Key"), title: r.Header.Get("X-Title")}
		json.Unmarshal(b, &s.body)
		got <- s
		w.Header().Set("Content-Type", "text/event-stream")
		if strings.HasSuffix(r.URL.Path, "/messages") {
			io.WriteString(w, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
			return
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()

	r, err := providers.New(llm.Config{
		AnthropicAPIKey: "ka", AnthropicBaseURL: srv.URL,
		OpenAIAPIKey: "ko", OpenAIBaseURL: srv.URL + "/oai/v1",
		OpenRouterAPIKey: "kr", OpenRouterBaseURL: srv.URL + "/or/v1",
		Compat:     []llm.CompatProvider{{Name: "local", BaseURL: srv.URL + "/local/v1"}},
		HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		model string
		want  seen
	}{
		{"anthropic/claude-haiku-4-5", seen{path: "/v1/messages", apiKey: "ka", body: map[string]any{"model": "claude-haiku-4-5"}}},
		{"openai/gpt-4.1", seen{path: "/oai/v1/chat/completions", auth: "Bearer ko", body: map[string]any{"model": "gpt-4.1"}}},
		{"openrouter/meta-llama/llama-3-70b", seen{path: "/or/v1/chat/completions", auth: "Bearer kr", title: "Herm", body: map[string]any{"model": "meta-llama/llama-3-70b"}}},
		{"local/llama3.2", seen{path: "/local/v1/chat/completions", body: map[string]any{"model": "llama3.2"}}},
	} {
		p, model, err := r.Resolve(tt.model)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Stream(context.Background(), llm.Request{Model: model}, nil); err != nil {
			t.Fatalf("%s: %v", tt.model, err)
		}
		s := <-got
		s.body = map[string]any{"model": s.body["model"]}
		if diff := cmp.Diff(tt.want, s, cmp.AllowUnexported(seen{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.model, diff)
		}
	}
}
