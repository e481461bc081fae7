package session_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/engine/session"
)

// The memory target: at most 8 KiB per session holding 20 short turns.
const memoryTarget = 8 << 10

// Realistic content: 15-character questions, 30-character answers, a few
// dozen intents and six routes.
var (
	questions = []string{
		"我的订单什么时候能发货呀？急用",
		"这个商品可以七天无理由退货吗？",
		"快递显示已签收但我没收到东西啊",
		"请问有没有优惠券可以领取一下呢",
		"衣服尺码偏大还是偏小，一米七穿",
	}
	answers = []string{
		"亲，您的订单已在今天下午打包完成，预计明天发出，发货后会短信通知您哦。",
		"支持七天无理由退货的，请在订单详情页点击申请售后，填写原因后提交即可。",
		"非常抱歉给您带来不便，我们已联系快递核实，请您留意电话，稍后回复您。",
	}
	routes = []string{"flow", "knowledge", "generative", "handoff", "fallback", "agent"}
)

// buildCache fills a map the way a cache in front of a store would: every
// session decoded from its storage encoding, so no two share text.
func buildCache(tb testing.TB, n int) map[string]*session.Session {
	cache := make(map[string]*session.Session)
	at := time.Date(2025, 6, 18, 20, 0, 0, 0, time.Local)
	for i := range n {
		id := fmt.Sprintf("s-%014x", i)
		s := &session.Session{
			ID:      id,
			UserID:  fmt.Sprintf("o6_bmjrPTlm6_2sgVt7hMZOP%06d", i), // a WeChat openid
			Channel: "wechat",
			Created: at,
			Updated: at.Add(20 * time.Minute),
			Dialog:  json.RawMessage(`{"flow":"refund","step":"ask_order"}`),
		}
		for j := range 20 {
			s.Append(session.Turn{
				ID:      fmt.Sprintf("%s-%02d", id, j),
				At:      at.Add(time.Duration(j) * time.Minute),
				Text:    questions[(i+j)%len(questions)],
				Replies: []string{answers[(i+j)%len(answers)]},
				Intent:  fmt.Sprintf("intent_%02d", (i+j)%40),
				Route:   routes[j%len(routes)],
			}, 20)
		}
		data, err := session.Encode(nil, s)
		if err != nil {
			tb.Fatal(err)
		}
		if cache[id], err = session.Decode(data); err != nil {
			tb.Fatal(err)
		}
	}
	return cache
}

// bytesPerSession is the live heap that n cached sessions hold, map included.
func bytesPerSession(tb testing.TB, n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	cache := buildCache(tb, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(cache)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// BenchmarkSessionMemory reports the heap held per cached session (100,000
// sessions of 20 turns).
func BenchmarkSessionMemory(b *testing.B) {
	var perSession float64
	for b.Loop() {
		perSession = bytesPerSession(b, 100_000)
	}
	b.ReportMetric(perSession, "bytes/session")
	if perSession > memoryTarget {
		b.Errorf("%.0f bytes/session, over the %d-byte target", perSession, memoryTarget)
	}
}

// TestSessionMemory keeps the target in `go test`, with fewer sessions.
func TestSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 2,000 sessions (seconds under -race)")
	}
	perSession := bytesPerSession(t, 2_000)
	t.Logf("%.0f bytes/session (target %d)", perSession, memoryTarget)
	if perSession > memoryTarget {
		t.Fatalf("%.0f bytes/session, over the %d-byte target", perSession, memoryTarget)
	}
}

func BenchmarkEncode(b *testing.B) {
	s := buildCache(b, 1)["s-00000000000000"]
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = session.Encode(buf[:0], s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes/op-encoded")
}

func BenchmarkDecode(b *testing.B) {
	data, _ := session.Encode(nil, buildCache(b, 1)["s-00000000000000"])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := session.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
