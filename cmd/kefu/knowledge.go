package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kefu-chat/kefu/cmd/internal/app"
	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/knowledge"
	"github.com/kefu-chat/kefu/knowledge/embedded"
	"github.com/kefu-chat/kefu/knowledge/qdrant"
	"github.com/kefu-chat/kefu/models/onnx"
)

// openKB opens the knowledge base of cfg with its embedder. With tempDir
// set, the store is a fresh embedded one there instead of the configured
// store.
func openKB(cfg *config.Config, tempDir string, logger *slog.Logger) (*app.KnowledgeBase, func(), error) {
	if cfg.Knowledge.Store == "" {
		return nil, nil, fmt.Errorf("no knowledge base is configured (knowledge.store in %s)", cfg.File)
	}
	var closers []func() error
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	var emb knowledge.Embedder
	if cfg.Models.Embedder != nil && (cfg.Knowledge.Embedder == "" || cfg.Knowledge.Embedder == "models") {
		if err := app.InitRuntime(cfg); err != nil {
			return nil, nil, err
		}
		closers = append(closers, onnx.Shutdown)
		e, err := app.LoadEmbedder(cfg, nil)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		closers = append(closers, e.Close)
		emb = e
	}
	norm, err := app.NewNormalizer(cfg.Normalize)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	k := cfg
	if tempDir != "" {
		k = inTempStore(cfg, tempDir)
	}
	kb, err := app.OpenKnowledge(context.Background(), k, emb, func(s string) string { return norm.Normalize(s).Text }, logger)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	closers = append(closers, kb.Close)
	return kb, cleanup, nil
}

// inTempStore returns a copy of cfg whose knowledge base is a fresh
// embedded store in dir, so a running server's store is never touched.
func inTempStore(cfg *config.Config, dir string) *config.Config {
	k := *cfg
	k.Knowledge.Store, k.Knowledge.Path = "embedded", filepath.Join(dir, "knowledge.db")
	return &k
}

// ingest adds files and folders to the knowledge base.
func ingest(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ingest", stderr)
	path := fs.String("config", "kefu.yaml", "config `file`")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = cfg.Knowledge.Sources
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "usage: kefu ingest --config FILE PATH... (or set knowledge.sources)")
		return errUsage
	}
	kb, cleanup, err := openKB(cfg, "", quietLogger(stderr))
	if err != nil {
		return err
	}
	defer cleanup()
	start := time.Now()
	last := time.Now()
	rep, err := kb.IngestPaths(context.Background(), paths, func(done, total int) {
		if done == total || time.Since(last) > time.Second {
			fmt.Fprintf(stderr, "ingest: %d/%d documents\n", done, total)
			last = time.Now()
		}
	})
	for _, s := range rep.Skipped {
		where := s.Source
		if s.Line > 0 {
			where = fmt.Sprintf("%s:%d", s.Source, s.Line)
		}
		fmt.Fprintf(stdout, "skipped %s: %s\n", where, s.Reason)
	}
	fmt.Fprintf(stdout, "ingested %d files: %d documents, %d chunks, %d skipped (%s)\n",
		rep.Files, rep.Documents, rep.Chunks, len(rep.Skipped), time.Since(start).Round(time.Millisecond))
	return err
}

// retrievalQuery is one line of an evaluation file.
type retrievalQuery struct {
	Query      string `json:"query"`
	ExpectedID string `json:"expected_id"`
}

