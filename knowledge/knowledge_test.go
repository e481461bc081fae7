package knowledge

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// memStore is a brute-force Store for tests of the retriever and ingester.
type memStore struct {
	mu     sync.Mutex
	chunks map[string]Chunk
	dim    int
}

func newMemStore() *memStore { return &memStore{chunks: map[string]Chunk{}} }

func (m *memStore) ReplaceDocument(ctx context.Context, doc string, cs []Chunk) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, c := range m.chunks {
		if c.DocID == doc {
			delete(m.chunks, id)
		}
	}
	for _, c := range cs {
		if len(c.Vector) > 0 {
			m.dim = len(c.Vector)
		}
		m.chunks[c.ID] = c
	}
	return nil
}

func (m *memStore) DeleteDocument(ctx context.Context, doc string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, c := range m.chunks {
		if c.DocID == doc {
			delete(m.chunks, id)
			n++
		}
	}
	return n, nil
}

func (m *memStore) match(c Chunk, f Filter) bool {
	if len(f.Tags) == 0 {
		return true
	}
	for _, t := range f.Tags {
		if slices.Contains(c.Tags, t) {
			return true
		}
	}
	return false
}

func (m *memStore) top(hits []Hit, k int) []Hit {
	sort.Slice(hits, func(i, j int) bool { return hits[i].Score > hits[j].Score })
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits
}

func (m *memStore) SearchDense(ctx context.Context, v []float32, k int, f Filter) ([]Hit, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var hits []Hit
	for _, c := range m.chunks {
		if m.match(c, f) {
			hits = append(hits, Hit{c, cosine(v, c.Vector)})
		}
	}
	return m.top(hits, k), nil
}

func (m *memStore) SearchSparse(ctx context.Context, q SparseVector, k int, f Filter) ([]Hit, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	df := map[uint32]int{}
	for _, c := range m.chunks {
		for _, i := range c.Sparse.Indices {
			df[i]++
		}
	}
	var hits []Hit
	for _, c := range m.chunks {
		s := 0.0
		for qi, t := range q.Indices {
			if j, ok := slices.BinarySearch(c.Sparse.Indices, t); ok {
				s += float64(q.Values[qi]) * float64(c.Sparse.Values[j]) * IDF(df[t], len(m.chunks))
			}
		}
		if s > 0 && m.match(c, f) {
			hits = append(hits, Hit{c, s})
		}
	}
	return m.top(hits, k), nil
}

func (m *memStore) Documents(ctx context.Context) (map[string]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for _, c := range m.chunks {
		out[c.DocID]++
	}
	return out, nil
}

func (m *memStore) Dim() int     { return m.dim }
func (m *memStore) Close() error { return nil }

// bagEmbedder embeds texts as normalized character counts over a small
// alphabet: similar texts get similar vectors, deterministically.
type bagEmbedder struct{ calls, texts int }

func (b *bagEmbedder) Dim() int { return 64 }

func (b *bagEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	b.calls++
	b.texts += len(texts)
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, 64)
		for _, r := range t {
			v[int(r)%64]++
		}
		var n float64
		for _, x := range v {
			n += float64(x * x)
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(n) + 1e-9)
		}
		out[i] = v
	}
	return out, nil
}

func faq(id, q, a string, tags ...string) Document {
	return Document{ID: id, Format: FormatFAQ, Title: q, Content: a, Tags: tags}
}

func splitFAQ(d Document) []Chunk {
	if d.Content == "" {
		return nil
	}
	return []Chunk{{ID: d.ID + "#0", DocID: d.ID, Title: d.Title, Questions: []string{d.Title}, Answer: d.Content, Text: "问：" + d.Title + "\n答：" + d.Content, Tags: d.Tags}}
}

var docs = []Document{
	faq("ship-1", "多久能发货", "16:00 前下单当天发货。", "物流"),
	faq("ship-2", "运费怎么算", "满 99 元包邮，不满收 8 元。", "物流"),
	faq("ret-1", "七天无理由退货怎么申请", "签收 7 天内在订单页申请退货。", "退换货"),
	faq("pay-1", "支持花呗分期吗", "支持花呗 3/6/12 期。", "支付"),
}

func TestTerms(t *testing.T) {
	got := strings.Join(Terms("退货运费 iPhone15，谁出？"), " ")
	want := "退 货 退货 运 货运 费 运费 iphone15 谁 出 谁出"
	if got != want {
		t.Fatalf("Terms = %q, want %q", got, want)
	}
	if c := coverage("运费谁出", "退货的运费由谁出"); c < 0.6 || c > 1 {
		t.Errorf("coverage %v", c)
	}
	if c := coverage("支付方式", "退货运费"); c != 0 {
		t.Errorf("coverage of unrelated texts %v", c)
	}
}

