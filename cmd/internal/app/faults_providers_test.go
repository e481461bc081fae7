package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/cmd/internal/faulttest"
	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/providers/dify/difytest"
	"github.com/kefu-chat/kefu/providers/openai/openaitest"
)

// The fault suite's turn deadline (server.request_timeout) and the slack a
// reply may take beyond it on a busy machine.
const (
	faultDeadline = 8 * time.Second
	faultSlack    = 3 * time.Second
)

// providerPhase is one stretch of TestFaultProviders: what the primary
// upstream does, and what every turn of the stretch must show.
type providerPhase struct {
	name string
	// fault is the primary's behaviour for one request; nil answers.
	fault func(stream bool) *openaitest.Fault
	// failover: the primary fails before its first token, so every turn
	// is answered by the secondary.
	failover bool
	// kind is the error kind the primary's failed attempts record.
	kind string
	// breaker: the primary's breaker opens during the phase; the phase is
	// followed by a recovery that waits for it to close.
	breaker bool
	// partial: a stream may end early with the primary's first chunks (a
	// stream never fails over after its first token).
	partial bool
	// hangUp: clients give up after this long; their turns are not
	// checked, only the others.
	hangUp time.Duration
	// norecover: the next phase starts with the breaker as this one left it.
	norecover bool
	// longer phases run twice as long: their first turns take a whole
	// provider timeout.
	longer bool
}

