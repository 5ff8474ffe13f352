// Package egress is the sandboxes' only way out: an HTTP proxy the server
// serves inside each deployment's network namespace. It allows hosts in
// the deployment's allowlist (sandbox.network.allowed_hosts and its
// secrets' allowed_hosts), refuses private, loopback and link-local
// destinations unless the operator allows them, and records every refusal
// as an egress event.
//
// Secrets never enter the sandbox: there, each secret's environment
// variable holds a placeholder. HTTPS to a host one of the deployment's
// secrets is allowed for is intercepted with the deployment's own CA (which
// the sandbox trusts, and nothing else does): the proxy replaces the
// secret's placeholder with its value in request headers and the URL query,
// only for that secret's hosts, and replaces the value with
// [REDACTED:NAME] in what comes back. Other allowed hosts get a plain
// CONNECT tunnel.
package egress

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/secrets"
)

// Secret is one of a deployment's secrets as the proxy uses it.
type Secret struct {
	Env          string // the environment variable's name
	Value        string
	AllowedHosts []string
}

// Config is what a proxy needs to know of its deployment, asked for on
// every request (so a PATCH or a rotation applies at once).
type Config struct {
	Egress       string // none, proxy, open
	AllowedHosts []string
	Secrets      []Secret
}

// Options configure a proxy.
type Options struct {
	DeploymentID string
	// Config returns the deployment's current settings and secrets.
	Config func(ctx context.Context) (Config, error)
	// Placeholder is the stand-in for a secret inside the sandbox.
	Placeholder func(env string) string
	// Dial connects to upstreams; it must refuse private addresses unless
	// the operator allows them (default: a plain dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Audit records a refused request.
	Audit  func(host, reason string)
	Logger *slog.Logger
	// UpstreamTLS verifies upstream servers (default: the system's roots).
	UpstreamTLS *tls.Config
	// Cleartext lets a secret be filled into a plain-HTTP request (for
	// development against local servers); otherwise only HTTPS carries
	// one, and a plain-HTTP request with a placeholder is refused.
	Cleartext bool
}

// Proxy is one deployment's egress proxy.
type Proxy struct {
	opts Options
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte

	mu    sync.Mutex
	leafs map[string]*tls.Certificate
}

// New returns a proxy with a new CA of its own.
func New(opts Options) (*Proxy, error) {
	if opts.Dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		opts.Dial = d.DialContext
	}
	if opts.Audit == nil {
		opts.Audit = func(string, string) {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Herm egress CA " + opts.DeploymentID, Organization: []string{"Herm"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Proxy{opts: opts, ca: ca, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), leafs: map[string]*tls.Certificate{}}, nil
}

// CACert is the PEM of the proxy's CA, for the sandbox to trust.
func (p *Proxy) CACert() []byte { return p.pem }

// Placeholder derives a secret's stand-in: stable for a deployment and a
// variable. It need not be secret (only the deployment's own proxy replaces
// it, with that deployment's values); key separates its uses.
func Placeholder(key []byte, deploymentID, env string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(deploymentID + "\x00" + env))
	return "herm-secret-" + hex.EncodeToString(m.Sum(nil))[:32]
}

// decide says whether the proxy may connect to host, and which secrets go
// there.
func (p *Proxy) decide(ctx context.Context, host string) (bool, []Secret, string) {
	cfg, err := p.opts.Config(ctx)
	if err != nil {
		return false, nil, "the deployment's settings are unavailable"
	}
	var secrets []Secret
	for _, s := range cfg.Secrets {
		if herm.HostMatch(s.AllowedHosts, host) {
			secrets = append(secrets, s)
		}
	}
	switch cfg.Egress {
	case herm.EgressNone:
		return false, nil, "the deployment's egress policy is none"
	case herm.EgressOpen:
		return true, secrets, ""
	}
	if len(secrets) > 0 || herm.HostMatch(cfg.AllowedHosts, host) {
		return true, secrets, ""
	}
	return false, nil, "not in the deployment's allowed hosts"
}

// ServeHTTP handles CONNECT tunnels and plain-HTTP proxy requests.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if r.URL.Host == "" {
		http.Error(w, "this is Herm's egress proxy: use it as HTTP_PROXY", http.StatusBadRequest)
		return
	}
	ok, secrets, why := p.decide(r.Context(), r.URL.Hostname())
	if !ok {
		p.deny(w, r.URL.Hostname(), why)
		return
	}
	p.forward(w, r, secrets, r.URL.Scheme)
}

