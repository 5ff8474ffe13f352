package llm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hermhq/herm/internal/llm"
)

// fake is a Provider that tells instances apart.
type fake struct{ name string }

func (f *fake) Stream(context.Context, llm.Request, func(llm.Delta)) (*llm.Response, error) {
	return &llm.Response{Text: f.name}, nil
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	r := llm.NewRegistry()
	if got := r.Default(); got != "" {
		t.Errorf("empty Default() = %q", got)
	}
	demo, or, local := &fake{"demo"}, &fake{"openrouter"}, &fake{"local"}
	mustRegister(t, r, "demo", demo, []llm.ModelInfo{{ID: "demo/demo", Demo: true}}, "demo/demo")
	if got := r.Default(); got != "demo/demo" {
		t.Errorf("Default() with only the demo = %q", got)
	}
	mustRegister(t, r, "local", local, nil, "")
	mustRegister(t, r, "openrouter", or, []llm.ModelInfo{
		{ID: "openrouter/openrouter/auto", Description: "auto"},
		{ID: "openrouter/meta-llama/llama-3-70b"},
	}, "openrouter/openrouter/auto")
	if got := r.Default(); got != "openrouter/openrouter/auto" {
		t.Errorf("Default() = %q", got)
	}

	tests := []struct {
		full  string
		p     llm.Provider
		model string
	}{
		{"openrouter/meta-llama/llama-3-70b", or, "meta-llama/llama-3-70b"},
		{"openrouter/openrouter/auto", or, "openrouter/auto"},
		{"local/anything:7b", local, "anything:7b"},
		{"demo/demo", demo, "demo"},
	}
	for _, tt := range tests {
		p, model, err := r.Resolve(tt.full)
		if err != nil || p != tt.p || model != tt.model {
			t.Errorf("Resolve(%q) = %v, %q, %v; want %v, %q", tt.full, p, model, err, tt.p, tt.model)
		}
	}
	for _, full := range []string{"anthropic/claude-sonnet-4-5", "gpt-4o", "/gpt-4o", ""} {
		if _, _, err := r.Resolve(full); !errors.Is(err, llm.ErrUnknownProvider) {
			t.Errorf("Resolve(%q) err = %v, want ErrUnknownProvider", full, err)
		}
	}
	if _, _, err := r.Resolve("local/"); err == nil || errors.Is(err, llm.ErrUnknownProvider) {
		t.Errorf("Resolve(local/) err = %v", err)
	}

	if !r.Has("local") || r.Has("anthropic") {
		t.Errorf("Has is wrong")
	}
	providers := r.Providers()
	if diff := cmp.Diff([]string{"demo", "local", "openrouter"}, providers); diff != "" {
		t.Errorf("Providers (-want +got):\n%s", diff)
	}
	providers[0] = "changed"
	if r.Providers()[0] != "demo" {
		t.Errorf("Providers returned internal state")
	}
	wantModels := []llm.ModelInfo{
		{ID: "demo/demo", Provider: "demo", Demo: true},
		{ID: "openrouter/openrouter/auto", Provider: "openrouter", Description: "auto"},
		{ID: "openrouter/meta-llama/llama-3-70b", Provider: "openrouter"},
	}
	if diff := cmp.Diff(wantModels, r.Models()); diff != "" {
		t.Errorf("Models (-want +got):\n%s", diff)
	}
}

func TestRegisterRejects(t *testing.T) {
	t.Parallel()
	r := llm.NewRegistry()
	mustRegister(t, r, "a", &fake{}, nil, "")
	tests := []struct {
		name   string
		p      llm.Provider
		models []llm.ModelInfo
		def    string
	}{
		{"a", &fake{}, nil, ""},                          // taken
		{"", &fake{}, nil, ""},                           // empty
		{"x/y", &fake{}, nil, ""},                        // slash
		{"b", nil, nil, ""},                              // nil provider
		{"b", &fake{}, []llm.ModelInfo{{ID: "m"}}, ""},   // short model name
		{"b", &fake{}, []llm.ModelInfo{{ID: "a/m"}}, ""}, // other provider's model
		{"b", &fake{}, nil, "m"},                         // short default
		{"b", &fake{}, nil, "b/"},                        // empty default
	}
	for _, tt := range tests {
		if err := r.Register(tt.name, tt.p, tt.models, tt.def); err == nil {
			t.Errorf("Register(%q, %v, %v, %q) succeeded", tt.name, tt.p, tt.models, tt.def)
		}
	}
	if diff := cmp.Diff([]string{"a"}, r.Providers()); diff != "" {
		t.Errorf("Providers (-want +got):\n%s", diff)
	}
}

func mustRegister(t *testing.T, r *llm.Registry, name string, p llm.Provider, models []llm.ModelInfo, def string) {
	t.Helper()
	if err := r.Register(name, p, models, def); err != nil {
		t.Fatal(err)
	}
}
