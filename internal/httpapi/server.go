// Package httpapi is Herm's HTTP API: routes, authentication and scopes,
// the error envelope, pagination, idempotency, rate limits, the event stream
// (SSE) and the wire types, from which api/openapi.yaml is generated.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hermhq/herm/internal/agents"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hermhq/herm/internal/auth"
	"github.com/hermhq/herm/internal/automation"
	"github.com/hermhq/herm/internal/deployment"
	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/llm"
	"github.com/hermhq/herm/internal/memory"
	"github.com/hermhq/herm/internal/metrics"
	"github.com/hermhq/herm/internal/openapi"
	"github.com/hermhq/herm/internal/runner"
	"github.com/hermhq/herm/internal/sandbox"
	"github.com/hermhq/herm/internal/secrets"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/tools"
	"github.com/hermhq/herm/internal/webhook"
)

// Config holds the server's settings. Zero values mean defaults.
type Config struct {
	// PublicURL is the base URL clients use (for events.url); default: from
	// each request's Host.
	PublicURL string
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// RateLimit is requests per second per API key (default 50; negative
	// disables); RateBurst the bucket size (default 2×RateLimit).
	RateLimit float64
	RateBurst int
	// PingInterval is the SSE keep-alive period (default 15 s).
	PingInterval time.Duration
	// MetricsPublic serves /metrics without a key; otherwise an admin key
	// is required (the operator sets it when bound to loopback).
	MetricsPublic bool
	// Readiness adds checks to /readyz (name → check), e.g. the sandbox driver.
	Readiness map[string]func(context.Context) error
	// Warnings are shown in /readyz (name → what is degraded) without
	// making the server unready, e.g. no code execution.
	Warnings map[string]string
	// MaxFileBytes limits a file written through the files API (default
	// 50 MiB); larger is 413.
	MaxFileBytes int64
	// BodyTimeout is the longest a request body may go without a byte
	// arriving, WriteTimeout the longest one write of a response may take
	// (0: no limit); see deadlines.
	BodyTimeout, WriteTimeout time.Duration
	// CORSOrigins are the browser origins allowed to call the API
	// (scheme://host[:port]; see CheckOrigin and cors.go); none: no CORS.
	CORSOrigins []string
}

// Deps are the services the API fronts.
type Deps struct {
	Store       store.Store
	Log         *eventlog.Log
	Runner      *runner.Runner
	Deployments *deployment.Service
	Keys        *auth.Keys
	Models      *llm.Registry
	Sandboxes   *sandbox.Manager
	// Tools answers which tools a deployment has (the Tools API, PATCH
	// .../tools/{name}).
	Tools       *tools.Catalog
	Vault       *secrets.Vault
	Webhooks    *webhook.Service
	Memories    *memory.Store
	Automations *automation.Service
	// Agents serves the newer generation (agents and sessions).
	Agents  *agents.Service
	Metrics *metrics.Registry
	IDs     *herm.IDGen
	Now     func() time.Time
	Logger  *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	cfg         Config
	store       store.Store
	log         *eventlog.Log
	runner      *runner.Runner
	deps        *deployment.Service
	keys        *auth.Keys
	models      *llm.Registry
	boxes       *sandbox.Manager
	tools       *tools.Catalog
	vault       *secrets.Vault
	webhooks    *webhook.Service
	memories    *memory.Store
	automations *automation.Service
	agents      *agents.Service
	metrics     *metrics.Registry
	ids         *herm.IDGen
	now         func() time.Time
	logger      *slog.Logger
	limiter     *limiter
	mux         *http.ServeMux
	origins     map[string]bool // CORS
	openapi     func() ([]byte, error)

	streams      context.Context // ends every event stream at shutdown
	closeStreams context.CancelFunc
}

