package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the collectors the api package updates. Label values are
// bounded: route patterns, standard methods and status codes, never user text.
type metrics struct {
	requests         *prometheus.CounterVec   // route, method, code
	requestDuration  *prometheus.HistogramVec // route, method
	classifyDuration prometheus.Histogram
	confidence       prometheus.Histogram
	oos              prometheus.Counter
}

// newMetrics registers kefu's API metrics, the Go and process collectors
// and kefu_build_info in reg.
func newMetrics(reg prometheus.Registerer, version string) *metrics {
	m := &metrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kefu", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests served, by chi route pattern (\"unmatched\" for 404 and 405), method and status code.",
		}, []string{"route", "method", "code"})),
		requestDuration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "kefu", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to serve HTTP requests, by chi route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"})),
		classifyDuration: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kefu", Name: "classify_duration_seconds",
			Help:    "Time spent in the intent classifier per /v1/classify request.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 12), // 1ms to ~2s
		})),
		confidence: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "kefu", Name: "intent_confidence",
			Help:    "Confidence of the predicted intent.",
			Buckets: []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0},
		})),
		oos: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kefu", Name: "classify_oos_total",
			Help: "Classify requests predicted out of scope.",
		})),
	}
	if version == "" {
		version = "unknown"
	}
	buildInfo := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "kefu", Name: "build_info",
		Help: "Always 1; the version label says which kefu is running.",
	}, []string{"version"}))
	buildInfo.WithLabelValues(version).Set(1)

	register(reg, collectors.NewGoCollector())
	register(reg, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// register registers c in reg, or returns the equal collector already there,
// so that New can share a registry with its caller or a second New. Any
// other conflict is a wiring bug and panics.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("api: registering metrics: %v", err))
}

func (m *metrics) observeRequest(route, method string, status int, elapsed time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

// methodLabel maps nonstandard methods, which clients can invent at will,
// to "other" to keep the label bounded.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}
