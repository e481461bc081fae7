// Package loadgen drives a kefu server over HTTP with a closed-loop mix of
// scripted customer conversations and records latency by route, errors and
// the per-stage timings the server reports with each reply.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Stages are the per-stage timings of a reply, in the order they run.
var Stages = []string{"normalize", "classify", "entities", "lock", "dialog", "retrieve", "generate", "services", "save"}

// Script is a mini-conversation played on one session.
type Script struct {
	Name  string
	Turns []string
	// Reset deletes the session afterwards (after a handoff the session
	// waits for an agent; a reset lets it go on).
	Reset  bool
	Weight int
	// Pool, when set, replaces Turns: each play draws 1..Draw turns from it.
	Pool []string
	Draw int
}

// DemoScripts is the demo bot's mix: flows with slot filling, knowledge
// questions (from queries, or a few built in), greetings and handoffs.
func DemoScripts(queries []string) []Script {
	if len(queries) == 0 {
		queries = []string{"你们一般发什么快递", "退货运费谁出", "可以开专票吗", "优惠券怎么用", "多久能发货"}
	}
	s := []Script{
		{Name: "return", Weight: 6, Turns: []string{"我要退货", "A2024112200003", "尺码不合适"}},
		{Name: "exchange", Weight: 3, Turns: []string{"我要换货", "A2024112200003", "尺码不合适", "换成 XL 码"}},
		{Name: "logistics-ask", Weight: 5, Turns: []string{"我的快递到哪了", "A2024112200001"}},
		{Name: "logistics-direct", Weight: 4, Turns: []string{"查快递 A2024112200006"}},
		{Name: "cancel", Weight: 3, Turns: []string{"不想要了帮我取消订单", "A2024112200002"}},
		{Name: "invoice", Weight: 2, Turns: []string{"我要开发票，订单A2024112200003", "杭州小店科技有限公司", "finance@xiaodian.com"}},
		{Name: "greeting", Weight: 8, Turns: []string{"你好", "太感谢了", "没事了，拜拜"}},
		{Name: "smalltalk", Weight: 2, Turns: []string{"你是谁"}},
		{Name: "handoff", Weight: 4, Turns: []string{"转人工"}, Reset: true},
		// Beyond flows and the help centre: the generative fallback's, when
		// a provider is configured.
		{Name: "open", Weight: 3, Pool: []string{"帮我写一句送给妈妈的生日祝福", "买给男朋友的礼物有什么推荐吗",
			"今天心情不太好，能陪我聊两句吗", "用一句话介绍一下你们店吧", "下雨天穿什么鞋子比较好"}, Draw: 1},
	}
	// Knowledge questions: one or two per play, drawn from queries.
	return append(s, Script{Name: "knowledge", Weight: 30, Pool: queries, Draw: 2})
}

// LoadQueries reads the "query" field of a JSONL file, keeping at most n
// spread evenly over the file (n <= 0: all).
func LoadQueries(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var all []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(sc.Bytes(), &q) == nil && strings.TrimSpace(q.Query) != "" {
			all = append(all, q.Query)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if n <= 0 || len(all) <= n {
		return all, nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, all[i*len(all)/n])
	}
	return out, nil
}

// Config is a load run.
type Config struct {
	URL         string        // base URL of the server, e.g. http://127.0.0.1:8080
	Concurrency int           // workers, each one turn in flight
	Duration    time.Duration // how long workers start new turns
	Sessions    int           // sessions the turns are spread over
	Scripts     []Script
	Client      *http.Client // nil: one with a pool sized for Concurrency
	Seed        uint64
	Prefix      string // session id prefix; "" picks one from the clock
	// Think is the mean pause before each message, as a customer reads and
	// types (exponentially distributed, at most 5×): Concurrency workers
	// are then that many customers chatting at once. 0 sends at once, and
	// each worker is a closed loop whose latency includes queueing.
	Think time.Duration
}

// Result is what a run measured.
type Result struct {
	Turns           int
	Errors          int
	ErrorSamples    []string // up to 5
	Elapsed         time.Duration
	SessionsTouched int
	Latencies       []time.Duration            // every turn, sorted after Run
	ByRoute         map[string][]time.Duration // sorted after Run
	StageMS         map[string]float64         // sum over turns
	TotalMS         float64                    // sum of timings.total_ms
}

