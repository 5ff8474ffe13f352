package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rawResponse sends req as it is on a new connection and reads one response.
func rawResponse(t *testing.T, base, req string) (*http.Response, []byte) {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// checkEnvelope checks that a response is the contract's error envelope
// with the X-Request-Id header.
func checkEnvelope(t *testing.T, what string, resp *http.Response, body []byte, status int, mentions string) {
	t.Helper()
	var e struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%s: %d %v not an error envelope: %q (%v)", what, resp.StatusCode, resp.Header, body, err)
		return
	}
	if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: status %d (%s), want %d: %s", what, resp.StatusCode, resp.Header.Get("Content-Type"), status, body)
	}
	if rid := resp.Header.Get("X-Request-Id"); rid == "" || rid != e.Error.RequestID {
		t.Errorf("%s: X-Request-Id %q, request_id %q", what, rid, e.Error.RequestID)
	}
	if want := "validation_error"; status < 500 && status != 404 && e.Error.Code != want {
		t.Errorf("%s: code %q, want %q", what, e.Error.Code, want)
	}
	if !strings.Contains(e.Error.Message, mentions) {
		t.Errorf("%s: message %q does not mention %q", what, e.Error.Message, mentions)
	}
}

// Requests net/http refuses before any handler runs, and paths its router
// would redirect, get the error envelope and a request id like every other
// error.
func TestMalformedRequestsGetTheEnvelope(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	auth := "Authorization: Bearer " + testKey + "\r\n"
	cases := []struct {
		name, req string
		status    int
		mentions  string
	}{
		{"bad escape", "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed"},
		{"bad escape in an API path", "GET /v1/deployments/%zz HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "malformed"},
		{"NUL in Authorization", "GET /v1/deployments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\x00b\r\n\r\n", 400, "header"},
		{"control character in a header", "GET /v1/deployments HTTP/1.1\r\nHost: x\r\n" + auth + "X-Note: a\x01b\r\n\r\n", 400, "header"},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "Host"},
		{"bad request line", "GET\r\n\r\n", 400, "malformed"},
		{"unknown transfer encoding", "POST /v1/deployments HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: zip\r\n\r\n", 501, "Transfer-Encoding"},
		{"unknown expectation", "POST /v1/deployments HTTP/1.1\r\nHost: x\r\n" + auth + "Expect: magic\r\nContent-Length: 2\r\n\r\n{}", 417, "Expect"},
		{"headers too large", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 1<<20+8192) + "\r\n\r\n", 431, "large"},
		{"dot-dot segment", "GET /v1/../v1/deployments HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "/v1/../v1/deployments"},
		{"dot segment", "GET /v1/./deployments HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "path"},
		{"empty segment", "GET /v1//deployments HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "path"},
		{"trailing dot", "GET /v1/deployments/. HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "path"},
		{"unknown path with dots", "GET /a/../../b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "path"},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 404, "OPTIONS"},
	}
	for _, c := range cases {
		resp, body := rawResponse(t, s.url, c.req)
		checkEnvelope(t, c.name, resp, body, c.status, c.mentions)
	}
}

// A name longer than the file system takes (255 bytes) is a 400 naming
// the path, never a 500; one just below it works (the atomic write's
// temporary name must fit too).
func TestLongFileNames(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	d := s.createReady(nil)
	files := "/v1/deployments/" + d["deployment_id"].(string) + "/files"
	for _, n := range []int{236, 240, 255} {
		name := strings.Repeat("n", n)
		if r := s.do("PUT", files+"?path=dir/"+name, "x", "Content-Type", "application/octet-stream"); r.status != 200 {
			t.Errorf("a %d-byte name: %d %s", n, r.status, r.body)
		}
		if r := s.do("GET", files+"/content?path=dir/"+name, nil); r.status != 200 || string(r.body) != "x" {
			t.Errorf("reading a %d-byte name: %d %s", n, r.status, r.body)
		}
	}
	long := strings.Repeat("l", 256)
	for _, p := range []string{long, "dir/" + long, long + "/x.txt", strings.Repeat("é", 128)} {
		for _, req := range [][2]string{{"PUT", files + "?path=" + url.QueryEscape(p)}, {"GET", files + "/content?path=" + url.QueryEscape(p)},
			{"GET", files + "?path=" + url.QueryEscape(p)}, {"DELETE", files + "?path=" + url.QueryEscape(p)}} {
			r := s.do(req[0], req[1], "x", "Content-Type", "application/octet-stream")
			if r.status != 400 || r.errCode(t) != "validation_error" || !strings.Contains(string(r.body), "path") {
				t.Errorf("%s %s…: %d %s", req[0], req[1][:min(len(req[1]), 80)], r.status, r.body)
			}
		}
	}
	// Elsewhere a long id is simply unknown.
	for _, p := range []string{"/memories/", "/skills/", "/threads/", "/runs/", "/automations/", "/steering_requests/"} {
		if r := s.do("GET", "/v1/deployments/"+d["deployment_id"].(string)+p+long, nil); r.status >= 500 {
			t.Errorf("GET %s<long>: %d %s", p, r.status, r.body)
		}
	}
}

// The server lets go of clients that stop: a body that stops arriving ends
// its request and connection, an idle keep-alive connection is closed,
// while a slow upload that keeps coming and an event stream that lasts
// longer than the write timeout work.
func TestHTTPTimeouts(t *testing.T) {
	t.Parallel()
	s := startServerWith(t, nil, func(c *config) {
		c.HTTP = httpTimeouts{ReadHeader: time.Second, Body: 500 * time.Millisecond, Write: 300 * time.Millisecond, Idle: 300 * time.Millisecond}
	})
	d := s.createReady(nil)
	id := d["deployment_id"].(string)
	u, _ := url.Parse(s.url)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	auth := "Authorization: Bearer " + testKey + "\r\n"

	// Half a body, then nothing: an answer, and the connection closed.
	for _, h := range []struct{ method, path, ctype, part string }{
		{"POST", "/v1/deployments", "application/json", `{"cus`},
		{"PUT", "/v1/deployments/" + id + "/files?path=half.txt", "application/octet-stream", "abc"},
	} {
		c := dial()
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: %s\r\nContent-Length: 100\r\n\r\n%s", h.method, h.path, auth, h.ctype, h.part)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Errorf("%s %s: half a body: %v", h.method, h.path, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(b), "stopped arriving") {
			t.Errorf("%s %s: half a body: %d %s", h.method, h.path, resp.StatusCode, b)
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%s %s: connection not closed after half a body: %v", h.method, h.path, err)
		}
	}

	// An idle keep-alive connection is closed.
	c := dial()
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v", err)
	} else if time.Since(start) > 3*time.Second {
		t.Errorf("idle connection closed after %v", time.Since(start))
	}

	// A slow upload that keeps coming is not cut off by the body timeout,
	// though it takes longer.
	pr, pw := io.Pipe()
	go func() {
		for range 8 {
			time.Sleep(100 * time.Millisecond)
			if _, err := pw.Write([]byte(strings.Repeat("s", 1000))); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", s.url+"/v1/deployments/"+id+"/files?path=slow.txt", pr)
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/octet-stream")
	if up, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("slow upload: %v", err)
	} else {
		b, _ := io.ReadAll(up.Body)
		up.Body.Close()
		if up.StatusCode != 200 || !strings.Contains(string(b), `"size":8000`) {
			t.Errorf("slow upload: %d %s", up.StatusCode, b)
		}
	}

	// An event stream outlives the write timeout.
	st := s.openStream("/v1/deployments/" + id + "/events")
	time.Sleep(time.Second)
	sent := s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "still there?"})
	st.until(t, runEnded(sent["run_id"].(string)))
	time.Sleep(time.Second)
	sent = s.must(202, "POST", "/v1/deployments/"+id+"/messages", map[string]any{"content": "and now?"})
	st.until(t, runEnded(sent["run_id"].(string)))
}

// The API's JSON is not HTML: <, > and & are written as they are.
func TestJSONNotHTMLEscaped(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	r := s.do("GET", "/v1/a&b%3Cc%3E", nil)
	if r.status != 404 || !strings.Contains(string(r.body), "/v1/a&b<c>") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	d := s.createReady(map[string]any{"name": "Tom & Jerry <3", "system_prompt": "a > b"})
	r = s.do("GET", "/v1/deployments/"+d["deployment_id"].(string), nil)
	if !strings.Contains(string(r.body), `"Tom & Jerry <3"`) || !strings.Contains(string(r.body), `"a > b"`) {
		t.Fatalf("deployment: %s", r.body)
	}
}
