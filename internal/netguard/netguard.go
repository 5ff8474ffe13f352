// Package netguard is the one place that decides whether this server may
// connect somewhere on someone else's behalf: web_fetch, attachments and
// url skills, webhooks, MCP servers and the sandboxes' egress proxy all ask
// a Guard, when a URL is set (CheckURL, CheckHost: a 400 naming the field)
// and again when they connect (DialContext, Control: on the address
// actually dialled, so a name that resolves elsewhere later — DNS
// rebinding — gains nothing).
//
// Refused: cloud metadata services (names and addresses) and link-local
// addresses, always; loopback, unspecified, private (RFC 1918, ULA),
// carrier-grade NAT, multicast, broadcast and reserved addresses, and every
// address of this server's own host (its interfaces), unless the operator
// allows private networks. An address is recognised in every notation a
// parser may accept (2130706433, 0x7f000001, 0177.0.0.1, 127.1, full-width
// digits, IPv6 forms that embed an IPv4 address), and a name that resolves
// is refused when any of its addresses is.
package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind is why an address or name is refused.
type Kind int

// Kinds of refused destinations.
const (
	Metadata    Kind = iota + 1 // a cloud metadata service: always refused
	LinkLocal                   // 169.254.0.0/16, fe80::/10: always refused
	Loopback                    // 127.0.0.0/8, ::1, localhost
	Unspecified                 // 0.0.0.0/8, ::
	Host                        // an address of this server's own host
	Private                     // 10/8, 172.16/12, 192.168/16, fc00::/7 (and local-use NAT64)
	CGNAT                       // 100.64.0.0/10
	SiteLocal                   // fec0::/10
	Multicast                   // 224.0.0.0/4, ff00::/8
	Broadcast                   // 255.255.255.255
	Reserved                    // special-purpose ranges (240/4, 198.18/15, documentation, ...)
)

// String describes the kind of an address: "a private address".
func (k Kind) String() string {
	switch k {
	case Metadata:
		return "a cloud metadata address"
	case LinkLocal:
		return "a link-local address"
	case Loopback:
		return "a loopback address"
	case Unspecified:
		return "an unspecified address"
	case Host:
		return "an address of this server's own host"
	case Private:
		return "a private address"
	case CGNAT:
		return "a carrier-grade NAT address"
	case SiteLocal:
		return "a site-local address"
	case Multicast:
		return "a multicast address"
	case Broadcast:
		return "the broadcast address"
	case Reserved:
		return "a reserved address"
	}
	return "a refused address"
}

// Always reports whether the kind is refused even when private networks
// are allowed.
func (k Kind) Always() bool { return k == Metadata || k == LinkLocal }

// Error is a refused destination. Its message says why:
// "10.0.0.1 is a private address", "api.example resolves to 10.0.0.1, a
// private address", "metadata.google.internal is a cloud metadata host".
type Error struct {
	// Host is the name or literal asked for ("" when only an address was
	// checked).
	Host string
	// Addr is the refused address; invalid when the name itself is refused.
	Addr netip.Addr
	// Embedded is the IPv4 address that Addr embeds (IPv4-mapped, NAT64,
	// 6to4, Teredo, ...) when that is what is refused.
	Embedded netip.Addr
	// Resolved: Host is a name that resolved to Addr.
	Resolved bool
	Kind     Kind
}

// Always reports whether the destination is refused even when private
// networks are allowed (cloud metadata, link-local).
func (e *Error) Always() bool { return e.Kind.Always() }

func (e *Error) Error() string {
	if !e.Addr.IsValid() {
		what := "a refused host name"
		switch e.Kind {
		case Metadata:
			what = "a cloud metadata host"
		case Loopback:
			what = "a loopback name"
		}
		return e.Host + " is " + what
	}
	kind := e.Kind.String()
	addr := e.Addr.String()
	if e.Host == "" || e.Host == addr {
		if e.Embedded.IsValid() {
			return addr + " embeds " + e.Embedded.String() + ", " + kind
		}
		return addr + " is " + kind
	}
	verb := " is "
	if e.Resolved {
		verb = " resolves to "
	}
	if e.Embedded.IsValid() {
		return e.Host + verb + addr + ", which embeds " + e.Embedded.String() + ", " + kind
	}
	return e.Host + verb + addr + ", " + kind
}

