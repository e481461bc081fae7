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
// and the turn to share. The 200 and the headers go out with the first
// write, so a turn that fails before producing anything (another tenant's
// session, the store down) still answers with its own status and the
// envelope; see abort.
type sse struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	f       http.Flusher
	started bool // the 200 and the headers are written
	closed  bool // the handler is done with w: write nothing more
}

func newSSE(w http.ResponseWriter) *sse {
	f, _ := w.(http.Flusher)
	return &sse{w: w, f: f}
}

// begin writes the headers once. The caller holds mu.
func (s *sse) begin() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("Connection", "keep-alive")
	s.w.WriteHeader(http.StatusOK)
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
	if s.closed {
		return
	}
	s.begin()
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
	if s.closed {
		return
	}
	s.begin()
	s.w.Write([]byte(line))
	s.flush()
}

// abort stops the stream if nothing of it has been written, and reports
// whether it did: then the handler answers with an ordinary response.
// Otherwise the stream goes on, for the handler to end with an error event.
func (s *sse) abort() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return false
	}
	s.closed = true
	return true
}

// close ends all writing: after the handler returns, w is not ours.
func (s *sse) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
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
// before anything was sent is an ordinary error response; after the stream
// began, an `error` event with the envelope. The turn stops when the client
// goes away (its context ends).
func (s *server) streamTurn(w http.ResponseWriter, r *http.Request, req engine.Request) error {
	out := newSSE(w)
	defer out.close()
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
		e, plain := s.streamFailure(r, out, req.SessionID, err)
		if e != nil {
			out.event("error", envelope{Error: envelopeError{Code: e.Code, Message: e.Message, RequestID: RequestID(r.Context())}})
		}
		return plain
	}
	if !started {
		out.event("start", map[string]any{"session_id": rep.SessionID, "route": rep.Route, "intent": rep.Intent})
		if len(rep.Replies) > 0 {
			out.event("delta", map[string]string{"text": joinReplies(rep)})
		}
	}
	out.event("done", rep)
	return nil
}

// streamFailure maps a failed streamed turn. Before anything was sent the
// error goes back as an ordinary response (plain); after, it is logged and
// returned for the caller to send in the stream's own format.
func (s *server) streamFailure(r *http.Request, out *sse, session string, err error) (e *Error, plain error) {
	err = turnError(session, err)
	if out.abort() {
		return nil, err
	}
	e = toError(err)
	s.logError(r, e)
	return e, nil
}
