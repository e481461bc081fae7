package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kefu-chat/kefu/cmd/internal/app"
	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/cmd/internal/loadgen"
	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/models/evaluate"
	"gopkg.in/yaml.v3"
)

// benchCmd runs a closed-loop load test: against --url, or against the bot
// built in process and served on a loopback port, with throw-away copies of
// its session and knowledge stores.
func benchCmd(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	path := fs.String("config", "kefu.yaml", "config `file` (its folder's knowledge-eval/queries.jsonl feeds the knowledge questions)")
	url := fs.String("url", "", "load a running server at `URL` instead of building the bot in process")
	conc := fs.Int("concurrency", 16, "workers, each with one turn in flight")
	dur := fs.Duration("duration", 10*time.Second, "how long to start new turns")
	sessions := fs.Int("sessions", 200, "sessions the turns are spread over")
	demo := fs.Bool("demo", false, "also run the demo order service the demo bot calls (in process only)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	think := fs.Duration("think", 0, "mean pause before each message (exponential), so --concurrency is that many customers chatting at once; 0: closed loop")
	delay := fs.Duration("provider-delay", 100*time.Millisecond, "in process, when the config has no generative route: answer generative fallbacks from a local OpenAI-compatible upstream after this `delay` (0: none)")
	fill := fs.Int("fill", 0, "in process: first store `N` sessions of 20 turns each, and report memory and disk per session")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `file` (in process: server and load generator)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *conc <= 0 || *sessions <= 0 || *dur <= 0 {
		fmt.Fprintln(stderr, "kefu bench: --concurrency, --sessions and --duration must be positive")
		return errUsage
	}
	if *think < 0 || *delay < 0 || *fill < 0 {
		fmt.Fprintln(stderr, "kefu bench: --think, --provider-delay and --fill must not be negative")
		return errUsage
	}
	queries, _ := loadgen.LoadQueries(filepath.Join(filepath.Dir(*path), "knowledge-eval", "queries.jsonl"), 100)
	lc := loadgen.Config{URL: strings.TrimRight(*url, "/"), Concurrency: *conc, Duration: *dur, Sessions: *sessions,
		Scripts: loadgen.DemoScripts(queries), Seed: uint64(time.Now().UnixNano()), Think: *think}

	inProc := *url == ""
	var srv *http.Server
	var app0 *app.App // in process
	var cfg0 *config.Config
	if inProc {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if *demo {
			if _, _, err := startDemoShop(ctx); err != nil {
				return err
			}
		}
		cfg, err := config.Load(*path)
		if err != nil {
			return err
		}
		tmp, err := os.MkdirTemp("", "kefu-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		cfg.Sessions.Store, cfg.Sessions.Path = "embedded", filepath.Join(tmp, "sessions.db")
		if cfg.Generate.Route == "" && *delay > 0 {
			up, err := loadgen.StartUpstream(*delay)
			if err != nil {
				return err
			}
			defer up.Close()
			if err := benchProvider(cfg, up.URL); err != nil {
				return err
			}
		}
		if cfg.Knowledge.Store != "" {
			cfg = inTempStore(cfg, tmp)
		}
		logger := quietLogger(stderr)
		app.TuneGOMAXPROCS(cfg)
		a, err := app.Build(cfg, logger)
		if err != nil {
			return err
		}
		defer a.Close()
		app0, cfg0 = a, cfg
		if kb := a.Current().Knowledge; kb != nil && len(cfg.Knowledge.Sources) > 0 {
			if _, err := kb.IngestPaths(ctx, cfg.Knowledge.Sources, nil); err != nil {
				return fmt.Errorf("knowledge: %w", err)
			}
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv = &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		go srv.Serve(ln)
		defer srv.Close()
		lc.URL = "http://" + ln.Addr().String()
	} else if *demo {
		fmt.Fprintln(stderr, "kefu bench: --demo only applies in process (without --url); ignored")
	}

	var filled *fillReport
	if *fill > 0 {
		if !inProc {
			fmt.Fprintln(stderr, "kefu bench: --fill only applies in process (without --url)")
			return errUsage
		}
		var err error
		if filled, err = fillSessions(context.Background(), app0.Sessions, cfg0.Sessions.Path, *fill, cfg0.Sessions.Memory, stderr); err != nil {
			return err
		}
	}
	heap0 := heapAfterGC()
	cpu0 := cpuTime()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := loadgen.Run(context.Background(), lc)
	if err != nil {
		return err
	}
	rep := newBenchReport(res, *conc)
	rep.Fill = filled
	if inProc {
		cpu := (cpuTime() - cpu0).Seconds()
		rep.CPUSeconds = &cpu
		heap1 := heapAfterGC()
		if res.SessionsTouched > 0 {
			b := (int64(heap1) - int64(heap0)) / int64(res.SessionsTouched)
			rep.BytesPerSession = &b
		}
		if rss, err := peakRSS(); err == nil {
			rep.RSSBytes = &rss
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(stdout, inProc)
	return nil
}

type benchLatency struct {
	Turns int     `json:"turns"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

type benchReport struct {
	Turns           int                     `json:"turns"`
	TurnsPerS       float64                 `json:"turns_per_s"`
	P50             float64                 `json:"p50_ms"`
	P90             float64                 `json:"p90_ms"`
	P99             float64                 `json:"p99_ms"`
	Max             float64                 `json:"max_ms"`
	Errors          int                     `json:"errors"`
	ErrorSamples    []string                `json:"error_samples,omitempty"`
	ElapsedS        float64                 `json:"elapsed_s"`
	Concurrency     int                     `json:"concurrency"`
	SessionsTouched int                     `json:"sessions_touched"`
	CPUSeconds      *float64                `json:"cpu_s"`     // in process only; includes the load generator
	RSSBytes        *int64                  `json:"rss_bytes"` // peak (VmHWM), in process only
	BytesPerSession *int64                  `json:"bytes_per_session"`
	BytesNote       string                  `json:"bytes_per_session_note"`
	Stages          map[string]float64      `json:"stages"`
	Routes          map[string]benchLatency `json:"routes"`
	Fill            *fillReport             `json:"fill,omitempty"`
}

func newBenchReport(res *loadgen.Result, conc int) *benchReport {
	r := &benchReport{Turns: res.Turns, Errors: res.Errors, ErrorSamples: res.ErrorSamples,
		ElapsedS: res.Elapsed.Seconds(), Concurrency: conc, SessionsTouched: res.SessionsTouched,
		BytesNote: "estimate: (heap after - heap before the run, after GC) / sessions touched; in process only",
		Stages:    map[string]float64{}, Routes: map[string]benchLatency{}}
	if res.Elapsed > 0 {
		r.TurnsPerS = float64(res.Turns) / res.Elapsed.Seconds()
	}
	all := latencyOf(res.Latencies)
	r.P50, r.P90, r.P99, r.Max = all.P50, all.P90, all.P99, all.Max
	for route, l := range res.ByRoute {
		r.Routes[route] = latencyOf(l)
	}
	if res.TotalMS > 0 {
		for _, s := range loadgen.Stages {
			r.Stages[s] = res.StageMS[s] / res.TotalMS
		}
	}
	return r
}

func latencyOf(sorted []time.Duration) benchLatency {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return benchLatency{Turns: len(sorted),
		P50: ms(evaluate.NearestRank(sorted, 50)), P90: ms(evaluate.NearestRank(sorted, 90)),
		P99: ms(evaluate.NearestRank(sorted, 99)), Max: ms(evaluate.NearestRank(sorted, 100))}
}

func (r *benchReport) print(w io.Writer, inProc bool) {
	fmt.Fprintf(w, "turns %d in %.1fs at concurrency %d over %d sessions: %.1f turns/s, %d errors\n",
		r.Turns, r.ElapsedS, r.Concurrency, r.SessionsTouched, r.TurnsPerS, r.Errors)
	for _, e := range r.ErrorSamples {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\nroute\tturns\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	row := func(name string, l benchLatency) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, l.Turns, l.P50, l.P90, l.P99, l.Max)
	}
	routes := make([]string, 0, len(r.Routes))
	for k := range r.Routes {
		routes = append(routes, k)
	}
	sort.Strings(routes)
	for _, k := range routes {
		row(k, r.Routes[k])
	}
	row("all", benchLatency{Turns: r.Turns, P50: r.P50, P90: r.P90, P99: r.P99, Max: r.Max})
	tw.Flush()
	fmt.Fprintln(w, "\nshare of server time by stage:")
	sum := 0.0
	for _, s := range loadgen.Stages {
		fmt.Fprintf(w, "  %-10s %5.1f%%\n", s, 100*r.Stages[s])
		sum += r.Stages[s]
	}
	fmt.Fprintf(w, "  %-10s %5.1f%%\n", "(sum)", 100*sum)
	if !inProc {
		fmt.Fprintln(w, "\n(CPU, RSS and memory per session are measured in process only, without --url)")
		return
	}
	fmt.Fprintln(w)
	if r.CPUSeconds != nil {
		fmt.Fprintf(w, "CPU time        %.1fs (%.2f cores; server and load generator together)\n", *r.CPUSeconds, *r.CPUSeconds/r.ElapsedS)
	}
	if r.RSSBytes != nil {
		fmt.Fprintf(w, "peak RSS        %.1f MiB\n", float64(*r.RSSBytes)/(1<<20))
	}
	if r.BytesPerSession != nil {
		fmt.Fprintf(w, "heap/session    ~%d bytes (estimate: heap growth after GC / %d sessions touched)\n", *r.BytesPerSession, r.SessionsTouched)
	}
	if f := r.Fill; f != nil {
		fmt.Fprintf(w, "\nfilled %d sessions of %d turns in %.1fs (%.0f sessions/s):\n", f.Sessions, f.Turns, f.Seconds, float64(f.Sessions)/f.Seconds)
		fmt.Fprintf(w, "  memory        %d bytes/session (RSS growth)\n", f.RSSPerSession)
		fmt.Fprintf(w, "  heap          %d bytes/session (live heap growth after GC)\n", f.HeapPerSession)
		fmt.Fprintf(w, "  disk          %d bytes/session (session file)\n", f.DiskPerSession)
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// cpuTime is the user plus system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS reads VmHWM from /proc/self/status.
func peakRSS() (int64, error) { return procStatus("VmHWM:") }

// currentRSS reads VmRSS from /proc/self/status.
func currentRSS() (int64, error) { return procStatus("VmRSS:") }

// procStatus reads a size in kB from /proc/self/status.
func procStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// benchProvider points the generative fallback at a local upstream.
func benchProvider(cfg *config.Config, url string) error {
	var p struct {
		Providers map[string]config.Provider `yaml:"providers"`
	}
	src := fmt.Sprintf("providers:\n  bench: {type: openai, base_url: %q, api_key: bench-key, model: bench, timeout: 10s}\n", url)
	if err := yaml.Unmarshal([]byte(src), &p); err != nil {
		return fmt.Errorf("bench provider: %w", err)
	}
	if cfg.Providers == nil {
		cfg.Providers = map[string]config.Provider{}
	}
	if cfg.Routes == nil {
		cfg.Routes = map[string]config.Route{}
	}
	cfg.Providers["bench"] = p.Providers["bench"]
	cfg.Routes["bench"] = config.Route{Providers: []string{"bench"}}
	cfg.Generate.Route = "bench"
	return cfg.Validate()
}

// fillReport is what storing many sessions cost.
type fillReport struct {
	Sessions       int     `json:"sessions"`
	Turns          int     `json:"turns_per_session"`
	Seconds        float64 `json:"seconds"`
	RSSPerSession  int64   `json:"rss_bytes_per_session"`
	HeapPerSession int64   `json:"heap_bytes_per_session"`
	DiskPerSession int64   `json:"disk_bytes_per_session"`
}

// Realistic turns for fillSessions: 15-character questions, 30-character
// answers.
var (
	fillQuestions = []string{"我的订单什么时候能发货呀？急用", "这个商品可以七天无理由退货吗？", "快递显示已签收但我没收到东西啊",
		"请问有没有优惠券可以领取一下呢", "衣服尺码偏大还是偏小，一米七穿"}
	fillAnswers = []string{"亲，您的订单已在今天下午打包完成，预计明天发出，发货后会短信通知您哦。",
		"支持七天无理由退货的，请在订单详情页点击申请售后，填写原因后提交即可。",
		"非常抱歉给您带来不便，我们已联系快递核实，请您留意电话，稍后回复您。"}
	fillRoutes = []string{"flow", "knowledge", "generative", "handoff", "fallback"}
)

// fillSessions stores n sessions of memory turns each through the session
// store, 64 writers at a time, and measures what they cost the process
// (RSS and live heap) and the disk.
func fillSessions(ctx context.Context, st session.Store, path string, n, memory int, stderr io.Writer) (*fillReport, error) {
	if memory <= 0 {
		memory = session.DefaultMaxTurns
	}
	rss0, _ := currentRSS()
	heap0 := heapAfterGC()
	t0 := time.Now()
	at := t0.Add(-time.Hour)
	next := make(chan int)
	errc := make(chan error, 64)
	for range 64 {
		go func() {
			for i := range next {
				id := fmt.Sprintf("fill-%07d", i)
				s := &session.Session{ID: id, UserID: fmt.Sprintf("o6_bmjrPTlm6_2sgVt7hMZOP%06d", i), Channel: "wechat",
					Dialog: []byte(`{"stack":[{"flow":"退货","step":3,"slots":{"订单号":"A2024112200003"}}]}`)}
				for j := range memory {
					s.Append(session.Turn{ID: fmt.Sprintf("%s-%02d", id, j), At: at.Add(time.Duration(j) * time.Minute),
						Text: fillQuestions[(i+j)%len(fillQuestions)], Replies: []string{fillAnswers[(i+j)%len(fillAnswers)]},
						Intent: "退货", Route: fillRoutes[j%len(fillRoutes)]}, memory)
				}
				errc <- st.Save(ctx, s)
			}
		}()
	}
	go func() {
		for i := range n {
			next <- i
		}
		close(next)
	}()
	for i := range n {
		if err := <-errc; err != nil {
			return nil, fmt.Errorf("fill: %w", err)
		}
		if (i+1)%20000 == 0 {
			fmt.Fprintf(stderr, "filled %d sessions\n", i+1)
		}
	}
	r := &fillReport{Sessions: n, Turns: memory, Seconds: time.Since(t0).Seconds()}
	r.HeapPerSession = (int64(heapAfterGC()) - int64(heap0)) / int64(n)
	if rss1, err := currentRSS(); err == nil {
		r.RSSPerSession = (rss1 - rss0) / int64(n)
	}
	if fi, err := os.Stat(path); err == nil {
		r.DiskPerSession = fi.Size() / int64(n)
	}
	return r, nil
}
