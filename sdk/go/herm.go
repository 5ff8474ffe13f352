// Package herm is the Go SDK of Herm's HTTP API: deployments, messages,
// threads, runs, a deployment's event stream (SSE that reconnects by itself
// with Last-Event-ID and never yields an event twice), files, memories,
// skills, tools, MCP servers, automations, steering, secrets, API keys,
// webhooks and models; and the newer generation's agents (versioned
// definitions), their sessions and the sessions' events (an SSE stream
// that resumes by sequence).
//
//	c := herm.NewClient("http://127.0.0.1:8640", os.Getenv("HERM_API_KEY"))
//	d, err := c.Deployments.Create(ctx, herm.DeploymentCreateParams{CustomerID: "cus_1", Name: "Agent", SystemPrompt: "Be brief."})
//
// Every method takes a context and returns a *Error when the server answers
// with an error status. Lists come as one page (List) or as an iterator
// over every page (All). Requests that are safe to repeat (GET, PUT,
// DELETE, and POST, which then carries an Idempotency-Key) are retried a
// bounded number of times after a connection failure or a 408, 429, 500,
// 502, 503 or 504 answer.
//
// This module never imports the server's packages: it speaks only the
// HTTP API, as any other client does.
package herm

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultURL is the server NewClient talks to when given no URL and
// HERM_URL is not set.
const DefaultURL = "http://127.0.0.1:8640"

// Client talks to one Herm server with one API key. It is safe for
// concurrent use.
type Client struct {
	base       string
	key        string
	http       *http.Client
	userAgent  string
	maxRetries int
	retryDelay time.Duration
	reconnects int
	header     http.Header

	// Deployments creates, reads, lists, updates and deletes deployments.
	Deployments *DeploymentService
	// Messages sends messages to deployments.
	Messages *MessageService
	// Events streams and pages deployments' events.
	Events *EventService
	// Threads manages deployments' conversations.
	Threads *ThreadService
	// Runs lists, reads and cancels runs.
	Runs *RunService
	// Files reads and writes deployments' workspaces.
	Files *FileService
	// Memories manages what deployments' agents remember.
	Memories *MemoryService
	// Dreams lists, applies and discards deployments' dreams.
	Dreams *DreamService
	// Skills manages deployments' skills.
	Skills *SkillService
	// Tools lists deployments' tools and changes their settings.
	Tools *ToolService
	// MCPServers manages deployments' MCP servers.
	MCPServers *MCPServerService
	// Automations manages deployments' scheduled runs.
	Automations *AutomationService
	// Steering answers runs that wait on a human.
	Steering *SteeringService
	// Secrets manages the vault (admin keys only).
	Secrets *SecretService
	// APIKeys manages API keys (admin keys only).
	APIKeys *APIKeyService
	// Webhooks manages outbound webhooks (admin keys only).
	Webhooks *WebhookService
	// Models lists the models the server can run.
	Models *ModelService
	// Agents manages agents: reusable, versioned definitions.
	Agents *AgentService
	// Sessions manages conversations with agents and their events.
	Sessions *SessionService
}

// Option changes a client's settings in NewClient.
type Option func(*Client)

// WithHTTPClient sends the requests with hc (default: a new http.Client
// without a timeout, since event streams last; bound calls with their
// context).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithUserAgent sets the User-Agent header (default "herm-go").
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithMaxRetries sets how many times a failed request that is safe to
// repeat is sent again (default 2). With 0, requests are never retried and
// POSTs carry no Idempotency-Key unless the context gives one
// (WithIdempotencyKey).
func WithMaxRetries(n int) Option { return func(c *Client) { c.maxRetries = max(n, 0) } }

// WithRetryDelay sets the first wait before a retry (default 500 ms; it
// doubles at each retry, with jitter; a Retry-After header wins).
func WithRetryDelay(d time.Duration) Option { return func(c *Client) { c.retryDelay = d } }

// WithReconnects sets how many times in a row an event stream that broke
// is opened again before it gives up (default 10; 0 never). Each event
// received starts the count again.
func WithReconnects(n int) Option { return func(c *Client) { c.reconnects = max(n, 0) } }

