package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Role is who said a message.
type Role string

const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one message of a conversation.
type Message struct {
	Role    Role
	Content string
}

// Request is one generation. Messages end with the user's message.
type Request struct {
	Messages    []Message
	MaxTokens   int      // 0: the provider's default
	Temperature *float64 // nil: the provider's default
	// SessionID is kefu's session and User its end user; providers that
	// keep conversations server-side (Dify, Coze) map them to their own
	// conversation ids, so a session continues its conversation.
	SessionID string
	User      string
}

// Usage is what a generation cost, as the provider reports it.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Add returns u + v.
func (u Usage) Add(v Usage) Usage {
	return Usage{u.PromptTokens + v.PromptTokens, u.CompletionTokens + v.CompletionTokens, u.TotalTokens + v.TotalTokens}
}

// Response is a finished generation.
type Response struct {
	Text         string
	Usage        Usage
	Model        string
	FinishReason string // stop, length, content_filter… as the provider says
}

// Chunk is one piece of a stream: a text delta, and on the last chunk the
// usage when the provider reports it.
type Chunk struct {
	Delta string
	Usage *Usage
}

// Stream yields a generation as it is produced. Recv returns io.EOF after
// the last chunk. Close releases the connection (draining or cancelling
// the upstream call); it is safe to call more than once and must be
// called.
type Stream interface {
	Recv() (Chunk, error)
	Close() error
}

// Provider is one configured backend. Implementations are safe for
// concurrent use; errors are *Error.
type Provider interface {
	// Chat generates a whole reply.
	Chat(ctx context.Context, req Request) (*Response, error)
	// Stream generates a reply as a Stream. An error before the first
	// chunk comes back here; errors after it come from Recv.
	Stream(ctx context.Context, req Request) (Stream, error)
	io.Closer
}

// Kind classifies a provider failure; the gateway's retries and failover
// switch on it, never on messages.
type Kind string

const (
	KindAuth          Kind = "auth"           // bad or missing credential: no retry, fail over
	KindRateLimit     Kind = "rate_limit"     // 429: retry after RetryAfter, or fail over
	KindUnavailable   Kind = "unavailable"    // network, 5xx, overloaded: retry, fail over
	KindTimeout       Kind = "timeout"        // the attempt's deadline: retry, fail over
	KindBadRequest    Kind = "bad_request"    // the request is wrong: no retry, no failover
	KindContextLength Kind = "context_length" // the prompt is too long: no retry; a shorter prompt may work
	KindContentFilter Kind = "content_filter" // refused by moderation: no retry, no failover
	KindCanceled      Kind = "canceled"       // the caller went away
)

// Retryable reports whether the same provider may be tried again.
func (k Kind) Retryable() bool {
	return k == KindRateLimit || k == KindUnavailable || k == KindTimeout
}

// FailOver reports whether the next provider of a route may be tried.
func (k Kind) FailOver() bool {
	return k == KindAuth || k.Retryable()
}

// Error is a provider failure. Error() never contains a credential.
type Error struct {
	Provider   string // the configured instance name
	Kind       Kind
	Status     int           // HTTP status, 0 when none
	RetryAfter time.Duration // from Retry-After, 0 when none
	Message    string        // the provider's own message, safe to log
	Err        error         // the cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "providers: %s: %s", e.Provider, e.Kind)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	} else if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns err's Kind: its *Error's, KindCanceled or KindTimeout for
// context errors, else KindUnavailable.
func KindOf(err error) Kind {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	}
	return KindUnavailable
}

// Deps are what a factory may use; nil fields take defaults.
type Deps struct {
	HTTP   *http.Client
	Logger *slog.Logger
	Now    func() time.Time
}

// WithDefaults fills what d leaves nil: a plain HTTP client, a logger that
// discards, the system clock.
func (d Deps) WithDefaults() Deps {
	if d.HTTP == nil {
		d.HTTP = &http.Client{}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// Factory builds a provider named name from its section of the config
// file. decode fills a provider-specific struct strictly (unknown keys are
// errors); the keys every provider shares (type, timeout, limits, prices)
// are handled by the gateway and never reach it.
type Factory func(name string, decode func(cfg any) error, deps Deps) (Provider, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a provider type available to the config file. It panics
// if typ is empty, f is nil, or typ is taken; call it from init.
func Register(typ string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if typ == "" || f == nil {
		panic("providers: Register with an empty type or a nil factory")
	}
	if _, dup := factories[typ]; dup {
		panic("providers: Register called twice for type " + typ)
	}
	factories[typ] = f
}

// Types lists the registered types, sorted.
func Types() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for t := range factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Open builds a provider of a registered type.
func Open(typ, name string, decode func(any) error, deps Deps) (Provider, error) {
	mu.RLock()
	f, ok := factories[typ]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("providers: unknown type %q (have: %s)", typ, strings.Join(Types(), ", "))
	}
	deps = deps.WithDefaults()
	return f(name, decode, deps)
}
