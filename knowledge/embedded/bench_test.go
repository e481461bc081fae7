package embedded

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/knowledge"
	"github.com/philippgille/chromem-go"
)

// Benchmarks on synthetic data (see clustered): 384-dimensional unit
// vectors around 1000 centroids, with pseudo-Chinese texts for the sparse
// side, ingested as documents of 100 chunks. Sizes: 10k chunks in the
// default exact mode and with the HNSW graph forced; 100k (the graph) only
// with KEFU_BENCH_100K=1, since building it takes minutes:
//
//	go test -run '^$' -bench . ./knowledge/embedded/
//	KEFU_BENCH_100K=1 go test -run '^$' -bench . -timeout 1h ./knowledge/embedded/
//
// Searches report p50 and p99 latency (µs) and recall@10 against brute
// force; BenchmarkVsChromem interleaves queries to this store and to a
// chromem-go collection holding the same vectors (an exact search on
// every CPU) and reports both latencies and their ratios.

const (
	benchDim     = 384
	benchPer     = 100 // chunks per document
	benchQueries = 1000
)

type variant struct {
	n          int
	exactBelow int // 0: the default
}

func (v variant) String() string {
	mode := "hnsw"
	if v.exactBelow == 0 && v.n < 20000 {
		mode = "exact"
	}
	return fmt.Sprintf("n=%d/%s", v.n, mode)
}

func variants() []variant {
	vs := []variant{{n: 10000}, {n: 10000, exactBelow: 1000}}
	if os.Getenv("KEFU_BENCH_100K") == "1" {
		vs = append(vs, variant{n: 100000})
	}
	return vs
}

type fixture struct {
	d       *dataset
	texts   []string
	queries []string // sparse queries
	store   *Store
	truth   [][]string // exact top 10 chunk ids per query
	chromem *chromem.Collection
}

