package egress

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hermhq/herm/internal/herm"
)

// echo is an upstream that echoes the request's headers, with the
// credential also in base64 and hex, compressed whatever the client asked
// for (as some servers do).
func echo(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	for k, vs := range r.Header {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ","))
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	fmt.Fprintf(&b, "b64: %s\nhex: %s\n", base64.StdEncoding.EncodeToString([]byte("user:"+tok)), hex.EncodeToString([]byte(tok)))
	var out bytes.Buffer
	enc := r.URL.Query().Get("enc")
	switch enc {
	case "gzip", "gzip, gzip":
		zw := gzip.NewWriter(&out)
		zw.Write(b.Bytes())
		zw.Close()
		if enc == "gzip, gzip" {
			in := out.Bytes()
			out = bytes.Buffer{}
			zw := gzip.NewWriter(&out)
			zw.Write(in)
			zw.Close()
		}
	case "deflate":
		zw := zlib.NewWriter(&out)
		zw.Write(b.Bytes())
		zw.Close()
	case "raw-deflate":
		zw, _ := flate.NewWriter(&out, flate.BestSpeed)
		zw.Write(b.Bytes())
		zw.Close()
		enc = "deflate"
	case "br":
		out.WriteString("\x1b\x00\x00 not really brotli " + tok) // what matters is the header
	default:
		out = b
	}
	if enc != "" {
		w.Header().Set("Content-Encoding", enc)
	}
	w.Header().Set("X-Echo", "Bearer "+tok)
	w.Write(out.Bytes())
}

// Issue 9's attack: curl --compressed against an allowed host that
// echoes headers must not land the value in the sandbox, whatever the
// encoding; one the proxy cannot decode is refused.
func TestCompressedResponsesAreRedacted(t *testing.T) {
	ph := Placeholder([]byte("k"), "dep_1", "API_TOKEN")
	e := setupWith(t, Config{Egress: herm.EgressProxy, Secrets: []Secret{{Env: "API_TOKEN", Value: canary, AllowedHosts: []string{"127.0.0.1"}}}}, http.HandlerFunc(echo))
	roots := e.client().Transport.(*http.Transport).TLSClientConfig
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(e.proxyURL), TLSClientConfig: roots, DisableCompression: true}}
	for _, enc := range []string{"", "gzip", "gzip, gzip", "deflate", "raw-deflate", "br"} {
		for _, accept := range []string{"", "gzip, deflate, br", "identity"} {
			req, _ := http.NewRequest("GET", e.upstream.URL+"/echo?enc="+url.QueryEscape(enc), nil)
			req.Header.Set("Authorization", "Bearer "+ph)
			if accept != "" {
				req.Header.Set("Accept-Encoding", accept)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Whatever the sandbox got, decoded every way it could be.
			seen := string(raw) + fmt.Sprint(resp.Header)
			for _, dec := range []func(io.Reader) (io.Reader, error){
				func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
				func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) },
				func(r io.Reader) (io.Reader, error) { return flate.NewReader(r), nil },
			} {
				if zr, err := dec(bytes.NewReader(raw)); err == nil {
					b, _ := io.ReadAll(zr)
					seen += string(b)
				}
			}
			for _, v := range []string{canary, base64.StdEncoding.EncodeToString([]byte("user:" + canary))[8:40], hex.EncodeToString([]byte(canary))} {
				if strings.Contains(seen, v) {
					t.Fatalf("enc %q, accept %q: the sandbox got the value (%q): %q", enc, accept, v, seen)
				}
			}
			if enc == "br" {
				if resp.StatusCode < 400 {
					t.Fatalf("an encoding the proxy cannot read was passed on: %d", resp.StatusCode)
				}
				continue
			}
			if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(raw), "Authorization: Bearer [REDACTED:API_TOKEN]") ||
				!strings.Contains(string(raw), "hex: [REDACTED:API_TOKEN]") || resp.Header.Get("X-Echo") != "Bearer [REDACTED:API_TOKEN]" {
				t.Fatalf("enc %q, accept %q: %d %v %q", enc, accept, resp.StatusCode, resp.Header, raw)
			}
		}
	}
}
