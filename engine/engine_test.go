package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/compile"
	"github.com/kefu-chat/kefu/dsl/parse"
	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/entity"
	"github.com/kefu-chat/kefu/engine/normalize"
	"github.com/kefu-chat/kefu/engine/service"
	"github.com/kefu-chat/kefu/engine/service/demoshop"
	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/engine/session/boltstore"
	"github.com/kefu-chat/kefu/engine/session/redisstore"
	"github.com/kefu-chat/kefu/engine/session/redistest"
	"github.com/kefu-chat/kefu/knowledge"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/providers"
	"github.com/kefu-chat/kefu/providers/gateway"
)

// fakeClassifier maps texts containing a key to its intent.
type fakeClassifier map[string]string

func (f fakeClassifier) Classify(ctx context.Context, text string) (models.Prediction, error) {
	for k, v := range f {
		if strings.Contains(text, k) {
			return models.Prediction{Intent: models.Intent{Name: v, Confidence: 0.9}}, nil
		}
	}
	return models.Prediction{Intent: models.Intent{Name: models.OOS, Confidence: 0.2}, OOS: true}, nil
}

var intents = fakeClassifier{"退货": "退货", "谢谢": "感谢", "人工": "转人工", "物流": "物流查询"}

const flows = `
var $订单状态 = ""

when "投诉" then if $订单状态 == "已发货" then trigger 售后流程 else ask "请问订单号是多少?"
when 感谢 then say "不客气"
when 转人工 then handoff

flow 退货
  on intent 退货
  slot 订单号: order_id ask "请问订单号？" retry 1 "订单号格式不对"
  call 订单服务.查询(订单号) -> 订单 timeout 1s
  on error
    say "查不到订单 {订单号}"
    end
  set $订单状态 = 订单.状态
  if 订单.状态 == "已签收" and 订单.签收天数 <= 7
    say "订单 {订单号} 可以退货"
  else
    say "订单 {订单号} {订单.状态}"

flow 售后流程
  slot 问题 ask "请描述问题"
  say "已记录：{问题}"
  handoff "售后专员"
`

type fixture struct {
	e     *engine.Engine
	store session.Store
	path  string
	deps  engine.Deps
}

