package engine

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's Prometheus series. Labels never carry user text
// or session ids.
type Metrics struct {
	turns  *prometheus.CounterVec
	stages *prometheus.HistogramVec
}

// NewMetrics registers the engine's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kefu", Name: "turns_total",
			Help: "Turns by route (flow, knowledge, generative, handoff, fallback).",
		}, []string{"route"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "kefu", Subsystem: "turn", Name: "stage_seconds",
			Help:    "Time spent in each stage of a turn.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"stage"}),
	}
	reg.MustRegister(m.turns, m.stages)
	return m
}

func (m *Metrics) observe(r *Reply) {
	if m == nil {
		return
	}
	m.turns.WithLabelValues(r.Route).Inc()
	t := r.Timings
	for stage, d := range map[string]float64{
		"normalize": t.Normalize.Seconds(), "classify": t.Classify.Seconds(), "entities": t.Entities.Seconds(),
		"dialog": t.Dialog.Seconds(), "services": t.Services.Seconds(), "save": t.Save.Seconds(), "total": t.Total.Seconds(),
	} {
		m.stages.WithLabelValues(stage).Observe(d)
	}
}
