package coze

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kefu-chat/kefu/providers"
	"github.com/kefu-chat/kefu/providers/internal/convmap"
)

func init() { providers.Register("coze", open) }

var _ providers.Provider = (*Client)(nil)

// Defaults of Config.
const (
	DefaultBaseURL          = "https://api.coze.cn" // China; https://api.coze.com is the international site
	DefaultPollInterval     = 500 * time.Millisecond
	DefaultMaxConversations = 10000
)

// Config is a coze provider's section of the config file.
type Config struct {
	// BaseURL is https://api.coze.cn (the default, China) or
	// https://api.coze.com (international). A bot published on one site is
	// unknown on the other.
	BaseURL string `yaml:"base_url"`
	// Token is a personal access token or OAuth access token, sent as
	// "Authorization: Bearer …". It is a secret: never logged, never in an
	// error.
	Token string `yaml:"token"`
	// BotID is the bot to talk to; it must be published to the API channel.
	BotID string `yaml:"bot_id"`
	// PollInterval is how often Chat polls /v3/chat/retrieve; default 500ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxConversations bounds the (session, user) → conversation id map,
	// least recently used first out; default 10000.
	MaxConversations int `yaml:"max_conversations"`
}

// Client talks to one Coze bot. It is safe for concurrent use.
type Client struct {
	name  string
	cfg   Config
	base  string
	http  *http.Client
	log   *slog.Logger
	now   func() time.Time
	convs *convmap.Map[string]
}

func open(name string, decode func(any) error, deps providers.Deps) (providers.Provider, error) {
	var cfg Config
	if err := decode(&cfg); err != nil {
		return nil, fmt.Errorf("coze: %s: %w", name, err)
	}
	return New(name, cfg, deps)
}

// New validates cfg and returns a client; it does no I/O.
func New(name string, cfg Config, deps providers.Deps) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("coze: %s: base_url %q is not an http(s) URL", name, cfg.BaseURL)
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("coze: %s: token is required", name)
	}
	if cfg.BotID == "" {
		return nil, fmt.Errorf("coze: %s: bot_id is required", name)
	}
	if cfg.PollInterval < 0 || cfg.MaxConversations < 0 {
		return nil, fmt.Errorf("coze: %s: poll_interval and max_conversations must not be negative", name)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxConversations == 0 {
		cfg.MaxConversations = DefaultMaxConversations
	}
	deps = deps.WithDefaults()
	return &Client{
		name:  name,
		cfg:   cfg,
		base:  strings.TrimRight(cfg.BaseURL, "/"),
		http:  deps.HTTP,
		log:   deps.Logger.With("provider", name),
		now:   deps.Now,
		convs: convmap.New[string](cfg.MaxConversations),
	}, nil
}

// Close forgets the conversation map; it holds no connections.
func (c *Client) Close() error {
	c.convs.Clear()
	return nil
}

// Wire types (WIRE.md §2).

type message struct {
	ID             string `json:"id,omitempty"`
	ConversationID string `json:"conversation_id,omitempty"`
	ChatID         string `json:"chat_id,omitempty"`
	Role           string `json:"role"`
	Type           string `json:"type,omitempty"`
	Content        string `json:"content"`
	ContentType    string `json:"content_type"`
}

type chatRequest struct {
	BotID              string    `json:"bot_id"`
	UserID             string    `json:"user_id"`
	Stream             bool      `json:"stream"`
	AutoSaveHistory    bool      `json:"auto_save_history"`
	AdditionalMessages []message `json:"additional_messages"`
}

type cozeError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

type usage struct {
	TokenCount  int `json:"token_count"`
	OutputCount int `json:"output_count"`
	InputCount  int `json:"input_count"`
}

func (u usage) kefu() providers.Usage {
	t := u.TokenCount
	if t == 0 {
		t = u.InputCount + u.OutputCount
	}
	return providers.Usage{PromptTokens: u.InputCount, CompletionTokens: u.OutputCount, TotalTokens: t}
}

