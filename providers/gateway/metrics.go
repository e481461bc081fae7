package gateway

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the gateway's Prometheus series. Create them once per
// process and give them to every gateway (reloads build new ones).
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	cost     *prometheus.CounterVec
	breaker  *prometheus.GaugeVec
	limited  *prometheus.CounterVec
}

// NewMetrics registers the gateway's series with reg (nil: unregistered).
// Labels are provider and route names from the config, never user text.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
		reg.MustRegister(m.requests, m.duration, m.tokens, m.cost, m.breaker, m.limited)
	}
	return m
}
