package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/session"
)

// Engine is what the chat, session and handoff endpoints need from the
// turn engine. Turn, SessionFor and ResetFor act for a tenant and return
// engine.ErrForbidden for another tenant's session (the empty tenant, the
// operator's, sees them all); the agent methods see every tenant's sessions.
type Engine interface {
	Turn(ctx context.Context, req engine.Request) (*engine.Reply, error)
	SessionFor(ctx context.Context, tenant, id string) (*engine.SessionView, error)
	ResetFor(ctx context.Context, tenant, id string) error
	Waiting(ctx context.Context) ([]session.QueueEntry, error)
	AgentReply(ctx context.Context, id, agent, text string) (*session.Turn, error)
	Release(ctx context.Context, id string) (*session.Turn, error)
}

type chatRequest struct {
	SessionID string            `json:"session_id"`
	UserID    string            `json:"user_id"`
	Channel   string            `json:"channel"`
	Text      string            `json:"text"`
	Event     string            `json:"event"`
	Metadata  map[string]string `json:"metadata"`
}

const maxIDBytes = 128

// validID accepts ids of 1 to 128 bytes without spaces, slashes, control
// characters or invisible format characters (such as U+202E, which
// reverses how the rest of a line is shown in logs and consoles).
func validID(field, id string, required bool) error {
	switch {
	case id == "" && required:
		return BadRequest(CodeInvalidArgument, field+" is required")
	case len(id) > maxIDBytes:
		return BadRequest(CodeInvalidArgument, fmt.Sprintf("%s is longer than %d bytes", field, maxIDBytes))
	case !utf8.ValidString(id):
		return BadRequest(CodeInvalidUTF8, field+" is not valid UTF-8")
	case strings.IndexFunc(id, badIDRune) >= 0:
		return BadRequest(CodeInvalidArgument, field+" must not contain spaces, slashes, control or format characters")
	case id == "." || id == "..":
		// Clients and proxies resolve /v1/sessions/.. away: such a
		// session could never be read or deleted.
		return BadRequest(CodeInvalidArgument, field+` must not be "." or ".."`)
	}
	return nil
}

func badIDRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '/'
}

// chat serves POST /v1/chat: one customer message, one turn.
func (s *server) chat(w http.ResponseWriter, r *http.Request) error {
	if s.engine == nil {
		return NewError(CodeNotReady, "the dialog engine is not loaded")
	}
	var req chatRequest
	if err := decodeJSON(w, r, s.maxBodyBytes, &req); err != nil {
		return err
	}
	if err := validID("session_id", req.SessionID, true); err != nil {
		return err
	}
	if err := validID("user_id", req.UserID, false); err != nil {
		return err
	}
	if err := validID("channel", req.Channel, false); err != nil {
		return err
	}
	if err := validID("event", req.Event, false); err != nil {
		return err
	}
	if req.Event == "" {
		if err := s.checkText(req.Text); err != nil {
			return err
		}
	} else if req.Text != "" {
		return BadRequest(CodeInvalidArgument, "send either text or event, not both")
	}
	noteSession(r, req.SessionID)
	release, err := s.admitTurn(r, req.SessionID)
	if err != nil {
		return err
	}
	defer release()
	ereq := engine.Request{
		SessionID: req.SessionID, Tenant: tenantOf(r), UserID: req.UserID, Channel: req.Channel,
		Text: req.Text, Event: req.Event, Metadata: req.Metadata,
	}
	if wantsStream(r) {
		return s.streamTurn(w, r, ereq)
	}
	rep, err := s.engine.Turn(r.Context(), ereq)
	if err != nil {
		return turnError(ereq.SessionID, err)
	}
	s.metrics.confidence.Observe(rep.Intent.Confidence)
	return writeJSON(w, http.StatusOK, rep)
}

func (s *server) checkText(text string) error {
	if e := CheckText(text, s.maxTextRunes); e != nil {
		return e
	}
	return nil
}

// CheckText returns the 400 error for a customer's text that is not valid
// UTF-8, is blank, or is longer than maxRunes code points, or nil. The API
// and the channel adapters check text with it alike.
func CheckText(text string, maxRunes int) *Error {
	if !utf8.ValidString(text) {
		return BadRequest(CodeInvalidUTF8, "text is not valid UTF-8")
	}
	if strings.TrimSpace(text) == "" {
		return BadRequest(CodeTextEmpty, "text must not be empty")
	}
	if n := utf8.RuneCountInString(text); n > maxRunes {
		return BadRequest(CodeTextTooLong, fmt.Sprintf("text is %d characters long; the limit is %d", n, maxRunes))
	}
	return nil
}

func (s *server) sessionID(r *http.Request) (string, error) {
	if s.engine == nil {
		return "", NewError(CodeNotReady, "the dialog engine is not loaded")
	}
	id, err := pathParam(r, "id")
	if err != nil {
		return "", BadRequest(CodeInvalidArgument, "bad escape in the session id")
	}
	noteSession(r, id)
	return id, validID("session id", id, true)
}

