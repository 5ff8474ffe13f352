package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/hermhq/herm/internal/herm"
)

// Listener wraps the server's listener so that the errors net/http answers
// by itself, before any handler runs, get the error envelope and an
// X-Request-Id like every other error: a malformed request line, a bad
// %-escape in the path, a NUL or other control character in a header, a
// missing or bad Host, headers too large, an unknown transfer encoding (all
// written straight to the connection as plain text), and an Expect other
// than 100-continue (an empty 417).
func (s *Server) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, s: s} }

type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, s: l.s}, nil
}

// conn rewrites net/http's own error responses as they are written.
type conn struct {
	net.Conn
	s *Server
}

// plainHeaders are the headers net/http's connection-level error responses
// have, and only they: handlers' responses always carry Date and
// X-Request-Id, and their headers are sorted (Connection before
// Content-Type).
const plainHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *conn) Write(b []byte) (int, error) {
	if status, reason, ok := ownError(b); ok {
		if _, err := c.Conn.Write(c.s.envelopeResponse(status, reason)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// ownError recognises a response net/http wrote by itself: a whole
// "HTTP/1.1 <status> <text>" with the plain headers (one write, as
// net/http's fmt.Fprintf makes it), or a 417 without a request id.
func ownError(b []byte) (status int, reason string, ok bool) {
	rest, found := bytes.CutPrefix(b, []byte("HTTP/1.1 "))
	if !found || len(rest) < 4 {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(rest[:3]))
	if err != nil || status < 400 {
		return 0, "", false
	}
	line, headers, found := bytes.Cut(rest, []byte("\r\n"))
	if !found {
		return 0, "", false
	}
	if bytes.HasPrefix(headers, []byte(plainHeaders[2:])) {
		body := string(headers[len(plainHeaders)-2:])
		// "400 Bad Request: missing required Host header" (the line says
		// it again as the body), or a bare status whose body has the detail.
		_, why, _ := strings.Cut(string(line[3:]), ": ")
		if why == "" && !strings.HasPrefix(body, string(line[:3])) {
			why = body
		}
		return status, why, true
	}
	if status == http.StatusExpectationFailed && !bytes.Contains(bytes.ToLower(headers), []byte("\r\nx-request-id:")) && !bytes.HasPrefix(bytes.ToLower(headers), []byte("x-request-id:")) {
		return status, "expectation", true
	}
	return 0, "", false
}

// envelopeResponse is the whole response for an error net/http refused a
// request with, in the contract's envelope.
func (s *Server) envelopeResponse(status int, why string) []byte {
	var msg string
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		msg = "the request's headers are too large"
	case status == http.StatusNotImplemented:
		msg = "the request's Transfer-Encoding is not supported (only chunked is)"
	case status == http.StatusExpectationFailed:
		msg = "Expect: only 100-continue is supported"
	case status == http.StatusHTTPVersionNotSupported:
		msg = "only HTTP/1.0 and HTTP/1.1 are supported"
	case strings.Contains(why, "Host"):
		msg = "malformed request: " + why + " (HTTP/1.1 requests need one valid Host header)"
	case strings.Contains(why, "header"):
		msg = "malformed request: " + why + " (header names and values must not hold control characters such as NUL)"
	default:
		msg = "malformed request: the request line or a header is not valid HTTP (a % in the path not followed by two hex digits, say, or a control character such as NUL in a header)"
	}
	rid := s.ids.New(herm.PrefixRequest)
	code := herm.EInvalid
	if status >= 500 && status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported {
		code = herm.EInternal
	}
	body := encodeJSON(ErrorBody{Error: ErrorDetail{Code: code, Message: msg, RequestID: rid}})
	s.logger.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("route", "malformed"), slog.Int("status", status), slog.String("request_id", rid), slog.String("err", why))
	s.metrics.Request("UNKNOWN", "malformed", status, 0)
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nX-Request-Id: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), rid, len(body), body)
}

// uncleanPath answers a request whose path has empty, "." or ".."
// segments with a 400 (net/http's router would redirect it to the cleaned
// path, outside the contract), and reports whether it did.
func (s *Server) uncleanPath(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.EscapedPath()
	if !strings.HasPrefix(p, "/") || cleanPath(p) == p {
		return false
	}
	s.outer("unmatched", 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, herm.Errorf(herm.EInvalid, "path %q has empty, . or .. segments: ask for the path itself", r.URL.Path))
	})).ServeHTTP(w, r)
	return true
}

// cleanPath is what net/http's router redirects a path to: path.Clean,
// keeping a trailing slash.
func cleanPath(p string) string {
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}
