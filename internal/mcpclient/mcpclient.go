// Package mcpclient connects deployments to their MCP servers (the official
// MCP Go SDK, streamable HTTP with a fallback to HTTP+SSE) and offers the
// servers' tools to the agent as tools.Tool, named {server}__{tool}.
//
// Sessions are kept per deployment and server configuration and reused
// across runs; a call on a session the server dropped reconnects once. A
// server that cannot be reached is left out of that run with a warning.
// Every request carries the deployment's customer id (header
// X-Herm-Customer-Id, and _meta.customer_id on tool calls); header values
// may use ${ENV_NAME} placeholders, filled on the host by a resolver (the
// secrets vault).
package mcpclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/tools"
)

// Separator joins a server's name and its tool's name.
const Separator = "__"

// Options configure a Pool. Zero values mean defaults.
type Options struct {
	// HTTPClient makes the requests (default: 30 s timeout). Its transport
	// should refuse private addresses unless the operator allows them.
	HTTPClient *http.Client
	// Resolve returns the value of the deployment's secret that a
	// ${ENV_NAME} placeholder of a server's headers names, and the hosts
	// it may be sent to (its allowed_hosts; none: it is never sent); nil:
	// placeholders are an error.
	Resolve func(ctx context.Context, d *herm.Deployment, name string) (value string, allowedHosts []string, err error)
	// Cleartext lets plain-http requests carry secrets (development
	// against local servers); otherwise only HTTPS ones do.
	Cleartext bool
	// CallTimeout bounds one tool call (default 2 minutes); ListTimeout the
	// connection and tool listing (default 15 s).
	CallTimeout, ListTimeout time.Duration
	Logger                   *slog.Logger
}

// Pool is the source of the tool catalog's MCP tools.
var _ tools.MCP = (*Pool)(nil)

// Pool holds the MCP sessions of every deployment.
type Pool struct {
	opts   Options
	client *mcp.Client

	mu       sync.Mutex
	sessions map[string]*session // by deployment id + server config hash
	closing  sync.WaitGroup      // sessions Forget is closing
}

// New returns a Pool.
func New(opts Options) *Pool {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 2 * time.Minute
	}
	if opts.ListTimeout <= 0 {
		opts.ListTimeout = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Pool{
		opts:     opts,
		client:   mcp.NewClient(&mcp.Implementation{Name: "herm", Version: "1"}, nil),
		sessions: make(map[string]*session),
	}
}

// session is one connection to one server for one deployment.
type session struct {
	key    string
	server herm.MCPServer
	gone   atomic.Bool // forgotten: no longer in the pool; a call opens a session for itself
	mu     sync.Mutex
	cs     *mcp.ClientSession
	cancel context.CancelFunc // ends the session's streams
	tools  []*mcp.Tool
	listed time.Time

	// For Catalog: the discovery in flight (nil when none) and the last
	// one's outcome, guarded by state.
	state    sync.Mutex
	running  chan struct{}
	lastErr  error
	lastSeen []*mcp.Tool
	answered bool // a discovery has ended
}

// headerSet is a server's request headers: fixed ones, and templates whose
// ${NAME} placeholders are filled per request from the vault (so a
// rotation or deletion applies at once), only for a request over HTTPS to
// a host every placeholder's secret is allowed for.
type headerSet struct {
	d         *herm.Deployment
	fixed     http.Header
	templates map[string]string
	resolve   func(ctx context.Context, d *herm.Deployment, name string) (string, []string, error)
	cleartext bool // plain http may carry secrets (development)
}

// headers returns a server's headers; a placeholder with no resolver to
// fill it is an error.
func (p *Pool) headers(ctx context.Context, d *herm.Deployment, s herm.MCPServer) (*headerSet, error) {
	hs := &headerSet{d: d, fixed: http.Header{}, templates: map[string]string{}, resolve: p.opts.Resolve, cleartext: p.opts.Cleartext}
	hs.fixed.Set("X-Herm-Customer-Id", d.CustomerID)
	for k, v := range s.Headers {
		for _, m := range herm.HeaderPlaceholder.FindAllStringSubmatch(v, -1) {
			if p.opts.Resolve == nil {
				return nil, fmt.Errorf("header %s uses ${%s}, but this server has no secrets to fill it", k, m[1])
			}
			// Said now rather than as the server's refusal later.
			if _, _, err := p.opts.Resolve(ctx, d, m[1]); err != nil {
				return nil, fmt.Errorf("header %s: ${%s}: %w", k, m[1], err)
			}
		}
		hs.templates[http.CanonicalHeaderKey(k)] = v
	}
	return hs, nil
}

