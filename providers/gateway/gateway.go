// Package gateway runs generations through routes: named chains of
// providers tried in order, with a timeout per attempt, retries with
// backoff and jitter on retryable failures (Retry-After honoured), a
// circuit breaker per provider, per-route concurrency and rate limits, and
// token and cost accounting. A stream may fail over until its first chunk
// has been produced, never after.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/kefu-chat/kefu/providers"
)

// Instance is one configured provider with its policies.
type Instance struct {
	Name     string
	Type     string
	Provider providers.Provider
	Timeout  time.Duration // per attempt; default 30s
	Retries  int           // extra attempts on retryable kinds; default 0
	// MaxConcurrency bounds this provider's calls in flight across routes;
	// a call beyond it skips to the next provider. 0 means unlimited.
	MaxConcurrency int
	Prices         Prices
	Breaker        BreakerConfig
}

// Prices are what a provider charges per 1,000 tokens, in the shop's
// currency, for cost accounting.
type Prices struct {
	Prompt     float64
	Completion float64
}

// Cost returns the price of u.
func (p Prices) Cost(u providers.Usage) float64 {
	return (float64(u.PromptTokens)*p.Prompt + float64(u.CompletionTokens)*p.Completion) / 1000
}

// Route is a named fallback chain with its limits.
type Route struct {
	Name           string
	Providers      []string
	MaxConcurrency int     // calls in flight; 0 means unlimited
	RatePerSecond  float64 // 0 means unlimited
	Burst          int     // default: max(1, RatePerSecond)
}

// Deps are runtime parts; nil means a default.
type Deps struct {
	Metrics    *Metrics // nil: NewMetrics(Registerer)
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
	Sleep      func(ctx context.Context, d time.Duration) error
}

// Gateway is safe for concurrent use.
type Gateway struct {
	inst   map[string]*instance
	routes map[string]*route
	log    *slog.Logger
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	m      *Metrics
}

type instance struct {
	Instance
	br  *breaker
	sem chan struct{}
}

// admit lets an attempt go to the provider: its breaker must let it
// through and it must have a free call slot (released by releaseSlot). It
// says why not otherwise, with the error the route records.
func (in *instance) admit() (skipped string, err error) {
	// The slot first: a half-open breaker's one trial must not be spent
	// on a call that then finds no slot.
	if !in.acquire() {
		return "at max_concurrency", &providers.Error{Provider: in.Name, Kind: providers.KindRateLimit, Message: "too many calls in flight"}
	}
	if !in.br.allow() {
		in.releaseSlot()
		return "breaker open", &providers.Error{Provider: in.Name, Kind: providers.KindUnavailable, Message: "circuit breaker open"}
	}
	return "", nil
}

