package httpapi

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// deadlines bounds how long a client may stall a request without limiting
// how long a slow one may take: each read of the body must bring something
// within BodyTimeout (a 50 MiB upload on a slow link works, half a body
// followed by silence ends the request and its connection), and each write
// of the response must be taken within WriteTimeout (a large download or an
// event stream lasts as long as the client reads it; a client that stops
// reading is let go). The server's own ReadTimeout and WriteTimeout set the
// first deadlines; these extend them while the client keeps up.
func (s *Server) deadlines(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, io.ReadCloser) {
	rc := http.NewResponseController(w)
	body := r.Body
	if d := s.cfg.BodyTimeout; d > 0 && body != nil && body != http.NoBody {
		body = &deadlineBody{ReadCloser: body, rc: rc, timeout: d}
	}
	if d := s.cfg.WriteTimeout; d > 0 {
		w = &deadlineWriter{ResponseWriter: w, rc: rc, timeout: d}
	}
	return w, body
}

// deadlineBody moves the connection's read deadline before each read of
// the body, until the body ends: then net/http reads the connection itself
// (to notice a client that goes away) and the deadline must stay clear.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	done    bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.done = true
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = herm.Errorf(herm.EInvalid, "the request body stopped arriving (nothing came for %s)", b.timeout).WithErr(err)
		}
	}
	return n, err
}

// deadlineWriter moves the connection's write deadline before each write
// of the response.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *deadlineWriter) WriteHeader(code int) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
