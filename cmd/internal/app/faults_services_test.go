package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/cmd/internal/faulttest"
	"github.com/kefu-chat/kefu/engine"
)

// TestFaultServices serves flows that call business services which are
// down (connection refused), slow (past the call's timeout) or failing
// (5xx, some with Retry-After), beside one that works, and sends turns to
// all of them from several clients at once. Every turn to a broken service
// must take its flow's `on error` branch and say its text, within the
// call's attempts and backoff plus slack; the working one must answer
// from its data; nothing may leak goroutines.
func TestFaultServices(t *testing.T) {
	checkGoroutines(t)
	demoRuntime(t)

	const (
		callTimeout = time.Second
		retries     = 1
	)
	var slowHits, failHits, okHits atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowHits.Add(1)
		select { // far past the call's timeout, until the caller gives up
		case <-time.After(time.Minute):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failHits.Add(1)%2 == 0 {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"maintenance"}`))
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	working := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		okHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"状态":"已发货"}`))
	}))
	t.Cleanup(working.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() // nothing listens there once closed
	l.Close()

	type svcCase struct {
		keyword, service, url string
		errText               string // the on error branch's text; "" for the working service
		hits                  *atomic.Int64
	}
	cases := []svcCase{
		{keyword: "查停机", service: "停机服务", url: down, errText: "停机服务暂时不可用，订单 %s 请稍后再查。"},
		{keyword: "查慢单", service: "慢服务", url: slow.URL, errText: "慢服务超时了，订单 %s 请稍后再查。", hits: &slowHits},
		{keyword: "查故障", service: "故障服务", url: failing.URL, errText: "故障服务出错了，订单 %s 请稍后再查。", hits: &failHits},
		{keyword: "查正常", service: "正常服务", url: working.URL, hits: &okHits},
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "flows"), 0o755)
	var flows, services strings.Builder
	for _, c := range cases {
		errText := c.errText
		if errText == "" {
			errText = "不该出错：%s"
		}
		fmt.Fprintf(&flows, `flow %[1]s
  on "%[1]s"
  slot 订单号: order_id ask "请问订单号是多少？"
  call %[2]s.查询(订单号) -> 订单 timeout %[3]s
  on error
    say "%[4]s"
    end
  say "订单 {订单号} 的状态：{订单.状态}"

`, c.keyword, c.service, callTimeout, fmt.Sprintf(errText, "{订单号}"))
		fmt.Fprintf(&services, "  %s:\n    base_url: %s\n    timeout: 5s\n    retries: %d\n    operations: {查询: {method: GET, path: \"/orders/{订单号}\"}}\n",
			c.service, c.url, retries)
	}
	os.WriteFile(filepath.Join(dir, "flows", "calls.kefu"), []byte(flows.String()), 0o644)
	cfgPath := filepath.Join(dir, "kefu.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
server: {request_timeout: %s}
models:
  intent: {path: %s}
flows: ["flows/*.kefu"]
sessions: {path: %s, fsync: false}
services:
%s`, faultDeadline, filepath.Join(filepath.Dir(demoConfig), "model"), filepath.Join(dir, "s.db"), services.String())), 0o644)
	_, srv, client := serveFile(t, cfgPath)

	// A call makes 1+retries attempts of at most callTimeout each, with a
	// backoff (at most 2s) or a Retry-After (1s here) between them.
	bound := time.Duration(retries+1)*callTimeout + 2*time.Second + faultSlack
	// Each service gets clients of its own, blocking and streaming, so a
	// slow one does not hold back the turns of the others.
	workers := len(cases) * faulttest.Count(2, 4)
	end := time.Now().Add(faulttest.Duration(3*time.Second, 30*time.Second))
	var mu sync.Mutex
	var bad []string
	turns := map[string]int{}
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				c := cases[w%len(cases)]
				order := fmt.Sprintf("A20241122%05d", w*1000+i)
				tr := chatTurn(context.Background(), client, srv.URL, fmt.Sprintf("svc-%d-%d", w, i%3), c.keyword+" "+order, w/len(cases)%2 == 1)
				var why string
				r := tr.reply
				want := fmt.Sprintf("订单 %s 的状态：已发货", order)
				if c.errText != "" {
					want = fmt.Sprintf(c.errText, order)
				}
				switch {
				case tr.err != nil || tr.status != http.StatusOK:
					why = fmt.Sprintf("status %d: %v", tr.status, tr.err)
				case tr.elapsed > bound:
					why = fmt.Sprintf("took longer than %v", bound)
				case r.Route != engine.RouteFlow || r.text() != want:
					why = fmt.Sprintf("route %q (%s) said %q, want %q", r.Route, r.Reason, r.text(), want)
				case len(r.Calls) != 1 || r.Calls[0].Service != c.service || r.Calls[0].OK != (c.errText == ""):
					why = fmt.Sprintf("calls %+v", r.Calls)
				case tr.stream && tr.deltas != want:
					why = fmt.Sprintf("streamed %q", tr.deltas)
				}
				mu.Lock()
				turns[c.service]++
				if why != "" {
					bad = append(bad, fmt.Sprintf("%s turn %d of client %d after %v: %s", c.service, i, w, tr.elapsed.Round(time.Millisecond), why))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%v turns in %v", turns, time.Since(t0).Round(time.Millisecond))
	if len(bad) > 0 {
		sort.Strings(bad)
		if len(bad) > 10 {
			bad = append(bad[:10], fmt.Sprintf("… and %d more", len(bad)-10))
		}
		t.Errorf("%d turns wrong:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	for _, c := range cases {
		if turns[c.service] == 0 {
			t.Errorf("no turn called %s", c.service)
		}
		if c.hits != nil && c.errText != "" && c.hits.Load() < int64(turns[c.service]*(retries+1)) {
			t.Errorf("%s: %d requests for %d turns of %d attempts", c.service, c.hits.Load(), turns[c.service], retries+1)
		}
	}
}
