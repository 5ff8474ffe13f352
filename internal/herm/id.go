package herm

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// ID prefixes, one per object type.
const (
	PrefixDeployment = "dep_"
	PrefixThread     = "thr_"
	PrefixRun        = "run_"
	PrefixEvent      = "evt_"
	PrefixMessage    = "msg_"
	PrefixKey        = "key_"
	PrefixSnapshot   = "snap_"
	PrefixRequest    = "req_"
	PrefixAgent      = "agt_"
	PrefixSession    = "sesn_"
	PrefixDream      = "drm_"
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDGen makes ULID-like identifiers: a type prefix, then 26 Crockford base32
// characters encoding a millisecond timestamp and 80 random bits. IDs from one
// generator sort by creation time, also within one millisecond (the random
// part is incremented), so they serve as list cursors.
type IDGen struct {
	now func() time.Time

	mu     sync.Mutex
	lastMS uint64
	last   [10]byte
}

// NewIDGen returns a generator that reads time from now (time.Now when nil).
func NewIDGen(now func() time.Time) *IDGen {
	if now == nil {
		now = time.Now
	}
	return &IDGen{now: now}
}

// New returns a new ID with the given prefix.
func (g *IDGen) New(prefix string) string {
	ms := uint64(g.now().UnixMilli())
	g.mu.Lock()
	var entropy [10]byte
	if ms <= g.lastMS {
		// Same (or earlier, after a clock step) millisecond: keep the last
		// timestamp and increment the random part so that order holds.
		ms = g.lastMS
		entropy = g.last
		for i := len(entropy) - 1; i >= 0; i-- {
			entropy[i]++
			if entropy[i] != 0 {
				break
			}
		}
	} else {
		_, _ = rand.Read(entropy[:])
	}
	g.lastMS, g.last = ms, entropy
	g.mu.Unlock()

	var b [16]byte
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(b[:6], ts[2:])
	copy(b[6:], entropy[:])
	return prefix + encodeCrockford(b)
}

// encodeCrockford encodes 128 bits as 26 base32 characters (the first one
// carries only 3 bits), the ULID text form.
func encodeCrockford(b [16]byte) string {
	var out [26]byte
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// LooksLikeID reports whether s has the shape of an ID this server makes
// (a lowercase type prefix, an underscore, 26 Crockford base32 characters).
func LooksLikeID(s string) bool {
	prefix, body, ok := strings.Cut(s, "_")
	if !ok || prefix == "" || len(body) != 26 {
		return false
	}
	for _, c := range prefix {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	for _, c := range body {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Now is the server's clock: UTC, to the microsecond, the precision every
// stored time has (so a time read back equals the one written).
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
