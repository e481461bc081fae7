package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/engine"
)

// keepAlive is how often an SSE response sends a comment while it waits.
const keepAlive = 15 * time.Second

// sse writes server-sent events; it is safe for the keep-alive goroutine
// and the turn to share.
type sse struct {
	mu sync.Mutex
	w  http.ResponseWriter
	f  http.Flusher
}

func startSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	s := &sse{w: w, f: f}
	s.flush()
	return s
}

func (s *sse) flush() {
	if s.f != nil {
		s.f.Flush()
	}
}

// event writes one event: an event line when name is set, and the data.
func (s *sse) event(name string, v any) {
	data, _ := json.Marshal(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	if name != "" {
		s.w.Write([]byte("event: " + name + "\n"))
	}
	s.w.Write([]byte("data: "))
	s.w.Write(data)
	s.w.Write([]byte("\n\n"))
	s.flush()
}

func (s *sse) raw(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Write([]byte(line))
	s.flush()
}

// keepAlive sends a comment every interval until stop is closed.
func (s *sse) keepAlive(stop <-chan struct{}) {
	t := time.NewTicker(keepAlive)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.raw(": keep-alive\n\n")
		}
	}
}

func wantsStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// streamTurn runs a turn and streams it as SSE: `start` with the route and
// intent, `delta` events with text as it is produced (a reply that is not
// generated comes as one delta), and `done` with the whole reply. A failure
// after the stream began is an `error` event with the envelope. The turn
// stops when the client goes away (its context ends).
func (s *server) streamTurn(w http.ResponseWriter, r *http.Request, req engine.Request) error {
	out := startSSE(w)
	stop := make(chan struct{})
	defer close(stop)
	go out.keepAlive(stop)
	started := false
	req.Stream = func(ev engine.StreamEvent) {
		if ev.Start {
			started = true
			out.event("start", map[string]any{"session_id": req.SessionID, "route": ev.Route, "intent": ev.Intent})
			return
		}
		out.event("delta", map[string]string{"text": ev.Delta})
	}
	rep, err := s.engine.Turn(r.Context(), req)
	if err != nil {
		e := toError(err)
		s.logError(r, e)
		out.event("error", envelope{Error: envelopeError{Code: e.Code, Message: e.Message, RequestID: RequestID(r.Context())}})
		return nil
	}
	if !started {
		out.event("start", map[string]any{"session_id": rep.SessionID, "route": rep.Route, "intent": rep.Intent})
		text := make([]string, 0, len(rep.Replies))
		for _, p := range rep.Replies {
			text = append(text, p.Text)
		}
		if len(text) > 0 {
			out.event("delta", map[string]string{"text": strings.Join(text, "\n")})
		}
	}
	out.event("done", rep)
	return nil
}