// TestFaultProviders serves a bot whose every message falls to the
// generative fallback, over a route of two providers (an OpenAI-compatible
// primary with a breaker, a Dify secondary), and drives blocking and
// streaming turns from several clients while the primary hangs, fails with
// 5xx and 429 storms, cuts its replies, sends malformed frames and slow
// first tokens. Every turn must answer 200 within the request deadline,
// from the provider the phase allows; failover must show in the turn's
// attempts; the breaker must open during each burst and close after it;
// and nothing may leak goroutines.
func TestFaultProviders(t *testing.T) {
	checkGoroutines(t)
	demoRuntime(t)

	var fault atomic.Pointer[providerPhase]
	primary := openaitest.New(t, openaitest.Config{
		Reply: func(r openaitest.ChatRequest) string { return "主：" + r.LastUser() },
		Script: func(n int, r openaitest.ChatRequest) *openaitest.Fault {
			if ph := fault.Load(); ph != nil && ph.fault != nil {
				return ph.fault(r.Stream)
			}
			return nil
		},
	})
	secondary := difytest.New(t, "app-secondary")
	secondary.Answer = func(c difytest.Call) string { return "备：" + c.Query }

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "flows"), 0o755)
	os.WriteFile(filepath.Join(dir, "flows", "rules.kefu"), []byte("when \"你好\" then say \"您好\"\n"), 0o644)
	cfgPath := filepath.Join(dir, "kefu.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
server: {request_timeout: %s}
models:
  intent: {path: %s}
flows: ["flows/*.kefu"]
sessions: {path: %s, fsync: false}
providers:
  primary:
    type: openai
    base_url: %s
    api_key: sk-primary
    model: m
    timeout: 1s
    retries: 1
    breaker: {failures: 3, window: 30s, cooldown: 500ms}
  secondary:
    type: dify
    base_url: %s
    api_key: app-secondary
    timeout: 5s
routes:
  default: {providers: [primary, secondary]}
generate: {route: default, on_failure: fallback, max_tokens: 64}
`, faultDeadline, filepath.Join(filepath.Dir(demoConfig), "model"), filepath.Join(dir, "s.db"), primary.URL, secondary.URL)), 0o644)
	_, srv, client := serveFile(t, cfgPath)

	garbage := "event: nonsense\n: a comment\ngarbage without a field\n"
	phases := []providerPhase{
		{name: "healthy"},
		{name: "slow first token", fault: func(bool) *openaitest.Fault { return &openaitest.Fault{Delay: 200 * time.Millisecond} }},
		{name: "timeouts", kind: "timeout", failover: true, breaker: true, norecover: true, longer: true,
			fault: func(bool) *openaitest.Fault { f := openaitest.Hang(); return &f }},
		// Clients hang up while the primary hangs: the breaker's half-open
		// trials are cancelled, which must not keep it from closing later.
		{name: "hang-ups", kind: "canceled", breaker: true, hangUp: 400 * time.Millisecond,
			fault: func(bool) *openaitest.Fault { f := openaitest.Hang(); return &f }},
		{name: "5xx burst", kind: "unavailable", failover: true, breaker: true,
			fault: func(bool) *openaitest.Fault { f := openaitest.ServerError(); return &f }},
		// Retry-After beyond the turn's deadline: waiting for it would
		// spend the whole turn; the route moves on instead.
		{name: "429 storm", kind: "rate_limit", failover: true, breaker: true,
			fault: func(bool) *openaitest.Fault { f := openaitest.RateLimited("30"); return &f }},
		{name: "truncated", kind: "unavailable", failover: true, breaker: true,
			fault: func(stream bool) *openaitest.Fault {
				if stream {
					return &openaitest.Fault{Disconnect: true} // before the first token
				}
				return &openaitest.Fault{Truncate: true}
			}},
		{name: "malformed", kind: "unavailable", failover: true, breaker: true,
			fault: func(stream bool) *openaitest.Fault {
				if stream {
					return &openaitest.Fault{Malformed: garbage + "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": oops\n\n"}
				}
				return &openaitest.Fault{Raw: []byte(`{"id": "chatcmpl-1", "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"` + "\x00garbage")}
			}},
		// Garbage lines that are no data frame are skipped by the SSE
		// reader: the primary still answers.
		{name: "garbage frames", fault: func(stream bool) *openaitest.Fault {
			if stream {
				return &openaitest.Fault{Malformed: garbage, AfterChunks: 1}
			}
			return nil
		}},
		{name: "cut mid-stream", kind: "unavailable", partial: true, breaker: true,
			fault: func(stream bool) *openaitest.Fault {
				if stream {
					return &openaitest.Fault{Disconnect: true, AfterChunks: 1}
				}
				return &openaitest.Fault{Truncate: true}
			}},
	}

	phaseLen := faulttest.Duration(time.Second, 10*time.Second)
	workers := faulttest.Count(6, 16)
	start := time.Now()
	for _, ph := range phases {
		fault.Store(&ph)
		before := scrape(t, client, srv.URL)
		t0 := time.Now()
		d := phaseLen
		if ph.longer {
			d *= 2
		}
		turns := driveTurns(client, srv.URL, ph.name, workers, d, ph.hangUp)
		after := scrape(t, client, srv.URL)
		checkProviderPhase(t, ph, turns, before, after)
		t.Logf("%s: %d turns in %v", ph.name, len(turns), time.Since(t0).Round(time.Millisecond))
		if ph.breaker && !ph.norecover {
			fault.Store(&providerPhase{name: "recovery"})
			recoverPrimary(t, client, srv.URL, ph.name)
		}
	}
	t.Logf("all phases: %v", time.Since(start).Round(time.Millisecond))
	if primary.Active() != 0 {
		t.Errorf("%d requests still open at the primary", primary.Active())
	}
}

// faultTurn is one turn as a client saw it.
type faultTurn struct {
	stream  bool
	text    string // what the client sent
	status  int
	err     error // the client's own error (a hang-up), or a broken response
	elapsed time.Duration
	reply   faultReply
	deltas  string // streamed text, concatenated
	events  []string
}

// faultReply is the part of engine.Reply the suite checks.
type faultReply struct {
	Route    string `json:"route"`
	Reason   string `json:"reason"`
	Provider string `json:"provider"`
	Replies  []struct {
		Text string `json:"text"`
	} `json:"replies"`
	Attempts []struct {
		Provider string `json:"provider"`
		Kind     string `json:"kind"`
		Skipped  string `json:"skipped"`
	} `json:"attempts"`
	Calls []engine.ServiceCall `json:"calls"`
}

func (r faultReply) text() string {
	var parts []string
	for _, p := range r.Replies {
		parts = append(parts, p.Text)
	}
	return strings.Join(parts, "\n")
}

// driveTurns sends turns from workers clients for d (odd clients stream)
// and returns every turn once all have finished. hangUp > 0 makes clients
// give up on a turn after that long. Each client keeps to its own
// sessions, so no turn waits for another's session lock.
func driveTurns(c *http.Client, base, phase string, workers int, d, hangUp time.Duration) []faultTurn {
	var mu sync.Mutex
	var out []faultTurn
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if hangUp > 0 {
					ctx, cancel = context.WithTimeout(ctx, hangUp)
				}
				session := fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(phase, " ", "_"), w, i%3)
				text := fmt.Sprintf("帮我写一首关于秋天的诗（%d-%d）", w, i)
				tr := chatTurn(ctx, c, base, session, text, w%2 == 1)
				cancel()
				mu.Lock()
				out = append(out, tr)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// chatTurn posts one turn to /v1/chat, blocking or streaming.
func chatTurn(ctx context.Context, c *http.Client, base, session, text string, stream bool) (tr faultTurn) {
	tr = faultTurn{stream: stream, text: text}
	body, _ := json.Marshal(map[string]string{"session_id": session, "text": text})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	t0 := time.Now()
	defer func() { tr.elapsed = time.Since(t0) }()
	resp, err := c.Do(req)
	if err != nil {
		tr.err = err
		return tr
	}
	defer resp.Body.Close()
	tr.status = resp.StatusCode
	if !stream || resp.StatusCode != http.StatusOK {
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			tr.err = err
		} else if resp.StatusCode == http.StatusOK {
			tr.err = json.Unmarshal(data, &tr.reply)
		} else {
			tr.err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
		}
		return tr
	}
	// Server-sent events: "event: NAME" then "data: JSON", blank-line ended.
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
			tr.events = append(tr.events, event)
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			switch event {
			case "delta":
				var d struct {
					Text string `json:"text"`
				}
				json.Unmarshal(data, &d)
				tr.deltas += d.Text
			case "done":
				if err := json.Unmarshal(data, &tr.reply); err != nil {
					tr.err = err
				}
			case "error":
				tr.err = fmt.Errorf("error event: %s", data)
			}
		}
	}
	if err := sc.Err(); err != nil && tr.err == nil {
		tr.err = err
	}
	if tr.err == nil && (len(tr.events) == 0 || tr.events[len(tr.events)-1] != "done") {
		tr.err = fmt.Errorf("stream did not end with done: events %v", tr.events)
	}
	return tr
}

// checkProviderPhase checks every turn of a phase, and the metrics the
// phase moved.
func checkProviderPhase(t *testing.T, ph providerPhase, turns []faultTurn, before, after map[string]float64) {
	t.Helper()
	if len(turns) < 4 {
		t.Errorf("%s: only %d turns", ph.name, len(turns))
	}
	var bad []string
	failedFirst, skipped, answered := 0, 0, 0
	for _, tr := range turns {
		fail := func(format string, args ...any) {
			mode := "blocking"
			if tr.stream {
				mode = "stream"
			}
			bad = append(bad, fmt.Sprintf("%s turn %q after %v: %s", mode, tr.text, tr.elapsed.Round(time.Millisecond), fmt.Sprintf(format, args...)))
		}
		if ph.hangUp > 0 && tr.err != nil && tr.status == 0 {
			continue // the client gave up, as the phase has it do
		}
		if tr.elapsed > faultDeadline+faultSlack {
			fail("took longer than the deadline %v plus %v", faultDeadline, faultSlack)
		}
		if tr.err != nil || tr.status != http.StatusOK {
			fail("status %d: %v", tr.status, tr.err)
			continue
		}
		answered++
		r := tr.reply
		got := r.text()
		wantPrimary, wantSecondary := "主："+tr.text, "备："+tr.text
		if tr.stream && tr.deltas != got {
			fail("streamed %q but the reply says %q", tr.deltas, got)
		}
		if r.Route != engine.RouteGenerative {
			fail("route %q (%s), want generative: %q", r.Route, r.Reason, got)
			continue
		}
		if n := len(r.Attempts); n == 0 || r.Attempts[n-1].Provider != r.Provider || r.Attempts[n-1].Kind != "" || r.Attempts[n-1].Skipped != "" {
			fail("the last attempt is not the answering provider %q: %+v", r.Provider, r.Attempts)
		}
		for _, at := range r.Attempts {
			if at.Provider == "primary" && at.Kind == ph.kind && ph.kind != "" {
				failedFirst++
			}
			if at.Provider == "primary" && at.Skipped == "breaker open" {
				skipped++
			}
		}
		switch {
		case r.Provider == "primary" && got == wantPrimary:
			if ph.failover {
				fail("answered by the failing primary: %+v", r.Attempts)
			}
		case r.Provider == "primary" && ph.partial && tr.stream && got != "" && strings.HasPrefix(wantPrimary, got):
			// Cut after its first token: the answer ends where it stopped.
		case r.Provider == "secondary" && got == wantSecondary:
			if ph.kind == "" {
				fail("failed over while the primary works: %+v", r.Attempts)
			}
			if r.Attempts[0].Provider != "primary" || (r.Attempts[0].Kind == "" && r.Attempts[0].Skipped == "") {
				fail("the secondary answered without a failed or skipped primary first: %+v", r.Attempts)
			}
		default:
			fail("provider %q said %q", r.Provider, got)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		if len(bad) > 10 {
			bad = append(bad[:10], fmt.Sprintf("… and %d more", len(bad)-10))
		}
		t.Errorf("%s: %d of %d turns wrong:\n%s", ph.name, len(bad), len(turns), strings.Join(bad, "\n"))
	}
	if ph.hangUp > 0 && answered == 0 {
		t.Errorf("%s: no turn answered before its client gave up", ph.name)
	}
	delta := func(k string) float64 { return after[k] - before[k] }
	failures := delta(`kefu_provider_requests_total{kind="` + ph.kind + `",provider="primary"}`)
	state := after[`kefu_provider_breaker_state{provider="primary"}`]
	switch {
	case ph.kind == "":
		if n := delta(`kefu_provider_requests_total{kind="ok",provider="primary"}`); n < float64(len(turns)) {
			t.Errorf("%s: %v primary successes in the metrics for %d turns", ph.name, n, len(turns))
		}
		if state != 0 {
			t.Errorf("%s: breaker state %v, want closed", ph.name, state)
		}
	default:
		if failures == 0 {
			t.Errorf("%s: no %s failure of the primary in the metrics", ph.name, ph.kind)
		}
		if ph.failover && failedFirst == 0 {
			t.Errorf("%s: no turn shows a %s attempt at the primary before the secondary", ph.name, ph.kind)
		}
	}
	if ph.breaker {
		if state == 0 {
			t.Errorf("%s: breaker state closed at the end of the burst", ph.name)
		}
		if skipped == 0 {
			t.Errorf("%s: no turn skipped the primary with its breaker open", ph.name)
		}
	}
}

// recoverPrimary sends turns until the primary answers one again, its
// breaker's cooldown over, and checks the breaker reads closed.
func recoverPrimary(t *testing.T, c *http.Client, base, after string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		tr := chatTurn(context.Background(), c, base, "recovery", fmt.Sprintf("恢复了吗（%d）", i), i%2 == 1)
		if tr.err != nil || tr.status != http.StatusOK || tr.reply.Route != engine.RouteGenerative {
			t.Fatalf("after %s, recovery turn: %d %v %+v", after, tr.status, tr.err, tr.reply)
		}
		if tr.reply.Provider == "primary" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: the primary's breaker did not close within 15s; last attempts %+v", after, tr.reply.Attempts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s := scrape(t, c, base)[`kefu_provider_breaker_state{provider="primary"}`]; s != 0 {
		t.Fatalf("after %s: the primary answered but its breaker state is %v", after, s)
	}
}

// scrape reads /metrics into series → value, a series written as in the
// exposition format (labels sorted by name).
func scrape(t *testing.T, c *http.Client, base string) map[string]float64 {
	t.Helper()
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// checkGoroutines records the goroutines running now and, when the test
// and its cleanups registered after this call have finished, checks that
// no more are left (a few may linger briefly; it waits for them). Call it
// first, so its check runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	const tolerance = 3
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		deadline := time.Now().Add(10 * time.Second)
		n := runtime.NumGoroutine()
		for n > before+tolerance && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			http.DefaultTransport.(*http.Transport).CloseIdleConnections()
			n = runtime.NumGoroutine()
		}
		if n > before+tolerance {
			buf := make([]byte, 4<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines leaked: %d before, %d after:\n%s", before, n, buf)
		}
	})
}