type chat struct {
	ID             string     `json:"id"`
	ConversationID string     `json:"conversation_id"`
	Status         string     `json:"status"`
	LastError      *cozeError `json:"last_error"`
	Usage          *usage     `json:"usage"`
}

type envelope[T any] struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
	Data T      `json:"data"`
}

// turn is what one Request becomes on the wire.
type turn struct {
	key    string // conversation map key; "" when the request has no session
	user   string
	convID string // known conversation, "" to start one
	text   string
}

func (c *Client) turn(req providers.Request) (turn, error) {
	var t turn
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == providers.RoleUser {
			t.text = req.Messages[i].Content
			break
		}
	}
	if t.text == "" {
		return t, c.err(providers.KindBadRequest, 0, "request has no user message", nil)
	}
	t.user = req.User
	if t.user == "" && req.SessionID != "" {
		t.user = "kefu-" + req.SessionID
	}
	if t.user == "" {
		t.user = "kefu-anonymous"
	}
	if req.SessionID != "" {
		t.key = req.SessionID + "\x00" + t.user
		t.convID, _ = c.convs.Get(t.key)
	}
	return t, nil
}

func (c *Client) remember(t turn, convID string) {
	if t.key != "" && convID != "" {
		c.convs.Put(t.key, convID)
	}
}

// forget drops a conversation that Coze refused, so the session's next
// turn starts a new one instead of failing forever.
func (c *Client) forget(t turn) {
	if t.key != "" && t.convID != "" {
		c.convs.Forget(t.key, t.convID)
	}
}

func (c *Client) start(ctx context.Context, t turn, stream bool) (*http.Response, error) {
	body, err := json.Marshal(chatRequest{
		BotID:              c.cfg.BotID,
		UserID:             t.user,
		Stream:             stream,
		AutoSaveHistory:    true,
		AdditionalMessages: []message{{Role: "user", Content: t.text, ContentType: "text"}},
	})
	if err != nil {
		return nil, c.err(providers.KindBadRequest, 0, "", err)
	}
	q := url.Values{}
	if t.convID != "" {
		q.Set("conversation_id", t.convID)
	}
	return c.do(ctx, http.MethodPost, "/v3/chat", q, body, stream)
}

// do sends a request; a non-2xx status becomes an *providers.Error and
// the body is closed.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, stream bool) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, c.err(providers.KindBadRequest, 0, "", err)
	}
	hr.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if stream {
		hr.Header.Set("Accept", "text/event-stream")
	} else {
		hr.Header.Set("Accept", "application/json")
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, c.transportErr(ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, c.statusErr(resp)
	}
	return resp, nil
}

// decode reads a JSON envelope and maps a non-zero code.
func decodeEnvelope[T any](c *Client, ctx context.Context, resp *http.Response) (T, error) {
	defer resp.Body.Close()
	var env envelope[T]
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return env.Data, c.transportErr(ctx, err)
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return env.Data, c.err(providers.KindUnavailable, resp.StatusCode, "malformed response", err)
	}
	if env.Code != 0 {
		return env.Data, c.codeErr(env.Code, env.Msg, resp.Header.Get("X-Tt-Logid"))
	}
	return env.Data, nil
}

