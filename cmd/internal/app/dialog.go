package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/dsl"
	"github.com/kefu-chat/kefu/dsl/compile"
	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/entity"
	"github.com/kefu-chat/kefu/engine/normalize"
	"github.com/kefu-chat/kefu/engine/service"
	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/engine/session/boltstore"
	"github.com/kefu-chat/kefu/engine/session/redisstore"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/providers/gateway"
)

// Dialog is the dialog half of a bot: the parts a turn needs besides the
// models.
type Dialog struct {
	Program    *dsl.Program
	Normalizer *normalize.Normalizer
	Entities   *entity.Extractor
	Services   *service.Client
}

// LoadDialog compiles the flows of cfg against the bot around them: the
// intents the classifier knows (nil skips the intent check), the entity
// types and the configured services. Errors in flows come back as a
// dsl.ErrorList.
func LoadDialog(cfg *config.Config, intents []string, logger *slog.Logger) (*Dialog, error) {
	d := &Dialog{}
	var err error
	if d.Normalizer, err = NewNormalizer(cfg.Normalize); err != nil {
		return nil, err
	}
	if d.Services, err = service.New(cfg.Services, service.Deps{Logger: logger}); err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	base, err := entity.New(entityConfig(cfg.Entities, nil))
	if err != nil {
		return nil, fmt.Errorf("entities: %w", err)
	}
	schema := Schema(intents, base, d.Services)
	for name := range cfg.Routes {
		schema.Routes = append(schema.Routes, name)
	}
	sort.Strings(schema.Routes)
	schema.DefaultRoute = cfg.Generate.Route
	paths, err := FlowFiles(cfg)
	if err != nil {
		return nil, err
	}
	if d.Program, err = dsl.Load(paths, schema); err != nil {
		return nil, err
	}
	if d.Entities, err = entity.New(entityConfig(cfg.Entities, d.Program.Entities)); err != nil {
		return nil, fmt.Errorf("entities: %w", err)
	}
	return d, nil
}

// Schema describes the bot around the flows for the compiler: the intents,
// the entity types and every service operation with its parameters.
func Schema(intents []string, ents *entity.Extractor, svc *service.Client) dsl.Schema {
	schema := dsl.Schema{Intents: intents, Entities: ents.Types(), Services: map[string]map[string][]string{}}
	for name, ops := range svc.Operations() {
		schema.Services[name] = map[string][]string{}
		for _, op := range ops {
			params, _ := svc.Params(name, op)
			schema.Services[name][op] = params
		}
	}
	return schema
}

// FlowFiles expands the flows patterns of cfg.
func FlowFiles(cfg *config.Config) ([]string, error) {
	if len(cfg.Flows) == 0 {
		return nil, nil
	}
	dir := ""
	if cfg.File != "" {
		dir = filepath.Dir(cfg.File)
	}
	paths, err := dsl.Files(dir, cfg.Flows)
	if err != nil {
		return nil, fmt.Errorf("flows: %w", err)
	}
	return paths, nil
}

func entityConfig(c config.Entities, declared []compile.Entity) entity.Config {
	ec := entity.Config{OrderPattern: c.OrderPattern}
	names := make([]string, 0, len(c.Custom))
	for n := range c.Custom {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		def := c.Custom[n]
		ec.Defs = append(ec.Defs, entity.Def{Name: n, Pattern: def.Pattern, Values: def.Values})
	}
	for _, e := range declared {
		ec.Defs = append(ec.Defs, entity.Def{Name: e.Name, Pattern: e.Pattern, Values: e.Values})
	}
	return ec
}

// NewNormalizer builds the normalizer of the normalize section. The engine
// matches case-sensitively where flows ask it to (slot patterns such as
// /[A-Z]\d+/), so letters keep their case; keyword triggers ignore it.
func NewNormalizer(c config.Normalize) (*normalize.Normalizer, error) {
	nc := normalize.DefaultConfig()
	nc.Lower = false
	if c.Width != nil {
		nc.Width = *c.Width
	}
	if c.Simplified != nil {
		nc.Simplified = *c.Simplified
	}
	nc.Action = normalize.Action(c.Action)
	nc.Sensitive = append(nc.Sensitive, c.Sensitive...)
	for _, f := range c.Files {
		words, err := readWords(f)
		if err != nil {
			return nil, fmt.Errorf("normalize.sensitive_files: %w", err)
		}
		nc.Sensitive = append(nc.Sensitive, words...)
	}
	n, err := normalize.New(nc)
	if err != nil {
		return nil, fmt.Errorf("normalize: %w", err)
	}
	return n, nil
}