// WithHeader adds a header to every request.
func WithHeader(name, value string) Option { return func(c *Client) { c.header.Add(name, value) } }

// NewClient returns a client of the server at baseURL (e.g.
// "http://127.0.0.1:8640") that authenticates with apiKey. An empty
// baseURL is HERM_URL's value, or DefaultURL; an empty apiKey is
// HERM_API_KEY's value.
func NewClient(baseURL, apiKey string, opts ...Option) *Client {
	if baseURL == "" {
		baseURL = os.Getenv("HERM_URL")
	}
	if baseURL == "" {
		baseURL = DefaultURL
	}
	if apiKey == "" {
		apiKey = os.Getenv("HERM_API_KEY")
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), key: apiKey, http: &http.Client{}, userAgent: "herm-go",
		maxRetries: 2, retryDelay: 500 * time.Millisecond, reconnects: 10, header: http.Header{}}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	c.Deployments = &DeploymentService{c}
	c.Messages = &MessageService{c}
	c.Events = &EventService{c}
	c.Threads = &ThreadService{c}
	c.Runs = &RunService{c}
	c.Files = &FileService{c}
	c.Memories = &MemoryService{c}
	c.Dreams = &DreamService{c}
	c.Skills = &SkillService{c}
	c.Tools = &ToolService{c}
	c.MCPServers = &MCPServerService{c}
	c.Automations = &AutomationService{c}
	c.Steering = &SteeringService{c}
	c.Secrets = &SecretService{c}
	c.APIKeys = &APIKeyService{c}
	c.Webhooks = &WebhookService{c}
	c.Models = &ModelService{c}
	c.Agents = &AgentService{c}
	c.Sessions = &SessionService{c}
	return c
}

// BaseURL is the server's address, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// Error codes of the API's error envelope.
const (
	CodeValidation         = "validation_error"
	CodeUnauthorized       = "unauthorized"
	CodeInsufficientCredit = "insufficient_credits"
	CodeForbidden          = "forbidden"
	CodeNotFound           = "not_found"
	CodeNotReady           = "deployment_not_ready"
	CodeConflict           = "conflict"
	CodeCursorExpired      = "cursor_expired"
	CodeInvalidSkill       = "invalid_skill"
	CodeInvalidSecretRef   = "invalid_secret_ref"
	CodeRateLimited        = "rate_limited"
	CodeServerError        = "server_error"
	CodeUnavailable        = "unavailable"
)

// Error is an error response of the API.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is the envelope's error code (one of the Code constants); empty
	// when the body was not the API's error envelope.
	Code string
	// Message is the envelope's message, safe to show to a customer.
	Message string
	// RequestID is the request's id (the envelope's, or X-Request-Id), to
	// find it in the server's log.
	RequestID string
	// Method and Path are the request's (without the query).
	Method, Path string
	// RetryAfter is the Retry-After header's wait (429, 503), or 0.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	}
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// ErrorCode is err's API error code when it is (or wraps) a *Error, else "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// errorFrom reads an error response into a *Error.
func errorFrom(resp *http.Response, method, path string) *Error {
	e := &Error{Status: resp.StatusCode, Method: method, Path: path, RequestID: resp.Header.Get("X-Request-Id"),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	if i := strings.IndexByte(e.Path, '?'); i >= 0 {
		e.Path = e.Path[:i]
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var env struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		if env.Error.RequestID != "" {
			e.RequestID = env.Error.RequestID
		}
	}
	return e
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

type idemKey struct{}

// WithIdempotencyKey returns a context whose POST requests carry key as
// their Idempotency-Key (1–255 characters), instead of a random one per
// call: a retry with the same key and body within 24 hours gets the first
// response again, even from another process.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idemKey{}, key)
}

// newIdempotencyKey is a random key for one call (its retries share it).
func newIdempotencyKey() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return "herm-go-" + hex.EncodeToString(b[:])
}

// request is one API call to send (and send again).
type request struct {
	method, path string
	query        url.Values
	body         []byte // nil: none
	contentType  string
	header       http.Header
}

func (r *request) url(base string) string {
	u := base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	return u
}

