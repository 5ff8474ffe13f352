package builtin

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/netguard"
)

const testPage = `<!doctype html>
<html><head><title>Test &amp; Page</title>
<style>body { color: red }</style>
<script>var x = "SCRIPT";</script>
</head>
<body>
<nav><a href="#top">skip</a></nav>
<h1>Hello,   world</h1>
<p>Fish &amp; chips &lt;3 caf&eacute;&nbsp;au&#32;lait</p>
<script>alert("BAD")</script><noscript>NOSCRIPT</noscript>
<ul>
  <li>one</li>
  <li>two <b>bold</b></li>
</ul>
<p>a <a href="/next?q=1">relative link</a> and <a href="javascript:void(0)">js</a>.<br>next line</p>
<pre>  x = 1
  y = 2
</pre>
<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>
<svg><text>SVGTEXT</text></svg>
<div>last</div>
</body></html>`

// fetchServer serves test pages and counts requests.
func fetchServer(t testing.TB) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, testPage)
	})
	mux.HandleFunc("/sniffed", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // no type: sniffed
		io.WriteString(w, "<html><head><title>Sniffed</title></head><body><p>body text</p></body></html>")
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "line 1\n  line 2 <b>not html</b>\n")
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ua": "`+r.Header.Get("User-Agent")+`"}`)
	})
	mux.HandleFunc("/latin1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=ISO-8859-1")
		w.Write([]byte("caf\xe9"))
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<html><body><h1>Not here</h1><p>no such page</p></body></html>")
	})
	mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, strings.Repeat("E", 2000), http.StatusInternalServerError)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Repeat("a", 1000))
	})
	mux.HandleFunc("/img", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/plain", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
	})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts, &hits
}

func TestWebFetch(t *testing.T) {
	t.Parallel()
	ts, _ := fetchServer(t)
	e := newEnv(t, Options{AllowPrivateNetworks: true, MaxFetchBytes: 100})
	page := newEnv(t, Options{AllowPrivateNetworks: true})

	wantPage := "URL: " + ts.URL + "/page\n" +
		"Title: Test & Page\n" +
		"Content-Type: text/html\n\n" +
		"skip\n\n" +
		"# Hello, world\n\n" +
		"Fish & chips <3 café au lait\n\n" +
		"- one\n" +
		"- two bold\n\n" +
		"a [relative link](" + ts.URL + "/next?q=1) and js.\n" +
		"next line\n\n" +
		"  x = 1\n" +
		"  y = 2\n\n" +
		"k | v\n" +
		"a | 1\n\n" +
		"last"
	if diff := cmp.Diff(wantPage, ok(t, page.call(t, "web_fetch", map[string]any{"url": ts.URL + "/page"}))); diff != "" {
		t.Errorf("page (-want +got):\n%s", diff)
	}

	tests := []struct {
		name string
		args map[string]any
		want string
	}{
		{"sniffed html", map[string]any{"url": ts.URL + "/sniffed"}, "URL: " + ts.URL + "/sniffed\nTitle: Sniffed\nContent-Type: text/html\n\nbody text"},
		{"plain", map[string]any{"url": ts.URL + "/plain"}, "URL: " + ts.URL + "/plain\nContent-Type: text/plain\n\nline 1\n  line 2 <b>not html</b>"},
		{"json", map[string]any{"url": ts.URL + "/json"}, "URL: " + ts.URL + "/json\nContent-Type: application/json\n\n" + `{"ua": "` + fetchUserAgent + `"}`},
		{"latin1", map[string]any{"url": ts.URL + "/latin1"}, "URL: " + ts.URL + "/latin1\nContent-Type: text/plain\n\ncafé"},
		{"redirect", map[string]any{"url": ts.URL + "/redirect"}, "URL: " + ts.URL + "/plain\nContent-Type: text/plain\n\nline 1\n  line 2 <b>not html</b>"},
		{"server limit", map[string]any{"url": ts.URL + "/big"},
			"URL: " + ts.URL + "/big\nContent-Type: text/plain\n\n" + strings.Repeat("a", 100) + "\n\n[truncated: only the first 100 bytes of the response were read]"},
		{"max_bytes", map[string]any{"url": ts.URL + "/big", "max_bytes": 10},
			"URL: " + ts.URL + "/big\nContent-Type: text/plain\n\n" + strings.Repeat("a", 10) + "\n\n[truncated: only the first 10 bytes of the response were read]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ok(t, e.call(t, "web_fetch", tt.args))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	errTests := []struct {
		name string
		args map[string]any
		want string
	}{
		{"404", map[string]any{"url": ts.URL + "/missing"}, "HTTP 404 Not Found from " + ts.URL + "/missing\n# Not here\n\nno such page"},
		{"500 excerpt", map[string]any{"url": ts.URL + "/error"}, "HTTP 500 Internal Server Error from " + ts.URL + "/error\n" + strings.Repeat("E", 500) + "…"},
		{"binary", map[string]any{"url": ts.URL + "/img"}, ts.URL + "/img returned image/png content (16 bytes read), not text; web_fetch returns text only"},
		{"redirect loop", map[string]any{"url": ts.URL + "/loop"}, "stopped after 5 redirects (last to " + ts.URL + "/loop)"},
		{"redirect to file", map[string]any{"url": ts.URL + "/to?u=" + url.QueryEscape("file:///etc/passwd")}, "only http and https URLs can be fetched"},
		{"scheme", map[string]any{"url": "file:///etc/passwd"}, "url file:///etc/passwd: only http and https URLs can be fetched"},
		{"ftp", map[string]any{"url": "ftp://example.com/x"}, "only http and https URLs can be fetched"},
		{"no host", map[string]any{"url": "http:///x"}, "has no host"},
		{"bad url", map[string]any{"url": "http://a b/"}, `url "http://a b/" is not a valid URL`},
		{"missing url", map[string]any{}, "url is required"},
		{"negative max_bytes", map[string]any{"url": ts.URL, "max_bytes": -1}, "max_bytes must be positive"},
		{"connection refused", map[string]any{"url": "http://127.0.0.1:1/"}, "fetching http://127.0.0.1:1/ failed: dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			r := page.call(t, "web_fetch", tt.args)
			if !r.IsError {
				t.Fatalf("succeeded: %s", r.Content)
			}
			if tt.name == "404" || tt.name == "500 excerpt" || tt.name == "binary" {
				if diff := cmp.Diff(tt.want, r.Content); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				return
			}
			if !strings.Contains(r.Content, tt.want) {
				t.Errorf("%q does not contain %q", r.Content, tt.want)
			}
		})
	}
}