// apply sets the headers on r. A header whose placeholders name a secret
// that cannot be revealed now, or is not allowed for r's host, or a
// request in cleartext, is left out (and any copy of it the HTTP client
// carried over from an earlier request, as on a redirect, is removed): a
// secret goes only to its allowed hosts, whatever URL the server redirects
// to or names as its endpoint. The fixed headers (the customer id) come
// last, so that no configured header replaces them.
func (hs *headerSet) apply(r *http.Request) {
	host := r.URL.Hostname()
	secure := r.URL.Scheme == "https" || hs.cleartext
	for k, tmpl := range hs.templates {
		r.Header.Del(k)
		ok := true
		filled := herm.HeaderPlaceholder.ReplaceAllStringFunc(tmpl, func(m string) string {
			if !ok || !secure { // nothing to reveal for a header that is left out
				ok = false
				return ""
			}
			val, hosts, err := hs.resolve(r.Context(), hs.d, herm.HeaderPlaceholder.FindStringSubmatch(m)[1])
			if err != nil || !herm.HostMatch(hosts, host) {
				ok = false
				return ""
			}
			return val
		})
		if ok {
			r.Header.Set(k, filled)
		}
	}
	for k, vs := range hs.fixed {
		r.Header[k] = vs
	}
}

// headerTransport adds a server's headers to every request, ends every
// request when the session ends (life), and remembers the last refusal's
// status.
type headerTransport struct {
	base   http.RoundTripper
	h      *headerSet
	life   context.Context
	status *atomic.Int32 // the last 4xx/5xx status answered
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(t.life, cancel)
	r = r.Clone(ctx)
	t.h.apply(r)
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	if resp.StatusCode >= 400 {
		t.status.Store(int32(resp.StatusCode))
	}
	// The body may be a long-lived stream: the request ends with it.
	resp.Body = &endingBody{ReadCloser: resp.Body, end: func() { stop(); cancel() }}
	return resp, nil
}

type endingBody struct {
	io.ReadCloser
	once sync.Once
	end  func()
}

func (b *endingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.end)
	return err
}

func (p *Pool) httpClient(life context.Context, h *headerSet, status *atomic.Int32) *http.Client {
	c := *p.opts.HTTPClient
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = headerTransport{base: base, h: h, life: life, status: status}
	c.Timeout = 0 // the streams are long-lived; calls have their own deadlines
	return &c
}

// key identifies a session: the deployment and the server's whole
// configuration (a changed URL or header opens a new session).
func key(d *herm.Deployment, s herm.MCPServer) string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return d.ID + "/" + s.Name + "/" + hex.EncodeToString(sum[:8])
}

// connect opens a session: streamable HTTP, else HTTP+SSE. The session
// lives until closed (an SSE stream is tied to the context it was opened
// with), while ctx bounds only the connection. ss.mu is held.
func (p *Pool) connect(ctx context.Context, d *herm.Deployment, ss *session) error {
	h, err := p.headers(ctx, d, ss.server)
	if err != nil {
		return err
	}
	life, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel) // a connection attempt that outlives ctx is abandoned, its requests too
	defer stop()
	var status atomic.Int32
	hc := p.httpClient(life, h, &status)
	cs, err := p.client.Connect(life, &mcp.StreamableClientTransport{Endpoint: ss.server.URL, HTTPClient: hc, MaxRetries: 1, DisableStandaloneSSE: true}, nil)
	if err != nil {
		var sseErr error
		cs, sseErr = p.client.Connect(life, &mcp.SSEClientTransport{Endpoint: ss.server.URL, HTTPClient: hc}, nil)
		if sseErr != nil {
			cancel()
			return &connectError{status: int(status.Load()), err: fmt.Errorf("streamable HTTP: %w; HTTP+SSE: %w", err, sseErr)}
		}
	}
	if !stop() {
		// ctx ended while connecting: the session's context is cancelled.
		_ = cs.Close()
		cancel()
		return ctx.Err()
	}
	ss.cs, ss.cancel = cs, cancel
	return nil
}

// closeLocked ends the session (ss.mu held).
func (ss *session) closeLocked() {
	if ss.cs != nil {
		_ = ss.cs.Close()
	}
	if ss.cancel != nil {
		ss.cancel()
	}
	ss.cs, ss.cancel = nil, nil
}

