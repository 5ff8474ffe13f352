package llm

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// ModelInfo describes a model for listings such as GET /v1/models.
type ModelInfo struct {
	ID          string // full name, "provider/model"
	Provider    string
	Description string
	Demo        bool // the offline demo model rather than a real one
}

// Registry maps full model names, "provider/model", to providers. It is
// safe for concurrent use.
type Registry struct {
	mu        sync.RWMutex
	providers map[string]*registration
	order     []string
}

type registration struct {
	p            Provider
	models       []ModelInfo
	defaultModel string
	demo         bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{providers: make(map[string]*registration)}
}

// Register adds p under name. models lists well-known models and
// defaultModel is the provider's default ("" for none); both use full
// names, "name/model". Register fails on an empty name or one with a slash,
// a name already registered, and names outside the provider.
func (r *Registry) Register(name string, p Provider, models []ModelInfo, defaultModel string) error {
	if name == "" || strings.ContainsAny(name, "/ \t\r\n") {
		return fmt.Errorf("llm: invalid provider name %q", name)
	}
	if p == nil {
		return fmt.Errorf("llm: provider %q is nil", name)
	}
	prefix := name + "/"
	if defaultModel != "" && (!strings.HasPrefix(defaultModel, prefix) || defaultModel == prefix) {
		return fmt.Errorf("llm: default model %q of provider %q is not %q+model", defaultModel, name, prefix)
	}
	reg := &registration{p: p, models: make([]ModelInfo, len(models)), defaultModel: defaultModel, demo: len(models) > 0}
	for i, m := range models {
		if !strings.HasPrefix(m.ID, prefix) || m.ID == prefix {
			return fmt.Errorf("llm: model %q of provider %q is not %q+model", m.ID, name, prefix)
		}
		m.Provider = name
		reg.models[i] = m
		reg.demo = reg.demo && m.Demo
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.providers[name]; ok {
		return fmt.Errorf("llm: provider %q registered twice", name)
	}
	r.providers[name] = reg
	r.order = append(r.order, name)
	return nil
}

// Resolve splits a full model name at its first slash into the provider and
// the provider's own model name, which may contain further slashes
// ("openrouter/meta-llama/llama-3-70b"). An unknown provider yields an error
// wrapping ErrUnknownProvider.
func (r *Registry) Resolve(fullName string) (Provider, string, error) {
	name, model, ok := strings.Cut(fullName, "/")
	if !ok || name == "" {
		return nil, "", fmt.Errorf("%w: model %q is not of the form \"provider/model\"", ErrUnknownProvider, fullName)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	reg := r.providers[name]
	if reg == nil {
		return nil, "", fmt.Errorf("%w %q in model %q (configured: %s)", ErrUnknownProvider, name, fullName, strings.Join(r.order, ", "))
	}
	if model == "" {
		return nil, "", fmt.Errorf("llm: model %q names no model of provider %q", fullName, name)
	}
	return reg.p, model, nil
}

// Has reports whether provider is registered.
func (r *Registry) Has(provider string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.providers[provider]
	return ok
}

// Providers returns the registered provider names in registration order.
func (r *Registry) Providers() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.order)
}

// Models returns the well-known models of all providers, in registration
// order.
func (r *Registry) Models() []ModelInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []ModelInfo
	for _, name := range r.order {
		out = append(out, r.providers[name].models...)
	}
	return out
}

// Default returns the default model of the first registered provider that
// has one and is not a demo; failing that, the first demo provider's
// default; "" when no provider has a default.
func (r *Registry) Default() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	demo := ""
	for _, name := range r.order {
		reg := r.providers[name]
		switch {
		case reg.defaultModel == "":
		case !reg.demo:
			return reg.defaultModel
		case demo == "":
			demo = reg.defaultModel
		}
	}
	return demo
}

// Config says which providers to register; see package providers for the
// function that builds a Registry from it. A provider is registered when
// its API key is set; compatible providers and the demo model always are.
type Config struct {
	AnthropicAPIKey   string
	AnthropicBaseURL  string // "" for the public API
	OpenAIAPIKey      string
	OpenAIBaseURL     string // "" for the public API; OPENAI_BASE_URL
	OpenRouterAPIKey  string
	OpenRouterBaseURL string // "" for the public API
	Compat            []CompatProvider
	HTTPClient        *http.Client  // nil for http.DefaultClient
	DemoWordDelay     time.Duration // pause between the demo model's words
}

// CompatProvider is an extra OpenAI-compatible server (vLLM, Ollama, ...).
type CompatProvider struct {
	Name         string // provider prefix of its model names
	BaseURL      string // up to and including "/v1"
	APIKey       string // may be empty
	DefaultModel string // the server's own model name; "" for the first of Models
	Models       []string
	Vision       bool // its models take image input
}

// CheckSettings reports whether the provider of fullName can honour s for
// that model: an error naming what it cannot (a sentence for the API's
// caller), or nil. A provider that takes no settings refuses any.
func (r *Registry) CheckSettings(fullName string, s Settings) error {
	p, model, err := r.Resolve(fullName)
	if err != nil {
		return err
	}
	if sc, ok := p.(SettingsChecker); ok {
		return sc.CheckSettings(model, s)
	}
	if s != (Settings{}) {
		provider, _, _ := strings.Cut(fullName, "/")
		return fmt.Errorf("provider %q takes no model settings", provider)
	}
	return nil
}

// MaxOutputTokens are well-known models' output limits, by name or start
// of one as Prices.
type MaxOutputTokens map[string]int

// DefaultMaxOutputTokens are the output token limits that the providers
// publish for well-known models.
func DefaultMaxOutputTokens() MaxOutputTokens {
	return MaxOutputTokens{
		"claude-sonnet-4":   64_000,
		"claude-haiku-4":    64_000,
		"claude-opus-4":     32_000,
		"claude-3-7-sonnet": 64_000,
		"claude-3-5":        8_192,
		"claude-3-":         4_096,
		"gpt-4.1":           32_768,
		"gpt-4o":            16_384,
		"o1":                100_000,
		"o3":                100_000,
		"o4-mini":           100_000,
		"gpt-5":             128_000,
	}
}

// Lookup returns a model's output limit, and false when it is not known.
func (m MaxOutputTokens) Lookup(model string) (int, bool) {
	best := ""
	for k := range m {
		if _, ok := (Prices{k: {}}).Lookup(model); ok && len(k) > len(best) {
			best = k
		}
	}
	return m[best], best != ""
}