// evalRetrieval scores the knowledge base on queries with known answers.
func evalRetrieval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval retrieval", stderr)
	path := fs.String("config", "kefu.yaml", "config `file`")
	data := fs.String("data", "", "queries: JSON Lines {\"query\", \"expected_id\"}")
	kbFile := fs.String("kb", "", "evaluate this FAQ file (JSON Lines {\"id\",\"question\",\"answer\"}) instead of knowledge.sources")
	asJSON := fs.Bool("json", false, "print the scores as JSON")
	verbose := fs.Bool("v", false, "print every query whose expected entry is not first")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		fmt.Fprintln(stderr, "kefu eval retrieval: --data is required")
		return errUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	queries, err := readQueries(*data)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kefu-eval-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if cfg.Knowledge.Store == "" {
		cfg.Knowledge.Store = "embedded"
	}
	kb, cleanup, err := openKB(cfg, dir, quietLogger(stderr))
	if err != nil {
		return err
	}
	defer cleanup()
	sources := cfg.Knowledge.Sources
	if *kbFile != "" {
		sources = []string{*kbFile}
	}
	rep, err := kb.IngestPaths(context.Background(), sources, nil)
	if err != nil {
		return err
	}
	if rep.Documents == 0 {
		return fmt.Errorf("eval retrieval: nothing to search: no documents in %v", sources)
	}
	var misses io.Writer
	if *verbose {
		misses = stdout
	}
	s := scoreRetrieval(kb, queries, cfg.Routing.AnswerThreshold, misses)
	s.Documents, s.Chunks = rep.Documents, rep.Chunks
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	fmt.Fprintf(stdout, "%d queries over %d documents (%d chunks)\n", s.N, s.Documents, s.Chunks)
	fmt.Fprintf(stdout, "hit@1      %.1f %%\nhit@5      %.1f %%\nMRR@10     %.3f\n", 100*s.HitAt1, 100*s.HitAt5, s.MRRAt10)
	fmt.Fprintf(stdout, "answered   %.1f %% directly (score ≥ %.2f), %.1f %% of them right\n", 100*s.AnswerRate, s.AnswerThreshold, 100*s.AnswerPrecision)
	fmt.Fprintf(stdout, "latency    p50 %.2f ms, p99 %.2f ms\n", s.P50, s.P99)
	fmt.Fprintln(stdout, "\nrouting.answer_threshold   answered   right")
	for _, p := range s.Thresholds {
		fmt.Fprintf(stdout, "  %.2f                     %5.1f %%   %5.1f %%\n", p.Threshold, 100*p.Rate, 100*p.Precision)
	}
	return nil
}

// retrievalScores are the results of kefu eval retrieval.
type retrievalScores struct {
	N               int     `json:"n"`
	Documents       int     `json:"documents"`
	Chunks          int     `json:"chunks"`
	HitAt1          float64 `json:"hit_at_1"`
	HitAt5          float64 `json:"hit_at_5"`
	MRRAt10         float64 `json:"mrr_at_10"`
	AnswerThreshold float64 `json:"answer_threshold"`
	AnswerRate      float64 `json:"answer_rate"`
	AnswerPrecision float64 `json:"answer_precision"`
	P50             float64 `json:"latency_p50_ms"`
	P99             float64 `json:"latency_p99_ms"`
	// Thresholds shows what other answer thresholds would give, to pick one.
	Thresholds []thresholdPoint `json:"thresholds"`
}

type thresholdPoint struct {
	Threshold float64 `json:"threshold"`
	Rate      float64 `json:"answer_rate"`
	Precision float64 `json:"answer_precision"`
}

