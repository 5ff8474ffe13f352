package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/hermhq/herm/internal/herm"
)

const canary = "canary-value-5d41402abc4b2a76"

type env struct {
	proxy    *Proxy
	proxyURL *url.URL
	upstream *httptest.Server
	host     string
	audits   []string
	mu       sync.Mutex
	gotAuth  chan string
}

func setup(t *testing.T, cfg Config) *env {
	t.Helper()
	var e *env
	e = setupWith(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.gotAuth <- r.Header.Get("Authorization") + "|" + r.URL.Query().Get("key")
		// A careless upstream that echoes the credential.
		io.WriteString(w, "hello, your token is "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	return e
}

func setupWith(t *testing.T, cfg Config, upstream http.Handler) *env {
	t.Helper()
	e := &env{gotAuth: make(chan string, 10)}
	e.upstream = httptest.NewTLSServer(upstream)
	t.Cleanup(e.upstream.Close)
	u, _ := url.Parse(e.upstream.URL)
	e.host = u.Hostname()
	roots := x509.NewCertPool()
	roots.AddCert(e.upstream.Certificate())
	p, err := New(Options{
		DeploymentID: "dep_1",
		Config:       func(context.Context) (Config, error) { return cfg, nil },
		Placeholder:  func(env string) string { return Placeholder([]byte("k"), "dep_1", env) },
		Audit: func(host, reason string) {
			e.mu.Lock()
			e.audits = append(e.audits, host+": "+reason)
			e.mu.Unlock()
		},
		UpstreamTLS: &tls.Config{RootCAs: roots},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.proxy = p
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go p.Serve(ctx, ln)
	e.proxyURL, _ = url.Parse("http://" + ln.Addr().String())
	return e
}

// client is a sandbox's HTTP client: through the proxy, trusting the
// proxy's CA and (for tunnels) the upstream's own certificate.
func (e *env) client() *http.Client {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(e.proxy.CACert())
	roots.AddCert(e.upstream.Certificate())
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(e.proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

func TestSecretFilledOnlyForItsHostAndRedacted(t *testing.T) {
	ph := Placeholder([]byte("k"), "dep_1", "API_TOKEN")
	e := setup(t, Config{Egress: herm.EgressProxy, Secrets: []Secret{{Env: "API_TOKEN", Value: canary, AllowedHosts: []string{"127.0.0.1"}}}})
	req, _ := http.NewRequest("GET", e.upstream.URL+"/v1/me?key="+ph, nil)
	req.Header.Set("Authorization", "Bearer "+ph)
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := <-e.gotAuth; got != "Bearer "+canary+"|"+canary {
		t.Fatalf("upstream got %q", got)
	}
	if strings.Contains(string(body), canary) || !strings.Contains(string(body), "[REDACTED:API_TOKEN]") {
		t.Fatalf("the sandbox got %q", body)
	}
}

func TestDeniedHostsAreAudited(t *testing.T) {
	e := setup(t, Config{Egress: herm.EgressProxy, AllowedHosts: []string{"api.example.com"}})
	resp, err := e.client().Get(e.upstream.URL)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.audits) != 1 || !strings.Contains(e.audits[0], e.host) {
		t.Fatalf("audits %v", e.audits)
	}
	select {
	case got := <-e.gotAuth:
		t.Fatalf("a denied request reached the upstream: %q", got)
	default:
	}
}

// An allowed host with no secret gets a plain tunnel: the sandbox talks
// TLS with the upstream itself, and a placeholder stays a placeholder.
func TestTunnelForOtherAllowedHosts(t *testing.T) {
	ph := Placeholder([]byte("k"), "dep_1", "API_TOKEN")
	e := setup(t, Config{Egress: herm.EgressProxy, AllowedHosts: []string{"127.0.0.1"},
		Secrets: []Secret{{Env: "API_TOKEN", Value: canary, AllowedHosts: []string{"api.elsewhere.com"}}}})
	req, _ := http.NewRequest("GET", e.upstream.URL, nil)
	req.Header.Set("Authorization", "Bearer "+ph)
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].Equal(e.upstream.Certificate()) == false {
		t.Fatal("the tunnel was intercepted")
	}
	if got := <-e.gotAuth; got != "Bearer "+ph+"|" {
		t.Fatalf("upstream got %q: a secret went to a host it is not allowed for", got)
	}
}

func TestEgressNone(t *testing.T) {
	e := setup(t, Config{Egress: herm.EgressNone, AllowedHosts: []string{"127.0.0.1"}})
	resp, err := e.client().Get(e.upstream.URL)
	if err == nil {
		resp.Body.Close()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.audits) != 1 {
		t.Fatalf("audits %v", e.audits)
	}
}