func TestIngestAndRetrieve(t *testing.T) {
	st := newMemStore()
	emb := &bagEmbedder{}
	var progress []int
	in := &Ingester{Store: st, Embedder: emb, Split: splitFAQ, Batch: 3, Progress: func(d, n int) { progress = append(progress, d) }}
	rep, err := in.Ingest(context.Background(), docs)
	if err != nil || rep.Documents != 4 || rep.Chunks != 4 {
		t.Fatalf("%+v %v", rep, err)
	}
	if emb.calls != 2 || emb.texts != 4 {
		t.Errorf("embedding batches: %d calls for %d texts, want 2 for 4", emb.calls, emb.texts)
	}
	if !slices.Equal(progress, []int{1, 2, 3, 4}) {
		t.Errorf("progress %v", progress)
	}
	r := NewRetriever(st, emb, nil, RetrieverConfig{})
	res, err := r.Search(context.Background(), "请问运费是怎么算的", 3, Filter{})
	if err != nil || len(res) == 0 || res[0].Chunk.DocID != "ship-2" {
		t.Fatalf("%+v %v", res, err)
	}
	if res[0].Score <= res[len(res)-1].Score && len(res) > 1 || !slices.Contains(res[0].Matched, "运费") {
		t.Errorf("scores and matched terms: %+v", res)
	}
	res, _ = r.Search(context.Background(), "运费", 3, Filter{Tags: []string{"支付"}})
	for _, h := range res {
		if h.Chunk.DocID != "pay-1" {
			t.Errorf("tag filter let through %s", h.Chunk.DocID)
		}
	}
	if _, err := r.Search(context.Background(), "？！", 3, Filter{}); err != ErrEmptyQuery {
		t.Errorf("empty query: %v", err)
	}
	// Re-ingesting a changed document replaces it; an emptied one goes.
	changed := []Document{faq("ship-2", "运费怎么算", "全场包邮。", "物流"), faq("ship-1", "多久能发货", "")}
	rep, _ = in.Ingest(context.Background(), changed)
	d, _ := st.Documents(context.Background())
	if len(d) != 3 || d["ship-1"] != 0 || rep.Empty[0] != "ship-1" || st.chunks["ship-2#0"].Answer != "全场包邮。" {
		t.Fatalf("after re-ingest: %v %+v", d, rep)
	}
}

func TestLexicalOnly(t *testing.T) {
	st := newMemStore()
	in := &Ingester{Store: st, Split: splitFAQ}
	in.Ingest(context.Background(), docs)
	r := NewRetriever(st, nil, strings.ToLower, RetrieverConfig{Fusion: FusionWeighted})
	res, err := r.Search(context.Background(), "花呗能分期吗", 1, Filter{})
	if err != nil || len(res) != 1 || res[0].Chunk.DocID != "pay-1" || res[0].Dense != 0 || res[0].Score != res[0].Lexical {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestCoverageFromSparseMatchesText(t *testing.T) {
	for _, tc := range [][2]string{{"退货运费谁出", "退货的运费由谁出"}, {"花呗分期", "支持花呗 3/6/12 期"}, {"iPhone 15 能用吗", "支持 iphone 和安卓"}, {"运费", "支付方式"}} {
		want := coverage(tc[0], tc[1])
		got := coverageSparse(queryTerms(tc[0]), DocumentVector(tc[1]))
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%q in %q: sparse %v, text %v", tc[0], tc[1], got, want)
		}
	}
}

// TestMatchedSparse: the matched terms read from a chunk's sparse vector
// are the ones read from its text.
func TestMatchedSparse(t *testing.T) {
	cases := [][2]string{
		{"退货运费谁出", "退货的运费由谁承担？质量问题运费由我们承担"},
		{"iPhone 15 能用快充吗", "支持 iphone 15 的 PD 快充"},
		{"发票多久开好", "电子发票一般在签收后 24 小时内开具"},
		{"完全无关", "退货运费"},
	}
	for _, c := range cases {
		want := matched(c[0], c[1])
		got := matchedSparse(queryTerms(c[0]), DocumentVector(c[1]))
		if !slices.Equal(got, want) {
			t.Errorf("%q in %q: sparse %q, text %q", c[0], c[1], got, want)
		}
	}
}

// matched is the reference for matchedSparse: it lists the query's multi-character terms found in text, in query
// order, for showing why a chunk matched.
func matched(query, text string) []string {
	have := map[string]bool{}
	for _, t := range Terms(text) {
		have[t] = true
	}
	out := []string{}
	seen := map[string]bool{}
	for _, t := range Terms(query) {
		rs := []rune(t)
		if seen[t] || !have[t] || (len(rs) == 1 && unicode.Is(unicode.Han, rs[0])) {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// coverage is the reference for coverageSparse, computed from the texts:
// the share of the query's terms found in text, bigrams and words counting
// twice as much as single characters. It is 1 when the text contains the whole query and 0
// when they share nothing, whatever the store's BM25 scale.
func coverage(query, text string) float64 {
	have := map[string]bool{}
	for _, t := range Terms(text) {
		have[t] = true
	}
	var got, all float64
	for _, q := range queryTerms(query) {
		all += q.w
		if have[q.t] {
			got += q.w
		}
	}
	if all == 0 {
		return 0
	}
	return got / all
}
