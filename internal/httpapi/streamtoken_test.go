package httpapi

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// mint mints a stream token for dep with key.
func (e *apiEnv) mint(t *testing.T, key, dep string) StreamToken {
	t.Helper()
	r := e.do(t, key, "POST", "/v1/deployments/"+dep+"/events/tokens", nil)
	if r.status != 201 {
		t.Fatalf("mint for %s: %d %s", dep, r.status, r.body)
	}
	var tok StreamToken
	if err := json.Unmarshal(r.body, &tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

// stream asks for dep's events (the JSON page: the same route and
// authentication as the stream) with a token and no key.
func (e *apiEnv) stream(t *testing.T, dep, tok string, header ...string) apiResponse {
	t.Helper()
	return e.do(t, "", "GET", "/v1/deployments/"+dep+"/events?limit=5&access_token="+url.QueryEscape(tok), nil, append([]string{"Accept", "application/json"}, header...)...)
}

func TestStreamTokens(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, Config{})
	ctx := context.Background()
	now := time.Now().UTC()
	b := &herm.Deployment{ID: "dep_b", CustomerID: "cus_b", Name: "n", Runtime: "hermes", Model: "demo/demo", SystemPrompt: "p",
		Status: herm.DeploymentReady, ConfigVersion: 1, ThreadID: "thr_b", CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateDeployment(ctx, b, &herm.Thread{ID: "thr_b", DeploymentID: "dep_b", Title: "Default", IsDefault: true, CreatedAt: now, LastActivityAt: now}); err != nil {
		t.Fatal(err)
	}
	var seen []string // every token minted, to look for in the log

	tok := e.mint(t, e.reader, "dep_a")
	seen = append(seen, tok.Token)
	if !strings.HasPrefix(tok.Token, streamTokenPrefix) || tok.DeploymentID != "dep_a" || tok.ExpiresIn != 600 ||
		time.Until(tok.ExpiresAt) > 10*time.Minute+time.Second || time.Until(tok.ExpiresAt) < 9*time.Minute ||
		!strings.HasSuffix(tok.URL, "/v1/deployments/dep_a/events?access_token="+url.QueryEscape(tok.Token)) {
		t.Fatalf("token %+v", tok)
	}
	if r := e.stream(t, "dep_a", tok.Token); r.status != 200 {
		t.Fatalf("the token on its stream: %d %s", r.status, r.body)
	}

	refused := func(what string, r apiResponse, status int, code string) {
		t.Helper()
		envelope(t, r, status, code)
		for _, s := range seen {
			if strings.Contains(string(r.body), s) || strings.Contains(string(r.body), s[8:40]) {
				t.Errorf("%s: the response quotes the token: %s", what, r.body)
			}
		}
	}

	// A token for A on B's stream, with either deployment's name in the path.
	refused("A's token on B", e.stream(t, "dep_b", tok.Token), 401, "unauthorized")

	// On any other endpoint, with or without a key besides.
	for _, rt := range e.srv.routes() {
		if rt.scope == "" || acceptsStreamToken(rt.method, rt.path) {
			continue
		}
		path := fillPath(rt.path, "dep_a") + "?access_token=" + url.QueryEscape(tok.Token)
		refused(rt.method+" "+rt.path, e.do(t, "", rt.method, path, map[string]any{}), 401, "unauthorized")
		refused(rt.method+" "+rt.path+" with a key", e.do(t, e.admin, rt.method, path, map[string]any{}), 401, "unauthorized")
	}
	// Nor on a session's stream.
	refused("A's token on a session", e.do(t, "", "GET", "/v1/sessions/sesn_a/events/stream?access_token="+url.QueryEscape(tok.Token), nil), 401, "unauthorized")
	// Not with the key's header too, nor twice.
	refused("token and header", e.stream(t, "dep_a", tok.Token, "Authorization", "Bearer "+e.reader), 400, "validation_error")
	refused("twice", e.do(t, "", "GET", "/v1/deployments/dep_a/events?access_token="+url.QueryEscape(tok.Token)+"&access_token="+url.QueryEscape(tok.Token), nil, "Accept", "application/json"), 400, "validation_error")

	// Tampered: each part of it, truncated, an API key in its place.
	raw := strings.TrimPrefix(tok.Token, streamTokenPrefix)
	for i := 0; i < len(raw); i += 7 {
		c := byte('A')
		if raw[i] == 'A' {
			c = 'B'
		}
		bad := streamTokenPrefix + raw[:i] + string(c) + raw[i+1:]
		refused("tampered", e.stream(t, "dep_a", bad), 401, "unauthorized")
	}
	for _, bad := range []string{"", raw, streamTokenPrefix, tok.Token[:len(tok.Token)-4], "hst_!!!", e.reader, "hst_" + strings.Repeat("A", 200)} {
		refused("bad token "+bad, e.stream(t, "dep_a", bad), 401, "unauthorized")
	}

	// After its key is revoked (or deleted: the same).
	gone, goneSecret, _ := e.keys.Create(ctx, "gone", []string{herm.ScopeRead}, "")
	goneTok := e.mint(t, goneSecret, "dep_a")
	seen = append(seen, goneTok.Token)
	if r := e.stream(t, "dep_a", goneTok.Token); r.status != 200 {
		t.Fatalf("before the revocation: %d %s", r.status, r.body)
	}
	if err := e.keys.Revoke(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	refused("revoked key", e.stream(t, "dep_a", goneTok.Token), 401, "unauthorized")

	// A customer's key: its own customer's deployment only, to mint and to use.
	_, custB, _ := e.keys.Create(ctx, "frontend b", []string{herm.ScopeRead}, "cus_b")
	refused("cus_b mints for dep_a", e.do(t, custB, "POST", "/v1/deployments/dep_a/events/tokens", nil), 404, "not_found")
	tokB := e.mint(t, custB, "dep_b")
	seen = append(seen, tokB.Token)
	if r := e.stream(t, "dep_b", tokB.Token); r.status != 200 {
		t.Fatalf("cus_b's token on dep_b: %d %s", r.status, r.body)
	}
	refused("cus_b's token on dep_a", e.stream(t, "dep_a", tokB.Token), 401, "unauthorized")

	// A token does not mint tokens (so it cannot be extended).
	refused("a token minting", e.do(t, "", "POST", "/v1/deployments/dep_a/events/tokens?access_token="+url.QueryEscape(tok.Token), nil), 401, "unauthorized")

	// Expired: ten minutes later.
	if r := e.stream(t, "dep_a", tok.Token); r.status != 200 {
		t.Fatalf("still valid: %d %s", r.status, r.body)
	}
	e.clock.advance(10*time.Minute + time.Second)
	refused("expired", e.stream(t, "dep_a", tok.Token), 401, "unauthorized")

	// Where no key is asked for, the token is no use, and not logged either.
	for _, path := range []string{"/healthz", "/openapi.yaml", "/v1/nope", "/v1/deployments/dep_a/events/x"} {
		if r := e.do(t, "", "GET", path+"?access_token="+url.QueryEscape(tok.Token), nil); r.status == 401 || strings.Contains(string(r.body), tok.Token) {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}

	// None of this reached the log, in any form.
	logs := e.logs.String()
	if !strings.Contains(logs, "/v1/deployments/dep_a/events") {
		t.Fatalf("the requests are not in the log:\n%s", logs)
	}
	for _, s := range seen {
		for _, form := range []string{s, url.QueryEscape(s), s[8:40]} {
			if strings.Contains(logs, form) {
				t.Fatalf("a stream token in the log:\n%s", logs)
			}
		}
	}
	if strings.Contains(logs, "access_token") {
		t.Fatalf("access_token in the log:\n%s", logs)
	}
}

// Without a vault there are no stream tokens: minting says so.
func TestStreamTokenNeedsVault(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, Config{})
	e.srv.vault = nil
	envelope(t, e.do(t, e.reader, "POST", "/v1/deployments/dep_a/events/tokens", nil), 503, "unavailable")
	envelope(t, e.do(t, e.reader, "POST", "/v1/deployments/dep_nope/events/tokens", nil), 404, "not_found")
}