var (
	datasets = map[int]*dataset{}
	textsets = map[int][]string{}
	fixtures = map[variant]*fixture{}
	benchDir string
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range fixtures {
		f.store.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func benchData(n int) (*dataset, []string) {
	if datasets[n] == nil {
		datasets[n] = clustered(42, n, benchQueries, benchDim, 1000, 0.05)
		textsets[n] = pseudoChinese(42, n)
	}
	return datasets[n], textsets[n]
}

// pseudoChinese is n texts of 30 to 90 characters drawn from 3000 Han
// characters with Zipf frequencies, as in real text, so that document
// frequencies range from most chunks to a few.
func pseudoChinese(seed uint64, n int) []string {
	r := rand.New(rand.NewPCG(seed, 7))
	z := rand.NewZipf(r, 1.1, 5, 2999)
	out := make([]string, n)
	var b strings.Builder
	for i := range out {
		b.Reset()
		for range 30 + r.IntN(60) {
			b.WriteRune(rune(0x4e00 + z.Uint64()))
		}
		out[i] = b.String()
	}
	return out
}

func benchChunks(d *dataset, texts []string, start int) (string, []knowledge.Chunk) {
	doc, _ := chunkID(start, benchPer)
	var cs []knowledge.Chunk
	for i := start; i < min(start+benchPer, len(d.vecs)); i++ {
		_, id := chunkID(i, benchPer)
		cs = append(cs, knowledge.Chunk{
			ID: id, DocID: doc, Position: i - start, Text: texts[i],
			Vector: d.vecs[i], Sparse: knowledge.DocumentVector(texts[i]),
		})
	}
	return doc, cs
}

func ingestBench(b *testing.B, s *Store, d *dataset, texts []string) {
	ctx := context.Background()
	for start := 0; start < len(d.vecs); start += benchPer {
		doc, cs := benchChunks(d, texts, start)
		if err := s.ReplaceDocument(ctx, doc, cs); err != nil {
			b.Fatal(err)
		}
	}
}

func getFixture(b *testing.B, v variant) *fixture {
	if f := fixtures[v]; f != nil {
		return f
	}
	b.StopTimer()
	defer b.StartTimer()
	start := time.Now()
	d, texts := benchData(v.n)
	if benchDir == "" {
		dir, err := os.MkdirTemp("", "kefu-embedded-bench")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = dir
	}
	s, err := Open(filepath.Join(benchDir, strings.ReplaceAll(v.String(), "/", "-")+".db"), Options{ExactBelow: v.exactBelow, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ingestBench(b, s, d, texts)
	f := &fixture{d: d, texts: texts, store: s}
	for _, q := range d.queries {
		var want []string
		for _, i := range bruteForce(d.vecs, q, 10, nil) {
			_, id := chunkID(i, benchPer)
			want = append(want, id)
		}
		f.truth = append(f.truth, want)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range benchQueries {
		t := []rune(texts[r.IntN(len(texts))])
		i := r.IntN(len(t) - 8)
		f.queries = append(f.queries, string(t[i:i+2+r.IntN(6)]))
	}
	db := chromem.NewDB()
	f.chromem, err = db.CreateCollection("bench", nil, func(context.Context, string) ([]float32, error) {
		return nil, fmt.Errorf("no embedding in benchmarks")
	})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, len(d.vecs))
	for i := range ids {
		_, ids[i] = chunkID(i, benchPer)
	}
	if err := f.chromem.AddConcurrently(context.Background(), ids, d.vecs, nil, texts, 4); err != nil {
		b.Fatal(err)
	}
	fixtures[v] = f
	b.Logf("fixture %v ready in %v", v, time.Since(start).Round(time.Millisecond))
	return f
}

// latencies collects per-operation durations and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B, prefix string) (p50, p99 float64) {
	slices.Sort(l)
	at := func(p float64) float64 {
		return float64(l[min(len(l)-1, int(p*float64(len(l))))].Nanoseconds()) / 1e3
	}
	p50, p99 = at(0.50), at(0.99)
	b.ReportMetric(p50, prefix+"p50-µs")
	b.ReportMetric(p99, prefix+"p99-µs")
	return p50, p99
}

// BenchmarkIngest stores every chunk into a fresh store, fsync on, in
// documents of 100 chunks, and reports chunks per second.
func BenchmarkIngest(b *testing.B) {
	for _, v := range variants() {
		b.Run(v.String(), func(b *testing.B) {
			d, texts := benchData(v.n)
			var total time.Duration
			runs := 0
			for b.Loop() {
				b.StopTimer()
				path := filepath.Join(b.TempDir(), fmt.Sprint("ingest", runs, ".db"))
				s, err := Open(path, Options{ExactBelow: v.exactBelow})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				ingestBench(b, s, d, texts)
				total += time.Since(start)
				runs++
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(runs*v.n)/total.Seconds(), "chunks/s")
		})
	}
}

// BenchmarkSearchDense is one top-10 dense search per operation.
func BenchmarkSearchDense(b *testing.B) {
	for _, v := range variants() {
		b.Run(v.String(), func(b *testing.B) {
			f := getFixture(b, v)
			ctx := context.Background()
			var rec float64
			for i, q := range f.d.queries {
				hits, err := f.store.SearchDense(ctx, q, 10, knowledge.Filter{})
				if err != nil {
					b.Fatal(err)
				}
				rec += recall(f.truth[i], hits)
			}
			lat := make(latencies, 0, 1<<16)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if _, err := f.store.SearchDense(ctx, f.d.queries[i%benchQueries], 10, knowledge.Filter{}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				i++
			}
			lat.report(b, "")
			b.ReportMetric(rec/benchQueries, "recall@10")
		})
	}
}

// BenchmarkVsChromem alternates a search of this store and one of a
// chromem-go collection with the same vectors, so both see the same
// machine, and reports each one's latency and the ratios (store /
// chromem-go: below 1 is faster).
func BenchmarkVsChromem(b *testing.B) {
	for _, v := range variants() {
		b.Run(v.String(), func(b *testing.B) {
			f := getFixture(b, v)
			ctx := context.Background()
			var mine, theirs latencies
			i := 0
			for b.Loop() {
				q := f.d.queries[i%benchQueries]
				start := time.Now()
				if _, err := f.store.SearchDense(ctx, q, 10, knowledge.Filter{}); err != nil {
					b.Fatal(err)
				}
				mine = append(mine, time.Since(start))
				start = time.Now()
				if _, err := f.chromem.QueryEmbedding(ctx, q, 10, nil, nil); err != nil {
					b.Fatal(err)
				}
				theirs = append(theirs, time.Since(start))
				i++
			}
			m50, m99 := mine.report(b, "")
			t50, t99 := theirs.report(b, "chromem-")
			b.ReportMetric(m50/t50, "p50-ratio")
			b.ReportMetric(m99/t99, "p99-ratio")
		})
	}
}

// BenchmarkSearchSparse is one top-10 BM25 search per operation, the
// query 2 to 7 characters of a stored text.
func BenchmarkSearchSparse(b *testing.B) {
	for _, v := range variants() {
		if v.exactBelow != 0 {
			continue // the same index as the default
		}
		b.Run(fmt.Sprint("n=", v.n), func(b *testing.B) {
			f := getFixture(b, v)
			ctx := context.Background()
			qs := make([]knowledge.SparseVector, len(f.queries))
			for i, q := range f.queries {
				qs[i] = knowledge.QueryVector(q)
			}
			lat := make(latencies, 0, 1<<16)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if _, err := f.store.SearchSparse(ctx, qs[i%len(qs)], 10, knowledge.Filter{}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				i++
			}
			lat.report(b, "")
		})
	}
}

// BenchmarkOpen opens a copy of the fixture's file, with its graph
// snapshot and without (rebuilding the graph).
func BenchmarkOpen(b *testing.B) {
	for _, v := range variants() {
		if v.exactBelow == 0 && v.n < 20000 {
			continue
		}
		for _, snap := range []bool{true, false} {
			name := v.String() + map[bool]string{true: "/snapshot", false: "/rebuild"}[snap]
			b.Run(name, func(b *testing.B) {
				f := getFixture(b, v)
				b.StopTimer()
				f.store.wmu.Lock()
				f.store.saveSnapshot()
				f.store.wmu.Unlock()
				dir := b.TempDir()
				path := filepath.Join(dir, "copy.db")
				copyBench(b, f.store.path, path)
				if snap {
					copyBench(b, f.store.snapPath(), path+".hnsw")
				}
				b.StartTimer()
				for b.Loop() {
					s, err := Open(path, Options{ExactBelow: v.exactBelow})
					if err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if want := map[bool]string{true: "snapshot", false: "rebuilt"}[snap]; s.loaded != want {
						b.Fatalf("graph from %q, want %q", s.loaded, want)
					}
					s.Close()
					if !snap {
						os.Remove(path + ".hnsw")
					}
					b.StartTimer()
				}
			})
		}
	}
}

func copyBench(b *testing.B, from, to string) {
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkChurn replaces every document of a 10k store with new vectors
// (the graph on, so deletions are tombstoned and repaired), then searches
// it, reporting recall@10 against brute force on the new vectors.
func BenchmarkChurn(b *testing.B) {
	const n = 10000
	before, texts := benchData(n)
	after := clustered(43, n, benchQueries, benchDim, 1000, 0.05)
	s, err := Open(filepath.Join(b.TempDir(), "churn.db"), Options{ExactBelow: 1000, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ingestBench(b, s, before, texts)
	ingestBench(b, s, after, texts)
	var rec float64
	ctx := context.Background()
	for _, q := range after.queries {
		hits, err := s.SearchDense(ctx, q, 10, knowledge.Filter{})
		if err != nil {
			b.Fatal(err)
		}
		var want []string
		for _, i := range bruteForce(after.vecs, q, 10, nil) {
			_, id := chunkID(i, benchPer)
			want = append(want, id)
		}
		rec += recall(want, hits)
	}
	lat := make(latencies, 0, 1<<16)
	i := 0
	for b.Loop() {
		start := time.Now()
		if _, err := s.SearchDense(ctx, after.queries[i%benchQueries], 10, knowledge.Filter{}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	lat.report(b, "")
	b.ReportMetric(rec/benchQueries, "recall@10")
	b.ReportMetric(float64(len(s.slots))/float64(n), "slots/chunk")
}
