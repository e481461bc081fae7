package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kefu-chat/kefu/dsl"
	"github.com/kefu-chat/kefu/dsl/runtime"
	"github.com/kefu-chat/kefu/engine/entity"
	"github.com/kefu-chat/kefu/engine/normalize"
	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/knowledge"
	"github.com/kefu-chat/kefu/models"
)

// Config holds the engine's knobs; zero values take the defaults.
type Config struct {
	Memory int // turns each session remembers; default 20
	// LogText says what the per-turn log line shows of the customer's
	// text: "off" (default), "masked" (sensitive words, digits and emails
	// hidden) or "full" (as typed).
	LogText string
	// IntentThreshold is the confidence an intent needs to start or
	// interrupt a flow; below it the message has no intent for the flows
	// (the trace still shows the model's guess). Default 0.4.
	IntentThreshold float64
	// AnswerThreshold and ContextThreshold route knowledge hits: a hit
	// scoring at least AnswerThreshold with an FAQ answer is answered
	// directly; hits from ContextThreshold up are context for generation.
	// Defaults 0.8 and 0.5.
	AnswerThreshold, ContextThreshold float64
	KnowledgeTopK                     int // default 5
	Generate                          GenerateConfig
	SaveTimeout                       time.Duration // for the session write after the reply; default 5s
	MaxCalls                          int           // business calls per turn; default 8
	DialogBudget                      runtime.Options
	Texts                             Texts
}

// Texts are what the bot says when no flow does. Empty fields take the
// defaults below.
type Texts struct {
	Fallback  string // nothing understood the message
	Blocked   string // the message had a blocked sensitive word
	Handoff   string // a session was just handed to a human
	Waiting   string // the customer writes while waiting for a human
	Error     string // a flow failed at run time
	Released  string // an agent gave the session back to the bot
	Resume    string // prefix when an interruption returns to a pending question
	Budget    string // the session's generation budget is used up
	BestMatch string // prefix of the best knowledge match when generation failed
	GiveUp    string
	ServiceKO string
}

// DefaultTexts are the defaults, in the shop's voice.
var DefaultTexts = Texts{
	Fallback:  "抱歉，我还不太明白您的意思。可以换个说法，或者输入“转人工”联系人工客服。",
	Blocked:   "您的消息包含不当内容，请文明用语，谢谢理解。",
	Handoff:   "正在为您转接人工客服，请稍候。",
	Waiting:   "人工客服马上就来，请稍候。",
	Error:     "抱歉，处理时出了点问题，我们重新开始吧。需要帮助可以输入“转人工”。",
	Released:  "人工客服已结束服务，接下来由智能客服为您服务。",
	Resume:    "我们回到刚才的问题：",
	Budget:    "抱歉，本次会话的智能回答次数已用完。如需继续咨询，请输入“转人工”联系人工客服。",
	BestMatch: "这条帮助也许能解答您的问题：",
	GiveUp:    runtime.DefaultGiveUp,
	ServiceKO: runtime.DefaultServiceError,
}

// Caller performs the business service calls flows make. Implementations
// are safe for concurrent use.
type Caller interface {
	Call(ctx context.Context, service, op string, args map[string]any, timeout time.Duration) (any, error)
	// Params lists an operation's parameters in positional order.
	Params(service, op string) ([]string, error)
}

// Retriever searches the knowledge base.
type Retriever interface {
	Search(ctx context.Context, query string, k int, f knowledge.Filter) ([]knowledge.Result, error)
}

// Notifier is told when a session enters the human queue.
type Notifier interface {
	Notify(ctx context.Context, e session.QueueEntry, lastText string)
}

// Deps are the parts the engine uses. Program and Sessions are required.
type Deps struct {
	Program    *dsl.Program
	Sessions   session.Store
	Classifier models.Classifier     // nil: no intents
	Normalizer *normalize.Normalizer // nil: text used as typed
	Entities   *entity.Extractor     // nil: no entities
	Services   Caller                // nil: every call fails
	Notifier   Notifier              // nil: nobody is told
	Knowledge  Retriever             // nil: no knowledge base
	Generator  Generator             // nil: no generative fallback
	Logger     *slog.Logger
	Now        func() time.Time
	Metrics    *Metrics // nil: none
}

// Engine runs turns. It is safe for concurrent use; turns of one session
// are serialised by the session store's lock.
type Engine struct {
	cfg  Config
	d    Deps
	opts runtime.Options
	log  *slog.Logger
	now  func() time.Time
	leak guardOnce // the system prompt's leak guard, built on first use (guard.go)
}

