// Package console is Herm's web console: a few plain ES modules, a style
// sheet and one HTML page, embedded in the binary and served at /console/.
// It has no build step (go build on a fresh checkout serves it) and talks
// only to the server's own HTTP API, same-origin, with the API key the
// user signs in with; every string the server returns is set as text,
// never as HTML, and the Content-Security-Policy allows only the
// console's own scripts and styles.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// Prefix is the path the console is served under.
const Prefix = "/console"

//go:embed static
var static embed.FS

// csp allows the console's own files and same-origin API calls only: no
// inline script or style, no eval, no frames, no plugins, no form posts
// elsewhere.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"

// Handler serves the console: its files under /console/, /console
// redirected to /console/, and index.html for any other path under it
// (the console's own routes, which it reads from location on load).
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above; it cannot be missing
	}
	return &handler{files: files}
}

type handler struct {
	files fs.FS
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == Prefix {
		target := Prefix + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	name := path.Clean("/" + rest)[1:]
	if name == "" {
		name = "index.html"
	}
	b, err := fs.ReadFile(h.files, name)
	if err != nil {
		if path.Ext(name) != "" {
			// A missing asset is a 404, not the page: a typo in a
			// module's import must fail loudly.
			http.NotFound(w, r)
			return
		}
		name = "index.html"
		b, err = fs.ReadFile(h.files, name)
		if err != nil {
			http.Error(w, "console missing", http.StatusInternalServerError)
			return
		}
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js", ".mjs":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".html":
		ctype = "text/html; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	hd.Set("Content-Type", ctype)
	// The files change with the binary, and their names do not: a browser
	// revalidates each time (cheap, by ETag), so an upgraded server is never
	// paired with a stale module.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", etag(b))
	if match := r.Header.Get("If-None-Match"); match != "" && match == hd.Get("ETag") {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}

// etag is a strong validator of a file's content.
func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}
