// Package app is kefu's composition root: it turns a Config into a running
// set of parts (the ONNX Runtime, models, the HTTP handler) and closes them
// in reverse order. It is the only package that imports implementations.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kefu-chat/kefu/api"
	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/knowledge"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/onnx"
	"github.com/kefu-chat/kefu/providers/gateway"
)

// Version is set at build time (-ldflags "-X ...app.Version=...").
var Version = "dev"

// App holds what Build made.
type App struct {
	Config     *config.Config
	Classifier *onnx.Classifier
	Embedder   *onnx.Embedder
	Dialog     *Dialog
	Sessions   session.Store
	Knowledge  *KnowledgeBase   // nil without knowledge.store
	Gateway    *gateway.Gateway // nil without providers
	Engine     *engine.Engine
	Handler    http.Handler
	Registry   *prometheus.Registry

	closers []func() error
}

// InitRuntime finds and loads the ONNX Runtime library named by cfg.
func InitRuntime(cfg *config.Config) error {
	lib, err := onnx.FindLibrary(cfg.ONNXRuntime.Library)
	if err != nil {
		return err
	}
	return onnx.Init(lib)
}

// LoadClassifier opens the intent model of cfg. The runtime must be loaded.
// observe, when not nil, receives each call's wait and inference time.
func LoadClassifier(cfg *config.Config, observe func(wait, run time.Duration)) (*onnx.Classifier, error) {
	m := cfg.Models.Intent
	f, err := models.OpenFolder(m.Path, m.MaxLength)
	if err != nil {
		return nil, fmt.Errorf("models.intent: %w", err)
	}
	c, err := onnx.NewClassifier(f, onnx.ClassifierOptions{
		Options:   onnx.Options{IntraOpThreads: m.IntraOpThreads, MaxInFlight: m.MaxInFlight, Observe: observe},
		Threshold: m.OOSThreshold,
	})
	if err != nil {
		return nil, fmt.Errorf("models.intent: %w", err)
	}
	return c, nil
}

// LoadEmbedder opens models.embedder, or returns nil when none is set.
func LoadEmbedder(cfg *config.Config, observe func(wait, run time.Duration)) (*onnx.Embedder, error) {
	e := cfg.Models.Embedder
	if e == nil {
		return nil, nil
	}
	f, err := models.OpenFolder(e.Path, e.MaxLength)
	if err != nil {
		return nil, fmt.Errorf("models.embedder: %w", err)
	}
	o := onnx.Options{IntraOpThreads: e.IntraOpThreads, MaxInFlight: e.MaxInFlight, Observe: observe}
	emb, err := onnx.NewEmbedder(f, o, onnx.Pooling(e.Pooling))
	if err != nil {
		return nil, fmt.Errorf("models.embedder: %w", err)
	}
	return emb, nil
}

// TuneGOMAXPROCS raises GOMAXPROCS to onnx.GOMAXPROCSFor the configured
// calls in flight, unless the GOMAXPROCS environment variable is set. It
// returns the value in force.
func TuneGOMAXPROCS(cfg *config.Config) int {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	inFlight := inFlightOf(cfg.Models.Intent.Model)
	if e := cfg.Models.Embedder; e != nil {
		inFlight += inFlightOf(e.Model)
	}
	if n := onnx.GOMAXPROCSFor(inFlight); n > runtime.GOMAXPROCS(0) {
		runtime.GOMAXPROCS(n)
	}
	return runtime.GOMAXPROCS(0)
}

func inFlightOf(m config.Model) int {
	if m.MaxInFlight > 0 {
		return m.MaxInFlight
	}
	return onnx.DefaultMaxInFlight()
}