// Options configure a Guard. The zero value refuses private networks.
type Options struct {
	// AllowPrivate lifts every rule but the metadata and link-local ones
	// (HERM_ALLOW_PRIVATE_NETWORKS, for development and private setups).
	AllowPrivate bool
	// HostAddrs lists the addresses of this server's own host (default:
	// the addresses of its network interfaces). It is asked again when
	// its last answer is older than a second.
	HostAddrs func() ([]netip.Addr, error)
	// HostNames are more of the host's own addresses that are on no
	// interface (a cloud's public or elastic IP behind NAT): IP addresses,
	// or names resolved at most once a minute. They are refused like the
	// interfaces' addresses. (Not a shared front end's address: that would
	// refuse every site behind it.)
	HostNames []string
	// Resolver resolves names, at check time and when dialling (default:
	// net.DefaultResolver).
	Resolver *net.Resolver
	// LookupTimeout bounds a check's name resolution (default 3 s); a name
	// that does not resolve in time is accepted and checked when dialled.
	LookupTimeout time.Duration
	// DialTimeout bounds a connection (default 10 s).
	DialTimeout time.Duration
}

// hostAddrsTTL is how long the host's addresses are taken as known.
const hostAddrsTTL = time.Second

// Guard decides whether the server may connect to a destination. It is safe
// for concurrent use.
type Guard struct {
	opts     Options
	metadata map[netip.Addr]bool
	v4, v6   []rangeKind

	mu      sync.Mutex
	hostAt  time.Time
	hostSet map[netip.Addr]bool
	namesAt time.Time
	named   []netip.Addr // HostNames resolved
}

type rangeKind struct {
	p netip.Prefix
	k Kind
}

// New returns a Guard.
func New(opts Options) *Guard {
	if opts.HostAddrs == nil {
		opts.HostAddrs = InterfaceAddrs
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.LookupTimeout <= 0 {
		opts.LookupTimeout = 3 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	g := &Guard{opts: opts, metadata: map[netip.Addr]bool{}}
	for _, a := range []string{
		"169.254.169.254", // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, Hetzner, ...
		"169.254.170.2",   // AWS ECS task metadata
		"169.254.170.23",  // AWS EKS pod identity
		"169.254.0.23",    // Tencent Cloud
		"100.100.100.200", // Alibaba Cloud
		"192.0.0.192",     // Oracle Cloud (legacy)
		"168.63.129.16",   // Azure wire server
		"fd00:ec2::254",   // AWS (IPv6)
		"fd00:ec2::23",    // AWS EKS pod identity (IPv6)
	} {
		g.metadata[netip.MustParseAddr(a)] = true
	}
	add := func(list *[]rangeKind, k Kind, prefixes ...string) {
		for _, p := range prefixes {
			*list = append(*list, rangeKind{netip.MustParsePrefix(p), k})
		}
	}
	// Order matters: the first match names the kind; Host is checked after
	// loopback and unspecified (see classify).
	add(&g.v4, LinkLocal, "169.254.0.0/16")
	add(&g.v4, Loopback, "127.0.0.0/8")
	add(&g.v4, Unspecified, "0.0.0.0/8")
	add(&g.v4, Private, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
	add(&g.v4, CGNAT, "100.64.0.0/10")
	add(&g.v4, Multicast, "224.0.0.0/4")
	add(&g.v4, Broadcast, "255.255.255.255/32")
	add(&g.v4, Reserved,
		"240.0.0.0/4",     // reserved for future use
		"192.0.0.0/24",    // IETF protocol assignments
		"198.18.0.0/15",   // benchmarking
		"192.0.2.0/24",    // documentation
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
	)
	add(&g.v6, LinkLocal, "fe80::/10")
	add(&g.v6, Private, "fc00::/7", "64:ff9b:1::/48") // ULA; local-use NAT64
	add(&g.v6, SiteLocal, "fec0::/10")
	add(&g.v6, Multicast, "ff00::/8")
	add(&g.v6, Reserved,
		"100::/64",      // discard-only
		"2001:db8::/32", // documentation
		"3fff::/20",     // documentation
		"2001:2::/48",   // benchmarking
		"2001:10::/28",  // ORCHID
		"2001:20::/28",  // ORCHIDv2
	)
	return g
}

// AllowPrivate reports whether private networks are allowed.
func (g *Guard) AllowPrivate() bool { return g.opts.AllowPrivate }

// InterfaceAddrs returns the addresses of the host's network interfaces.
func InterfaceAddrs() ([]netip.Addr, error) {
	list, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(list))
	for _, a := range list {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, addr.Unmap())
		}
	}
	return out, nil
}