// readWords reads one word per line; blank lines and # comments are skipped.
func readWords(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		w := strings.TrimSpace(sc.Text())
		if w != "" && !strings.HasPrefix(w, "#") {
			out = append(out, w)
		}
	}
	return out, sc.Err()
}

// OpenSessions opens the session store of cfg.
func OpenSessions(cfg config.Sessions, logger *slog.Logger) (session.Store, error) {
	switch cfg.Store {
	case "redis":
		st, err := redisstore.New(redisstore.Options{
			Addr: cfg.Redis.Addr, Username: cfg.Redis.Username, Password: cfg.Redis.Password,
			DB: cfg.Redis.DB, Prefix: cfg.Redis.Prefix, IdleTTL: cfg.IdleTimeout.Std(), Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
		return st, nil
	default:
		if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
		noSync := cfg.Fsync != nil && !*cfg.Fsync
		st, err := boltstore.Open(cfg.Path, boltstore.Options{IdleTTL: cfg.IdleTimeout.Std(), Logger: logger, NoSync: noSync})
		if err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
		return st, nil
	}
}

// NewEngine assembles the turn engine.
// kb and gw may be nil (no knowledge base, no generative providers).
func NewEngine(cfg *config.Config, d *Dialog, cls models.Classifier, store session.Store, kb *KnowledgeBase, gw *gateway.Gateway, logger *slog.Logger, m *engine.Metrics) (*engine.Engine, error) {
	t := cfg.Dialog.Texts
	ec := engine.Config{
		Memory:           cfg.Sessions.Memory,
		IntentThreshold:  cfg.Routing.IntentThreshold,
		LogText:          cfg.Server.Log.UserText,
		AnswerThreshold:  cfg.Routing.AnswerThreshold,
		ContextThreshold: cfg.Routing.ContextThreshold,
		KnowledgeTopK:    cfg.Knowledge.TopK,
		Generate: engine.GenerateConfig{
			Route: cfg.Generate.Route, SystemPrompt: cfg.Generate.SystemPrompt, MemoryTurns: cfg.Generate.MemoryTurns,
			MaxPromptTokens: cfg.Generate.MaxPrompt, MaxTokens: cfg.Generate.MaxTokens,
			SessionBudget: cfg.Generate.SessionBudget, OnFailure: cfg.Generate.OnFailure,
			GuardWidth: cfg.Generate.GuardWidth,
		},
		Texts: engine.Texts{
			Fallback: t.Fallback, Blocked: t.Blocked, Handoff: t.Handoff, Waiting: t.Waiting,
			Error: t.Error, Released: t.Released, Resume: t.Resume, GiveUp: t.GiveUp, ServiceKO: t.ServiceError,
		},
	}
	ec.DialogBudget.MaxSteps = cfg.Dialog.MaxSteps
	ec.DialogBudget.MaxTime = cfg.Dialog.MaxTime.Std()
	deps := engine.Deps{
		Program: d.Program, Sessions: store, Classifier: cls, Normalizer: d.Normalizer,
		Entities: d.Entities, Services: d.Services, Logger: logger, Metrics: m,
	}
	if kb != nil {
		deps.Knowledge = kb
	}
	if gw != nil {
		deps.Generator = gw
	}
	if cfg.Handoff.Webhook != "" {
		deps.Notifier = &webhook{url: cfg.Handoff.Webhook, timeout: cfg.Handoff.Timeout.Std(), log: logger}
	}
	return engine.New(ec, deps)
}

// webhook posts each session that enters the human queue to a live-chat
// system. Failures are logged; the conversation goes on.
type webhook struct {
	url     string
	timeout time.Duration
	log     *slog.Logger
}

func (w *webhook) Notify(ctx context.Context, e session.QueueEntry, lastText string) {
	body, _ := json.Marshal(map[string]any{
		"session_id": e.SessionID, "queue": e.Queue, "reason": e.Reason,
		"since": e.Since.Format(time.RFC3339Nano), "text": lastText,
	})
	go func() {
		ctx, cancel := context.WithTimeout(ctx, w.timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
		if err != nil {
			w.log.Error("handoff webhook", "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// The URL may carry a token: log the cause only.
			if ue, ok := err.(*url.Error); ok {
				err = ue.Err
			}
			w.log.Warn("handoff webhook failed", "session", e.SessionID, "err", err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			w.log.Warn("handoff webhook refused", "session", e.SessionID, "status", resp.StatusCode)
		}
	}()
}

// Intents returns the labels flows may trigger on: all but out-of-scope.
func Intents(labels []string) []string {
	out := make([]string, 0, len(labels))
	for _, l := range labels {
		if l != models.OOS {
			out = append(out, l)
		}
	}
	return out
}
