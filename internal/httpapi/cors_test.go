package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

func TestCheckOrigin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://app.example.com":      "https://app.example.com",
		" HTTPS://App.Example.com/ ":   "https://app.example.com",
		"http://localhost:5173":        "http://localhost:5173",
		"https://[::1]:8443":           "https://[::1]:8443",
		"*":                            "",
		"null":                         "",
		"app.example.com":              "",
		"ftp://app.example.com":        "",
		"https://app.example.com/path": "",
		"https://user@app.example.com": "",
		"https://app.example.com?x=1":  "",
		"https://app.example.com#frag": "",
		"https://":                     "",
		"":                             "",
	} {
		got, err := CheckOrigin(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("CheckOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	const app = "https://app.example.com"
	e := newAPIEnv(t, Config{CORSOrigins: []string{app, "http://localhost:5173"}})
	preflight := func(origin, method, path string) apiResponse {
		return e.do(t, "", "OPTIONS", path, nil, "Origin", origin, "Access-Control-Request-Method", method,
			"Access-Control-Request-Headers", "authorization,content-type,idempotency-key")
	}
	noCORS := func(what string, r apiResponse) {
		t.Helper()
		for k := range r.header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: %s: %s", what, k, r.header.Get(k))
			}
		}
	}

	// A preflight from a listed origin: the methods and headers the API uses.
	for _, path := range []string{"/v1/deployments", "/v1/deployments/dep_a/events", "/v1/deployments/dep_a/files"} {
		r := preflight(app, "POST", path)
		h := r.header
		if r.status != 204 || h.Get("Access-Control-Allow-Origin") != app || h.Get("X-Request-Id") == "" {
			t.Fatalf("preflight %s: %d %v", path, r.status, h)
		}
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Methods"), m) {
				t.Errorf("methods %q lack %s", h.Get("Access-Control-Allow-Methods"), m)
			}
		}
		for _, name := range []string{"Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "Range"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Headers"), name) {
				t.Errorf("headers %q lack %s", h.Get("Access-Control-Allow-Headers"), name)
			}
		}
		if h.Get("Access-Control-Allow-Credentials") != "" || h.Get("Access-Control-Max-Age") == "" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("preflight headers %v", h)
		}
	}

	// A request from it: the origin, never *, and the headers clients read.
	r := e.do(t, e.reader, "GET", "/v1/deployments/dep_a/threads", nil, "Origin", app)
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != app || r.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("GET from %s: %d %v", app, r.status, r.header)
	}
	for _, name := range []string{"X-Request-Id", "Retry-After", "Idempotent-Replayed", "Content-Range"} {
		if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), name) {
			t.Errorf("exposed %q lacks %s", r.header.Get("Access-Control-Expose-Headers"), name)
		}
	}
	// Errors too (a browser must read the envelope).
	r = e.do(t, "", "GET", "/v1/deployments/dep_a/threads", nil, "Origin", "http://localhost:5173")
	envelope(t, r, 401, "unauthorized")
	if r.header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("401 from a listed origin: %v", r.header)
	}

	// Other origins get nothing: not the preflight, not the request.
	for _, origin := range []string{"https://evil.example.com", "https://app.example.com.evil.com", "http://app.example.com", "null", "*"} {
		r := preflight(origin, "POST", "/v1/deployments")
		noCORS("preflight from "+origin, r)
		if r.status == 204 {
			t.Errorf("preflight from %s: 204", origin)
		}
		noCORS("GET from "+origin, e.do(t, e.reader, "GET", "/v1/deployments/dep_a/threads", nil, "Origin", origin))
	}

	// A server without origins sends no CORS header at all.
	plain := newAPIEnv(t, Config{})
	r = plain.do(t, "", "OPTIONS", "/v1/deployments", nil, "Origin", app, "Access-Control-Request-Method", "POST")
	noCORS("no origins", r)
	if r.status != http.StatusMethodNotAllowed || len(r.header.Values("Vary")) != 0 {
		t.Errorf("OPTIONS without origins: %d %v", r.status, r.header)
	}
}
