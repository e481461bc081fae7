package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
)

// HeaderRequestID is the request and response header carrying the request id.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen bounds an incoming request id that is reused.
const maxRequestIDLen = 128

type requestIDKey struct{}

// RequestID returns the request id stored in ctx by the handler from [New],
// or "" if there is none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID gives every request an id: the incoming X-Request-Id if it is
// sane, else a random one. The id goes in the context and the response
// header.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !saneRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// saneRequestID reports whether id is 1 to 128 printable ASCII characters,
// safe to echo in a header and a log line.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails; see crypto/rand.Read
	return hex.EncodeToString(b[:])
}

// recoverer turns a panic into a logged stack and the 500 envelope.
// http.ErrAbortHandler is re-panicked: it is net/http's way to abort a
// response, not a bug.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			s.logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("request_id", RequestID(r.Context())),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Any("panic", rec),
				slog.String("stack", string(debug.Stack())),
			)
			if !headerWritten(w) {
				writeError(w, r, Internal(fmt.Errorf("panic: %v", rec)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// timeout sets a deadline of d on each request's context. Handlers must
// watch the context; one that returns context.DeadlineExceeded answers 504.
func timeout(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// quietRoutes are probe and scrape routes, logged at Debug when they
// succeed so they do not drown the access log.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// observe writes one access log line and records the HTTP metrics for each
// request. It logs method, path, status, duration and request id; never the
// body or query.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		sess := new(string)
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess))
		next.ServeHTTP(sw, r)
		elapsed := time.Since(start)

		status := sw.status
		if status == 0 {
			status = http.StatusOK // the handler wrote nothing
		}
		// chi fills in the pattern while routing, so read it afterwards.
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observeRequest(route, r.Method, status, elapsed)

		level := slog.LevelInfo
		if quietRoutes[route] && status < 400 {
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Duration("duration", elapsed),
			slog.Int64("bytes", sw.bytes),
			slog.String("request_id", RequestID(r.Context())),
		}
		if *sess != "" {
			attrs = append(attrs, slog.String("session", *sess))
		}
		s.logger.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// sessionKey holds a *string a handler fills with the request's session
// id, so the access log line carries it.
type sessionKey struct{}

// noteSession records the request's session id for the access log.
func noteSession(r *http.Request, id string) {
	if p, ok := r.Context().Value(sessionKey{}).(*string); ok {
		*p = id
	}
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int // 0 until the header is written
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx responses are not final
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers flush through the wrapper. It is a no-op
// when the underlying writer cannot flush.
func (w *statusWriter) Flush() {
	if http.NewResponseController(w.ResponseWriter).Flush() == nil && w.status == 0 {
		w.status = http.StatusOK
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headerWritten reports whether a response has started on w, looking
// through wrappers for the statusWriter that observe installs. Without one
// it reports false.
func headerWritten(w http.ResponseWriter) bool {
	for {
		if sw, ok := w.(*statusWriter); ok {
			return sw.status != 0
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}
