package websearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// SearXNG is a SearXNG instance's search API: GET {URL}/search?q=…&format=json
// (the instance must list json in its settings.yml search.formats), no
// key. It answers with a page of results ({"results": [{"title", "url",
// "content"}, …]}) of which the first n are kept.
type SearXNG struct {
	base   string
	client *http.Client
}

// NewSearXNG returns the backend of the SearXNG instance at baseURL (with
// its path prefix, if any: https://example.com/searx). client makes the
// requests (nil: http.DefaultTransport's); redirects are not followed.
func NewSearXNG(baseURL string, client *http.Client) (*SearXNG, error) {
	if _, err := endpoint(baseURL, "/search"); err != nil {
		return nil, fmt.Errorf("searxng: %w", err)
	}
	return &SearXNG{base: baseURL, client: noRedirects(client)}, nil
}

// Name is "searxng".
func (s *SearXNG) Name() string { return "searxng" }

type searxngResponse struct {
	Results []struct {
		Title   string `json:"title"`
		URL     string `json:"url"`
		Content string `json:"content"`
	} `json:"results"`
	// UnresponsiveEngines are [name, reason] pairs.
	UnresponsiveEngines []json.RawMessage `json:"unresponsive_engines"`
}

// Search asks the instance for query.
func (s *SearXNG) Search(ctx context.Context, query string, n int) ([]Result, error) {
	u, _ := endpoint(s.base, "/search")
	q := u.Query()
	q.Set("q", query)
	q.Set("format", "json")
	u.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &Error{Backend: s.Name(), Msg: err.Error()}
	}
	var out searxngResponse
	if err := roundTrip(ctx, s.client, s.Name(), req, "", &out, searxngHint); err != nil {
		return nil, err
	}
	var res []Result
	for _, r := range out.Results {
		if x, ok := result(r.Title, r.URL, r.Content); ok && len(res) < n {
			res = append(res, x)
		}
	}
	if len(res) == 0 && len(out.UnresponsiveEngines) > 0 {
		// Nothing because its engines failed, not because nothing
		// matches: another backend may do better.
		var engines []string
		for _, raw := range out.UnresponsiveEngines {
			var pair []string
			if json.Unmarshal(raw, &pair) == nil && len(pair) > 0 {
				engines = append(engines, strings.Join(pair, ": "))
			}
		}
		return nil, &Error{Backend: s.Name(), Msg: "no results: its engines did not answer (" + strings.Join(engines, ", ") + ")"}
	}
	return res, nil
}

func searxngHint(status int) string {
	if status == http.StatusForbidden {
		return "is json listed in the instance's settings.yml search.formats?"
	}
	return ""
}
