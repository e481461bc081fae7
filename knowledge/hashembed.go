package knowledge

import (
	"context"
	"math"
	"unicode"
)

// HashEmbedder embeds texts without a model: each of the text's terms
// (Han characters, bigrams, Latin words; see Terms) is hashed into one of
// Dim buckets, bigrams and words counting twice, and the counts are
// L2-normalised (feature hashing). Its similarities are lexical, like BM25's,
// so it is the embedder of a knowledge base with no encoder model; a model
// finds paraphrases it cannot.
type HashEmbedder struct {
	Dims int // default 256
}

// Dim is the vector size.
func (h HashEmbedder) Dim() int {
	if h.Dims <= 0 {
		return 256
	}
	return h.Dims
}

// Embed returns one unit vector per text; a text with no terms gets a
// vector with one fixed bucket set, so every vector is valid.
func (h HashEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	dim := h.Dim()
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, dim)
		for _, term := range Terms(t) {
			w := float32(2)
			if rs := []rune(term); len(rs) == 1 && unicode.Is(unicode.Han, rs[0]) {
				w = 1
			}
			v[termID(term)%uint32(dim)] += w
		}
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		if n == 0 {
			v[0], n = 1, 1
		}
		s := float32(1 / math.Sqrt(n))
		for j := range v {
			v[j] *= s
		}
		out[i] = v
	}
	return out, nil
}
