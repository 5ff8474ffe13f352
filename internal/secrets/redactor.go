package secrets

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// minVariantLen is the shortest encoded form redacted: a shorter one
// (say, 4 base64 characters) turns up in ordinary encoded data by chance.
const minVariantLen = 8

// Redactor replaces secret values, and their common encodings, with
// [REDACTED:NAME]. It covers each value as it is; its standard and URL-safe
// base64 (padded or not, and at each of the three byte alignments a value
// can have inside a longer encoded text, such as a Basic auth header); its
// hex in lower and upper case; and its URL encodings (query and path). It
// does not cover other encodings (gzip, base32, JSON \u escapes, a value
// split or transformed by a program), which is why values never enter the
// sandbox in the first place.
type Redactor struct {
	first   [256][]string     // the texts replaced, by first byte, longest first
	mark    map[string]string // text → its [REDACTED:NAME]
	longest int               // bytes of the longest text replaced
}

// NewRedactor returns a Redactor for values by secret name; values shorter
// than MinRedactLen are left alone (they would mangle ordinary text). It
// returns nil when there is nothing to redact; a nil Redactor's methods
// change nothing.
func NewRedactor(values map[string]string) *Redactor {
	type pair struct{ needle, name string }
	seen := map[string]bool{}
	var pairs []pair
	add := func(needle, name string, min int) {
		if len(needle) < min || seen[needle] {
			return
		}
		seen[needle] = true
		pairs = append(pairs, pair{needle, name})
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic when two names share a value
	for _, name := range names {
		v := values[name]
		if len(v) < MinRedactLen {
			continue
		}
		add(v, name, MinRedactLen)
		for _, enc := range Encodings(v) {
			add(enc, name, minVariantLen)
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	// Longest first: a needle that contains another is replaced whole.
	sort.SliceStable(pairs, func(i, j int) bool { return len(pairs[i].needle) > len(pairs[j].needle) })
	r := &Redactor{mark: map[string]string{}, longest: len(pairs[0].needle)}
	for _, p := range pairs {
		r.first[p.needle[0]] = append(r.first[p.needle[0]], p.needle)
		r.mark[p.needle] = "[REDACTED:" + p.name + "]"
	}
	return r
}

// Encodings returns the encoded forms of v that a Redactor also replaces.
func Encodings(v string) []string {
	out := []string{
		hex.EncodeToString([]byte(v)),
		strings.ToUpper(hex.EncodeToString([]byte(v))),
		url.QueryEscape(v),
		url.PathEscape(v),
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		out = append(out, enc.EncodeToString([]byte(v)))
		// Inside a longer encoded text the value starts at one of three
		// alignments; the characters made only of its own bits are the
		// same whatever comes before or after it.
		for k := 0; k < 3; k++ {
			full := enc.WithPadding(base64.NoPadding).EncodeToString(append(make([]byte, k), v...))
			from, to := (8*k+5)/6, (8*(k+len(v)))/6
			if to > from {
				out = append(out, full[from:to])
			}
		}
	}
	return out
}

// Replace returns s with every value (and encoding) replaced.
func (r *Redactor) Replace(s string) string {
	if r == nil {
		return s
	}
	out, _ := r.scan(s, true)
	return out
}

// Longest is the length in bytes of the longest text replaced: a stream cut
// into chunks must hold back Longest()-1 bytes to catch a value split
// between two of them.
func (r *Redactor) Longest() int {
	if r == nil {
		return 0
	}
	return r.longest
}

// Stream redacts text that arrives in chunks (a model's token deltas, a
// response body): Write returns what is safe to pass on now, holding back
// the tail that could be the start of a value, and Flush the rest. What
// comes out, put together, is exactly Replace of the whole text; it is cut
// on UTF-8 character boundaries. A Stream is not safe for concurrent use.
type Stream struct {
	r       *Redactor
	pending string // not yet redacted
}

// Stream returns a new Stream.
func (r *Redactor) Stream() *Stream { return &Stream{r: r} }

// Write takes the next chunk and returns the redacted text that can go out.
func (s *Stream) Write(chunk string) string {
	if s.r == nil {
		return chunk
	}
	text := s.pending + chunk
	out, cut := s.r.scan(text, false)
	s.pending = text[cut:]
	return out
}

// scan redacts text from its start — at each place the longest needle
// that starts there, else one byte on — to its end when final; otherwise up
// to where a needle could start and not be whole yet (the last longest-1
// bytes), and returns what it redacted and where it stopped, moved back (by
// at most 3 bytes, over bytes no needle starts at) to a UTF-8 boundary. The
// scan of text[:cut] is then the start of the scan of text and whatever
// follows, and the held-back tail stays short.
func (r *Redactor) scan(text string, final bool) (string, int) {
	var b strings.Builder
	i, plain := 0, 0 // plain: where the bytes passed on one by one start
	for i < len(text) && (final || i+r.longest-1 < len(text)) {
		n := r.at(text, i)
		if n == "" {
			i++
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(text))
		}
		b.WriteString(text[plain:i])
		b.WriteString(r.mark[n])
		i += len(n)
		plain = i
	}
	cut := i
	for k := 0; k < 3 && cut > plain && cut < len(text) && !utf8.RuneStart(text[cut]); k++ {
		cut--
	}
	if plain == 0 {
		return text[:cut], cut // nothing replaced: no copy
	}
	b.WriteString(text[plain:cut])
	return b.String(), cut
}

// at returns the needle replaced at text[i:] ("" when none).
func (r *Redactor) at(text string, i int) string {
	for _, n := range r.first[text[i]] { // longest first
		if strings.HasPrefix(text[i:], n) {
			return n
		}
	}
	return ""
}

// Pending reports how many bytes are held back.
func (s *Stream) Pending() int { return len(s.pending) }

// Flush returns what is held back, redacted, and empties the stream.
func (s *Stream) Flush() string {
	out := s.r.Replace(s.pending)
	s.pending = ""
	return out
}
