package llm

import (
	"math"
	"testing"
)

func TestPrices(t *testing.T) {
	p := DefaultPrices()
	for _, tc := range []struct {
		model string
		in    float64
		ok    bool
	}{
		{"openai/gpt-4o", 2.5, true},
		{"openai/gpt-4o-mini-2024-07-18", 0.15, true},
		{"anthropic/claude-sonnet-4-20250514", 3, true},
		{"openrouter/anthropic/claude-3-5-haiku", 0.8, true},
		{"demo/demo", 0, true},
		{"ollama/llama3.1", 0, false},
	} {
		pr, ok := p.Lookup(tc.model)
		if ok != tc.ok || pr.Input != tc.in {
			t.Errorf("%s: %+v %v", tc.model, pr, ok)
		}
	}
	c, ok := p.Cost("openai/gpt-4o", Usage{InputTokens: 1_000_000, OutputTokens: 100_000, CacheReadTokens: 200_000})
	if !ok || math.Abs(c-(2.5+1+0.25)) > 1e-9 {
		t.Fatalf("cost %v %v", c, ok)
	}
	if _, ok := p.Cost("x/unknown", Usage{InputTokens: 10}); ok {
		t.Fatal("an unknown model has a cost")
	}
}
