package websearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// DefaultTavilyURL is Tavily's base URL.
const DefaultTavilyURL = "https://api.tavily.com"

// Tavily is Tavily's search API: POST {URL}/search with a JSON body
// {"query", "max_results"} and the key as a bearer token; results are
// results[].{title, url, content}.
type Tavily struct {
	base   string
	key    KeyFunc
	client *http.Client
}

// NewTavily returns the Tavily backend at baseURL ("": DefaultTavilyURL)
// with the key key returns. client makes the requests (nil:
// http.DefaultTransport's); redirects are not followed.
func NewTavily(baseURL string, key KeyFunc, client *http.Client) (*Tavily, error) {
	if baseURL == "" {
		baseURL = DefaultTavilyURL
	}
	if _, err := endpoint(baseURL, "/search"); err != nil {
		return nil, fmt.Errorf("tavily: %w", err)
	}
	if key == nil {
		return nil, fmt.Errorf("tavily: an API key is required")
	}
	return &Tavily{base: baseURL, key: key, client: noRedirects(client)}, nil
}

// Name is "tavily".
func (t *Tavily) Name() string { return "tavily" }

type tavilyRequest struct {
	Query      string `json:"query"`
	MaxResults int    `json:"max_results"`
}

type tavilyResponse struct {
	Results []struct {
		Title   string `json:"title"`
		URL     string `json:"url"`
		Content string `json:"content"`
	} `json:"results"`
}

// Search asks Tavily for query.
func (t *Tavily) Search(ctx context.Context, query string, n int) ([]Result, error) {
	key, err := t.key(ctx)
	if err != nil {
		return nil, &Error{Backend: t.Name(), Msg: "its API key cannot be read: " + err.Error()}
	}
	body, err := json.Marshal(tavilyRequest{Query: query, MaxResults: n})
	if err != nil {
		return nil, &Error{Backend: t.Name(), Msg: err.Error()}
	}
	u, _ := endpoint(t.base, "/search")
	req, err := http.NewRequest(http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Backend: t.Name(), Msg: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	var out tavilyResponse
	if err := roundTrip(ctx, t.client, t.Name(), req, key, &out, keyHint); err != nil {
		return nil, err
	}
	var res []Result
	for _, r := range out.Results {
		if x, ok := result(r.Title, r.URL, r.Content); ok && len(res) < n {
			res = append(res, x)
		}
	}
	return res, nil
}
