package web_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/kefu-chat/kefu/api"
	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/providers"
)

const chromiumPath = "/usr/bin/chromium"

// fakeEngine answers 订单 messages from a flow and everything else with a
// generated reply that it streams through req.Stream. The generated reply
// stops after its first delta until release is closed, so the test can see
// the partial text in the page.
type fakeEngine struct {
	release chan struct{}

	mu     sync.Mutex
	resets []string
	turns  []engine.Request
}

func (f *fakeEngine) Turn(ctx context.Context, req engine.Request) (*engine.Reply, error) {
	f.mu.Lock()
	f.turns = append(f.turns, req)
	f.mu.Unlock()
	if strings.Contains(req.Text, "出错") {
		return nil, errors.New("fake: the order service is down")
	}
	if strings.Contains(req.Text, "订单") {
		return &engine.Reply{
			SessionID: req.SessionID, TurnID: "t1",
			Replies: []engine.Part{{Type: "text", Text: "请提供您的订单号，我来帮您查询物流。"}},
			Route:   engine.RouteFlow, Reason: "intent",
			Intent:  engine.Intent{Name: "查询订单", Confidence: 0.93},
			Flow:    &engine.FlowRef{Name: "查订单", Step: "问订单号", Active: true},
			Timings: engine.Timings{Classify: 2 * time.Millisecond, Dialog: time.Millisecond, Total: 4 * time.Millisecond},
		}, nil
	}
	intent := &engine.Intent{Name: "退货政策", Confidence: 0.41}
	deltas := []string{"您好，", "本店支持七天无理由退货，", "请在订单页申请。"}
	if req.Stream != nil {
		req.Stream(engine.StreamEvent{Start: true, Route: engine.RouteGenerative, Intent: intent})
		for i, d := range deltas {
			req.Stream(engine.StreamEvent{Delta: d})
			if i == 0 {
				select {
				case <-f.release:
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(10 * time.Second):
					return nil, errors.New("fake: the test never released the stream")
				}
			}
		}
	}
	return &engine.Reply{
		SessionID: req.SessionID, TurnID: "t2",
		Replies: []engine.Part{{Type: "text", Text: strings.Join(deltas, "")}},
		Route:   engine.RouteGenerative, Reason: "no match",
		Intent: *intent,
		Sources: []engine.Source{
			{ID: "c1", DocID: "returns.md", Title: "七天无理由退货", Score: 0.82, Used: true},
			{ID: "c7", DocID: "shipping.md", Title: "运费说明", Score: 0.31},
		},
		Provider: "fake-llm",
		Usage:    &providers.Usage{PromptTokens: 120, CompletionTokens: 30, TotalTokens: 150},
		Timings:  engine.Timings{Retrieve: 3 * time.Millisecond, Generate: 25 * time.Millisecond, Total: 30 * time.Millisecond},
	}, nil
}

func (f *fakeEngine) SessionFor(ctx context.Context, _, id string) (*engine.SessionView, error) {
	return nil, session.ErrNotFound
}

func (f *fakeEngine) ResetFor(ctx context.Context, _, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, id)
	return nil
}

func (f *fakeEngine) Waiting(ctx context.Context) ([]session.QueueEntry, error) { return nil, nil }

func (f *fakeEngine) AgentReply(ctx context.Context, id, agent, text string) (*session.Turn, error) {
	return nil, engine.ErrNotWaiting
}

func (f *fakeEngine) Release(ctx context.Context, id string) (*session.Turn, error) {
	return nil, engine.ErrNotWaiting
}

func TestAssets(t *testing.T) {
	srv := httptest.NewServer(api.New(api.Options{Engine: &fakeEngine{}}))
	defer srv.Close()
	for path, want := range map[string]string{
		"/":                 `aria-live="polite"`,
		"/static/app.js":    "text/event-stream",
		"/static/style.css": ".trace",
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body without %q", path, res.StatusCode, want)
		}
	}
}

