package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// hostAddrs is a fixed list of "this host's" addresses.
func hostAddrs(addrs ...string) func() ([]netip.Addr, error) {
	return func() ([]netip.Addr, error) {
		out := make([]netip.Addr, len(addrs))
		for i, a := range addrs {
			out[i] = netip.MustParseAddr(a)
		}
		return out, nil
	}
}

// Every notation and range: the kind refused without private networks,
// and whether it stays refused with them.
func TestCheckHostNoDNS(t *testing.T) {
	t.Parallel()
	strict := New(Options{HostAddrs: hostAddrs("93.184.216.34", "2606:2800:21f::1")})
	lax := New(Options{AllowPrivate: true, HostAddrs: hostAddrs("93.184.216.34", "2606:2800:21f::1")})
	tests := []struct {
		host string
		want Kind // 0: allowed
	}{
		// IPv4 notations.
		{"127.0.0.1", Loopback},
		{"127.8.9.10", Loopback},
		{"2130706433", Loopback},
		{"0x7f000001", Loopback},
		{"0X7F000001", Loopback},
		{"0177.0.0.1", Loopback},
		{"0177.1", Loopback},
		{"127.1", Loopback},
		{"127.0.1", Loopback},
		{"0x7f.0.0.1", Loopback},
		{"0x7f.0x0.0x0.0x1", Loopback},
		{"017700000001", Loopback},
		{"010.0.0.1", Private}, // octal 8.0.0.1, but decimal 10.0.0.1 elsewhere
		{"１２７．０．０．１", Loopback},
		{"127.0.0.1.", Loopback},
		{"%31%32%37.0.0.1", Loopback},
		{"0", Unspecified},
		{"0.0.0.0", Unspecified},
		{"0.1.2.3", Unspecified},
		// IPv4 ranges.
		{"10.0.0.1", Private},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"192.168.1.1", Private},
		{"100.64.0.1", CGNAT},
		{"100.127.255.254", CGNAT},
		{"169.254.169.254", Metadata},
		{"169.254.170.2", Metadata},
		{"100.100.100.200", Metadata},
		{"192.0.0.192", Metadata},
		{"168.63.129.16", Metadata},
		{"0xa9fea9fe", Metadata},
		{"169.254.1.1", LinkLocal},
		{"192.0.0.8", Reserved},
		{"198.18.0.1", Reserved},
		{"198.19.255.1", Reserved},
		{"203.0.113.5", Reserved},
		{"240.0.0.1", Reserved},
		{"224.0.0.1", Multicast},
		{"239.255.255.250", Multicast},
		{"255.255.255.255", Broadcast},
		// IPv6.
		{"::1", Loopback},
		{"[::1]", Loopback},
		{"0:0:0:0:0:0:0:1", Loopback},
		{"::", Unspecified},
		{"fe80::1", LinkLocal},
		{"fe80::1%eth0", LinkLocal},
		{"[fe80::1%25eth0]", LinkLocal},
		{"fc00::1", Private},
		{"fd12:3456::1", Private},
		{"fec0::1", SiteLocal},
		{"ff02::1", Multicast},
		{"2001:db8::1", Reserved},
		{"100::1", Reserved},
		{"4000::1", Reserved},
		{"fd00:ec2::254", Metadata},
		{"[FD00:EC2::254]", Metadata},
		// IPv6 forms that embed IPv4.
		{"::ffff:127.0.0.1", Loopback},
		{"::ffff:7f00:1", Loopback},
		{"[::ffff:10.0.0.1]", Private},
		{"::ffff:169.254.169.254", Metadata},
		{"::127.0.0.1", Loopback},      // IPv4-compatible
		{"::ffff:0:10.0.0.1", Private}, // SIIT
		{"64:ff9b::10.0.0.1", Private}, // NAT64
		{"64:ff9b::a9fe:a9fe", Metadata},
		{"64:ff9b:1::1", Private},                         // local-use NAT64
		{"2002:a00:1::1", Private},                        // 6to4
		{"2002:7f00:1::", Loopback},                       // 6to4
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", Private}, // Teredo, client 10.0.0.1
		{"2001:0:7f00:1:8000:63bf:3fff:fdd2", Loopback},   // Teredo, server 127.0.0.1
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", 0},       // Teredo, public both ends
		{"64:ff9b::808:808", 0},                           // NAT64 of 8.8.8.8
		{"2002:808:808::1", 0},                            // 6to4 of 8.8.8.8
		{"2606:4700:4700::1111", 0},                       // public
		{"::ffff:8.8.8.8", 0},                             // mapped public
		// The host's own addresses.
		{"93.184.216.34", Host},
		{"::ffff:93.184.216.34", Host},
		{"64:ff9b::5db8:d822", Host},
		{"2606:2800:21f::1", Host},
		// Names.
		{"localhost", Loopback},
		{"LOCALHOST", Loopback},
		{"LocalHost.", Loopback},
		{"api.localhost", Loopback},
		{"localhost.localdomain", Loopback},
		{"ip6-localhost", Loopback},
		{"ｌｏｃａｌｈｏｓｔ", Loopback},
		{"metadata.google.internal", Metadata},
		{"METADATA.GOOGLE.INTERNAL.", Metadata},
		{"metadata", Metadata},
		{"instance-data", Metadata},
		{"metadata.goog", Metadata},
		// Allowed.
		{"8.8.8.8", 0},
		{"134744072", 0}, // 8.8.8.8
		{"172.32.0.1", 0},
		{"100.128.0.1", 0},
		{"169.253.255.255", 0},
		{"example.com", 0},
		{"1.2.3.4.5", 0}, // a name
		{"10.0.0.1.nip.io", 0},
		{"notlocalhost", 0},
		{"metadata.example.com", 0},
	}
	for _, tt := range tests {
		err := strict.CheckHostNoDNS(tt.host)
		var ge *Error
		switch {
		case tt.want == 0 && err != nil:
			t.Errorf("%q refused: %v", tt.host, err)
		case tt.want != 0 && !errors.As(err, &ge):
			t.Errorf("%q allowed, want refused as %s", tt.host, tt.want)
		case tt.want != 0 && ge.Kind != tt.want:
			t.Errorf("%q refused as %s (%v), want %s", tt.host, ge.Kind, err, tt.want)
		}
		// With private networks allowed only metadata and link-local stay.
		err = lax.CheckHostNoDNS(tt.host)
		if tt.want.Always() != (err != nil) {
			t.Errorf("%q with private networks allowed: %v", tt.host, err)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	g := New(Options{HostAddrs: hostAddrs("93.184.216.34")})
	for host, want := range map[string]string{
		"10.0.0.1":                 "10.0.0.1 is a private address",
		"0x7f000001":               "0x7f000001 is 127.0.0.1, a loopback address",
		"[::ffff:10.0.0.1]":        "::ffff:10.0.0.1 embeds 10.0.0.1, a private address",
		"64:ff9b::a00:1":           "64:ff9b::a00:1 embeds 10.0.0.1, a private address",
		"169.254.169.254":          "169.254.169.254 is a cloud metadata address",
		"metadata.google.internal": "metadata.google.internal is a cloud metadata host",
		"LOCALHOST":                "localhost is a loopback name",
		"93.184.216.34":            "93.184.216.34 is an address of this server's own host",
		"100.64.0.1":               "100.64.0.1 is a carrier-grade NAT address",
	} {
		if err := g.CheckHostNoDNS(host); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", host, err, want)
		}
	}
	e := &Error{Host: "api.example", Addr: netip.MustParseAddr("64:ff9b::a00:1"), Embedded: netip.MustParseAddr("10.0.0.1"), Resolved: true, Kind: Private}
	if got, want := e.Error(), "api.example resolves to 64:ff9b::a00:1, which embeds 10.0.0.1, a private address"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	g := New(Options{HostAddrs: hostAddrs()})
	for raw, want := range map[string]string{
		"https://LOCALHOST/x":                 "localhost is a loopback name",
		"https://127.1/x":                     "127.1 is 127.0.0.1, a loopback address",
		"https://0x7f000001:8443/x":           "0x7f000001 is 127.0.0.1, a loopback address",
		"http://[::ffff:169.254.169.254]/":    "::ffff:169.254.169.254 embeds 169.254.169.254, a cloud metadata address",
		"https://user@10.0.0.1/":              "10.0.0.1 is a private address",
		"https://metadata.google.internal./x": "metadata.google.internal is a cloud metadata host",
		"https://[fe80::1%25eth0]:80/":        "fe80::1%eth0 is fe80::1, a link-local address",
	} {
		if err := g.CheckURL(context.Background(), raw); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
	}
	for _, raw := range []string{"https://8.8.8.8/", "::not a url", "https:///nohost"} {
		if err := g.CheckURL(context.Background(), raw); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

// ownAddr returns an address of one of this machine's interfaces that is
// not loopback or link-local.
func ownAddr(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsMulticast() && !a.IsUnspecified() {
			return a
		}
	}
	t.Skip("this machine has no non-loopback interface address")
	return netip.Addr{}
}

// The machine's own interface addresses are refused as the host's, when
// checked and when dialled, whatever range they are in.
func TestOwnInterfaceAddress(t *testing.T) {
	t.Parallel()
	own := ownAddr(t)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(own, 0).String())
	if err != nil {
		t.Skipf("cannot listen on %s: %v", own, err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	g := New(Options{})
	var ge *Error
	if err := g.CheckHostNoDNS(own.String()); !errors.As(err, &ge) || ge.Kind != Host {
		t.Fatalf("check %s: %v, want refused as the host's", own, err)
	}
	_, err = g.DialContext(context.Background(), "tcp", ln.Addr().String())
	if !errors.As(err, &ge) || ge.Kind != Host {
		t.Fatalf("dial %s: %v, want refused as the host's", ln.Addr(), err)
	}
	if !strings.Contains(err.Error(), "an address of this server's own host") {
		t.Errorf("message %q", err)
	}
	select {
	case <-accepted:
		t.Fatal("the listener got a connection")
	case <-time.After(50 * time.Millisecond):
	}
	// The operator's switch lifts the rule.
	c, err := New(Options{AllowPrivate: true}).DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("with private networks allowed: %v", err)
	}
	c.Close()
}

// The host's addresses are listed again once the last list is old.
func TestHostAddrsRefresh(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	var current atomic.Value
	current.Store("93.184.216.34")
	g := New(Options{HostAddrs: func() ([]netip.Addr, error) {
		calls.Add(1)
		return []netip.Addr{netip.MustParseAddr(current.Load().(string))}, nil
	}})
	if g.CheckAddr(netip.MustParseAddr("93.184.216.34")) == nil {
		t.Fatal("the host's address was allowed")
	}
	current.Store("8.8.4.4")
	if g.CheckAddr(netip.MustParseAddr("8.8.4.4")) != nil {
		t.Fatal("the list was read again at once (it is kept for a second)")
	}
	time.Sleep(hostAddrsTTL + 100*time.Millisecond)
	if g.CheckAddr(netip.MustParseAddr("8.8.4.4")) == nil {
		t.Fatal("a new address of the host was allowed after a second")
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("listed %d times", n)
	}
}

// fakeDNS answers A and AAAA queries with *answer (nx.test.: NXDOMAIN).
func fakeDNS(t *testing.T, answer *atomic.Value) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if err := m.Unpack(buf[:n]); err != nil || len(m.Questions) != 1 {
				continue
			}
			q := m.Questions[0]
			resp := dnsmessage.Message{Header: dnsmessage.Header{ID: m.ID, Response: true, Authoritative: true, RecursionAvailable: true}, Questions: m.Questions}
			if strings.EqualFold(q.Name.String(), "nx.test.") {
				resp.RCode = dnsmessage.RCodeNameError
			} else {
				a := answer.Load().(netip.Addr)
				h := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET}
				switch {
				case q.Type == dnsmessage.TypeA && a.Is4():
					h.Type = dnsmessage.TypeA
					resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: a.As4()}})
				case q.Type == dnsmessage.TypeAAAA && a.Is6():
					h.Type = dnsmessage.TypeAAAA
					resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
				}
			}
			out, err := resp.Pack()
			if err == nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// DNS rebinding: a name that resolved to a public address when it was
