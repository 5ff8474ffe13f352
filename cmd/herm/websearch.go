package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/netguard"
	"github.com/hermhq/herm/internal/secrets"
	"github.com/hermhq/herm/internal/websearch"
)

// reSecretID is a vault secret's ID: a key setting of this form names the
// secret that holds the key.
var reSecretID = regexp.MustCompile(`^sec_[0-9A-Z]{26}$`)

// searchBackends are the web search backends, in their default order.
var searchBackends = []string{"searxng", "brave", "tavily"}

// loadWebSearch reads the web search settings from the environment (over
// the file's) and checks them.
func (c *config) loadWebSearch(getenv func(string) string) error {
	set := func(dst *string, env string) {
		if v := strings.TrimSpace(getenv(env)); v != "" {
			*dst = v
		}
	}
	set(&c.SearXNGURL, "HERM_SEARXNG_URL")
	set(&c.BraveURL, "HERM_BRAVE_URL")
	set(&c.BraveKey, "HERM_BRAVE_API_KEY")
	set(&c.TavilyURL, "HERM_TAVILY_URL")
	set(&c.TavilyKey, "HERM_TAVILY_API_KEY")
	if v := getenv("HERM_WEB_SEARCH"); v != "" {
		c.WebSearch = nil
		for _, name := range strings.Split(v, ",") {
			c.WebSearch = append(c.WebSearch, strings.TrimSpace(name))
		}
	}
	if v := getenv("HERM_WEB_SEARCH_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("HERM_WEB_SEARCH_TIMEOUT must be a positive duration such as 20s")
		}
		c.WebSearchTimeout = d
	}
	if c.WebSearchTimeout < 0 {
		return fmt.Errorf("web_search_timeout must be positive")
	}
	for _, u := range []struct{ env, key, val string }{
		{"HERM_SEARXNG_URL", "searxng_url", c.SearXNGURL},
		{"HERM_BRAVE_URL", "brave_url", c.BraveURL},
		{"HERM_TAVILY_URL", "tavily_url", c.TavilyURL},
	} {
		if u.val == "" {
			continue
		}
		if _, err := websearch.ParseBaseURL(u.val); err != nil {
			return fmt.Errorf("%s (%s): %v", u.env, u.key, err)
		}
	}
	if c.BraveURL != "" && c.BraveKey == "" {
		return fmt.Errorf("HERM_BRAVE_URL (brave_url) is set but no key: set HERM_BRAVE_API_KEY")
	}
	if c.TavilyURL != "" && c.TavilyKey == "" {
		return fmt.Errorf("HERM_TAVILY_URL (tavily_url) is set but no key: set HERM_TAVILY_API_KEY")
	}
	configured := c.searchConfigured()
	seen := map[string]bool{}
	for _, name := range c.WebSearch {
		switch {
		case !slices.Contains(searchBackends, name):
			return fmt.Errorf("HERM_WEB_SEARCH (web_search): %q is not a search backend (searxng, brave, tavily)", name)
		case seen[name]:
			return fmt.Errorf("HERM_WEB_SEARCH (web_search): %s is listed twice", name)
		case !slices.Contains(configured, name):
			return fmt.Errorf("HERM_WEB_SEARCH (web_search): %s is not configured (%s)", name, map[string]string{
				"searxng": "set HERM_SEARXNG_URL", "brave": "set HERM_BRAVE_API_KEY", "tavily": "set HERM_TAVILY_API_KEY"}[name])
		}
		seen[name] = true
	}
	return nil
}

// searchConfigured returns the configured backends in the default order.
func (c *config) searchConfigured() []string {
	var out []string
	for _, name := range searchBackends {
		if name == "searxng" && c.SearXNGURL != "" || name == "brave" && c.BraveKey != "" || name == "tavily" && c.TavilyKey != "" {
			out = append(out, name)
		}
	}
	return out
}

// searchOrder returns the backends web_search tries, in order: those
// HERM_WEB_SEARCH lists, else every configured one.
func (c *config) searchOrder() []string {
	if len(c.WebSearch) > 0 {
		return c.WebSearch
	}
	return c.searchConfigured()
}

// newSearcher returns the searcher of the configured web search backends
// (nil: none is configured, and web_search stays unavailable). The
// backends are the operator's: they are reached directly, not through a
// deployment's egress policy, and the private-network rule does not apply
// to them (a SearXNG usually runs on a private network); cloud metadata and
// link-local addresses stay refused. A key that names a vault secret is
// read at each search (a rotation applies at once), and only sent to a
// host of the secret's allowed_hosts; it is checked now, so that a wrong
// setting stops the server rather than every search.
func newSearcher(ctx context.Context, c *config, vault *secrets.Vault, logger *slog.Logger) (*websearch.Searcher, error) {
	order := c.searchOrder()
	if len(order) == 0 {
		return nil, nil
	}
	client := &http.Client{Transport: netguard.New(netguard.Options{AllowPrivate: true}).Transport()}
	var backends []websearch.Backend
	for _, name := range order {
		var b websearch.Backend
		var err error
		switch name {
		case "searxng":
			b, err = websearch.NewSearXNG(c.SearXNGURL, client)
		case "brave":
			var key websearch.KeyFunc
			if key, err = searchKey(ctx, vault, "HERM_BRAVE_API_KEY", c.BraveKey, first(c.BraveURL, websearch.DefaultBraveURL)); err == nil {
				b, err = websearch.NewBrave(c.BraveURL, key, client)
			}
		case "tavily":
			var key websearch.KeyFunc
			if key, err = searchKey(ctx, vault, "HERM_TAVILY_API_KEY", c.TavilyKey, first(c.TavilyURL, websearch.DefaultTavilyURL)); err == nil {
				b, err = websearch.NewTavily(c.TavilyURL, key, client)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("web search: %w", err)
		}
		backends = append(backends, b)
	}
	return websearch.New(backends, websearch.Options{Timeout: c.WebSearchTimeout, Logger: logger}), nil
}

// searchKey returns the key setting's KeyFunc: the key itself, or the
// vault secret it names, checked now.
func searchKey(ctx context.Context, vault *secrets.Vault, env, setting, baseURL string) (websearch.KeyFunc, error) {
	if !reSecretID.MatchString(setting) {
		return websearch.StaticKey(setting), nil
	}
	u, err := websearch.ParseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	key := func(ctx context.Context) (string, error) {
		val, hosts, err := vault.RevealServer(ctx, setting)
		if err != nil {
			return "", err
		}
		if !herm.HostMatch(hosts, host) {
			return "", fmt.Errorf("secret %s may not be sent to %s: add it to the secret's allowed_hosts", setting, host)
		}
		return val, nil
	}
	if _, err := key(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	return key, nil
}
