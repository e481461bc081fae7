package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/kefu-chat/kefu/providers"
)

func init() { providers.Register("openai", open) }

var _ providers.Provider = (*Client)(nil)

// DefaultBaseURL is OpenAI's own endpoint.
const DefaultBaseURL = "https://api.openai.com/v1"

// Config is a provider's section of the config file.
type Config struct {
	BaseURL      string   `yaml:"base_url" json:"base_url"`         // default DefaultBaseURL
	APIKey       string   `yaml:"api_key" json:"api_key"`           // secret; "" sends no Authorization (Ollama, vLLM)
	Model        string   `yaml:"model" json:"model"`               // required
	MaxTokens    int      `yaml:"max_tokens" json:"max_tokens"`     // 0: the endpoint's default
	Temperature  *float64 `yaml:"temperature" json:"temperature"`   // nil: the endpoint's default
	Organization string   `yaml:"organization" json:"organization"` // OpenAI-Organization header
}

// String prints c with the key redacted.
func (c Config) String() string {
	key := ""
	if c.APIKey != "" {
		key = "<secret>"
	}
	return fmt.Sprintf("{base_url:%s model:%s api_key:%s}", redactURL(c.BaseURL), c.Model, key)
}

// LogValue logs c with the key redacted.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func open(name string, decode func(any) error, deps providers.Deps) (providers.Provider, error) {
	var cfg Config
	if err := decode(&cfg); err != nil {
		return nil, err
	}
	return New(name, cfg, deps)
}

// Client is an OpenAI-compatible chat completions endpoint. It is safe
// for concurrent use and holds nothing that needs closing.
type Client struct {
	name   string
	cfg    Config
	api    *goopenai.Client
	log    *slog.Logger
	now    func() time.Time
	closed atomic.Bool
}

// New validates cfg and builds a client named name. It does no I/O.
// deps.HTTP's transport is wrapped (to see Retry-After on errors and the
// end of streams); nil deps fields take defaults.
func New(name string, cfg Config, deps providers.Deps) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: base_url %q: must be an http(s) URL", redactURL(cfg.BaseURL))
	}
	if strings.TrimSpace(cfg.Model) == "" {
		return nil, errors.New("openai: model: required")
	}
	if cfg.MaxTokens < 0 {
		return nil, fmt.Errorf("openai: max_tokens: must be >= 0, got %d", cfg.MaxTokens)
	}
	if t := cfg.Temperature; t != nil && (*t < 0 || *t > 2 || math.IsNaN(*t)) {
		return nil, fmt.Errorf("openai: temperature: must be in [0, 2], got %g", *t)
	}
	deps = deps.WithDefaults()
	hc := *deps.HTTP
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &transport{base: base}

	oc := goopenai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	oc.OrgID = cfg.Organization
	oc.HTTPClient = &hc
	return &Client{
		name: name,
		cfg:  cfg,
		api:  goopenai.NewClientWithConfig(oc),
		log:  deps.Logger.With("provider", name),
		now:  deps.Now,
	}, nil
}

// Close marks c closed: later calls fail with KindUnavailable. Streams
// already open are the caller's to close.
func (c *Client) Close() error {
	c.closed.Store(true)
	return nil
}

func (c *Client) request(req providers.Request) (goopenai.ChatCompletionRequest, *providers.Error) {
	out := goopenai.ChatCompletionRequest{Model: c.cfg.Model, MaxTokens: c.cfg.MaxTokens}
	if len(req.Messages) == 0 {
		return out, &providers.Error{Provider: c.name, Kind: providers.KindBadRequest, Message: "no messages"}
	}
	out.Messages = make([]goopenai.ChatCompletionMessage, len(req.Messages))
	for i, m := range req.Messages {
		switch m.Role {
		case providers.RoleSystem, providers.RoleUser, providers.RoleAssistant:
		default:
			return out, &providers.Error{Provider: c.name, Kind: providers.KindBadRequest,
				Message: fmt.Sprintf("message %d: unknown role %q", i, m.Role)}
		}
		out.Messages[i] = goopenai.ChatCompletionMessage{Role: string(m.Role), Content: m.Content}
	}
	if req.MaxTokens > 0 {
		out.MaxTokens = req.MaxTokens
	}
	temp := c.cfg.Temperature
	if req.Temperature != nil {
		temp = req.Temperature
	}
	if temp != nil {
		out.Temperature = float32(*temp)
		if out.Temperature == 0 {
			// go-openai drops a zero temperature (omitempty), which would
			// mean the endpoint's default (1); send the nearest non-zero.
			out.Temperature = math.SmallestNonzeroFloat32
		}
	}
	return out, nil
}

func (c *Client) errClosed() *providers.Error {
	return &providers.Error{Provider: c.name, Kind: providers.KindUnavailable, Message: "provider closed"}
}

