package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/auth"
	"github.com/hermhq/herm/internal/eventlog"
	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/secrets"
	"github.com/hermhq/herm/internal/store"
	"github.com/hermhq/herm/internal/store/sqlite"
)

// apiEnv is a Server on a real SQLite store with only the store, the event
// log and the keys behind it, and a ready deployment dep_a of customer
// cus_a (and its default thread) written straight into the store.
type apiEnv struct {
	srv    *Server
	store  store.Store
	keys   *auth.Keys
	ts     *httptest.Server
	admin  string // secrets of keys
	reader string
	writer string
	thread string // dep_a's default thread
	logs   *lockedBuffer
	clock  *testClock
}

// lockedBuffer is the server's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testClock is the server's clock: the real time plus an offset.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func newAPIEnv(t testing.TB, cfg Config) *apiEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/herm.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	elog := eventlog.New(st, logger, eventlog.Options{})
	ids := herm.NewIDGen(nil)
	keys := auth.New(st, ids, nil)
	master := bytes.Repeat([]byte{7}, 32)
	vault, err := secrets.New(st, [][]byte{master}, ids, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &apiEnv{store: st, keys: keys, admin: "admin-secret", logs: logs, clock: &testClock{}}
	if err := keys.Ensure(ctx, "admin", e.admin); err != nil {
		t.Fatal(err)
	}
	_, e.reader, _ = keys.Create(ctx, "reader", []string{herm.ScopeRead}, "")
	_, e.writer, _ = keys.Create(ctx, "writer", []string{herm.ScopeRead, herm.ScopeWrite}, "")
	now := time.Now().UTC()
	e.thread = ids.New(herm.PrefixThread)
	d := &herm.Deployment{ID: "dep_a", CustomerID: "cus_a", Name: "n", Runtime: "hermes", Model: "demo/demo", SystemPrompt: "p",
		Status: herm.DeploymentReady, ConfigVersion: 1, ThreadID: e.thread, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateDeployment(ctx, d, &herm.Thread{ID: e.thread, DeploymentID: "dep_a", Title: "Default", IsDefault: true, CreatedAt: now, LastActivityAt: now}); err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	e.srv = New(cfg, Deps{Store: st, Log: elog, Keys: keys, Vault: vault, IDs: ids, Logger: logger, Now: e.clock.now})
	e.ts = httptest.NewServer(e.srv)
	t.Cleanup(func() {
		e.srv.CloseStreams()
		e.ts.Close()
		elog.Close()
		st.Close()
	})
	return e
}

type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with key (a secret; "" for none); body is JSON-encoded
// unless it is a string.
func (e *apiEnv) do(t testing.TB, key, method, path string, body any, header ...string) apiResponse {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiResponse{resp.StatusCode, resp.Header, b}
}

// envelope checks r is the contract's error envelope with status and code
// and returns its message.
func envelope(t testing.TB, r apiResponse, status int, code string) string {
	t.Helper()
	var b struct {
		Error struct {
			Code, Message string
			RequestID     string `json:"request_id"`
		}
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("status %d, body %s: %v", r.status, r.body, err)
	}
	if r.status != status || b.Error.Code != code {
		t.Fatalf("status %d code %q, want %d %q: %s", r.status, b.Error.Code, status, code, r.body)
	}
	if rid := r.header.Get("X-Request-Id"); rid == "" || b.Error.RequestID != rid || !strings.HasPrefix(rid, herm.PrefixRequest) {
		t.Fatalf("request id %q in the body, %q in the header", b.Error.RequestID, rid)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if b.Error.Message == "" {
		t.Fatal("no message")
	}
	return b.Error.Message
}

// Every code of the contract's errors table gets its status, its wire code
// and the envelope; what is not a herm.Error is a 500 that describes
// nothing; 429 and 503 say when to come back.
func TestErrorTable(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, Config{})
	for _, c := range []struct {
		err        error
		status     int
		code, says string
	}{
		{herm.Errorf(herm.EInvalid, "name must not be empty"), 400, "validation_error", "name must not be empty"},
		{herm.Errorf(herm.EUnauthorized, "invalid key"), 401, "unauthorized", "invalid key"},
		{herm.Errorf(herm.EInsufficientCredit, "budget spent"), 402, "insufficient_credits", "budget spent"},
		{herm.Errorf(herm.EForbidden, "lacks admin"), 403, "forbidden", "lacks admin"},
		{herm.Errorf(herm.ENotFound, "no such run"), 404, "not_found", "no such run"},
		{herm.Errorf(herm.ENotReady, "provisioning"), 409, "deployment_not_ready", "provisioning"},
		{herm.Errorf(herm.EConflict, "already resolved"), 409, "conflict", "already resolved"},
		{herm.Errorf(herm.ECursorExpired, "too old"), 410, "cursor_expired", "too old"},
		{herm.Errorf(herm.ETooLarge, "over the limit of 1 MiB"), 413, "validation_error", "over the limit of 1 MiB"},
		{herm.Errorf(herm.EInvalidSkill, "no front matter"), 422, "invalid_skill", "no front matter"},
		{herm.Errorf(herm.EInvalidSecretRef, "sec_x is not yours"), 422, "invalid_secret_ref", "sec_x is not yours"},
		{herm.Errorf(herm.ERateLimited, "slow down"), 429, "rate_limited", "slow down"},
		{herm.Errorf(herm.EInternal, "database on fire"), 500, "server_error", "an internal error occurred"},
		{herm.Errorf(herm.EUnavailable, "shutting down"), 503, "unavailable", "shutting down"},
		{herm.Errorf("made_up_code", "what"), 500, "server_error", "an internal error occurred"},
		{fmt.Errorf("wrapped: %w", herm.Errorf(herm.ENotFound, "deep")), 404, "not_found", "deep"},
		{errors.New("pq: password authentication failed for user herm"), 500, "server_error", "an internal error occurred"},
	} {
		h := e.srv.outer("GET /test", 0, e.srv.adapt(func(w http.ResponseWriter, r *http.Request) error { return c.err }))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/test", nil))
		r := apiResponse{rec.Code, rec.Header(), rec.Body.Bytes()}
		msg := envelope(t, r, c.status, c.code)
		if !strings.Contains(msg, c.says) {
			t.Errorf("%v: message %q", c.err, msg)
		}
		if c.status == 500 {
			if strings.Contains(string(r.body), "password") || strings.Contains(string(r.body), "fire") || !strings.Contains(msg, r.header.Get("X-Request-Id")) {
				t.Errorf("%v: a 500 says %q", c.err, msg)
			}
		}
		if wantRetry := c.status == 429 || c.status == 503; (r.header.Get("Retry-After") != "") != wantRetry {
			t.Errorf("%v: Retry-After %q", c.err, r.header.Get("Retry-After"))
		}
	}
	// A panic is a 500 in the envelope too.
	h := e.srv.outer("GET /test", 0, e.srv.adapt(func(w http.ResponseWriter, r *http.Request) error { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/test", nil))
	if msg := envelope(t, apiResponse{rec.Code, rec.Header(), rec.Body.Bytes()}, 500, "server_error"); strings.Contains(msg, "boom") {
		t.Errorf("a panic says %q", msg)
	}
}

// fillPath puts values into a route's path parameters.
func fillPath(path, deployment string) string {
	path = strings.ReplaceAll(path, "{deployment_id}", deployment)
	return regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`).ReplaceAllString(path, "${1}_x")
}

// Every route that needs a key answers 401 without one, with a bad one and
// with a revoked one, and 403 naming the scope to a key that lacks it —
// whatever else the request holds.
func TestEveryRouteChecksKeyAndScope(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, Config{})
	ctx := context.Background()
	revoked, secret, _ := e.keys.Create(ctx, "gone", herm.Scopes(), "")
	if err := e.keys.Revoke(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rt := range e.srv.routes() {
		if rt.scope == "" {
			continue
		}
		n++
		path := fillPath(rt.path, "dep_a")
		name := rt.method + " " + rt.path
		for _, key := range []string{"", "nope", secret} {
			r := e.do(t, key, rt.method, path, map[string]any{})
			if msg := envelope(t, r, 401, "unauthorized"); !strings.Contains(msg, "API key") {
				t.Errorf("%s with key %q: %q", name, key, msg)
			}
		}
		var lacking string
		switch rt.scope {
		case herm.ScopeWrite, herm.ScopeAdmin:
			lacking = e.reader
			if rt.scope == herm.ScopeAdmin {
				lacking = e.writer
			}
		default:
			_, lacking, _ = e.keys.Create(ctx, "write-only", []string{herm.ScopeWrite}, "")
		}
		r := e.do(t, lacking, rt.method, path, map[string]any{})
		if msg := envelope(t, r, 403, "forbidden"); !strings.Contains(msg, rt.scope) {
			t.Errorf("%s: %q does not name the scope %s", name, msg, rt.scope)
		}
	}
	if n < 40 {
		t.Fatalf("only %d routes with a scope", n)
	}
	// The scheme is case-insensitive; the key is not.
	if r := e.do(t, "", "GET", "/v1/deployments/dep_a/threads", nil, "Authorization", "bEaReR "+e.reader); r.status != 200 {
		t.Fatalf("bearer in another case: %d %s", r.status, r.body)
	}
	if r := e.do(t, "", "GET", "/v1/deployments/dep_a/threads", nil, "Authorization", "Basic "+e.reader); r.status != 401 {
		t.Fatalf("another scheme: %d", r.status)
	}
	if r := e.do(t, "", "GET", "/v1/deployments/dep_a/threads", nil, "Authorization", "Bearer "+strings.ToUpper(e.reader)); r.status != 401 {
		t.Fatalf("the key in another case: %d", r.status)
	}
}

// A customer's key reaches only /v1/deployments/** (its own customer's:
// another's deployment is 404, as if it did not exist) and GET /v1/models.
func TestCustomerKeyReach(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, Config{})
	_, other, err := e.keys.Create(context.Background(), "frontend", []string{herm.ScopeRead, herm.ScopeWrite}, "cus_b")
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range e.srv.routes() {
		if rt.scope == "" {
			continue
		}
		name := rt.method + " " + rt.path
		r := e.do(t, other, rt.method, fillPath(rt.path, "dep_a"), map[string]any{})
		switch {
		case strings.HasPrefix(rt.path, "/v1/deployments/{deployment_id}"):
			if msg := envelope(t, r, 404, "not_found"); strings.Contains(msg, "cus_a") {
				t.Errorf("%s: %q", name, msg)
			}
		case rt.path == "/v1/deployments" || rt.path == "/v1/models":
			// Reached (what the handler then does needs services this
			// server lacks).
			if r.status == 403 || r.status == 401 || r.status == 404 {
				t.Errorf("%s: %d %s", name, r.status, r.body)
			}
		default:
			// Admin routes are refused for the scope first.
			if msg := envelope(t, r, 403, "forbidden"); !strings.Contains(msg, "cus_b") && !strings.Contains(msg, "admin") {
				t.Errorf("%s: %q", name, msg)
			}
		}
	}
}

// A deployment behind an agent's sessions (a hidden deployment) is not
// served by the deployments API to any key: every route under it answers
// 404 as if it did not exist.
func TestHiddenDeployment(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, Config{})
	ctx := context.Background()
	now := time.Now().UTC()
	if err := e.store.CreateAgent(ctx, &herm.Agent{ID: "agt_x", Name: "a", Status: herm.AgentActive, CurrentVersion: 1, CreatedAt: now, UpdatedAt: now},
		json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	d := &herm.Deployment{ID: "dep_hidden", CustomerID: "cus_a", Name: "n", Runtime: "hermes", Model: "demo/demo", SystemPrompt: "p",
		Status: herm.DeploymentReady, ConfigVersion: 1, ThreadID: "thr_hidden", AgentID: "agt_x", UserKey: "user_1", CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateDeployment(ctx, d, &herm.Thread{ID: "thr_hidden", DeploymentID: d.ID, Title: "Default", IsDefault: true, CreatedAt: now, LastActivityAt: now}); err != nil {
		t.Fatal(err)
	}
	_, customer, err := e.keys.Create(ctx, "frontend", []string{herm.ScopeRead, herm.ScopeWrite}, "cus_a")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, rt := range e.srv.routes() {
		if rt.scope == "" || !strings.HasPrefix(rt.path, "/v1/deployments/{deployment_id}") {
			continue
		}
		n++
		for _, key := range []string{e.admin, customer} {
			r := e.do(t, key, rt.method, fillPath(rt.path, d.ID), map[string]any{}, "Accept", "application/json")
			if msg := envelope(t, r, 404, "not_found"); !strings.Contains(msg, "deployment not found") {
				t.Errorf("%s %s: %q", rt.method, rt.path, msg)
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d routes checked", n)
	}
	// The first deployment is still served (lists leave hidden ones out:
	// storetest's Agent/HiddenDeployments).
	if r := e.do(t, e.admin, "GET", "/v1/deployments/dep_a/threads", nil); r.status != 200 {
		t.Fatalf("dep_a: %d %s", r.status, r.body)
	}
}

// Every GET under a deployment answers 404 for a deployment that does not
// exist (routes whose service this server lacks answer 503 and are left
// to cmd/herm's tests).
func TestUnknownDeployment(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, Config{})
	n := 0
	for _, rt := range e.srv.routes() {
		if rt.method != "GET" || !strings.HasPrefix(rt.path, "/v1/deployments/{deployment_id}") {
			continue
		}
		r := e.do(t, e.admin, rt.method, fillPath(rt.path, "dep_nope"), nil, "Accept", "application/json")
		if r.status == 503 {
			continue
		}
		n++
		if r.status != 404 || !bytes.Contains(r.body, []byte(`"code":"not_found"`)) {
			t.Errorf("%s %s: %d %s", rt.method, rt.path, r.status, r.body)
		}
	}
	if n < 10 {
		t.Fatalf("only %d routes checked", n)
	}
}

// Lists: limit 1–100 (events' JSON page: 1–1000), a cursor only from a
// list, next_cursor null on the last page, also when it is exactly full.
func TestPagination(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, Config{})
	var want []string // newest first
	for i := range 4 {
		r := e.do(t, e.writer, "POST", "/v1/deployments/dep_a/threads", map[string]any{"title": fmt.Sprintf("t%d", i)})
		if r.status != 201 {
			t.Fatalf("create thread: %d %s", r.status, r.body)
		}
		var th struct {
			ThreadID string `json:"thread_id"`
		}
		_ = json.Unmarshal(r.body, &th)
		want = append([]string{th.ThreadID}, want...)
	}
	want = append(want, e.thread)
	for _, q := range []string{"limit=0", "limit=101", "limit=-1", "limit=ten", "limit=1.5"} {
		r := e.do(t, e.reader, "GET", "/v1/deployments/dep_a/threads?"+q, nil)
		if msg := envelope(t, r, 400, "validation_error"); !strings.Contains(msg, "limit must be an integer from 1 to 100") {
			t.Errorf("%s: %q", q, msg)
		}
	}
	for _, cur := range []string{"garbage", "thr_", "dep_a'--"} {
		r := e.do(t, e.reader, "GET", "/v1/deployments/dep_a/threads?cursor="+cur, nil)
		if msg := envelope(t, r, 400, "validation_error"); !strings.Contains(msg, "cursor") {
			t.Errorf("cursor %s: %q", cur, msg)
		}
	}
	type page struct {
		Data []struct {
			ThreadID string `json:"thread_id"`
		}
		NextCursor *string `json:"next_cursor"`
	}
	get := func(q string) page {
		t.Helper()
		r := e.do(t, e.reader, "GET", "/v1/deployments/dep_a/threads?"+q, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.body)
		}
		var p page
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(r.body, []byte(`"next_cursor":`)) {
			t.Fatalf("%s: no next_cursor in %s", q, r.body)
		}
		return p
	}
	for _, limit := range []int{1, 2, 5, 100} {
		var got []string
		q := fmt.Sprintf("limit=%d", limit)
		pages := 0
		for {
			p := get(q)
			pages++
			if len(p.Data) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(p.Data))
			}
			for _, th := range p.Data {
				got = append(got, th.ThreadID)
			}
			if p.NextCursor == nil {
				break
			}
			if len(p.Data) != limit {
				t.Fatalf("limit %d: a page of %d with a next cursor", limit, len(p.Data))
			}
			q = fmt.Sprintf("limit=%d&cursor=%s", limit, *p.NextCursor)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("limit %d: %v, want %v", limit, got, want)
		}
		if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
			t.Errorf("limit %d: %d pages, want %d (a full last page has no next cursor)", limit, pages, wantPages)
		}
	}
	if p := get(""); len(p.Data) != len(want) || p.NextCursor != nil {
		t.Errorf("default page: %d items, cursor %v", len(p.Data), p.NextCursor)
	}
	// The event log's JSON page takes up to 1000.
	r := e.do(t, e.reader, "GET", "/v1/deployments/dep_a/events?limit=1001", nil, "Accept", "application/json")
	if msg := envelope(t, r, 400, "validation_error"); !strings.Contains(msg, "limit") {
		t.Errorf("events limit 1001: %q", msg)
	}
	if r := e.do(t, e.reader, "GET", "/v1/deployments/dep_a/events?limit=1000", nil, "Accept", "application/json"); r.status != 200 || !bytes.Contains(r.body, []byte(`"next_cursor":null`)) {
		t.Errorf("events limit 1000: %d %s", r.status, r.body)
	}
}

// A body over the limit is 413 validation_error saying the limit, on
// every JSON route that takes one, idempotent or not; one at the limit is
// read.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 2048
	e := newAPIEnv(t, Config{MaxBodyBytes: limit})
	over := `{"title":"` + strings.Repeat("x", limit) + `"}`
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/deployments/dep_a/threads"},
		{"PATCH", "/v1/deployments/dep_a/threads/" + e.thread},
		{"POST", "/v1/deployments/dep_a/messages"},
		{"PATCH", "/v1/deployments/dep_a"},
		{"POST", "/v1/deployments"},
		{"POST", "/v1/api_keys"},
	} {
		for _, h := range [][]string{nil, {"Idempotency-Key", "k-" + c.method + c.path}} {
			r := e.do(t, e.admin, c.method, c.path, over, h...)
			if msg := envelope(t, r, 413, "validation_error"); !strings.Contains(msg, "2048") && !strings.Contains(msg, "2 KiB") {
				t.Errorf("%s %s %v: %q does not say the limit", c.method, c.path, h, msg)
			}
		}
	}
	// Exactly at the limit: read, and answered on its merits.
	at := `{"title":"` + strings.Repeat("x", limit-len(`{"title":""}`)) + `"}`
	if len(at) != limit {
		t.Fatal(len(at))
	}
	r := e.do(t, e.admin, "PATCH", "/v1/deployments/dep_a/threads/"+e.thread, at)
	if msg := envelope(t, r, 400, "validation_error"); !strings.Contains(msg, "title") {
		t.Errorf("at the limit: %q", msg)
	}
}

// Idempotency keys belong to the API key that used them: another key with
// the same Idempotency-Key makes its own request; a retry with the same key
// and body replays the answer; another body is 409; other methods ignore it.
func TestIdempotencyPerKey(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, Config{})
	body := map[string]any{"title": "Holiday"}
	post := func(key string, body any) apiResponse {
		return e.do(t, key, "POST", "/v1/deployments/dep_a/threads", body, "Idempotency-Key", "same")
	}
	a := post(e.writer, body)
	b := post(e.writer, body)
	c := post(e.admin, body)
	if a.status != 201 || b.status != 201 || c.status != 201 {
		t.Fatalf("statuses %d %d %d", a.status, b.status, c.status)
	}
	if string(a.body) != string(b.body) || b.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry not replayed:\n%s\n%s", a.body, b.body)
	}
	if string(c.body) == string(a.body) || c.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another API key got the first key's answer: %s", c.body)
	}
	if r := post(e.writer, map[string]any{"title": "Other"}); envelope(t, r, 409, "conflict") == "" {
		t.Fatal()
	}
	// Only POSTs are made idempotent: a PATCH with the header is simply
	// done.
	r := e.do(t, e.writer, "PATCH", "/v1/deployments/dep_a/threads/"+e.thread, map[string]any{"title": "x"}, "Idempotency-Key", "same")
	if r.status != 200 || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("PATCH with an Idempotency-Key: %d %s", r.status, r.body)
	}
	threads, err := e.store.ListThreads(context.Background(), "dep_a", herm.Page{Limit: 10})
	if err != nil || len(threads) != 3 {
		t.Fatalf("%d threads (%v), want the default and one per API key", len(threads), err)
	}
}

// waitUntil calls cond every millisecond until it holds, and fails the
// test, saying what it waited for, after 30 s.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 30s waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
