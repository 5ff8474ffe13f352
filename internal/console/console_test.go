package console

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHandler(t *testing.T) {
	h := Handler()
	for _, c := range []struct {
		path, ctype string
		status      int
		body        string
	}{
		{"/console/", "text/html; charset=utf-8", 200, `<script type="module" src="/console/app.js">`},
		{"/console/index.html", "text/html; charset=utf-8", 200, "<main"},
		{"/console/app.js", "text/javascript; charset=utf-8", 200, "function route"},
		{"/console/style.css", "text/css; charset=utf-8", 200, ".card"},
		{"/console/favicon.svg", "image/svg+xml", 200, "<svg"},
		// Client-side routes get the page.
		{"/console/deployments/dep_1/threads/thr_2", "text/html; charset=utf-8", 200, "<main"},
		{"/console/signin", "text/html; charset=utf-8", 200, "<main"},
		// A missing asset is not the page.
		{"/console/nope.js", "", 404, ""},
		// No way out of the embedded directory.
		{"/console/../console.go", "", 404, ""},
	} {
		w := get(t, h, "GET", c.path, nil)
		if w.Code != c.status {
			t.Errorf("%s: %d, want %d", c.path, w.Code, c.status)
			continue
		}
		if c.status != 200 {
			continue
		}
		if got := w.Header().Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s: body lacks %q", c.path, c.body)
		}
		if w.Header().Get("Cache-Control") != "no-cache" || w.Header().Get("ETag") == "" {
			t.Errorf("%s: caching headers %v", c.path, w.Header())
		}
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", c.path, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", c.path)
		}
	}

	w := get(t, h, "GET", "/console?x=1", nil)
	if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/console/?x=1" {
		t.Errorf("/console: %d %q", w.Code, w.Header().Get("Location"))
	}
	w = get(t, h, "POST", "/console/", nil)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
	first := get(t, h, "GET", "/console/app.js", nil)
	w = get(t, h, "GET", "/console/app.js", map[string]string{"If-None-Match": first.Header().Get("ETag")})
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("revalidation: %d, %d bytes", w.Code, w.Body.Len())
	}
	w = get(t, h, "HEAD", "/console/app.js", nil)
	if w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
}

// The console's sources keep to the rules its CSP and its escaping rest
// on: no inline script or style in the page, no innerHTML or other
// HTML-parsing sinks, no eval, nothing fetched from another origin.
func TestSourcesHaveNoHTMLSinks(t *testing.T) {
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|createContextualFragment|setHTMLUnsafe|https?://`)
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		src := string(b)
		switch {
		case strings.HasSuffix(p, ".js"):
			if m := sinks.FindString(src); m != "" {
				t.Errorf("%s uses %q", p, m)
			}
		case strings.HasSuffix(p, ".html"):
			if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(src) || strings.Contains(src, "<style") || regexp.MustCompile(`\son[a-z]+=`).MatchString(src) || strings.Contains(src, " style=") {
				t.Errorf("%s has inline script or style", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
