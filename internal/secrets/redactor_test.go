package secrets

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
)

func TestRedactorEncodings(t *testing.T) {
	const v = "sk-live/4f9+c2&x=1 é"
	r := NewRedactor(map[string]string{"API_KEY": v, "SHORT": "abc"})
	for name, text := range map[string]string{
		"raw":             "value " + v + " end",
		"base64":          "b64 " + base64.StdEncoding.EncodeToString([]byte(v)),
		"base64url":       base64.RawURLEncoding.EncodeToString([]byte(v)),
		"basic auth":      "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+v)),
		"basic auth 2":    base64.StdEncoding.EncodeToString([]byte("us:" + v + "!")),
		"basic auth 3":    base64.URLEncoding.EncodeToString([]byte("u:" + v + "??")),
		"hex":             hex.EncodeToString([]byte("x" + v)),
		"HEX":             strings.ToUpper(hex.EncodeToString([]byte(v))),
		"query":           "?key=" + url.QueryEscape(v),
		"path":            "/keys/" + url.PathEscape(v),
		"json in base64":  base64.StdEncoding.EncodeToString([]byte(`{"token":"` + v + `"}`)),
		"value twice":     v + v,
		"inside a marker": "[" + v + "]",
	} {
		got := r.Replace(text)
		if !strings.Contains(got, "[REDACTED:API_KEY]") {
			t.Errorf("%s: %q not redacted: %q", name, text, got)
		}
		for _, enc := range append(Encodings(v), v) {
			if len(enc) >= minVariantLen && strings.Contains(got, enc) {
				t.Errorf("%s: %q still holds %q", name, got, enc)
			}
		}
	}
	if got := r.Replace("abc is short"); got != "abc is short" {
		t.Errorf("short value redacted: %q", got)
	}
	if NewRedactor(map[string]string{"X": "ab"}) != nil || NewRedactor(nil).Replace("x") != "x" {
		t.Error("a redactor with nothing to redact")
	}
}

// A value split across chunks at any point is still caught, and what comes
// out is the same as redacting the whole text.
func TestRedactorStream(t *testing.T) {
	for _, v := range []string{"s3cr3t-välue-0123", "canary-4", "canary-45"} { // len%3 = 0, 2, 0+padding-free; padded base64 has a shorter unpadded variant
		testStream(t, v)
	}
}

func testStream(t *testing.T, v string) {
	r := NewRedactor(map[string]string{"TOKEN": v})
	text := "before « " + v + " » middle " + base64.StdEncoding.EncodeToString([]byte(v)) + " and " + base64.URLEncoding.EncodeToString([]byte("u:"+v)) +
		" hex " + hex.EncodeToString([]byte(v)) + v[:3] + " after ünïcode " + v[:len(v)-1]
	want := r.Replace(text)

	for size := 1; size <= len(text); size++ {
		s := r.Stream()
		var out strings.Builder
		for i := 0; i < len(text); i += size {
			piece := s.Write(text[i:min(i+size, len(text))])
			if !strings.HasPrefix(want[out.Len():], piece) {
				t.Fatalf("%q in chunks of %d: emitted %q, want the start of %q", v, size, piece, want[out.Len():])
			}
			out.WriteString(piece)
		}
		out.WriteString(s.Flush())
		if out.String() != want {
			t.Fatalf("chunks of %d: %q, want %q", size, out.String(), want)
		}
		if s.Pending() != 0 {
			t.Fatal("pending after flush")
		}
	}
}

func TestNilRedactorStream(t *testing.T) {
	var nilR *Redactor
	if s := nilR.Stream(); s.Write("abc") != "abc" || s.Flush() != "" {
		t.Error("nil redactor's stream")
	}
}

// What a Stream holds back stays short, whatever the text: bytes that are
// not UTF-8 character starts, a value repeated back to back.
func TestRedactorStreamHoldsBackLittle(t *testing.T) {
	for _, c := range []struct{ value, chunk string }{
		{"some-secret-value-123", strings.Repeat("\x80", 4096)},
		{"aaaa", strings.Repeat("a", 4096)},
		{"abab-abab", strings.Repeat("abab-", 1000)},
	} {
		r := NewRedactor(map[string]string{"K": c.value})
		s := r.Stream()
		var out strings.Builder
		for i := 0; i < 50; i++ {
			out.WriteString(s.Write(c.chunk))
			if s.Pending() > r.Longest()+3 {
				t.Fatalf("%q: %d bytes held back", c.value, s.Pending())
			}
		}
		out.WriteString(s.Flush())
		if want := r.Replace(strings.Repeat(c.chunk, 50)); out.String() != want {
			t.Fatalf("%q: the stream differs from Replace", c.value)
		}
	}
}
