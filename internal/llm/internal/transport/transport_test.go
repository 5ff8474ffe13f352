package transport

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hermhq/herm/internal/llm"
)

func readAll(s string) ([]Event, error) {
	r := newSSEReader(strings.NewReader(s))
	var evs []Event
	for {
		ev, err := r.next()
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestSSEReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []Event
		err      error
	}{
		{"data", "data: a\n\ndata:b\n\n", []Event{{Data: []byte("a")}, {Data: []byte("b")}}, io.EOF},
		{"named", "event: ping\ndata: {}\n\nevent: x\ndata: 1\n\n", []Event{{Name: "ping", Data: []byte("{}")}, {Name: "x", Data: []byte("1")}}, io.EOF},
		{"crlf and comments", ": OPENROUTER PROCESSING\r\n\r\nid: 1\r\nretry: 10\r\ndata: a\r\n\r\n", []Event{{Data: []byte("a")}}, io.EOF},
		{"multi-line data", "data: a\ndata:  b\n\n", []Event{{Data: []byte("a\n b")}}, io.EOF},
		{"event without data is dropped", "event: x\n\ndata: a\n\n", []Event{{Data: []byte("a")}}, io.EOF},
		{"no final blank line", "data: [DONE]\n", []Event{{Data: []byte("[DONE]")}}, io.EOF},
		{"cut inside a line", "data: a\n\ndata: {\"x", []Event{{Data: []byte("a")}}, io.ErrUnexpectedEOF},
		{"empty", "", nil, io.EOF},
	}
	for _, tt := range tests {
		got, err := readAll(tt.in)
		if err != tt.err {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestSSEReaderLongLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1<<20)
	got, err := readAll("data: " + long + "\n\n")
	if !errors.Is(err, io.EOF) || len(got) != 1 || string(got[0].Data) != long {
		t.Fatalf("got %d events, err %v", len(got), err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header map[string]string
		want   time.Duration
		ok     bool
	}{
		{map[string]string{"Retry-After": "3"}, 3 * time.Second, true},
		{map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond, true},
		{map[string]string{"Retry-After": "0"}, 0, true},
		{map[string]string{"Retry-After": now.Add(20 * time.Second).Format(http.TimeFormat)}, 20 * time.Second, true},
		{map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0, true},
		{map[string]string{"Retry-After-Ms": "250", "Retry-After": "3"}, 250 * time.Millisecond, true},
		{map[string]string{"Retry-After": "1e300"}, 24 * time.Hour, true},
		{map[string]string{"Retry-After": "-1"}, 0, false},
		{map[string]string{"Retry-After": "NaN"}, 0, false},
		{map[string]string{"Retry-After": "soon"}, 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		got, ok := RetryAfter(h, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RetryAfter(%v) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		body   string
		want   llm.Error
	}{
		{400, `{"error":{"message":"bad model","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
			llm.Error{StatusCode: 400, Type: "invalid_request_error", Message: "bad model"}},
		{401, `{"error":{"message":"Incorrect API key","type":null,"code":"invalid_api_key"}}`,
			llm.Error{StatusCode: 401, Type: "invalid_api_key", Message: "Incorrect API key"}},
		{529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
			llm.Error{StatusCode: 529, Type: "overloaded_error", Message: "Overloaded"}},
		{0, `{"error":{"code":502,"message":"Provider returned error"}}`,
			llm.Error{Type: "api_error", Message: "Provider returned error"}},
		{0, `{"error":{"code":429,"message":"Rate limited"}}`,
			llm.Error{Type: "rate_limit_error", Message: "Rate limited"}},
		{404, `{"error":"model \"llama3\" not found, try pulling it first"}`,
			llm.Error{StatusCode: 404, Type: "not_found_error", Message: `model "llama3" not found, try pulling it first`}},
		{400, `{"object":"error","message":"too long","type":"BadRequestError","param":null,"code":400}`,
			llm.Error{StatusCode: 400, Type: "BadRequestError", Message: "too long"}},
		{502, "<html>Bad Gateway</html>\n", llm.Error{StatusCode: 502, Type: "api_error", Message: "<html>Bad Gateway</html>"}},
		{503, "", llm.Error{StatusCode: 503, Type: "api_error", Message: "Service Unavailable"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(&tt.want, ParseError(tt.status, []byte(tt.body))); diff != "" {
			t.Errorf("ParseError(%d, %s) (-want +got):\n%s", tt.status, tt.body, diff)
		}
	}
	long := ParseError(500, []byte(strings.Repeat("é", 400)))
	if len(long.Message) > 504 || !strings.HasSuffix(long.Message, "…") {
		t.Errorf("long body not cut: %d bytes", len(long.Message))
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for attempt, hi := range map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 3: 2 * time.Second, 5: 8 * time.Second, 50: 8 * time.Second} {
		for range 20 {
			if d := backoff(attempt); d < hi*3/4 || d > hi {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", attempt, d, hi*3/4, hi)
			}
		}
	}
}
