package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/kefu-chat/kefu/engine/service"
)

// Config is one kefu.yaml.
type Config struct {
	Server      Server      `yaml:"server"`
	ONNXRuntime ONNXRuntime `yaml:"onnxruntime"`
	Models      Models      `yaml:"models"`
	// Flows are glob patterns of .kefu files, relative to the config file.
	Flows     []string            `yaml:"flows"`
	Sessions  Sessions            `yaml:"sessions"`
	Normalize Normalize           `yaml:"normalize"`
	Entities  Entities            `yaml:"entities"`
	Services  service.Config      `yaml:"services"`
	Dialog    Dialog              `yaml:"dialog"`
	Routing   Routing             `yaml:"routing"`
	Knowledge Knowledge           `yaml:"knowledge"`
	Providers map[string]Provider `yaml:"providers"`
	Routes    map[string]Route    `yaml:"routes"`
	Generate  Generate            `yaml:"generate"`
	Channels  Channels            `yaml:"channels"`
	Handoff   Handoff             `yaml:"handoff"`

	// File is the path the config was loaded from ("" when parsed from bytes).
	File string `yaml:"-"`
}

// Server is the HTTP server.
type Server struct {
	Addr            string   `yaml:"addr"`
	MaxBodyBytes    int64    `yaml:"max_body_bytes"`
	MaxTextRunes    int      `yaml:"max_text_runes"`
	RequestTimeout  Duration `yaml:"request_timeout"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	Log             Log      `yaml:"log"`
	// Keys are the API keys; with none, chat and knowledge are open and
	// admin endpoints closed.
	Keys []APIKey `yaml:"keys"`
	// Tracing sends OpenTelemetry spans (one per turn, children per stage
	// and provider attempt) to an OTLP/HTTP collector; off when no
	// endpoint is set.
	Tracing Tracing  `yaml:"tracing"`
	Limits  Limits   `yaml:"limits"`
	CORS    []string `yaml:"cors_origins"`
}

// Tracing configures the OTLP exporter.
type Tracing struct {
	Endpoint    string  `yaml:"otlp_endpoint"` // e.g. http://otel-collector:4318
	SampleRatio float64 `yaml:"sample_ratio"`  // of new traces; default 1
	ServiceName string  `yaml:"service_name"`  // default kefu
}

// APIKey is a bearer token with its scopes (chat, knowledge, admin).
type APIKey struct {
	Name   string   `yaml:"name"`
	Key    string   `yaml:"key"` // write ${KEFU_KEY_…}; never logged
	Scopes []string `yaml:"scopes"`
	// Tenant owns the sessions the key creates; keys with the same tenant
	// share sessions, others get 403 on them. nil (unset) means the name.
	Tenant *string `yaml:"tenant"`
}

// maxTenantRunes bounds server.keys[].tenant.
const maxTenantRunes = 64

// TenantName is the key's tenant: Tenant when set, else Name.
func (k APIKey) TenantName() string {
	if k.Tenant != nil {
		return *k.Tenant
	}
	return k.Name
}

// Limits protect the server; 0 means no limit.
type Limits struct {
	TurnsPerKey     float64 `yaml:"turns_per_second_per_key"`
	TurnsPerSession float64 `yaml:"turns_per_second_per_session"`
	MaxConcurrent   int     `yaml:"max_concurrent_turns"`
}

// Log configures structured logging.
type Log struct {
	Format string `yaml:"format"` // text | json
	Level  string `yaml:"level"`  // debug | info | warn | error
	// UserText is what the per-turn line shows of customers' messages:
	// off (default), masked (digits, emails and sensitive words hidden) or
	// full.
	UserText string `yaml:"user_text"`
}

// ONNXRuntime locates the shared library.
type ONNXRuntime struct {
	// Library is the path of libonnxruntime.so.1 or its folder. Empty:
	// $KEFU_ONNXRUNTIME_LIB, then third_party/onnxruntime.
	Library string `yaml:"library"`
}

// Models are the models kefu loads.
type Models struct {
	Intent   IntentModel    `yaml:"intent"`
	Embedder *EmbedderModel `yaml:"embedder"`
}

// EmbedderModel is the sentence encoder of the knowledge base.
type EmbedderModel struct {
	Model `yaml:",inline"`
	// Pooling: mean (default; any BERT export), cls, or softmax or logits
	// (the outputs of a model trained to classify the knowledge base's
	// questions by entry).
	Pooling string `yaml:"pooling"`
}

// Model is one Hugging Face layout model folder and how to run it.
type Model struct {
	Path           string `yaml:"path"`
	IntraOpThreads int    `yaml:"intra_op_threads"`
	MaxInFlight    int    `yaml:"max_in_flight"`
	MaxLength      int    `yaml:"max_length"`
}

// IntentModel is the intent classifier.
type IntentModel struct {
	Model `yaml:",inline"`
	// OOSThreshold overrides the out-of-scope threshold stored with the model.
	OOSThreshold *float32 `yaml:"oos_threshold"`
}

// Sessions is where conversations are kept.
type Sessions struct {
	Store       string   `yaml:"store"`        // embedded (default) | redis
	Path        string   `yaml:"path"`         // embedded: the database file
	Fsync       *bool    `yaml:"fsync"`        // embedded: fsync every turn (default true)
	Memory      int      `yaml:"memory"`       // turns each session remembers
	IdleTimeout Duration `yaml:"idle_timeout"` // a session idle this long is forgotten
	Redis       Redis    `yaml:"redis"`
}

// Redis is the Redis server of the redis session store.
type Redis struct {
	Addr     string `yaml:"addr"`
	Username string `yaml:"username"`
	Password string `yaml:"password"` // write ${REDIS_PASSWORD}
	DB       int    `yaml:"db"`
	Prefix   string `yaml:"prefix"`
}

// Normalize configures text normalization.
type Normalize struct {
	Width      *bool    `yaml:"width"`      // full-width to half-width; default true
	Simplified *bool    `yaml:"simplified"` // traditional to simplified; default true
	Sensitive  []string `yaml:"sensitive_words"`
	Files      []string `yaml:"sensitive_files"` // one word per line, # comments
	Action     string   `yaml:"action"`          // mask (default) | block
}

// Entities configures entity extraction beyond the built-ins.
type Entities struct {
	OrderPattern string               `yaml:"order_pattern"`
	Custom       map[string]EntityDef `yaml:"custom"`
}

// EntityDef is a custom entity: a pattern, or canonical values with synonyms.
type EntityDef struct {
	Pattern string              `yaml:"pattern"`
	Values  map[string][]string `yaml:"values"`
}

// Dialog configures the flow runtime and the bot's fixed texts.
type Dialog struct {
	MaxSteps int      `yaml:"max_steps"`
	MaxTime  Duration `yaml:"max_time"`
	Texts    Texts    `yaml:"texts"`
}

// Routing holds the thresholds between the routes of a turn.
type Routing struct {
	// IntentThreshold is the confidence an intent needs to start or
	// interrupt a flow.
	IntentThreshold float64 `yaml:"intent_threshold"`
	// AnswerThreshold: a knowledge hit scoring at least this is answered
	// directly (its FAQ answer).
	AnswerThreshold float64 `yaml:"answer_threshold"`
	// ContextThreshold: hits scoring at least this go to the generative
	// fallback as context; below it nothing retrieved is used.
	ContextThreshold float64 `yaml:"context_threshold"`
}

// Knowledge is the knowledge base. An empty store turns it off.
type Knowledge struct {
	Store         string         `yaml:"store"`           // "" (off) | embedded | qdrant
	Path          string         `yaml:"path"`            // embedded: the database file
	Qdrant        Qdrant         `yaml:"qdrant"`          // qdrant: the server
	Sources       []string       `yaml:"sources"`         // files and folders kefu ingest reads when given none
	IngestOnStart bool           `yaml:"ingest_on_start"` // kefu serve ingests sources at start (idempotent)
	Embedder      string         `yaml:"embedder"`        // models (models.embedder) | openai | hashing; default models when set, else hashing
	OpenAI        OpenAIEmbedder `yaml:"openai"`
	TopK          int            `yaml:"top_k"`
	Candidates    int            `yaml:"candidates"`   // hits asked of each side before fusion
	Fusion        string         `yaml:"fusion"`       // rrf | weighted
	DenseWeight   float64        `yaml:"dense_weight"` // share of the dense side in a hit's score
	ChunkRunes    int            `yaml:"chunk_runes"`  // longest chunk of an article
}

// Qdrant is a Qdrant server (gRPC).
type Qdrant struct {
	Addr       string `yaml:"addr"`    // host:port of the gRPC API (6334)
	APIKey     string `yaml:"api_key"` // write ${QDRANT_API_KEY}
	Collection string `yaml:"collection"`
	TLS        bool   `yaml:"tls"`
}

// OpenAIEmbedder is an OpenAI-compatible /v1/embeddings endpoint.
type OpenAIEmbedder struct {
	BaseURL    string   `yaml:"base_url"`
	APIKey     string   `yaml:"api_key"` // write ${OPENAI_API_KEY}
	Model      string   `yaml:"model"`
	Dimensions int      `yaml:"dimensions"`
	Batch      int      `yaml:"batch"`
	Timeout    Duration `yaml:"timeout"`
}

// Texts override what the bot says when no flow does.
type Texts struct {
	Fallback     string `yaml:"fallback"`
	Blocked      string `yaml:"blocked"`
	Handoff      string `yaml:"handoff"`
	Waiting      string `yaml:"waiting"`
	Error        string `yaml:"error"`
	Released     string `yaml:"released"`
	Resume       string `yaml:"resume"`
	GiveUp       string `yaml:"give_up"`
	ServiceError string `yaml:"service_error"`
}

// Handoff configures the human queue.
type Handoff struct {
	// Webhook, when set, receives a JSON POST for every session that enters
	// the queue, so a live-chat system can pick it up.
	Webhook string   `yaml:"webhook"`
	Timeout Duration `yaml:"timeout"`
}

// Provider is one provider instance: the keys every type shares, and the
// type's own keys in Params, decoded strictly by the type's factory.
type Provider struct {
	Type    string   `yaml:"type"`
	Timeout Duration `yaml:"timeout"` // per attempt
	Retries int      `yaml:"retries"`
	// MaxConcurrency bounds the provider's calls in flight; 0: unlimited.
	MaxConcurrency int     `yaml:"max_concurrency"`
	Prices         Prices  `yaml:"prices"`
	Breaker        Breaker `yaml:"breaker"`
	// Params holds the remaining keys (base_url, api_key, model…).
	Params yaml.Node `yaml:"-"`
	line   int
}

// Prices per 1,000 tokens, for cost accounting.
type Prices struct {
	Prompt     float64 `yaml:"prompt"`
	Completion float64 `yaml:"completion"`
}

// Breaker configures a provider's circuit breaker.
type Breaker struct {
	Failures int      `yaml:"failures"`
	Window   Duration `yaml:"window"`
	Cooldown Duration `yaml:"cooldown"`
}

var providerKeys = map[string]bool{"type": true, "timeout": true, "retries": true, "max_concurrency": true, "prices": true, "breaker": true}

// UnmarshalYAML splits the shared keys from the type's own.
func (p *Provider) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a provider is a mapping (type: openai, …)", n.Line)
	}
	common := &yaml.Node{Kind: yaml.MappingNode}
	p.Params = yaml.Node{Kind: yaml.MappingNode, Line: n.Line}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if providerKeys[k.Value] {
			common.Content = append(common.Content, k, n.Content[i+1])
		} else {
			p.Params.Content = append(p.Params.Content, k, n.Content[i+1])
		}
	}
	type plain Provider
	var c plain
	if err := common.Decode(&c); err != nil {
		return err
	}
	params := p.Params
	*p = Provider(c)
	p.Params, p.line = params, n.Line
	return nil
}

// Decode decodes the type's own keys strictly into v.
func (p *Provider) Decode(v any) error {
	data, err := yaml.Marshal(&p.Params)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:\n  ", ""))
	}
	return nil
}

// Route is a named fallback chain of providers.
type Route struct {
	Providers      []string `yaml:"providers"`
	MaxConcurrency int      `yaml:"max_concurrency"`
	RatePerSecond  float64  `yaml:"rate_per_second"`
}

// Channels configures the messaging adapters, served at /channels/{name}.
type Channels struct {
	Webhook  *WebhookChannel  `yaml:"webhook"`
	Telegram *TelegramChannel `yaml:"telegram"`
	// Identities maps "channel:user" to a session id, so one customer on
	// two channels continues one conversation ("telegram:7": customer-42).
	Identities map[string]string `yaml:"identities"`
}

// WebhookChannel is the generic JSON webhook (HMAC-SHA256 signed).
type WebhookChannel struct {
	Secret string `yaml:"secret"` // write ${KEFU_WEBHOOK_SECRET}
	// Tenant owns the sessions the channel creates (see server.keys);
	// "" acts for the operator.
	Tenant string `yaml:"tenant"`
}

// TelegramChannel is a Telegram bot's webhook.
type TelegramChannel struct {
	Token   string `yaml:"token"`  // the bot token: ${TELEGRAM_BOT_TOKEN}
	Secret  string `yaml:"secret"` // the webhook's secret_token
	APIBase string `yaml:"api_base"`
	Tenant  string `yaml:"tenant"` // owns the sessions the channel creates; "" acts for the operator
	// ErrorText is sent when a turn fails; "" is 抱歉，系统繁忙，请稍后再试。
	ErrorText string `yaml:"error_text"`
	// Workers run turns (one chat always on the same worker, in order);
	// Queue is the updates waiting per worker, beyond which an update is
	// answered 503 for Telegram to retry; Timeout bounds one update's turn,
	// and again the sending of its replies. 0 means 8, 64 and 60s.
	Workers int      `yaml:"workers"`
	Queue   int      `yaml:"queue"`
	Timeout Duration `yaml:"timeout"`
}

// Generate configures the generative fallback.
type Generate struct {
	Route        string `yaml:"route"` // "" turns generation off
	SystemPrompt string `yaml:"system_prompt"`
	MemoryTurns  int    `yaml:"memory_turns"`
	MaxPrompt    int    `yaml:"max_prompt_tokens"`
	MaxTokens    int    `yaml:"max_tokens"`
	// SessionBudget is the tokens one session may use; past it the engine
	// stops calling providers for it. 0 means no budget.
	SessionBudget int    `yaml:"session_budget_tokens"`
	OnFailure     string `yaml:"on_failure"` // knowledge (default) | handoff | fallback
	Stream        bool   `yaml:"stream"`
	// GuardWidth is the shortest run of the system prompt, in columns (a
	// Chinese character is two), that withholds a generated reply; 0 is
	// the default (48), -1 turns the guard off.
	GuardWidth int `yaml:"guard_width"`
}

// Duration is a time.Duration written as a string ("30s").
type Duration time.Duration

// UnmarshalYAML parses "1m30s"-style strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration such as \"30s\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (want e.g. \"30s\", \"500ms\")", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Default returns the configuration used for every key a file leaves out.
func Default() Config {
	return Config{
		Server: Server{
			Addr:            "127.0.0.1:8080",
			MaxBodyBytes:    1 << 20,
			MaxTextRunes:    2000,
			RequestTimeout:  Duration(10 * time.Second),
			ShutdownTimeout: Duration(30 * time.Second),
			Log:             Log{Format: "text", Level: "info"},
		},
		Models: Models{Intent: IntentModel{Model: Model{IntraOpThreads: 1}}},
		Sessions: Sessions{
			Store:       "embedded",
			Path:        "data/sessions.db",
			Memory:      20,
			IdleTimeout: Duration(24 * time.Hour),
			Redis:       Redis{Addr: "127.0.0.1:6379", Prefix: "kefu:"},
		},
		Normalize: Normalize{Action: "mask"},
		Handoff:   Handoff{Timeout: Duration(5 * time.Second)},
		Routing:   Routing{IntentThreshold: 0.4, AnswerThreshold: 0.8, ContextThreshold: 0.5},
		Generate: Generate{
			SystemPrompt: "你是本店的在线客服。请根据参考资料和对话内容，用简洁、礼貌的中文回答顾客的问题；参考资料里没有的信息不要编造，可以建议顾客输入“转人工”。",
			MemoryTurns:  6, MaxPrompt: 2000, MaxTokens: 512, OnFailure: "knowledge",
		},
		Knowledge: Knowledge{
			Path: "data/knowledge.db", Qdrant: Qdrant{Addr: "127.0.0.1:6334", Collection: "kefu"},
			TopK: 5, Candidates: 50, Fusion: "rrf", DenseWeight: 0.5, ChunkRunes: 600,
		},
	}
}

// Load reads and parses the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, errors.Unwrap(err))
	}
	c.File = path
	return c, nil
}

// Parse decodes a config strictly, resolves relative paths against dir,
// expands ${ENV} references and validates the result.
func Parse(data []byte, dir string) (*Config, error) {
	c := Default()
	data = expandEnv(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %w", explain(err, data))
	}
	c.resolve(dir)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &c, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${NAME} with the environment variable NAME, and
// ${NAME:-default} with default when NAME is unset or empty.
func expandEnv(data []byte) []byte {
	return envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		sub := envRef.FindSubmatch(m)
		if v := os.Getenv(string(sub[1])); v != "" || sub[2] == nil {
			return []byte(v)
		}
		return sub[3]
	})
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)

// explain rewrites yaml.v3's "field x not found in type config.Server" as
// the key path a person wrote: "line 3: unknown key server.adr".
func explain(err error, data []byte) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	paths := keyPaths(data)
	msgs := make([]string, 0, len(te.Errors))
	for _, m := range te.Errors {
		if sm := unknownField.FindStringSubmatch(m); sm != nil {
			key := sm[2]
			if p, ok := paths[sm[1]+":"+key]; ok {
				key = p
			}
			m = fmt.Sprintf("line %s: unknown key %s", sm[1], key)
		}
		msgs = append(msgs, m)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// keyPaths maps "line:key" to the dotted path of every mapping key.
func keyPaths(data []byte) map[string]string {
	var root yaml.Node
	out := map[string]string{}
	if yaml.Unmarshal(data, &root) != nil {
		return out
	}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if prefix != "" {
					p = prefix + "." + k.Value
				}
				out[fmt.Sprintf("%d:%s", k.Line, k.Value)] = p
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(&root, "")
	return out
}

func (c *Config) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) && dir != "" {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.ONNXRuntime.Library)
	abs(&c.Sessions.Path)
	abs(&c.Knowledge.Path)
	for i := range c.Knowledge.Sources {
		abs(&c.Knowledge.Sources[i])
	}
	for i := range c.Normalize.Files {
		abs(&c.Normalize.Files[i])
	}
	abs(&c.Models.Intent.Path)
	if c.Models.Embedder != nil {
		abs(&c.Models.Embedder.Path)
	}
}

// checkTenant says what is wrong with a key's tenant, or "".
func checkTenant(t string) string {
	switch n := utf8.RuneCountInString(t); {
	case strings.TrimSpace(t) == "":
		return "must not be empty (leave it out to use the key's name)"
	case !utf8.ValidString(t):
		return "must be UTF-8"
	case n > maxTenantRunes:
		return fmt.Sprintf("is %d characters long; the limit is %d", n, maxTenantRunes)
	case strings.IndexFunc(t, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Sprintf("%q has a control or invisible character", t)
	case strings.TrimSpace(t) != t:
		return fmt.Sprintf("%q has leading or trailing spaces", t)
	}
	return ""
}

// Validate checks every value and names the key path of the first problem.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	s := c.Server
	if s.Addr == "" {
		bad("server.addr", "must not be empty (e.g. 127.0.0.1:8080)")
	}
	if s.MaxBodyBytes <= 0 {
		bad("server.max_body_bytes", "must be > 0")
	}
	if s.MaxTextRunes <= 0 {
		bad("server.max_text_runes", "must be > 0")
	}
	if s.RequestTimeout < 0 {
		bad("server.request_timeout", "must not be negative")
	}
	if s.ShutdownTimeout <= 0 {
		bad("server.shutdown_timeout", "must be > 0")
	}
	for i, k := range s.Keys {
		path := fmt.Sprintf("server.keys[%d]", i)
		if k.Name == "" {
			bad(path+".name", "is required")
		}
		if len(k.Key) < 16 {
			bad(path+".key", "must be at least 16 characters (got %d)", len(k.Key))
		}
		if len(k.Scopes) == 0 {
			bad(path+".scopes", "is required: chat, knowledge and/or admin")
		}
		for _, sc := range k.Scopes {
			if sc != "chat" && sc != "knowledge" && sc != "admin" {
				bad(path+".scopes", "%q is not chat, knowledge or admin", sc)
			}
		}
		if k.Tenant != nil {
			if msg := checkTenant(*k.Tenant); msg != "" {
				bad(path+".tenant", "%s", msg)
			}
		}
	}
	if t := s.Tracing; t.SampleRatio < 0 || t.SampleRatio > 1 {
		bad("server.tracing.sample_ratio", "%v is outside [0, 1]", t.SampleRatio)
	}
	if e := s.Tracing.Endpoint; e != "" && !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
		bad("server.tracing.otlp_endpoint", "must be an http(s) URL (OTLP over HTTP, port 4318)")
	}
	if l := s.Limits; l.TurnsPerKey < 0 || l.TurnsPerSession < 0 || l.MaxConcurrent < 0 {
		bad("server.limits", "limits must not be negative")
	}
	switch s.Log.Format {
	case "text", "json":
	default:
		bad("server.log.format", "%q is not text or json", s.Log.Format)
	}
	switch s.Log.UserText {
	case "", "off", "masked", "full":
	default:
		bad("server.log.user_text", "%q is not off, masked or full", s.Log.UserText)
	}
	switch s.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("server.log.level", "%q is not debug, info, warn or error", s.Log.Level)
	}
	if c.Models.Intent.Path == "" {
		bad("models.intent.path", "is required: the intent model folder (Hugging Face layout)")
	}
	validModel(c.Models.Intent.Model, "models.intent", bad)
	if t := c.Models.Intent.OOSThreshold; t != nil && (*t < 0 || *t >= 1) {
		bad("models.intent.oos_threshold", "%v is outside [0, 1)", *t)
	}
	if e := c.Models.Embedder; e != nil {
		if e.Path == "" {
			bad("models.embedder.path", "is required when models.embedder is set")
		}
		validModel(e.Model, "models.embedder", bad)
		switch e.Pooling {
		case "", "mean", "cls", "softmax", "logits":
		default:
			bad("models.embedder.pooling", "%q is not mean, cls, softmax or logits", e.Pooling)
		}
	}
	ss := c.Sessions
	switch ss.Store {
	case "embedded":
		if ss.Path == "" {
			bad("sessions.path", "is required for the embedded store")
		}
	case "redis":
		if ss.Redis.Addr == "" {
			bad("sessions.redis.addr", "is required for the redis store (host:port)")
		}
	default:
		bad("sessions.store", "%q is not embedded or redis", ss.Store)
	}
	if ss.Memory < 1 || ss.Memory > 1000 {
		bad("sessions.memory", "%d is outside 1..1000 turns", ss.Memory)
	}
	if ss.IdleTimeout <= 0 {
		bad("sessions.idle_timeout", "must be > 0")
	}
	switch c.Normalize.Action {
	case "mask", "block":
	default:
		bad("normalize.action", "%q is not mask or block", c.Normalize.Action)
	}
	if t := c.Routing.IntentThreshold; t < 0 || t >= 1 {
		bad("routing.intent_threshold", "%v is outside [0, 1)", t)
	}
	r := c.Routing
	if r.AnswerThreshold <= 0 || r.AnswerThreshold > 1 {
		bad("routing.answer_threshold", "%v is outside (0, 1]", r.AnswerThreshold)
	}
	if r.ContextThreshold < 0 || r.ContextThreshold > r.AnswerThreshold {
		bad("routing.context_threshold", "%v must be between 0 and routing.answer_threshold (%v)", r.ContextThreshold, r.AnswerThreshold)
	}
	validKnowledge(c.Knowledge, c.Models.Embedder != nil, bad)
	validProviders(c, bad)
	if w := c.Channels.Webhook; w != nil && len(w.Secret) < 16 {
		bad("channels.webhook.secret", "must be at least 16 characters")
	}
	if w := c.Channels.Webhook; w != nil && w.Tenant != "" {
		if msg := checkTenant(w.Tenant); msg != "" {
			bad("channels.webhook.tenant", "%s", msg)
		}
	}
	if tg := c.Channels.Telegram; tg != nil && tg.Tenant != "" {
		if msg := checkTenant(tg.Tenant); msg != "" {
			bad("channels.telegram.tenant", "%s", msg)
		}
	}
	if tg := c.Channels.Telegram; tg != nil {
		if tg.Token == "" {
			bad("channels.telegram.token", "is required")
		}
		if len(tg.Secret) < 16 {
			bad("channels.telegram.secret", "must be at least 16 characters (Telegram's secret_token)")
		}
		if tg.Workers < 0 {
			bad("channels.telegram.workers", "must not be negative")
		}
		if tg.Queue < 0 {
			bad("channels.telegram.queue", "must not be negative")
		}
		if tg.Timeout < 0 {
			bad("channels.telegram.timeout", "must not be negative")
		}
	}
	if c.Dialog.MaxSteps < 0 {
		bad("dialog.max_steps", "must not be negative")
	}
	if c.Dialog.MaxTime < 0 {
		bad("dialog.max_time", "must not be negative")
	}
	if w := c.Handoff.Webhook; w != "" && !strings.HasPrefix(w, "http://") && !strings.HasPrefix(w, "https://") {
		bad("handoff.webhook", "must be an http(s) URL")
	}
	if err := c.Services.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validProviders(c *Config, bad func(string, string, ...any)) {
	for name, p := range c.Providers {
		path := "providers." + name
		if p.Type == "" {
			bad(path+".type", "is required (e.g. openai, dify, coze)")
		}
		if p.Timeout < 0 {
			bad(path+".timeout", "must not be negative")
		}
		if p.Retries < 0 || p.Retries > 5 {
			bad(path+".retries", "%d is outside 0..5", p.Retries)
		}
	}
	for name, r := range c.Routes {
		path := "routes." + name
		if len(r.Providers) == 0 {
			bad(path+".providers", "is required: the providers to try, in order")
		}
		for _, p := range r.Providers {
			if _, ok := c.Providers[p]; !ok {
				bad(path+".providers", "unknown provider %q", p)
			}
		}
		if r.MaxConcurrency < 0 || r.RatePerSecond < 0 {
			bad(path, "limits must not be negative")
		}
	}
	g := c.Generate
	if g.Route != "" {
		if _, ok := c.Routes[g.Route]; !ok {
			bad("generate.route", "unknown route %q", g.Route)
		}
	}
	switch g.OnFailure {
	case "knowledge", "handoff", "fallback":
	default:
		bad("generate.on_failure", "%q is not knowledge, handoff or fallback", g.OnFailure)
	}
	if g.GuardWidth < -1 || g.GuardWidth > 0 && g.GuardWidth < 16 {
		bad("generate.guard_width", "%d: use 0 for the default (48), -1 to turn the guard off, or 16 or more", g.GuardWidth)
	}
	if g.MemoryTurns < 0 || g.MaxPrompt < 0 || g.MaxTokens < 0 || g.SessionBudget < 0 {
		bad("generate", "numbers must not be negative")
	}
}

func validKnowledge(k Knowledge, haveModel bool, bad func(string, string, ...any)) {
	switch k.Store {
	case "":
		return
	case "embedded":
		if k.Path == "" {
			bad("knowledge.path", "is required for the embedded store")
		}
	case "qdrant":
		if k.Qdrant.Addr == "" {
			bad("knowledge.qdrant.addr", "is required for the qdrant store (host:6334)")
		}
		if k.Qdrant.Collection == "" {
			bad("knowledge.qdrant.collection", "must not be empty")
		}
	default:
		bad("knowledge.store", "%q is not embedded or qdrant", k.Store)
	}
	switch k.Embedder {
	case "", "hashing":
	case "models":
		if !haveModel {
			bad("knowledge.embedder", "models needs models.embedder (a Hugging Face layout folder)")
		}
	case "openai":
		if k.OpenAI.Model == "" {
			bad("knowledge.openai.model", "is required for the openai embedder")
		}
		if k.OpenAI.Dimensions <= 0 {
			bad("knowledge.openai.dimensions", "is required: the vector size the model returns")
		}
	default:
		bad("knowledge.embedder", "%q is not models, openai or hashing", k.Embedder)
	}
	if k.TopK < 1 || k.TopK > 100 {
		bad("knowledge.top_k", "%d is outside 1..100", k.TopK)
	}
	if k.Candidates < k.TopK {
		bad("knowledge.candidates", "%d must be at least knowledge.top_k (%d)", k.Candidates, k.TopK)
	}
	if k.Fusion != "rrf" && k.Fusion != "weighted" {
		bad("knowledge.fusion", "%q is not rrf or weighted", k.Fusion)
	}
	if k.DenseWeight < 0 || k.DenseWeight > 1 {
		bad("knowledge.dense_weight", "%v is outside [0, 1]", k.DenseWeight)
	}
	if k.ChunkRunes < 50 {
		bad("knowledge.chunk_runes", "%d is too small (at least 50)", k.ChunkRunes)
	}
}

func validModel(m Model, path string, bad func(string, string, ...any)) {
	if m.IntraOpThreads < 0 {
		bad(path+".intra_op_threads", "must not be negative")
	}
	if m.MaxInFlight < 0 {
		bad(path+".max_in_flight", "must not be negative")
	}
	if m.MaxLength != 0 && m.MaxLength < 3 {
		bad(path+".max_length", "must be at least 3 ([CLS], one token, [SEP])")
	}
}

// Std returns the duration as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
