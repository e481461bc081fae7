package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/cmd/internal/faulttest"
	"github.com/kefu-chat/kefu/engine/session/redistest"
)

// The load-and-fault suite at the level of the real binary: kefu serve is
// killed with SIGKILL mid-load, or its Redis is, and what was acknowledged
// must be there afterwards.

// faultTexts is the load's mix: flows, knowledge questions, small talk.
var faultTexts = []string{"你好", "我要退货", "运费怎么算", "我的快递到哪了", "可以开发票吗", "谢谢", "你们几点下班", "退款多久到账"}

// turnsPerSession stays under the demo bot's memory (20 turns), so every
// acknowledged turn must still be in its session.
const turnsPerSession = 10

// load sends turns from workers until stop is closed, spreading them over
// fresh sessions, and remembers every acknowledged (200) turn.
type load struct {
	base   func() string // the server's address; it changes on restart
	client *http.Client

	mu     sync.Mutex
	acked  map[string][]string // session → acknowledged turn ids, in order
	codes  map[int]int         // status → count; -1 for transport errors
	errs   map[string]int      // error code of non-200 replies → count
	slow   time.Duration       // slowest non-200 answer
	slowOK time.Duration       // slowest 200 answer
	totalN int
}

func newLoad(base func() string) *load {
	return &load{base: base, client: &http.Client{Timeout: 20 * time.Second},
		acked: map[string][]string{}, codes: map[int]int{}, errs: map[string]int{}}
}

func (l *load) run(ctx context.Context, workers int, prefix string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("%s-%d-%d", prefix, w, i/turnsPerSession)
				l.turn(id, faultTexts[(w+i)%len(faultTexts)])
			}
		}()
	}
	return &wg
}

func (l *load) turn(session, text string) {
	body := fmt.Sprintf(`{"session_id":%q,"text":%q}`, session, text)
	t0 := time.Now()
	resp, err := l.client.Post(l.base()+"/v1/chat", "application/json", strings.NewReader(body))
	took := time.Since(t0)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.totalN++
	if err != nil {
		l.codes[-1]++
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	l.codes[resp.StatusCode]++
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error struct{ Code string } }
		json.Unmarshal(data, &e)
		l.errs[e.Error.Code]++
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			l.errs["503 without Retry-After"]++
		}
		l.slow = max(l.slow, took)
		return
	}
	l.slowOK = max(l.slowOK, took)
	var r chatReply
	if json.Unmarshal(data, &r) == nil && r.TurnID != "" {
		l.acked[session] = append(l.acked[session], r.TurnID)
	}
}

func (l *load) ok() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.codes[200]
}

// verify checks that every acknowledged turn is in its session, in order.
func (l *load) verify(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	turns := 0
	for id, want := range l.acked {
		resp, err := http.Get(l.base() + "/v1/sessions/" + id)
		if err != nil {
			t.Fatal(err)
		}
		var view struct{ Turns []struct{ ID string } }
		json.NewDecoder(resp.Body).Decode(&view)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("session %s: status %d; %d acknowledged turns lost", id, resp.StatusCode, len(want))
			continue
		}
		have := map[string]bool{}
		for _, tr := range view.Turns {
			have[tr.ID] = true
		}
		for _, tid := range want {
			if !have[tid] {
				t.Errorf("session %s: acknowledged turn %s lost (session has %d turns)", id, tid, len(view.Turns))
			}
		}
		turns += len(want)
	}
	t.Logf("%d acknowledged turns in %d sessions all present; %d turns sent, statuses %v, error codes %v",
		turns, len(l.acked), l.totalN, l.codes, l.errs)
}

