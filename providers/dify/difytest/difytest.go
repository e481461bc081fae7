// Package difytest is an httptest double of Dify's Service API for chat
// apps (POST /v1/chat-messages and its stop endpoint), speaking Dify's
// wire format: Bearer app keys, Dify's JSON error shape
// {"code","message","status"}, conversations owned by (app, user), the
// blocking JSON reply, and streams framed as Dify frames them (data-only
// "data: {json}" frames, bare "event: ping" keep-alives, exactly one
// terminal message_end or error event).
//
// Each test scripts failures through Server.Hook, which sees every
// request that passed auth and validation and returns a Behavior: an
// HTTP error (429 with Retry-After, 5xx bursts…), a slow reply or first
// token, an in-stream error event, a moderation replacement, or a cut
// connection.
package difytest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Call is one POST /chat-messages that passed auth and validation.
type Call struct {
	N              int // 1-based count of such calls on this server
	Query          string
	User           string
	Inputs         map[string]any
	ConversationID string // as sent; "" for a new conversation
	Streaming      bool
}

// Behavior scripts the reply to one call; the zero value answers
// normally.
type Behavior struct {
	// Status, when non-zero, replies with Dify's JSON error
	// {"code": Code, "message": Message, "status": Status} instead of an
	// answer, with HTTP status Status (or 200 when OK200 is set, as a
	// misbehaving proxy or a Dify that fails after committing might).
	Status     int
	Code       string
	Message    string
	RetryAfter string // the Retry-After header, sent with Status
	OK200      bool

	// HeaderDelay waits before any reply.
	HeaderDelay time.Duration
	// FirstTokenDelay (streaming) waits after the headers and the opening
	// ping before the first delta, sending pings meanwhile.
	FirstTokenDelay time.Duration
	// ChunkDelay (streaming) waits between deltas.
	ChunkDelay time.Duration

	// After is how many deltas go out before StreamError, Replace or
	// Disconnect takes effect.
	After int
	// StreamError (streaming) ends the stream with this error event.
	StreamError *Error
	// Replace (streaming) sends message_replace with this text (output
	// moderation), then message_end.
	Replace string
	// Disconnect (streaming) cuts the connection without message_end.
	Disconnect bool
}

// Error is Dify's error body and in-stream error event payload.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
	Params  string `json:"params,omitempty"`
}

// Server is a running double. Set its fields before the first request.
type Server struct {
	// URL is the Service API base, ending in /v1.
	URL string
	// APIKey is the app key every request must send as "Bearer <key>".
	APIKey string
	// Answer computes the reply; default "echo: " + the query.
	Answer func(Call) string
	// Hook scripts each call; nil answers every call normally.
	Hook func(Call) Behavior
	// ChunkRunes is the size of each streamed delta in runes; default 3.
	ChunkRunes int
	// PingInterval is how often pings go out while a stream waits;
	// default 20ms (Dify: about 10s).
	PingInterval time.Duration

	srv *httptest.Server

	mu          sync.Mutex
	n           int
	calls       []Call
	convs       map[string]*conversation
	tasks       map[string]chan struct{}
	disconnects int
}

type conversation struct {
	user    string
	queries []string
}

// New starts a double requiring apiKey and closes it when tb ends.
func New(tb testing.TB, apiKey string) *Server {
	tb.Helper()
	s := &Server{APIKey: apiKey, convs: map[string]*conversation{}, tasks: map[string]chan struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat-messages", s.chat)
	mux.HandleFunc("POST /v1/chat-messages/{task_id}/stop", s.stop)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/v1"
	tb.Cleanup(s.Close)
	return s
}

// Close shuts the server down.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Calls returns the calls seen so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Conversations returns each conversation id with its owner.
func (s *Server) Conversations() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for id, c := range s.convs {
		out[id] = c.user
	}
	return out
}

// Queries returns the queries of conversation id, in order.
func (s *Server) Queries(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.convs[id]; ok {
		return append([]string(nil), c.queries...)
	}
	return nil
}

// DeleteConversation forgets id, as deleting it in Dify's console or
// API does.
func (s *Server) DeleteConversation(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.convs, id)
}

