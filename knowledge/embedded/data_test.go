package embedded

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kefu-chat/kefu/knowledge"
)

// dataset is synthetic embeddings with cluster structure, so that nearest
// neighbours are meaningful: unit centroids, and points at a centroid plus
// Gaussian noise of norm about noise·√dim, normalised. With noise 0.05 at
// 384 dimensions a point's cosine to its own cluster is about 0.5 and to
// others about 0.
type dataset struct {
	dim     int
	vecs    [][]float32
	queries [][]float32
}

func clustered(seed uint64, n, queries, dim, centroids int, noise float64) *dataset {
	r := rand.New(rand.NewPCG(seed, 0x6b656675))
	cs := make([][]float32, centroids)
	for i := range cs {
		cs[i] = randomUnit(r, dim)
	}
	point := func() []float32 {
		c := cs[r.IntN(centroids)]
		v := make([]float32, dim)
		for j := range v {
			v[j] = c[j] + float32(r.NormFloat64()*noise)
		}
		normalize(v)
		return v
	}
	d := &dataset{dim: dim, vecs: make([][]float32, n), queries: make([][]float32, queries)}
	for i := range d.vecs {
		d.vecs[i] = point()
	}
	for i := range d.queries {
		d.queries[i] = point()
	}
	return d
}

func randomUnit(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for j := range v {
		v[j] = float32(r.NormFloat64())
	}
	normalize(v)
	return v
}

// chunkID names the i-th vector's chunk when documents hold per chunks.
func chunkID(i, per int) (doc, id string) {
	doc = fmt.Sprintf("doc-%05d", i/per)
	return doc, fmt.Sprintf("%s#%d", doc, i%per)
}

// ingest stores d's vectors as documents of per chunks each, the chunk
// ids given by chunkID; tag, when not nil, names each chunk's tags.
func ingest(tb testing.TB, s *Store, d *dataset, per int, tag func(i int) []string) {
	tb.Helper()
	ctx := context.Background()
	for start := 0; start < len(d.vecs); start += per {
		doc, _ := chunkID(start, per)
		var cs []knowledge.Chunk
		for i := start; i < min(start+per, len(d.vecs)); i++ {
			_, id := chunkID(i, per)
			c := knowledge.Chunk{ID: id, DocID: doc, Position: i - start, Text: id, Vector: d.vecs[i]}
			if tag != nil {
				c.Tags = tag(i)
			}
			cs = append(cs, c)
		}
		if err := s.ReplaceDocument(ctx, doc, cs); err != nil {
			tb.Fatal(err)
		}
	}
}

// bruteForce is the exact top k of vecs by dot product with q, as indexes.
func bruteForce(vecs [][]float32, q []float32, k int, allow func(int) bool) []int {
	h := heap{} // farthest on top; distance 1 − cosine, ties by index
	for i, v := range vecs {
		if allow == nil || allow(i) {
			h.offer(candidate{1 - dot(q, v), uint32(i)}, k)
		}
	}
	slices.SortFunc(h.c, byDistance)
	out := make([]int, len(h.c))
	for i, c := range h.c {
		out[i] = int(c.id)
	}
	return out
}

// recall is the share of want's ids among got's.
func recall(want []string, got []knowledge.Hit) float64 {
	if len(want) == 0 {
		return 1
	}
	set := map[string]bool{}
	for _, h := range got {
		set[h.Chunk.ID] = true
	}
	n := 0
	for _, id := range want {
		if set[id] {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-5*(1+math.Abs(b)) }
