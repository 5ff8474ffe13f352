package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hermhq/herm/internal/eventlog"
)

// sseGauge reports the live event subscribers (SSE streams).
func sseGauge(l *eventlog.Log) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herm_sse_subscribers", Help: "Open event stream subscriptions.",
	}, func() float64 { return float64(l.Broker().Subscribers()) })
}