// New checks its dependencies and applies defaults.
func New(cfg Config, d Deps) (*Engine, error) {
	if d.Program == nil {
		return nil, errors.New("engine: no program")
	}
	if d.Sessions == nil {
		return nil, errors.New("engine: no session store")
	}
	if cfg.Memory <= 0 {
		cfg.Memory = 20
	}
	if cfg.IntentThreshold <= 0 {
		cfg.IntentThreshold = 0.4
	}
	if cfg.AnswerThreshold <= 0 {
		cfg.AnswerThreshold = 0.8
	}
	if cfg.ContextThreshold <= 0 {
		cfg.ContextThreshold = 0.5
	}
	if cfg.KnowledgeTopK <= 0 {
		cfg.KnowledgeTopK = 5
	}
	if cfg.Generate.MemoryTurns <= 0 {
		cfg.Generate.MemoryTurns = 6
	}
	if cfg.Generate.MaxPromptTokens <= 0 {
		cfg.Generate.MaxPromptTokens = 2000
	}
	if cfg.Generate.MaxTokens <= 0 {
		cfg.Generate.MaxTokens = 512
	}
	if cfg.SaveTimeout <= 0 {
		cfg.SaveTimeout = 5 * time.Second
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = 8
	}
	t, def := &cfg.Texts, DefaultTexts
	for _, f := range []struct {
		p *string
		d string
	}{
		{&t.Fallback, def.Fallback}, {&t.Blocked, def.Blocked}, {&t.Handoff, def.Handoff},
		{&t.Waiting, def.Waiting}, {&t.Error, def.Error}, {&t.Released, def.Released},
		{&t.Resume, def.Resume}, {&t.GiveUp, def.GiveUp}, {&t.ServiceKO, def.ServiceKO},
		{&t.Budget, def.Budget}, {&t.BestMatch, def.BestMatch},
	} {
		if *f.p == "" {
			*f.p = f.d
		}
	}
	e := &Engine{cfg: cfg, d: d, log: d.Logger, now: d.Now}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.opts = cfg.DialogBudget
	e.opts.GiveUp, e.opts.ServiceError = t.GiveUp, t.ServiceKO
	if e.opts.Now == nil {
		e.opts.Now = e.now
	}
	return e, nil
}

// Program returns the compiled flows the engine runs.
func (e *Engine) Program() *dsl.Program { return e.d.Program }

// Errors Turn returns; everything else is internal.
var (
	ErrEmpty    = errors.New("engine: text and event are both empty")
	ErrStore    = errors.New("engine: session store unavailable")
	ErrNotFound = session.ErrNotFound
	// ErrForbidden: the session belongs to another tenant. The error
	// names the session, never the tenant that owns it.
	ErrForbidden = errors.New("engine: forbidden")
)

// checkTenant returns ErrForbidden when s belongs to a tenant other than
// tenant. A session with no tenant (stored before tenants existed, or
// created by a channel adapter) belongs to none and passes; Turn then gives
// it to its first tenant. The empty tenant is the operator's (channel
// adapters, command-line tools, the API with no keys configured) and passes
// every session.
func checkTenant(s *session.Session, tenant string) error {
	if tenant != "" && s.Tenant != "" && s.Tenant != tenant {
		return fmt.Errorf("%w: session %q belongs to another tenant", ErrForbidden, s.ID)
	}
	return nil
}

// SessionFor is [Engine.Session] on behalf of tenant: it returns
// ErrForbidden when the session belongs to another tenant.
func (e *Engine) SessionFor(ctx context.Context, tenant, id string) (*SessionView, error) {
	s, err := e.d.Sessions.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := checkTenant(s, tenant); err != nil {
		return nil, err
	}
	return view(s), nil
}

// ResetFor is [Engine.Reset] on behalf of tenant: it returns ErrForbidden,
// deleting nothing, when the session belongs to another tenant.
func (e *Engine) ResetFor(ctx context.Context, tenant, id string) error {
	unlock, err := e.d.Sessions.Lock(ctx, id)
	if err != nil {
		return storeErr("lock", err)
	}
	defer unlock()
	s, err := e.d.Sessions.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := checkTenant(s, tenant); err != nil {
		return err
	}
	return e.d.Sessions.Delete(ctx, id)
}