// TestFaultKill9 kills kefu serve with SIGKILL while turns and knowledge
// uploads run, restarts it on the same files, and checks that every
// acknowledged turn is in its session, every acknowledged document is in
// the knowledge store, and the stores open cleanly.
func TestFaultKill9(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	cfg := demoConfig(t, dir)
	var mu sync.Mutex
	s := startServer(t, "--config", cfg)
	base := func() string { mu.Lock(); defer mu.Unlock(); return s.base }
	l := newLoad(base)
	rounds := faulttest.Count(2, 5)
	var docs []string
	for round := range rounds {
		ctx, cancel := context.WithCancel(context.Background())
		wg := l.run(ctx, 6, fmt.Sprintf("k%d", round))
		// Documents uploaded during the load.
		docDone := make(chan struct{})
		go func() {
			defer close(docDone)
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("notice-%d-%d.md", round, i)
				body := fmt.Sprintf(`{"id":%q,"content":"# 通知 %d-%d\n\n第 %d 批商品的发货安排。"}`, id, round, i, i)
				resp, err := http.Post(base()+"/v1/knowledge/documents", "application/json", strings.NewReader(body))
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					docs = append(docs, id)
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		time.Sleep(faulttest.Duration(1500*time.Millisecond, 5*time.Second))
		if l.ok() == 0 {
			t.Fatal("no turn succeeded before the kill")
		}
		s.cmd.Process.Signal(syscall.SIGKILL)
		s.cmd.Wait()
		<-s.done
		cancel()
		wg.Wait()
		<-docDone
		next := startServer(t, "--config", cfg)
		mu.Lock()
		s = next
		mu.Unlock()
		if strings.Contains(s.logs.String(), "level=ERROR") {
			t.Errorf("errors after restart:\n%s", s.logs.String())
		}
	}
	l.verify(t)
	// Every acknowledged document is in the store.
	resp, err := http.Get(base() + "/v1/knowledge/documents")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mu.Lock()
	for _, id := range docs {
		if !strings.Contains(string(data), `"`+id+`"`) {
			t.Errorf("acknowledged document %s lost", id)
		}
	}
	t.Logf("%d acknowledged documents present after %d kills", len(docs), rounds)
	mu.Unlock()
	// And the server still answers.
	var r chatReply
	if code := postJSON(t, base()+"/v1/chat", `{"session_id":"after","text":"你好"}`, &r); code != 200 {
		t.Fatalf("after restarts: %d", code)
	}
	s.stop(t)
}

// TestFaultRedisRestart serves with the Redis session store, kills Redis
// (SIGKILL) mid-load and starts it again. While it is down, turns fail fast
// with 503 unavailable; they recover by themselves once it is back, and
// every acknowledged turn is in its session. Redis runs with appendfsync
// always, as the README asks of production.
func TestFaultRedisRestart(t *testing.T) {
	needRuntime(t)
	rs := redistest.NewServer(t, "--appendonly", "yes", "--appendfsync", "always")
	dir := t.TempDir()
	cfg := demoConfig(t, dir)
	data, _ := os.ReadFile(cfg)
	text := strings.Replace(string(data), "  store: embedded            # or redis",
		"  redis: {addr: \""+rs.Addr+"\"}\n  store: redis            # or redis", 1)
	if text == string(data) {
		t.Fatal("demo kefu.yaml changed shape; update TestFaultRedisRestart")
	}
	os.WriteFile(cfg, []byte(text), 0o644)
	s := startServer(t, "--config", cfg)
	l := newLoad(func() string { return s.base })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wg := l.run(ctx, 6, "r")
	outages := faulttest.Count(1, 3)
	for range outages {
		time.Sleep(faulttest.Duration(time.Second, 3*time.Second))
		before := l.ok()
		rs.Stop()
		// Longer than the client's 1s read timeout and its retries, or
		// every turn in flight may simply wait the outage out.
		time.Sleep(faulttest.Duration(2*time.Second, 3*time.Second))
		rs.Restart()
		// Recovery: turns succeed again within a few seconds.
		deadline := time.Now().Add(10 * time.Second)
		for l.ok() < before+20 {
			if time.Now().After(deadline) {
				t.Fatalf("no recovery 10s after Redis came back: %d ok before the outage, %d now", before, l.ok())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()

	l.mu.Lock()
	if l.codes[503] == 0 {
		t.Errorf("no turn saw the outage: %v", l.codes)
	}
	for code, n := range l.codes {
		if code != 200 && code != 503 {
			t.Errorf("%d turns answered %d; want 200 or 503 unavailable", n, code)
		}
	}
	for code := range l.errs {
		if code != "unavailable" {
			t.Errorf("error code %q during the outage; want unavailable", code)
		}
	}
	if l.slow > 5*time.Second {
		t.Errorf("a failed turn took %v; an outage must fail fast", l.slow)
	}
	t.Logf("slowest failed turn %v, slowest acknowledged turn %v", l.slow, l.slowOK)
	l.mu.Unlock()
	l.verify(t)
	s.stop(t)
}
