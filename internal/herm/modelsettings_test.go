package herm

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestModelSettings(t *testing.T) {
	t.Parallel()
	r := testRules()
	r.CheckModelSettings = func(model string, s ModelSettings) error {
		if strings.HasPrefix(model, "openai/") && s.Reasoning != nil && s.Reasoning.Effort == "" {
			return errors.New("reasoning.budget_tokens is not supported by openai models: set reasoning.effort")
		}
		return nil
	}
	ctx := context.Background()
	decode := func(body string) *DeploymentInput {
		var in DeploymentInput
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return &in
	}
	_, err := NewDeployment(ctx, decode(`{"customer_id":"c","name":"n","system_prompt":"p","model_settings":
		{"temperature":0.5,"max_tokens":4000,"reasoning":{"budget_tokens":2048},"fallback_models":["openai/gpt-4.1"]}}`), r)
	if err == nil || !strings.Contains(err.Error(), "openai/gpt-4.1: reasoning.budget_tokens is not supported") {
		t.Fatalf("a fallback that cannot take the settings: %v", err)
	}
	d, err := NewDeployment(ctx, decode(`{"customer_id":"c","name":"n","system_prompt":"p","model_settings":
		{"temperature":0.5,"max_tokens":4000,"reasoning":{"effort":"high","budget_tokens":2048},"fallback_models":["openai/gpt-4.1"]}}`), r)
	if err != nil {
		t.Fatal(err)
	}
	// PATCH merges per key: max_tokens changes, temperature stays, null resets.
	up, err := ApplyUpdate(ctx, d, decode(`{"model_settings":{"max_tokens":8000,"reasoning":null}}`), r)
	if err != nil {
		t.Fatal(err)
	}
	if up.ModelSettings.MaxTokens != 8000 || *up.ModelSettings.Temperature != 0.5 || up.ModelSettings.Reasoning != nil ||
		!slices.Equal(up.ModelSettings.FallbackModels, []string{"openai/gpt-4.1"}) {
		t.Errorf("merged %+v", up.ModelSettings)
	}
	if d.ModelSettings.MaxTokens != 4000 || d.ModelSettings.Reasoning == nil {
		t.Errorf("the old configuration changed: %+v", d.ModelSettings)
	}
	up, err = ApplyUpdate(ctx, up, decode(`{"model_settings":null}`), r)
	if err != nil || up.ModelSettings.Temperature != nil || up.ModelSettings.FallbackModels != nil {
		t.Errorf("model_settings null: %+v %v", up.ModelSettings, err)
	}
	for body, want := range map[string]string{
		`{"model_settings":{"temperature":2.5}}`:                                       "temperature must be from 0 to 2",
		`{"model_settings":{"max_tokens":0}}`:                                          "max_tokens must be from 1",
		`{"model_settings":{"reasoning":{"effort":"max"}}}`:                            "low, medium or high",
		`{"model_settings":{"reasoning":{}}}`:                                          "needs effort or budget_tokens",
		`{"model_settings":{"fallback_models":["nope/x"]}}`:                            "fallback_models[0]: model: unknown",
		`{"model_settings":{"fallback_models":["demo/demo"]}}`:                         "is the model or an earlier fallback",
		`{"model_settings":{"fallback_models":["a/b","a/b","a/b","a/b","a/b","a/b"]}}`: "at most 5",
		`{"model_settings":{"top_k":3}}`:                                               "unknown field",
	} {
		var in DeploymentInput
		err := json.Unmarshal([]byte(body), &in)
		if err == nil {
			_, err = ApplyUpdate(ctx, d, &in, r)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}
