package httpapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// Stream tokens let a browser's EventSource, which cannot send headers,
// open a deployment's event stream: POST .../events/tokens (with an API key
// that may read the deployment) returns a token that GET .../events accepts
// as ?access_token= for streamTokenTTL, and that nothing else accepts.
//
// A token is the vault's sealing (AES-256-GCM under a key derived from the
// master key; opened by any of the master keys during a rotation) of the
// minting key's hash and the expiry, bound to the deployment as associated
// data: it can be neither read, nor changed, nor moved to another
// deployment, and it says nothing about the key to whoever sees the URL.
// Each use looks the key up again by its hash, so a token stops working
// when its key is revoked (or deleted), and a key limited to one customer
// reaches only that customer's deployment. A stream already open goes on
// (as one opened with the key's header does); its token's expiry or the
// key's revocation refuses the next connection. The query parameter is
// removed from the request before the handler sees it, and the access log
// records paths, never queries.

// streamTokenTTL is how long a stream token opens streams.
const streamTokenTTL = 10 * time.Minute

// streamTokenPrefix starts every stream token.
const streamTokenPrefix = "hst_"

// accessTokenParam is the query parameter that carries a stream token.
const accessTokenParam = "access_token"

// eventsPath and sessionStreamPath are the routes that accept stream
// tokens: a deployment's event stream, a session's.
const (
	eventsPath        = "/v1/deployments/{deployment_id}/events"
	sessionStreamPath = "/v1/sessions/{session_id}/events/stream"
)

// acceptsStreamToken reports whether a route takes a stream token.
func acceptsStreamToken(method, path string) bool {
	return method == http.MethodGet && (path == eventsPath || path == sessionStreamPath)
}

// streamSubject is what a request's stream token must be bound to: its
// deployment or its session (their ids never collide: dep_… and sesn_…).
func streamSubject(r *http.Request) string {
	if id := r.PathValue("deployment_id"); id != "" {
		return id
	}
	return r.PathValue("session_id")
}

// StreamToken is a minted stream token.
type StreamToken struct {
	Token        string    `json:"token" doc:"Pass as ?access_token= to GET /v1/deployments/{deployment_id}/events (this deployment's only)."`
	DeploymentID string    `json:"deployment_id"`
	ExpiresAt    time.Time `json:"expires_at" doc:"After this, the token opens no stream (a stream already open goes on)."`
	ExpiresIn    int       `json:"expires_in" doc:"Seconds until expires_at (600)."`
	URL          string    `json:"url" doc:"The event stream's URL with the token, for new EventSource(url); add after=<event id> to resume."`
}

// SessionStreamToken is a minted stream token of a session.
type SessionStreamToken struct {
	Token     string    `json:"token" doc:"Pass as ?access_token= to GET /v1/sessions/{session_id}/events/stream (this session's only)."`
	SessionID string    `json:"sessionId"`
	ExpiresAt time.Time `json:"expiresAt" doc:"After this, the token opens no stream (a stream already open goes on)."`
	ExpiresIn int       `json:"expiresIn" doc:"Seconds until expiresAt (600)."`
	URL       string    `json:"url" doc:"The session's stream URL with the token, for new EventSource(url); add after=<sequence> to resume."`
}

// streamTokenAD binds a token to its deployment or session.
func streamTokenAD(subject string) string { return "herm stream token v1:" + subject }

// mintStreamToken seals the request's key and an expiry for subject.
func (s *Server) mintStreamToken(r *http.Request, subject string) (string, time.Time, error) {
	if s.vault == nil {
		return "", time.Time{}, herm.Errorf(herm.EUnavailable, "stream tokens need the secrets vault, which this server has not configured")
	}
	key := apiKey(r.Context())
	exp := s.now().UTC().Add(streamTokenTTL).Truncate(time.Second)
	sealed := s.vault.Seal(streamTokenAD(subject), key.Hash+" "+strconv.FormatInt(exp.Unix(), 10))
	return streamTokenPrefix + base64.RawURLEncoding.EncodeToString(sealed), exp, nil
}

func (s *Server) createStreamToken(w http.ResponseWriter, r *http.Request) error {
	d, err := s.deployment(r)
	if err != nil {
		return err
	}
	tok, exp, err := s.mintStreamToken(r, d.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, StreamToken{
		Token: tok, DeploymentID: d.ID, ExpiresAt: exp, ExpiresIn: int(streamTokenTTL / time.Second),
		URL: strings.TrimRight(s.base(r), "/") + "/v1/deployments/" + d.ID + "/events?" + accessTokenParam + "=" + url.QueryEscape(tok),
	})
	return nil
}

func (s *Server) createSessionStreamToken(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.agents.Session(r.Context(), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	tok, exp, err := s.mintStreamToken(r, sess.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, SessionStreamToken{
		Token: tok, SessionID: sess.ID, ExpiresAt: exp, ExpiresIn: int(streamTokenTTL / time.Second),
		URL: strings.TrimRight(s.base(r), "/") + "/v1/sessions/" + sess.ID + "/events/stream?" + accessTokenParam + "=" + url.QueryEscape(tok),
	})
	return nil
}

// streamTokenKey returns the live key that minted tok for the request's
// deployment or session. Every failure is the same 401, which never quotes the token.
func (s *Server) streamTokenKey(r *http.Request, tok string) (*herm.APIKey, error) {
	bad := herm.Errorf(herm.EUnauthorized, "invalid or expired stream token (access_token); mint another with POST /v1/deployments/{deployment_id}/events/tokens (or /v1/sessions/{session_id}/events/tokens)")
	raw, ok := strings.CutPrefix(tok, streamTokenPrefix)
	if !ok || s.vault == nil {
		return nil, bad
	}
	sealed, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, bad
	}
	payload, err := s.vault.Open(streamTokenAD(streamSubject(r)), sealed)
	if err != nil {
		return nil, bad
	}
	hash, expText, ok := strings.Cut(payload, " ")
	exp, err := strconv.ParseInt(expText, 10, 64)
	if !ok || err != nil || !s.now().Before(time.Unix(exp, 0)) {
		return nil, bad
	}
	key, err := s.store.APIKeyByHash(r.Context(), hash)
	if herm.IsCode(err, herm.ENotFound) || (err == nil && key.RevokedAt != nil) {
		return nil, herm.Errorf(herm.EUnauthorized, "the API key that minted this stream token was revoked")
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}

// withoutAccessToken removes the stream token from a request's URL, so
// that nothing after authentication can log or echo it.
func withoutAccessToken(r *http.Request) {
	q := r.URL.Query()
	q.Del(accessTokenParam)
	r.URL.RawQuery = q.Encode()
	r.RequestURI = r.URL.RequestURI()
}
