package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/kefu-chat/kefu/dsl/runtime"
	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/providers"
	"github.com/kefu-chat/kefu/providers/gateway"
)

// GenerateConfig configures the generative fallback. An empty Route turns
// it off.
type GenerateConfig struct {
	Route           string
	SystemPrompt    string
	MemoryTurns     int    // turns of memory in the prompt; default 6
	MaxPromptTokens int    // default 2000 (estimated)
	MaxTokens       int    // of the answer; default 512
	SessionBudget   int    // tokens a session may use; 0 means no budget
	OnFailure       string // knowledge (default) | handoff | fallback
	// GuardWidth is the width in columns (a Chinese character is two) of
	// the shortest verbatim run of the system prompt that stops a
	// generated reply (see leakGuard in guard.go): the reply is withheld
	// and the turn answers as when generation fails. 0 means
	// DefaultGuardWidth; negative turns the guard off.
	GuardWidth int
}

// reasonGuard is the trace's reason for a reply the leak guard withheld.
const reasonGuard = "guard: system prompt"

// errLeak is a generation the leak guard stopped.
var errLeak = errors.New("engine: guard: the reply repeats the system prompt")

// Generator runs a generation through a route of providers.
type Generator interface {
	Chat(ctx context.Context, route string, req providers.Request) (*gateway.Result, error)
	Stream(ctx context.Context, route string, req providers.Request) (*gateway.StreamResult, error)
}

// generate answers a message no flow took and no knowledge entry answered
// directly. It reports whether it produced a reply.
func (e *Engine) generate(ctx context.Context, sess *session.Session, req Request, u Understanding, r *Reply) bool {
	g := e.cfg.Generate
	if e.d.Generator == nil || g.Route == "" {
		return false
	}
	if g.SessionBudget > 0 && sess.Usage.Tokens() >= g.SessionBudget {
		r.Route, r.Reason = RouteFallback, "session token budget used up"
		r.say(e.cfg.Texts.Budget)
		return true
	}
	var passages []Source
	for i := range r.Sources {
		if r.Sources[i].Score >= e.cfg.ContextThreshold {
			passages = append(passages, r.Sources[i])
		}
	}
	text := req.Text
	if len(u.Norm.Hits) > 0 {
		text = maskOriginal(req.Text, u.Norm)
	}
	preq := providers.Request{
		Messages:  e.prompt(sess, passages, text),
		MaxTokens: g.MaxTokens,
		SessionID: sess.ID,
		User:      sess.UserID,
	}
	ctx, sp := tracer().Start(ctx, "kefu.generate")
	defer sp.End()
	var res *gateway.Result
	var err error
	streamed := false
	if req.Stream != nil {
		res, streamed, err = e.streamGenerate(ctx, g.Route, preq, req, r)
	} else {
		res, err = e.d.Generator.Chat(ctx, g.Route, preq)
		if err == nil && e.leakGuard().leaks(res.Response.Text) {
			err = errLeak
		}
	}
	if res != nil {
		r.Provider = res.Provider
		r.Attempts = res.Attempts
	}
	if errors.Is(err, errLeak) {
		account(sess, r, res) // the tokens were spent all the same
		e.log.WarnContext(ctx, "generated reply withheld: it repeats the system prompt", "session", sess.ID, "provider", res.Provider)
		r.Reason = reasonGuard
		r.guarded++
		from := len(r.Replies)
		e.afterFailure(r)
		if streamed {
			e.streamInstead(req, r, from)
		}
		return true
	}
	if err != nil {
		e.log.WarnContext(ctx, "generation failed", "session", sess.ID, "route", g.Route, "err", err)
		r.Reason = fmt.Sprintf("generation failed (%s)", providers.KindOf(err))
		e.afterFailure(r)
		return true
	}
	answer := strings.TrimSpace(res.Response.Text)
	if answer == "" {
		r.Reason = "generation returned nothing"
		e.afterFailure(r)
		return true
	}
	r.Route, r.Reason = RouteGenerative, "generated"
	r.say(answer)
	account(sess, r, res)
	for i := range r.Sources {
		r.Sources[i].Used = r.Sources[i].Score >= e.cfg.ContextThreshold
	}
	return true
}

