// Package webhook is a generic JSON webhook channel. It owns the wire
// format, the HMAC signature check and the mapping of a platform user to a
// session; the turn itself belongs to the engine.
//
// A caller POSTs
//
//	{"user_id":"u1","text":"我要退款","message_id":"m1","metadata":{"k":"v"}}
//
// with the header X-Kefu-Signature: sha256=<hex HMAC-SHA256 of the raw body,
// keyed with Config.Secret>, and gets back
//
//	{"session_id":"webhook:u1","replies":[{"type":"text","text":"…"}],"route":"flow","handoff":false}
//
// Replies are degraded to text parts (channels.Degrade). Errors use the /v1
// envelope {"error":{"code":…,"message":…}}: 401 unauthenticated for a
// missing or wrong signature, 400 for bad input (the text checked by
// api.CheckText, as the API checks it), 413 for a body over 1 MiB, and a
// failed turn as the API answers it (api.TurnError): 503 for an
// unavailable store, 403 for another tenant's session, and, when the
// handler's Turner is channels.Limited, 429 rate_limited or 503 overloaded
// with Retry-After.
package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/api"
	"github.com/kefu-chat/kefu/api/channels"
	"github.com/kefu-chat/kefu/engine"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body.
const SignatureHeader = "X-Kefu-Signature"

// Defaults.
const (
	DefaultChannel      = "webhook"
	DefaultMaxTextRunes = api.DefaultMaxTextRunes
	MaxBodyBytes        = api.DefaultMaxBodyBytes
)

// Turner runs one turn; *engine.Engine satisfies it.
type Turner = channels.Turner

// Config configures the webhook; it comes from YAML.
type Config struct {
	// Secret is the HMAC-SHA256 key. It is never logged. Empty rejects
	// every request.
	Secret string
	// Channel names the channel in engine requests; "" means "webhook".
	Channel string
	// Identities maps a platform user to a kefu session id; nil, or a
	// result of "", means Channel+":"+userID.
	Identities func(channel, userID string) string
	// MaxTextRunes caps the text in code points, as server.max_text_runes
	// does the API's; 0 means 2000.
	MaxTextRunes int
	// Tenant owns the sessions this channel creates, and a session of
	// another tenant is refused; "" acts for the operator (any session).
	Tenant string
}

// Deps holds runtime dependencies; a nil Logger discards.
type Deps struct {
	Logger *slog.Logger
}

type handler struct {
	cfg Config
	t   Turner
	log *slog.Logger
}

// New returns the webhook handler. Mount it on one path; it answers POST.
func New(cfg Config, t Turner, deps Deps) http.Handler {
	if cfg.Channel == "" {
		cfg.Channel = DefaultChannel
	}
	if cfg.MaxTextRunes <= 0 {
		cfg.MaxTextRunes = DefaultMaxTextRunes
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Secret == "" {
		deps.Logger.Warn("channels/webhook: no secret configured; every request will be rejected", "channel", cfg.Channel)
	}
	return &handler{cfg: cfg, t: t, log: deps.Logger}
}

type request struct {
	UserID    string            `json:"user_id"`
	Text      string            `json:"text"`
	MessageID string            `json:"message_id"`
	Metadata  map[string]string `json:"metadata"`
}

type response struct {
	SessionID string        `json:"session_id"`
	Replies   []engine.Part `json:"replies"`
	Route     string        `json:"route"`
	Handoff   bool          `json:"handoff"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := channels.ReadPost(w, r, MaxBodyBytes)
	if !ok {
		return
	}
	if !h.verify(r.Header.Get(SignatureHeader), body) {
		channels.WriteError(w, api.CodeUnauthenticated, "missing or invalid "+SignatureHeader)
		return
	}
	var req request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		msg := "body is not a valid JSON request"
		if err != nil && strings.HasPrefix(err.Error(), "json: unknown field") {
			msg = strings.TrimPrefix(err.Error(), "json: ")
		}
		channels.WriteError(w, api.CodeInvalidJSON, msg)
		return
	}
	if msg := h.checkUser(req.UserID); msg != "" {
		channels.WriteError(w, api.CodeInvalidArgument, msg)
		return
	}
	if e := api.CheckText(req.Text, h.cfg.MaxTextRunes); e != nil {
		channels.WriteAPIError(w, e)
		return
	}
	meta := make(map[string]string, len(req.Metadata)+1)
	for k, v := range req.Metadata {
		meta[k] = v
	}
	if req.MessageID != "" {
		meta["message_id"] = req.MessageID
	}
	sid := channels.SessionID(h.cfg.Identities, h.cfg.Channel, req.UserID)
	rep, err := h.t.Turn(r.Context(), engine.Request{
		SessionID: sid, UserID: req.UserID, Channel: h.cfg.Channel, Text: req.Text, Metadata: meta, Tenant: h.cfg.Tenant,
	})
	if err != nil {
		e := api.TurnError(sid, err)
		level := slog.LevelWarn
		if e.Status == http.StatusInternalServerError {
			level = slog.LevelError
		}
		h.log.Log(r.Context(), level, "channels/webhook: turn failed", "channel", h.cfg.Channel, "session", sid, "code", e.Code, "err", err)
		channels.WriteAPIError(w, e)
		return
	}
	out := response{SessionID: sid, Replies: []engine.Part{}, Route: rep.Route, Handoff: rep.Handoff}
	for _, text := range channels.Degrade(rep.Replies) {
		out.Replies = append(out.Replies, engine.Part{Type: "text", Text: text})
	}
	channels.WriteJSON(w, http.StatusOK, out)
}

// verify checks "sha256=<hex>" against the HMAC of body in constant time.
func (h *handler) verify(header string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || h.cfg.Secret == "" {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(h.cfg.Secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// checkUser returns what is wrong with a user id, or "".
func (h *handler) checkUser(id string) string {
	switch {
	case id == "":
		return "user_id is required"
	case len(id) > 128:
		return "user_id is longer than 128 bytes"
	case !utf8.ValidString(id) || strings.IndexFunc(id, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '/'
	}) >= 0:
		return "user_id must be valid UTF-8 without spaces, slashes or control characters"
	}
	return ""
}