// TestChatPage drives the page in a headless Chromium: a flow reply, a
// streamed generated reply, the trace panel, a screenshot and a reset.
func TestChatPage(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (run scripts/install-test-deps.sh): %v", chromiumPath, err)
		}
		t.Skipf("%s is missing; install Debian's chromium to run this test", chromiumPath)
	}
	fake := &fakeEngine{release: make(chan struct{})}
	srv := httptest.NewServer(api.New(api.Options{Engine: fake}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(900, 900),
	)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	wantAll := func(what, got string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, got)
			}
		}
	}

	const first = `#messages li.msg.bot:nth-child(2)`
	const second = `#messages li.msg.bot:nth-child(4)`
	step("open the page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("text")))

	// A flow reply; Enter sends.
	step("send the first message",
		chromedp.SendKeys(chromedp.ID("text"), "我的订单到哪了"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(first+`[data-state="done"]`)))
	wantAll("first reply", text(first+" .bubble"), "请提供您的订单号")

	// A generated reply: the first delta shows before the turn is done.
	step("send the second message",
		chromedp.SendKeys(chromedp.ID("text"), "怎么退货"),
		chromedp.Click(chromedp.ID("send")),
		chromedp.Poll[chromedp.Void](`(function(){var b=document.querySelector('`+second+`[data-state="streaming"] .bubble');return b&&b.textContent==="您好，"})()`))
	close(fake.release)
	step("wait for the streamed reply", chromedp.WaitVisible(chromedp.CSS(second+`[data-state="done"]`)))
	wantAll("second reply", text(second+" .bubble"), "您好，本店支持七天无理由退货，请在订单页申请。")

	// The trace panels.
	step("open the traces",
		chromedp.Click(chromedp.CSS(first+" details.trace summary")),
		chromedp.Click(chromedp.CSS(second+" details.trace summary")),
		chromedp.WaitVisible(chromedp.CSS(second+" details.trace[open] dl")))
	wantAll("flow trace", text(first+" .trace dl"), "流程", "(flow)", "查询订单", "0.93", "查订单", "问订单号", "等待回答")
	wantAll("generative trace", text(second+" .trace dl"),
		"(generative)", "退货政策", "0.41", "✓ 七天无理由退货", "0.820", "运费说明", "0.310",
		"fake-llm", "120 + 30 = 150", "总计 30.0 ms", "generate 25.0")

	shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	file := filepath.Join(t.TempDir(), "chat.png")
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(shot)); err != nil || img.Bounds().Dx() == 0 {
		t.Fatalf("screenshot is not a non-empty PNG (%d bytes): %v", len(shot), err)
	}
	t.Logf("screenshot: %s (%d bytes)", file, len(shot))

	// A failed turn shows a polite sentence, not the internal message.
	const third = `#messages li.msg.bot:nth-child(6)`
	step("send a message that fails",
		chromedp.SendKeys(chromedp.ID("text"), "让它出错"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(third+`[data-state="error"]`)))
	got := text(third)
	wantAll("error reply", got, "抱歉", "internal")
	if strings.Contains(got, "order service") {
		t.Errorf("the error reply shows the internal message:\n%s", got)
	}

	// 新会话 deletes the session the two turns used and starts another.
	step("reset", chromedp.Click(chromedp.ID("reset")),
		chromedp.WaitNotPresent(chromedp.CSS("#messages li.msg")))
	deadline := time.Now().Add(5 * time.Second)
	for {
		fake.mu.Lock()
		resets, turns := append([]string(nil), fake.resets...), append([]engine.Request(nil), fake.turns...)
		fake.mu.Unlock()
		if len(resets) > 0 {
			if len(turns) != 3 || turns[0].SessionID != turns[1].SessionID || resets[0] != turns[0].SessionID || turns[0].Channel != "web" {
				t.Errorf("turns %+v, resets %v: want three turns in one web session, then that session reset", turns, resets)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("新会话 did not delete the session")
		}
		time.Sleep(20 * time.Millisecond)
	}
	id, err := chromedp.Run(bctx, chromedp.Evaluate[string](`localStorage.getItem("kefu.session_id")`))
	if err != nil || id == "" || id == resets0(fake) {
		t.Errorf("session id after reset = %q, %v; want a new one", id, err)
	}
}

func resets0(f *fakeEngine) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resets[0]
}