// Disconnects counts the streams whose client went away before the end.
func (s *Server) Disconnects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disconnects
}

func writeError(w http.ResponseWriter, httpStatus int, e Error) {
	w.Header().Set("Content-Type", "application/json")
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
	}
	w.WriteHeader(httpStatus)
	json.NewEncoder(w).Encode(e)
}

func invalid(w http.ResponseWriter, param, msg string) {
	writeError(w, http.StatusBadRequest, Error{Code: "invalid_param", Message: msg, Status: 400, Params: param})
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) < len(p) || h[:len(p)] != p {
		writeError(w, http.StatusUnauthorized, Error{Code: "unauthorized",
			Message: "Authorization header must be provided and start with 'Bearer'", Status: 401})
		return false
	}
	if h[len(p):] != s.APIKey {
		writeError(w, http.StatusUnauthorized, Error{Code: "unauthorized", Message: "Access token is invalid", Status: 401})
		return false
	}
	return true
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		invalid(w, "", "Content-Type must be application/json")
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		invalid(w, "", "The browser (or proxy) sent a request that this server could not understand.")
		return
	}
	var c Call
	if json.Unmarshal(body["query"], &c.Query) != nil || body["query"] == nil {
		invalid(w, "query", "query is required")
		return
	}
	if json.Unmarshal(body["inputs"], &c.Inputs) != nil || c.Inputs == nil {
		invalid(w, "inputs", "inputs is required and must be an object")
		return
	}
	if json.Unmarshal(body["user"], &c.User) != nil || c.User == "" {
		invalid(w, "user", "user is required")
		return
	}
	var mode string
	if raw, ok := body["response_mode"]; ok && json.Unmarshal(raw, &mode) != nil {
		invalid(w, "response_mode", "response_mode must be a string")
		return
	}
	c.Streaming = mode == "streaming"
	if raw, ok := body["conversation_id"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &c.ConversationID) != nil ||
			(c.ConversationID != "" && !uuidRE.MatchString(c.ConversationID)) {
			invalid(w, "conversation_id", "conversation_id must be a valid UUID")
			return
		}
	}

	s.mu.Lock()
	s.n++
	c.N = s.n
	s.calls = append(s.calls, c)
	s.mu.Unlock()

	var b Behavior
	if s.Hook != nil {
		b = s.Hook(c)
	}
	if b.HeaderDelay > 0 {
		select {
		case <-time.After(b.HeaderDelay):
		case <-r.Context().Done():
			s.countDisconnect()
			return
		}
	}
	if b.Status != 0 {
		if b.RetryAfter != "" {
			w.Header().Set("Retry-After", b.RetryAfter)
		}
		st := b.Status
		if b.OK200 {
			st = http.StatusOK
		}
		writeError(w, st, Error{Code: b.Code, Message: b.Message, Status: b.Status})
		return
	}

	// Dify's conversation lookup filters by app and end user, so another
	// user's conversation is as unknown as a deleted one.
	s.mu.Lock()
	convID := c.ConversationID
	if convID == "" {
		convID = newUUID()
		s.convs[convID] = &conversation{user: c.User}
	}
	conv, ok := s.convs[convID]
	if !ok || conv.user != c.User {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, Error{Code: "not_found", Message: "Conversation Not Exists.", Status: 404})
		return
	}
	conv.queries = append(conv.queries, c.Query)
	taskID, msgID := newUUID(), newUUID()
	stop := make(chan struct{})
	s.tasks[taskID] = stop
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.tasks, taskID)
		s.mu.Unlock()
	}()

	answer := "echo: " + c.Query
	if s.Answer != nil {
		answer = s.Answer(c)
	}
	usage := map[string]any{
		"prompt_tokens": len([]rune(c.Query)), "prompt_unit_price": "0.001", "prompt_price_unit": "0.001",
		"prompt_price": "0.0000010", "completion_tokens": len([]rune(answer)), "completion_unit_price": "0.002",
		"completion_price_unit": "0.001", "completion_price": "0.0000020",
		"total_tokens": len([]rune(c.Query)) + len([]rune(answer)), "total_price": "0.0000030",
		"currency": "USD", "latency": 0.123,
	}
	metadata := map[string]any{"usage": usage, "retriever_resources": []any{}}
	now := time.Now().Unix()
	if !c.Streaming {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"event": "message", "task_id": taskID, "id": msgID, "message_id": msgID,
			"conversation_id": convID, "mode": "chat", "answer": answer, "metadata": metadata, "created_at": now,
		})
		return
	}
	s.stream(w, r, b, stop, answer, func(ev string, extra map[string]any) map[string]any {
		m := map[string]any{"event": ev, "task_id": taskID, "message_id": msgID,
			"conversation_id": convID, "created_at": now}
		if ev != "error" {
			m["id"] = msgID
		}
		for k, v := range extra {
			m[k] = v
		}
		if ev == "message_end" {
			m["metadata"] = metadata
		}
		return m
	})
}

