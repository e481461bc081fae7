package gateway

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kefu-chat/kefu/providers"
)

// fake is a provider whose behaviour is a list of outcomes, one per call.
type fake struct {
	name  string
	mu    sync.Mutex
	calls int
	plan  []error // nil: succeed
	text  string
	// streamFailAfter > 0 makes streams fail after that many chunks.
	streamFailAfter int
}

func (f *fake) next() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.plan) == 0 {
		return nil
	}
	err := f.plan[0]
	f.plan = f.plan[1:]
	return err
}

func (f *fake) Chat(ctx context.Context, r providers.Request) (*providers.Response, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return &providers.Response{Text: f.text, Usage: providers.Usage{PromptTokens: 100, CompletionTokens: 20, TotalTokens: 120}}, nil
}

type fakeStream struct {
	parts  []string
	failAt int
	n      int
	closed bool
	usage  providers.Usage
}

func (s *fakeStream) Recv() (providers.Chunk, error) {
	if s.failAt > 0 && s.n == s.failAt {
		return providers.Chunk{}, &providers.Error{Kind: providers.KindUnavailable, Message: "connection reset"}
	}
	if s.n >= len(s.parts) {
		return providers.Chunk{Usage: &s.usage}, io.EOF
	}
	s.n++
	return providers.Chunk{Delta: s.parts[s.n-1]}, nil
}

func (s *fakeStream) Close() error { s.closed = true; return nil }

func (f *fake) Stream(ctx context.Context, r providers.Request) (providers.Stream, error) {
	if err := f.next(); err != nil {
		return nil, err
	}
	return &fakeStream{parts: strings.Split(f.text, ""), failAt: f.streamFailAfter, usage: providers.Usage{PromptTokens: 10, CompletionTokens: 3, TotalTokens: 13}}, nil
}

func (f *fake) Close() error { return nil }