// Chat is the non-streaming path: create, poll retrieve, list messages.
func (c *Client) Chat(ctx context.Context, req providers.Request) (*providers.Response, error) {
	t, err := c.turn(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.start(ctx, t, false)
	if err != nil {
		return nil, err
	}
	ch, err := decodeEnvelope[chat](c, ctx, resp)
	if err != nil {
		c.forgetOnCode(t, err)
		return nil, err
	}
	if ch.ID == "" || ch.ConversationID == "" {
		return nil, c.err(providers.KindUnavailable, 0, "chat created without id or conversation_id", nil)
	}
	c.remember(t, ch.ConversationID)
	q := url.Values{"conversation_id": {ch.ConversationID}, "chat_id": {ch.ID}}
	tick := time.NewTicker(c.cfg.PollInterval)
	defer tick.Stop()
	for !terminal(ch.Status) {
		select {
		case <-ctx.Done():
			c.cancel(ctx, ch)
			return nil, c.transportErr(ctx, ctx.Err())
		case <-tick.C:
		}
		resp, err := c.do(ctx, http.MethodGet, "/v3/chat/retrieve", q, nil, false)
		if err != nil {
			if ctx.Err() != nil {
				c.cancel(ctx, ch)
			}
			return nil, err
		}
		if ch, err = decodeEnvelope[chat](c, ctx, resp); err != nil {
			return nil, err
		}
	}
	if err := c.statusError(ch); err != nil {
		return nil, err
	}
	resp, err = c.do(ctx, http.MethodGet, "/v3/chat/message/list", q, nil, false)
	if err != nil {
		return nil, err
	}
	msgs, err := decodeEnvelope[[]message](c, ctx, resp)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, m := range msgs {
		if m.Type == "answer" && m.Role == "assistant" {
			if b.Len() > 0 {
				b.WriteString(answerSep)
			}
			b.WriteString(m.Content)
		}
	}
	out := &providers.Response{Text: b.String(), Model: c.cfg.BotID, FinishReason: "stop"}
	if ch.Usage != nil {
		out.Usage = ch.Usage.kefu()
	}
	return out, nil
}

// answerSep joins a reply's answer messages (a workflow's message nodes
// give several), in both paths.
const answerSep = "\n\n"

func terminal(status string) bool {
	switch status {
	case "completed", "failed", "requires_action", "canceled":
		return true
	}
	return false
}

// statusError maps a terminal chat status other than completed.
func (c *Client) statusError(ch chat) error {
	switch ch.Status {
	case "completed":
		return nil
	case "failed":
		if ch.LastError != nil && ch.LastError.Code != 0 {
			return c.codeErr(ch.LastError.Code, ch.LastError.Msg, "")
		}
		return c.err(providers.KindUnavailable, 0, "chat failed", nil)
	case "requires_action":
		return c.err(providers.KindBadRequest, 0, "bot requires tool outputs (requires_action); kefu does not submit them", nil)
	case "canceled":
		return c.err(providers.KindUnavailable, 0, "chat canceled by coze", nil)
	}
	return c.err(providers.KindUnavailable, 0, "unexpected chat status "+ch.Status, nil)
}

// cancel asks Coze to stop a chat the caller gave up on, best effort.
func (c *Client) cancel(ctx context.Context, ch chat) {
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	body, _ := json.Marshal(map[string]string{"conversation_id": ch.ConversationID, "chat_id": ch.ID})
	resp, err := c.do(ctx, http.MethodPost, "/v3/chat/cancel", nil, body, false)
	if err != nil {
		c.log.Debug("coze: cancel chat", "err", err)
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
}

func (c *Client) forgetOnCode(t turn, err error) {
	var pe *providers.Error
	if errors.As(err, &pe) && pe.Kind == providers.KindBadRequest {
		c.forget(t)
	}
}

// Stream is the streaming path. It reads up to the first answer delta (or
// the end) before returning, so an error before the first chunk comes
// back here.
func (c *Client) Stream(ctx context.Context, req providers.Request) (providers.Stream, error) {
	t, err := c.turn(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.start(ctx, t, true)
	if err != nil {
		cancel()
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		// Coze answers a streaming request that fails validation with a
		// JSON body on HTTP 200.
		defer cancel()
		_, err := decodeEnvelope[json.RawMessage](c, ctx, resp)
		if err == nil {
			err = c.err(providers.KindUnavailable, resp.StatusCode, "expected text/event-stream, got "+ct, nil)
		}
		c.forgetOnCode(t, err)
		return nil, err
	}
	s := &stream{c: c, ctx: ctx, cancel: cancel, body: resp.Body, sse: newSSEReader(resp.Body), t: t,
		logid: resp.Header.Get("X-Tt-Logid")}
	if err := s.prime(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Errors.

// err builds an *providers.Error; msg never contains the token.
func (c *Client) err(kind providers.Kind, status int, msg string, cause error) *providers.Error {
	return &providers.Error{Provider: c.name, Kind: kind, Status: status, Message: c.redact(msg), Err: cause}
}

func (c *Client) redact(s string) string {
	if c.cfg.Token != "" {
		s = strings.ReplaceAll(s, c.cfg.Token, "[redacted]")
	}
	return s
}

func (c *Client) transportErr(ctx context.Context, err error) error {
	kind := providers.KindUnavailable
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		kind = providers.KindTimeout
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		kind = providers.KindCanceled
	}
	return c.err(kind, 0, "", err)
}

// statusErr maps a non-2xx response.
func (c *Client) statusErr(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ce cozeError
	_ = json.Unmarshal(b, &ce)
	logid := resp.Header.Get("X-Tt-Logid")
	c.log.Debug("coze: HTTP error", "status", resp.StatusCode, "code", ce.Code, "logid", logid)
	var e *providers.Error
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		e = c.err(providers.KindAuth, s, authMessage, nil)
	case s == http.StatusTooManyRequests:
		e = c.err(providers.KindRateLimit, s, "rate limited", nil)
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.now())
	case s == http.StatusRequestTimeout || s == http.StatusGatewayTimeout:
		e = c.err(providers.KindTimeout, s, ce.Msg, nil)
	case s >= 500:
		e = c.err(providers.KindUnavailable, s, ce.Msg, nil)
	case s == http.StatusRequestEntityTooLarge:
		e = c.err(providers.KindContextLength, s, ce.Msg, nil)
	default:
		if ce.Code != 0 {
			e = c.codeErr(ce.Code, ce.Msg, logid).(*providers.Error)
			e.Status = s
			return e
		}
		e = c.err(providers.KindBadRequest, s, ce.Msg, nil)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

const authMessage = "coze rejected the access token (check token, its permissions and base_url)"

// codeErr maps a Coze business error: HTTP 200 with a non-zero code, a
// chat's last_error, or an in-stream error event. See doc.go for the table.
func (c *Client) codeErr(code int, msg, logid string) error {
	kind := codeKind(code, msg)
	m := msg
	if kind == providers.KindAuth {
		m = authMessage
	}
	m = fmt.Sprintf("code %d: %s", code, m)
	if logid != "" {
		m += " (logid " + logid + ")"
	}
	return c.err(kind, 0, m, nil)
}

func codeKind(code int, msg string) providers.Kind {
	switch code {
	case 4100, 4101, 700012006:
		return providers.KindAuth
	case 4013:
		return providers.KindRateLimit
	}
	l := strings.ToLower(msg)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(l, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("sensitive", "moderation", "content safety", "risk control", "violat", "敏感", "违规", "审核"):
		return providers.KindContentFilter
	case has("context length", "context_length", "too long", "exceeds the maximum", "max tokens", "超出最大", "上下文"):
		return providers.KindContextLength
	case has("rate limit", "frequency", "too many requests", "qps", "rpm", "频率", "限流"):
		return providers.KindRateLimit
	case has("authentication", "access token", "unauthorized", "permission", "鉴权", "权限"):
		return providers.KindAuth
	case has("timeout", "timed out", "超时"):
		return providers.KindTimeout
	}
	switch {
	case code >= 4000 && code < 5000:
		return providers.KindBadRequest
	case code >= 700000000: // OAuth/console error space
		return providers.KindBadRequest
	}
	return providers.KindUnavailable
}

func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(h); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