// Understanding is the stateless part of a turn: normalize, classify,
// extract. It depends on the text and the models only (the Rasa NLU split).
type Understanding struct {
	Norm     normalize.Result
	Intent   Intent
	Entities []entity.Entity
	Timings  Timings
}

// Understand normalizes a text, classifies its intent and extracts entities.
func (e *Engine) Understand(ctx context.Context, text string, now time.Time) (Understanding, error) {
	var u Understanding
	t0 := time.Now()
	_, sp := tracer().Start(ctx, "kefu.normalize")
	if e.d.Normalizer != nil {
		u.Norm = e.d.Normalizer.Normalize(text)
	} else {
		u.Norm = normalize.Result{Original: text, Text: strings.TrimSpace(text)}
	}
	sp.End()
	t1 := time.Now()
	u.Timings.Normalize = t1.Sub(t0)
	if u.Norm.Blocked || u.Norm.Text == "" {
		return u, nil
	}
	if e.d.Classifier != nil {
		cctx, sp := tracer().Start(ctx, "kefu.classify")
		p, err := e.d.Classifier.Classify(cctx, u.Norm.Text)
		if err != nil {
			sp.RecordError(err)
			sp.SetStatus(codes.Error, "classify")
			sp.End()
			return u, fmt.Errorf("engine: classify: %w", err)
		}
		u.Intent = Intent{Name: p.Intent.Name, Confidence: round(float64(p.Intent.Confidence))}
		sp.SetAttributes(attribute.String("kefu.intent", u.Intent.Name), attribute.Float64("kefu.confidence", u.Intent.Confidence))
		sp.End()
	}
	t2 := time.Now()
	u.Timings.Classify = t2.Sub(t1)
	if e.d.Entities != nil {
		_, sp := tracer().Start(ctx, "kefu.entities")
		u.Entities = e.d.Entities.Extract(u.Norm.Text, now)
		sp.End()
	}
	u.Timings.Entities = time.Since(t2)
	return u, nil
}

// tracer makes the turn's spans from the global provider of the moment;
// with none configured (the default) they cost next to nothing.
func tracer() trace.Tracer { return otel.Tracer("github.com/kefu-chat/kefu/engine") }

// storeErr marks a session store failure, unless it is the caller's own
// context ending.
func storeErr(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("engine: %s session: %w", op, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrStore, op, err)
}

func round(f float64) float64 { return float64(int64(f*10000+0.5)) / 10000 }