func newFixture(t testing.TB, src string) *fixture {
	t.Helper()
	shop := httptest.NewServer(demoshop.New(nil))
	t.Cleanup(shop.Close)
	svc, err := service.New(service.Config{"订单服务": {
		BaseURL:    shop.URL,
		Operations: map[string]service.Operation{"查询": {Method: "GET", Path: "/orders/{订单号}"}},
	}}, service.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ents, err := entity.New(entity.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f, errs := parse.File("demo.kefu", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs.Render())
	}
	prog, errs := compile.Compile([]*ast.File{f}, compile.Schema{
		Intents: []string{"退货", "感谢", "转人工", "物流查询"}, Entities: ents.Types(),
		Services: map[string]map[string][]string{"订单服务": {"查询": {"订单号"}}},
	})
	if len(errs) > 0 {
		t.Fatal(errs.Render())
	}
	nc := normalize.DefaultConfig()
	nc.Lower = false
	nc.Sensitive = []string{"傻瓜"}
	norm, err := normalize.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{path: filepath.Join(t.TempDir(), "sessions.db")}
	fx.deps = engine.Deps{Program: prog, Classifier: intents, Normalizer: norm, Entities: ents, Services: svc}
	fx.open(t)
	return fx
}

func (fx *fixture) open(t testing.TB) {
	t.Helper()
	st, err := boltstore.Open(fx.path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fx.store = st
	fx.deps.Sessions = st
	if fx.e, err = engine.New(engine.Config{Memory: 5}, fx.deps); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) turn(t testing.TB, sid, text string) *engine.Reply {
	t.Helper()
	r, err := fx.e.Turn(context.Background(), engine.Request{SessionID: sid, Text: text})
	if err != nil {
		t.Fatalf("turn %q: %v", text, err)
	}
	return r
}

func replies(r *engine.Reply) string {
	var out []string
	for _, p := range r.Replies {
		out = append(out, p.Text)
	}
	return strings.Join(out, " | ")
}

func TestFlowWithServiceCall(t *testing.T) {
	fx := newFixture(t, flows)
	r := fx.turn(t, "s1", "我要退货")
	if got := replies(r); got != "请问订单号？" || r.Route != engine.RouteFlow || r.Intent.Name != "退货" {
		t.Fatalf("turn 1: %q route %s intent %+v", got, r.Route, r.Intent)
	}
	if r.Flow == nil || r.Flow.Name != "退货" || r.Flow.Step != "slot 订单号" || !r.Flow.Active {
		t.Fatalf("flow %+v", r.Flow)
	}
	r = fx.turn(t, "s1", "订单号 A2024112200003")
	if got := replies(r); got != "订单 A2024112200003 可以退货" {
		t.Fatalf("turn 2: %q", got)
	}
	if len(r.Calls) != 1 || !r.Calls[0].OK || r.Timings.Total <= 0 {
		t.Fatalf("calls %+v timings %+v", r.Calls, r.Timings)
	}
	if r.Vars["订单状态"] != "已签收" {
		t.Fatalf("vars %v", r.Vars)
	}
	if len(r.Entities) == 0 || r.Entities[0].Type != "order_id" {
		t.Fatalf("entities %+v", r.Entities)
	}
	v, err := fx.e.Session(context.Background(), "s1")
	if err != nil || len(v.Turns) != 2 || v.Turns[1].Text != "订单号 A2024112200003" {
		t.Fatalf("session %+v %v", v, err)
	}
}

func TestServiceFailureTakesErrorBranch(t *testing.T) {
	fx := newFixture(t, flows)
	fx.turn(t, "s", "我要退货")
	r := fx.turn(t, "s", "A2024112299500")
	if got := replies(r); got != "查不到订单 A2024112299500" || r.Route != engine.RouteFlow {
		t.Fatalf("%q %s", got, r.Route)
	}
	if len(r.Calls) != 1 || r.Calls[0].OK {
		t.Fatalf("calls %+v", r.Calls)
	}
}

func TestSeedRuleEndToEnd(t *testing.T) {
	fx := newFixture(t, flows)
	if got := replies(fx.turn(t, "s", "我要投诉")); got != "请问订单号是多少?" {
		t.Fatalf("%q", got)
	}
	fx.turn(t, "s", "我要退货")
	fx.turn(t, "s", "A2024112200001") // 已发货
	r := fx.turn(t, "s", "我要投訴")      // traditional 訴 still matches the keyword
	if got := replies(r); got != "请描述问题" {
		t.Fatalf("%q", got)
	}
	r = fx.turn(t, "s", "耳机没声音")
	if !r.Handoff || r.Route != engine.RouteHandoff {
		t.Fatalf("want handoff: %+v", r)
	}
}

func TestInterruptionResumes(t *testing.T) {
	fx := newFixture(t, flows)
	fx.turn(t, "s", "我要退货")
	r := fx.turn(t, "s", "谢谢")
	if got := replies(r); got != "不客气 | "+engine.DefaultTexts.Resume+"请问订单号？" {
		t.Fatalf("%q", got)
	}
	if got := replies(fx.turn(t, "s", "A2024112200002")); got != "订单 A2024112200002 未发货" {
		t.Fatalf("%q", got)
	}
}

func TestFallbackAndSensitive(t *testing.T) {
	fx := newFixture(t, flows)
	r := fx.turn(t, "s", "今天天气怎么样")
	if r.Route != engine.RouteFallback || replies(r) != engine.DefaultTexts.Fallback {
		t.Fatalf("%+v", r)
	}
	fx.turn(t, "s", "你这个傻瓜")
	v, _ := fx.e.Session(context.Background(), "s")
	if last := v.Turns[len(v.Turns)-1]; last.Text != "你这个傻瓜" {
		t.Fatalf("memory must keep the original text, got %q", last.Text)
	}
	// A free-text slot never echoes a masked word back.
	fx.turn(t, "s2", "我要投诉") // asks for the order number: no order known
	fx.turn(t, "s2", "我要退货")
	fx.turn(t, "s2", "A2024112200001")
	fx.turn(t, "s2", "我要投诉")
	r = fx.turn(t, "s2", "你们这些傻瓜")
	if got := replies(r); strings.Contains(got, "傻瓜") || !strings.Contains(got, "已记录：你们这些**") {
		t.Fatalf("echoed a sensitive word: %q", got)
	}
}

func TestHandoffLifecycle(t *testing.T) {
	fx := newFixture(t, flows)
	ctx := context.Background()
	r := fx.turn(t, "h", "转人工")
	if !r.Handoff || replies(r) != engine.DefaultTexts.Handoff {
		t.Fatalf("%+v", r)
	}
	q, err := fx.e.Waiting(ctx)
	if err != nil || len(q) != 1 || q[0].SessionID != "h" {
		t.Fatalf("queue %+v %v", q, err)
	}
	r = fx.turn(t, "h", "我要退货")
	if r.Route != engine.RouteHandoff || replies(r) != engine.DefaultTexts.Waiting {
		t.Fatalf("the bot must stay quiet while a human owns the session: %+v", r)
	}
	if _, err := fx.e.AgentReply(ctx, "h", "小王", "您好，我是客服小王"); err != nil {
		t.Fatal(err)
	}
	if r := fx.turn(t, "h", "好的，订单是 A2024112200003"); len(r.Replies) != 0 || r.Route != engine.RouteHandoff {
		t.Fatalf("with an agent answering, the bot must be silent: %+v", r)
	}
	if _, err := fx.e.Release(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.e.Release(ctx, "h"); !errors.Is(err, engine.ErrNotWaiting) {
		t.Fatalf("second release: %v", err)
	}
	if q, _ := fx.e.Waiting(ctx); len(q) != 0 {
		t.Fatalf("queue not empty: %+v", q)
	}
	if r := fx.turn(t, "h", "我要退货"); replies(r) != "请问订单号？" {
		t.Fatalf("back to the bot: %+v", r)
	}
	v, _ := fx.e.Session(ctx, "h")
	var routes []string
	for _, tr := range v.Turns {
		routes = append(routes, tr.Route)
	}
	if got := strings.Join(routes, ","); got != "handoff,agent,handoff,agent,flow" {
		t.Fatalf("memory routes %s", got)
	}
}

func TestMemoryKeepsLastN(t *testing.T) {
	fx := newFixture(t, flows)
	for i := 0; i < 8; i++ {
		fx.turn(t, "m", fmt.Sprintf("消息 %d", i))
	}
	v, _ := fx.e.Session(context.Background(), "m")
	if len(v.Turns) != 5 || v.Turns[0].Text != "消息 3" || v.Turns[4].Text != "消息 7" {
		t.Fatalf("turns %+v", v.Turns)
	}
}

func TestSessionSurvivesRestart(t *testing.T) {
	fx := newFixture(t, flows)
	fx.turn(t, "r", "我要退货")
	fx.store.Close()
	fx.open(t)
	if got := replies(fx.turn(t, "r", "A2024112200003")); got != "订单 A2024112200003 可以退货" {
		t.Fatalf("after restart: %q", got)
	}
}

func TestConcurrentTurnsOneSession(t *testing.T) {
	fx := newFixture(t, flows)
	const n = 20
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := fx.e.Turn(context.Background(), engine.Request{SessionID: "c", Text: "谢谢"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s, err := fx.store.Get(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != n {
		t.Fatalf("version %d, want %d: a turn was lost", s.Version, n)
	}
}

func TestResetAndEvents(t *testing.T) {
	fx := newFixture(t, flows+"\nwhen event 会话开始 then say \"欢迎\"\n")
	ctx := context.Background()
	r, err := fx.e.Turn(ctx, engine.Request{SessionID: "e", Event: "会话开始"})
	if err != nil || replies(r) != "欢迎" {
		t.Fatalf("%+v %v", r, err)
	}
	if err := fx.e.Reset(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.e.Session(ctx, "e"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("after reset: %v", err)
	}
	if _, err := fx.e.Turn(ctx, engine.Request{SessionID: "e"}); !errors.Is(err, engine.ErrEmpty) {
		t.Fatalf("empty: %v", err)
	}
}

func TestReplyJSON(t *testing.T) {
	fx := newFixture(t, flows)
	r := fx.turn(t, "j", "我要退货")
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(data, &m)
	for _, k := range []string{"session_id", "turn_id", "replies", "route", "intent", "entities", "flow", "timings"} {
		if _, ok := m[k]; !ok {
			t.Errorf("reply JSON lacks %q: %s", k, data)
		}
	}
	if _, ok := m["timings"].(map[string]any)["total_ms"]; !ok {
		t.Errorf("timings: %s", data)
	}
}

// BenchmarkTurn measures the engine's overhead on a flow turn: the fake
// classifier stands in for the model (see cmd/kefu for the model included).
func BenchmarkTurn(b *testing.B) {
	fx := newFixture(b, flows)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := fx.e.Turn(ctx, engine.Request{SessionID: fmt.Sprint("b", i%200), Text: "谢谢"}); err != nil {
			b.Fatal(err)
		}
	}
}

var _ = time.Second

// TestTwoNodesOnRedis runs two engines on one Redis, as two kefu nodes
// would, with turns of one session arriving at both: every turn lands.
func TestTwoNodesOnRedis(t *testing.T) {
	addr := redistest.Start(t)
	a := newFixture(t, flows)
	b := newFixture(t, flows)
	for _, fx := range []*fixture{a, b} {
		st, err := redisstore.New(redisstore.Options{Addr: addr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fx.deps.Sessions = st
		if fx.e, err = engine.New(engine.Config{Memory: 50}, fx.deps); err != nil {
			t.Fatal(err)
		}
	}
	const n = 15
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		for _, fx := range []*fixture{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := fx.e.Turn(context.Background(), engine.Request{SessionID: "multi", Text: "谢谢"}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	v, err := a.e.Session(context.Background(), "multi")
	if err != nil || len(v.Turns) != 2*n {
		t.Fatalf("turns %d, want %d (%v)", len(v.Turns), 2*n, err)
	}
}

// fakeKB answers knowledge searches from a table of substrings.
type fakeKB map[string]knowledge.Result

func (f fakeKB) Search(ctx context.Context, q string, k int, _ knowledge.Filter) ([]knowledge.Result, error) {
	for key, r := range f {
		if strings.Contains(q, key) {
			return []knowledge.Result{r}, nil
		}
	}
	return nil, nil
}

func TestKnowledgeRoutes(t *testing.T) {
	fx := newFixture(t, flows)
	fx.deps.Knowledge = fakeKB{
		"运费": {Chunk: knowledge.Chunk{ID: "ship-2#0", DocID: "ship-2", Title: "运费怎么算", Answer: "满99元包邮。"}, Score: 0.91},
		"积分": {Chunk: knowledge.Chunk{ID: "member-1#0", DocID: "member-1", Title: "积分规则", Answer: "100积分抵1元。"}, Score: 0.6},
	}
	var err error
	if fx.e, err = engine.New(engine.Config{Memory: 5}, fx.deps); err != nil {
		t.Fatal(err)
	}
	r := fx.turn(t, "k", "运费多少钱")
	if r.Route != engine.RouteKnowledge || replies(r) != "满99元包邮。" || len(r.Sources) != 1 || !r.Sources[0].Used || r.Sources[0].Title != "运费怎么算" {
		t.Fatalf("strong hit: %+v", r)
	}
	r = fx.turn(t, "k", "积分怎么用")
	if r.Route != engine.RouteFallback || len(r.Sources) != 1 || !r.Sources[0].Used || !strings.Contains(r.Reason, "context") {
		t.Fatalf("context-level hit: %+v", r)
	}
	r = fx.turn(t, "k", "今天天气好")
	if r.Route != engine.RouteFallback || len(r.Sources) != 0 {
		t.Fatalf("no hit: %+v", r)
	}
	// A question in the middle of a slot: answered, then the slot's own
	// question again; the try is not counted.
	fx.turn(t, "k2", "我要退货")
	r = fx.turn(t, "k2", "对了运费怎么算")
	if got := replies(r); got != "满99元包邮。 | "+engine.DefaultTexts.Resume+"请问订单号？" || r.Route != engine.RouteKnowledge {
		t.Fatalf("knowledge during a slot: %q %+v", got, r)
	}
	if got := replies(fx.turn(t, "k2", "12345")); got != "订单号格式不对" {
		t.Fatalf("first real retry: %q", got)
	}
	if got := replies(fx.turn(t, "k2", "A2024112200003")); got != "订单 A2024112200003 可以退货" {
		t.Fatalf("slot after the detour: %q", got)
	}
}

// fakeGen records prompts and answers from a function.
type fakeGen struct {
	last   providers.Request
	answer func(providers.Request) (*gateway.Result, error)
}

func (f *fakeGen) Chat(ctx context.Context, route string, req providers.Request) (*gateway.Result, error) {
	f.last = req
	return f.answer(req)
}

// Stream streams the same answer two runes at a time.
func (f *fakeGen) Stream(ctx context.Context, route string, req providers.Request) (*gateway.StreamResult, error) {
	res, err := f.Chat(ctx, route, req)
	if err != nil {
		return &gateway.StreamResult{Attempts: res.Attempts}, err
	}
	rs := []rune(res.Response.Text)
	var parts []string
	for i := 0; i < len(rs); i += 2 {
		parts = append(parts, string(rs[i:min(i+2, len(rs))]))
	}
	return &gateway.StreamResult{Stream: &partStream{parts: parts, usage: res.Response.Usage}, Provider: res.Provider, Attempts: res.Attempts, Usage: res.Response.Usage}, nil
}

type partStream struct {
	parts []string
	usage providers.Usage
}

func (s *partStream) Recv() (providers.Chunk, error) {
	if len(s.parts) == 0 {
		return providers.Chunk{Usage: &s.usage}, io.EOF
	}
	p := s.parts[0]
	s.parts = s.parts[1:]
	return providers.Chunk{Delta: p}, nil
}

func (s *partStream) Close() error { return nil }

func TestStreamedGeneration(t *testing.T) {
	fx := newFixture(t, flows)
	fx.deps.Generator = &fakeGen{answer: func(providers.Request) (*gateway.Result, error) {
		return &gateway.Result{Provider: "gpt", Response: &providers.Response{Text: "您好，积分可以抵现。", Usage: providers.Usage{TotalTokens: 9}}}, nil
	}}
	var err error
	if fx.e, err = engine.New(engine.Config{Generate: engine.GenerateConfig{Route: "default"}}, fx.deps); err != nil {
		t.Fatal(err)
	}
	var events []engine.StreamEvent
	r, err := fx.e.Turn(context.Background(), engine.Request{SessionID: "s", Text: "积分怎么用", Stream: func(ev engine.StreamEvent) { events = append(events, ev) }})
	if err != nil {
		t.Fatal(err)
	}
	var deltas string
	for _, ev := range events[1:] {
		deltas += ev.Delta
	}
	if !events[0].Start || events[0].Route != engine.RouteGenerative || deltas != "您好，积分可以抵现。" || replies(r) != deltas || r.Route != engine.RouteGenerative {
		t.Fatalf("events %+v reply %+v", events, r)
	}
}

func TestGenerativeFallback(t *testing.T) {
	fx := newFixture(t, flows)
	gen := &fakeGen{answer: func(r providers.Request) (*gateway.Result, error) {
		return &gateway.Result{Provider: "gpt", Route: "default", Cost: 0.002,
			Response: &providers.Response{Text: "积分可以在结算页抵现。", Usage: providers.Usage{PromptTokens: 300, CompletionTokens: 20, TotalTokens: 320}},
			Attempts: []gateway.Attempt{{Provider: "gpt"}}}, nil
	}}
	fx.deps.Knowledge = fakeKB{"积分": {Chunk: knowledge.Chunk{ID: "member-1#0", DocID: "member-1", Title: "积分规则", Text: "问：积分规则\n答：100积分抵1元。", Answer: "100积分抵1元。"}, Score: 0.6}}
	fx.deps.Generator = gen
	cfg := engine.Config{Memory: 5, Generate: engine.GenerateConfig{Route: "default", SystemPrompt: "你是客服。", SessionBudget: 600}}
	var err error
	if fx.e, err = engine.New(cfg, fx.deps); err != nil {
		t.Fatal(err)
	}
	fx.turn(t, "g", "谢谢")
	r := fx.turn(t, "g", "积分怎么用")
	if r.Route != engine.RouteGenerative || replies(r) != "积分可以在结算页抵现。" || r.Provider != "gpt" || r.Usage.TotalTokens != 320 || !r.Sources[0].Used {
		t.Fatalf("%+v", r)
	}
	msgs := gen.last.Messages
	if msgs[0].Role != providers.RoleSystem || !strings.Contains(msgs[0].Content, "[1] (member-1#0) 积分规则") || !strings.Contains(msgs[0].Content, "100积分抵1元") {
		t.Errorf("system prompt lacks the numbered passage: %q", msgs[0].Content)
	}
	if len(msgs) != 4 || msgs[1].Content != "谢谢" || msgs[2].Content != "不客气" || msgs[3].Content != "积分怎么用" || gen.last.SessionID != "g" {
		t.Errorf("memory and message: %+v", msgs)
	}
	r = fx.turn(t, "g", "积分怎么用")
	if r.SessionUsage == nil || r.SessionUsage.PromptTokens != 600 {
		t.Fatalf("session usage %+v", r.SessionUsage)
	}
	// Past the budget (600 tokens), no more calls.
	gen.last = providers.Request{}
	r = fx.turn(t, "g", "积分怎么用")
	if replies(r) != engine.DefaultTexts.Budget || gen.last.Messages != nil {
		t.Fatalf("budget: %+v", r)
	}
}

func TestGenerationFailure(t *testing.T) {
	for _, tc := range []struct {
		onFailure, route, reply string
	}{
		{"", engine.RouteKnowledge, engine.DefaultTexts.BestMatch + "100积分抵1元。"},
		{"handoff", engine.RouteHandoff, engine.DefaultTexts.Handoff},
		{"fallback", engine.RouteFallback, engine.DefaultTexts.Fallback},
	} {
		t.Run(tc.onFailure, func(t *testing.T) {
			fx := newFixture(t, flows)
			fx.deps.Knowledge = fakeKB{"积分": {Chunk: knowledge.Chunk{ID: "member-1#0", DocID: "member-1", Answer: "100积分抵1元。"}, Score: 0.6}}
			fx.deps.Generator = &fakeGen{answer: func(providers.Request) (*gateway.Result, error) {
				return &gateway.Result{Attempts: []gateway.Attempt{{Provider: "gpt", Kind: "unavailable"}, {Provider: "dify", Kind: "timeout"}}},
					&providers.Error{Provider: "dify", Kind: providers.KindTimeout}
			}}
			var err error
			if fx.e, err = engine.New(engine.Config{Generate: engine.GenerateConfig{Route: "default", OnFailure: tc.onFailure}}, fx.deps); err != nil {
				t.Fatal(err)
			}
			r := fx.turn(t, "f", "积分怎么用")
			if r.Route != tc.route || replies(r) != tc.reply || len(r.Attempts) != 2 || !strings.Contains(r.Reason, "timeout") {
				t.Fatalf("%+v", r)
			}
		})
	}
}

func TestFlowGenerate(t *testing.T) {
	fx := newFixture(t, flows)
	gen := &fakeGen{answer: func(r providers.Request) (*gateway.Result, error) {
		return &gateway.Result{Provider: "gpt", Response: &providers.Response{Text: "非常抱歉！", Usage: providers.Usage{PromptTokens: 40, CompletionTokens: 5, TotalTokens: 45}}}, nil
	}}
	f, errs := parse.File("g.kefu", []byte("when \"不满意\" then generate \"请安抚顾客\"\n"))
	if len(errs) > 0 {
		t.Fatal(errs.Render())
	}
	prog, cerrs := compile.Compile([]*ast.File{f}, compile.Schema{DefaultRoute: "default"})
	if len(cerrs) > 0 {
		t.Fatal(cerrs.Render())
	}
	fx.deps.Program, fx.deps.Generator = prog, gen
	var err error
	if fx.e, err = engine.New(engine.Config{Generate: engine.GenerateConfig{Route: "default", SystemPrompt: "你是客服。"}}, fx.deps); err != nil {
		t.Fatal(err)
	}
	r := fx.turn(t, "fg", "我很不满意")
	if replies(r) != "非常抱歉！" || r.Route != engine.RouteFlow || r.Provider != "gpt" || r.SessionUsage.PromptTokens != 40 {
		t.Fatalf("%+v", r)
	}
	if sys := gen.last.Messages[0].Content; sys != "你是客服。\n\n请安抚顾客" {
		t.Errorf("system prompt %q", sys)
	}
}

func TestTurnLogText(t *testing.T) {
	for _, tc := range []struct{ mode, want, not string }{
		{"", "", "A2024112200003"},
		{"masked", "订单号 A*************", "2024112200003"},
		{"full", "订单号 A2024112200003", ""},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			fx := newFixture(t, flows)
			var buf strings.Builder
			var mu sync.Mutex
			fx.deps.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, nil))
			var err error
			if fx.e, err = engine.New(engine.Config{LogText: tc.mode}, fx.deps); err != nil {
				t.Fatal(err)
			}
			fx.turn(t, "l", "订单号 A2024112200003")
			mu.Lock()
			out := buf.String()
			mu.Unlock()
			if !strings.Contains(out, `"msg":"turn"`) || (tc.want != "" && !strings.Contains(out, tc.want)) || (tc.not != "" && strings.Contains(out, tc.not)) {
				t.Fatalf("log: %s", out)
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// spanStore is a session store whose Save starts a span of its own, as an
// instrumented client would.
type spanStore struct{ session.Store }

func (s spanStore) Save(ctx context.Context, sess *session.Session) error {
	ctx, sp := otel.Tracer("test").Start(ctx, "store.save")
	defer sp.End()
	return s.Store.Save(ctx, sess)
}

// TestTurnSpans records the spans of a turn that calls a business service:
// one kefu.turn with its stages and the service call beneath.
func TestTurnSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	defer otel.SetTracerProvider(prev)
	fx := newFixture(t, flows)
	fx.deps.Sessions = spanStore{fx.store}
	var err error
	if fx.e, err = engine.New(engine.Config{Memory: 5}, fx.deps); err != nil {
		t.Fatal(err)
	}
	fx.turn(t, "sp", "我要退货")
	fx.turn(t, "sp", "A2024112200003")
	spans := rec.Ended()
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	for _, name := range []string{"kefu.turn", "kefu.normalize", "kefu.classify", "kefu.entities", "kefu.dialog", "kefu.service", "kefu.session.save"} {
		if len(byName[name]) == 0 {
			t.Errorf("no %s span (have %v)", name, byName)
		}
	}
	turn := byName["kefu.turn"][1]
	svc := byName["kefu.service"][0]
	dialog := byName["kefu.dialog"][1]
	if svc.Parent().SpanID() != dialog.SpanContext().SpanID() || dialog.Parent().SpanID() != turn.SpanContext().SpanID() {
		t.Errorf("the service call must sit under the dialog, under the turn")
	}
	save, write := byName["kefu.session.save"][1], byName["store.save"][1]
	if write.Parent().SpanID() != save.SpanContext().SpanID() || save.Parent().SpanID() != turn.SpanContext().SpanID() {
		t.Errorf("the store's own spans must sit under kefu.session.save, under the turn")
	}
	found := false
	for _, a := range turn.Attributes() {
		found = found || (string(a.Key) == "kefu.route" && a.Value.AsString() == "flow")
	}
	if !found {
		t.Errorf("turn attributes %v", turn.Attributes())
	}
}
