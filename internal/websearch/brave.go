package websearch

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
)

// DefaultBraveURL is the Brave Search API's base URL.
const DefaultBraveURL = "https://api.search.brave.com"

// Brave is the Brave Search API's web search: GET
// {URL}/res/v1/web/search?q=…&count=n with the key in the
// X-Subscription-Token header; results are web.results[].{title, url,
// description}.
type Brave struct {
	base   string
	key    KeyFunc
	client *http.Client
}

// NewBrave returns the Brave backend at baseURL ("": DefaultBraveURL)
// with the key key returns. client makes the requests (nil:
// http.DefaultTransport's); redirects are not followed.
func NewBrave(baseURL string, key KeyFunc, client *http.Client) (*Brave, error) {
	if baseURL == "" {
		baseURL = DefaultBraveURL
	}
	if _, err := endpoint(baseURL, "/res/v1/web/search"); err != nil {
		return nil, fmt.Errorf("brave: %w", err)
	}
	if key == nil {
		return nil, fmt.Errorf("brave: an API key is required")
	}
	return &Brave{base: baseURL, key: key, client: noRedirects(client)}, nil
}

// Name is "brave".
func (b *Brave) Name() string { return "brave" }

type braveResponse struct {
	Web struct {
		Results []struct {
			Title       string `json:"title"`
			URL         string `json:"url"`
			Description string `json:"description"`
		} `json:"results"`
	} `json:"web"`
}

// Search asks Brave for query.
func (b *Brave) Search(ctx context.Context, query string, n int) ([]Result, error) {
	key, err := b.key(ctx)
	if err != nil {
		return nil, &Error{Backend: b.Name(), Msg: "its API key cannot be read: " + err.Error()}
	}
	u, _ := endpoint(b.base, "/res/v1/web/search")
	q := u.Query()
	q.Set("q", query)
	q.Set("count", strconv.Itoa(n))
	// Plain snippets, without highlighting markers.
	q.Set("text_decorations", "false")
	u.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &Error{Backend: b.Name(), Msg: err.Error()}
	}
	req.Header.Set("X-Subscription-Token", key)
	var out braveResponse
	if err := roundTrip(ctx, b.client, b.Name(), req, key, &out, keyHint); err != nil {
		return nil, err
	}
	var res []Result
	for _, r := range out.Web.Results {
		if x, ok := result(braveText(r.Title), r.URL, braveText(r.Description)); ok && len(res) < n {
			res = append(res, x)
		}
	}
	return res, nil
}

// braveText turns Brave's display strings into text: highlighting tags
// (in case decorations come anyway) removed, entities decoded.
func braveText(s string) string {
	s = strings.NewReplacer("<strong>", "", "</strong>", "").Replace(s)
	return html.UnescapeString(s)
}