func (p *Pool) session(d *herm.Deployment, s herm.MCPServer) *session {
	k := key(d, s)
	p.mu.Lock()
	defer p.mu.Unlock()
	if ss, ok := p.sessions[k]; ok {
		return ss
	}
	ss := &session{key: k, server: s}
	p.sessions[k] = ss
	return ss
}

// list returns the server's tools, connecting (or reconnecting) as needed;
// the list is cached for a minute.
func (p *Pool) list(ctx context.Context, d *herm.Deployment, ss *session) ([]*mcp.Tool, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.cs != nil && time.Since(ss.listed) < time.Minute {
		return ss.tools, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.ListTimeout)
	defer cancel()
	for attempt := 0; attempt < 2; attempt++ {
		if ss.cs == nil {
			if err := p.connect(ctx, d, ss); err != nil {
				return nil, err
			}
		}
		var all []*mcp.Tool
		var cursor string
		var err error
		for {
			var res *mcp.ListToolsResult
			res, err = ss.cs.ListTools(ctx, &mcp.ListToolsParams{Cursor: cursor})
			if err != nil {
				break
			}
			all = append(all, res.Tools...)
			if res.NextCursor == "" {
				break
			}
			cursor = res.NextCursor
		}
		if err == nil {
			ss.tools, ss.listed = all, time.Now()
			return all, nil
		}
		// The server may have restarted and dropped the session.
		ss.closeLocked()
		if attempt == 1 || ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, errors.New("unreachable")
}

// Tools returns the tools a deployment's MCP servers offer (filtered by each
// server's allowlist), and a warning per server that could not be used.
func (p *Pool) Tools(ctx context.Context, d *herm.Deployment) ([]tools.Tool, []string) {
	var out []tools.Tool
	var warnings []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range d.MCPServers {
		wg.Go(func() {
			ss := p.session(d, s)
			listed, err := p.list(ctx, d, ss)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("MCP server %s is left out of this run: %s", s.Name, describe(err)))
				return
			}
			out = append(out, p.offered(d, ss, listed)...)
		})
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Spec().Name < out[j].Spec().Name })
	sort.Strings(warnings)
	return out, warnings
}

// Server states in a Catalog.
const (
	StateConnected   = "connected"   // its tools are listed
	StateUnreachable = "unreachable" // the last attempt failed (Message says why)
	StateConnecting  = "connecting"  // the first attempt has not ended yet
)

// ServerState is what is known of one of a deployment's servers (the tool
// catalog's type: Pool is its tools.MCP).
type ServerState = tools.ServerState

// Catalog answers "which tools do the deployment's servers offer" without
// making an API caller wait for a slow or hanging server: it starts (or
// joins) a discovery for each server, waits at most wait, and answers with
// what is known then. A server still connecting lists the tools it had
// before, if any; its discovery goes on in the background (bounded by the
// listing timeout) so that a later call has it.
func (p *Pool) Catalog(ctx context.Context, d *herm.Deployment, wait time.Duration) ([]tools.Tool, []ServerState) {
	sessions := make([]*session, len(d.MCPServers))
	dones := make([]chan struct{}, len(d.MCPServers))
	for i, s := range d.MCPServers {
		ss := p.session(d, s)
		sessions[i] = ss
		ss.state.Lock()
		if ss.running == nil {
			done := make(chan struct{})
			ss.running = done
			// Detached: it outlives this request, bounded by ListTimeout.
			go func() {
				listed, err := p.list(context.WithoutCancel(ctx), d, ss)
				ss.state.Lock()
				ss.running, ss.lastErr, ss.answered = nil, err, true
				if err == nil {
					ss.lastSeen = listed
				}
				ss.state.Unlock()
				close(done)
			}()
		}
		dones[i] = ss.running
		ss.state.Unlock()
	}
	// One deadline for all of them.
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for _, done := range dones {
		select {
		case <-done:
		case <-waitCtx.Done():
		}
	}
	var out []tools.Tool
	var states []ServerState
	for i, ss := range sessions {
		ss.state.Lock()
		st := ServerState{Name: d.MCPServers[i].Name, State: StateConnected}
		switch {
		case ss.answered && ss.lastErr != nil:
			st.State, st.Message = StateUnreachable, describe(ss.lastErr)
		case !ss.answered:
			st.State = StateConnecting
		}
		listed := ss.lastSeen
		ss.state.Unlock()
		states = append(states, st)
		out = append(out, p.offered(d, ss, listed)...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec().Name < out[j].Spec().Name })
	return out, states
}

