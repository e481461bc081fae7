package embedded

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kefu-chat/kefu/knowledge"
)

func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "knowledge.db")
	}
	opts.NoSync = true
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// textChunk is a chunk whose sparse vector is its text's and whose vector
// is a fixed function of its id.
func textChunk(doc string, pos int, text string, tags ...string) knowledge.Chunk {
	c := knowledge.Chunk{
		ID:       fmt.Sprintf("%s#%d", doc, pos),
		DocID:    doc,
		Position: pos,
		Text:     text,
		Tags:     tags,
	}
	c.Sparse = knowledge.DocumentVector(c.MatchText())
	c.Vector = idVector(c.ID, 16)
	return c
}

func idVector(id string, dim int) []float32 {
	var seed uint64
	for _, b := range []byte(id) {
		seed = seed*131 + uint64(b)
	}
	return randomUnit(rand.New(rand.NewPCG(seed, 1)), dim)
}

func ids(hits []knowledge.Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Chunk.ID)
	}
	return out
}

func TestReplaceDeleteDocuments(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", Options{})
	if s.Dim() != 0 {
		t.Fatalf("Dim of an empty store = %d", s.Dim())
	}
	must(t, s.ReplaceDocument(ctx, "a", []knowledge.Chunk{
		textChunk("a", 0, "退货流程"), textChunk("a", 1, "运费说明"), textChunk("a", 2, "发票开具"),
	}))
	must(t, s.ReplaceDocument(ctx, "b", []knowledge.Chunk{textChunk("b", 0, "会员积分"), textChunk("b", 1, "优惠券")}))
	if s.Dim() != 16 {
		t.Fatalf("Dim = %d, want 16", s.Dim())
	}
	docs, err := s.Documents(ctx)
	must(t, err)
	if diff := cmp.Diff(map[string]int{"a": 3, "b": 2}, docs); diff != "" {
		t.Errorf("Documents (-want +got):\n%s", diff)
	}

	// Replace a with two chunks, one of them rewritten: no duplicates, the
	// old third chunk and old text gone.
	must(t, s.ReplaceDocument(ctx, "a", []knowledge.Chunk{textChunk("a", 0, "换货流程"), textChunk("a", 1, "运费说明")}))
	docs, _ = s.Documents(ctx)
	if diff := cmp.Diff(map[string]int{"a": 2, "b": 2}, docs); diff != "" {
		t.Errorf("Documents after replace (-want +got):\n%s", diff)
	}
	all, err := s.SearchDense(ctx, idVector("x", 16), 100, knowledge.Filter{})
	must(t, err)
	got := ids(all)
	slices.Sort(got)
	if diff := cmp.Diff([]string{"a#0", "a#1", "b#0", "b#1"}, got); diff != "" {
		t.Errorf("chunks after replace (-want +got):\n%s", diff)
	}
	for _, q := range []string{"发票", "退货"} {
		hits, err := s.SearchSparse(ctx, knowledge.QueryVector(q), 10, knowledge.Filter{})
		must(t, err)
		for _, h := range hits {
			if strings.Contains(h.Chunk.Text, q) {
				t.Errorf("SearchSparse(%q) found replaced text %q", q, h.Chunk.Text)
			}
		}
	}
	hits, _ := s.SearchSparse(ctx, knowledge.QueryVector("换货"), 1, knowledge.Filter{})
	if len(hits) != 1 || hits[0].Chunk.Text != "换货流程" || hits[0].Chunk.DocID != "a" {
		t.Errorf("SearchSparse(换货) = %+v", hits)
	}

	n, err := s.DeleteDocument(ctx, "a")
	if err != nil || n != 2 {
		t.Errorf("DeleteDocument(a) = %d, %v; want 2, nil", n, err)
	}
	if n, err := s.DeleteDocument(ctx, "a"); err != nil || n != 0 {
		t.Errorf("DeleteDocument(a) again = %d, %v; want 0, nil", n, err)
	}
	must(t, s.ReplaceDocument(ctx, "b", nil)) // no chunks deletes
	docs, _ = s.Documents(ctx)
	if len(docs) != 0 {
		t.Errorf("Documents after deleting all = %v", docs)
	}
	if hits, err := s.SearchDense(ctx, idVector("x", 16), 5, knowledge.Filter{}); err != nil || len(hits) != 0 {
		t.Errorf("SearchDense on an empty store = %v, %v", hits, err)
	}
	if s.Dim() != 16 {
		t.Errorf("Dim after deleting all = %d, want 16 (kept)", s.Dim())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestHitsAreCopies(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", Options{})
	must(t, s.ReplaceDocument(ctx, "a", []knowledge.Chunk{textChunk("a", 0, "退货", "售后")}))
	hits, err := s.SearchDense(ctx, idVector("a#0", 16), 1, knowledge.Filter{})
	must(t, err)
	if len(hits) != 1 || !approx(hits[0].Score, 1) || len(hits[0].Chunk.Vector) != 16 || len(hits[0].Chunk.Sparse.Indices) == 0 {
		t.Fatalf("hit = %+v", hits)
	}
	hits[0].Chunk.Vector[0] = 42
	hits[0].Chunk.Tags[0] = "x"
	again, _ := s.SearchDense(ctx, idVector("a#0", 16), 1, knowledge.Filter{Tags: []string{"售后"}})
	if len(again) != 1 || again[0].Chunk.Vector[0] == 42 || again[0].Chunk.Tags[0] != "售后" {
		t.Errorf("a caller's change to a hit reached the store: %+v", again)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", Options{})
	must(t, s.ReplaceDocument(ctx, "a", []knowledge.Chunk{textChunk("a", 0, "退货")}))
	bad := func(mod func(c *knowledge.Chunk)) []knowledge.Chunk {
		c := textChunk("b", 0, "x")
		mod(&c)
		return []knowledge.Chunk{c}
	}
	tests := []struct {
		name    string
		chunks  []knowledge.Chunk
		wantErr string
		is      error
	}{
		{"dimension", bad(func(c *knowledge.Chunk) { c.Vector = make([]float32, 8) }), "8-dimensional vector, the store's are 16", knowledge.ErrDimension},
		{"no id", bad(func(c *knowledge.Chunk) { c.ID = "" }), "has no id", nil},
		{"other doc id", bad(func(c *knowledge.Chunk) { c.DocID = "z" }), `belongs to document "z"`, nil},
		{"taken id", bad(func(c *knowledge.Chunk) { c.ID = "a#0" }), `chunk id "a#0" is taken by document "a"`, nil},
		{"twice", []knowledge.Chunk{textChunk("b", 0, "x"), textChunk("b", 0, "y")}, `chunk id "b#0" twice`, nil},
		{"zero vector", bad(func(c *knowledge.Chunk) { c.Vector = make([]float32, 16) }), "vector is zero", nil},
		{"sparse order", bad(func(c *knowledge.Chunk) {
			c.Sparse = knowledge.SparseVector{Indices: []uint32{5, 3}, Values: []float32{1, 1}}
		}), "not ascending", nil},
		{"sparse lengths", bad(func(c *knowledge.Chunk) { c.Sparse.Values = nil }), "sparse indices and 0 values", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ReplaceDocument(ctx, "b", tt.chunks)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ReplaceDocument = %v, want an error with %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.ReplaceDocument(cancelled, "b", []knowledge.Chunk{textChunk("b", 0, "x")}); !errors.Is(err, context.Canceled) {
		t.Errorf("ReplaceDocument with a cancelled context: %v", err)
	}
	_, err := s.SearchDense(ctx, make([]float32, 3), 1, knowledge.Filter{})
	if !errors.Is(err, knowledge.ErrDimension) || !strings.Contains(err.Error(), "3-dimensional query, the store's vectors are 16") {
		t.Errorf("SearchDense with 3 dimensions: %v", err)
	}
	docs, _ := s.Documents(ctx)
	if diff := cmp.Diff(map[string]int{"a": 1}, docs); diff != "" {
		t.Errorf("failed writes changed the store (-want +got):\n%s", diff)
	}

	// The dimension is the file's for life.
	path := s.path
	s.Close()
	if _, err := Open(path, Options{Dim: 32}); !errors.Is(err, knowledge.ErrDimension) {
		t.Errorf("Open with another Dim: %v, want ErrDimension", err)
	}
	fixed := open(t, "", Options{Dim: 8})
	if err := fixed.ReplaceDocument(ctx, "a", []knowledge.Chunk{textChunk("a", 0, "x")}); !errors.Is(err, knowledge.ErrDimension) {
		t.Errorf("16 dimensions into an 8-dimensional store: %v", err)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", Options{})
	must(t, s.ReplaceDocument(ctx, "a", []knowledge.Chunk{textChunk("a", 0, "退货")}))
	must(t, s.Close())
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	check := func(name string, err error) {
		if !errors.Is(err, knowledge.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	check("ReplaceDocument", s.ReplaceDocument(ctx, "a", []knowledge.Chunk{textChunk("a", 0, "x")}))
	_, err := s.DeleteDocument(ctx, "a")
	check("DeleteDocument", err)
	_, err = s.SearchDense(ctx, idVector("a", 16), 1, knowledge.Filter{})
	check("SearchDense", err)
	_, err = s.SearchSparse(ctx, knowledge.QueryVector("退货"), 1, knowledge.Filter{})
	check("SearchSparse", err)
	_, err = s.Documents(ctx)
	check("Documents", err)
	check("Scan", s.Scan(ctx, func(knowledge.Chunk) error { return nil }))
}

func TestSparseBM25(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", Options{})
	texts := map[string]string{
		"return":   "退货流程：收到商品七天内可以申请退货，退货运费由买家承担。",
		"exchange": "换货说明：商品质量问题可以申请换货，换货运费由商家承担。",
		"invoice":  "发票开具：下单时填写发票抬头，电子发票会发送到邮箱。",
		"shipping": "发货时间：付款后四十八小时内发货，偏远地区运费另计。",
		"member":   "会员积分：每消费一元积一分，积分可以抵扣现金。",
	}
	for doc, text := range texts {
		must(t, s.ReplaceDocument(ctx, doc, []knowledge.Chunk{textChunk(doc, 0, text)}))
	}
	tests := []struct {
		query string
		want  []string // the best first, in order
	}{
		{"怎么退货", []string{"return#0"}},
		{"换货运费谁出", []string{"exchange#0"}},
		{"电子发票", []string{"invoice#0"}},
		{"什么时候发货", []string{"shipping#0"}},
		{"积分抵扣", []string{"member#0"}},
	}
	for _, tt := range tests {
		hits, err := s.SearchSparse(ctx, knowledge.QueryVector(tt.query), 3, knowledge.Filter{})
		must(t, err)
		if got := ids(hits); len(got) < len(tt.want) || !slices.Equal(got[:len(tt.want)], tt.want) {
			t.Errorf("SearchSparse(%q) = %v, want %v first", tt.query, got, tt.want)
		}
	}

	// The score is Σ IDF(df, n) · weight, df and n as stored now.
	score := func(query, doc string, texts map[string]string) float64 {
		q := knowledge.QueryVector(query)
		dv := knowledge.DocumentVector(texts[doc])
		var sum float64
		for i, term := range q.Indices {
			j, ok := slices.BinarySearch(dv.Indices, term)
			if !ok {
				continue
			}
			df := 0
			for _, other := range texts {
				if _, ok := slices.BinarySearch(knowledge.DocumentVector(other).Indices, term); ok {
					df++
				}
			}
			sum += knowledge.IDF(df, len(texts)) * float64(q.Values[i]) * float64(dv.Values[j])
		}
		return sum
	}
	check := func(query string) {
		t.Helper()
		hits, err := s.SearchSparse(ctx, knowledge.QueryVector(query), 10, knowledge.Filter{})
		must(t, err)
		if len(hits) == 0 {
			t.Fatalf("SearchSparse(%q) found nothing", query)
		}
		for _, h := range hits {
			if want := score(query, h.Chunk.DocID, texts); !approx(h.Score, want) {
				t.Errorf("SearchSparse(%q): %s scores %v, want %v", query, h.Chunk.ID, h.Score, want)
			}
		}
	}
	check("运费由谁承担")
	// Document frequencies follow deletes and replaces.
	if _, err := s.DeleteDocument(ctx, "exchange"); err != nil {
		t.Fatal(err)
	}
	delete(texts, "exchange")
	check("运费由谁承担")
	texts["member"] = "会员运费：会员包邮，运费由商家承担。"
	must(t, s.ReplaceDocument(ctx, "member", []knowledge.Chunk{textChunk("member", 0, texts["member"])}))
	check("运费由谁承担")

	if hits, err := s.SearchSparse(ctx, knowledge.QueryVector("hello"), 3, knowledge.Filter{}); err != nil || len(hits) != 0 {
		t.Errorf("SearchSparse of an unknown term = %v, %v", hits, err)
	}
}

// TestFilters checks tag filters on both sides, in exact mode and with the
// graph, where a wide filter searches the graph and a narrow one is exact.
func TestFilters(t *testing.T) {
	const n = 600
	d := clustered(3, n, 20, 16, 30, 0.1)
	tagOf := func(i int) []string {
		var tags []string
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		if i%50 == 0 {
			tags = append(tags, "rare")
		}
		if i%3 == 0 {
			tags = append(tags, "three")
		}
		return tags
	}
	has := func(i int, tags ...string) bool {
		for _, t := range tags {
			if slices.Contains(tagOf(i), t) {
				return true
			}
		}
		return false
	}
	for _, exactBelow := range []int{1 << 30, 100} {
		t.Run(fmt.Sprintf("ExactBelow=%d", exactBelow), func(t *testing.T) {
			ctx := context.Background()
			s := open(t, "", Options{ExactBelow: exactBelow, EfSearch: 64})
			ingest(t, s, d, 10, tagOf)
			if (s.graph != nil) != (exactBelow == 100) {
				t.Fatalf("graph = %v with ExactBelow %d", s.graph != nil, exactBelow)
			}
			for _, tags := range [][]string{{"even"}, {"rare"}, {"rare", "three"}, {"even", "three"}, {"none"}} {
				var rec float64
				for _, q := range d.queries {
					hits, err := s.SearchDense(ctx, q, 10, knowledge.Filter{Tags: tags})
					must(t, err)
					var want []string
					for _, i := range bruteForce(d.vecs, q, 10, func(i int) bool { return has(i, tags...) }) {
						_, id := chunkID(i, 10)
						want = append(want, id)
					}
					if len(hits) != len(want) {
						t.Fatalf("tags %v: %d hits, want %d", tags, len(hits), len(want))
					}
					for _, h := range hits {
						if !slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(h.Chunk.Tags, t) }) {
							t.Errorf("tags %v: hit %s has tags %v", tags, h.Chunk.ID, h.Chunk.Tags)
						}
					}
					rec += recall(want, hits)
				}
				if rec /= float64(len(d.queries)); rec < 0.95 {
					t.Errorf("tags %v: recall %.3f", tags, rec)
				}
			}
		})
	}
}

// TestSparseFilter uses sparse vectors with tags.
func TestSparseFilter(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", Options{})
	must(t, s.ReplaceDocument(ctx, "a", []knowledge.Chunk{textChunk("a", 0, "退货运费", "售后"), textChunk("a", 1, "退货地址", "物流")}))
	must(t, s.ReplaceDocument(ctx, "b", []knowledge.Chunk{textChunk("b", 0, "退货时间", "售后", "物流")}))
	for _, tt := range []struct {
		tags []string
		want []string
	}{
		{nil, []string{"a#0", "a#1", "b#0"}},
		{[]string{"售后"}, []string{"a#0", "b#0"}},
		{[]string{"物流"}, []string{"a#1", "b#0"}},
		{[]string{"售后", "物流"}, []string{"a#0", "a#1", "b#0"}},
		{[]string{"会员"}, nil},
	} {
		hits, err := s.SearchSparse(ctx, knowledge.QueryVector("退货"), 10, knowledge.Filter{Tags: tt.tags})
		must(t, err)
		got := ids(hits)
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("tags %v: %v, want %v", tt.tags, got, tt.want)
		}
	}
}

// TestDenseExactVsHNSW compares the graph with brute force on the same
// data: the same hits with the same scores, recall@10 at least 0.95.
func TestDenseExactVsHNSW(t *testing.T) {
	ctx := context.Background()
	d := clustered(4, 3000, 50, 48, 100, 0.08)
	exact := open(t, "", Options{ExactBelow: 1 << 30})
	hnsw := open(t, "", Options{ExactBelow: 500})
	ingest(t, exact, d, 50, nil)
	ingest(t, hnsw, d, 50, nil)
	if exact.graph != nil || hnsw.graph == nil {
		t.Fatal("wrong modes")
	}
	var rec float64
	for _, q := range d.queries {
		want, err := exact.SearchDense(ctx, q, 10, knowledge.Filter{})
		must(t, err)
		got, err := hnsw.SearchDense(ctx, q, 10, knowledge.Filter{})
		must(t, err)
		var bf []string
		for _, i := range bruteForce(d.vecs, q, 10, nil) {
			_, id := chunkID(i, 50)
			bf = append(bf, id)
		}
		if !slices.Equal(ids(want), bf) {
			t.Fatalf("exact search = %v, brute force %v", ids(want), bf)
		}
		rec += recall(bf, got)
		for i, h := range got {
			if i > 0 && h.Score > got[i-1].Score {
				t.Errorf("hits out of order: %v", got)
			}
			if s := float64(dot(q, d.vecs[indexOf(h.Chunk.ID, 50)])); !approx(h.Score, s) {
				t.Errorf("%s scores %v, cosine is %v", h.Chunk.ID, h.Score, s)
			}
		}
	}
	if rec /= float64(len(d.queries)); rec < 0.95 {
		t.Errorf("HNSW recall@10 = %.3f, want >= 0.95", rec)
	}
}

func indexOf(id string, per int) int {
	var doc, pos int
	fmt.Sscanf(id, "doc-%d#%d", &doc, &pos)
	return doc*per + pos
}

// TestGraphChurn replaces every document several times with the graph on:
// deleted nodes are repaired away, their slots reused, and recall holds.
func TestGraphChurn(t *testing.T) {
	ctx := context.Background()
	const n, per = 1000, 20
	s := open(t, "", Options{ExactBelow: 300})
	var cur *dataset
	for round := range 3 {
		cur = clustered(10+uint64(round), n, 30, 32, 30, 0.1)
		ingest(t, s, cur, per, nil)
	}
	if s.graph == nil {
		t.Fatal("no graph")
	}
	if len(s.slots) > 2*n {
		t.Errorf("%d slots for %d chunks: deleted slots are not reused", len(s.slots), n)
	}
	var rec float64
	for _, q := range cur.queries {
		hits, err := s.SearchDense(ctx, q, 10, knowledge.Filter{})
		must(t, err)
		var want []string
		for _, i := range bruteForce(cur.vecs, q, 10, nil) {
			_, id := chunkID(i, per)
			want = append(want, id)
		}
		rec += recall(want, hits)
	}
	if rec /= float64(len(cur.queries)); rec < 0.95 {
		t.Errorf("recall@10 after churn = %.3f", rec)
	}
	s.wmu.Lock()
	s.repair()
	checkGraph(t, s)
	s.wmu.Unlock()
}

// checkGraph checks the graph's invariants once repaired: every published
// chunk is a node, no link leads to a free slot or a node missing at that
// level, the entry point is on the top level.
func checkGraph(t *testing.T, s *Store) {
	t.Helper()
	g := s.graph
	top := -1
	for slot, e := range s.slots {
		level := int(g.levels[slot])
		if (e != nil) != (level >= 0) {
			t.Fatalf("slot %d: published %v, level %d", slot, e != nil, level)
		}
		top = max(top, level)
		for l := 0; l <= level; l++ {
			for _, id := range g.links(uint32(slot), l, nil) {
				if int(g.levels[id]) < l || s.slots[id] == nil || int(id) == slot {
					t.Fatalf("slot %d level %d links to %d (level %d)", slot, l, id, g.levels[id])
				}
			}
		}
	}
	if _, level, ok := g.entry(); ok != (top >= 0) || level != top {
		t.Errorf("entry level %d, top level %d", level, top)
	}
}

// TestModes checks the switch to the graph at ExactBelow and back under
// half of it.
func TestModes(t *testing.T) {
	ctx := context.Background()
	d := clustered(5, 300, 5, 16, 10, 0.1)
	s := open(t, "", Options{ExactBelow: 200})
	ingest(t, s, d, 10, nil)
	if s.graph == nil {
		t.Fatal("no graph at 300 chunks, ExactBelow 200")
	}
	// The snapshot is saved as the graph is built and grows, not only at
	// Close, so that a crash leaves little to bring up to date.
	if _, err := os.Stat(s.snapPath()); err != nil || s.snapGen == 0 || s.gen-s.snapGen > 3 {
		t.Errorf("snapshot: %v, of generation %d, file at %d", err, s.snapGen, s.gen)
	}
	for i := range 22 { // 80 chunks left
		doc, _ := chunkID(i*10, 10)
		if _, err := s.DeleteDocument(ctx, doc); err != nil {
			t.Fatal(err)
		}
	}
	if s.graph != nil {
		t.Fatalf("graph kept at %d chunks", s.Len())
	}
	if _, err := os.Stat(s.snapPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("snapshot of a dropped graph: %v", err)
	}
	hits, err := s.SearchDense(ctx, d.queries[0], 5, knowledge.Filter{})
	if err != nil || len(hits) != 5 {
		t.Fatalf("SearchDense = %d hits, %v", len(hits), err)
	}
}

func TestScan(t *testing.T) {
	ctx := context.Background()
	s := open(t, "", Options{})
	in := []knowledge.Chunk{textChunk("a", 0, "退货", "售后"), textChunk("a", 1, "运费"), textChunk("b", 0, "发票")}
	must(t, s.ReplaceDocument(ctx, "a", in[:2]))
	must(t, s.ReplaceDocument(ctx, "b", in[2:]))
	var out []knowledge.Chunk
	must(t, s.Scan(ctx, func(c knowledge.Chunk) error { out = append(out, c); return nil }))
	if diff := cmp.Diff(in, out, approxFloats); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	if err := s.Scan(ctx, func(knowledge.Chunk) error { return stop }); err != stop {
		t.Errorf("Scan returned %v, want fn's error", err)
	}
}

var approxFloats = cmp.Comparer(func(a, b float32) bool { return approx(float64(a), float64(b)) })

// TestConcurrency runs searches against a writer replacing documents, in
// exact mode and with the graph: a search sees a document's chunks all
// from one version, never a mix, never none. Run with -race.
func TestConcurrency(t *testing.T) {
	for _, exactBelow := range []int{1 << 30, 100} {
		t.Run(fmt.Sprintf("ExactBelow=%d", exactBelow), func(t *testing.T) {
			ctx := context.Background()
			d := clustered(6, 400, 0, 16, 20, 0.1)
			s := open(t, "", Options{ExactBelow: exactBelow})
			ingest(t, s, d, 10, nil)
			version := func(v int) []knowledge.Chunk {
				var cs []knowledge.Chunk
				for i := range 5 {
					c := textChunk("hot", i, fmt.Sprintf("版本%d 退货", v), "hot")
					c.Vector = d.vecs[i]
					cs = append(cs, c)
				}
				return cs
			}
			must(t, s.ReplaceDocument(ctx, "hot", version(0)))
			var stop atomic.Bool
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for r := range 3 {
				wg.Go(func() {
					for !stop.Load() {
						var hits []knowledge.Hit
						var err error
						switch r {
						case 0:
							hits, err = s.SearchDense(ctx, d.vecs[1], 50, knowledge.Filter{Tags: []string{"hot"}})
						case 1:
							hits, err = s.SearchSparse(ctx, knowledge.QueryVector("退货"), 50, knowledge.Filter{})
						case 2: // the graph's path: the hot chunks are likely, not sure, to be found
							hits, err = s.SearchDense(ctx, d.vecs[1], 50, knowledge.Filter{})
						}
						if err != nil {
							errs <- err
							return
						}
						n, texts := 0, map[string]bool{}
						for _, h := range hits {
							if h.Chunk.DocID == "hot" {
								n++
								texts[h.Chunk.Text] = true
							}
						}
						if len(texts) > 1 || r < 2 && n != 5 {
							errs <- fmt.Errorf("search %d saw %d chunks of %d versions: %v", r, n, len(texts), texts)
							return
						}
						s.Documents(ctx)
					}
				})
			}
			for v := 1; v <= 30; v++ {
				must(t, s.ReplaceDocument(ctx, "hot", version(v)))
				doc, _ := chunkID((v%40)*10, 10)
				s.DeleteDocument(ctx, doc)
			}
			stop.Store(true)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