// acquire takes one of the provider's call slots, or reports false when
// they are all in use.
func (in *instance) acquire() bool {
	if in.sem == nil {
		return true
	}
	select {
	case in.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (in *instance) releaseSlot() {
	if in.sem != nil {
		<-in.sem
	}
}

type route struct {
	Route
	sem     chan struct{}
	limiter *rate.Limiter
}

// New checks the routes against the instances.
func New(instances []Instance, routes []Route, d Deps) (*Gateway, error) {
	g := &Gateway{inst: map[string]*instance{}, routes: map[string]*route{}, log: d.Logger, now: d.Now, sleep: d.Sleep}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.sleep == nil {
		g.sleep = sleepCtx
	}
	for _, in := range instances {
		if in.Timeout <= 0 {
			in.Timeout = 30 * time.Second
		}
		inst := &instance{Instance: in, br: newBreaker(in.Breaker, g.now)}
		if in.MaxConcurrency > 0 {
			inst.sem = make(chan struct{}, in.MaxConcurrency)
		}
		g.inst[in.Name] = inst
	}
	for _, r := range routes {
		if len(r.Providers) == 0 {
			return nil, fmt.Errorf("gateway: route %q has no providers", r.Name)
		}
		for _, p := range r.Providers {
			if g.inst[p] == nil {
				return nil, fmt.Errorf("gateway: route %q: unknown provider %q", r.Name, p)
			}
		}
		rt := &route{Route: r}
		if r.MaxConcurrency > 0 {
			rt.sem = make(chan struct{}, r.MaxConcurrency)
		}
		if r.RatePerSecond > 0 {
			b := r.Burst
			if b <= 0 {
				b = max(1, int(r.RatePerSecond))
			}
			rt.limiter = rate.NewLimiter(rate.Limit(r.RatePerSecond), b)
		}
		g.routes[r.Name] = rt
	}
	g.m = d.Metrics
	if g.m == nil {
		g.m = NewMetrics(d.Registerer)
	}
	for name, in := range g.inst {
		g.m.breaker.WithLabelValues(name).Set(0)
		_ = in
	}
	return g, nil
}

// Routes lists the route names.
func (g *Gateway) Routes() []string {
	out := make([]string, 0, len(g.routes))
	for n := range g.routes {
		out = append(out, n)
	}
	return out
}

// Close closes every provider.
func (g *Gateway) Close() error {
	var errs []error
	for _, in := range g.inst {
		errs = append(errs, in.Provider.Close())
	}
	return errors.Join(errs...)
}

// Attempt records one try of one provider, for the turn's trace.
type Attempt struct {
	Provider string        `json:"provider"`
	Kind     string        `json:"kind,omitempty"`    // the failure's kind; "" when it worked
	Skipped  string        `json:"skipped,omitempty"` // why the provider was not called (breaker open)
	Duration time.Duration `json:"-"`
	Ms       float64       `json:"ms"`
}

// Result is a finished generation with how it was obtained.
type Result struct {
	Response *providers.Response
	Provider string
	Route    string
	Attempts []Attempt
	Cost     float64
}

// ErrNoRoute is returned for an unknown route name.
var ErrNoRoute = errors.New("gateway: unknown route")

// Errors for the route's own limits; they carry KindRateLimit.
func limitErr(route, why string) error {
	return &providers.Error{Provider: "route " + route, Kind: providers.KindRateLimit, Message: why}
}

// admit applies the route's rate and concurrency limits.
func (g *Gateway) admit(ctx context.Context, rt *route) (func(), error) {
	if rt.limiter != nil && !rt.limiter.Allow() {
		g.m.limited.WithLabelValues(rt.Name, "rate").Inc()
		return nil, limitErr(rt.Name, "rate limit reached")
	}
	if rt.sem == nil {
		return func() {}, nil
	}
	select {
	case rt.sem <- struct{}{}:
		return func() { <-rt.sem }, nil
	default:
		g.m.limited.WithLabelValues(rt.Name, "concurrency").Inc()
		return nil, limitErr(rt.Name, "too many calls in flight")
	}
}

// Chat runs req through the route: each provider in order, each with its
// retries, skipping those whose breaker is open. The error, when every
// provider failed, is the last provider's; Result.Attempts says what was
// tried either way.
func (g *Gateway) Chat(ctx context.Context, routeName string, req providers.Request) (*Result, error) {
	rt := g.routes[routeName]
	if rt == nil {
		return nil, fmt.Errorf("%w %q", ErrNoRoute, routeName)
	}
	res := &Result{Route: routeName}
	release, err := g.admit(ctx, rt)
	if err != nil {
		return res, err
	}
	defer release()
	err = g.tryRoute(ctx, rt, &res.Attempts, func(in *instance, try int) (Attempt, error) {
		start := g.now()
		actx, cancel := context.WithTimeout(ctx, in.Timeout)
		actx, sp := tracer().Start(actx, "kefu.provider.attempt", trace.WithAttributes(
			attribute.String("kefu.provider", in.Name), attribute.String("kefu.route", routeName), attribute.Int("kefu.try", try)))
		resp, err := in.Provider.Chat(actx, req)
		if err != nil {
			sp.SetStatus(codes.Error, string(providers.KindOf(err)))
		}
		sp.End()
		cancel()
		in.releaseSlot()
		a := g.record(in, rt, start, err, resp)
		if err == nil {
			res.Response, res.Provider = resp, in.Name
			res.Cost = in.Prices.Cost(resp.Usage)
		}
		return a, err
	})
	return res, err
}

// tryRoute calls attempt for each provider of rt in order, with its
// retries, skipping providers whose breaker is open, until an attempt
// succeeds (nil) or the route gives up: the caller's context ended, an
// error that no other provider would cure, or every provider failed. It
// returns the error that ended it. Every attempt, and every provider
// skipped, is appended to attempts.
func (g *Gateway) tryRoute(ctx context.Context, rt *route, attempts *[]Attempt, attempt func(in *instance, try int) (Attempt, error)) error {
	var last error
	for _, name := range rt.Providers {
		in := g.inst[name]
		for try := 0; try <= in.Retries; try++ {
			if skip, err := in.admit(); err != nil {
				*attempts = append(*attempts, Attempt{Provider: name, Skipped: skip})
				last = err
				break
			}
			a, err := attempt(in, try)
			*attempts = append(*attempts, a)
			if err == nil {
				return nil
			}
			last = err
			kind := providers.KindOf(err)
			if ctx.Err() != nil || kind == providers.KindCanceled {
				return err
			}
			if !kind.Retryable() || try == in.Retries {
				break
			}
			wait := backoff(try, err)
			if outlasts(ctx, wait) {
				break // fail over now rather than wait out the caller's deadline
			}
			if err := g.sleep(ctx, wait); err != nil {
				return err
			}
		}
		if !providers.KindOf(last).FailOver() {
			return last
		}
	}
	return last
}

func newAttempt(provider string, d time.Duration) Attempt {
	return Attempt{Provider: provider, Duration: d, Ms: float64(d.Microseconds()) / 1000}
}

// record updates the breaker and metrics for one attempt.
func (g *Gateway) record(in *instance, rt *route, start time.Time, err error, resp *providers.Response) Attempt {
	a := newAttempt(in.Name, g.now().Sub(start))
	kind := "ok"
	if err != nil {
		kind = string(providers.KindOf(err))
		a.Kind = kind
		// Failures of the request itself say nothing about the provider's
		// health; a half-open breaker's trial that ends so is given back.
		switch providers.KindOf(err) {
		case providers.KindBadRequest, providers.KindContextLength, providers.KindContentFilter, providers.KindCanceled:
			in.br.release()
		default:
			if in.br.failure() {
				g.log.Warn("circuit breaker opened", "provider", in.Name)
			}
		}
	} else {
		in.br.success()
		u := resp.Usage
		g.m.tokens.WithLabelValues(in.Name, rt.Name, "prompt").Add(float64(u.PromptTokens))
		g.m.tokens.WithLabelValues(in.Name, rt.Name, "completion").Add(float64(u.CompletionTokens))
		g.m.cost.WithLabelValues(in.Name, rt.Name).Add(in.Prices.Cost(u))
	}
	g.m.requests.WithLabelValues(in.Name, kind).Inc()
	g.m.duration.WithLabelValues(in.Name).Observe(a.Duration.Seconds())
	g.m.breaker.WithLabelValues(in.Name).Set(float64(in.br.state()))
	return a
}

// backoff is exponential with full jitter from 100ms, capped at 2s; a
// Retry-After from the provider wins when longer.
func backoff(try int, err error) time.Duration {
	d := time.Duration(rand.Int64N(int64(100*time.Millisecond) << try))
	d = min(d, 2*time.Second)
	var pe *providers.Error
	if errors.As(err, &pe) && pe.RetryAfter > d {
		d = min(pe.RetryAfter, 30*time.Second)
	}
	return d
}

// outlasts reports whether waiting d would take ctx past its deadline. A
// Retry-After longer than the turn has left (a 429 storm asking for 30s)
// is then not waited for: the route moves on to its next provider, as a
// retry after the deadline could never be used.
func outlasts(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) <= d
}

func tracer() trace.Tracer { return otel.Tracer("github.com/kefu-chat/kefu/providers/gateway") }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StreamResult is a stream obtained through a route. Recv yields the
// chunks; Close must be called. Usage, Provider and Attempts are complete
// once Recv has returned io.EOF.
type StreamResult struct {
	providers.Stream
	Provider string
	Route    string
	Attempts []Attempt
	Usage    providers.Usage
	Cost     float64
}

// Stream opens a stream through the route. It fails over while no chunk
// has been produced: the first chunk is read here, so a provider that
// fails before its first token is replaced by the next one; once a chunk
// has been returned the stream is the caller's, and a later failure is an
// error from Recv.
func (g *Gateway) Stream(ctx context.Context, routeName string, req providers.Request) (*StreamResult, error) {
	rt := g.routes[routeName]
	if rt == nil {
		return nil, fmt.Errorf("%w %q", ErrNoRoute, routeName)
	}
	res := &StreamResult{Route: routeName}
	release, err := g.admit(ctx, rt)
	if err != nil {
		return res, err
	}
	err = g.tryRoute(ctx, rt, &res.Attempts, func(in *instance, try int) (Attempt, error) {
		start := g.now()
		// The attempt's timeout bounds the wait for the first chunk;
		// after it the caller's context governs the stream.
		sctx, cancel := context.WithCancel(ctx)
		timer := time.AfterFunc(in.Timeout, cancel)
		sctx, sp := tracer().Start(sctx, "kefu.provider.attempt", trace.WithAttributes(
			attribute.String("kefu.provider", in.Name), attribute.String("kefu.route", routeName), attribute.Int("kefu.try", try), attribute.Bool("kefu.stream", true)))
		s, err := in.Provider.Stream(sctx, req)
		var first providers.Chunk
		if err == nil {
			first, err = s.Recv()
			if err != nil {
				s.Close()
			}
		}
		stopped := timer.Stop()
		if err != nil {
			sp.SetStatus(codes.Error, string(providers.KindOf(err)))
		}
		sp.End() // the attempt ends with the first token; the stream goes on
		if err != nil {
			cancel()
			in.releaseSlot()
			if !stopped && ctx.Err() == nil {
				err = &providers.Error{Provider: in.Name, Kind: providers.KindTimeout, Message: "no first token within " + in.Timeout.String(), Err: err}
			}
			return g.record(in, rt, start, err, nil), err
		}
		res.Provider = in.Name
		res.Stream = &proxy{g: g, in: in, rt: rt, s: s, first: &first, res: res, cancel: cancel, release: release, start: start}
		return newAttempt(in.Name, g.now().Sub(start)), nil
	})
	if err != nil {
		release() // otherwise the stream releases the route's slot
	}
	return res, err
}

// proxy hands out the buffered first chunk, then the provider's stream,
// and accounts the usage at the end.
type proxy struct {
	g       *Gateway
	in      *instance
	rt      *route
	s       providers.Stream
	first   *providers.Chunk
	res     *StreamResult
	cancel  context.CancelFunc
	release func()
	start   time.Time
	once    sync.Once
	done    bool
}

func (p *proxy) Recv() (providers.Chunk, error) {
	if p.first != nil {
		c := *p.first
		p.first = nil
		p.note(c)
		return c, nil
	}
	if p.done {
		return providers.Chunk{}, io.EOF
	}
	c, err := p.s.Recv()
	if err == io.EOF {
		p.note(c)
		p.done = true
		p.finish(nil)
		return c, io.EOF
	}
	if err != nil {
		p.done = true
		p.finish(err)
		return c, err
	}
	p.note(c)
	return c, nil
}

func (p *proxy) note(c providers.Chunk) {
	if c.Usage != nil {
		p.res.Usage = *c.Usage
	}
}

func (p *proxy) finish(err error) {
	p.once.Do(func() {
		p.res.Cost = p.in.Prices.Cost(p.res.Usage)
		resp := &providers.Response{Usage: p.res.Usage}
		p.g.record(p.in, p.rt, p.start, err, resp)
	})
}

func (p *proxy) Close() error {
	err := p.s.Close()
	p.cancel()
	p.finish(nil)
	if p.release != nil {
		p.release()
		p.release = nil
		p.in.releaseSlot()
	}
	return err
}
