package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/cmd/internal/faulttest"
	"github.com/kefu-chat/kefu/dsl"
	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/entity"
	"github.com/kefu-chat/kefu/engine/service"
	"github.com/kefu-chat/kefu/knowledge"
	"github.com/kefu-chat/kefu/models/onnx"
)

var demoConfig = func() string { p, _ := filepath.Abs("../../../testdata/bots/demo/kefu.yaml"); return p }()

// needRuntime loads ONNX Runtime (from the repository's third_party folder
// when the environment names none); it skips locally and fails under CI
// when the library is missing.
func needRuntime(tb testing.TB, cfg *config.Config) {
	tb.Helper()
	if os.Getenv(onnx.EnvLibrary) == "" {
		if lib, _ := filepath.Abs(filepath.Join("../../..", onnx.DefaultDir, onnx.LibraryName)); lib != "" {
			if _, err := os.Stat(lib); err == nil {
				tb.Setenv(onnx.EnvLibrary, lib)
			}
		}
	}
	if err := InitRuntime(cfg); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("ONNX Runtime is required in CI: %v", err)
		}
		tb.Skip(err)
	}
}

// buildFile loads the config at path and builds the App, closed at the
// test's end.
func buildFile(t *testing.T, path string) *App {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Build(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// writeDemoConfig writes a kefu.yaml in a temporary folder with the demo
// model and flows, a fresh session store and the demo's order service at
// an address that refuses connections, followed by extra; it returns the
// file's path.
func writeDemoConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	demoDir := filepath.Dir(demoConfig)
	path := filepath.Join(dir, "kefu.yaml")
	yaml := fmt.Sprintf(`
models:
  intent: {path: %s}
flows: ["%s/*.kefu"]
sessions: {path: %s}
services:
  订单服务:
    base_url: http://127.0.0.1:1
    operations: {查询: {method: GET, path: "/orders/{订单号}"}, 取消: {method: POST, path: "/orders/{订单号}/cancel"}, 退货: {method: POST, path: "/orders/{订单号}/returns", params: [订单号, 原因]}, 换货: {method: POST, path: "/orders/{订单号}/exchanges", params: [订单号, 原因, 新规格]}, 修改地址: {method: POST, path: "/orders/{订单号}/address", params: [订单号, 新地址]}, 开票: {method: POST, path: "/invoices", params: [订单号, 抬头, 邮箱]}}
`, filepath.Join(demoDir, "model"), filepath.Join(demoDir, "flows"), filepath.Join(dir, "s.db"))
	if err := os.WriteFile(path, []byte(yaml+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveFile is buildFile served over httptest, with a client whose idle
// connections are closed at the test's end.
func serveFile(t *testing.T, path string) (*App, *httptest.Server, *http.Client) {
	t.Helper()
	a := buildFile(t, path)
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	return a, srv, &http.Client{Transport: tr}
}

// sign is the webhook channel's signature header for body.
func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// demoRuntime loads ONNX Runtime as the demo config asks, shut down at the
// test's end.
func demoRuntime(t *testing.T) {
	t.Helper()
	needRuntime(t, loadDemo(t))
	t.Cleanup(func() { onnx.Shutdown() })
}

func loadDemo(tb testing.TB) *config.Config {
	tb.Helper()
	cfg, err := config.Load(demoConfig)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// BenchmarkLoadFlows parses, checks and compiles the demo bot's flows.
func BenchmarkLoadFlows(b *testing.B) {
	cfg := loadDemo(b)
	ents, err := entity.New(entity.Config{})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := service.New(cfg.Services, service.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	paths, err := FlowFiles(cfg)
	if err != nil {
		b.Fatal(err)
	}
	schema := Schema(nil, ents, svc)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dsl.Load(paths, schema); err != nil {
			b.Fatal(err)
		}
	}
}

// openDemoEngine builds the demo bot's engine with the real model and a
// session file in a temporary folder.
func openDemoEngine(tb testing.TB, fsync bool) *engine.Engine {
	cfg := loadDemo(tb)
	cfg.Sessions.Fsync = &fsync
	needRuntime(tb, cfg)
	tb.Cleanup(func() { onnx.Shutdown() })
	cls, err := LoadClassifier(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cls.Close() })
	d, err := LoadDialog(cfg, Intents(cls.Labels()), nil)
	if err != nil {
		tb.Fatal(err)
	}
	sc := cfg.Sessions
	sc.Path = filepath.Join(tb.TempDir(), "sessions.db")
	store, err := OpenSessions(sc, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	e, err := NewEngine(cfg, d, cls, store, nil, nil, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestDemoEngine(t *testing.T) {
	e := openDemoEngine(t, true)
	r, err := e.Turn(context.Background(), engine.Request{SessionID: "t", Text: "我要退货"})
	if err != nil || r.Route != engine.RouteFlow || r.Flow == nil || r.Flow.Name != "退货" {
		t.Fatalf("%+v %v", r, err)
	}
}

// BenchmarkTurnWithModel is engine.Turn on a flow path of the demo bot with
// the shipped model: normalize, classify, entities, the 退货 flow (start,
// re-prompts, give up, start again) and the session write, across 200
// sessions.
func BenchmarkTurnWithModel(b *testing.B) {
	b.Run("fsync", func(b *testing.B) { benchTurn(b, openDemoEngine(b, true)) })
	b.Run("nosync", func(b *testing.B) { benchTurn(b, openDemoEngine(b, false)) })
}

func benchTurn(b *testing.B, e *engine.Engine) {
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	var stages engine.Timings
	for b.Loop() {
		i++
		r, err := e.Turn(ctx, engine.Request{SessionID: fmt.Sprint("b", i%200), Text: "我要退货"})
		if err != nil || r.Route != engine.RouteFlow {
			b.Fatalf("%+v %v", r, err)
		}
		t := r.Timings
		stages.Normalize += t.Normalize
		stages.Classify += t.Classify
		stages.Entities += t.Entities
		stages.Dialog += t.Dialog
		stages.Save += t.Save
		stages.Lock += t.Lock
	}
	n := float64(i)
	b.ReportMetric(float64(stages.Classify.Microseconds())/n, "classify-µs/op")
	b.ReportMetric(float64(stages.Dialog.Microseconds())/n, "dialog-µs/op")
	b.ReportMetric(float64(stages.Save.Microseconds())/n, "save-µs/op")
	b.ReportMetric(float64((stages.Normalize+stages.Entities+stages.Lock).Microseconds())/n, "other-µs/op")
}

// TestDialogWithoutModel builds the dialog half of a bot from a config with
// custom entities (config and flow declared) and a handoff webhook, and runs
// turns through the engine with no classifier.
func TestDialogWithoutModel(t *testing.T) {
	dir := t.TempDir()
	hook := make(chan map[string]any, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		hook <- m
	}))
	defer srv.Close()
	os.MkdirAll(filepath.Join(dir, "flows"), 0o755)
	os.WriteFile(filepath.Join(dir, "flows", "a.kefu"), []byte(`entity 颜色
  红色: 红, 大红
  蓝色: 蓝

flow 换色
  on "换颜色"
  slot 色: 颜色 ask "换成什么颜色？"
  slot 码: 尺码 ask "什么尺码？"
  say "好的，换成{色}、{码}码"
  handoff "售后"
`), 0o644)
	os.WriteFile(filepath.Join(dir, "kefu.yaml"), []byte(`
models: {intent: {path: model}}
flows: ["flows/*.kefu"]
entities:
  custom:
    尺码: {values: {XL: [加大, 特大], M: [中号]}}
handoff: {webhook: "`+srv.URL+`"}
`), 0o644)
	cfg, err := config.Load(filepath.Join(dir, "kefu.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := LoadDialog(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sessions.Path = filepath.Join(dir, "s.db")
	store, err := OpenSessions(cfg.Sessions, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	e, err := NewEngine(cfg, d, nil, store, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	turn := func(text string) *engine.Reply {
		r, err := e.Turn(ctx, engine.Request{SessionID: "x", Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	turn("我想换颜色")
	turn("大红的吧")
	r := turn("加大")
	if len(r.Replies) != 1 || r.Replies[0].Text != "好的，换成红色、XL码" || !r.Handoff {
		t.Fatalf("%+v", r)
	}
	select {
	case m := <-hook:
		if m["session_id"] != "x" || m["queue"] != "售后" || m["text"] != "加大" {
			t.Fatalf("webhook got %v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handoff webhook was not called")
	}
}

// BenchmarkKnowledgeSearch is one hybrid search of the demo help centre
// (277 chunks): the query's embedding with the shipped encoder, dense and
// lexical search, fusion and scoring.
func BenchmarkKnowledgeSearch(b *testing.B) {
	cfg := loadDemo(b)
	needRuntime(b, cfg)
	b.Cleanup(func() { onnx.Shutdown() })
	emb, err := LoadEmbedder(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { emb.Close() })
	cfg.Knowledge.Path = filepath.Join(b.TempDir(), "kb.db")
	norm, _ := NewNormalizer(cfg.Normalize)
	kb, err := OpenKnowledge(context.Background(), cfg, emb, func(s string) string { return norm.Normalize(s).Text }, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kb.Close() })
	if _, err := kb.IngestPaths(context.Background(), cfg.Knowledge.Sources, nil); err != nil {
		b.Fatal(err)
	}
	queries := []string{"你们支持花呗分期吗", "退货运费谁出", "发票多久能开好", "耳机怎么连蓝牙", "可以貨到付款嗎"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := kb.Search(context.Background(), queries[i%len(queries)], 5, knowledge.Filter{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFaultReloadUnderLoad serves the demo bot, sends turns from several
// clients while the flows are edited and reloaded in a loop, and checks
// that no turn fails, no acknowledged turn is missing from its session,
// the new flows take effect, and a broken flow file leaves the old runtime
// serving.
func TestFaultReloadUnderLoad(t *testing.T) {
	demoRuntime(t)
	dir := t.TempDir()
	demoDir := filepath.Dir(demoConfig)
	os.MkdirAll(filepath.Join(dir, "flows"), 0o755)
	rules := filepath.Join(dir, "flows", "rules.kefu")
	write := func(greeting string) {
		os.WriteFile(rules, []byte("when 问候 then say \""+greeting+"\"\nwhen 感谢 then say \"不客气\"\n"), 0o644)
	}
	write("您好（一）")
	cfgText := fmt.Sprintf(`
server: {request_timeout: 5s}
models:
  intent: {path: %s}
flows: ["flows/*.kefu"]
sessions: {path: %s}
`, filepath.Join(demoDir, "model"), filepath.Join(dir, "sessions.db"))
	cfgPath := filepath.Join(dir, "kefu.yaml")
	os.WriteFile(cfgPath, []byte(cfgText), 0o644)
	a, srv, _ := serveFile(t, cfgPath)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures, turns := 0, 0
	seen := map[string]bool{}
	acked := map[string][]string{} // session → acknowledged turn ids
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("load-%d-%d", c, i/10) // 10 turns a session, under its memory
				body := fmt.Sprintf(`{"session_id":%q,"text":"你好"}`, id)
				resp, err := http.Post(srv.URL+"/v1/chat", "application/json", strings.NewReader(body))
				mu.Lock()
				turns++
				if err != nil || resp.StatusCode != 200 {
					failures++
				} else {
					var r engine.Reply
					json.NewDecoder(resp.Body).Decode(&r)
					if len(r.Replies) > 0 {
						seen[r.Replies[0].Text] = true
					}
					acked[id] = append(acked[id], r.TurnID)
				}
				mu.Unlock()
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	reloads := faulttest.Count(10, 60)
	for i := 0; i < reloads; i++ {
		write(fmt.Sprintf("您好（%d）", i))
		if i == 5 {
			// A model setting changes too: the classifier is loaded again
			// while turns run.
			os.WriteFile(cfgPath, []byte(strings.Replace(cfgText, "intent: {path: ", "intent: {oos_threshold: 0.05, path: ", 1)), 0o644)
		}
		old := a.Current().Classifier
		if err := a.Reload(context.Background()); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if changed := a.Current().Classifier != old; changed != (i == 5) {
			t.Fatalf("reload %d: classifier replaced %v", i, changed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A broken flow file: the reload fails with its position; the old
	// runtime keeps answering.
	os.WriteFile(rules, []byte("when 问候 then sya \"坏了\"\n"), 0o644)
	err := a.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "rules.kefu:1:14: unknown statement") {
		t.Fatalf("bad flow reload: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures > 0 || turns < 20 {
		t.Fatalf("%d of %d turns failed", failures, turns)
	}
	if last := fmt.Sprintf("您好（%d）", reloads-1); !seen[last] || len(seen) < 3 {
		t.Errorf("reloaded flows not seen: %v", seen)
	}
	n := 0
	for id, want := range acked {
		v, err := a.Current().Engine.Session(context.Background(), id)
		if err != nil {
			t.Fatalf("session %s: %v", id, err)
		}
		have := map[string]bool{}
		for _, tr := range v.Turns {
			have[tr.ID] = true
		}
		for _, tid := range want {
			if !have[tid] {
				t.Errorf("session %s: acknowledged turn %s lost", id, tid)
			}
			n++
		}
	}
	t.Logf("%d turns over %d reloads, %d acknowledged turns in %d sessions all present", turns, reloads, n, len(acked))
	// Changing the session store needs a restart.
	os.WriteFile(cfgPath, []byte(strings.Replace(strings.Replace(cfgText, "intent: {path: ", "intent: {oos_threshold: 0.05, path: ", 1), "sessions: {path: ", "sessions: {memory: 5, path: ", 1)), 0o644)
	write("您好")
	if err := a.Reload(context.Background()); !errors.Is(err, ErrRestart) {
		t.Fatalf("sessions change: %v", err)
	}
}

// TestChannelsMounted: a configured webhook channel answers at
// /channels/webhook, and an identity mapping puts it in a given session.
func TestChannelsMounted(t *testing.T) {
	demoRuntime(t)
	a := buildFile(t, writeDemoConfig(t, `
channels:
  webhook: {secret: "0123456789abcdef0123"}
  identities: {"webhook:shop-u1": customer-42}
`))
	body := `{"user_id":"shop-u1","text":"你好"}`
	req := httptest.NewRequest("POST", "/channels/webhook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Kefu-Signature", sign("0123456789abcdef0123", body))
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"session_id":"customer-42"`) || !strings.Contains(rec.Body.String(), "您好") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// TestChannelsUnderServerLimits: the webhook channel and the API spend one
// session's turn budget, so a customer cannot get around
// turns_per_second_per_session by switching channels, and
// server.max_text_runes holds for the channel too.
func TestChannelsUnderServerLimits(t *testing.T) {
	demoRuntime(t)
	a := buildFile(t, writeDemoConfig(t, `
server:
  max_text_runes: 10
  limits: {turns_per_second_per_session: 1}
channels:
  webhook: {secret: "0123456789abcdef0123"}
  identities: {"webhook:shop-u1": customer-42}
`))
	chat := httptest.NewRequest("POST", "/v1/chat", strings.NewReader(`{"session_id":"customer-42","text":"你好"}`))
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, chat)
	if rec.Code != 200 {
		t.Fatalf("API turn: %d %s", rec.Code, rec.Body)
	}
	body := `{"user_id":"shop-u1","text":"在吗"}`
	req := httptest.NewRequest("POST", "/channels/webhook", strings.NewReader(body))
	req.Header.Set("X-Kefu-Signature", sign("0123456789abcdef0123", body))
	rec = httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), `"code":"rate_limited"`) || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("webhook turn on the same session: %d %s", rec.Code, rec.Body)
	}
	body = `{"user_id":"shop-u2","text":"我买的衣服尺码不合适想退货"}` // 13 characters
	req = httptest.NewRequest("POST", "/channels/webhook", strings.NewReader(body))
	req.Header.Set("X-Kefu-Signature", sign("0123456789abcdef0123", body))
	rec = httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"code":"text_too_long"`) {
		t.Fatalf("webhook text over max_text_runes: %d %s", rec.Code, rec.Body)
	}
}

// TestTelegramChannelConfigured: the Telegram channel's YAML reaches the
// bot. A first message is answered by the demo flows; a second at once is
// over turns_per_second_per_session, waits for its budget longer than the
// channel's timeout allows, and gets the configured error text.
func TestTelegramChannelConfigured(t *testing.T) {
	demoRuntime(t)
	var mu sync.Mutex
	var sent []string
	bot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Text string }
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		sent = append(sent, r.URL.Path+" "+m.Text)
		mu.Unlock()
		w.Write([]byte(`{"ok":true,"result":{}}`))
	}))
	defer bot.Close()
	a := buildFile(t, writeDemoConfig(t, `
server:
  limits: {turns_per_second_per_session: 1}
channels:
  telegram:
    token: "123:abc"
    secret: "0123456789abcdef"
    api_base: `+bot.URL+`
    error_text: 客服正忙，请稍后再发
    workers: 2
    timeout: 200ms
`))
	for i, text := range []string{"你好", "在吗"} {
		body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"from":{"id":7},"chat":{"id":7},"text":%q}}`, i+1, i+1, text)
		req := httptest.NewRequest("POST", "/channels/telegram", strings.NewReader(body))
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", "0123456789abcdef")
		rec := httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("update %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := slices.Clone(sent)
		mu.Unlock()
		if len(got) >= 2 && strings.HasSuffix(got[len(got)-1], "客服正忙，请稍后再发") {
			if !strings.HasPrefix(got[0], "/bot123:abc/sendMessage ") || !strings.Contains(got[0], "您好") {
				t.Fatalf("first reply %q", got[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sent %q; want the demo's greeting, then the configured error text", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTracingExports starts tracing against a local OTLP/HTTP receiver and
// checks that a span arrives at /v1/traces when the provider shuts down.
func TestTracingExports(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type")
		w.WriteHeader(200)
	}))
	defer srv.Close()
	prev := otel.GetTracerProvider()
	defer otel.SetTracerProvider(prev)
	stop, err := StartTracing(context.Background(), config.Tracing{Endpoint: srv.URL}, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, sp := otel.Tracer("test").Start(context.Background(), "kefu.turn")
	sp.End()
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if !strings.HasPrefix(g, "POST /v1/traces application/x-protobuf") {
			t.Fatalf("got %q", g)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no span exported")
	}
}