// offered returns a server's listed tools that its allowlist lets through.
func (p *Pool) offered(d *herm.Deployment, ss *session, listed []*mcp.Tool) []tools.Tool {
	allowed := map[string]bool{}
	for _, name := range ss.server.Tools {
		allowed[name] = true
	}
	var out []tools.Tool
	for _, t := range listed {
		if len(ss.server.Tools) > 0 && !allowed[t.Name] {
			continue
		}
		out = append(out, &tool{p: p, d: d, ss: ss, t: t})
	}
	return out
}

// Forget closes a deployment's sessions (deleted, or its servers changed).
func (p *Pool) Forget(deploymentID string) {
	p.mu.Lock()
	var closing []*session
	for k, ss := range p.sessions {
		if strings.HasPrefix(k, deploymentID+"/") {
			ss.gone.Store(true)
			closing = append(closing, ss)
			delete(p.sessions, k)
		}
	}
	p.mu.Unlock()
	// In the background: a session may be busy connecting to a server that
	// hangs (up to the listing timeout), and the caller is an update.
	for _, ss := range closing {
		p.closing.Go(func() {
			ss.mu.Lock()
			ss.closeLocked()
			ss.mu.Unlock()
		})
	}
}

// Changed reports whether a deployment's update ends its MCP sessions: its
// servers or its secrets changed (a run that started before keeps using
// its own configuration).
func Changed(before, after *herm.Deployment) bool {
	return !reflect.DeepEqual(before.MCPServers, after.MCPServers) || !maps.Equal(before.Secrets, after.Secrets)
}

// Close closes every session, and waits for those Forget is closing.
func (p *Pool) Close() {
	p.mu.Lock()
	all := p.sessions
	p.sessions = make(map[string]*session)
	p.mu.Unlock()
	for _, ss := range all {
		ss.mu.Lock()
		ss.closeLocked()
		ss.mu.Unlock()
	}
	p.closing.Wait()
}

// tool is one MCP tool offered to the model.
type tool struct {
	p  *Pool
	d  *herm.Deployment
	ss *session
	t  *mcp.Tool
}

func (t *tool) Spec() llm.ToolSpec {
	schema, _ := json.Marshal(t.t.InputSchema)
	if len(schema) == 0 || string(schema) == "null" {
		schema = []byte(`{"type":"object","properties":{}}`)
	}
	return llm.ToolSpec{Name: t.ss.server.Name + Separator + t.t.Name, Description: t.t.Description, InputSchema: schema}
}

func (t *tool) Origin() string { return t.ss.server.Name }

// Permission is the server's default permission for its tools.
func (t *tool) Permission() string { return t.ss.server.Permission }

// BareName is the server's own name for the tool.
func (t *tool) BareName() string { return t.t.Name }

func (t *tool) Call(ctx context.Context, c tools.Call, args json.RawMessage) (tools.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, t.p.opts.CallTimeout)
	defer cancel()
	params := &mcp.CallToolParams{Name: t.t.Name, Arguments: args, Meta: mcp.Meta{"customer_id": t.d.CustomerID}}
	if t.ss.gone.Load() {
		// The deployment was reconfigured while this run (pinned to its
		// configuration) goes on: a session of its own for this call,
		// closed after it, since the pool no longer holds this one.
		own := *t
		own.ss = &session{key: t.ss.key, server: t.ss.server}
		defer func() {
			own.ss.mu.Lock()
			own.ss.closeLocked()
			own.ss.mu.Unlock()
		}()
		t = &own
	}
	for attempt := 0; ; attempt++ {
		t.ss.mu.Lock()
		if t.ss.cs == nil {
			if err := t.p.connect(ctx, t.d, t.ss); err != nil {
				t.ss.mu.Unlock()
				return tools.Result{Content: fmt.Sprintf("MCP server %s is unreachable: %s", t.ss.server.Name, describe(err)), IsError: true}, nil
			}
		}
		cs := t.ss.cs
		t.ss.mu.Unlock()
		res, err := cs.CallTool(ctx, params)
		if err == nil {
			return result(res), nil
		}
		if ctx.Err() != nil {
			return tools.Result{Content: fmt.Sprintf("MCP tool %s on %s did not answer in time", t.t.Name, t.ss.server.Name), IsError: true}, nil
		}
		// The server may have restarted: reconnect once — only when the
		// call certainly did not run (the server did not know the session);
		// otherwise a tool with effects could run twice.
		retry := strings.Contains(err.Error(), "session not found")
		t.ss.mu.Lock()
		if t.ss.cs == cs {
			t.ss.closeLocked()
		}
		t.ss.mu.Unlock()
		if attempt == 1 || !retry {
			return tools.Result{Content: fmt.Sprintf("MCP tool %s on %s failed: %s", t.t.Name, t.ss.server.Name, describe(err)), IsError: true}, nil
		}
	}
}