// isHost reports whether ip is an address of this server's own host. When
// the host's addresses cannot be listed, the last list known is used.
func (g *Guard) isHost(ip netip.Addr) bool {
	if g.opts.AllowPrivate {
		return false // the rule is lifted: no need to list the interfaces
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.hostSet == nil || time.Since(g.hostAt) > hostAddrsTTL {
		if len(g.opts.HostNames) > 0 && (g.named == nil || time.Since(g.namesAt) > hostNamesTTL) {
			g.named, g.namesAt = g.resolveHostNames(), time.Now()
		}
		if list, err := g.opts.HostAddrs(); err == nil || g.hostSet == nil {
			set := make(map[netip.Addr]bool, len(list)+len(g.named))
			for _, a := range slices.Concat(list, g.named) {
				set[a.Unmap().WithZone("")] = true
			}
			g.hostSet = set
		}
		g.hostAt = time.Now()
	}
	return g.hostSet[ip]
}

// hostNamesTTL is how long HostNames' addresses are taken as known.
const hostNamesTTL = time.Minute

// resolveHostNames returns the addresses of HostNames (g.mu held; a name
// that does not resolve now adds nothing until it does).
func (g *Guard) resolveHostNames() []netip.Addr {
	out := []netip.Addr{}
	for _, h := range g.opts.HostNames {
		h = strings.Trim(strings.TrimSpace(h), "[]")
		if ip, err := netip.ParseAddr(h); err == nil {
			out = append(out, ip)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), g.opts.LookupTimeout)
		ips, err := g.opts.Resolver.LookupNetIP(ctx, "ip", h)
		cancel()
		if err == nil {
			out = append(out, ips...)
		}
	}
	return out
}

// classify returns why ip is refused (0: it is not), and the embedded IPv4
// address that decided it, if any. Private networks are not considered.
func (g *Guard) classify(ip netip.Addr) (Kind, netip.Addr) {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		k, _ := g.classify(ip.Unmap())
		return k, ip.Unmap()
	}
	if g.metadata[ip] {
		return Metadata, netip.Addr{}
	}
	if ip.Is4() {
		return g.classify4(ip), netip.Addr{}
	}
	switch {
	case ip == netip.IPv6Loopback():
		return Loopback, netip.Addr{}
	case ip == netip.IPv6Unspecified():
		return Unspecified, netip.Addr{}
	}
	for _, v4 := range embedded(ip) {
		if k := g.classify4(v4); k != 0 {
			return k, v4
		}
	}
	for _, r := range g.v6 {
		if r.p.Contains(ip) {
			return r.k, netip.Addr{}
		}
	}
	if g.isHost(ip) {
		return Host, netip.Addr{}
	}
	if !netip.MustParsePrefix("2000::/3").Contains(ip) && len(embedded(ip)) == 0 {
		return Reserved, netip.Addr{} // not global unicast
	}
	return 0, netip.Addr{}
}

func (g *Guard) classify4(ip netip.Addr) Kind {
	if g.metadata[ip] {
		return Metadata
	}
	var k Kind
	for _, r := range g.v4 {
		if r.p.Contains(ip) {
			k = r.k
			break
		}
	}
	switch k {
	case Metadata, LinkLocal, Loopback, Unspecified:
		return k
	}
	if g.isHost(ip) {
		return Host
	}
	return k
}

