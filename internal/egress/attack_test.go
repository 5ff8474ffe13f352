package egress

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// Two Content-Encoding header lines: the transport's own gzip handling undoes one and deletes both.
func TestAttackDoubleGzipHeaderLines(t *testing.T) {
	ph := Placeholder([]byte("k"), "dep_1", "API_TOKEN")
	e := setupWith(t, Config{Egress: herm.EgressProxy, Secrets: []Secret{{Env: "API_TOKEN", Value: canary, AllowedHosts: []string{"127.0.0.1"}}}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := gz(gz([]byte("token=" + r.Header.Get("Authorization"))))
		w.Header().Add("Content-Encoding", "gzip")
		w.Header().Add("Content-Encoding", "gzip")
		w.Write(body)
	}))
	roots := e.client().Transport.(*http.Transport).TLSClientConfig
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(e.proxyURL), TLSClientConfig: roots, DisableCompression: true}}
	req, _ := http.NewRequest("GET", e.upstream.URL+"/", nil)
	req.Header.Set("Authorization", ph)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	if zr, err := gzip.NewReader(bytes.NewReader(raw)); err == nil {
		b, _ := io.ReadAll(zr)
		if strings.Contains(string(b), canary) {
			t.Fatalf("LEAK: sandbox gunzipped %q", b)
		}
	}
}

// Host header inside an intercepted CONNECT tunnel is sent upstream as is.
func TestAttackHostHeaderFronting(t *testing.T) {
	ph := Placeholder([]byte("k"), "dep_1", "API_TOKEN")
	gotHost := make(chan string, 1)
	e := setupWith(t, Config{Egress: herm.EgressProxy, Secrets: []Secret{{Env: "API_TOKEN", Value: canary, AllowedHosts: []string{"127.0.0.1"}}}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost <- r.Host + " auth=" + r.Header.Get("Authorization")
	}))
	roots := e.client().Transport.(*http.Transport).TLSClientConfig
	conn, err := net.Dial("tcp", e.proxyURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	host := strings.TrimPrefix(e.upstream.URL, "https://")
	io.WriteString(conn, "CONNECT "+host+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(err, resp)
	}
	cfg := roots.Clone()
	cfg.ServerName = "127.0.0.1"
	tc := tls.Client(conn, cfg)
	io.WriteString(tc, "GET / HTTP/1.1\r\nHost: attacker-app.example\r\nAuthorization: "+ph+"\r\n\r\n")
	r2, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if h := <-gotHost; strings.HasPrefix(h, "attacker-app.example") {
		t.Fatalf("FRONTING: upstream got Host %q with the secret", h)
	}
}

// A secret never crosses the network in cleartext: a plain-HTTP request
// that carries a placeholder is refused unless the operator allows
// cleartext (local development servers).
func TestAttackSecretOverPlainHTTP(t *testing.T) {
	for _, cleartext := range []bool{false, true} {
		got := make(chan string, 1)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get("Authorization") }))
		p, err := New(Options{
			DeploymentID: "dep_1",
			Config: func(context.Context) (Config, error) {
				return Config{Egress: herm.EgressProxy, Secrets: []Secret{{Env: "API_TOKEN", Value: canary, AllowedHosts: []string{"127.0.0.1"}}}}, nil
			},
			Placeholder: func(env string) string { return Placeholder([]byte("k"), "dep_1", env) },
			Cleartext:   cleartext,
		})
		if err != nil {
			t.Fatal(err)
		}
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		ctx, cancel := context.WithCancel(context.Background())
		go p.Serve(ctx, ln)
		pu, _ := url.Parse("http://" + ln.Addr().String())
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
		req, _ := http.NewRequest("GET", up.URL+"/me", nil)
		req.Header.Set("Authorization", "Bearer "+Placeholder([]byte("k"), "dep_1", "API_TOKEN"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		select {
		case a := <-got:
			if !cleartext || a != "Bearer "+canary {
				t.Errorf("cleartext %v: the upstream got %q (status %d)", cleartext, a, resp.StatusCode)
			}
		default:
			if cleartext || resp.StatusCode < 400 {
				t.Errorf("cleartext %v: nothing reached the upstream (status %d)", cleartext, resp.StatusCode)
			}
		}
		cancel()
		up.Close()
	}
}

// A response through an intercepted host streams: the sandbox gets the
// start of a body while the upstream is still sending it (a download is
// not held whole in the server's memory), redacted, and a HEAD or 204
// has no body.
func TestInterceptedResponsesStream(t *testing.T) {
	released := make(chan bool, 1)
	release := make(chan struct{})
	e := setupWith(t, Config{Egress: herm.EgressProxy, Secrets: []Secret{{Env: "API_TOKEN", Value: canary, AllowedHosts: []string{"127.0.0.1"}}}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// (more than a value's length: redaction holds that much back)
		io.WriteString(w, "first: "+r.Header.Get("Authorization")+"\n"+strings.Repeat("y", 200))
		w.(http.Flusher).Flush()
		select {
		case <-release:
			released <- true
		case <-time.After(10 * time.Second):
			released <- false
		}
		io.WriteString(w, strings.Repeat("x", 1<<20)+"\nlast\n")
	}))
	ph := Placeholder([]byte("k"), "dep_1", "API_TOKEN")
	c := e.client()
	req, _ := http.NewRequest("GET", e.upstream.URL+"/big", nil)
	req.Header.Set("Authorization", ph)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	first, _ := br.ReadString('\n')
	close(release)
	if first != "first: [REDACTED:API_TOKEN]\n" {
		t.Fatalf("first line %q", first)
	}
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	if !<-released {
		t.Fatal("the sandbox got nothing until the upstream had sent everything")
	}
	if !strings.HasSuffix(string(rest), "\nlast\n") || len(rest) != 200+1<<20+len("\nlast\n") {
		t.Fatalf("rest: %d bytes", len(rest))
	}
	for _, m := range []string{"HEAD", "GET"} {
		path := "/big"
		if m == "GET" {
			path = "/empty"
		}
		req, _ := http.NewRequest(m, e.upstream.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", m, path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(b) != 0 {
			t.Fatalf("%s %s: body %q", m, path, b)
		}
	}
}
