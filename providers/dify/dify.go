package dify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kefu-chat/kefu/providers"
	"github.com/kefu-chat/kefu/providers/internal/convmap"
)

func init() { providers.Register("dify", open) }

var _ providers.Provider = (*Client)(nil)

// DefaultBaseURL is Dify cloud's Service API.
const DefaultBaseURL = "https://api.dify.ai/v1"

// DefaultMaxConversations bounds the session→conversation map by default.
const DefaultMaxConversations = 10000

// Config is a dify provider's section of the config file.
type Config struct {
	// BaseURL is the Service API root, ending in /v1; default DefaultBaseURL.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// APIKey is the app's API key ("app-…"); secret, never logged.
	APIKey string `yaml:"api_key" json:"api_key"`
	// Inputs are the app's variables, sent with every message; default {}.
	Inputs map[string]any `yaml:"inputs" json:"inputs"`
	// MaxConversations bounds how many (session, user) → conversation ids
	// are remembered, least recently used first out; default
	// DefaultMaxConversations.
	MaxConversations int `yaml:"max_conversations" json:"max_conversations"`
}

// Client is a Dify chat app (chat, agent-chat or advanced-chat) behind
// the Service API. It is safe for concurrent use.
type Client struct {
	name  string
	cfg   Config
	base  string // cfg.BaseURL without a trailing slash
	http  *http.Client
	log   *slog.Logger
	now   func() time.Time
	convs *convmap.Map[convKey]
}

func open(name string, decode func(any) error, deps providers.Deps) (providers.Provider, error) {
	var cfg Config
	if err := decode(&cfg); err != nil {
		return nil, fmt.Errorf("dify: %s: %w", name, err)
	}
	return New(name, cfg, deps)
}

// New validates cfg and returns a client; it makes no request. Nil deps
// take defaults.
func New(name string, cfg Config, deps providers.Deps) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("dify: %s: base_url %q is not an http(s) URL without credentials", name, redactURL(cfg.BaseURL))
	}
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, fmt.Errorf("dify: %s: api_key is required", name)
	}
	if strings.ContainsAny(cfg.APIKey, " \t\r\n") {
		return nil, fmt.Errorf("dify: %s: api_key contains whitespace", name)
	}
	if cfg.MaxConversations < 0 {
		return nil, fmt.Errorf("dify: %s: max_conversations must not be negative", name)
	}
	if cfg.MaxConversations == 0 {
		cfg.MaxConversations = DefaultMaxConversations
	}
	if cfg.Inputs == nil {
		cfg.Inputs = map[string]any{}
	}
	if _, err := json.Marshal(cfg.Inputs); err != nil {
		return nil, fmt.Errorf("dify: %s: inputs: %w", name, err)
	}
	deps = deps.WithDefaults()
	return &Client{
		name: name, cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"),
		http: deps.HTTP, log: deps.Logger, now: deps.Now,
		convs: convmap.New[convKey](cfg.MaxConversations),
	}, nil
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User("redacted")
		return u.String()
	}
	return s
}

// Close forgets the remembered conversations; the client holds no
// connections of its own.
func (c *Client) Close() error {
	c.convs.Clear()
	return nil
}

// chatRequest is the body of POST /chat-messages.
type chatRequest struct {
	Query          string         `json:"query"`
	Inputs         map[string]any `json:"inputs"`
	ResponseMode   string         `json:"response_mode"`
	User           string         `json:"user"`
	ConversationID string         `json:"conversation_id"`
}

// blockingResponse is the blocking reply (also what a JSON body on a
// streaming request may carry).
type blockingResponse struct {
	Event          string `json:"event"`
	ConversationID string `json:"conversation_id"`
	Answer         string `json:"answer"`
	Metadata       struct {
		Usage *providers.Usage `json:"usage"`
	} `json:"metadata"`
	apiError
}

// turn is one request's identity: what it asks, who asks, which
// conversation it continues.
type turn struct {
	key      convKey
	remember bool // false when the request has no session
	query    string
	user     string
}

func (c *Client) turnOf(req providers.Request) (turn, error) {
	var t turn
	found := false
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == providers.RoleUser {
			t.query, found = req.Messages[i].Content, true
			break
		}
	}
	if !found {
		return t, &providers.Error{Provider: c.name, Kind: providers.KindBadRequest, Message: "request has no user message"}
	}
	t.user = req.User
	if t.user == "" {
		if req.SessionID != "" {
			t.user = "kefu-" + req.SessionID
		} else {
			t.user = "kefu-anonymous"
		}
	}
	t.key = convKey{session: req.SessionID, user: t.user}
	t.remember = req.SessionID != ""
	return t, nil
}

