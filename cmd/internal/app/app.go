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
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kefu-chat/kefu/api"
	"github.com/kefu-chat/kefu/api/channels"
	"github.com/kefu-chat/kefu/api/channels/telegram"
	webhookchan "github.com/kefu-chat/kefu/api/channels/webhook"
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
	Sessions session.Store
	Handler  http.Handler
	Registry *prometheus.Registry

	closers []func() error

	rt       atomic.Pointer[Runtime]
	reloadMu sync.Mutex
	// retired are runtimes a reload replaced, each closed by its timer
	// when its grace period ends, or by Close if that comes first.
	retiredMu sync.Mutex
	retired   map[*Runtime]*time.Timer
	logger    *slog.Logger
	metrics   *engine.Metrics
	// The series of models and providers are registered once; reloads
	// hand them to the parts they build.
	intentObs, embedObs func(wait, run time.Duration)
	gwMetrics           *gateway.Metrics
	reloadOK            prometheus.Gauge
	reloads             *prometheus.CounterVec
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
	a := &App{Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	stopTracing, err := StartTracing(context.Background(), cfg.Server.Tracing, Version)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return stopTracing(ctx)
	})
	if err := InitRuntime(cfg); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, onnx.Shutdown)
	if a.Sessions, err = OpenSessions(cfg.Sessions, logger); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.Sessions.Close)
	a.logger = logger
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	a.metrics = engine.NewMetrics(a.Registry)
	a.intentObs, a.embedObs = modelMetrics(a.Registry, "intent"), modelMetrics(a.Registry, "embedder")
	a.gwMetrics = gateway.NewMetrics(a.Registry)
	a.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kefu", Name: "reload_success",
		Help: "1 when the last reload succeeded (or none was asked), 0 when it failed."})
	a.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kefu", Name: "reloads_total",
		Help: "Reloads by outcome (ok, error)."}, []string{"outcome"})
	a.Registry.MustRegister(a.reloadOK, a.reloads, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "kefu", Subsystem: "handoff", Name: "queue_length",
		Help: "Sessions waiting for a human agent.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		q, err := a.Sessions.Waiting(ctx)
		if err != nil {
			return -1
		}
		return float64(len(q))
	}))
	a.reloadOK.Set(1)
	rt, err := a.buildRuntime(cfg, nil)
	if err != nil {
		return nil, err
	}
	a.rt.Store(rt)
	a.closers = append(a.closers, func() error { return errors.Join(a.closeRetired(), a.rt.Load().Close()) })
	// One admission for the API and the channels: a session has one budget
	// however its messages arrive.
	admission := api.NewAdmission(api.Limits{PerKey: cfg.Server.Limits.TurnsPerKey, PerSession: cfg.Server.Limits.TurnsPerSession,
		MaxConcurrent: cfg.Server.Limits.MaxConcurrent})
	opts := api.Options{
		Classifier:   liveClassifier{a},
		Engine:       liveEngine{a},
		Reload:       a.Reload,
		Ready:        readiness(a.Sessions),
		MaxBodyBytes: cfg.Server.MaxBodyBytes,
		MaxTextRunes: cfg.Server.MaxTextRunes,
		Timeout:      cfg.Server.RequestTimeout.Std(),
		Logger:       logger,
		Registry:     a.Registry,
		Version:      Version,
		CORSOrigins:  cfg.Server.CORS,
		Admission:    admission,
	}
	for _, k := range cfg.Server.Keys {
		opts.Keys = append(opts.Keys, api.APIKey{Name: k.Name, Key: k.Key, Scopes: k.Scopes, Tenant: k.TenantName()})
	}
	if len(opts.Keys) == 0 && logger != nil {
		logger.Warn("no API keys configured: chat and knowledge endpoints are open, admin endpoints closed (set server.keys)")
	}
	if rt.Knowledge != nil {
		opts.Knowledge = liveKnowledge{a}
	}
	opts.Channels = a.channels(cfg, admission, logger)
	a.Handler = api.New(opts)
	return a, nil
}

