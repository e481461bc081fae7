package engine

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus series. Labels never carry user text
// or session ids. One Metrics serves every engine of a process (reloads
// build new engines on the same series).
type Metrics struct {
	turns     *prometheus.CounterVec
	stages    *prometheus.HistogramVec
	knowledge *prometheus.CounterVec
	handoffs  prometheus.Counter
	guarded   prometheus.Counter

	mu     sync.Mutex
	active map[string]time.Time // session → last turn, for kefu_sessions_active
	pruned time.Time            // when active was last pruned
}

// activeWindow is how recent a session's last turn must be to count as
// active.
const activeWindow = 15 * time.Minute

// NewMetrics registers the engine's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kefu", Name: "turns_total",
			Help: "Turns by route (flow, knowledge, generative, handoff, fallback) and outcome (ok, or error when a flow failed).",
		}, []string{"route", "outcome"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "kefu", Subsystem: "turn", Name: "stage_seconds",
			Help:    "Time spent in each stage of a turn (normalize, classify, entities, dialog, retrieve, generate, services, save, total).",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 2.5, 10},
		}, []string{"stage"}),
		knowledge: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kefu", Subsystem: "knowledge", Name: "searches_total",
			Help: "Knowledge searches of turns by outcome: answered (direct answer), context (passages for generation), none.",
		}, []string{"outcome"}),
		handoffs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kefu", Name: "handoffs_total", Help: "Sessions handed to a human.",
		}),
		guarded: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "kefu", Subsystem: "generate", Name: "guarded_total",
			Help: "Generated replies withheld because they repeated the system prompt.",
		}),
		active: map[string]time.Time{},
	}
	reg.MustRegister(m.turns, m.stages, m.knowledge, m.handoffs, m.guarded, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "kefu", Name: "sessions_active",
		Help: "Sessions with a turn on this node in the last 15 minutes.",
	}, m.countActive))
	return m
}

func (m *Metrics) countActive() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(time.Now())
	return float64(len(m.active))
}

// prune forgets sessions idle longer than activeWindow; the caller holds mu.
func (m *Metrics) prune(now time.Time) {
	for id, t := range m.active {
		if now.Sub(t) > activeWindow {
			delete(m.active, id)
		}
	}
	m.pruned = now
}

func (m *Metrics) observe(r *Reply) {
	if m == nil {
		return
	}
	outcome := "ok"
	if r.Reason == "error" {
		outcome = "error"
	}
	m.turns.WithLabelValues(r.Route, outcome).Inc()
	if r.newHandoff {
		m.handoffs.Inc()
	}
	m.guarded.Add(float64(r.guarded))
	switch {
	case len(r.Sources) == 0:
	case r.Route == RouteKnowledge:
		m.knowledge.WithLabelValues("answered").Inc()
	case r.Sources[0].Used:
		m.knowledge.WithLabelValues("context").Inc()
	default:
		m.knowledge.WithLabelValues("none").Inc()
	}
	t := r.Timings
	for _, s := range []struct {
		name string
		d    time.Duration
	}{
		{"normalize", t.Normalize}, {"classify", t.Classify}, {"entities", t.Entities}, {"dialog", t.Dialog},
		{"retrieve", t.Retrieve}, {"generate", t.Generate}, {"services", t.Services}, {"save", t.Save}, {"total", t.Total},
	} {
		m.stages.WithLabelValues(s.name).Observe(s.d.Seconds())
	}
	now := time.Now()
	m.mu.Lock()
	m.active[r.SessionID] = now
	// Pruned here too, so that a server nobody scrapes does not keep
	// every session id it has seen.
	if now.Sub(m.pruned) > activeWindow {
		m.prune(now)
	}
	m.mu.Unlock()
}
