package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CORS: browsers on the configured origins (Config.CORSOrigins) may call
// the API. A preflight from one of them is answered with the methods and
// request headers the API uses; its other responses name it in
// Access-Control-Allow-Origin (never "*") with the response headers a
// client reads. Credentials (cookies) are never allowed: the API
// authenticates with the Authorization header, or a stream token in the
// URL. Other origins get no CORS headers at all (their preflights are
// answered as any OPTIONS request is: 405), so browsers refuse them.

const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, Range, Accept"
	// corsExposed are the response headers, beyond the CORS-safelisted
	// ones, that clients read: the request id, the rate limit's and
	// shutdown's Retry-After, idempotent replays, ranges, 405's Allow.
	corsExposed = "X-Request-Id, Retry-After, Idempotent-Replayed, Content-Range, Accept-Ranges, Allow"
	corsMaxAge  = "600"
)

// CheckOrigin checks an origin for Config.CORSOrigins and returns it as
// browsers send it: scheme://host[:port] in lower case, http or https,
// without path, query, user or a trailing slash. "*" is refused: origins
// are listed one by one.
func CheckOrigin(origin string) (string, error) {
	o := strings.ToLower(strings.TrimSpace(origin))
	u, err := url.Parse(o)
	switch {
	case o == "*" || o == "null":
		return "", fmt.Errorf("CORS origin %q: list the origins themselves, such as https://app.example.com", origin)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#"):
		return "", fmt.Errorf("CORS origin %q must be scheme://host[:port], such as https://app.example.com", origin)
	}
	return u.Scheme + "://" + u.Host, nil
}

// cors adds the CORS headers for an allowed origin, and answers its
// preflights (reporting true: nothing else is to be done).
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if len(s.origins) == 0 {
		return false
	}
	// Responses differ by Origin: caches must keep them apart.
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !s.origins[origin] {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		h.Set("Access-Control-Expose-Headers", corsExposed)
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	s.outer("preflight", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	})).ServeHTTP(w, r)
	return true
}