// embedded returns the IPv4 addresses an IPv6 address carries and reaches
// through a translation or tunnel: IPv4-compatible (::a.b.c.d), SIIT
// (::ffff:0:a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo
// (2001::/32: its server and its client).
func embedded(ip netip.Addr) []netip.Addr {
	b := ip.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte(b[i : i+4])) }
	switch {
	case netip.MustParsePrefix("::/96").Contains(ip),
		netip.MustParsePrefix("::ffff:0:0:0/96").Contains(ip),
		netip.MustParsePrefix("64:ff9b::/96").Contains(ip):
		return []netip.Addr{v4(12)}
	case netip.MustParsePrefix("2002::/16").Contains(ip):
		return []netip.Addr{v4(2)}
	case netip.MustParsePrefix("2001::/32").Contains(ip):
		client := [4]byte{b[12] ^ 0xff, b[13] ^ 0xff, b[14] ^ 0xff, b[15] ^ 0xff}
		return []netip.Addr{v4(4), netip.AddrFrom4(client)}
	}
	return nil
}

// CheckAddr reports whether the server may connect to ip (nil) or why not
// (an *Error).
func (g *Guard) CheckAddr(ip netip.Addr) error {
	k, emb := g.classify(ip)
	if k == 0 || g.opts.AllowPrivate && !k.Always() {
		return nil
	}
	return &Error{Addr: ip.WithZone(""), Embedded: emb, Kind: k}
}

// Normalize returns host as it is compared: without brackets, a zone's
// escaping, trailing dots or upper case, and with full-width characters
// folded to ASCII.
func Normalize(host string) string {
	h := strings.TrimSpace(host)
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if u, err := url.PathUnescape(h); err == nil {
		h = u
	}
	h = foldWidth(h)
	return strings.TrimRight(strings.ToLower(h), ".")
}

// foldWidth maps full-width forms (１２７．０．０．１, ｌｏｃａｌｈｏｓｔ) and
// ideographic full stops to ASCII, as IDNA does before a lookup.
func foldWidth(s string) string {
	if isASCII(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			return r - 0xFEE0
		case r == 0x3002 || r == 0xFF61:
			return '.'
		}
		return r
	}, s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Literal returns the addresses host stands for when it is an IP address in
// any notation: IPv6 (bracketed or not, with a zone or not), dotted IPv4,
// and the forms of inet_aton and URL parsers (2130706433, 0x7f000001,
// 0177.0.0.1, 127.1). A part with a leading zero is read both as octal and
// as decimal, since parsers differ.
func Literal(host string) []netip.Addr {
	h := Normalize(host)
	if ip, err := netip.ParseAddr(h); err == nil {
		return []netip.Addr{ip}
	}
	return ipv4Forms(h)
}

func ipv4Forms(s string) []netip.Addr {
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return nil
	}
	c := make([]uint64, len(parts)) // as C reads them (octal with a leading 0)
	d := make([]uint64, len(parts)) // leading zeros as decimal
	differ := false
	for i, p := range parts {
		v, err := parseIPv4Part(p)
		if err != nil {
			return nil
		}
		c[i], d[i] = v, v
		if len(p) > 1 && p[0] == '0' && p[1] != 'x' && p[1] != 'X' {
			if dv, err := strconv.ParseUint(p, 10, 32); err == nil && dv != v {
				d[i], differ = dv, true
			}
		}
	}
	var out []netip.Addr
	if a, ok := joinIPv4(c); ok {
		out = append(out, a)
	}
	if differ {
		if a, ok := joinIPv4(d); ok && (len(out) == 0 || a != out[0]) {
			out = append(out, a)
		}
	}
	return out
}

func parseIPv4Part(p string) (uint64, error) {
	switch {
	case p == "":
		return 0, errors.New("empty")
	case len(p) >= 2 && (p[:2] == "0x" || p[:2] == "0X"):
		if len(p) == 2 {
			return 0, nil
		}
		return strconv.ParseUint(p[2:], 16, 32)
	case len(p) > 1 && p[0] == '0':
		return strconv.ParseUint(p[1:], 8, 32)
	}
	return strconv.ParseUint(p, 10, 32)
}

