package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/kefu-chat/kefu/engine"
)

// The OpenAI-compatible facade: POST /v1/chat/completions runs one turn of
// the engine, so a frontend or SDK that speaks OpenAI's chat API talks to
// kefu unchanged. The session is the X-Session-Id header, else the `user`
// field; the last user message is the turn. `model` is accepted and echoed.

type completionMessage struct {
	Role    string `json:"role"`
	Content any    `json:"content"` // a string, or OpenAI's array of parts
	Name    string `json:"name,omitempty"`
}

type completionRequest struct {
	Model            string              `json:"model"`
	Messages         []completionMessage `json:"messages"`
	Stream           bool                `json:"stream"`
	User             string              `json:"user"`
	StreamOptions    map[string]any      `json:"stream_options"`
	Temperature      *float64            `json:"temperature"`
	TopP             *float64            `json:"top_p"`
	MaxTokens        *int                `json:"max_tokens"`
	MaxCompletion    *int                `json:"max_completion_tokens"`
	N                *int                `json:"n"`
	Stop             any                 `json:"stop"`
	PresencePenalty  *float64            `json:"presence_penalty"`
	FrequencyPenalty *float64            `json:"frequency_penalty"`
	Seed             *int                `json:"seed"`
	Metadata         map[string]string   `json:"metadata"`
}

// text returns a message's text: the string, or its text parts joined.
func (m completionMessage) text() string {
	switch c := m.Content.(type) {
	case string:
		return c
	case []any:
		var parts []string
		for _, p := range c {
			if pm, ok := p.(map[string]any); ok && pm["type"] == "text" {
				if t, ok := pm["text"].(string); ok {
					parts = append(parts, t)
				}
			}
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

func (s *server) completions(w http.ResponseWriter, r *http.Request) error {
	if s.engine == nil {
		return NewError(CodeNotReady, "the dialog engine is not loaded")
	}
	var req completionRequest
	if err := decodeJSON(w, r, s.maxBodyBytes, &req); err != nil {
		return err
	}
	sid := r.Header.Get("X-Session-Id")
	if sid == "" {
		sid = req.User
	}
	if sid == "" {
		return BadRequest(CodeInvalidArgument, "a session is required: send the X-Session-Id header or the user field")
	}
	if err := validID("session", sid, true); err != nil {
		return err
	}
	if err := validID("user", req.User, false); err != nil {
		return err
	}
	text := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			text = req.Messages[i].text()
			break
		}
	}
	if err := s.checkText(text); err != nil {
		return relabel(err, "the last user message")
	}
	model := req.Model
	if model == "" {
		model = "kefu"
	}
	noteSession(r, sid)
	release, err := s.admitTurn(r, sid)
	if err != nil {
		return err
	}
	defer release()
	ereq := engine.Request{SessionID: sid, Tenant: tenantOf(r), UserID: req.User, Channel: "openai", Text: text, Metadata: req.Metadata}
	id := "chatcmpl-" + RequestID(r.Context())
	created := time.Now().Unix()
	if req.Stream {
		return s.streamCompletion(w, r, ereq, id, model, created)
	}
	rep, err := s.engine.Turn(r.Context(), ereq)
	if err != nil {
		return turnError(sid, err)
	}
	usage := map[string]int{"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
	if rep.Usage != nil {
		usage = map[string]int{"prompt_tokens": rep.Usage.PromptTokens, "completion_tokens": rep.Usage.CompletionTokens, "total_tokens": rep.Usage.TotalTokens}
	}
	w.Header().Set("X-Session-Id", sid)
	return writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "object": "chat.completion", "created": created, "model": model,
		"choices": []map[string]any{{
			"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": joinReplies(rep)},
		}},
		"usage": usage,
		"kefu":  map[string]any{"session_id": sid, "turn_id": rep.TurnID, "route": rep.Route, "intent": rep.Intent, "sources": rep.Sources},
	})
}

func joinReplies(rep *engine.Reply) string {
	parts := make([]string, 0, len(rep.Replies))
	for _, p := range rep.Replies {
		parts = append(parts, p.Text)
	}
	return strings.Join(parts, "\n")
}

// streamCompletion answers in OpenAI's streaming format: data-only chunks,
// the role first, then content deltas, a final chunk with finish_reason,
// and data: [DONE]. A turn that fails before anything was sent answers
// with an ordinary error response.
func (s *server) streamCompletion(w http.ResponseWriter, r *http.Request, req engine.Request, id, model string, created int64) error {
	w.Header().Set("X-Session-Id", req.SessionID)
	out := newSSE(w)
	defer out.close()
	stop := make(chan struct{})
	defer close(stop)
	go out.keepAlive(stop)
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
			"choices": []map[string]any{{"index": 0, "delta": delta, "finish_reason": finish}}}
	}
	roleSent := false
	role := func() {
		if !roleSent {
			roleSent = true
			out.event("", chunk(map[string]any{"role": "assistant", "content": ""}, nil))
		}
	}
	streamed := false
	req.Stream = func(ev engine.StreamEvent) {
		role()
		if ev.Delta != "" {
			streamed = true
			out.event("", chunk(map[string]any{"content": ev.Delta}, nil))
		}
	}
	rep, err := s.engine.Turn(r.Context(), req)
	if err != nil {
		e, plain := s.streamFailure(r, out, req.SessionID, err)
		if e != nil {
			out.event("", map[string]any{"error": map[string]any{"message": e.Message, "type": e.Code, "code": e.Code}})
			out.raw("data: [DONE]\n\n")
		}
		return plain
	}
	role()
	if !streamed {
		out.event("", chunk(map[string]any{"content": joinReplies(rep)}, nil))
	}
	out.event("", chunk(map[string]any{}, "stop"))
	out.raw("data: [DONE]\n\n")
	return nil
}
