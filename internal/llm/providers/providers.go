// Package providers builds the model registry from configuration. It is
// apart from package llm because it imports the providers, which import llm.
package providers

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/llm/anthropic"
	"github.com/hermhq/herm/internal/llm/demo"
	"github.com/hermhq/herm/internal/llm/openai"
)

// DemoModel is the full name of the offline demo model.
const DemoModel = "demo/demo"

// New returns a registry holding the demo model (provider "demo"), each
// provider of cfg whose API key is set, and every compatible provider of
// cfg, in that order. It fails when a compatible provider is incomplete or
// its name is taken.
func New(cfg llm.Config) (*llm.Registry, error) {
	r := llm.NewRegistry()
	err := r.Register("demo", demo.New(demo.WithWordDelay(cfg.DemoWordDelay)), []llm.ModelInfo{{
		ID:          DemoModel,
		Description: "Offline demo model: no API key, no network; restates your message and runs tools on request (/tool NAME {json}).",
		Demo:        true,
	}}, DemoModel)
	if err != nil {
		return nil, err
	}

	if cfg.AnthropicAPIKey != "" {
		p := anthropic.New(cfg.AnthropicAPIKey, anthropic.WithBaseURL(cfg.AnthropicBaseURL), anthropic.WithHTTPClient(cfg.HTTPClient))
		err := r.Register("anthropic", p, []llm.ModelInfo{
			{ID: "anthropic/claude-sonnet-4-5", Description: "Claude Sonnet 4.5: Anthropic's balance of intelligence and speed."},
			{ID: "anthropic/claude-opus-4-1", Description: "Claude Opus 4.1: Anthropic's model for the hardest tasks."},
			{ID: "anthropic/claude-haiku-4-5", Description: "Claude Haiku 4.5: Anthropic's fastest model."},
		}, "anthropic/claude-sonnet-4-5")
		if err != nil {
			return nil, err
		}
	}

	if cfg.OpenAIAPIKey != "" {
		// OpenAI's reasoning models need max_completion_tokens; servers
		// behind a custom base URL may know only max_tokens.
		p := openai.New(cfg.OpenAIAPIKey, openai.WithBaseURL(cfg.OpenAIBaseURL), openai.WithHTTPClient(cfg.HTTPClient),
			openai.WithMaxCompletionTokens(cfg.OpenAIBaseURL == ""), openai.WithImageInput(openAIVisionAt(cfg.OpenAIBaseURL)))
		err := r.Register("openai", p, []llm.ModelInfo{
			{ID: "openai/gpt-4.1", Description: "GPT-4.1: OpenAI's flagship non-reasoning model."},
			{ID: "openai/gpt-4.1-mini", Description: "GPT-4.1 mini: smaller, faster and cheaper GPT-4.1."},
			{ID: "openai/gpt-4o", Description: "GPT-4o: OpenAI's earlier multimodal flagship."},
		}, "openai/gpt-4.1")
		if err != nil {
			return nil, err
		}
	}

	if cfg.OpenRouterAPIKey != "" {
		base := cfg.OpenRouterBaseURL
		if base == "" {
			base = openai.OpenRouterBaseURL
		}
		p := openai.New(cfg.OpenRouterAPIKey, openai.WithName("openrouter"), openai.WithBaseURL(base),
			openai.WithHTTPClient(cfg.HTTPClient), openai.WithHeader("X-Title", "Herm"), openai.WithImageInput(openRouterVision), openai.WithReasoningObject(true))
		err := r.Register("openrouter", p, []llm.ModelInfo{
			{ID: "openrouter/anthropic/claude-sonnet-4.5", Description: "Claude Sonnet 4.5 through OpenRouter."},
			{ID: "openrouter/openai/gpt-4.1", Description: "GPT-4.1 through OpenRouter."},
		}, "openrouter/anthropic/claude-sonnet-4.5")
		if err != nil {
			return nil, err
		}
	}

	for _, c := range cfg.Compat {
		if err := registerCompat(r, c, cfg.HTTPClient); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func registerCompat(r *llm.Registry, c llm.CompatProvider, hc *http.Client) error {
	if r.Has(c.Name) {
		return fmt.Errorf("llm: compatible provider %q: the name is taken", c.Name)
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("llm: compatible provider %q: base URL %q is not an http(s) URL", c.Name, c.BaseURL)
	}
	names := slices.Clone(c.Models)
	if c.DefaultModel != "" && !slices.Contains(names, c.DefaultModel) {
		names = append([]string{c.DefaultModel}, names...)
	}
	def := c.DefaultModel
	if def == "" && len(names) > 0 {
		def = names[0]
	}
	models := make([]llm.ModelInfo, 0, len(names))
	for _, m := range names {
		if m != "" {
			models = append(models, llm.ModelInfo{ID: c.Name + "/" + m, Description: fmt.Sprintf("%s on the OpenAI-compatible provider %q.", m, c.Name)})
		}
	}
	if def != "" {
		def = c.Name + "/" + def
	}
	p := openai.New(c.APIKey, openai.WithName(c.Name), openai.WithBaseURL(c.BaseURL), openai.WithHTTPClient(hc),
		openai.WithImageInput(func(string) bool { return c.Vision }))
	if err := r.Register(c.Name, p, models, def); err != nil {
		return fmt.Errorf("llm: compatible provider %q: %w", c.Name, err)
	}
	return nil
}

// openAIVisionAt says which models take images at the OpenAI API, or at a
// compatible server behind a custom base URL, where only names of OpenAI's
// own vision models are taken to (another server's model takes text
// unless a config-file provider says vision: true).
func openAIVisionAt(baseURL string) func(string) bool {
	if baseURL == "" {
		return openAIVision
	}
	return openAIVisionFamily
}

// openAIVision: OpenAI's current chat models take images, except the
// text-only ones listed.
func openAIVision(model string) bool {
	for _, p := range []string{"gpt-3.5", "gpt-4-0", "gpt-4-32k", "gpt-4-1106", "gpt-4-turbo-preview", "o1-mini", "o1-preview", "o3-mini", "davinci", "babbage"} {
		if strings.HasPrefix(model, p) {
			return false
		}
	}
	return model != "gpt-4"
}

// openAIVisionFamily: names of OpenAI models known to take images.
func openAIVisionFamily(model string) bool {
	for _, p := range []string{"gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "o1", "o3", "o4"} {
		if strings.HasPrefix(model, p) {
			return openAIVision(model)
		}
	}
	return model == "gpt-4-turbo" || strings.HasPrefix(model, "gpt-4-turbo-2")
}

// openRouterVision: the model families on OpenRouter known to take images
// (OpenRouter names a model vendor/model).
func openRouterVision(model string) bool {
	vendor, name, _ := strings.Cut(model, "/")
	switch vendor {
	case "anthropic":
		return true
	case "openai":
		return openAIVisionFamily(name)
	case "google":
		return strings.HasPrefix(name, "gemini")
	case "x-ai":
		return strings.Contains(name, "vision") || strings.HasPrefix(name, "grok-4")
	case "mistralai":
		return strings.HasPrefix(name, "pixtral") || strings.Contains(name, "mistral-medium") || strings.Contains(name, "mistral-small-3")
	case "meta-llama":
		return strings.Contains(name, "vision") || strings.HasPrefix(name, "llama-4")
	case "qwen":
		return strings.Contains(name, "-vl")
	}
	return false
}