// Runtime is what a reload replaces: the config, the compiled flows with
// their normalizer, entities and services, the provider gateway and the
// engine over them. The models, the session store and the knowledge base
// live as long as the App.
type Runtime struct {
	Config     *config.Config
	Classifier *onnx.Classifier
	Embedder   *onnx.Embedder // nil without models.embedder
	Knowledge  *KnowledgeBase // nil without knowledge.store
	Dialog     *Dialog
	Gateway    *gateway.Gateway
	Engine     *engine.Engine

	// owned are the parts this runtime closes; a reload that reuses a
	// part (an unchanged model) moves it to the next runtime.
	owned map[string]func() error
}

// Close closes what the runtime still owns.
func (rt *Runtime) Close() error {
	var errs []error
	for _, c := range rt.owned {
		errs = append(errs, c())
	}
	rt.owned = nil
	return errors.Join(errs...)
}

func (rt *Runtime) own(name string, c func() error) {
	if rt.owned == nil {
		rt.owned = map[string]func() error{}
	}
	rt.owned[name] = c
}

// take moves part name from prev to rt.
func (rt *Runtime) take(prev *Runtime, name string) {
	if c, ok := prev.owned[name]; ok {
		delete(prev.owned, name)
		rt.own(name, c)
	}
}

// Current returns the runtime serving now.
func (a *App) Current() *Runtime { return a.rt.Load() }

// buildRuntime builds a runtime for cfg, reusing prev's models and
// knowledge base where their config is unchanged. Parts are moved from
// prev only when the whole build succeeded.
func (a *App) buildRuntime(cfg *config.Config, prev *Runtime) (_ *Runtime, err error) {
	rt := &Runtime{Config: cfg}
	var reused []string
	defer func() {
		if err != nil {
			rt.Close() // closes only what this build opened
		}
	}()
	// reflect.DeepEqual follows pointers (oos_threshold).
	if prev != nil && reflect.DeepEqual(prev.Config.Models.Intent, cfg.Models.Intent) {
		rt.Classifier = prev.Classifier
		reused = append(reused, "classifier")
	} else {
		if rt.Classifier, err = LoadClassifier(cfg, a.intentObs); err != nil {
			return nil, err
		}
		rt.own("classifier", rt.Classifier.Close)
	}
	if prev != nil && reflect.DeepEqual(prev.Config.Models.Embedder, cfg.Models.Embedder) {
		rt.Embedder = prev.Embedder
		reused = append(reused, "embedder")
	} else {
		if rt.Embedder, err = LoadEmbedder(cfg, a.embedObs); err != nil {
			return nil, err
		}
		if rt.Embedder != nil {
			rt.own("embedder", rt.Embedder.Close)
		}
	}
	if rt.Dialog, err = LoadDialog(cfg, Intents(rt.Classifier.Labels()), a.logger); err != nil {
		return nil, err
	}
	var emb knowledge.Embedder
	if rt.Embedder != nil {
		emb = rt.Embedder
	}
	norm := func(s string) string { return rt.Dialog.Normalizer.Normalize(s).Text }
	switch {
	case prev != nil && prev.Knowledge != nil && sameStore(prev.Config.Knowledge, cfg.Knowledge):
		// The same store: keep it open, with this config's retrieval
		// settings and embedder.
		if rt.Knowledge, err = prev.Knowledge.WithSettings(cfg, emb, norm); err != nil {
			return nil, err
		}
		reused = append(reused, "knowledge")
	default:
		if rt.Knowledge, err = OpenKnowledge(context.Background(), cfg, emb, norm, a.logger); err != nil {
			return nil, err
		}
		if rt.Knowledge != nil {
			rt.own("knowledge", rt.Knowledge.Close)
		}
	}
	if rt.Gateway, err = OpenGateway(cfg, a.gwMetrics, a.logger); err != nil {
		return nil, err
	}
	if rt.Gateway != nil {
		rt.own("gateway", rt.Gateway.Close)
	}
	if rt.Engine, err = NewEngine(cfg, rt.Dialog, rt.Classifier, a.Sessions, rt.Knowledge, rt.Gateway, a.logger, a.metrics); err != nil {
		return nil, err
	}
	for _, name := range reused {
		rt.take(prev, name)
	}
	return rt, nil
}