// Turn runs one customer message through normalize, understand and dialog,
// saves the session and returns the replies with their trace. Turns of one
// session run one at a time. Failures of business services and flows become
// polite replies; Turn errs only when the session cannot be read or written,
// belongs to another tenant than req.Tenant (ErrForbidden), or the context
// ends.
func (e *Engine) Turn(ctx context.Context, req Request) (*Reply, error) {
	start := time.Now()
	ctx, span := tracer().Start(ctx, "kefu.turn")
	defer span.End()
	now := req.Now
	if now.IsZero() {
		now = e.now()
	}
	if strings.TrimSpace(req.Text) == "" && req.Event == "" {
		return nil, ErrEmpty
	}
	if req.SessionID == "" {
		req.SessionID = newID()
	}
	r := &Reply{SessionID: req.SessionID, TurnID: newID(), Replies: []Part{}, Entities: []Entity{}}
	var u Understanding
	if req.Event == "" {
		var err error
		if u, err = e.Understand(ctx, req.Text, now); err != nil {
			return nil, err
		}
	}
	r.Timings = u.Timings
	r.Intent = u.Intent
	for _, en := range u.Entities {
		r.Entities = append(r.Entities, Entity{Type: en.Type, Value: en.Value, Text: en.Text})
	}

	t := time.Now()
	unlock, err := e.d.Sessions.Lock(ctx, req.SessionID)
	if err != nil {
		return nil, storeErr("lock", err)
	}
	defer unlock()
	sess, err := e.d.Sessions.Get(ctx, req.SessionID)
	switch {
	case errors.Is(err, session.ErrNotFound):
		sess = &session.Session{ID: req.SessionID, Tenant: req.Tenant, UserID: req.UserID, Channel: req.Channel, Created: now}
	case err != nil:
		return nil, storeErr("load", err)
	}
	if err := checkTenant(sess, req.Tenant); err != nil {
		span.SetStatus(codes.Error, "forbidden")
		return nil, err
	}
	if sess.Tenant == "" {
		sess.Tenant = req.Tenant // a tenant adopts a session that has none
	}
	r.Timings.Lock = time.Since(t)

	t = time.Now()
	dctx, dspan := tracer().Start(ctx, "kefu.dialog")
	switch {
	case u.Norm.Blocked:
		r.Route, r.Reason = RouteFallback, "sensitive"
		r.say(e.cfg.Texts.Blocked)
	case sess.Handoff != nil && sess.Handoff.Agent != "":
		// An agent is answering: the bot stays silent; the message is
		// kept in memory for the agent.
		r.Route, r.Reason, r.Handoff = RouteHandoff, "agent answering", true
	case sess.Handoff != nil:
		r.Route, r.Reason, r.Handoff = RouteHandoff, "waiting for an agent", true
		r.say(e.cfg.Texts.Waiting)
	default:
		e.dialog(dctx, sess, req, u, r, now)
	}
	dspan.End()
	r.Timings.Dialog = time.Since(t) - r.Timings.Services - r.Timings.Retrieve - r.Timings.Generate

	intentName := r.Intent.Name
	sess.Append(session.Turn{ID: r.TurnID, At: now, Text: req.Text, Replies: r.texts(), Intent: intentName, Route: r.Route}, e.cfg.Memory)
	if req.UserID != "" {
		sess.UserID = req.UserID
	}
	if req.Channel != "" {
		sess.Channel = req.Channel
	}
	sess.Updated = now
	t = time.Now()
	// The reply is computed; a client that hangs up now must not lose the
	// memory of this turn.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.SaveTimeout)
	defer cancel()
	sctx, sspan := tracer().Start(sctx, "kefu.session.save")
	err = e.d.Sessions.Save(sctx, sess)
	sspan.End()
	if err != nil {
		span.SetStatus(codes.Error, "save")
		return nil, storeErr("save", err)
	}
	r.Timings.Save = time.Since(t)
	r.Timings.Total = time.Since(start)
	if entry, ok := sess.Entry(); ok && r.newHandoff && e.d.Notifier != nil {
		e.d.Notifier.Notify(context.WithoutCancel(ctx), entry, req.Text)
	}
	e.d.Metrics.observe(r)
	span.SetAttributes(attribute.String("kefu.route", r.Route), attribute.String("kefu.intent", r.Intent.Name),
		attribute.String("kefu.reason", r.Reason))
	if r.Flow != nil {
		span.SetAttributes(attribute.String("kefu.flow", r.Flow.Name), attribute.String("kefu.step", r.Flow.Step))
	}
	if e.log.Enabled(ctx, slog.LevelInfo) {
		e.logTurn(ctx, req, u, r)
	}
	return r, nil
}

// logTurn writes a turn's log line, with the customer's text as
// e.cfg.LogText says.
func (e *Engine) logTurn(ctx context.Context, req Request, u Understanding, r *Reply) {
	attrs := []slog.Attr{slog.String("session", req.SessionID), slog.String("turn", r.TurnID),
		slog.String("route", r.Route), slog.String("intent", r.Intent.Name), slog.Float64("confidence", r.Intent.Confidence),
		slog.Duration("took", r.Timings.Total)}
	switch e.cfg.LogText {
	case "full":
		attrs = append(attrs, slog.String("text", req.Text))
	case "masked":
		attrs = append(attrs, slog.String("text", MaskText(u.Norm.Text)))
	}
	e.log.LogAttrs(ctx, slog.LevelInfo, "turn", attrs...)
}

