package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kefu-chat/kefu/api/web"
	"github.com/kefu-chat/kefu/models"
)

// Defaults for zero Options fields.
const (
	DefaultMaxBodyBytes = 1 << 20 // 1 MiB
	DefaultMaxTextRunes = 2000
)

// Options configures the handler returned by [New]. The zero value is usable:
// it serves health and metrics, and answers /v1/classify with 503 not_ready.
type Options struct {
	// Classifier answers /v1/classify. nil makes it answer 503 not_ready.
	Classifier models.Classifier

	// Engine answers /v1/chat, /v1/sessions and /v1/handoff. nil makes
	// them answer 503 not_ready.
	Engine Engine

	// Knowledge answers /v1/knowledge/*. nil makes them answer 503
	// not_ready.
	Knowledge Knowledge

	// Ready reports whether the service can take traffic; /readyz answers
	// 503 with its error's message when it returns non-nil. nil means
	// always ready. It is called once per probe and must be safe for
	// concurrent use.
	Ready func() error

	// MaxBodyBytes caps request bodies; larger ones get 413.
	// Zero or negative means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// MaxTextRunes caps the length of classify text in Unicode code points.
	// Zero or negative means DefaultMaxTextRunes.
	MaxTextRunes int

	// Timeout, if positive, is the deadline for each /v1 request. Handlers
	// that run past it answer 504 deadline_exceeded.
	Timeout time.Duration

	// Logger receives access and error logs. nil discards them.
	Logger *slog.Logger

	// Registry receives kefu's HTTP and classify metrics, plus the Go and
	// process collectors, and is what /metrics serves. nil means a new,
	// private registry.
	Registry *prometheus.Registry

	// Version is reported as the version label of kefu_build_info.
	Version string

	// Channels are channel adapters, mounted at /channels/{name}; each
	// checks its own signature or secret.
	Channels map[string]http.Handler

	// Reload, when set, serves POST /admin/reload (admin scope): it reloads
	// the configuration; its error is shown to the operator.
	Reload func(context.Context) error

	// Keys are the API keys. With none, chat and knowledge are open (for
	// development) and admin endpoints are closed.
	Keys []APIKey
	// Admission bounds turns per key, per session and in flight; nil means
	// no limits. Pass the one the channel adapters use (channels.Limited)
	// so that the API and the channels share one budget.
	Admission *Admission
	// CORSOrigins may call the API from a browser ("*": any).
	CORSOrigins []string
}

// maxRanking caps the ranking returned by /v1/classify.
const maxRanking = 5

// server holds what the handlers share. It is immutable after New.
type server struct {
	classifier   models.Classifier
	engine       Engine
	knowledge    Knowledge
	ready        func() error
	maxBodyBytes int64
	maxTextRunes int
	logger       *slog.Logger
	metrics      *metrics
	auth         *auth
	admission    *Admission
	reload       func(context.Context) error
}

// New returns the kefu HTTP handler. It registers metrics in opts.Registry
// and panics if a collector there conflicts with them; calling New twice with
// one registry shares the metrics. The handler is safe for concurrent use.
func New(opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxTextRunes <= 0 {
		opts.MaxTextRunes = DefaultMaxTextRunes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	s := &server{
		classifier:   opts.Classifier,
		engine:       opts.Engine,
		knowledge:    opts.Knowledge,
		ready:        opts.Ready,
		maxBodyBytes: opts.MaxBodyBytes,
		maxTextRunes: opts.MaxTextRunes,
		logger:       opts.Logger,
		metrics:      newMetrics(opts.Registry, opts.Version),
		auth:         newAuth(opts.Keys),
		reload:       opts.Reload,
		admission:    opts.Admission,
	}
	if s.admission == nil {
		s.admission = NewAdmission(Limits{})
	}

	mux := chi.NewRouter()
	// Outermost first: the request id is set before anything logs, and the
	// recoverer sits inside the access log so a panic is logged as a 500.
	mux.Use(requestID, s.observe, s.recoverer, cors(opts.CORSOrigins))
	mux.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return NewError(CodeNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	}))
	mux.MethodNotAllowed(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		// A custom 405 handler loses chi's Allow header, which RFC 9110
		// requires, so rebuild it.
		w.Header().Set("Allow", allowedMethods(mux, r.URL.Path))
		return NewError(CodeMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path))
	}))

	for name, h := range opts.Channels {
		mux.Handle("/channels/"+name, h)
	}
	page := web.Handler()
	mux.Get("/", page.ServeHTTP)
	mux.Get("/static/*", http.StripPrefix("/static", page).ServeHTTP)
	mux.Get("/healthz", s.handle(s.healthz))
	mux.Get("/readyz", s.handle(s.readyz))
	mux.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(opts.Logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))

	mux.Group(func(r chi.Router) {
		if opts.Timeout > 0 {
			r.Use(timeout(opts.Timeout))
		}
		r.Group(func(r chi.Router) {
			r.Use(s.require(ScopeChat))
			r.Post("/v1/classify", s.handle(s.classify))
			r.Post("/v1/chat", s.handle(s.chat))
			r.Post("/v1/chat/completions", s.handle(s.completions))
			r.Get("/v1/sessions/{id}", s.handle(s.getSession))
			r.Delete("/v1/sessions/{id}", s.handle(s.deleteSession))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.require(ScopeKnowledge))
			r.Post("/v1/knowledge/search", s.handle(s.searchKnowledge))
			r.Get("/v1/knowledge/documents", s.handle(s.listDocuments))
			r.Post("/v1/knowledge/documents", s.handle(s.putDocument))
			r.Delete("/v1/knowledge/documents/*", s.handle(s.deleteDocument))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.require(ScopeAdmin))
			r.Get("/v1/handoff", s.handle(s.handoffQueue))
			r.Post("/v1/handoff/{id}/reply", s.handle(s.agentReply))
			r.Post("/v1/handoff/{id}/release", s.handle(s.release))
			r.Post("/admin/reload", s.handle(s.reloadHandler))
		})
	})
	return mux
}

// handlerFunc is an HTTP handler that reports failure by returning an error
// instead of writing it (tailscale's tsweb.ReturnHandler).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to http.HandlerFunc; a returned error is logged and
// rendered as the envelope, with its status from toError.
func (s *server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// reloadHandler serves POST /admin/reload. A failed reload is 400 with
// the reason (a config key, or flow errors with file:line:col); the
// running configuration keeps serving.
func (s *server) reloadHandler(w http.ResponseWriter, r *http.Request) error {
	if s.reload == nil {
		return NewError(CodeNotReady, "reloading is not available")
	}
	if err := s.reload(r.Context()); err != nil {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Message: err.Error(), Err: err}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.ready != nil {
		if err := s.ready(); err != nil {
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeNotReady, Message: err.Error(), Err: err}
		}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// standardMethods are the methods considered for the Allow header.
var standardMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// allowedMethods lists the methods routes accepts on path, comma-separated.
func allowedMethods(routes chi.Routes, path string) string {
	var allowed []string
	for _, m := range standardMethods {
		if routes.Match(chi.NewRouteContext(), m, path) {
			allowed = append(allowed, m)
		}
	}
	return strings.Join(allowed, ", ")
}

// writeJSON writes v as the JSON response with the given status. HTML
// escaping is off so Chinese text and '<' stay readable. It encodes before
// writing anything, so an encoding error (say, a NaN) is returned with the
// response untouched; errors writing to the client are ignored, as the
// client is gone.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("api: encoding response: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}