// Build loads the runtime and the models and assembles the HTTP handler.
// On error everything already opened is closed.
func Build(cfg *config.Config, logger *slog.Logger) (_ *App, err error) {
	a := &App{Config: cfg, Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if err := InitRuntime(cfg); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, onnx.Shutdown)
	if a.Classifier, err = LoadClassifier(cfg, modelMetrics(a.Registry, "intent")); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.Classifier.Close)
	if a.Embedder, err = LoadEmbedder(cfg, modelMetrics(a.Registry, "embedder")); err != nil {
		return nil, err
	}
	if a.Embedder != nil {
		a.closers = append(a.closers, a.Embedder.Close)
	}
	if a.Dialog, err = LoadDialog(cfg, Intents(a.Classifier.Labels()), logger); err != nil {
		return nil, err
	}
	if a.Sessions, err = OpenSessions(cfg.Sessions, logger); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.Sessions.Close)
	var emb knowledge.Embedder
	if a.Embedder != nil {
		emb = a.Embedder
	}
	norm := func(s string) string { return a.Dialog.Normalizer.Normalize(s).Text }
	if a.Knowledge, err = OpenKnowledge(context.Background(), cfg, emb, norm, logger); err != nil {
		return nil, err
	}
	if a.Knowledge != nil {
		a.closers = append(a.closers, a.Knowledge.Close)
	}
	if a.Gateway, err = OpenGateway(cfg, a.Registry, logger); err != nil {
		return nil, err
	}
	if a.Gateway != nil {
		a.closers = append(a.closers, a.Gateway.Close)
	}
	if a.Engine, err = NewEngine(cfg, a.Dialog, a.Classifier, a.Sessions, a.Knowledge, a.Gateway, logger, engine.NewMetrics(a.Registry)); err != nil {
		return nil, err
	}
	opts := api.Options{
		Classifier:   a.Classifier,
		Engine:       a.Engine,
		Ready:        readiness(a.Sessions),
		MaxBodyBytes: cfg.Server.MaxBodyBytes,
		MaxTextRunes: cfg.Server.MaxTextRunes,
		Timeout:      cfg.Server.RequestTimeout.Std(),
		Logger:       logger,
		Registry:     a.Registry,
		Version:      Version,
		CORSOrigins:  cfg.Server.CORS,
		Limits: api.Limits{PerKey: cfg.Server.Limits.TurnsPerKey, PerSession: cfg.Server.Limits.TurnsPerSession,
			MaxConcurrent: cfg.Server.Limits.MaxConcurrent},
	}
	for _, k := range cfg.Server.Keys {
		opts.Keys = append(opts.Keys, api.APIKey{Name: k.Name, Key: k.Key, Scopes: k.Scopes})
	}
	if len(opts.Keys) == 0 && logger != nil {
		logger.Warn("no API keys configured: chat and knowledge endpoints are open, admin endpoints closed (set server.keys)")
	}
	if a.Knowledge != nil {
		opts.Knowledge = a.Knowledge
	}
	a.Handler = api.New(opts)
	return a, nil
}

// readiness reports the session store unready when it can be pinged (Redis)
// and does not answer.
func readiness(store session.Store) func() error {
	p, ok := store.(interface{ Ping(context.Context) error })
	if !ok {
		return nil
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			return errors.New("session store unreachable")
		}
		return nil
	}
}

// modelMetrics registers the histograms of one model's calls: the wait for
// a slot on its shared session and the time the call held it.
func modelMetrics(reg prometheus.Registerer, model string) func(wait, run time.Duration) {
	buckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}
	wait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "kefu", Subsystem: "model", Name: "queue_seconds",
		Help:        "Time a model call waited for a slot on the shared session.",
		ConstLabels: prometheus.Labels{"model": model}, Buckets: buckets,
	})
	run := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "kefu", Subsystem: "model", Name: "inference_seconds",
		Help:        "Time a model call held its slot: tokenizing, inside ONNX Runtime, reading the output.",
		ConstLabels: prometheus.Labels{"model": model}, Buckets: buckets,
	})
	reg.MustRegister(wait, run)
	return func(w, r time.Duration) {
		wait.Observe(w.Seconds())
		run.Observe(r.Seconds())
	}
}

// Close releases everything Build opened, newest first.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
