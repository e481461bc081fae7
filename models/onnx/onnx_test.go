//go:build cgo

package onnx_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/onnx"
)

// repoRoot is the module root, two levels up from this package.
var repoRoot = func() string { p, _ := filepath.Abs("../.."); return p }()

var demoModel = filepath.Join(repoRoot, "testdata/bots/demo/model")

// benchModel is the model the benchmarks run: the demo bot's, or the
// folder named by $KEFU_BENCH_MODEL.
func benchModel() string {
	if d := os.Getenv("KEFU_BENCH_MODEL"); d != "" {
		return d
	}
	return demoModel
}

func TestMain(m *testing.M) {
	code := m.Run()
	onnx.Shutdown()
	os.Exit(code)
}

// requireRuntime loads ONNX Runtime. Locally a missing library skips the
// test; under CI (CI set) it fails, so CI never passes by skipping.
func requireRuntime(t testing.TB) {
	t.Helper()
	lib, err := onnx.FindLibrary("")
	if err != nil {
		lib, err = onnx.FindLibrary(filepath.Join(repoRoot, onnx.DefaultDir))
	}
	if err == nil {
		err = onnx.Init(lib)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ONNX Runtime is required in CI: %v", err)
		}
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
}

func openDemo(t testing.TB, o onnx.ClassifierOptions) *onnx.Classifier {
	t.Helper()
	return openModel(t, demoModel, o)
}

