package egress

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hermhq/herm/internal/herm"
)

// tcpHost serves a proxy on a loopback port and counts the listeners it
// handed out.
type tcpHost struct {
	mu sync.Mutex
	ln []net.Listener
}

func (h *tcpHost) EgressListener() (net.Listener, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	h.mu.Lock()
	h.ln = append(h.ln, ln)
	h.mu.Unlock()
	return ln, ln.Addr().String(), nil
}

func newTestManager(t *testing.T) *Manager {
	t.Helper()
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, []byte("SYSTEM ROOTS"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &herm.Deployment{ID: "dep_1", Secrets: map[string]string{"API_TOKEN": "sec_1"}}
	return NewManager(ManagerOptions{
		Deployment:  func(context.Context, string) (*herm.Deployment, error) { return d, nil },
		Reveal:      func(context.Context, *herm.Deployment, string) (string, []string, error) { return "v", nil, nil },
		Emit:        func(*herm.Event) {},
		Key:         []byte("k"),
		SystemRoots: roots,
	})
}

// Prepare starts one proxy per deployment, writes its CA into the
// workspace and points the commands' environment at both; Close stops the
// proxies and returns only once they have stopped.
func TestManagerPrepareAndClose(t *testing.T) {
	t.Parallel()
	m := newTestManager(t)
	host := &tcpHost{}
	files := map[string]string{}
	var fmu sync.Mutex
	write := func(name string, b []byte) error {
		fmu.Lock()
		defer fmu.Unlock()
		files[name] = string(b)
		return nil
	}
	d := &herm.Deployment{ID: "dep_1", Secrets: map[string]string{"API_TOKEN": "sec_1"}}
	var env map[string]string
	for range 3 {
		var err error
		if env, err = m.Prepare(context.Background(), d, host, write); err != nil {
			t.Fatal(err)
		}
	}
	if len(host.ln) != 1 {
		t.Fatalf("%d proxies started for one deployment, want 1", len(host.ln))
	}
	addr := host.ln[0].Addr().String()
	if env["HTTPS_PROXY"] != "http://"+addr || env["SSL_CERT_FILE"] != "/workspace/.herm/ca-bundle.pem" ||
		env["API_TOKEN"] != Placeholder([]byte("k"), "dep_1", "API_TOKEN") || env["NODE_EXTRA_CA_CERTS"] != "/workspace/.herm/egress-ca.pem" {
		t.Fatalf("env %v", env)
	}
	if !strings.HasPrefix(files[".herm/ca-bundle.pem"], "SYSTEM ROOTS\n-----BEGIN CERTIFICATE-----") || !strings.HasPrefix(files[".herm/egress-ca.pem"], "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("files %v", files)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("the proxy does not listen: %v", err)
	}
	c.Close()

	// No network: placeholders only, no proxy.
	none := &herm.Deployment{ID: "dep_2", Sandbox: herm.Sandbox{Network: herm.Network{Egress: herm.EgressNone}}}
	if env, err := m.Prepare(context.Background(), none, host, write); err != nil || len(env) != 0 || len(host.ln) != 1 {
		t.Fatalf("egress none: %v %v, %d proxies", env, err, len(host.ln))
	}

	m.Close()
	// Serve has returned: the listener is closed, nothing answers.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the proxy still listens after Close")
	}
	if _, err := m.Prepare(context.Background(), &herm.Deployment{ID: "dep_3"}, host, write); !herm.IsCode(err, herm.EUnavailable) {
		t.Fatalf("Prepare after Close: %v", err)
	}
	m.Close() // twice is fine
}

// Forget stops a deployment's proxy; the next Prepare starts another.
func TestManagerForget(t *testing.T) {
	t.Parallel()
	m := newTestManager(t)
	defer m.Close()
	host := &tcpHost{}
	write := func(string, []byte) error { return nil }
	d := &herm.Deployment{ID: "dep_1"}
	if _, err := m.Prepare(context.Background(), d, host, write); err != nil {
		t.Fatal(err)
	}
	first := host.ln[0].Addr().String()
	m.Forget("dep_1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", first)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the forgotten proxy still listens")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := m.Prepare(context.Background(), d, host, write); err != nil || len(host.ln) != 2 {
		t.Fatalf("after Forget: %v, %d proxies", err, len(host.ln))
	}
}