func (p *Proxy) deny(w http.ResponseWriter, host, why string) {
	p.opts.Audit(host, why)
	http.Error(w, "egress denied by Herm: "+host+": "+why, http.StatusForbidden)
}

// connect answers a CONNECT: a tunnel, or an interception when secrets go
// to the host.
func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		http.Error(w, "CONNECT needs host:port", http.StatusBadRequest)
		return
	}
	ok, secrets, why := p.decide(r.Context(), host)
	if !ok {
		p.deny(w, host, why)
		return
	}
	hj, isHJ := w.(http.Hijacker)
	if !isHJ {
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	if len(secrets) == 0 {
		up, err := p.opts.Dial(r.Context(), "tcp", net.JoinHostPort(host, port))
		if err != nil {
			p.deny(w, host, "cannot connect: "+err.Error())
			return
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			up.Close()
			return
		}
		_, _ = conn.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n"))
		go func() {
			if buf.Reader.Buffered() > 0 {
				b, _ := buf.Reader.Peek(buf.Reader.Buffered())
				_, _ = up.Write(b)
			}
			_, _ = io.Copy(up, conn)
			up.Close()
		}()
		_, _ = io.Copy(conn, up)
		conn.Close()
		return
	}
	// Intercept: TLS to the sandbox with a certificate from our CA, then
	// proxy each request with its secrets filled in.
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n"))
	leaf, err := p.leaf(host)
	if err != nil {
		return
	}
	tconn := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{*leaf}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
	if err := tconn.HandshakeContext(r.Context()); err != nil {
		return
	}
	br := bufio.NewReader(tconn)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		req.URL.Scheme, req.URL.Host = "https", net.JoinHostPort(host, port)
		if port == "443" {
			req.URL.Host = host
		}
		req.RequestURI = ""
		rw := newConnWriter(tconn, req.Method == http.MethodHead)
		p.forward(rw, req.WithContext(r.Context()), secrets, "https")
		rw.finish()
		if req.Close || rw.closed {
			return
		}
	}
}

// leaf returns (and caches) a certificate for host signed by the CA.
func (p *Proxy) leaf(host string) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.leafs[host]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der, p.ca.Raw}, PrivateKey: key}
	p.leafs[host] = c
	return c, nil
}

// forward sends a request upstream with the placeholders of the secrets
// allowed for its host replaced, and copies the response back with their
// values redacted.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, allowed []Secret, scheme string) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme = scheme
	for _, h := range []string{"Proxy-Authorization", "Proxy-Connection"} {
		out.Header.Del(h)
	}
	used := "" // a secret the request carries
	fill := func(s string) string {
		for _, sec := range allowed {
			if ph := p.opts.Placeholder(sec.Env); strings.Contains(s, ph) {
				s, used = strings.ReplaceAll(s, ph, sec.Value), sec.Env
			}
		}
		return s
	}
	for k, vs := range out.Header {
		for i, v := range vs {
			out.Header[k][i] = fill(v)
		}
	}
	out.URL.RawQuery = fill(out.URL.RawQuery)
	if used != "" && scheme != "https" && !p.opts.Cleartext {
		p.deny(w, r.URL.Hostname(), "a secret ("+used+") is sent only over https, and this request is plain http")
		return
	}
	// The request goes to the host it was allowed for, whatever Host
	// header came with it (a shared front end routing by Host would take a
	// secret elsewhere).
	out.Host = ""
	if len(allowed) > 0 {
		// What comes back is redacted, which needs its bytes as they are:
		// ask only for encodings the proxy decodes, and decode every one
		// the answer declares (decoded refuses any other).
		out.Header.Set("Accept-Encoding", "gzip, deflate")
	}
	tr := &http.Transport{
		DialContext:        p.opts.Dial,
		TLSClientConfig:    p.opts.UpstreamTLS,
		ForceAttemptHTTP2:  false,
		DisableCompression: true, // the transport would undo one gzip and drop every Content-Encoding line
	}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(out)
	if err != nil {
		p.deny(w, r.URL.Hostname(), "upstream failed: "+err.Error())
		return
	}
	defer resp.Body.Close()
	if len(allowed) == 0 {
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return
	}
	body, err := decoded(resp)
	if err != nil {
		p.deny(w, r.URL.Hostname(), err.Error())
		return
	}
	defer body.Close()
	values := make(map[string]string, len(allowed))
	for _, sec := range allowed {
		values[sec.Env] = sec.Value
	}
	red := secrets.NewRedactor(values)
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, red.Replace(v))
		}
	}
	// Redaction may change the length, and the body goes out decoded.
	w.Header().Del("Content-Length")
	w.Header().Del("Content-Encoding")
	w.WriteHeader(resp.StatusCode)
	stream := red.Stream()
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		_, _ = io.WriteString(w, stream.Write(string(buf[:n])))
		if err != nil {
			_, _ = io.WriteString(w, stream.Flush())
			return
		}
	}
}