// Chat sends req's messages to the chat completions endpoint and waits for
// the whole reply. A content_filter finish is a KindContentFilter error.
func (c *Client) Chat(ctx context.Context, req providers.Request) (*providers.Response, error) {
	if c.closed.Load() {
		return nil, c.errClosed()
	}
	oreq, perr := c.request(req)
	if perr != nil {
		return nil, perr
	}
	cp := &capture{}
	resp, err := c.api.CreateChatCompletion(withCapture(ctx, cp), oreq)
	if err != nil {
		return nil, c.fail(ctx, err, cp)
	}
	if len(resp.Choices) == 0 {
		return nil, c.logged(&providers.Error{Provider: c.name, Kind: providers.KindUnavailable, Status: http.StatusOK, Message: "response has no choices"})
	}
	ch := resp.Choices[0]
	if ch.FinishReason == goopenai.FinishReasonContentFilter {
		return nil, c.logged(&providers.Error{Provider: c.name, Kind: providers.KindContentFilter, Status: http.StatusOK, Message: "reply filtered (finish_reason content_filter)"})
	}
	model := resp.Model
	if model == "" {
		model = c.cfg.Model
	}
	return &providers.Response{
		Text:         ch.Message.Content,
		Usage:        usage(resp.Usage),
		Model:        model,
		FinishReason: string(ch.FinishReason),
	}, nil
}

func usage(u goopenai.Usage) providers.Usage {
	return providers.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
}

// Stream sends req with "stream": true and stream_options.include_usage,
// so the last chunk carries the usage. An HTTP error comes back here;
// errors after the response started come from Recv.
func (c *Client) Stream(ctx context.Context, req providers.Request) (providers.Stream, error) {
	if c.closed.Load() {
		return nil, c.errClosed()
	}
	oreq, perr := c.request(req)
	if perr != nil {
		return nil, perr
	}
	oreq.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
	cp := &capture{stream: true}
	st, err := c.api.CreateChatCompletionStream(withCapture(ctx, cp), oreq)
	if err != nil {
		cp.closeBody()
		return nil, c.fail(ctx, err, cp)
	}
	return &stream{c: c, ctx: ctx, st: st, cp: cp}, nil
}

// stream is a providers.Stream over go-openai's. Recv is for one
// goroutine; Close may come from any, and unblocks a Recv in progress.
type stream struct {
	c      *Client
	ctx    context.Context
	st     *goopenai.ChatCompletionStream
	cp     *capture
	err    error // sticky: io.EOF or a *providers.Error
	closed atomic.Bool
	once   sync.Once
}

// frame is one data frame: a chunk, or an error object.
type frame struct {
	goopenai.ChatCompletionStreamResponse
	Error *goopenai.APIError `json:"error"`
}

func (s *stream) Recv() (providers.Chunk, error) {
	for {
		if s.err != nil {
			return providers.Chunk{}, s.err
		}
		if s.closed.Load() {
			return providers.Chunk{}, &providers.Error{Provider: s.c.name, Kind: providers.KindCanceled, Message: "stream closed"}
		}
		raw, err := s.st.RecvRaw()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if s.cp.done() {
					s.err = io.EOF
					return providers.Chunk{}, io.EOF
				}
				err = io.ErrUnexpectedEOF
			}
			if s.closed.Load() {
				return providers.Chunk{}, &providers.Error{Provider: s.c.name, Kind: providers.KindCanceled, Message: "stream closed"}
			}
			s.err = s.c.fail(s.ctx, err, nil)
			return providers.Chunk{}, s.err
		}
		var f frame
		if err := json.Unmarshal(raw, &f); err != nil {
			s.err = s.c.logged(&providers.Error{Provider: s.c.name, Kind: providers.KindUnavailable, Message: "malformed stream frame", Err: err})
			return providers.Chunk{}, s.err
		}
		if f.Error != nil {
			s.err = s.c.fail(s.ctx, f.Error, nil)
			return providers.Chunk{}, s.err
		}
		var ch providers.Chunk
		filtered := false
		for _, c := range f.Choices {
			if c.Index != 0 {
				continue
			}
			ch.Delta += c.Delta.Content
			if c.FinishReason == goopenai.FinishReasonContentFilter {
				filtered = true
			}
		}
		if f.Usage != nil {
			u := usage(*f.Usage)
			ch.Usage = &u
		}
		if filtered {
			s.err = s.c.logged(&providers.Error{Provider: s.c.name, Kind: providers.KindContentFilter, Status: http.StatusOK, Message: "reply filtered (finish_reason content_filter)"})
			if ch.Delta == "" {
				return providers.Chunk{}, s.err
			}
			return ch, nil
		}
		if ch.Delta == "" && ch.Usage == nil {
			continue // role-only, finish_reason-only or empty frames
		}
		return ch, nil
	}
}

// Close closes the response body, cancelling the upstream call. It is
// idempotent and safe to call while Recv blocks.
func (s *stream) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		_ = s.st.Close()
	})
	return nil
}