func scoreRetrieval(kb *app.KnowledgeBase, qs []retrievalQuery, threshold float64, misses io.Writer) retrievalScores {
	s := retrievalScores{N: len(qs), AnswerThreshold: threshold}
	var lat []float64
	answered, right := 0, 0
	type top struct {
		score float64
		right bool
	}
	var tops []top
	for _, q := range qs {
		t := time.Now()
		res, err := kb.Search(context.Background(), q.Query, 10, knowledge.Filter{})
		lat = append(lat, float64(time.Since(t).Microseconds())/1000)
		if err != nil {
			continue
		}
		for i, r := range res {
			if r.Chunk.DocID == q.ExpectedID || r.Chunk.ID == q.ExpectedID {
				if i == 0 {
					s.HitAt1++
				}
				if i < 5 {
					s.HitAt5++
				}
				s.MRRAt10 += 1 / float64(i+1)
				break
			}
		}
		if misses != nil && (len(res) == 0 || res[0].Chunk.DocID != q.ExpectedID && res[0].Chunk.ID != q.ExpectedID) {
			fmt.Fprintf(misses, "miss %q want %s\n", q.Query, q.ExpectedID)
			for i, r := range res[:min(3, len(res))] {
				fmt.Fprintf(misses, "  %d. %s %.3f (dense %.3f, lexical %.3f) %s\n", i+1, r.Chunk.DocID, r.Score, r.Dense, r.Lexical, r.Chunk.Title)
			}
		}
		if len(res) > 0 && res[0].Chunk.Answer != "" {
			tops = append(tops, top{res[0].Score, res[0].Chunk.DocID == q.ExpectedID || res[0].Chunk.ID == q.ExpectedID})
		}
		if len(res) > 0 && res[0].Score >= threshold && res[0].Chunk.Answer != "" {
			answered++
			if res[0].Chunk.DocID == q.ExpectedID || res[0].Chunk.ID == q.ExpectedID {
				right++
			}
		}
	}
	if n := float64(len(qs)); n > 0 {
		s.HitAt1, s.HitAt5, s.MRRAt10 = s.HitAt1/n, s.HitAt5/n, s.MRRAt10/n
		s.AnswerRate = float64(answered) / n
	}
	if answered > 0 {
		s.AnswerPrecision = float64(right) / float64(answered)
	}
	for t := 0.40; t < 0.96; t += 0.05 {
		p := thresholdPoint{Threshold: round2(t)}
		n, ok := 0, 0
		for _, x := range tops {
			if x.score >= t {
				n++
				if x.right {
					ok++
				}
			}
		}
		if len(qs) > 0 {
			p.Rate = round2(float64(n) / float64(len(qs)))
		}
		if n > 0 {
			p.Precision = round2(float64(ok) / float64(n))
		}
		s.Thresholds = append(s.Thresholds, p)
	}
	sort.Float64s(lat)
	if len(lat) > 0 {
		s.P50, s.P99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return s
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func readQueries(path string) ([]retrievalQuery, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []retrievalQuery
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var q retrievalQuery
		if err := json.Unmarshal(line, &q); err != nil || q.Query == "" || q.ExpectedID == "" {
			return nil, fmt.Errorf("%s:%d: want {\"query\": …, \"expected_id\": …}", path, n)
		}
		out = append(out, q)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no queries", path)
	}
	return out, sc.Err()
}

// knowledgeCmd groups knowledge maintenance: kefu knowledge copy.
func knowledgeCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		fmt.Fprintln(stderr, "usage: kefu knowledge copy --config FILE --qdrant HOST:6334 [--collection NAME] [--tls]")
		return errUsage
	}
	fs := newFlags("knowledge copy", stderr)
	path := fs.String("config", "kefu.yaml", "config `file` whose embedded store is copied")
	addr := fs.String("qdrant", "", "Qdrant gRPC address `HOST:PORT` (API key from $QDRANT_API_KEY)")
	coll := fs.String("collection", "kefu", "Qdrant collection")
	tls := fs.Bool("tls", false, "use TLS")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *addr == "" {
		fmt.Fprintln(stderr, "kefu knowledge copy: --qdrant is required")
		return errUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if cfg.Knowledge.Store != "embedded" {
		return fmt.Errorf("knowledge copy: %s's knowledge.store is %q; copy reads an embedded store", *path, cfg.Knowledge.Store)
	}
	// The vectors are copied as stored: no embedder is needed.
	from, err := embedded.Open(cfg.Knowledge.Path, embedded.Options{Logger: quietLogger(stderr)})
	if err != nil {
		return err
	}
	defer from.Close()
	ctx := context.Background()
	to, err := qdrant.New(ctx, qdrant.Options{Addr: *addr, APIKey: os.Getenv("QDRANT_API_KEY"), UseTLS: *tls, Collection: *coll, Dim: from.Dim()})
	if err != nil {
		return err
	}
	defer to.Close()
	start := time.Now()
	docs, chunks, err := app.CopyKnowledge(ctx, from, to, nil)
	fmt.Fprintf(stdout, "copied %d documents, %d chunks to qdrant %s/%s (%s)\n", docs, chunks, *addr, *coll, time.Since(start).Round(time.Millisecond))
	return err
}