// pathParam returns the route parameter name, unescaped once. chi routes
// on r.URL.RawPath when the client escaped the path differently from Go's
// canonical form (%2F, lowercase hex such as %e4%bc%9a), and the parameter
// is then still escaped; otherwise it routes on the decoded r.URL.Path.
// Decoding only in the first case keeps "100%25.md" from being decoded
// twice.
func pathParam(r *http.Request, name string) (string, error) {
	v := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		return v, nil
	}
	return url.PathUnescape(v)
}

// turnError maps an error of engine.Turn on session id.
// TurnError is the error response for a failed turn on session id, as the
// API sends it: an *Error in err's chain (a refused turn) as it is, an
// unavailable store 503, another tenant's session 403, anything else 500.
// The channel adapters answer with it too.
func TurnError(id string, err error) *Error { return toError(turnError(id, err)) }

func turnError(id string, err error) error {
	switch {
	case errors.Is(err, engine.ErrStore):
		return storeUnavailable(err)
	case errors.Is(err, engine.ErrForbidden):
		return forbidden(id, err)
	}
	return fmt.Errorf("api: turn: %w", err)
}

// storeUnavailable is the 503 for a session store that does not answer
// (Redis down): the client may retry in a second.
func storeUnavailable(err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "sessions are unavailable; try again shortly", Err: err, retryAfter: time.Second}
}

// forbidden is the 403 for another tenant's session. It names the session,
// which the client sent, and never the tenant that owns it.
func forbidden(id string, err error) *Error {
	return &Error{Status: http.StatusForbidden, Code: CodePermissionDenied, Message: fmt.Sprintf("session %q belongs to another tenant", id), Err: err}
}

func sessionError(id string, err error) error {
	switch {
	case errors.Is(err, engine.ErrForbidden):
		return forbidden(id, err)
	case errors.Is(err, engine.ErrStore):
		return storeUnavailable(err)
	case errors.Is(err, session.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("session %q not found", id), Err: err}
	case errors.Is(err, engine.ErrNotWaiting):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: fmt.Sprintf("session %q is not waiting for an agent", id), Err: err}
	case errors.Is(err, engine.ErrEmpty):
		return BadRequest(CodeTextEmpty, "text must not be empty")
	}
	return err
}

// getSession serves GET /v1/sessions/{id}: memory and dialog state. A
// key may read its tenant's sessions; a key holding the admin scope (an
// agent's console) reads every tenant's, as the handoff endpoints do.
func (s *server) getSession(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sessionID(r)
	if err != nil {
		return err
	}
	tenant := tenantOf(r)
	if isAdmin(r) {
		tenant = "" // the operator's: every tenant's sessions
	}
	v, err := s.engine.SessionFor(r.Context(), tenant, id)
	if err != nil {
		return sessionError(id, err)
	}
	return writeJSON(w, http.StatusOK, v)
}

// deleteSession serves DELETE /v1/sessions/{id}: forget everything. Only
// the session's tenant may.
func (s *server) deleteSession(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sessionID(r)
	if err != nil {
		return err
	}
	if err := s.engine.ResetFor(r.Context(), tenantOf(r), id); err != nil {
		return sessionError(id, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handoffQueue serves GET /v1/handoff: sessions waiting for a human.
func (s *server) handoffQueue(w http.ResponseWriter, r *http.Request) error {
	if s.engine == nil {
		return NewError(CodeNotReady, "the dialog engine is not loaded")
	}
	q, err := s.engine.Waiting(r.Context())
	if err != nil {
		return fmt.Errorf("api: handoff queue: %w", err)
	}
	type entry struct {
		SessionID string `json:"session_id"`
		Queue     string `json:"queue"`
		Reason    string `json:"reason"`
		Since     string `json:"since"`
		Agent     string `json:"agent,omitempty"`
	}
	out := make([]entry, 0, len(q))
	for _, e := range q {
		out = append(out, entry{e.SessionID, e.Queue, e.Reason, e.Since.Format("2006-01-02T15:04:05.000Z07:00"), e.Agent})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

type agentReplyRequest struct {
	Agent string `json:"agent"`
	Text  string `json:"text"`
}

// agentReply serves POST /v1/handoff/{id}/reply.
func (s *server) agentReply(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sessionID(r)
	if err != nil {
		return err
	}
	var req agentReplyRequest
	if err := decodeJSON(w, r, s.maxBodyBytes, &req); err != nil {
		return err
	}
	if err := validID("agent", req.Agent, false); err != nil {
		return err
	}
	if err := s.checkText(req.Text); err != nil {
		return err
	}
	t, err := s.engine.AgentReply(r.Context(), id, req.Agent, req.Text)
	if err != nil {
		return sessionError(id, err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"session_id": id, "turn": t})
}

// release serves POST /v1/handoff/{id}/release: back to the bot.
func (s *server) release(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sessionID(r)
	if err != nil {
		return err
	}
	t, err := s.engine.Release(r.Context(), id)
	if err != nil {
		return sessionError(id, err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"session_id": id, "turn": t})
}
