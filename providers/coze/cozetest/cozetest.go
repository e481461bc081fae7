// Package cozetest is an httptest double of Coze's open API v3 chat
// (WIRE.md §2): bearer auth, Coze's HTTP 200 {"code","msg"} business
// errors (also for stream:true), conversation ownership, conversation_id
// only in the query string, the asynchronous create → retrieve → message
// list path, and SSE framed as Coze frames it ("event:x" / "data:{…}"
// pairs, a blank line between, done with data "[DONE]").
//
// Faults are switched per test with Set.
package cozetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Codes the double answers with on HTTP 200 (or 401 for auth). 4000 and
// 4100 follow Coze's observed codes; the rest are the double's choice.
const (
	CodeBadParam      = 4000 // missing or invalid parameter
	CodeAuth          = 4100 // authentication is invalid
	CodeNotPublished  = 4015 // bot not published to the API channel
	CodeNotFound      = 4200 // conversation or chat not found / not yours
	CodeRateLimit     = 4013
	CodeInternal      = 5000
	CodeEventInterval = 5000 // the failure in coze-py's chat_failed fixture
)

// Query is one user turn as the double received it.
type Query struct {
	UserID         string
	ConversationID string
	Text           string
	Turn           int // 1 for the conversation's first user message
}

// Behavior switches the double's answers and faults. The zero value is a
// well-behaved bot that echoes.
type Behavior struct {
	// Answer scripts the reply; default "echo: "+q.Text.
	Answer func(q Query) string
	// Answers splits the reply into several answer messages (a workflow's
	// message nodes) when > 1.
	Answers int
	// DeltaRunes is the runes per conversation.message.delta; default 3.
	DeltaRunes int
	// Polls is how many retrieve calls answer in_progress before the
	// chat is completed; default 1.
	Polls int
	// FirstTokenDelay delays the first delta (streaming) or the
	// completion (non-streaming).
	FirstTokenDelay time.Duration

	// Status, when set, answers the next FailRequests requests (default
	// 1; -1 for all) with that HTTP status: 429 with RetryAfter, 5xx
	// bursts, 401…
	Status       int
	FailRequests int
	RetryAfter   string

	// Code and Msg, when Code != 0, answer POST /v3/chat with HTTP 200
	// {"code":Code,"msg":Msg}, as Coze does, also for stream:true.
	Code int
	Msg  string

	// FailCode and FailMsg fail the chat after FailAfter deltas: a
	// conversation.chat.failed event with last_error, or status failed on
	// retrieve.
	FailCode  int
	FailMsg   string
	FailAfter int
	// ErrorEvent sends a stream-level `error` event {"code","msg"} instead
	// (with FailCode/FailMsg) after FailAfter deltas.
	ErrorEvent bool
	// RequiresAction ends the chat in requires_action.
	RequiresAction bool
	// DisconnectAfter > 0 drops the connection after that many deltas.
	DisconnectAfter int
	// StallAfter > 0 stops sending after that many deltas and holds the
	// connection until the client goes away.
	StallAfter int
	// NoDone omits the final done event.
	NoDone bool
}

// Request is a request the double saw.
type Request struct {
	Method, Path   string
	ConversationID string // from the query string
	Body           map[string]any
}

// Server is the double. Token and BotID are what it accepts.
type Server struct {
	*httptest.Server
	Token string
	BotID string

	mu       sync.Mutex
	b        Behavior
	failed   int
	reqs     []Request
	convs    map[string]*conversation
	chats    map[string]*chatState
	seq      int
	open     atomic.Int64
	canceled atomic.Int64
}

type conversation struct {
	id, user string
	turns    int
	history  []message
}

type chatState struct {
	chat
	conv     *conversation
	polls    int
	created  time.Time
	msgs     []message
	finalize func()
}

type message struct {
	ID             string `json:"id,omitempty"`
	ConversationID string `json:"conversation_id,omitempty"`
	BotID          string `json:"bot_id,omitempty"`
	ChatID         string `json:"chat_id,omitempty"`
	Role           string `json:"role"`
	Type           string `json:"type,omitempty"`
	Content        string `json:"content"`
	ContentType    string `json:"content_type"`
}

type usage struct {
	TokenCount  int `json:"token_count"`
	OutputCount int `json:"output_count"`
	InputCount  int `json:"input_count"`
}

type lastError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

type chat struct {
	ID             string     `json:"id"`
	ConversationID string     `json:"conversation_id"`
	BotID          string     `json:"bot_id"`
	CreatedAt      int64      `json:"created_at"`
	CompletedAt    int64      `json:"completed_at,omitempty"`
	FailedAt       int64      `json:"failed_at,omitempty"`
	Status         string     `json:"status"`
	LastError      *lastError `json:"last_error,omitempty"`
	Usage          *usage     `json:"usage,omitempty"`
}