// sameStore reports whether two knowledge configs name the same store.
func sameStore(a, b config.Knowledge) bool {
	return a.Store == b.Store && a.Path == b.Path && a.Qdrant == b.Qdrant
}

// ErrRestart marks a reload whose config changes what only a restart can
// change; the running runtime keeps serving.
var ErrRestart = errors.New("restart required")

// Reload reads the config file again, compiles the flows, opens the
// providers and swaps the new runtime in atomically. Turns in flight
// finish on the runtime they started on, which is closed after a grace
// period; sessions keep their memory and resume their flow where its step
// still exists. Any error leaves the running runtime serving.
func (a *App) Reload(ctx context.Context) (err error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	defer func() {
		outcome := "ok"
		if err != nil {
			outcome = "error"
			a.reloadOK.Set(0)
			a.logger.Error("reload failed; the running configuration keeps serving", "err", err)
		} else {
			a.reloadOK.Set(1)
		}
		a.reloads.WithLabelValues(outcome).Inc()
	}()
	old := a.rt.Load()
	cfg, err := config.Load(old.Config.File)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if why := restartNeeded(old.Config, cfg); why != "" {
		return fmt.Errorf("reload: %s changed: %w", why, ErrRestart)
	}
	rt, err := a.buildRuntime(cfg, old)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	a.rt.Store(rt)
	grace := cfg.Server.RequestTimeout.Std() + time.Second
	a.retire(old, grace)
	a.logger.Info("reloaded", "flows", len(rt.Dialog.Program.FlowNames()), "program", rt.Dialog.Program.Hash)
	return nil
}

// retire closes rt, which a reload replaced, after grace, unless Close
// closes it first.
func (a *App) retire(rt *Runtime, grace time.Duration) {
	a.retiredMu.Lock()
	defer a.retiredMu.Unlock()
	if a.retired == nil {
		a.retired = map[*Runtime]*time.Timer{}
	}
	a.retired[rt] = time.AfterFunc(grace, func() {
		// Closed under the lock, so that closeRetired waits for it.
		a.retiredMu.Lock()
		defer a.retiredMu.Unlock()
		if _, ok := a.retired[rt]; ok {
			delete(a.retired, rt)
			rt.Close()
		}
	})
}

// closeRetired closes now the runtimes still in their grace period: their
// models must go before the ONNX Runtime is shut down, not when their
// timers fire after it (a use after free in cgo).
func (a *App) closeRetired() error {
	a.retiredMu.Lock()
	defer a.retiredMu.Unlock()
	var errs []error
	for rt, t := range a.retired {
		t.Stop()
		errs = append(errs, rt.Close())
	}
	a.retired = nil
	return errors.Join(errs...)
}

// restartNeeded names the first section a reload cannot change.
func restartNeeded(a, b *config.Config) string {
	switch {
	case !reflect.DeepEqual(a.Server.Addr, b.Server.Addr):
		return "server.addr"
	case !reflect.DeepEqual(a.ONNXRuntime, b.ONNXRuntime):
		return "onnxruntime"
	case !reflect.DeepEqual(a.Sessions, b.Sessions):
		return "sessions"
	case !reflect.DeepEqual(a.Server.Keys, b.Server.Keys) || !reflect.DeepEqual(a.Server.Limits, b.Server.Limits) || !reflect.DeepEqual(a.Server.CORS, b.Server.CORS):
		return "server keys, limits or CORS"
	}
	return ""
}

// liveClassifier is the API's classifier: the serving runtime's.
type liveClassifier struct{ a *App }

func (l liveClassifier) Classify(ctx context.Context, text string) (models.Prediction, error) {
	return l.a.rt.Load().Classifier.Classify(ctx, text)
}

// liveKnowledge is the API's knowledge base: the serving runtime's.
type liveKnowledge struct{ a *App }

