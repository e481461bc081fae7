package gateway

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	cost     *prometheus.CounterVec
	breaker  *prometheus.GaugeVec
	limited  *prometheus.CounterVec
}

// newMetrics registers the gateway's series with reg (nil: unregistered).
// Labels are provider and route names from the config, never user text.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kefu", Subsystem: "provider", Name: "requests_total",
			Help: "Provider attempts by outcome: ok or the error kind.",
		}, []string{"provider", "kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "kefu", Subsystem: "provider", Name: "request_duration_seconds",
			Help:    "Time of a provider attempt (to the first token for streams).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"provider"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kefu", Subsystem: "provider", Name: "tokens_total",
			Help: "Tokens used, by provider, route and type (prompt, completion).",
		}, []string{"provider", "route", "type"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kefu", Subsystem: "provider", Name: "cost_total",
			Help: "Cost of the tokens used, at the configured prices.",
		}, []string{"provider", "route"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "kefu", Subsystem: "provider", Name: "breaker_state",
			Help: "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
		}, []string{"provider"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kefu", Subsystem: "route", Name: "limited_total",
			Help: "Calls refused by a route's rate or concurrency limit.",
		}, []string{"route", "limit"}),
	}
	if reg != nil {
		// A reload builds a new gateway on the same registry: keep counting
		// on the collectors already there.
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
		m.tokens = register(reg, m.tokens)
		m.cost = register(reg, m.cost)
		m.breaker = register(reg, m.breaker)
		m.limited = register(reg, m.limited)
	}
	return m
}