// Run plays scripts against cfg.URL until cfg.Duration has passed.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Concurrency <= 0 || cfg.Sessions <= 0 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("loadgen: concurrency, sessions and duration must be positive")
	}
	if len(cfg.Scripts) == 0 {
		cfg.Scripts = DemoScripts(nil)
	}
	client := cfg.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = cfg.Concurrency * 2
		tr.MaxIdleConnsPerHost = cfg.Concurrency * 2
		client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
		defer tr.CloseIdleConnections()
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = fmt.Sprintf("bench-%x", time.Now().UnixNano())
	}
	total := 0
	for _, s := range cfg.Scripts {
		total += max(s.Weight, 1)
	}
	// A session is played by one worker at a time: workers take a free
	// one from the pool and give it back after the script.
	pool := make(chan int, cfg.Sessions)
	for i := range cfg.Sessions {
		pool <- i
	}
	touched := make([]bool, cfg.Sessions)
	res := &Result{ByRoute: map[string][]time.Duration{}, StageMS: map[string]float64{}}
	var mu sync.Mutex
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(30*time.Second))
	defer cancel()

	record := func(lat time.Duration, rep *reply, err error) {
		mu.Lock()
		defer mu.Unlock()
		res.Turns++
		res.Latencies = append(res.Latencies, lat)
		if err != nil {
			res.Errors++
			if len(res.ErrorSamples) < 5 {
				res.ErrorSamples = append(res.ErrorSamples, err.Error())
			}
			return
		}
		res.ByRoute[rep.Route] = append(res.ByRoute[rep.Route], lat)
		for _, s := range Stages {
			res.StageMS[s] += rep.Timings[s+"_ms"]
		}
		res.TotalMS += rep.Timings["total_ms"]
	}

	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)+1))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				var sess int
				select {
				case sess = <-pool:
				case <-ctx.Done():
					return
				}
				mu.Lock()
				touched[sess] = true
				mu.Unlock()
				id := fmt.Sprintf("%s-%d", prefix, sess)
				sc := pick(cfg.Scripts, total, rng)
				turns := sc.Turns
				if len(sc.Pool) > 0 {
					turns = nil
					for range 1 + rng.IntN(max(sc.Draw, 1)) {
						turns = append(turns, sc.Pool[rng.IntN(len(sc.Pool))])
					}
				}
				reset, sent := sc.Reset, 0
				for _, text := range turns {
					if cfg.Think > 0 {
						d := time.Duration(min(rng.ExpFloat64(), 5) * float64(cfg.Think))
						select {
						case <-time.After(d):
						case <-ctx.Done():
						}
					}
					if !time.Now().Before(deadline) {
						break
					}
					t := time.Now()
					sent++
					rep, err := chat(ctx, client, cfg.URL, id, text)
					record(time.Since(t), rep, err)
					if err == nil && rep.Handoff {
						// Any handoff (asked for, or after repeated
						// misunderstandings) parks the session with an
						// agent: reset it so it can go on.
						reset = true
						break
					}
				}
				if reset && sent > 0 {
					if err := deleteSession(ctx, client, cfg.URL, id); err != nil {
						mu.Lock()
						res.Errors++
						if len(res.ErrorSamples) < 5 {
							res.ErrorSamples = append(res.ErrorSamples, err.Error())
						}
						mu.Unlock()
					}
				}
				pool <- sess
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	for _, t := range touched {
		if t {
			res.SessionsTouched++
		}
	}
	slices.Sort(res.Latencies)
	for _, l := range res.ByRoute {
		slices.Sort(l)
	}
	return res, nil
}

func pick(s []Script, total int, rng *rand.Rand) Script {
	n := rng.IntN(total)
	for _, sc := range s {
		n -= max(sc.Weight, 1)
		if n < 0 {
			return sc
		}
	}
	return s[len(s)-1]
}

type reply struct {
	Route   string             `json:"route"`
	Handoff bool               `json:"handoff"`
	Timings map[string]float64 `json:"timings"`
}

func chat(ctx context.Context, c *http.Client, base, id, text string) (*reply, error) {
	body, _ := json.Marshal(map[string]string{"session_id": id, "text": text, "channel": "bench"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST /v1/chat: %s: %.200s", resp.Status, data)
	}
	var r reply
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("POST /v1/chat: %w", err)
	}
	return &r, nil
}

func deleteSession(ctx context.Context, c *http.Client, base, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, base+"/v1/sessions/"+id, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("DELETE /v1/sessions/%s: %s", id, resp.Status)
	}
	return nil
}
