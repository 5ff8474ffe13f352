// Package client is a Go client for Herm's HTTP API: deployments, messages,
// runs, models and a deployment's event stream (SSE, resumed with
// Last-Event-ID after a disconnect).
//
//	c := client.New("http://127.0.0.1:8640", os.Getenv("HERM_API_KEY"), nil)
//	d, err := c.Deployments.Create(ctx, client.DeploymentCreateParams{CustomerID: "cus_1", Name: "Agent"})
//
// Every method returns a *Error when the server answers with an error
// status. Endpoints without a typed method can be called with Do.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client talks to one Herm server with one API key. It is safe for
// concurrent use.
type Client struct {
	base      string
	key       string
	http      *http.Client
	userAgent string
	retry     time.Duration
	reconnect int

	// Deployments creates, reads and lists deployments.
	Deployments *DeploymentService
	// Messages sends messages to deployments.
	Messages *MessageService
	// Runs reads runs.
	Runs *RunService
	// Events opens deployments' event streams.
	Events *EventService
	// Models lists the models the server can run.
	Models *ModelService
	// Tools lists deployments' tools.
	Tools *ToolService
}

// Options are a client's settings; nil or zero fields mean the defaults.
type Options struct {
	// HTTPClient sends the requests (default: a new http.Client without a
	// timeout, since event streams last).
	HTTPClient *http.Client
	// UserAgent is sent as User-Agent (default "herm-go").
	UserAgent string
	// Reconnects is how many times in a row an event stream that broke is
	// opened again before Next gives up (default 5; negative: never).
	Reconnects int
	// RetryDelay is the wait before reopening an event stream until the
	// server names one with a retry field (default 1 s).
	RetryDelay time.Duration
}

// New returns a client of the server at baseURL (e.g.
// "http://127.0.0.1:8640") that authenticates with apiKey.
func New(baseURL, apiKey string, opts *Options) *Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.UserAgent == "" {
		o.UserAgent = "herm-go"
	}
	if o.Reconnects == 0 {
		o.Reconnects = 5
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), key: apiKey, http: o.HTTPClient, userAgent: o.UserAgent,
		retry: o.RetryDelay, reconnect: max(o.Reconnects, 0)}
	c.Deployments = &DeploymentService{c}
	c.Messages = &MessageService{c}
	c.Runs = &RunService{c}
	c.Events = &EventService{c}
	c.Models = &ModelService{c}
	c.Tools = &ToolService{c}
	return c
}

// BaseURL is the server's address as given to New, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// Error is an error response of the API.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the error code of the envelope (e.g. "not_found"); empty when
	// the body was not the API's error envelope.
	Code string
	// Message is the envelope's message, safe to show to a customer.
	Message string
	// RequestID is the request's id (the envelope's, or X-Request-Id), to
	// find it in the server's log.
	RequestID string
	// Method and Path are the request's.
	Method, Path string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.StatusCode)
	}
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, e.Code, e.Message)
}

// newRequest builds a request to path (with its query) with the key and,
// when body is not nil, body as JSON.
func (c *Client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// Do sends a request to path (e.g. "/v1/deployments?limit=10") with body,
// when not nil, as JSON, and decodes a successful response's JSON into
// out, when not nil. A response with a status of 300 or more is a *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return errorFrom(resp, method, path)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

// errorFrom reads an error response into a *Error.
func errorFrom(resp *http.Response, method, path string) *Error {
	e := &Error{StatusCode: resp.StatusCode, Method: method, Path: path, RequestID: resp.Header.Get("X-Request-Id")}
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

// List is a page of a list, newest first unless the endpoint says
// otherwise.
type List[T any] struct {
	Data []T `json:"data"`
	// NextCursor, when not empty, is the cursor of the next page.
	NextCursor string `json:"next_cursor"`
}

// Health is the server's readiness: status ok, degraded or unavailable,
// and what each check found.
type Health struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Ready asks the server whether it is ready (GET /readyz). A server that is
// not is a *Error with status 503.
func (c *Client) Ready(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.Do(ctx, "GET", "/readyz", nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}
