package main

import (
	"net/http"
	"strings"

	webconsole "github.com/hermhq/herm/internal/console"
)

// withConsole serves the web console at /console and /console/…, and
// every other path by api. The console's files are static and public (the
// page asks for an API key and sends it only to the API).
func withConsole(api http.Handler) http.Handler {
	con := webconsole.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == webconsole.Prefix || strings.HasPrefix(r.URL.Path, webconsole.Prefix+"/") {
			con.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