// New starts a double accepting token and botID; it is closed with t's
// Cleanup when t is given.
func New(t interface{ Cleanup(func()) }, token, botID string) *Server {
	s := &Server{Token: token, BotID: botID, convs: map[string]*conversation{}, chats: map[string]*chatState{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/chat", s.create)
	mux.HandleFunc("GET /v3/chat/retrieve", s.retrieve)
	mux.HandleFunc("GET /v3/chat/message/list", s.list)
	mux.HandleFunc("POST /v3/chat/cancel", s.cancel)
	s.Server = httptest.NewServer(s.auth(mux))
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

// Set replaces the behaviour; faults counted by FailRequests restart.
func (s *Server) Set(b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b, s.failed = b, 0
}

// Requests returns the requests seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// OpenStreams is how many SSE responses are being written now.
func (s *Server) OpenStreams() int { return int(s.open.Load()) }

// Canceled is how many chats were canceled through /v3/chat/cancel.
func (s *Server) Canceled() int { return int(s.canceled.Load()) }

// Conversations is how many conversations exist.
func (s *Server) Conversations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.convs)
}

// History returns the user and assistant messages saved in a conversation.
func (s *Server) History(convID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.convs[convID]
	if c == nil {
		return nil
	}
	var out []string
	for _, m := range c.history {
		out = append(out, m.Role+": "+m.Content)
	}
	return out
}

func (s *Server) behavior() Behavior {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Tt-Logid", "20250101000000DOUBLE")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func bizErr(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "msg": msg, "detail": map[string]string{"logid": "20250101000000DOUBLE"}})
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.Token {
			bizErr(w, http.StatusUnauthorized, CodeAuth, "authentication is invalid")
			return
		}
		s.mu.Lock()
		b := s.b
		fail := b.Status != 0 && (b.FailRequests < 0 || s.failed < max(b.FailRequests, 1))
		if fail {
			s.failed++
		}
		s.mu.Unlock()
		if fail {
			if b.RetryAfter != "" {
				w.Header().Set("Retry-After", b.RetryAfter)
			}
			code := CodeInternal
			if b.Status == http.StatusTooManyRequests {
				code = CodeRateLimit
			}
			bizErr(w, b.Status, code, http.StatusText(b.Status))
			return
		}
		next.ServeHTTP(w, r)
	})
}

var bodyFields = map[string]bool{
	"bot_id": true, "user_id": true, "additional_messages": true, "stream": true,
	"auto_save_history": true, "custom_variables": true, "meta_data": true, "extra_params": true,
	"connector_id": true, "parameters": true, "shortcut_command": true,
}

