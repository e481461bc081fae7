// Package openaitest is an httptest double of an OpenAI-compatible API,
// speaking the real wire format, for kefu's tests: the openai provider's,
// the gateway's, the API facade's.
//
// It serves POST /v1/chat/completions (JSON, or SSE with "stream": true,
// ending "data: [DONE]", usage in a last chunk with choices [] when
// stream_options.include_usage is set) and POST /v1/embeddings. It checks
// bearer auth, the method, the JSON body, the required fields (model,
// messages with known roles and string content), that stream_options
// only comes with stream, and the prompt length against MaxContext, and
// answers mistakes with OpenAI's envelope
// {"error":{"message","type","param","code"}}.
//
// Faults (429 with Retry-After, 5xx bursts, a hang, a slow first token,
// a mid-stream disconnect, a reply cut short, garbage or malformed frames
// in a stream, an in-stream error frame, context too long, content
// filtered, a raw body) are switched per request with Config.Script or
// Server.FailNext.
//
// Token counts are runes: prompt_tokens is the runes of every message's
// content, completion_tokens the runes of the reply. They are
// deterministic, not a tokenizer's.
package openaitest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// Message is one message of a chat request as the double decoded it.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest is a chat completions request as the double decoded it.
type ChatRequest struct {
	Model         string    `json:"model"`
	Messages      []Message `json:"messages"`
	Stream        bool      `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens   *int     `json:"max_tokens"`
	Temperature *float64 `json:"temperature"`
	User        string   `json:"user"`

	// Header is the request's header (Authorization included).
	Header http.Header `json:"-"`
}

// LastUser returns the content of the last user message, "" if none.
func (r ChatRequest) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// Fault is what the double does instead of (or while) answering one
// request. The zero Fault answers normally.
type Fault struct {
	// Status, when non-zero, answers with this status and OpenAI's error
	// envelope built from Type, Code, Param and Message.
	Status  int
	Type    string
	Code    string
	Param   string
	Message string
	// Header is added to the response (Retry-After, for one).
	Header http.Header

	// Delay waits before the first byte (a slow first token); the request's
	// context cuts it short.
	Delay time.Duration
	// ChunkDelay waits before every streamed chunk after the first.
	ChunkDelay time.Duration
	// AfterChunks is how many content chunks a stream sends before
	// Disconnect or StreamError take effect.
	AfterChunks int
	// Disconnect drops the connection mid-stream, without [DONE].
	Disconnect bool
	// Truncate (a request that does not stream) sends the first half of
	// the JSON reply, with the whole reply's Content-Length, and drops the
	// connection.
	Truncate bool
	// Malformed (a stream) is written as it is after AfterChunks content
	// chunks: garbage lines, comments, a "data: {bad json" frame. The
	// stream then goes on, unless Disconnect or StreamError ends it there.
	Malformed string
	// StreamError sends {"error":{…}} as a data frame (built from Type,
	// Code, Message) mid-stream and ends the stream.
	StreamError bool
	// FinishReason replaces "stop" (content_filter, length).
	FinishReason string
	// Raw, when non-nil, is written as the whole body of a 200
	// text/event-stream (or JSON when the request is not streaming).
	Raw []byte
}

// RateLimited is a 429 with Retry-After set to retryAfter (omitted if "").
func RateLimited(retryAfter string) Fault {
	f := Fault{Status: 429, Type: "requests", Code: "rate_limit_exceeded",
		Message: "Rate limit reached for requests. Please try again later."}
	if retryAfter != "" {
		f.Header = http.Header{"Retry-After": {retryAfter}}
	}
	return f
}

// Hang holds the request without answering until the client goes away or
// the server closes: an upstream that accepted the connection and stalls.
func Hang() Fault { return Fault{Delay: 24 * time.Hour} }

// ServerError is a 500 as OpenAI sends it.
func ServerError() Fault {
	return Fault{Status: 500, Type: "server_error",
		Message: "The server had an error while processing your request. Sorry about that!"}
}

// ContextLengthExceeded is OpenAI's 400 for a prompt that is too long.
func ContextLengthExceeded() Fault {
	return Fault{Status: 400, Type: "invalid_request_error", Code: "context_length_exceeded", Param: "messages",
		Message: "This model's maximum context length is 16 tokens. However, your messages resulted in 32 tokens. Please reduce the length of the messages."}
}

// ContentFiltered is Azure OpenAI's 400 for a prompt its filter refused.
func ContentFiltered() Fault {
	return Fault{Status: 400, Type: "invalid_request_error", Code: "content_filter", Param: "prompt",
		Message: "The response was filtered due to the prompt triggering content management policy."}
}

// Config configures a Server. The zero Config echoes the last user message
// and accepts any bearer token.
type Config struct {
	// APIKey is the bearer token required; "" accepts any non-empty one.
	APIKey string
	// Models, when set, are the only models known; others get 404
	// model_not_found.
	Models []string
	// Reply makes the answer; nil echoes the last user message.
	Reply func(ChatRequest) string
	// ChunkRunes is how many runes each streamed delta holds; 0 means 3.
	ChunkRunes int
	// MaxContext, when > 0, is the prompt length in runes beyond which the
	// double answers 400 context_length_exceeded.
	MaxContext int
	// Script, when set, is asked for a fault for the n-th (1-based)
	// request to /v1/chat/completions; nil answers normally. FailNext's
	// queue goes first.
	Script func(n int, req ChatRequest) *Fault
	// EmbeddingDim is the length of embeddings; 0 means 8.
	EmbeddingDim int
}

// Server is a running double. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API base, ending /v1: the provider's base_url.
	URL string

	srv   *httptest.Server
	cfg   Config
	chats atomic.Int64
	strms atomic.Int64
	embs  atomic.Int64
	all   atomic.Int64

	mu     sync.Mutex
	queue  []Fault
	last   ChatRequest
	active int
}

// New starts a double and closes it when t ends.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := &Server{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", s.chat)
	mux.HandleFunc("/v1/embeddings", s.embeddings)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.all.Add(1)
		mux.ServeHTTP(w, r)
	}))
	s.URL = s.srv.URL + "/v1"
	t.Cleanup(s.Close)
	return s
}

// Close shuts the double down, waiting for its handlers.
func (s *Server) Close() {
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// FailNext queues faults for the next chat requests, one each, in order.
func (s *Server) FailNext(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, faults...)
}

// Requests is how many HTTP requests reached the double, on any path.
func (s *Server) Requests() int { return int(s.all.Load()) }

// ChatRequests is how many requests reached /v1/chat/completions,
// streaming ones included.
func (s *Server) ChatRequests() int { return int(s.chats.Load()) }

// StreamRequests is how many chat requests asked to stream.
func (s *Server) StreamRequests() int { return int(s.strms.Load()) }

// EmbeddingRequests is how many requests reached /v1/embeddings.
func (s *Server) EmbeddingRequests() int { return int(s.embs.Load()) }

// Active is how many chat handlers are running now; 0 once every stream
// has ended or its client went away.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// LastRequest is the last chat request that decoded and passed the checks.
func (s *Server) LastRequest() ChatRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func envelope(f Fault) map[string]apiError {
	e := apiError{Message: f.Message, Type: f.Type}
	if f.Param != "" {
		e.Param = &f.Param
	}
	if f.Code != "" {
		e.Code = &f.Code
	}
	return map[string]apiError{"error": e}
}

func writeError(w http.ResponseWriter, f Fault) {
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(envelope(f))
}

func badRequest(w http.ResponseWriter, param, msg string) {
	writeError(w, Fault{Status: 400, Type: "invalid_request_error", Param: param, Message: msg})
}

// auth checks the bearer token as OpenAI does, echoing the token it got
// in the message (OpenAI echoes part of it): clients must not pass it on.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		writeError(w, Fault{Status: 401, Type: "invalid_request_error",
			Message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."})
		return false
	}
	if s.cfg.APIKey != "" && tok != s.cfg.APIKey {
		writeError(w, Fault{Status: 401, Type: "invalid_request_error", Code: "invalid_api_key",
			Message: "Incorrect API key provided: " + tok + ". You can find your API key at https://platform.openai.com/account/api-keys."})
		return false
	}
	return true
}

func (s *Server) nextFault(n int, req ChatRequest) *Fault {
	s.mu.Lock()
	if len(s.queue) > 0 {
		f := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		return &f
	}
	s.mu.Unlock()
	if s.cfg.Script != nil {
		return s.cfg.Script(n, req)
	}
	return nil
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	n := int(s.chats.Add(1))
	s.mu.Lock()
	s.active++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
	}()
	if r.Method != http.MethodPost {
		writeError(w, Fault{Status: 405, Type: "invalid_request_error", Message: "Invalid method for URL (" + r.Method + " /v1/chat/completions)"})
		return
	}
	if !s.auth(w, r) {
		return
	}
	var req ChatRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20))
	if err := dec.Decode(&req); err != nil {
		badRequest(w, "", "We could not parse the JSON body of your request. ("+err.Error()+")")
		return
	}
	req.Header = r.Header.Clone()
	if req.Stream {
		s.strms.Add(1)
	}
	if req.Model == "" {
		badRequest(w, "model", "you must provide a model parameter")
		return
	}
	if len(s.cfg.Models) > 0 && !contains(s.cfg.Models, req.Model) {
		writeError(w, Fault{Status: 404, Type: "invalid_request_error", Code: "model_not_found", Param: "model",
			Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model)})
		return
	}
	if len(req.Messages) == 0 {
		badRequest(w, "messages", "[] is too short - 'messages'")
		return
	}
	prompt := 0
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant", "developer", "tool":
		default:
			badRequest(w, fmt.Sprintf("messages.[%d].role", i), fmt.Sprintf("'%s' is not one of ['system', 'assistant', 'user', 'tool', 'function', 'developer'] - 'messages.%d.role'", m.Role, i))
			return
		}
		prompt += utf8.RuneCountInString(m.Content)
	}
	if req.StreamOptions != nil && !req.Stream {
		badRequest(w, "stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
		return
	}
	if req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2) {
		badRequest(w, "temperature", fmt.Sprintf("%g is greater than the maximum of 2 - 'temperature'", *req.Temperature))
		return
	}
	if s.cfg.MaxContext > 0 && prompt > s.cfg.MaxContext {
		f := ContextLengthExceeded()
		f.Message = fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.", s.cfg.MaxContext, prompt)
		writeError(w, f)
		return
	}
	s.mu.Lock()
	s.last = req
	s.mu.Unlock()

	f := s.nextFault(n, req)
	if f == nil {
		f = &Fault{}
	}
	if f.Delay > 0 && !sleep(r, f.Delay) {
		return
	}
	if f.Status != 0 {
		writeError(w, *f)
		return
	}
	if f.Raw != nil {
		if req.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		_, _ = w.Write(f.Raw)
		return
	}

	reply := req.LastUser()
	if s.cfg.Reply != nil {
		reply = s.cfg.Reply(req)
	}
	finish := "stop"
	if f.FinishReason != "" {
		finish = f.FinishReason
	}
	usage := map[string]int{
		"prompt_tokens":     prompt,
		"completion_tokens": utf8.RuneCountInString(reply),
		"total_tokens":      prompt + utf8.RuneCountInString(reply),
	}
	id := fmt.Sprintf("chatcmpl-%d", n)
	created := time.Now().Unix()
	if !req.Stream {
		body, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"system_fingerprint": "fp_openaitest",
			"choices": []any{map[string]any{
				"index": 0, "message": map[string]any{"role": "assistant", "content": reply, "refusal": nil},
				"logprobs": nil, "finish_reason": finish,
			}},
			"usage": usage,
		})
		body = append(body, '\n')
		w.Header().Set("Content-Type", "application/json")
		if f.Truncate {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			_, _ = w.Write(body[:len(body)/2])
			drop(w)
			return
		}
		_, _ = w.Write(body)
		return
	}
	s.stream(w, r, req, f, id, created, reply, finish, usage)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, req ChatRequest, f *Fault, id string, created int64, reply, finish string, usage map[string]int) {
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return r.Context().Err() == nil
	}
	chunk := func(delta map[string]any, fin any) map[string]any {
		c := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_openaitest",
			"choices":            []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": fin}},
		}
		if includeUsage {
			c["usage"] = nil
		}
		return c
	}
	if !send(chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil)) {
		return
	}
	size := s.cfg.ChunkRunes
	if size <= 0 {
		size = 3
	}
	rs := []rune(reply)
	sent, wrote := 0, false
	malformed := func() bool {
		if f.Malformed == "" || wrote || sent < f.AfterChunks {
			return true
		}
		wrote = true
		if _, err := fmt.Fprint(w, f.Malformed); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return r.Context().Err() == nil
	}
	for i := 0; i < len(rs); i += size {
		if !malformed() {
			return
		}
		if (f.Disconnect || f.StreamError) && sent >= f.AfterChunks {
			break
		}
		if f.ChunkDelay > 0 && !sleep(r, f.ChunkDelay) {
			return
		}
		if !send(chunk(map[string]any{"content": string(rs[i:min(i+size, len(rs))])}, nil)) {
			return
		}
		sent++
	}
	if sent < f.AfterChunks {
		sent = f.AfterChunks // a reply shorter than that: the frame goes at its end
	}
	if !malformed() {
		return
	}
	if f.Disconnect {
		drop(w)
		return
	}
	if f.StreamError {
		typ := f.Type
		if typ == "" {
			typ = "server_error"
		}
		send(envelope(Fault{Type: typ, Code: f.Code, Param: f.Param, Message: f.Message}))
		return
	}
	if !send(chunk(map[string]any{}, finish)) {
		return
	}
	if includeUsage {
		u := chunk(nil, nil)
		u["choices"] = []any{}
		u["usage"] = usage
		if !send(u) {
			return
		}
	}
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}

// drop closes the connection under w at once, without ending the body.
func drop(w http.ResponseWriter) {
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// sleep waits d or until the client goes away; it reports whether to go on.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	s.embs.Add(1)
	if r.Method != http.MethodPost {
		writeError(w, Fault{Status: 405, Type: "invalid_request_error", Message: "Invalid method for URL (" + r.Method + " /v1/embeddings)"})
		return
	}
	if !s.auth(w, r) {
		return
	}
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<20)).Decode(&req); err != nil {
		badRequest(w, "", "We could not parse the JSON body of your request. ("+err.Error()+")")
		return
	}
	if req.Model == "" {
		badRequest(w, "model", "you must provide a model parameter")
		return
	}
	var inputs []string
	var one string
	if err := json.Unmarshal(req.Input, &one); err == nil {
		inputs = []string{one}
	} else if err := json.Unmarshal(req.Input, &inputs); err != nil || len(inputs) == 0 {
		badRequest(w, "input", "'input' must be a string or a non-empty array of strings")
		return
	}
	dim := s.cfg.EmbeddingDim
	if dim <= 0 {
		dim = 8
	}
	data := make([]any, len(inputs))
	tokens := 0
	for i, in := range inputs {
		if in == "" {
			badRequest(w, fmt.Sprintf("input[%d]", i), "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.")
			return
		}
		tokens += utf8.RuneCountInString(in)
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": Embed(in, dim)}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

// Embed is the double's embedding of text: deterministic, unit length,
// dim values derived from FNV hashes of text.
func Embed(text string, dim int) []float32 {
	v := make([]float32, dim)
	var norm float64
	for i := range v {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d\x00%s", i, text)
		x := float64(h.Sum64()%2000)/1000 - 1
		v[i] = float32(x)
		norm += x * x
	}
	if norm == 0 {
		v[0], norm = 1, 1
	}
	n := math.Sqrt(norm)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
	return v
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
