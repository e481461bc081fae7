package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
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
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `file` (in process: server and load generator)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *conc <= 0 || *sessions <= 0 || *dur <= 0 {
		fmt.Fprintln(stderr, "kefu bench: --concurrency, --sessions and --duration must be positive")
		return errUsage
	}
	queries, _ := loadgen.LoadQueries(filepath.Join(filepath.Dir(*path), "knowledge-eval", "queries.jsonl"), 100)
	lc := loadgen.Config{URL: strings.TrimRight(*url, "/"), Concurrency: *conc, Duration: *dur, Sessions: *sessions,
		Scripts: loadgen.DemoScripts(queries), Seed: uint64(time.Now().UnixNano())}

	inProc := *url == ""
	var srv *http.Server
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
		if cfg.Knowledge.Store != "" {
			cfg.Knowledge.Store, cfg.Knowledge.Path = "embedded", filepath.Join(tmp, "knowledge.db")
		}
		logger := quietLogger(stderr)
		app.TuneGOMAXPROCS(cfg)
		a, err := app.Build(cfg, logger)
		if err != nil {
			return err
		}
		defer a.Close()
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
		P50: ms(loadgen.Percentile(sorted, 50)), P90: ms(loadgen.Percentile(sorted, 90)),
		P99: ms(loadgen.Percentile(sorted, 99)), Max: ms(loadgen.Percentile(sorted, 100))}
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
func peakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}