func (s *Server) record(r *http.Request, body map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, ConversationID: r.URL.Query().Get("conversation_id"), Body: body})
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var raw map[string]json.RawMessage
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		bizErr(w, 200, CodeBadParam, "content-type must be application/json")
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		bizErr(w, 200, CodeBadParam, "invalid request body: "+err.Error())
		return
	}
	var generic map[string]any
	b, _ := json.Marshal(raw)
	json.Unmarshal(b, &generic)
	s.record(r, generic)
	for k := range raw {
		if !bodyFields[k] {
			// conversation_id belongs in the query string.
			bizErr(w, 200, CodeBadParam, "unknown parameter "+k)
			return
		}
	}
	var req struct {
		BotID              string    `json:"bot_id"`
		UserID             string    `json:"user_id"`
		Stream             bool      `json:"stream"`
		AutoSaveHistory    *bool     `json:"auto_save_history"`
		AdditionalMessages []message `json:"additional_messages"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		bizErr(w, 200, CodeBadParam, "invalid parameter: "+err.Error())
		return
	}
	bh := s.behavior()
	switch {
	case req.BotID == "":
		bizErr(w, 200, CodeBadParam, "bot_id is required")
		return
	case req.BotID != s.BotID:
		bizErr(w, 200, CodeNotPublished, "bot "+req.BotID+" has not been published to the API channel")
		return
	case req.UserID == "":
		bizErr(w, 200, CodeBadParam, "user_id is required")
		return
	case len(req.AdditionalMessages) == 0 || len(req.AdditionalMessages) > 100:
		bizErr(w, 200, CodeBadParam, "additional_messages must hold 1 to 100 messages")
		return
	case !req.Stream && (req.AutoSaveHistory == nil || !*req.AutoSaveHistory):
		bizErr(w, 200, CodeBadParam, "auto_save_history must be true for non-streaming chat")
		return
	case bh.Code != 0:
		bizErr(w, 200, bh.Code, bh.Msg)
		return
	}
	var text string
	for _, m := range req.AdditionalMessages {
		if m.Role != "user" && m.Role != "assistant" || m.ContentType != "text" && m.ContentType != "object_string" {
			bizErr(w, 200, CodeBadParam, "invalid message role or content_type")
			return
		}
		if m.Role == "user" {
			text = m.Content
		}
	}
	if text == "" {
		bizErr(w, 200, CodeBadParam, "no user message")
		return
	}

	s.mu.Lock()
	convID := r.URL.Query().Get("conversation_id")
	var conv *conversation
	if convID != "" {
		conv = s.convs[convID]
		if conv == nil || conv.user != req.UserID {
			s.mu.Unlock()
			bizErr(w, 200, CodeNotFound, "conversation not found")
			return
		}
	} else {
		s.seq++
		conv = &conversation{id: fmt.Sprintf("74%015d", s.seq), user: req.UserID}
		s.convs[conv.id] = conv
	}
	s.seq++
	cs := &chatState{conv: conv, chat: chat{ID: fmt.Sprintf("75%015d", s.seq), ConversationID: conv.id, BotID: s.BotID,
		CreatedAt: time.Now().Unix(), Status: "created"}, created: time.Now()}
	conv.turns++
	q := Query{UserID: req.UserID, ConversationID: conv.id, Text: text, Turn: conv.turns}
	s.chats[cs.ID] = cs
	s.mu.Unlock()

	answer := "echo: " + text
	if bh.Answer != nil {
		answer = bh.Answer(q)
	}
	parts := split(answer, bh.Answers)
	for _, p := range parts {
		s.mu.Lock()
		s.seq++
		id := s.seq
		s.mu.Unlock()
		cs.msgs = append(cs.msgs, message{ID: fmt.Sprintf("76%015d", id), ConversationID: conv.id, BotID: s.BotID,
			ChatID: cs.ID, Role: "assistant", Type: "answer", Content: p, ContentType: "text"})
	}
	cs.msgs = append(cs.msgs,
		message{ID: cs.ID + "-v", ConversationID: conv.id, BotID: s.BotID, ChatID: cs.ID, Role: "assistant", Type: "verbose",
			Content: `{"msg_type":"generate_answer_finish","data":"","from_module":null,"from_unit":null}`, ContentType: "text"},
		message{ID: cs.ID + "-f", ConversationID: conv.id, BotID: s.BotID, ChatID: cs.ID, Role: "assistant", Type: "follow_up",
			Content: "Anything else?", ContentType: "text"})
	u := &usage{InputCount: utf8.RuneCountInString(text), OutputCount: utf8.RuneCountInString(answer)}
	u.TokenCount = u.InputCount + u.OutputCount
	cs.finalize = func() {
		conv.history = append(conv.history, message{Role: "user", Content: text})
		switch {
		case bh.RequiresAction:
			cs.Status = "requires_action"
		case bh.FailCode != 0 || bh.FailMsg != "":
			cs.Status, cs.FailedAt = "failed", time.Now().Unix()
			cs.LastError = &lastError{bh.FailCode, bh.FailMsg}
		default:
			cs.Status, cs.CompletedAt, cs.Usage = "completed", time.Now().Unix(), u
			for _, m := range cs.msgs {
				if m.Type == "answer" {
					conv.history = append(conv.history, message{Role: "assistant", Content: m.Content})
				}
			}
		}
	}

	if !req.Stream {
		s.mu.Lock()
		cs.Status = "in_progress"
		c := cs.chat
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"code": 0, "msg": "", "data": c})
		return
	}
	s.sse(w, r, cs, bh)
}

func split(s string, n int) []string {
	r := []rune(s)
	if n <= 1 || len(r) < n {
		return []string{s}
	}
	var out []string
	size := len(r) / n
	for i := 0; i < n; i++ {
		end := (i + 1) * size
		if i == n-1 {
			end = len(r)
		}
		out = append(out, string(r[i*size:end]))
	}
	return out
}

func (s *Server) sse(w http.ResponseWriter, r *http.Request, cs *chatState, bh Behavior) {
	s.open.Add(1)
	defer s.open.Add(-1)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Tt-Logid", "20250101000000DOUBLE")
	w.WriteHeader(200)
	fl := w.(http.Flusher)
	send := func(name string, v any) {
		var data []byte
		if b, ok := v.([]byte); ok {
			data = b
		} else {
			data, _ = json.Marshal(v)
		}
		fmt.Fprintf(w, "event:%s\ndata:%s\n\n", name, data)
		fl.Flush()
	}
	snapshot := func() chat {
		s.mu.Lock()
		defer s.mu.Unlock()
		return cs.chat
	}
	send("conversation.chat.created", snapshot())
	s.mu.Lock()
	cs.Status = "in_progress"
	s.mu.Unlock()
	send("conversation.chat.in_progress", snapshot())
	if bh.FirstTokenDelay > 0 {
		select {
		case <-time.After(bh.FirstTokenDelay):
		case <-r.Context().Done():
			return
		}
	}
	step := bh.DeltaRunes
	if step <= 0 {
		step = 3
	}
	deltas := 0
	failing := bh.FailCode != 0 || bh.FailMsg != ""
	for _, m := range cs.msgs {
		if m.Type != "answer" {
			continue
		}
		rs := []rune(m.Content)
		for i := 0; i < len(rs); i += step {
			if failing && deltas == bh.FailAfter {
				s.fail(cs, bh, send, snapshot)
				return
			}
			if bh.DisconnectAfter > 0 && deltas == bh.DisconnectAfter {
				panic(http.ErrAbortHandler)
			}
			if bh.StallAfter > 0 && deltas == bh.StallAfter {
				<-r.Context().Done()
				return
			}
			d := m
			d.Content = string(rs[i:min(i+step, len(rs))])
			send("conversation.message.delta", d) // no created_at on deltas
			deltas++
		}
		send("conversation.message.completed", m)
	}
	if failing {
		s.fail(cs, bh, send, snapshot)
		return
	}
	for _, m := range cs.msgs {
		if m.Type != "answer" {
			send("conversation.message.completed", m)
		}
	}
	s.mu.Lock()
	cs.finalize()
	s.mu.Unlock()
	if bh.RequiresAction {
		send("conversation.chat.requires_action", snapshot())
	} else {
		send("conversation.chat.completed", snapshot())
	}
	if !bh.NoDone {
		send("done", []byte(`"[DONE]"`))
	}
}

func (s *Server) fail(cs *chatState, bh Behavior, send func(string, any), snapshot func() chat) {
	s.mu.Lock()
	cs.finalize()
	s.mu.Unlock()
	if bh.ErrorEvent {
		send("error", lastError{bh.FailCode, bh.FailMsg})
		return
	}
	send("conversation.chat.failed", snapshot())
	if !bh.NoDone {
		send("done", []byte(`"[DONE]"`))
	}
}

// chatOf checks conversation_id and chat_id in the query string and their
// ownership.
func (s *Server) chatOf(w http.ResponseWriter, r *http.Request) *chatState {
	s.record(r, nil)
	q := r.URL.Query()
	conv, id := q.Get("conversation_id"), q.Get("chat_id")
	if conv == "" || id == "" {
		bizErr(w, 200, CodeBadParam, "conversation_id and chat_id are required")
		return nil
	}
	s.mu.Lock()
	cs := s.chats[id]
	s.mu.Unlock()
	if cs == nil || cs.ConversationID != conv {
		bizErr(w, 200, CodeNotFound, "chat not found")
		return nil
	}
	return cs
}

func (s *Server) retrieve(w http.ResponseWriter, r *http.Request) {
	cs := s.chatOf(w, r)
	if cs == nil {
		return
	}
	bh := s.behavior()
	polls := bh.Polls
	if polls <= 0 {
		polls = 1
	}
	s.mu.Lock()
	if cs.Status == "in_progress" {
		cs.polls++
		if cs.polls > polls && time.Since(cs.created) >= bh.FirstTokenDelay {
			cs.finalize()
		}
	}
	c := cs.chat
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"code": 0, "msg": "", "data": c})
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	cs := s.chatOf(w, r)
	if cs == nil {
		return
	}
	s.mu.Lock()
	var msgs []message
	if cs.Status == "completed" {
		msgs = append(msgs, cs.msgs...)
	}
	s.mu.Unlock()
	if msgs == nil {
		msgs = []message{}
	}
	writeJSON(w, 200, map[string]any{"code": 0, "msg": "", "data": msgs})
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ConversationID string `json:"conversation_id"`
		ChatID         string `json:"chat_id"`
	}
	var buf bytes.Buffer
	buf.ReadFrom(r.Body)
	if err := json.Unmarshal(buf.Bytes(), &req); err != nil {
		bizErr(w, 200, CodeBadParam, "invalid body")
		return
	}
	s.mu.Lock()
	cs := s.chats[req.ChatID]
	if cs != nil && cs.ConversationID == req.ConversationID && (cs.Status == "created" || cs.Status == "in_progress") {
		cs.Status = "canceled"
		s.canceled.Add(1)
	}
	var c chat
	if cs != nil {
		c = cs.chat
	}
	s.mu.Unlock()
	if cs == nil {
		bizErr(w, 200, CodeNotFound, "chat not found")
		return
	}
	writeJSON(w, 200, map[string]any{"code": 0, "msg": "", "data": c})
}

// RetryAfterSeconds formats d for Behavior.RetryAfter.
func RetryAfterSeconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