// retryable reports whether a request may be sent again without doing
// twice what it asks: a POST only with its Idempotency-Key.
func (r *request) retryable() bool {
	switch r.method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
		return true
	case http.MethodPost:
		return r.header.Get("Idempotency-Key") != ""
	}
	return false
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// send sends r, retrying it when it may be, and returns the response of a
// status below 300 (its body to be closed by the caller) or a *Error.
func (c *Client) send(ctx context.Context, r *request) (*http.Response, error) {
	if r.header == nil {
		r.header = http.Header{}
	}
	if r.method == http.MethodPost && r.header.Get("Idempotency-Key") == "" {
		key, _ := ctx.Value(idemKey{}).(string)
		if key == "" && c.maxRetries > 0 {
			key = newIdempotencyKey() // only a retry needs one
		}
		if key != "" {
			r.header.Set("Idempotency-Key", key)
		}
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.sendOnce(ctx, r)
		if err == nil && resp.StatusCode < 300 {
			return resp, nil
		}
		var wait time.Duration
		if err == nil {
			apiErr := errorFrom(resp, r.method, r.path)
			resp.Body.Close()
			err, wait = apiErr, apiErr.RetryAfter
			if !retryableStatus(apiErr.Status) {
				return nil, err
			}
		} else if ctx.Err() != nil {
			return nil, err
		}
		if attempt >= c.maxRetries || !r.retryable() {
			return nil, err
		}
		if wait == 0 {
			d := c.retryDelay << attempt
			wait = d/2 + rand.N(d/2+1)
		}
		wait = min(wait, 30*time.Second)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (c *Client) sendOnce(ctx context.Context, r *request) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url(c.base), body)
	if err != nil {
		return nil, err
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("User-Agent", c.userAgent)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	return c.http.Do(req)
}

// do sends a JSON request (body, when not nil, as JSON) and decodes the
// response's JSON into out, when not nil.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	r := &request{method: method, path: path, query: query}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r.body, r.contentType = b, "application/json"
	}
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode the response: %w", method, path, err)
	}
	return nil
}

// Do sends a request to path (e.g. "/v1/deployments") with query, with
// body, when not nil, as JSON, and decodes a successful response's JSON
// into out, when not nil: for endpoints this package has no method for.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	return c.do(ctx, method, path, query, body, out)
}

// Page is one page of a list.
type Page[T any] struct {
	Data []T `json:"data"`
	// NextCursor is the cursor of the next page; empty on the last page.
	NextCursor string `json:"next_cursor"`
}

// ListParams pages a list.
type ListParams struct {
	// Limit is the page size, 1–100 (0: the server's default, 20).
	Limit int
	// Cursor is a page's NextCursor, to get the page after it.
	Cursor string
}

func (p ListParams) values() url.Values {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	return q
}

// setIf sets k in q when v is not empty.
func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// getPage reads one page of a list.
func getPage[T any](ctx context.Context, c *Client, path string, q url.Values) (*Page[T], error) {
	var p Page[T]
	if err := c.do(ctx, http.MethodGet, path, q, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// all iterates over the items of every page that page returns, from the
// one after cursor on, following NextCursor. It stops at the first error,
// which it yields.
func all[T any](cursor string, page func(cursor string) (*Page[T], error)) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for {
			p, err := page(cursor)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range p.Data {
				if !yield(&p.Data[i], nil) {
					return
				}
			}
			if p.NextCursor == "" || p.NextCursor == cursor {
				return
			}
			cursor = p.NextCursor
		}
	}
}

// path joins escaped segments under /v1: path("deployments", id, "runs").
func path(segments ...string) string {
	var b strings.Builder
	b.WriteString("/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// depPath is a path under a deployment.
func depPath(depID string, more ...string) string {
	return path(append([]string{"deployments", depID}, more...)...)
}

// Health is the server's readiness: status ok, degraded or unavailable,
// and what each check found.
type Health struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Ready asks the server whether it is ready (GET /readyz). A server that is
// not is a *Error with status 503. It is not retried.
func (c *Client) Ready(ctx context.Context) (*Health, error) {
	resp, err := c.sendOnce(ctx, &request{method: http.MethodGet, path: "/readyz"})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, errorFrom(resp, http.MethodGet, "/readyz")
	}
	var h Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return nil, err
	}
	return &h, nil
}