func TestWebFetchPrivateNetworks(t *testing.T) {
	t.Parallel()
	ts, hits := fetchServer(t)
	e := newEnv(t, Options{})
	u, _ := url.Parse(ts.URL)
	const note = ", and this server does not let web_fetch reach private networks or its own host"
	for target, want := range map[string]string{
		ts.URL + "/plain":                                 "url " + ts.URL + "/plain refused: 127.0.0.1 is a loopback address" + note,
		"http://localhost:" + u.Port() + "/plain":         "localhost is a loopback name" + note,
		"http://[::1]:" + u.Port() + "/plain":             "::1 is a loopback address" + note,
		"http://169.254.169.254/latest/meta-data/":        "169.254.169.254 is a cloud metadata address, and this server never connects to cloud metadata or link-local addresses",
		"http://10.0.0.1/":                                "10.0.0.1 is a private address" + note,
		"http://0x7f000001:" + u.Port() + "/":             "0x7f000001 is 127.0.0.1, a loopback address" + note,
		"http://[::ffff:127.0.0.1]:" + u.Port() + "/":     "::ffff:127.0.0.1 embeds 127.0.0.1, a loopback address" + note,
		"http://metadata.google.internal/computeMetadata": "metadata.google.internal is a cloud metadata host, and this server never",
	} {
		failed(t, e.call(t, "web_fetch", map[string]any{"url": target}), want)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests", n)
	}

	// Names that resolve to refused addresses are refused when dialled.
	c := fetchClient(Options{})
	_, err := c.Get("http://localhost.:" + u.Port() + "/plain")
	var ge *netguard.Error
	if !errors.As(err, &ge) || ge.Kind != netguard.Loopback {
		t.Errorf("dial error = %v, want the guard's refusal", err)
	}
	ge = &netguard.Error{Host: "internal.example", Resolved: true, Addr: netip.MustParseAddr("10.0.0.1"), Kind: netguard.Private}
	r, err := (&webFetch{client: c}).doErr(context.Background(), &url.URL{Scheme: "http", Host: "internal.example:80", Path: "/"}, &url.Error{Op: "Get", URL: "http://internal.example:80/", Err: ge})
	if err != nil {
		t.Fatal(err)
	}
	failed(t, r, "http://internal.example:80/ refused: internal.example resolves to 10.0.0.1, a private address"+note)
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests", n)
	}

	// A custom transport is kept as is; a client's timeout is kept.
	custom := &http.Client{Timeout: 7, Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("custom") })}
	if c := fetchClient(Options{HTTPClient: custom}); c.Timeout != 7 || c == custom {
		t.Errorf("fetchClient changed the timeout or did not copy the client")
	}
	plain := &http.Client{Timeout: 9, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	if c := fetchClient(Options{HTTPClient: plain}); c.Timeout != 9 || c.Transport.(*http.Transport).Proxy != nil || plain.Transport.(*http.Transport).Proxy == nil {
		t.Errorf("fetchClient did not copy the transport without its proxy")
	}
	if c := fetchClient(Options{}); c.Timeout != DefaultFetchTimeout {
		t.Errorf("default timeout = %v", c.Timeout)
	}
}