// dialog runs the flows on the message and performs their effects.
func (e *Engine) dialog(ctx context.Context, sess *session.Session, req Request, u Understanding, r *Reply, now time.Time) {
	var st runtime.State
	if len(sess.Dialog) > 0 && string(sess.Dialog) != "null" {
		if err := json.Unmarshal(sess.Dialog, &st); err != nil {
			e.log.WarnContext(ctx, "dialog state unreadable; starting over", "session", req.SessionID, "err", err)
			st = runtime.State{}
		}
	}
	msg := runtime.Message{
		Text:       u.Norm.Text,
		Original:   req.Text,
		Confidence: u.Intent.Confidence,
		Channel:    req.Channel,
		Event:      req.Event,
	}
	if u.Intent.Name != models.OOS && u.Intent.Confidence >= e.cfg.IntentThreshold {
		msg.Intent = u.Intent.Name
	}
	if len(u.Norm.Hits) > 0 {
		msg.Original = maskOriginal(req.Text, u.Norm)
	}
	for _, en := range u.Entities {
		msg.Entities = append(msg.Entities, runtime.Entity{Type: en.Type, Value: en.Value})
	}
	out, err := runtime.Run(e.d.Program, st, runtime.Input{Message: msg}, e.opts)
	for calls := 0; err == nil && (out.Call != nil || out.Generate != nil); calls++ {
		var res runtime.CallResult
		switch {
		case calls >= e.cfg.MaxCalls:
			res.Err = fmt.Errorf("engine: more than %d calls in one turn", e.cfg.MaxCalls)
		case out.Generate != nil:
			res = e.flowGenerate(ctx, sess, req, u, r, out.Generate)
		default:
			res = e.call(ctx, out.Call, r)
		}
		e.effects(out.Effects, r)
		out, err = runtime.Run(e.d.Program, out.State, runtime.Input{Message: msg, Call: &res}, e.opts)
	}
	switch {
	case err != nil:
		e.effects(out.Effects, r)
		e.log.ErrorContext(ctx, "flow failed", "session", req.SessionID, "err", err)
		out.State.Stack = nil
		r.Route, r.Reason = RouteFallback, "error"
		r.say(e.cfg.Texts.Error)
	case out.Reprompted && req.Event == "":
		// Not an answer to the pending question: if the knowledge base
		// answers it, answer and ask the question again, without counting
		// a failed try.
		if hit := e.knowledge(ctx, u, r); hit != nil {
			r.say(hit.Chunk.Answer)
			r.say(e.cfg.Texts.Resume + out.Pending)
			r.Route, r.Reason = RouteKnowledge, "answer while a slot waits"
			out.State = st
			break
		}
		r.Sources = nil
		e.effects(out.Effects, r)
		r.Route, r.Reason = RouteFlow, "flow"
	case out.Handled:
		e.effects(out.Effects, r)
		r.Route, r.Reason = RouteFlow, "flow"
	default:
		e.effects(out.Effects, r)
		if hit := e.knowledge(ctx, u, r); hit != nil {
			r.say(hit.Chunk.Answer)
			r.Route, r.Reason = RouteKnowledge, "answer"
			break
		}
		t := time.Now()
		done := e.generate(ctx, sess, req, u, r)
		r.Timings.Generate = time.Since(t)
		if done {
			break
		}
		r.Route, r.Reason = RouteFallback, "no match"
		if len(r.Sources) > 0 && r.Sources[0].Score >= e.cfg.ContextThreshold {
			r.Reason = "context only: no generative provider"
			for i := range r.Sources {
				r.Sources[i].Used = r.Sources[i].Score >= e.cfg.ContextThreshold
			}
		}
		r.say(e.cfg.Texts.Fallback)
	}
	if out.Flow != "" {
		r.Flow = &FlowRef{Name: out.Flow, Step: out.Step, Active: len(out.State.Stack) > 0}
	}
	if r.Handoff {
		reason := handoffReason(out.Flow)
		if r.Route != RouteFlow && r.Reason != "" {
			reason = r.Reason
		}
		r.Route = RouteHandoff
		sess.Handoff = &session.Handoff{Queue: r.queue, Reason: reason, Since: now}
		r.newHandoff = true
		if len(out.Effects) == 0 || !hasText(r) {
			r.say(e.cfg.Texts.Handoff)
		}
	}
	r.Slots = out.State.Slots()
	r.Vars = out.State.Vars
	data, merr := json.Marshal(out.State)
	if merr != nil {
		e.log.ErrorContext(ctx, "dialog state not encodable; dropping it", "session", req.SessionID, "err", merr)
		data = nil
	}
	sess.Dialog = data
}

// knowledge searches the knowledge base for the message, records the
// sources on r, and returns the top hit when it is an FAQ answer at or
// above the answer threshold.
func (e *Engine) knowledge(ctx context.Context, u Understanding, r *Reply) *knowledge.Result {
	if e.d.Knowledge == nil || u.Norm.Blocked || strings.TrimSpace(u.Norm.Text) == "" {
		return nil
	}
	t := time.Now()
	kctx, sp := tracer().Start(ctx, "kefu.retrieve")
	res, err := e.d.Knowledge.Search(kctx, u.Norm.Text, e.cfg.KnowledgeTopK, knowledge.Filter{})
	if len(res) > 0 {
		sp.SetAttributes(attribute.Float64("kefu.top_score", res[0].Score), attribute.String("kefu.top_id", res[0].Chunk.ID))
	}
	sp.End()
	r.Timings.Retrieve += time.Since(t)
	if err != nil {
		if !errors.Is(err, knowledge.ErrEmptyQuery) {
			e.log.WarnContext(ctx, "knowledge search failed", "err", err)
		}
		return nil
	}
	r.Sources = r.Sources[:0]
	for _, h := range res {
		r.Sources = append(r.Sources, Source{ID: h.Chunk.ID, DocID: h.Chunk.DocID, Title: h.Chunk.Title, Score: h.Score,
			Dense: h.Dense, Lexical: h.Lexical, text: h.Chunk.Text, answer: h.Chunk.Answer})
	}
	if len(res) > 0 && res[0].Score >= e.cfg.AnswerThreshold && res[0].Chunk.Answer != "" {
		r.Sources[0].Used = true
		return &res[0]
	}
	return nil
}