// flowGenerate performs a flow's generate: the flow's prompt joins the
// system prompt, with the conversation's memory and the message.
func (e *Engine) flowGenerate(ctx context.Context, sess *session.Session, req Request, u Understanding, rep *Reply, g *runtime.GenerateRequest) runtime.CallResult {
	cfg := e.cfg.Generate
	route := g.Route
	if route == "" {
		route = cfg.Route
	}
	if e.d.Generator == nil || route == "" {
		return runtime.CallResult{Err: errors.New("engine: generation is off")}
	}
	if cfg.SessionBudget > 0 && sess.Usage.Tokens() >= cfg.SessionBudget {
		return runtime.CallResult{Err: errors.New("engine: session token budget used up")}
	}
	text := req.Text
	if len(u.Norm.Hits) > 0 {
		text = maskOriginal(req.Text, u.Norm)
	}
	msgs := e.prompt(sess, nil, text)
	msgs[0].Content += "\n\n" + g.Prompt
	t := time.Now()
	res, err := e.d.Generator.Chat(ctx, route, providers.Request{Messages: msgs, MaxTokens: cfg.MaxTokens, SessionID: sess.ID, User: sess.UserID})
	rep.Timings.Generate += time.Since(t)
	if res != nil {
		rep.Provider, rep.Attempts = res.Provider, append(rep.Attempts, res.Attempts...)
	}
	if err != nil {
		e.log.WarnContext(ctx, "flow generation failed", "session", sess.ID, "route", route, "err", err)
		return runtime.CallResult{Err: err}
	}
	account(sess, rep, res)
	if e.leakGuard().leaks(res.Response.Text) {
		e.log.WarnContext(ctx, "flow's generated reply withheld: it repeats the system prompt", "session", sess.ID, "provider", res.Provider)
		rep.guarded++
		return runtime.CallResult{Err: errLeak} // the flow's failure path says its polite default
	}
	return runtime.CallResult{Value: res.Response.Text}
}

// leakGuard returns the guard of the system prompt, built on first use;
// nil (guarding nothing) when it is off or the prompt is too short to hold
// a guarded run. The bot's own texts are public, never guarded.
func (e *Engine) leakGuard() *leakGuard {
	e.leak.once.Do(func() {
		w := e.cfg.Generate.GuardWidth
		if w == 0 {
			w = DefaultGuardWidth
		}
		t := e.cfg.Texts
		e.leak.g = newLeakGuard(e.cfg.Generate.SystemPrompt, w, t.Fallback, t.Blocked, t.Handoff, t.Waiting,
			t.Error, t.Released, t.Resume, t.Budget, t.BestMatch, t.GiveUp, t.ServiceKO,
			e.opts.GenerateKO, runtime.DefaultGenerateKO)
	})
	return e.leak.g
}

// account adds a generation's usage to the session and the reply.
func account(sess *session.Session, r *Reply, res *gateway.Result) {
	u := res.Response.Usage
	r.Usage = &u
	sess.Usage.PromptTokens += u.PromptTokens
	sess.Usage.CompletionTokens += u.CompletionTokens
	sess.Usage.Cost += res.Cost
	su := sess.Usage
	r.SessionUsage = &su
}

// streamGenerate streams a generation to req.Stream through the leak
// guard and returns it as a Result; streamed says whether any text reached
// the client. Failover happens inside the gateway before the first token;
// an error after it ends the answer where it stopped. The guard holds back
// the tail of the answer that also occurs in the system prompt until the
// text after it clears it (or the stream ends), and stops the stream with
// errLeak when the answer repeats the system prompt. The start event goes out with the
// first text released, so an answer stopped before any never looks
// generated.
func (e *Engine) streamGenerate(ctx context.Context, route string, preq providers.Request, req Request, r *Reply) (res *gateway.Result, streamed bool, err error) {
	s, err := e.d.Generator.Stream(ctx, route, preq)
	if err != nil {
		if s != nil {
			return &gateway.Result{Provider: s.Provider, Route: route, Attempts: s.Attempts}, false, err
		}
		return nil, false, err
	}
	defer s.Close()
	send := func(text string) {
		if text == "" {
			return
		}
		if !streamed {
			req.Stream(StreamEvent{Start: true, Route: RouteGenerative, Intent: &r.Intent})
			streamed = true
		}
		req.Stream(StreamEvent{Delta: text})
	}
	scan := e.leakGuard().scan()
	defer scan.free()
	var b strings.Builder
	for {
		c, err := s.Recv()
		if c.Delta != "" {
			b.WriteString(c.Delta)
			safe, leak := scan.write(c.Delta)
			if leak {
				s.Close() // stops the upstream call and accounts what it cost
				return &gateway.Result{Provider: s.Provider, Route: route, Attempts: s.Attempts, Cost: s.Cost,
					Response: &providers.Response{Usage: s.Usage}}, streamed, errLeak
			}
			send(safe)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if b.Len() == 0 {
				return &gateway.Result{Provider: s.Provider, Route: route, Attempts: s.Attempts}, streamed, err
			}
			e.log.WarnContext(ctx, "stream broke after the first token", "provider", s.Provider, "err", err)
			break
		}
	}
	send(scan.flush())
	s.Close() // accounts the stream: Usage and Cost are final after it
	return &gateway.Result{Provider: s.Provider, Route: route, Attempts: s.Attempts, Cost: s.Cost,
		Response: &providers.Response{Text: b.String(), Usage: s.Usage}}, streamed, nil
}

