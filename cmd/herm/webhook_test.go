package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// received is one request a webhook endpoint got.
type received struct {
	id, ts, sig string
	body        []byte
}

// Webhooks: a deployment's run_status and message events reach the
// endpoint signed by the Standard Webhooks scheme, a failed attempt is
// retried with the same webhook-id, other deployments' events and other
// types do not come, and the deliveries list tells what happened.
func TestWebhooks(t *testing.T) {
	var mu sync.Mutex
	var got []received
	tries := map[string]int{}
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get("webhook-id")
		tries[id]++
		if tries[id] == 1 {
			http.Error(w, "try again", http.StatusServiceUnavailable) // every first attempt fails
			return
		}
		got = append(got, received{id: id, ts: r.Header.Get("webhook-timestamp"), sig: r.Header.Get("webhook-signature"), body: body})
	}))
	defer endpoint.Close()
	s := startServer(t, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1", "HERM_WEBHOOK_RETRY_DELAYS": "50ms,50ms"})
	id := s.createReady(nil)["deployment_id"].(string)
	other := s.createReady(nil)["deployment_id"].(string)

	for _, bad := range []map[string]any{
		{"url": endpoint.URL, "events": []string{"run_status", "nope"}},
		{"url": endpoint.URL, "events": []string{}},
		{"url": "ftp://x.example", "events": []string{"run_status"}},
		{"url": endpoint.URL, "events": []string{"run_status"}, "deployment_id": "dep_01M8MQ2YPXA6JHR5X9HAG91RG3"},
		{"url": endpoint.URL, "events": []string{"run_status"}, "deployment_id": ""},
		{"url": endpoint.URL, "events": []string{"token"}},
	} {
		if r := s.do("POST", "/v1/webhooks", bad); r.status != 400 || r.errCode(t) != "validation_error" {
			t.Errorf("webhook %v: %d %s", bad, r.status, r.body)
		}
	}
	body := map[string]any{"url": endpoint.URL, "events": []string{"run_status", "message"}, "deployment_id": id}
	hook := s.must(201, "POST", "/v1/webhooks", body, "Idempotency-Key", "hook-1")
	secret := str(hook["secret"])
	// A retry gets the same webhook and secret; the stored response is
	// sealed, so the secret is nowhere in the data directory.
	if again := s.must(201, "POST", "/v1/webhooks", body, "Idempotency-Key", "hook-1"); again["secret"] != secret || again["webhook_id"] != hook["webhook_id"] {
		t.Fatalf("idempotent retry: %v", again)
	}
	_ = filepath.Walk(s.dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), strings.TrimPrefix(secret, "whsec_")) {
				t.Errorf("%s holds the signing secret", p)
			}
		}
		return nil
	})
	if !strings.HasPrefix(secret, "whsec_") || hook["deployment_id"] != id {
		t.Fatalf("webhook %v", hook)
	}
	hookID := str(hook["webhook_id"])
	if g := s.must(200, "GET", "/v1/webhooks/"+hookID, nil); g["secret"] != nil {
		t.Fatalf("the secret is shown again: %v", g)
	}

	s.sendAndWait(other, "not for this webhook")
	run := s.sendAndWait(id, "hello")
	runID := str(run["run_id"])
	want := []string{"message:user", "message:agent", "run_status:queued", "run_status:running", "run_status:completed"}
	deadline := time.Now().Add(10 * time.Second)
	var kinds []string
	for {
		mu.Lock()
		kinds = kinds[:0]
		for _, r := range got {
			var ev map[string]any
			if err := json.Unmarshal(r.body, &ev); err != nil {
				t.Fatal(err)
			}
			if ev["deployment_id"] != id || ev["run_id"] != runID {
				t.Errorf("delivered another run's or deployment's event: %s", r.body)
			}
			k := str(ev["type"]) + ":"
			if ev["type"] == "message" {
				k += str(ev["role"])
			} else {
				k += str(ev["status"])
			}
			kinds = append(kinds, k)
			// The signature, computed here independently.
			key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
			m := hmac.New(sha256.New, key)
			m.Write([]byte(r.id + "." + r.ts + "."))
			m.Write(r.body)
			if r.sig != "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)) {
				t.Errorf("bad signature %q for %s", r.sig, r.id)
			}
			if !strings.HasPrefix(r.id, id+".evt_") {
				t.Errorf("webhook-id %q", r.id)
			}
		}
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sort.Strings(kinds)
	sort.Strings(want)
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("delivered %v, want %v", kinds, want)
	}
	mu.Lock()
	for id, n := range tries {
		if n != 2 {
			t.Errorf("%s was tried %d times, want 2", id, n)
		}
	}
	mu.Unlock()

	// The deliveries list.
	var list []any
	for time.Now().Before(deadline) {
		list = s.must(200, "GET", "/v1/webhooks/"+hookID+"/deliveries?limit=100", nil)["data"].([]any)
		done := len(list) == len(want)
		for _, d := range list {
			done = done && d.(map[string]any)["status"] == "succeeded"
		}
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(list) != len(want) {
		t.Fatalf("%d deliveries listed, want %d", len(list), len(want))
	}
	for _, x := range list {
		d := x.(map[string]any)
		if d["status"] != "succeeded" || d["attempts"] != 2.0 || d["response_status"] != 200.0 || d["delivered_at"] == nil || d["next_attempt_at"] != nil {
			t.Errorf("delivery %v", d)
		}
	}
	first := s.must(200, "GET", "/v1/webhooks/"+hookID+"/deliveries?limit=2", nil)
	rest := s.must(200, "GET", "/v1/webhooks/"+hookID+"/deliveries?limit=100&cursor="+str(first["next_cursor"]), nil)
	if n := len(first["data"].([]any)) + len(rest["data"].([]any)); n != len(want) || rest["next_cursor"] != nil {
		t.Fatalf("pages: %d deliveries, next %v", n, rest["next_cursor"])
	}
	if r := s.do("GET", "/v1/webhooks/"+hookID+"/deliveries?cursor=garbage", nil); r.status != 400 {
		t.Fatalf("bad cursor: %d", r.status)
	}

	if m := s.do("GET", "/metrics", nil); !strings.Contains(string(m.body), `herm_webhook_attempts_total{outcome="succeeded"} 5`) ||
		!strings.Contains(string(m.body), `herm_webhook_attempts_total{outcome="retry"} 5`) {
		t.Errorf("webhook metrics:\n%s", grepLines(string(m.body), "herm_webhook"))
	}
	s.must(204, "DELETE", "/v1/webhooks/"+hookID, nil)
	if r := s.do("GET", "/v1/webhooks/"+hookID+"/deliveries", nil); r.status != 404 {
		t.Fatalf("deliveries of a deleted webhook: %d", r.status)
	}
}