func (s *Server) countDisconnect() {
	s.mu.Lock()
	s.disconnects++
	s.mu.Unlock()
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, b Behavior, stop <-chan struct{},
	answer string, ev func(string, map[string]any) map[string]any) {
	fl := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	ok := true
	send := func(m map[string]any) {
		if !ok {
			return
		}
		data, _ := json.Marshal(m) // compact, as orjson writes it
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			ok = false
			return
		}
		fl.Flush()
	}
	ping := func() {
		if _, err := fmt.Fprint(w, "event: ping\n\n"); err != nil {
			ok = false
			return
		}
		fl.Flush()
	}
	interval := s.PingInterval
	if interval <= 0 {
		interval = 20 * time.Millisecond
	}
	// wait sleeps d, pinging; false when the client left or stop came.
	stopped := false
	wait := func(d time.Duration) bool {
		deadline := time.After(d)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for ok {
			select {
			case <-deadline:
				return true
			case <-tick.C:
				ping()
			case <-stop:
				stopped = true
				return false
			case <-r.Context().Done():
				ok = false
			}
		}
		return false
	}
	ping()
	if b.FirstTokenDelay > 0 && !wait(b.FirstTokenDelay) && !stopped {
		s.countDisconnect()
		return
	}
	size := s.ChunkRunes
	if size <= 0 {
		size = 3
	}
	runes := []rune(answer)
	for i, n := 0, 0; i < len(runes) && !stopped; i, n = i+size, n+1 {
		select {
		case <-stop:
			stopped = true
			continue
		default:
		}
		if n == b.After {
			switch {
			case b.StreamError != nil:
				send(ev("error", map[string]any{"status": b.StreamError.Status,
					"code": b.StreamError.Code, "message": b.StreamError.Message}))
				return
			case b.Replace != "":
				send(ev("message_replace", map[string]any{"answer": b.Replace}))
				send(ev("message_end", nil))
				return
			case b.Disconnect:
				panic(http.ErrAbortHandler)
			}
		}
		if n > 0 && b.ChunkDelay > 0 && !wait(b.ChunkDelay) && !stopped {
			s.countDisconnect()
			return
		}
		if stopped {
			break
		}
		send(ev("message", map[string]any{"answer": string(runes[i:min(i+size, len(runes))])}))
		if !ok || r.Context().Err() != nil {
			s.countDisconnect()
			return
		}
	}
	if !stopped {
		switch {
		case b.StreamError != nil:
			send(ev("error", map[string]any{"status": b.StreamError.Status,
				"code": b.StreamError.Code, "message": b.StreamError.Message}))
			return
		case b.Replace != "":
			send(ev("message_replace", map[string]any{"answer": b.Replace}))
		case b.Disconnect:
			panic(http.ErrAbortHandler)
		}
	}
	send(ev("message_end", nil))
}

// stop ends a running stream early, as Dify's stop endpoint does; like
// Dify it answers success whatever the task.
func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	var body struct {
		User string `json:"user"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.User == "" {
		invalid(w, "user", "user is required")
		return
	}
	s.mu.Lock()
	if ch, ok := s.tasks[r.PathValue("task_id")]; ok {
		close(ch)
		delete(s.tasks, r.PathValue("task_id"))
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"result":"success"}` + "\n"))
}

// RetryAfterSeconds formats d for Behavior.RetryAfter.
func RetryAfterSeconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