// streamInstead follows a streamed answer the guard cut off with what the
// turn says instead (the replies from index from on, or the handoff notice
// the turn will add), so a client that shows deltas as they come, like the
// OpenAI facade, does not end on a cut-off answer. The done event of
// /v1/chat carries the whole reply anyway.
func (e *Engine) streamInstead(req Request, r *Reply, from int) {
	var texts []string
	for _, p := range r.Replies[from:] {
		texts = append(texts, p.Text)
	}
	if len(texts) == 0 && r.Handoff && !hasText(r) {
		texts = append(texts, e.cfg.Texts.Handoff)
	}
	if len(texts) > 0 {
		req.Stream(StreamEvent{Delta: "\n\n" + strings.Join(texts, "\n")})
	}
}

// afterFailure gives the customer something useful when every provider of
// the route failed: the best knowledge match, a human, or the fallback.
func (e *Engine) afterFailure(r *Reply) {
	switch e.cfg.Generate.OnFailure {
	case "handoff":
		r.Handoff = true // the turn's handoff handling queues the session and says so
		return
	case "fallback":
	default:
		if len(r.Sources) > 0 && r.Sources[0].Score >= e.cfg.ContextThreshold && r.Sources[0].answer != "" {
			r.Route = RouteKnowledge
			r.Sources[0].Used = true
			r.say(e.cfg.Texts.BestMatch + r.Sources[0].answer)
			return
		}
	}
	r.Route = RouteFallback
	r.say(e.cfg.Texts.Fallback)
}

// prompt builds the messages: the system prompt with the numbered
// passages, the last turns of memory, and the message, within the token
// budget (older turns go first, then the weakest passages).
func (e *Engine) prompt(sess *session.Session, passages []Source, text string) []providers.Message {
	g := e.cfg.Generate
	var history []providers.Message
	turns := sess.Turns
	if n := g.MemoryTurns; len(turns) > n {
		turns = turns[len(turns)-n:]
	}
	for _, t := range turns {
		if t.Text != "" {
			history = append(history, providers.Message{Role: providers.RoleUser, Content: t.Text})
		}
		if len(t.Replies) > 0 {
			history = append(history, providers.Message{Role: providers.RoleAssistant, Content: strings.Join(t.Replies, "\n")})
		}
	}
	build := func(ps []Source, h []providers.Message) []providers.Message {
		var b strings.Builder
		b.WriteString(g.SystemPrompt)
		if len(ps) > 0 {
			b.WriteString("\n\n参考资料：")
			for i, p := range ps {
				fmt.Fprintf(&b, "\n[%d] (%s) %s\n%s", i+1, p.ID, p.Title, p.text)
			}
		}
		msgs := []providers.Message{{Role: providers.RoleSystem, Content: b.String()}}
		msgs = append(msgs, h...)
		return append(msgs, providers.Message{Role: providers.RoleUser, Content: text})
	}
	msgs := build(passages, history)
	for tokens(msgs) > g.MaxPromptTokens && (len(history) > 0 || len(passages) > 0) {
		if len(history) > 0 {
			history = history[1:]
		} else {
			passages = passages[:len(passages)-1]
		}
		msgs = build(passages, history)
	}
	return msgs
}

// tokens estimates a prompt's size: a Han character is about one token,
// other text about four characters a token.
func tokens(msgs []providers.Message) int {
	n := 0
	for _, m := range msgs {
		other := 0
		for _, r := range m.Content {
			if unicode.Is(unicode.Han, r) {
				n++
			} else {
				other++
			}
		}
		n += (other+3)/4 + 4
	}
	return n
}
