package knowledge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Fusion is how a Retriever merges the dense and lexical rankings.
type Fusion string

const (
	FusionRRF      Fusion = "rrf"      // reciprocal rank fusion: Σ 1/(k + rank)
	FusionWeighted Fusion = "weighted" // by Result.Score
)

// RetrieverConfig tunes hybrid retrieval. Zero fields take the defaults.
type RetrieverConfig struct {
	TopK        int     // results returned; default 5
	Candidates  int     // hits asked of each side; default 50
	Fusion      Fusion  // default rrf
	RRFK        int     // default 60
	DenseWeight float64 // weight of the dense side in Score; default 0.5 (0 with no embedder)
}

// Result is a retrieved chunk. Score is the calibrated match in [0, 1]
// that the engine's thresholds apply to: DenseWeight·Dense + (1 −
// DenseWeight)·Lexical. Dense is the cosine similarity of the query and the
// chunk; Lexical is the share of the query's terms the chunk holds
// (bigrams and words counting twice as much as single characters).
type Result struct {
	Chunk   Chunk    `json:"chunk"`
	Score   float64  `json:"score"`
	Dense   float64  `json:"dense"`
	Lexical float64  `json:"lexical"`
	Matched []string `json:"matched"` // the query's words and bigrams found in the chunk
}

// Retriever runs hybrid searches over a Store. It is safe for concurrent use.
type Retriever struct {
	store     Store
	emb       Embedder
	normalize func(string) string
	cfg       RetrieverConfig
}

// NewRetriever returns a Retriever. emb may be nil: retrieval is then
// lexical only. normalize, when not nil, is applied to queries (the turn's
// normalizer, so 運費 finds 运费).
func NewRetriever(store Store, emb Embedder, normalize func(string) string, cfg RetrieverConfig) *Retriever {
	if cfg.TopK <= 0 {
		cfg.TopK = 5
	}
	if cfg.Candidates < cfg.TopK {
		cfg.Candidates = max(50, cfg.TopK)
	}
	if cfg.Fusion == "" {
		cfg.Fusion = FusionRRF
	}
	if cfg.RRFK <= 0 {
		cfg.RRFK = 60
	}
	if cfg.DenseWeight <= 0 || cfg.DenseWeight > 1 {
		cfg.DenseWeight = 0.5
	}
	if emb == nil {
		cfg.DenseWeight = 0
	}
	return &Retriever{store: store, emb: emb, normalize: normalize, cfg: cfg}
}

// Config returns the configuration in force, defaults applied.
func (r *Retriever) Config() RetrieverConfig { return r.cfg }

// ErrEmptyQuery is returned for a query with no searchable terms.
var ErrEmptyQuery = errors.New("knowledge: empty query")

// Search returns up to k results (k ≤ 0: the configured TopK), best first.
func (r *Retriever) Search(ctx context.Context, query string, k int, f Filter) ([]Result, error) {
	if k <= 0 {
		k = r.cfg.TopK
	}
	if r.normalize != nil {
		query = r.normalize(query)
	}
	qv := QueryVector(query)
	if len(qv.Indices) == 0 {
		return nil, ErrEmptyQuery
	}
	qt := queryTerms(query)
	type cand struct {
		chunk              Chunk
		dense              float64
		denseRank, lexRank int // 1-based; 0 when absent
	}
	cands := map[string]*cand{}
	get := func(c Chunk) *cand {
		x, ok := cands[c.ID]
		if !ok {
			x = &cand{chunk: c}
			cands[c.ID] = x
		}
		return x
	}
	lex, err := r.store.SearchSparse(ctx, qv, r.cfg.Candidates, f)
	if err != nil {
		return nil, fmt.Errorf("knowledge: lexical search: %w", err)
	}
	for i, h := range lex {
		get(h.Chunk).lexRank = i + 1
	}
	var qvec []float32
	floor := 0.0 // estimate for chunks the dense side did not return
	if r.emb != nil && r.store.Dim() > 0 {
		vecs, err := r.emb.Embed(ctx, []string{query})
		if err != nil {
			return nil, fmt.Errorf("knowledge: embed query: %w", err)
		}
		qvec = vecs[0]
		dense, err := r.store.SearchDense(ctx, qvec, r.cfg.Candidates, f)
		if err != nil {
			return nil, fmt.Errorf("knowledge: dense search: %w", err)
		}
		for i, h := range dense {
			c := get(h.Chunk)
			c.denseRank, c.dense = i+1, h.Score
		}
		if n := len(dense); n > 0 {
			floor = dense[n-1].Score
		}
	}
	type scored struct {
		Result
		rrf    float64
		sparse SparseVector
	}
	all := make([]scored, 0, len(cands))
	for _, c := range cands {
		dense := c.dense
		if c.denseRank == 0 {
			if v := c.chunk.Vector; len(v) == len(qvec) && len(v) > 0 {
				dense = cosine(qvec, v)
			} else {
				dense = floor
			}
		}
		dense = math.Max(0, math.Min(1, dense))
		sparse := c.chunk.Sparse
		if len(sparse.Indices) == 0 { // a store that keeps no sparse vectors
			sparse = DocumentVector(c.chunk.MatchText())
		}
		lexical := coverageSparse(qt, sparse)
		w := r.cfg.DenseWeight
		x := scored{Result: Result{Chunk: c.chunk, Dense: round4(dense), Lexical: round4(lexical), Score: round4(w*dense + (1-w)*lexical)},
			sparse: sparse}
		x.Chunk.Vector, x.Chunk.Sparse = nil, SparseVector{}
		for _, rank := range []int{c.denseRank, c.lexRank} {
			if rank > 0 {
				x.rrf += 1 / float64(r.cfg.RRFK+rank)
			}
		}
		all = append(all, x)
	}
	slices.SortFunc(all, func(a, b scored) int {
		if r.cfg.Fusion == FusionRRF && a.rrf != b.rrf {
			return cmp.Compare(b.rrf, a.rrf)
		}
		if a.Score != b.Score {
			return cmp.Compare(b.Score, a.Score)
		}
		return strings.Compare(a.Chunk.ID, b.Chunk.ID)
	})
	out := make([]Result, 0, min(k, len(all)))
	for _, x := range all[:min(k, len(all))] {
		x.Matched = matchedSparse(qt, x.sparse)
		out = append(out, x.Result)
	}
	return out, nil
}

// matchedSparse lists the query's multi-character terms found in a chunk,
// by their hashes in its sparse vector, in query order, for showing why
// the chunk matched.
func matchedSparse(q []queryTerm, v SparseVector) []string {
	out := []string{}
	for _, t := range q {
		if t.w == 1 { // a single Han character
			continue
		}
		if _, ok := slices.BinarySearch(v.Indices, t.id); ok {
			out = append(out, t.t)
		}
	}
	return out
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

func round4(f float64) float64 { return math.Round(f*10000) / 10000 }
