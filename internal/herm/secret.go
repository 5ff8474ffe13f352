package herm

import (
	"net"
	"strings"
	"time"
)

// PrefixSecret starts secret IDs.
const PrefixSecret = "sec_"

// Secret is a vault entry. Its value is stored encrypted (Ciphertext,
// sealed with the secret's ID as additional data) and never leaves the
// server through the API.
type Secret struct {
	ID           string
	Name         string
	CustomerID   string // "" = usable by any customer's deployments
	AllowedHosts []string
	Ciphertext   []byte // nonce followed by AES-256-GCM output
	CreatedAt    time.Time
	RotatedAt    *time.Time
}

// HostMatch reports whether host is in an allowlist: an entry is a host
// name (any port), or "*.example.com" for the subdomains of example.com.
// Names compare case-insensitively and without a trailing dot. An empty
// list matches nothing. It is the one rule for secrets' allowed_hosts
// (the egress proxy, MCP headers) and sandbox.network.allowed_hosts.
func HostMatch(patterns []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return false
	}
	for _, p := range patterns {
		p = strings.ToLower(p)
		if h, _, err := net.SplitHostPort(p); err == nil {
			p = h
		}
		p = strings.TrimSuffix(p, ".")
		if suffix, ok := strings.CutPrefix(p, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}