// web_fetch does not reach the server's own host: an address of one of its
// interfaces (which would reach the API, a database, a container engine
// listening on all interfaces) is refused, even when it is not private.
func TestWebFetchOwnHost(t *testing.T) {
	t.Parallel()
	addrs, err := netguard.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var own netip.Addr
	for _, a := range addrs {
		if !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsMulticast() {
			own = a
			break
		}
	}
	if !own.IsValid() {
		t.Skip("this machine has no non-loopback interface address")
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(own, 0).String())
	if err != nil {
		t.Skipf("cannot listen on %s: %v", own, err)
	}
	var hits atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "the host's own service")
	}))
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	defer ts.Close()
	target := "http://" + ln.Addr().String() + "/"
	failed(t, newEnv(t, Options{}).call(t, "web_fetch", map[string]any{"url": target}), own.String()+" is an address of this server's own host")
	// The dialer refuses it too (a name that resolves to it gets there).
	var ge *netguard.Error
	if _, err := fetchClient(Options{}).Get(target); !errors.As(err, &ge) || ge.Kind != netguard.Host {
		t.Errorf("dial: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the host's service got %d requests", n)
	}
	// The operator's switch lifts the rule.
	if got := ok(t, newEnv(t, Options{AllowPrivateNetworks: true}).call(t, "web_fetch", map[string]any{"url": target})); !strings.HasSuffix(got, "the host's own service") {
		t.Errorf("with private networks allowed: %q", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWebFetchEgress(t *testing.T) {
	t.Parallel()
	ts, hits := fetchServer(t)
	u, _ := url.Parse(ts.URL)
	e := newEnv(t, Options{AllowPrivateNetworks: true})

	e.dep.Sandbox.Network = herm.Network{Egress: herm.EgressNone}
	failed(t, e.call(t, "web_fetch", map[string]any{"url": ts.URL + "/plain"}), `the deployment's egress policy (sandbox.network.egress "none") allows no outbound access`)
	// The default policy, proxy with no allowed hosts, reaches nothing.
	e.dep.Sandbox.Network = herm.Network{Egress: herm.EgressProxy}
	failed(t, e.call(t, "web_fetch", map[string]any{"url": ts.URL + "/plain"}), `the deployment's egress policy (proxy) has no allowed hosts`)
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests", n)
	}

	e.dep.Sandbox.Network = herm.Network{Egress: herm.EgressProxy, AllowedHosts: []string{"example.com", "*.example.org"}}
	failed(t, e.call(t, "web_fetch", map[string]any{"url": ts.URL + "/plain"}),
		"host 127.0.0.1 is not in the deployment's allowed hosts (sandbox.network.allowed_hosts: example.com, *.example.org)")
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests", n)
	}

	e.dep.Sandbox.Network = herm.Network{Egress: herm.EgressProxy, AllowedHosts: []string{"127.0.0.1"}}
	if got := ok(t, e.call(t, "web_fetch", map[string]any{"url": ts.URL + "/plain"})); !strings.HasSuffix(got, "line 1\n  line 2 <b>not html</b>") {
		t.Errorf("allowed host: %q", got)
	}
	// Every redirect is checked too.
	to := "http://localhost:" + u.Port() + "/plain"
	failed(t, e.call(t, "web_fetch", map[string]any{"url": ts.URL + "/to?u=" + url.QueryEscape(to)}),
		"redirected to "+to+", which is refused: host localhost is not in the deployment's allowed hosts")
	e.dep.Sandbox.Network.AllowedHosts = []string{"127.0.0.1", "LOCALHOST."}
	if got := ok(t, e.call(t, "web_fetch", map[string]any{"url": ts.URL + "/to?u=" + url.QueryEscape(to)})); !strings.HasPrefix(got, "URL: "+to+"\n") {
		t.Errorf("redirect to an allowed host: %q", got)
	}
	// Without private networks, a redirect to a private address is refused.
	priv := newEnv(t, Options{})
	priv.dep.Sandbox.Network.AllowedHosts = []string{"127.0.0.1"}
	failed(t, priv.call(t, "web_fetch", map[string]any{"url": ts.URL + "/plain"}), "this server does not let web_fetch reach private networks")
}

