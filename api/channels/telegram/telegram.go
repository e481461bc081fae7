// Package telegram is a Telegram Bot API webhook channel. It owns the
// Update wire format, the secret-token check and sending replies with
// sendMessage; the turn itself belongs to the engine.
//
// Register the webhook with setWebhook(url, secret_token=Config.Secret).
// Each text message becomes one turn on the session
// Identities("telegram", from.id) (default "telegram:"+from.id). The
// handler answers 200 at once; a worker runs the turn and sends every
// reply part, degraded to text (channels.Degrade), to
// POST {APIBase}/bot{Token}/sendMessage. Messages of one chat keep their
// order. Updates that are not text messages are acknowledged and ignored.
package telegram

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
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

	"github.com/kefu-chat/kefu/api"
	"github.com/kefu-chat/kefu/api/channels"
	"github.com/kefu-chat/kefu/engine"
)

// SecretHeader carries the secret_token given to setWebhook.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Defaults.
const (
	DefaultAPIBase   = "https://api.telegram.org"
	DefaultChannel   = "telegram"
	DefaultErrorText = "抱歉，系统繁忙，请稍后再试。"
	// DefaultTooLongText is sent for a message over MaxTextRunes; %d is
	// the limit.
	DefaultTooLongText = "您的消息太长了，请分几条发送，每条不超过 %d 字。"
	maxMessageRunes    = 4096 // Telegram's limit for one message
)

// Turner runs one turn; *engine.Engine satisfies it.
type Turner = channels.Turner

// Config configures the bot; it comes from YAML.
type Config struct {
	Token      string // bot token; a secret, never logged
	Secret     string // webhook secret_token; a secret; empty rejects every update
	APIBase    string // "" means https://api.telegram.org
	Channel    string // "" means "telegram"
	Identities func(channel, userID string) string
	ErrorText  string // sent when a turn fails; "" means DefaultErrorText
	// MaxTextRunes caps a message in code points, as server.max_text_runes
	// does the API's; a longer one gets DefaultTooLongText and no turn. 0
	// means 2000.
	MaxTextRunes int
	Workers      int           // 0 means 8; one chat always uses the same worker
	Queue        int           // updates waiting per worker; 0 means 64; full answers 503
	Timeout      time.Duration // for an update's turn, and again for its sends; 0 means 60s
	// Tenant owns the sessions this channel creates, and a session of
	// another tenant is refused; "" acts for the operator (any session).
	Tenant string
}

// Deps holds runtime dependencies; nil Logger discards, nil Client is a
// client with a 30s timeout.
type Deps struct {
	Logger *slog.Logger
	Client *http.Client
}

// Bot is the webhook handler. Close it on shutdown.
type Bot struct {
	cfg    Config
	t      Turner
	log    *slog.Logger
	client *http.Client
	q      *channels.Queue
}

// New starts the workers and returns the handler.
func New(cfg Config, t Turner, deps Deps) *Bot {
	cfg.APIBase = strings.TrimRight(cmp.Or(cfg.APIBase, DefaultAPIBase), "/")
	cfg.Channel = cmp.Or(cfg.Channel, DefaultChannel)
	cfg.ErrorText = cmp.Or(cfg.ErrorText, DefaultErrorText)
	cfg.Workers, cfg.Queue = cmp.Or(max(cfg.Workers, 0), 8), cmp.Or(max(cfg.Queue, 0), 64)
	cfg.Timeout = cmp.Or(max(cfg.Timeout, 0), 60*time.Second)
	cfg.MaxTextRunes = cmp.Or(max(cfg.MaxTextRunes, 0), api.DefaultMaxTextRunes)
	b := &Bot{cfg: cfg, t: t, log: deps.Logger, client: deps.Client}
	b.log = cmp.Or(b.log, slog.New(slog.DiscardHandler))
	b.client = cmp.Or(b.client, &http.Client{Timeout: 30 * time.Second})
	if cfg.Secret == "" || cfg.Token == "" {
		b.log.Warn("channels/telegram: token or secret not configured; updates will be rejected or unanswered")
	}
	b.q = channels.NewQueue(cfg.Workers, cfg.Queue)
	return b
}