func (l liveKnowledge) kb() (*KnowledgeBase, error) {
	kb := l.a.rt.Load().Knowledge
	if kb == nil {
		return nil, errors.New("no knowledge base is configured")
	}
	return kb, nil
}

func (l liveKnowledge) Search(ctx context.Context, q string, k int, f knowledge.Filter) ([]knowledge.Result, error) {
	kb, err := l.kb()
	if err != nil {
		return nil, err
	}
	return kb.Search(ctx, q, k, f)
}

func (l liveKnowledge) IngestFile(ctx context.Context, id, format string, content []byte, tags []string) (api.IngestResult, error) {
	kb, err := l.kb()
	if err != nil {
		return api.IngestResult{}, err
	}
	return kb.IngestFile(ctx, id, format, content, tags)
}

func (l liveKnowledge) DeleteDocument(ctx context.Context, id string) (int, error) {
	kb, err := l.kb()
	if err != nil {
		return 0, err
	}
	return kb.DeleteDocument(ctx, id)
}

func (l liveKnowledge) Documents(ctx context.Context) (map[string]int, error) {
	kb, err := l.kb()
	if err != nil {
		return nil, err
	}
	return kb.Documents(ctx)
}

// liveEngine is the API's engine: each call goes to the runtime serving
// when it starts.
type liveEngine struct{ a *App }

func (l liveEngine) Turn(ctx context.Context, req engine.Request) (*engine.Reply, error) {
	return l.a.rt.Load().Engine.Turn(ctx, req)
}

func (l liveEngine) SessionFor(ctx context.Context, tenant, id string) (*engine.SessionView, error) {
	return l.a.rt.Load().Engine.SessionFor(ctx, tenant, id)
}

func (l liveEngine) ResetFor(ctx context.Context, tenant, id string) error {
	return l.a.rt.Load().Engine.ResetFor(ctx, tenant, id)
}

func (l liveEngine) Waiting(ctx context.Context) ([]session.QueueEntry, error) {
	return l.a.rt.Load().Engine.Waiting(ctx)
}

func (l liveEngine) AgentReply(ctx context.Context, id, agent, text string) (*session.Turn, error) {
	return l.a.rt.Load().Engine.AgentReply(ctx, id, agent, text)
}

func (l liveEngine) Release(ctx context.Context, id string) (*session.Turn, error) {
	return l.a.rt.Load().Engine.Release(ctx, id)
}

// channels builds the configured channel adapters over the live engine,
// under the API's turn limits: the webhook answers 429 or 503 as the API
// does, and Telegram, which has already answered its update, waits.
func (a *App) channels(cfg *config.Config, adm *api.Admission, logger *slog.Logger) map[string]http.Handler {
	c := cfg.Channels
	ids := func(channel, user string) string { return c.Identities[channel+":"+user] }
	out := map[string]http.Handler{}
	if w := c.Webhook; w != nil {
		t := channels.Limited(liveEngine{a}, adm, "channel:webhook", false)
		out["webhook"] = webhookchan.New(webhookchan.Config{Secret: w.Secret, Identities: ids, Tenant: w.Tenant, MaxTextRunes: cfg.Server.MaxTextRunes}, t, webhookchan.Deps{Logger: logger})
	}
	if tg := c.Telegram; tg != nil {
		t := channels.Limited(liveEngine{a}, adm, "channel:telegram", true)
		bot := telegram.New(telegram.Config{Token: tg.Token, Secret: tg.Secret, APIBase: tg.APIBase, Identities: ids, Tenant: tg.Tenant,
			MaxTextRunes: cfg.Server.MaxTextRunes, ErrorText: tg.ErrorText, Workers: tg.Workers, Queue: tg.Queue, Timeout: tg.Timeout.Std()}, t, telegram.Deps{Logger: logger})
		// Closed before the engine's parts: it finishes queued turns.
		a.closers = append(a.closers, func() error { bot.Close(); return nil })
		out["telegram"] = bot
	}
	return out
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