// joinIPv4 makes an address of parts: all but the last are one byte each,
// the last fills the remaining bytes.
func joinIPv4(parts []uint64) (netip.Addr, bool) {
	var v uint64
	n := len(parts)
	for _, p := range parts[:n-1] {
		if p > 0xff {
			return netip.Addr{}, false
		}
		v = v<<8 | p
	}
	bits := uint(8 * (5 - n))
	last := parts[n-1]
	if last >= 1<<bits {
		return netip.Addr{}, false
	}
	v = v<<bits | last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// nameKind returns why a host name (normalized) is refused by itself.
func nameKind(n string) Kind {
	switch n {
	case "metadata", "metadata.google.internal", "metadata.goog",
		"instance-data", "instance-data.ec2.internal",
		"metadata.tencentyun.com", "metadata.packet.net", "metadata.platformequinix.com":
		return Metadata
	case "localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6",
		"ip6-localhost", "ip6-loopback":
		return Loopback
	}
	if strings.HasSuffix(n, ".localhost") {
		return Loopback
	}
	return 0
}

// CheckHostNoDNS applies the rules that need no name resolution: a literal
// address in any notation is decided; a name is refused when it is a
// metadata or loopback name. Other names are left to resolution (CheckHost)
// or to the dial.
func (g *Guard) CheckHostNoDNS(host string) error {
	n := Normalize(host)
	if addrs := Literal(n); len(addrs) > 0 {
		for _, a := range addrs {
			if err := g.CheckAddr(a); err != nil {
				e := err.(*Error)
				e.Host = strings.Trim(strings.TrimSpace(host), "[]")
				return e
			}
		}
		return nil
	}
	if k := nameKind(n); k != 0 && (!g.opts.AllowPrivate || k.Always()) {
		return &Error{Host: n, Kind: k}
	}
	return nil
}

// CheckHost decides whether the server may connect to host, when a URL is
// set: CheckHostNoDNS's rules, then every address the name resolves to. A
// name that does not resolve (in LookupTimeout) is accepted: it is checked
// again when dialled.
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	if err := g.CheckHostNoDNS(host); err != nil {
		return err
	}
	n := Normalize(host)
	if n == "" || len(Literal(n)) > 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.LookupTimeout)
	defer cancel()
	addrs, err := g.opts.Resolver.LookupNetIP(ctx, "ip", n)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := g.CheckAddr(a); err != nil {
			e := err.(*Error)
			e.Host, e.Resolved = n, true
			return e
		}
	}
	return nil
}

// CheckURL is CheckHost for a URL's host. A URL that does not parse is
// left to the caller's own checks.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Hostname() == "" {
		return nil
	}
	return g.CheckHost(ctx, u.Hostname())
}

// Control is a net.Dialer Control function: it refuses the connection when
// the address being dialled (after resolution) is refused.
func (g *Guard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &Error{Host: address, Kind: Reserved}
	}
	return g.CheckAddr(ap.Addr())
}

// Dialer returns a dialer whose connections the Guard checks.
func (g *Guard) Dialer() *net.Dialer {
	return &net.Dialer{Timeout: g.opts.DialTimeout, KeepAlive: 30 * time.Second, Resolver: g.opts.Resolver, Control: g.Control}
}

// DialContext connects like net.Dialer's but refuses what the Guard
// refuses: the host by its name, then every address it is dialled on. A
// refusal is returned as an *Error (not wrapped in a *net.OpError) that
// names the host.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	if err := g.CheckHostNoDNS(host); err != nil {
		return nil, err
	}
	c, err := g.Dialer().DialContext(ctx, network, address)
	if err != nil {
		var ge *Error
		if errors.As(err, &ge) {
			e := *ge
			if len(Literal(host)) == 0 {
				e.Host, e.Resolved = Normalize(host), true
			}
			return nil, &e
		}
		return nil, err
	}
	return c, nil
}

// Transport returns an HTTP transport (http.DefaultTransport's settings)
// that uses no proxy and connects through DialContext.
func (g *Guard) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = g.DialContext
	tr.DialTLSContext = nil
	return tr
}