// post sends the turn in mode, retrying once as a new conversation when
// Dify no longer knows the remembered one. It returns a 2xx response or
// an *Error.
func (c *Client) post(ctx context.Context, t turn, mode string) (*http.Response, error) {
	convID := ""
	if t.remember {
		convID, _ = c.convs.Get(t.key)
	}
	for {
		resp, err := c.send(ctx, t, mode, convID)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		e := c.httpError(resp)
		resp.Body.Close()
		if convID != "" && resp.StatusCode == http.StatusNotFound {
			// The conversation was deleted, expired or is not this
			// user's: start a new one, once.
			c.log.LogAttrs(ctx, slog.LevelInfo, "dify: conversation gone, starting a new one",
				slog.String("provider", c.name), slog.String("conversation_id", convID))
			c.convs.Forget(t.key, convID)
			convID = ""
			continue
		}
		return nil, e
	}
}

func (c *Client) send(ctx context.Context, t turn, mode, convID string) (*http.Response, error) {
	body, err := json.Marshal(chatRequest{
		Query: t.query, Inputs: c.cfg.Inputs, ResponseMode: mode, User: t.user, ConversationID: convID,
	})
	if err != nil {
		return nil, &providers.Error{Provider: c.name, Kind: providers.KindBadRequest, Message: "encoding request", Err: err}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/chat-messages", bytes.NewReader(body))
	if err != nil {
		return nil, &providers.Error{Provider: c.name, Kind: providers.KindBadRequest, Message: "building request", Err: err}
	}
	hreq.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	hreq.Header.Set("Content-Type", "application/json")
	if mode == "streaming" {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, c.transportErr(ctx, err, "sending request")
	}
	return resp, nil
}

func isEventStream(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "text/event-stream"
}

// Chat sends the last user message of req in blocking mode and continues
// the conversation Dify keeps for (req.SessionID, user). Earlier messages
// and system prompts are not sent: the Dify app defines its own prompt
// and keeps the history. MaxTokens and Temperature are the app's too.
func (c *Client) Chat(ctx context.Context, req providers.Request) (*providers.Response, error) {
	t, err := c.turnOf(req)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, t, "blocking")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if isEventStream(resp.Header) {
		// A server that streams anyway: collect the stream.
		s := c.newStream(ctx, func() {}, resp.Body, t)
		defer s.Close()
		var b strings.Builder
		out := &providers.Response{FinishReason: "stop"}
		for {
			ch, err := s.Recv()
			if err == io.EOF {
				out.Text = b.String()
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			b.WriteString(ch.Delta)
			if ch.Usage != nil {
				out.Usage = *ch.Usage
			}
		}
	}
	var br blockingResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&br); err != nil {
		return nil, c.transportErr(ctx, err, "decoding response")
	}
	if br.Event == "error" || (br.Event == "" && br.Code != "") {
		return nil, c.apiErr(0, br.apiError)
	}
	if br.ConversationID != "" && t.remember {
		c.convs.Put(t.key, br.ConversationID)
	}
	out := &providers.Response{Text: br.Answer, FinishReason: "stop"}
	if br.Metadata.Usage != nil {
		out.Usage = *br.Metadata.Usage
	}
	return out, nil
}

// Stream sends the last user message of req in streaming mode; see Chat.
// An HTTP error (including the retry of a forgotten conversation) comes
// back here; an error event in the stream comes from Recv.
func (c *Client) Stream(ctx context.Context, req providers.Request) (providers.Stream, error) {
	t, err := c.turnOf(req)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	resp, err := c.post(sctx, t, "streaming")
	if err != nil {
		cancel()
		return nil, err
	}
	if !isEventStream(resp.Header) {
		// JSON on a streaming request: an error, or a blocking reply.
		defer cancel()
		defer resp.Body.Close()
		var br blockingResponse
		if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&br); err != nil {
			return nil, c.transportErr(ctx, err, "decoding response")
		}
		if br.Event != "message" {
			if br.Code == "" && br.Message == "" {
				br.Message = "unexpected response " + resp.Header.Get("Content-Type")
			}
			return nil, c.apiErr(0, br.apiError)
		}
		if br.ConversationID != "" && t.remember {
			c.convs.Put(t.key, br.ConversationID)
		}
		return &onceStream{chunks: []providers.Chunk{{Delta: br.Answer, Usage: br.Metadata.Usage}}}, nil
	}
	return c.newStream(sctx, cancel, resp.Body, t), nil
}

// onceStream replays a reply that came whole.
type onceStream struct{ chunks []providers.Chunk }

func (s *onceStream) Recv() (providers.Chunk, error) {
	if len(s.chunks) == 0 {
		return providers.Chunk{}, io.EOF
	}
	ch := s.chunks[0]
	s.chunks = s.chunks[1:]
	return ch, nil
}

func (s *onceStream) Close() error { s.chunks = nil; return nil }

var errClosed = errors.New("stream closed")

// convKey is whose conversation an id is: Dify owns conversations by
// (app, user), kefu by session.
type convKey struct{ session, user string }
