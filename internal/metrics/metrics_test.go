package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// scrape returns the registry's text exposition.
func scrape(t *testing.T, m *Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Result().Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	m := New(nil)
	m.Request("GET", "GET /v1/deployments", 200, 3*time.Millisecond)
	m.Request("GET", "GET /v1/deployments/{deployment_id}/events", 200, time.Hour) // a stream: no latency
	m.EventsAppended(5)
	m.ModelCall("demo/demo", 10, 4, nil)
	m.ModelCall("demo/demo", 1, 0, errors.New("down"))
	m.WebhookAttempt("retry")
	n := 3
	m.Subscribers(func() int { return n })
	out := scrape(t, m)
	for _, want := range []string{
		`herm_http_requests_total{code="200",method="GET",route="GET /v1/deployments"} 1`,
		`herm_http_requests_total{code="200",method="GET",route="GET /v1/deployments/{deployment_id}/events"} 1`,
		`herm_http_request_duration_seconds_count{route="GET /v1/deployments"} 1`,
		`herm_events_appended_total 5`,
		`herm_model_calls_total{model="demo/demo",outcome="ok"} 1`,
		`herm_model_calls_total{model="demo/demo",outcome="error"} 1`,
		`herm_model_tokens_total{direction="input",model="demo/demo"} 11`,
		`herm_webhook_attempts_total{outcome="retry"} 1`,
		`herm_sse_subscribers 3`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	for _, unwanted := range []string{`herm_http_request_duration_seconds_count{route="GET /v1/deployments/{deployment_id}/events"}`, "herm_runs{"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("%s in the metrics", unwanted)
		}
	}
	n = 4 // read at scrape time
	if out := scrape(t, m); !strings.Contains(out, "herm_sse_subscribers 4\n") {
		t.Errorf("the subscribers gauge did not follow: %s", out)
	}
}