func TestHostAllowed(t *testing.T) {
	t.Parallel()
	hosts := []string{"api.example.com", "*.example.org", "10.1.2.3", "[2001:db8::1]"}
	for host, want := range map[string]bool{
		"api.example.com":   true,
		"example.com":       false,
		"x.api.example.com": false,
		"a.example.org":     true,
		"a.b.example.org":   true,
		"example.org":       false,
		"badexample.org":    false,
		"10.1.2.3":          true,
		"2001:db8::1":       true,
	} {
		if got := hostAllowed(hosts, host); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://example.com/dir/page.html")
	tests := []struct {
		in, title, text string
	}{
		{"<p>a</p><p>b</p>", "", "a\n\nb"},
		{"<title> T  1 </title><p>x</p>", "T 1", "x"},
		{"<div>a<div>b</div>c</div>", "", "a\nb\nc"},
		{"a<br><br><br>b", "", "a\n\nb"},
		{"<p>  lots \n\t of   space  </p>", "", "lots of space"},
		{"<a href='x.html'>rel</a> <a href='https://example.com/x.html'>https://example.com/x.html</a>", "", "[rel](https://example.com/dir/x.html) https://example.com/x.html"},
		{"<a href='mailto:a@b'>mail</a> <a href='/y'><img src=i></a>", "", "mail"},
		{"<h2>Sub</h2>text", "", "## Sub\n\ntext"},
		{"<pre>a\n\n  b</pre>after", "", "a\n\n  b\n\nafter"},
		{"&lt;tag&gt; &quot;q&quot; &#x263A; &copy;", "", "<tag> \"q\" ☺ ©"},
		{"<template><p>T</p></template><iframe>F</iframe><select><option>O</select>visible", "", "visible"},
		{"unclosed <p>para <b>bold", "", "unclosed\n\npara bold"},
	}
	for _, tt := range tests {
		title, text := htmlToText(tt.in, base)
		if title != tt.title || text != tt.text {
			t.Errorf("htmlToText(%q) = %q, %q; want %q, %q", tt.in, title, text, tt.title, tt.text)
		}
	}
}

// A download asked for over https does not follow a redirect to http.
func TestDownloadRefusesHTTPSDowngrade(t *testing.T) {
	t.Parallel()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tampered") }))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, "fine")
			return
		}
		http.Redirect(w, r, plain.URL+"/skill", http.StatusFound)
	}))
	defer tls.Close()
	dl := NewDownloader(Options{AllowPrivateNetworks: true, HTTPClient: tls.Client()})
	if b, _, err := dl.Download(context.Background(), nil, tls.URL+"/ok", 100); err != nil || string(b) != "fine" {
		t.Fatalf("https download: %q %v", b, err)
	}
	if b, _, err := dl.Download(context.Background(), nil, tls.URL+"/skill", 100); err == nil || !strings.Contains(err.Error(), "redirect from https") {
		t.Fatalf("downgrade followed: %q %v", b, err)
	}
}