// decoded returns resp's body with its Content-Encoding undone: the
// proxy must see a body's bytes to redact them. gzip and deflate are
// decoded; an encoding it cannot decode (br, zstd, ...) is refused rather
// than passed on unread.
func decoded(resp *http.Response) (io.ReadCloser, error) {
	var codings []string
	for _, v := range resp.Header.Values("Content-Encoding") {
		for _, c := range strings.Split(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	var body io.Reader = resp.Body
	for i := len(codings) - 1; i >= 0; i-- { // applied in order, undone in reverse
		switch codings[i] {
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(body)
			if err != nil {
				return nil, fmt.Errorf("upstream sent a gzip body that does not decode: %v", err)
			}
			body = zr
		case "deflate":
			// RFC 9110's deflate is zlib; some servers send raw deflate.
			br := bufio.NewReader(body)
			if h, err := br.Peek(2); err == nil && h[0]&0x0f == 8 && (uint(h[0])<<8|uint(h[1]))%31 == 0 {
				zr, err := zlib.NewReader(br)
				if err != nil {
					return nil, fmt.Errorf("upstream sent a deflate body that does not decode: %v", err)
				}
				body = zr
			} else {
				body = flate.NewReader(br)
			}
		default:
			return nil, fmt.Errorf("upstream answered with Content-Encoding %s, which the proxy cannot decode to redact secrets from it", codings[i])
		}
	}
	return struct {
		io.Reader
		io.Closer
	}{body, resp.Body}, nil
}

// connWriter is a ResponseWriter onto a raw (TLS) connection, HTTP/1.1:
// the body is streamed (chunked) as it comes, so a large download through
// an intercepted host is not held in memory.
type connWriter struct {
	w       *bufio.Writer
	head    bool // the request was HEAD: no body
	header  http.Header
	status  int
	started bool
	body    io.WriteCloser // chunked, once the header is out; nil for a bodiless answer
	err     error
	closed  bool // the connection cannot carry another request
}

func newConnWriter(conn net.Conn, head bool) *connWriter {
	return &connWriter{w: bufio.NewWriter(conn), head: head, header: http.Header{}}
}

func (c *connWriter) Header() http.Header { return c.header }
func (c *connWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

// start writes the status line and the headers.
func (c *connWriter) start() {
	if c.started {
		return
	}
	c.started = true
	if c.status == 0 {
		c.status = http.StatusOK
	}
	h := c.header.Clone()
	h.Del("Transfer-Encoding")
	bodiless := c.head || c.status == http.StatusNoContent || c.status == http.StatusNotModified || c.status < 200
	if !bodiless {
		h.Del("Content-Length")
		h.Set("Transfer-Encoding", "chunked")
	}
	fmt.Fprintf(c.w, "HTTP/1.1 %d %s\r\n", c.status, http.StatusText(c.status))
	_ = h.Write(c.w)
	_, _ = c.w.WriteString("\r\n")
	if !bodiless {
		c.body = httputil.NewChunkedWriter(c.w)
	}
}

func (c *connWriter) Write(b []byte) (int, error) {
	c.start()
	if c.err != nil {
		return 0, c.err
	}
	if c.body == nil {
		return len(b), nil
	}
	n, err := c.body.Write(b)
	if err == nil {
		err = c.w.Flush()
	}
	c.err = err
	return n, err
}

// finish ends the response.
func (c *connWriter) finish() {
	c.start()
	if c.body != nil && c.err == nil {
		if c.err = c.body.Close(); c.err == nil {
			_, c.err = c.w.WriteString("\r\n") // the end of the (empty) trailer
		}
	}
	if err := c.w.Flush(); err != nil || c.err != nil {
		c.closed = true
	}
}

// Serve serves the proxy on ln until ctx ends.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(p.opts.Logger.Handler(), slog.LevelDebug)}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	err := srv.Serve(ln)
	if err == http.ErrServerClosed {
		return nil
	}
	return fmt.Errorf("egress proxy: %w", err)
}
