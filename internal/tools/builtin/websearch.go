package builtin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/tools"
	"github.com/hermhq/herm/internal/websearch"
)

// Bounds of web_search's max_results.
const (
	DefaultSearchResults = 5
	MaxSearchResults     = 10
	// maxQueryBytes bounds a query: the services take a few hundred
	// characters.
	maxQueryBytes = 1000
)

type webSearchArgs struct {
	Query      string `json:"query" jsonschema:"What to search the web for."`
	MaxResults int    `json:"max_results,omitempty" minimum:"1" maximum:"10" jsonschema:"How many results to return (default 5)."`
}

// Searcher is what web_search asks: the server's search backends
// (websearch.Searcher). Its errors are for the model, but for the
// context's.
type Searcher interface {
	Search(ctx context.Context, query string, n int) ([]websearch.Result, error)
}

// NewWebSearch returns the web_search tool, which searches with s: the
// search backends the operator configured (the tool exists only where
// one is). The backends are the operator's own, so a deployment's
// allowed_hosts and the private-network rule do not apply to searching
// (the results are not filtered either: fetching one is web_fetch's
// business, under those rules); a deployment whose egress policy is none
// gets a refusal, as from web_fetch.
func NewWebSearch(s Searcher) Tool {
	return newTool("web_search",
		"Search the web. Returns the top results, each with its title, URL and a snippet; use web_fetch to read a page.",
		false, func(ctx context.Context, c tools.Call, a webSearchArgs) (tools.Result, error) {
			return webSearch(ctx, s, c, a)
		})
}

func webSearch(ctx context.Context, s Searcher, c tools.Call, a webSearchArgs) (tools.Result, error) {
	query := strings.TrimSpace(a.Query)
	switch {
	case query == "":
		return errResult("query is required"), nil
	case len(query) > maxQueryBytes:
		return errResult("query is longer than %d bytes", maxQueryBytes), nil
	case a.MaxResults < 0 || a.MaxResults > MaxSearchResults:
		return errResult("max_results must be between 1 and %d (got %d)", MaxSearchResults, a.MaxResults), nil
	}
	n := a.MaxResults
	if n == 0 {
		n = DefaultSearchResults
	}
	if c.Deployment != nil && c.Deployment.Sandbox.Network.Egress == herm.EgressNone {
		return errResult("web search is refused: the deployment's egress policy (sandbox.network.egress \"none\") allows no outbound access"), nil
	}
	res, err := s.Search(ctx, query, n)
	if err != nil {
		if ctx.Err() != nil {
			return tools.Result{}, ctx.Err()
		}
		var f *websearch.Failed
		if errors.As(err, &f) && f.RateLimited() {
			return errResult("%s\nThe search service is rate limiting this server: search less often, or later.", err), nil
		}
		return errResult("%s", err), nil
	}
	if len(res) == 0 {
		return tools.Result{Content: fmt.Sprintf("No results for %q.", query)}, nil
	}
	var b strings.Builder
	for i, r := range res {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d. %s\n   %s\n", i+1, r.Title, r.URL)
		if r.Snippet != "" {
			fmt.Fprintf(&b, "   %s\n", r.Snippet)
		}
	}
	return tools.Result{Content: strings.TrimSuffix(b.String(), "\n")}, nil
}