// message is the part of a Telegram Message a turn needs.
type message struct {
	MessageID int64 `json:"message_id"`
	From      *struct {
		ID int64 `json:"id"`
	} `json:"from"`
	Chat struct {
		ID int64 `json:"id"`
	} `json:"chat"`
	Text string `json:"text"`
}

// ServeHTTP checks the secret, queues a text message and answers 200.
func (b *Bot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := r.Header.Get(SecretHeader)
	if b.cfg.Secret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(b.cfg.Secret)) != 1 {
		channels.WriteError(w, api.CodeUnauthenticated, "missing or invalid "+SecretHeader)
		return
	}
	body, ok := channels.ReadPost(w, r, api.DefaultMaxBodyBytes)
	if !ok {
		return
	}
	var u struct {
		Message *message `json:"message"`
	}
	if err := json.Unmarshal(body, &u); err != nil {
		channels.WriteError(w, api.CodeInvalidJSON, "body is not a Telegram Update")
		return
	}
	m := u.Message
	if m == nil || m.From == nil || strings.TrimSpace(m.Text) == "" {
		w.WriteHeader(http.StatusOK) // not a text message: acknowledge, ignore
		return
	}
	if !b.q.Add(uint64(m.Chat.ID), func() { b.handle(m) }) {
		w.Header().Set("Retry-After", "5")
		channels.WriteError(w, api.CodeUnavailable, "busy; retry later")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Close stops taking updates and waits for queued ones to be answered.
func (b *Bot) Close() error {
	b.q.Close()
	return nil
}

// handle runs m's turn within Timeout and sends the replies within
// another Timeout, so that a turn that ran out of time still gets its
// apology sent.
func (b *Bot) handle(m *message) {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
	defer cancel()
	user, chat := strconv.FormatInt(m.From.ID, 10), strconv.FormatInt(m.Chat.ID, 10)
	sid := channels.SessionID(b.cfg.Identities, b.cfg.Channel, user)
	texts := []string{b.cfg.ErrorText}
	if e := api.CheckText(m.Text, b.cfg.MaxTextRunes); e != nil {
		b.log.Info("channels/telegram: message refused", "session", sid, "code", e.Code)
		texts = []string{fmt.Sprintf(DefaultTooLongText, b.cfg.MaxTextRunes)}
	} else if rep, err := b.t.Turn(ctx, engine.Request{
		SessionID: sid, UserID: user, Channel: b.cfg.Channel, Text: m.Text, Tenant: b.cfg.Tenant,
		Metadata: map[string]string{"message_id": strconv.FormatInt(m.MessageID, 10), "chat_id": chat},
	}); err != nil {
		b.log.Error("channels/telegram: turn failed", "session", sid, "err", err)
	} else {
		texts = channels.Degrade(rep.Replies)
	}
	sendCtx, cancelSend := context.WithTimeout(context.Background(), b.cfg.Timeout)
	defer cancelSend()
	for _, text := range texts {
		for _, chunk := range channels.Split(text, maxMessageRunes) {
			if err := b.send(sendCtx, m.Chat.ID, chunk); err != nil {
				b.log.Error("channels/telegram: send failed", "session", sid, "err", err)
				return
			}
		}
	}
}

// send calls sendMessage. Its errors never contain the token.
func (b *Bot) send(ctx context.Context, chatID int64, text string) error {
	body, _ := json.Marshal(map[string]any{"chat_id": chatID, "text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.APIBase+"/bot"+b.cfg.Token+"/sendMessage", bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		var resp *http.Response
		if resp, err = b.client.Do(req); err == nil {
			defer resp.Body.Close()
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			if resp.StatusCode/100 == 2 {
				return nil
			}
			var tg struct{ Description string }
			_ = json.Unmarshal(data, &tg)
			err = fmt.Errorf("status %d: %s", resp.StatusCode, b.redact(tg.Description))
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = b.redact(ue.URL)
	}
	return fmt.Errorf("telegram: sendMessage: %w", err)
}

func (b *Bot) redact(s string) string {
	if b.cfg.Token == "" {
		return s
	}
	return strings.ReplaceAll(s, b.cfg.Token, "<redacted>")
}