var (
	emailRe = regexp.MustCompile(`[\w.+-]+@[\w-]+(\.[\w-]+)+`)
	digitRe = regexp.MustCompile(`\d`)
)

// MaskText hides what identifies a customer in a text for logs: emails
// and every digit (phones, order numbers, addresses). Sensitive words are
// already masked in a normalized text.
func MaskText(s string) string {
	s = emailRe.ReplaceAllString(s, "***@***")
	return digitRe.ReplaceAllString(s, "*")
}

// maskOriginal masks the sensitive words in what the customer typed, which
// free-text slots take, so the bot never repeats one. A word written in
// another form (traditional, full-width) is not found there; then the
// normalized, masked text stands in for the original.
func maskOriginal(original string, n normalize.Result) string {
	out := original
	for _, h := range n.Hits {
		if !strings.Contains(out, h.Word) {
			return n.Text
		}
		out = strings.ReplaceAll(out, h.Word, strings.Repeat("*", utf8.RuneCountInString(h.Word)))
	}
	return out
}

func hasText(r *Reply) bool { return len(r.Replies) > 0 }

func handoffReason(flow string) string {
	if flow == "" {
		return "flow"
	}
	return "flow " + flow
}

// effects turns runtime effects into reply parts.
func (e *Engine) effects(effs []runtime.Effect, r *Reply) {
	for _, ef := range effs {
		switch ef.Kind {
		case runtime.Say, runtime.Ask:
			text := ef.Text
			if ef.Resumed {
				text = e.cfg.Texts.Resume + text
			}
			r.say(text)
		case runtime.Handoff:
			r.Handoff = true
			r.queue = ef.Queue
		}
	}
}

// call performs one business service call for a flow.
func (e *Engine) call(ctx context.Context, c *runtime.CallRequest, r *Reply) runtime.CallResult {
	t := time.Now()
	ctx, sp := tracer().Start(ctx, "kefu.service", trace.WithAttributes(attribute.String("kefu.service", c.Service), attribute.String("kefu.operation", c.Op)))
	defer sp.End()
	rec := ServiceCall{Service: c.Service, Op: c.Op}
	defer func() {
		rec.Duration = time.Since(t)
		r.Timings.Services += rec.Duration
		r.Calls = append(r.Calls, rec)
	}()
	if e.d.Services == nil {
		rec.Error = "no services configured"
		return runtime.CallResult{Err: errors.New(rec.Error)}
	}
	params, err := e.d.Services.Params(c.Service, c.Op)
	if err != nil {
		rec.Error = err.Error()
		return runtime.CallResult{Err: err}
	}
	// Positional arguments take the parameters in order; named ones fill
	// the rest (the compiler checked both against the config).
	args := make(map[string]any, len(c.Positional)+len(c.Named))
	for i, v := range c.Positional {
		if i < len(params) {
			args[params[i]] = v
		}
	}
	for k, v := range c.Named {
		args[k] = v
	}
	v, err := e.d.Services.Call(ctx, c.Service, c.Op, args, c.Timeout)
	if err != nil {
		rec.Error = err.Error()
		e.log.WarnContext(ctx, "service call failed", "service", c.Service, "op", c.Op, "err", err)
		return runtime.CallResult{Err: err}
	}
	rec.OK = true
	return runtime.CallResult{Value: v}
}

func (r *Reply) say(text string) {
	if text != "" {
		r.Replies = append(r.Replies, Part{Type: "text", Text: text})
	}
}

func (r *Reply) texts() []string {
	out := make([]string, len(r.Replies))
	for i, p := range r.Replies {
		out[i] = p.Text
	}
	return out
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