// New returns a Server.
func New(cfg Config, d Deps) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = 50 << 20
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 50
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = int(2 * cfg.RateLimit)
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 15 * time.Second
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New(nil)
	}
	s := &Server{
		cfg: cfg, store: d.Store, log: d.Log, runner: d.Runner, deps: d.Deployments, keys: d.Keys,
		models: d.Models, boxes: d.Sandboxes, tools: d.Tools, vault: d.Vault, webhooks: d.Webhooks, memories: d.Memories, automations: d.Automations, agents: d.Agents, metrics: d.Metrics, ids: d.IDs, now: d.Now, logger: d.Logger,
		limiter: newLimiter(cfg.RateLimit, cfg.RateBurst, d.Now),
		mux:     http.NewServeMux(),
	}
	s.streams, s.closeStreams = context.WithCancel(context.Background())
	s.openapi = sync.OnceValues(func() ([]byte, error) { return openapi.Generate(OpenAPI()) })
	for _, o := range cfg.CORSOrigins {
		if o, err := CheckOrigin(o); err == nil {
			if s.origins == nil {
				s.origins = map[string]bool{}
			}
			s.origins[o] = true
		}
	}
	for _, rt := range s.routes() {
		var h http.Handler = s.adapt(rt.handle)
		if rt.scope != "" {
			h = s.authenticate(rt.scope, rt.path, s.idempotent(h))
		}
		pattern := rt.method + " " + rt.path
		maxBody := int64(0)
		if rt.fileBody {
			maxBody = cfg.MaxFileBytes
		}
		s.mux.Handle(pattern, s.outer(pattern, maxBody, h))
	}
	return s
}

// ServeHTTP routes a request. Unknown paths and methods get the error
// envelope too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cors(w, r) || s.uncleanPath(w, r) {
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r) // sets the path values
		return
	}
	s.outer("unmatched", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Ask the mux what it would have said (404 or 405 with Allow).
		rec := &probe{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.code == http.StatusMethodNotAllowed {
			writeJSON(w, rec.code, ErrorBody{Error: ErrorDetail{Code: herm.EInvalid, Message: "method " + r.Method + " is not allowed on this path", RequestID: requestID(r.Context())}})
			return
		}
		s.writeError(w, r, herm.Errorf(herm.ENotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})).ServeHTTP(w, r)
}

// probe is a ResponseWriter that only keeps the status and headers.
type probe struct {
	header http.Header
	code   int
}

func (p *probe) Header() http.Header         { return p.header }
func (p *probe) Write(b []byte) (int, error) { return len(b), nil }
func (p *probe) WriteHeader(code int)        { p.code = code }

// CloseStreams ends every open event stream (at shutdown, so that the HTTP
// server's graceful shutdown does not wait for them).
func (s *Server) CloseStreams() { s.closeStreams() }

// handlerFunc is a handler that returns its error for adapt to write.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors that name what is wrong.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return herm.Errorf(herm.EInvalid, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return herm.Errorf(herm.EInvalid, "request body is required (JSON)")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return herm.Errorf(herm.EInvalid, "request body has data after the JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return herm.Errorf(herm.EInvalid, "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return herm.Errorf(herm.EInvalid, "request body must be a JSON object")
		}
		return herm.Errorf(herm.EInvalid, "%s must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return herm.Errorf(herm.EInvalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return herm.Errorf(herm.EInvalid, "malformed JSON: unexpected end of input")
	default:
		return herm.Errorf(herm.EInvalid, "malformed JSON: %v", err)
	}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "float64", "float32":
		return "a number"
	default:
		if strings.HasPrefix(k, "int") || strings.HasPrefix(k, "uint") {
			return "an integer"
		}
		return k
	}
}

// page parses limit and cursor (limit 1..max, default def).
func page(r *http.Request, def, max int) (herm.Page, error) {
	p := herm.Page{Limit: def, Cursor: r.URL.Query().Get("cursor")}
	if p.Cursor != "" && !herm.LooksLikeID(p.Cursor) {
		return p, herm.Errorf(herm.EInvalid, "cursor %q is not one this API returned (use a list's next_cursor)", p.Cursor)
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			return p, herm.Errorf(herm.EInvalid, "limit must be an integer from 1 to %d", max)
		}
		p.Limit = n
	}
	return p, nil
}

// listOf builds a page from items fetched with limit+1.
func listOf[T, U any](items []T, limit int, conv func(T) U, id func(T) string) List[U] {
	out := List[U]{Data: make([]U, 0, min(len(items), limit))}
	for i, it := range items {
		if i == limit {
			c := id(items[limit-1])
			out.NextCursor = &c
			break
		}
		out.Data = append(out.Data, conv(it))
	}
	return out
}

// base returns the public base URL for links.
func (s *Server) base(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s", scheme, r.Host)
}

// deployment loads the deployment named in the path.
func (s *Server) deployment(r *http.Request) (*herm.Deployment, error) {
	return s.store.GetDeployment(r.Context(), r.PathValue("deployment_id"))
}