func openModel(t testing.TB, dir string, o onnx.ClassifierOptions) *onnx.Classifier {
	t.Helper()
	requireRuntime(t)
	f, err := models.OpenFolder(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := onnx.NewClassifier(f, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClassifyDemo(t *testing.T) {
	c := openDemo(t, onnx.ClassifierOptions{})
	if n := len(c.Labels()); n < 26 {
		t.Fatalf("demo model has %d labels, want at least 25 intents and oos", n)
	}
	for _, tc := range []struct{ text, want string }{
		{"我的快递到哪了", "物流查询"},
		{"我要退货", "退货"},
		{"转人工", "转人工"},
		{"可以开发票吗", "发票"},
		{"谢谢", "感谢"},
	} {
		p, err := c.Classify(context.Background(), tc.text)
		if err != nil {
			t.Fatal(err)
		}
		if p.Intent.Name != tc.want || p.OOS {
			t.Errorf("Classify(%q) = %s (%.2f, oos %v), want %s", tc.text, p.Intent.Name, p.Intent.Confidence, p.OOS, tc.want)
		}
		var sum float64
		for i, r := range p.Ranking {
			sum += float64(r.Confidence)
			if i > 0 && r.Confidence > p.Ranking[i-1].Confidence {
				t.Fatalf("ranking not sorted: %v", p.Ranking)
			}
		}
		if len(p.Ranking) != len(c.Labels()) || math.Abs(sum-1) > 1e-3 {
			t.Errorf("ranking has %d entries summing to %.4f", len(p.Ranking), sum)
		}
	}
}

// TestParityWithTorch compares ONNX Runtime's logits, through the Go
// tokenizer, with the logits torch computed when the recipe exported the
// model (golden.json).
func TestParityWithTorch(t *testing.T) {
	c := openDemo(t, onnx.ClassifierOptions{})
	if err := onnx.CheckParity(context.Background(), c, demoModel); err != nil {
		t.Fatal(err)
	}
}

func TestThresholdOverride(t *testing.T) {
	high := float32(0.999)
	c := openDemo(t, onnx.ClassifierOptions{Threshold: &high})
	if c.Threshold() != high {
		t.Fatalf("Threshold() = %v", c.Threshold())
	}
	p, err := c.Classify(context.Background(), "请问这件衣服是什么材质的")
	if err != nil {
		t.Fatal(err)
	}
	if !p.OOS || p.Intent.Name != models.OOS {
		t.Errorf("with threshold %.3f: %+v, want oos", high, p.Intent)
	}
	zero := float32(0)
	c0 := openDemo(t, onnx.ClassifierOptions{Threshold: &zero})
	p, _ = c0.Classify(context.Background(), "请问这件衣服是什么材质的")
	if p.OOS {
		t.Errorf("with threshold 0: %+v, want in scope", p.Intent)
	}
}

func TestEdgeInputs(t *testing.T) {
	c := openDemo(t, onnx.ClassifierOptions{})
	long := strings.Repeat("我要退货", 500)
	for _, s := range []string{"", "\x00\x01", "😭😭", long, "\xff\xfe invalid utf8"} {
		p, err := c.Classify(context.Background(), s)
		if err != nil {
			t.Errorf("Classify(%.20q): %v", s, err)
			continue
		}
		if len(p.Ranking) == 0 {
			t.Errorf("Classify(%.20q): empty ranking", s)
		}
	}
}

// TestConcurrent runs many callers on one shared session and checks that
// each gets exactly the answer it gets alone (run under -race).
func TestConcurrent(t *testing.T) {
	c := openDemo(t, onnx.ClassifierOptions{Options: onnx.Options{MaxInFlight: 2}})
	texts := []string{"我的快递到哪了", "我要退货", "转人工", "可以开发票吗", "谢谢", "有优惠券吗", "尺码怎么选", "在吗"}
	want := map[string]models.Intent{}
	for _, s := range texts {
		p, err := c.Classify(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		want[s] = p.Intent
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				s := texts[(g+i)%len(texts)]
				p, err := c.Classify(context.Background(), s)
				if err != nil {
					errs <- err
					return
				}
				if p.Intent.Name != want[s].Name || math.Abs(float64(p.Intent.Confidence-want[s].Confidence)) > 1e-5 {
					errs <- errors.New(s + ": got " + p.Intent.Name + ", want " + want[s].Name)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestContextCancelledWhileQueued(t *testing.T) {
	c := openDemo(t, onnx.ClassifierOptions{Options: onnx.Options{MaxInFlight: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// With a free slot the call may still win the race against ctx; what
	// must never happen is a hang or a panic. Fill the slot first.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				c.Classify(context.Background(), strings.Repeat("退货", 30))
			}
		}
	}()
	deadline := time.After(5 * time.Second)
	got := false
	for !got {
		select {
		case <-deadline:
			close(stop)
			wg.Wait()
			t.Fatal("never saw context.Canceled")
		default:
		}
		if _, err := c.Classify(ctx, "你好"); errors.Is(err, context.Canceled) {
			got = true
		}
	}
	close(stop)
	wg.Wait()
}

func TestEmbedder(t *testing.T) {
	requireRuntime(t)
	f, err := models.OpenFolder(demoModel, 0)
	if err != nil {
		t.Fatal(err)
	}
	e, err := onnx.NewEmbedder(f, onnx.Options{}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	texts := []string{"我的快递到哪了", "快递到哪儿了，帮我查下物流", "可以开发票吗", "我的快递到哪了"}
	vecs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(texts) || len(vecs[0]) != e.Dim() || e.Dim() == 0 {
		t.Fatalf("got %d vectors of %d (Dim %d)", len(vecs), len(vecs[0]), e.Dim())
	}
	dot := func(a, b []float32) (s float64) {
		for i := range a {
			s += float64(a[i] * b[i])
		}
		return s
	}
	for i, v := range vecs {
		if n := dot(v, v); math.Abs(n-1) > 1e-4 {
			t.Errorf("vector %d has squared norm %v", i, n)
		}
	}
	if d := dot(vecs[0], vecs[3]); math.Abs(d-1) > 1e-4 {
		t.Errorf("same text, cosine %v (batching must not change a vector)", d)
	}
	if near, far := dot(vecs[0], vecs[1]), dot(vecs[0], vecs[2]); near <= far {
		t.Errorf("paraphrase cosine %.3f <= unrelated %.3f", near, far)
	}
}

// TestEmbedderPooling embeds with a classifier's outputs: one dimension per
// label, unit length, and texts of one intent closer than texts of two.
func TestEmbedderPooling(t *testing.T) {
	requireRuntime(t)
	f, err := models.OpenFolder(demoModel, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []onnx.Pooling{onnx.PoolSoftmax, onnx.PoolLogits, onnx.PoolCLS} {
		t.Run(string(p), func(t *testing.T) {
			e, err := onnx.NewEmbedder(f, onnx.Options{}, p)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if p != onnx.PoolCLS && e.Dim() != len(f.Labels) {
				t.Fatalf("Dim %d, want one per label (%d)", e.Dim(), len(f.Labels))
			}
			vecs, err := e.Embed(context.Background(), []string{"我的快递到哪了", "帮我查下物流", "可以开发票吗"})
			if err != nil {
				t.Fatal(err)
			}
			var near, far, norm float64
			for i := range vecs[0] {
				near += float64(vecs[0][i] * vecs[1][i])
				far += float64(vecs[0][i] * vecs[2][i])
				norm += float64(vecs[0][i] * vecs[0][i])
			}
			if math.Abs(norm-1) > 1e-4 || near <= far {
				t.Errorf("norm %.4f, paraphrase %.3f, unrelated %.3f", norm, near, far)
			}
		})
	}
	if _, err := onnx.NewEmbedder(f, onnx.Options{}, "max"); err == nil || !strings.Contains(err.Error(), "unknown pooling") {
		t.Errorf("unknown pooling: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	requireRuntime(t)
	dir := t.TempDir()
	for _, name := range []string{"vocab.txt", "config.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(demoModel, name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "model.onnx"), []byte("not a model"), 0o644)
	f, err := models.OpenFolder(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onnx.NewClassifier(f, onnx.ClassifierOptions{}); err == nil {
		t.Error("garbage model.onnx loaded")
	}

	// A config whose labels do not match the logits is caught at load.
	b, _ := os.ReadFile(filepath.Join(demoModel, "model.onnx"))
	os.WriteFile(filepath.Join(dir, "model.onnx"), b, 0o644)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"id2label": {"0": "a", "1": "b"}}`), 0o644)
	f, err = models.OpenFolder(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := onnx.NewClassifier(f, onnx.ClassifierOptions{}); err == nil || !strings.Contains(err.Error(), "labels") {
		t.Errorf("label count mismatch: err = %v", err)
	}
}

// latencies runs fn n times per caller with callers goroutines and returns
// the per-call durations. It reports preempt/op: how often per call a
// thread was switched out for another (Linux), which is what stretches a
// call under load on a small machine.
func latencies(b *testing.B, callers int, fn func() error) []time.Duration {
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	per := b.N / callers
	if per == 0 {
		per = 1
	}
	b.ResetTimer()
	pre := preemptions()
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, per)
			for i := 0; i < per; i++ {
				t0 := time.Now()
				if err := fn(); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	if post := preemptions(); pre >= 0 && len(all) > 0 {
		b.ReportMetric(float64(post-pre)/float64(len(all)), "preempt/op")
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all
}

func pct(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(d)))) - 1
	return float64(d[max(i, 0)].Microseconds()) / 1000
}

var benchTexts = []string{"我的快递到哪了", "请问什么时候发货", "我要退货，衣服尺码不合适", "可以开发票吗", "转人工", "你好", "優惠券怎麼用", "size偏大吗 170穿什么码"}

// serverProcs sets GOMAXPROCS as kefu serve does (onnx.GOMAXPROCSFor)
// for the benchmark's duration, unless $GOMAXPROCS is set.
func serverProcs(b *testing.B, inFlight int) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if inFlight == 0 {
		inFlight = onnx.DefaultMaxInFlight()
	}
	prev := runtime.GOMAXPROCS(onnx.GOMAXPROCSFor(inFlight))
	b.Cleanup(func() { runtime.GOMAXPROCS(prev) })
}

// BenchmarkClassify is one caller, one call at a time.
func BenchmarkClassify(b *testing.B) {
	serverProcs(b, 0)
	c := openModel(b, benchModel(), onnx.ClassifierOptions{})
	i := 0
	d := latencies(b, 1, func() error {
		i++
		_, err := c.Classify(context.Background(), benchTexts[i%len(benchTexts)])
		return err
	})
	b.ReportMetric(pct(d, 0.5), "p50-ms")
	b.ReportMetric(pct(d, 0.99), "p99-ms")
}

// BenchmarkClassify32 is 32 concurrent callers on the one shared session
// with the default bound on calls in flight (the CPU count). Compare its
// ns/op with BenchmarkClassify for the throughput ratio. p99-ms includes
// the wait for a slot; held-p99-ms is the time a call held its slot
// (tokenizing, inside ONNX Runtime, ranking).
func BenchmarkClassify32(b *testing.B) {
	var mu sync.Mutex
	var held []time.Duration
	inFlight, _ := strconv.Atoi(os.Getenv("KEFU_BENCH_IN_FLIGHT")) // 0: the default
	serverProcs(b, inFlight)
	c := openModel(b, benchModel(), onnx.ClassifierOptions{Options: onnx.Options{MaxInFlight: inFlight, Observe: func(_, r time.Duration) {
		mu.Lock()
		held = append(held, r)
		mu.Unlock()
	}}})
	n := 0
	callers := 32
	if v, err := strconv.Atoi(os.Getenv("KEFU_BENCH_CALLERS")); err == nil && v > 0 {
		callers = v
	}
	d := latencies(b, callers, func() error {
		mu.Lock()
		n++
		s := benchTexts[n%len(benchTexts)]
		mu.Unlock()
		_, err := c.Classify(context.Background(), s)
		return err
	})
	sort.Slice(held, func(i, j int) bool { return held[i] < held[j] })
	b.ReportMetric(pct(d, 0.5), "p50-ms")
	b.ReportMetric(pct(d, 0.99), "p99-ms")
	b.ReportMetric(pct(held, 0.5), "held-p50-ms")
	b.ReportMetric(pct(held, 0.99), "held-p99-ms")
	if inFlight == 0 {
		inFlight = onnx.DefaultMaxInFlight()
	}
	b.ReportMetric(float64(inFlight), "in-flight")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
}

var floorSink float32

// BenchmarkFloor measures this machine rather than kefu: the latency
// percentiles of plain Go loops about as long as a demo-model call, one
// that sums a 2 MB array (about the weights a call reads) and one that
// never leaves its registers. Their p99/p50 is the spread a shared host
// gives any code, the floor under a classification's own.
func BenchmarkFloor(b *testing.B) {
	buf := make([]float32, 512<<10) // 2 MB, about the demo model's weights
	for i := range buf {
		buf[i] = float32(i % 7)
	}
	memory := func() float32 {
		var s0, s1, s2, s3 float32
		for range 2 {
			for j := 0; j < len(buf); j += 4 {
				s0 += buf[j]
				s1 += buf[j+1]
				s2 += buf[j+2]
				s3 += buf[j+3]
			}
		}
		return s0 + s1 + s2 + s3
	}
	registers := func() float32 {
		var s [8]float32
		for i := range s {
			s[i] = float32(i)
		}
		for range 30000 {
			for i := range s {
				s[i] = s[i]*1.0000001 + 0.1
			}
		}
		return s[0] + s[7]
	}
	for _, bc := range []struct {
		name string
		fn   func() float32
	}{{"memory", memory}, {"registers", registers}} {
		b.Run(bc.name, func(b *testing.B) {
			d := latencies(b, 1, func() error {
				floorSink = bc.fn()
				return nil
			})
			b.ReportMetric(pct(d, 0.5), "p50-ms")
			b.ReportMetric(pct(d, 0.99), "p99-ms")
			b.ReportMetric(pct(d, 0.99)/pct(d, 0.5), "p99/p50")
		})
	}
}