// connectError is a failed connection, with the HTTP status the server
// refused it with (0: none).
type connectError struct {
	status int
	err    error
}

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// describe says why a server could not be used, in terms its operator can
// act on (with the transport's own words otherwise).
func describe(err error) string {
	if herm.ErrorCode(err) != herm.EInternal {
		return herm.ErrorMessage(err)
	}
	var ce *connectError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "it did not answer in time"
	case errors.As(err, &ce) && (ce.status == http.StatusUnauthorized || ce.status == http.StatusForbidden):
		return fmt.Sprintf("it refused the credentials (HTTP %d %s): check the server's headers and the secrets they use", ce.status, http.StatusText(ce.status))
	case errors.As(err, &ce) && ce.status == http.StatusNotFound:
		return "its URL answers 404 Not Found: is it the server's MCP endpoint?"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("its host %s was not found", dnsErr.Name)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "it cannot be reached: " + opErr.Err.Error()
	case errors.As(err, &ce) && ce.status != 0:
		return fmt.Sprintf("it answered HTTP %d %s: %v", ce.status, http.StatusText(ce.status), err)
	}
	return err.Error()
}

// MaxResultBytes caps the text of one tool result kept from a server (the
// agent loop then spills what is beyond its preview to the workspace).
const MaxResultBytes = 4 << 20

// result turns an MCP result into a tool result: text as it is, images,
// audio and binary resources as files (the agent saves them in the
// workspace), text resources inline, structured content as JSON.
func result(r *mcp.CallToolResult) tools.Result {
	var parts []string
	var files []tools.File
	file := func(kind, mediaType string, data []byte) {
		name := fmt.Sprintf("%d-%s%s", len(files)+1, kind, extension(mediaType))
		files = append(files, tools.File{Name: name, MediaType: mediaType, Data: data})
	}
	for _, c := range r.Content {
		switch v := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, v.Text)
		case *mcp.ImageContent:
			file("image", v.MIMEType, v.Data)
		case *mcp.AudioContent:
			file("audio", v.MIMEType, v.Data)
		case *mcp.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource: %s %s]", v.URI, v.Name))
		case *mcp.EmbeddedResource:
			if v.Resource == nil {
				continue
			}
			if v.Resource.Text != "" {
				parts = append(parts, fmt.Sprintf("[resource %s]\n%s", v.Resource.URI, v.Resource.Text))
			} else {
				parts = append(parts, fmt.Sprintf("[resource %s]", v.Resource.URI))
				file("resource", v.Resource.MIMEType, v.Resource.Blob)
			}
		default:
			b, _ := json.Marshal(c)
			parts = append(parts, string(b))
		}
	}
	if len(parts) == 0 && r.StructuredContent != nil {
		b, _ := json.Marshal(r.StructuredContent)
		parts = append(parts, string(b))
	}
	text := strings.Join(parts, "\n")
	if len(text) > MaxResultBytes {
		cut := MaxResultBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + fmt.Sprintf("\n[the server returned %d bytes; cut at %d]", len(text), cut)
	}
	return tools.Result{Content: text, IsError: r.IsError, Files: files}
}

// extension is a file extension for a media type ("" when unknown).
func extension(mediaType string) string {
	switch strings.ToLower(strings.TrimSpace(strings.Split(mediaType, ";")[0])) {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "image/svg+xml":
		return ".svg"
	case "audio/wav", "audio/x-wav":
		return ".wav"
	case "audio/mpeg":
		return ".mp3"
	case "audio/ogg":
		return ".ogg"
	case "application/pdf":
		return ".pdf"
	case "application/json":
		return ".json"
	case "text/plain":
		return ".txt"
	}
	return ".bin"
}