func perr(kind providers.Kind) error {
	return &providers.Error{Provider: "x", Kind: kind, Message: string(kind)}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func setup(t *testing.T, a, b *fake, route Route, opts ...func(*Instance)) (*Gateway, *clock, *[]time.Duration, *prometheus.Registry) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	var slept []time.Duration
	insts := []Instance{{Name: "a", Provider: a, Retries: 1, Prices: Prices{Prompt: 0.01, Completion: 0.03}}, {Name: "b", Provider: b}}
	for i := range insts {
		for _, o := range opts {
			o(&insts[i])
		}
	}
	reg := prometheus.NewRegistry()
	g, err := New(insts, []Route{route}, Deps{Registerer: reg, Now: clk.now, Sleep: func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return g, clk, &slept, reg
}

func TestFailoverRules(t *testing.T) {
	for _, tc := range []struct {
		name        string
		a           []error
		wantProv    string
		wantErrKind providers.Kind
		aCalls      int
		bCalls      int
	}{
		{"first works", nil, "a", "", 1, 0},
		{"retry then works", []error{perr(providers.KindUnavailable)}, "a", "", 2, 0},
		{"retries exhausted, fail over", []error{perr(providers.KindUnavailable), perr(providers.KindTimeout)}, "b", "", 2, 1},
		{"auth: no retry, fail over", []error{perr(providers.KindAuth)}, "b", "", 1, 1},
		{"bad request: no retry, no failover", []error{perr(providers.KindBadRequest)}, "", providers.KindBadRequest, 1, 0},
		{"content filter stops", []error{perr(providers.KindContentFilter)}, "", providers.KindContentFilter, 1, 0},
		{"context length stops", []error{perr(providers.KindContextLength)}, "", providers.KindContextLength, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := &fake{plan: tc.a, text: "A"}, &fake{text: "B"}
			g, _, _, _ := setup(t, a, b, Route{Name: "r", Providers: []string{"a", "b"}})
			res, err := g.Chat(context.Background(), "r", providers.Request{})
			if tc.wantErrKind != "" {
				if providers.KindOf(err) != tc.wantErrKind {
					t.Fatalf("err %v, want kind %s", err, tc.wantErrKind)
				}
			} else if err != nil || res.Provider != tc.wantProv {
				t.Fatalf("provider %q err %v, want %q", res.Provider, err, tc.wantProv)
			}
			if a.calls != tc.aCalls || b.calls != tc.bCalls {
				t.Errorf("calls a=%d b=%d, want %d %d (attempts %+v)", a.calls, b.calls, tc.aCalls, tc.bCalls, res.Attempts)
			}
			if len(res.Attempts) != tc.aCalls+tc.bCalls {
				t.Errorf("attempts %+v", res.Attempts)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	a := &fake{plan: []error{&providers.Error{Kind: providers.KindRateLimit, RetryAfter: 3 * time.Second}}, text: "A"}
	g, _, slept, _ := setup(t, a, &fake{}, Route{Name: "r", Providers: []string{"a", "b"}})
	if _, err := g.Chat(context.Background(), "r", providers.Request{}); err != nil {
		t.Fatal(err)
	}
	if len(*slept) != 1 || (*slept)[0] != 3*time.Second {
		t.Fatalf("slept %v, want [3s]", *slept)
	}
}

func TestBreaker(t *testing.T) {
	down := make([]error, 20)
	for i := range down {
		down[i] = perr(providers.KindUnavailable)
	}
	a, b := &fake{plan: down, text: "A"}, &fake{text: "B"}
	g, clk, _, reg := setup(t, a, b, Route{Name: "r", Providers: []string{"a", "b"}}, func(in *Instance) {
		in.Retries = 0
		in.Breaker = BreakerConfig{Failures: 3, Window: time.Minute, Cooldown: 30 * time.Second}
	})
	for i := 0; i < 3; i++ {
		g.Chat(context.Background(), "r", providers.Request{})
	}
	res, _ := g.Chat(context.Background(), "r", providers.Request{})
	if a.calls != 3 || res.Attempts[0].Skipped != "breaker open" || res.Provider != "b" {
		t.Fatalf("breaker should be open after 3 failures: calls %d, %+v", a.calls, res.Attempts)
	}
	if v := testutil.ToFloat64(g.m.breaker.WithLabelValues("a")); v != 1 {
		t.Errorf("breaker gauge %v", v)
	}
	clk.add(31 * time.Second)
	a.plan = nil // recovered
	res, _ = g.Chat(context.Background(), "r", providers.Request{})
	if res.Provider != "a" || a.calls != 4 {
		t.Fatalf("half-open trial should go to a: %+v", res.Attempts)
	}
	if n := testutil.CollectAndCount(reg, "kefu_provider_requests_total"); n == 0 {
		t.Error("no request metrics")
	}
}

func TestAccounting(t *testing.T) {
	g, _, _, _ := setup(t, &fake{text: "A"}, &fake{}, Route{Name: "r", Providers: []string{"a"}})
	res, err := g.Chat(context.Background(), "r", providers.Request{})
	if err != nil || res.Cost != (100*0.01+20*0.03)/1000 {
		t.Fatalf("cost %v err %v", res.Cost, err)
	}
	if v := testutil.ToFloat64(g.m.tokens.WithLabelValues("a", "r", "prompt")); v != 100 {
		t.Errorf("prompt tokens %v", v)
	}
}

func TestRouteLimits(t *testing.T) {
	block := make(chan struct{})
	slow := &blocking{release: block, started: make(chan struct{})}
	g, err := New([]Instance{{Name: "s", Provider: slow}}, []Route{{Name: "r", Providers: []string{"s"}, MaxConcurrency: 1}}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { g.Chat(context.Background(), "r", providers.Request{}); close(done) }()
	<-slow.started
	_, err = g.Chat(context.Background(), "r", providers.Request{})
	if providers.KindOf(err) != providers.KindRateLimit {
		t.Fatalf("second call while one is in flight: %v", err)
	}
	close(block)
	<-done
	if _, err := g.Chat(context.Background(), "nope", providers.Request{}); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("unknown route: %v", err)
	}
}

type blocking struct {
	release chan struct{}
	started chan struct{}
	once    sync.Once
}

func (b *blocking) Chat(ctx context.Context, r providers.Request) (*providers.Response, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return &providers.Response{Text: "ok"}, nil
}
func (b *blocking) Stream(ctx context.Context, r providers.Request) (providers.Stream, error) {
	return nil, errors.New("no")
}
func (b *blocking) Close() error { return nil }

func TestStreamFailover(t *testing.T) {
	// a fails before its first token: b takes over.
	a, b := &fake{plan: []error{perr(providers.KindUnavailable), perr(providers.KindUnavailable)}, text: "AAA"}, &fake{text: "你好"}
	g, _, _, _ := setup(t, a, b, Route{Name: "r", Providers: []string{"a", "b"}})
	s, err := g.Stream(context.Background(), "r", providers.Request{})
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for {
		c, err := s.Recv()
		got += c.Delta
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if got != "你好" || s.Provider != "b" || s.Usage.TotalTokens != 13 {
		t.Fatalf("got %q from %s usage %+v", got, s.Provider, s.Usage)
	}
	// a fails after its first token: no failover, the error reaches Recv.
	a2 := &fake{text: "ABC", streamFailAfter: 1}
	g, _, _, _ = setup(t, a2, &fake{text: "B"}, Route{Name: "r", Providers: []string{"a", "b"}})
	s, err = g.Stream(context.Background(), "r", providers.Request{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Recv()
	if err != nil || c.Delta != "A" {
		t.Fatalf("first chunk %q %v", c.Delta, err)
	}
	if _, err := s.Recv(); providers.KindOf(err) != providers.KindUnavailable || s.Provider != "a" {
		t.Fatalf("after the first token the failure must surface: %v", err)
	}
	s.Close()
}

// TestProviderConcurrency: a provider at its max_concurrency is skipped
// for the next one of the route.
func TestProviderConcurrency(t *testing.T) {
	block := make(chan struct{})
	slow := &blocking{release: block, started: make(chan struct{})}
	other := &fake{text: "B"}
	g, err := New([]Instance{{Name: "s", Provider: slow, MaxConcurrency: 1}, {Name: "b", Provider: other}},
		[]Route{{Name: "r", Providers: []string{"s", "b"}}}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { g.Chat(context.Background(), "r", providers.Request{}); close(done) }()
	<-slow.started
	res, err := g.Chat(context.Background(), "r", providers.Request{})
	if err != nil || res.Provider != "b" || res.Attempts[0].Skipped != "at max_concurrency" {
		t.Fatalf("%+v %v", res, err)
	}
	close(block)
	<-done
}

// TestBreakerTrialWithoutVerdict: a half-open breaker's trial call that
// ends saying nothing about the provider (the caller went away, the
// request itself was bad) gives the trial back, so the next call is the
// trial. Before the fix the breaker stayed half-open with its trial
// "in flight" for ever and the provider was never called again.
func TestBreakerTrialWithoutVerdict(t *testing.T) {
	for _, kind := range []providers.Kind{providers.KindCanceled, providers.KindBadRequest} {
		t.Run(string(kind), func(t *testing.T) {
			plan := []error{perr(providers.KindUnavailable), perr(providers.KindUnavailable), perr(providers.KindUnavailable), perr(kind)}
			a, b := &fake{plan: plan, text: "A"}, &fake{text: "B"}
			g, clk, _, _ := setup(t, a, b, Route{Name: "r", Providers: []string{"a", "b"}}, func(in *Instance) {
				in.Retries = 0
				in.Breaker = BreakerConfig{Failures: 3, Window: time.Minute, Cooldown: 30 * time.Second}
			})
			for i := 0; i < 3; i++ {
				g.Chat(context.Background(), "r", providers.Request{})
			}
			clk.add(31 * time.Second)
			g.Chat(context.Background(), "r", providers.Request{}) // the trial, without a verdict
			if a.calls != 4 {
				t.Fatalf("the trial did not reach a: %d calls", a.calls)
			}
			res, err := g.Chat(context.Background(), "r", providers.Request{})
			if err != nil || res.Provider != "a" || a.calls != 5 {
				t.Fatalf("the next call should be a's trial: %+v %v", res, err)
			}
			if v := testutil.ToFloat64(g.m.breaker.WithLabelValues("a")); v != 0 {
				t.Errorf("breaker gauge %v after the trial worked", v)
			}
		})
	}
}

// TestRetryAfterBeyondDeadline: a Retry-After the caller's deadline would
// not survive is not waited for; the route fails over at once, for calls
// and streams alike.
func TestRetryAfterBeyondDeadline(t *testing.T) {
	limited := func() []error {
		return []error{&providers.Error{Kind: providers.KindRateLimit, RetryAfter: 20 * time.Second}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, b := &fake{plan: limited(), text: "A"}, &fake{text: "B"}
	g, _, slept, _ := setup(t, a, b, Route{Name: "r", Providers: []string{"a", "b"}})
	res, err := g.Chat(ctx, "r", providers.Request{})
	if err != nil || res.Provider != "b" || a.calls != 1 || len(*slept) != 0 {
		t.Fatalf("chat: provider %q err %v, a called %d times, slept %v", res.Provider, err, a.calls, *slept)
	}
	a.plan = limited()
	s, err := g.Stream(ctx, "r", providers.Request{})
	if err != nil || s.Provider != "b" || a.calls != 2 || len(*slept) != 0 {
		t.Fatalf("stream: err %v, a called %d times, slept %v", err, a.calls, *slept)
	}
	s.Close()
	// Without a deadline, or with time to spare, the wait is honoured.
	a.plan = limited()
	if res, err := g.Chat(context.Background(), "r", providers.Request{}); err != nil || res.Provider != "a" || len(*slept) != 1 {
		t.Fatalf("no deadline: provider %q err %v, slept %v", res.Provider, err, *slept)
	}
}
