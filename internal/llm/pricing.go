package llm

import (
	"strings"
)

// Price is what a model costs, in USD per million tokens.
type Price struct {
	Input     float64 `yaml:"input" json:"input"`
	Output    float64 `yaml:"output" json:"output"`
	CacheRead float64 `yaml:"cache_read" json:"cache_read"`
}

// Prices maps model names to prices. A key is a full name
// ("openai/gpt-4o"), a bare model ("gpt-4o") or the start of one
// ("claude-sonnet-4" prices "claude-sonnet-4-20250514"); the longest
// matching key wins.
type Prices map[string]Price

// DefaultPrices are list prices of well-known models as their providers
// published them (2025); override or extend them in the config file
// (prices:). Models not listed have no cost (cost_usd null).
func DefaultPrices() Prices {
	return Prices{
		"demo/":             {},
		"claude-opus-4":     {Input: 15, Output: 75, CacheRead: 1.5},
		"claude-sonnet-4":   {Input: 3, Output: 15, CacheRead: 0.3},
		"claude-3-7-sonnet": {Input: 3, Output: 15, CacheRead: 0.3},
		"claude-3-5-sonnet": {Input: 3, Output: 15, CacheRead: 0.3},
		"claude-3-5-haiku":  {Input: 0.8, Output: 4, CacheRead: 0.08},
		"claude-haiku-4":    {Input: 1, Output: 5, CacheRead: 0.1},
		"gpt-4o":            {Input: 2.5, Output: 10, CacheRead: 1.25},
		"gpt-4o-mini":       {Input: 0.15, Output: 0.6, CacheRead: 0.075},
		"gpt-4.1":           {Input: 2, Output: 8, CacheRead: 0.5},
		"gpt-4.1-mini":      {Input: 0.4, Output: 1.6, CacheRead: 0.1},
		"gpt-4.1-nano":      {Input: 0.1, Output: 0.4, CacheRead: 0.025},
		"o3":                {Input: 2, Output: 8, CacheRead: 0.5},
		"o4-mini":           {Input: 1.1, Output: 4.4, CacheRead: 0.275},
	}
}

// Lookup returns the price of a model ("provider/model"; for routers such
// as "openrouter/anthropic/claude-…" the last part counts too).
func (p Prices) Lookup(model string) (Price, bool) {
	names := []string{model}
	if i := strings.IndexByte(model, '/'); i >= 0 {
		names = append(names, model[i+1:])
	}
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		names = append(names, model[i+1:])
	}
	best, found := "", false
	var price Price
	for k, v := range p {
		match := false
		for _, n := range names {
			match = match || strings.HasPrefix(n, k)
		}
		if match && (!found || len(k) > len(best)) {
			best, price, found = k, v, true
		}
	}
	return price, found
}

// Cost is what one call with usage u cost on model, when its price is
// known. Input tokens are those not read from the cache.
func (p Prices) Cost(model string, u Usage) (float64, bool) {
	pr, ok := p.Lookup(model)
	if !ok {
		return 0, false
	}
	return (float64(u.InputTokens)*pr.Input + float64(u.OutputTokens)*pr.Output + float64(u.CacheReadTokens)*pr.CacheRead) / 1e6, true
}

// ContextWindows maps model names (or their start, as Prices) to their
// context window in tokens.
type ContextWindows map[string]int

// DefaultContextWindows are well-known models' windows; a model not listed
// gets DefaultContextWindow.
func DefaultContextWindows() ContextWindows {
	return ContextWindows{
		"claude-":      200_000,
		"gpt-4o":       128_000,
		"gpt-4.1":      1_047_576,
		"o3":           200_000,
		"o4-mini":      200_000,
		"demo/":        32_000,
		"gpt-4-turbo":  128_000,
		"gpt-3.5":      16_385,
		"llama3":       8_192,
		"llama3.1":     128_000,
		"qwen2.5":      32_768,
		"mistral":      32_000,
		"deepseek":     64_000,
		"gemini-1.5":   1_000_000,
		"gemini-2":     1_000_000,
		"command-r":    128_000,
		"claude-2":     100_000,
		"claude-3-":    200_000,
		"claude-opus":  200_000,
		"claude-haiku": 200_000,
	}
}

// DefaultContextWindow is assumed for models of unknown size.
const DefaultContextWindow = 32_000

// Lookup returns a model's window (DefaultContextWindow when unknown).
func (w ContextWindows) Lookup(model string) int {
	best := ""
	for k := range w {
		if _, ok := (Prices{k: {}}).Lookup(model); ok && len(k) > len(best) {
			best = k
		}
	}
	if best == "" {
		return DefaultContextWindow
	}
	return w[best]
}