// Deliveries are kept with their events: those the endpoint has not taken
// when the server stops are sent after it starts again.
func TestWebhookDeliveriesSurviveRestart(t *testing.T) {
	var mu sync.Mutex
	up := false
	var ids []string
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		ids = append(ids, r.Header.Get("webhook-id"))
	}))
	defer endpoint.Close()
	dir := t.TempDir()
	env := map[string]string{"HERM_DATA_DIR": dir, "HERM_ALLOW_PRIVATE_NETWORKS": "1", "HERM_WEBHOOK_RETRY_DELAYS": "20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms"}
	s := startServer(t, env)
	id := s.createReady(nil)["deployment_id"].(string)
	hook := str(s.must(201, "POST", "/v1/webhooks", map[string]any{"url": endpoint.URL, "events": []string{"run_status"}})["webhook_id"])
	s.sendAndWait(id, "hello")
	s.stop()

	mu.Lock()
	up = true
	mu.Unlock()
	s2 := startServer(t, env)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(ids)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 3 { // queued, running, completed
		t.Fatalf("delivered after the restart: %v", ids)
	}
	list := s2.must(200, "GET", "/v1/webhooks/"+hook+"/deliveries", nil)["data"].([]any)
	for _, x := range list {
		if d := x.(map[string]any); d["status"] != "succeeded" && d["status"] != "pending" {
			t.Errorf("delivery %v", d)
		}
	}
}

// Without HERM_ALLOW_PRIVATE_NETWORKS, a webhook cannot point at a private
// address, in any notation, or at a metadata service (names are checked
// again when dialled).
func TestWebhookPrivateAddresses(t *testing.T) {
	s := startServer(t, nil)
	for u, want := range map[string]string{
		"https://127.0.0.1/hook":              "url: 127.0.0.1 is a loopback address",
		"https://10.1.2.3/hook":               "url: 10.1.2.3 is a private address",
		"https://[::1]/hook":                  "url: ::1 is a loopback address",
		"https://localhost/hook":              "url: localhost is a loopback name",
		"https://LOCALHOST/hook":              "url: localhost is a loopback name",
		"https://127.1/hook":                  "url: 127.1 is 127.0.0.1, a loopback address",
		"https://0x7f000001/hook":             "url: 0x7f000001 is 127.0.0.1, a loopback address",
		"https://2130706433/hook":             "url: 2130706433 is 127.0.0.1, a loopback address",
		"https://100.64.0.1/hook":             "url: 100.64.0.1 is a carrier-grade NAT address",
		"https://[::ffff:10.0.0.1]/hook":      "url: ::ffff:10.0.0.1 embeds 10.0.0.1, a private address",
		"https://169.254.169.254/latest":      "url: 169.254.169.254 is a cloud metadata address",
		"https://metadata.google.internal/x":  "url: metadata.google.internal is a cloud metadata host",
		"https://metadata.google.internal./x": "url: metadata.google.internal is a cloud metadata host",
		"http://hooks.example.com/x":          "must use https",
	} {
		r := s.do("POST", "/v1/webhooks", map[string]any{"url": u, "events": []string{"run_status"}})
		if r.status != 400 || r.errCode(t) != "validation_error" || !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %d %s, want %q", u, r.status, r.body, want)
		}
	}
	s.must(201, "POST", "/v1/webhooks", map[string]any{"url": "https://hooks.example.com/x", "events": []string{"run_status"}})

	// With private networks allowed, metadata services stay refused.
	lax := startServer(t, map[string]string{"HERM_ALLOW_PRIVATE_NETWORKS": "1"})
	for _, u := range []string{"http://169.254.169.254/latest", "https://metadata.google.internal/x", "http://[fd00:ec2::254]/"} {
		if r := lax.do("POST", "/v1/webhooks", map[string]any{"url": u, "events": []string{"run_status"}}); r.status != 400 || !strings.Contains(string(r.body), "cloud metadata") {
			t.Errorf("%s with private networks allowed: %d %s", u, r.status, r.body)
		}
	}
	lax.must(201, "POST", "/v1/webhooks", map[string]any{"url": "https://0x7f000001/hook", "events": []string{"run_status"}})
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
