// Package metrics holds the server's Prometheus metrics: the packages that
// count (the HTTP API, the event log, the model calls, webhook deliveries)
// are handed the one Registry, and /metrics serves it.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hermhq/herm/internal/herm"
	"github.com/hermhq/herm/internal/store"
)

// Registry is the server's Prometheus metrics, in a registry of their own.
type Registry struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	events      prometheus.Counter
	modelCalls  *prometheus.CounterVec
	modelTokens *prometheus.CounterVec
	deliveries  *prometheus.CounterVec
}

// New creates the metrics. s, when set, is read at scrape time for runs by
// status.
func New(s store.Store) *Registry {
	m := &Registry{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herm_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herm_http_request_duration_seconds", Help: "HTTP request latency by route (event streams excluded).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"route"}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herm_events_appended_total", Help: "Events appended to the event log.",
		}),
		modelCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herm_model_calls_total", Help: "Model calls by model and outcome.",
		}, []string{"model", "outcome"}),
		modelTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herm_model_tokens_total", Help: "Model tokens by model and direction.",
		}, []string{"model", "direction"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herm_webhook_attempts_total", Help: "Webhook delivery attempts by outcome (succeeded, retry, failed).",
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.events, m.modelCalls, m.modelTokens, m.deliveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s != nil {
		m.reg.MustRegister(&runsCollector{store: s, desc: prometheus.NewDesc("herm_runs", "Runs by status.", []string{"status"}, nil)})
	}
	return m
}

// Subscribers reports n() at scrape time as the number of open event
// stream subscriptions.
func (m *Registry) Subscribers(n func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herm_sse_subscribers", Help: "Open event stream subscriptions.",
	}, func() float64 { return float64(n()) }))
}

// EventsAppended counts appended events.
func (m *Registry) EventsAppended(n int) { m.events.Add(float64(n)) }

// WebhookAttempt counts one webhook delivery attempt by its outcome.
func (m *Registry) WebhookAttempt(outcome string) { m.deliveries.WithLabelValues(outcome).Inc() }

// ModelCall counts one model call.
func (m *Registry) ModelCall(model string, in, out int64, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.modelCalls.WithLabelValues(model, outcome).Inc()
	m.modelTokens.WithLabelValues(model, "input").Add(float64(in))
	m.modelTokens.WithLabelValues(model, "output").Add(float64(out))
}

// Request counts one HTTP request by method, route and status, and its
// latency (event streams, which last, excepted).
func (m *Registry) Request(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	if route != "GET /v1/deployments/{deployment_id}/events" {
		m.duration.WithLabelValues(route).Observe(d.Seconds())
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

type runsCollector struct {
	store store.Store
	desc  *prometheus.Desc
}

func (c *runsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *runsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.CountRunsByStatus(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, st := range []herm.RunStatus{herm.RunQueued, herm.RunRunning, herm.RunWaitingOnHuman, herm.RunCompleted, herm.RunError, herm.RunCancelled} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}