// checked and resolves to a private one when dialled is refused at the dial.
func TestDNSRebinding(t *testing.T) {
	t.Parallel()
	var answer atomic.Value
	answer.Store(netip.MustParseAddr("93.184.216.34"))
	res := fakeDNS(t, &answer)
	g := New(Options{Resolver: res, HostAddrs: hostAddrs()})
	ctx := context.Background()
	if err := g.CheckHost(ctx, "rebind.test"); err != nil {
		t.Fatalf("check while public: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	answer.Store(netip.MustParseAddr("127.0.0.1"))
	_, err = g.DialContext(ctx, "tcp", net.JoinHostPort("rebind.test", port))
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != Loopback {
		t.Fatalf("dial after rebinding: %v, want refused as loopback", err)
	}
	if want := "rebind.test resolves to 127.0.0.1, a loopback address"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	// The name was dialled through the resolver: allowed, it connects.
	c, err := New(Options{Resolver: res, AllowPrivate: true}).DialContext(ctx, "tcp", net.JoinHostPort("rebind.test", port))
	if err != nil {
		t.Fatalf("dial with private networks allowed: %v", err)
	}
	c.Close()

	// At check time a name that resolves to a refused address is refused.
	if err := g.CheckHost(ctx, "Rebind.Test."); err == nil || err.Error() != "rebind.test resolves to 127.0.0.1, a loopback address" {
		t.Errorf("check while private: %v", err)
	}
	answer.Store(netip.MustParseAddr("fd00:ec2::254"))
	if err := New(Options{Resolver: res, AllowPrivate: true}).CheckURL(ctx, "https://rebind.test/"); err == nil || !strings.Contains(err.Error(), "a cloud metadata address") {
		t.Errorf("metadata by name with private networks allowed: %v", err)
	}
	// A name that does not resolve is accepted now, checked when dialled.
	if err := g.CheckHost(ctx, "nx.test"); err != nil {
		t.Errorf("a name that does not resolve: %v", err)
	}
}

// The transport's connections are checked; it uses no proxy.
func TestTransport(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ts.Close()
	tr := New(Options{}).Transport()
	if tr.Proxy != nil {
		t.Error("the transport uses a proxy")
	}
	_, err := (&http.Client{Transport: tr}).Get(ts.URL)
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != Loopback {
		t.Fatalf("get %s: %v", ts.URL, err)
	}
	resp, err := (&http.Client{Transport: New(Options{AllowPrivate: true}).Transport()}).Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := New(Options{}).Control("tcp", "not-an-address", nil); err == nil {
		t.Error("Control allowed an address that does not parse")
	}
}

// Addresses of the host that are on no interface (an elastic IP behind
// NAT) are refused when the operator names them, as IPs or names; and
// lifted with the private networks.
func TestHostNames(t *testing.T) {
	t.Parallel()
	g := New(Options{HostAddrs: hostAddrs(), HostNames: []string{"52.1.2.3", " [2606:4700::6810:84e5] ", "localhost"}})
	for _, a := range []string{"52.1.2.3", "2606:4700::6810:84e5"} {
		if err := g.CheckAddr(netip.MustParseAddr(a)); err == nil {
			t.Errorf("%s, an address of the host, was allowed", a)
		}
	}
	if err := g.CheckAddr(netip.MustParseAddr("93.184.216.34")); err != nil {
		t.Errorf("another address was refused: %v", err)
	}
	open := New(Options{AllowPrivate: true, HostAddrs: hostAddrs(), HostNames: []string{"93.184.216.34"}})
	if err := open.CheckAddr(netip.MustParseAddr("93.184.216.34")); err != nil {
		t.Errorf("with private networks allowed: %v", err)
	}
	strict := New(Options{HostAddrs: hostAddrs(), HostNames: []string{"93.184.216.34"}})
	if err := strict.CheckAddr(netip.MustParseAddr("93.184.216.34")); err == nil || !strings.Contains(err.Error(), "host") {
		t.Errorf("a named host address: %v", err)
	}
}
