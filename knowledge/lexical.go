package knowledge

import (
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"unicode"
)

// BM25 parameters of the lexical side. The document length normalisation
// uses a fixed average length, so a chunk's sparse vector depends on the
// chunk alone and a store (Qdrant included) only has to add IDF.
const (
	bm25K1     = 1.2
	bm25B      = 0.75
	bm25AvgLen = 48.0 // terms in a typical chunk's match text
)

// Terms splits normalized text into the lexical terms kefu indexes: every
// Han character, every pair of adjacent Han characters, and every run of
// Latin letters or digits (lower-cased). Chinese needs no word segmenter
// this way: a bigram index finds 退货 and 运费 as words while single
// characters keep recall for one-character words.
func Terms(text string) []string {
	var out []string
	var prev rune
	var word strings.Builder
	flush := func() {
		if word.Len() > 0 {
			out = append(out, word.String())
			word.Reset()
		}
	}
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.Is(unicode.Han, r):
			flush()
			out = append(out, string(r))
			if prev != 0 {
				out = append(out, string(prev)+string(r))
			}
			prev = r
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			word.WriteRune(r)
		default:
			flush()
		}
		prev = 0
	}
	flush()
	return out
}

// termID hashes a term to a sparse index.
func termID(t string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(t))
	return h.Sum32()
}

// DocumentVector is the sparse vector of a chunk's match text: each term's
// BM25 term-frequency weight, tf·(k1+1) / (tf + k1·(1 − b + b·len/avg)).
func DocumentVector(text string) SparseVector {
	terms := Terms(text)
	tf := map[uint32]float64{}
	for _, t := range terms {
		tf[termID(t)]++
	}
	norm := bm25K1 * (1 - bm25B + bm25B*float64(len(terms))/bm25AvgLen)
	return sparse(tf, func(f float64) float64 { return f * (bm25K1 + 1) / (f + norm) })
}

// QueryVector is the sparse vector of a query: 1 for each distinct term.
func QueryVector(text string) SparseVector {
	tf := map[uint32]float64{}
	for _, t := range Terms(text) {
		tf[termID(t)] = 1
	}
	return sparse(tf, func(f float64) float64 { return f })
}

func sparse(m map[uint32]float64, weight func(float64) float64) SparseVector {
	v := SparseVector{Indices: make([]uint32, 0, len(m)), Values: make([]float32, 0, len(m))}
	for id := range m {
		v.Indices = append(v.Indices, id)
	}
	slices.Sort(v.Indices)
	for _, id := range v.Indices {
		v.Values = append(v.Values, float32(weight(m[id])))
	}
	return v
}

// IDF is BM25's inverse document frequency for a term in df of n chunks.
func IDF(df, n int) float64 {
	return math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
}

// queryTerm is a distinct query term with its coverage weight.
type queryTerm struct {
	id uint32
	w  float64
	t  string
}

// queryTerms lists a query's distinct terms: bigrams and words weigh 2,
// single Han characters 1.
func queryTerms(query string) []queryTerm {
	var out []queryTerm
	seen := map[string]bool{}
	for _, t := range Terms(query) {
		if seen[t] {
			continue
		}
		seen[t] = true
		w := 2.0
		if rs := []rune(t); len(rs) == 1 && unicode.Is(unicode.Han, rs[0]) {
			w = 1
		}
		out = append(out, queryTerm{termID(t), w, t})
	}
	return out
}

// coverageSparse is the calibrated lexical score of a hit: the share of
// the query's terms (weighted by queryTerms) found in the chunk's sparse
// vector. It is 1 when the chunk holds the whole query and 0 when they
// share nothing, whatever the store's BM25 scale.
func coverageSparse(q []queryTerm, v SparseVector) float64 {
	var got, all float64
	for _, t := range q {
		all += t.w
		if _, ok := slices.BinarySearch(v.Indices, t.id); ok {
			got += t.w
		}
	}
	if all == 0 {
		return 0
	}
	return got / all
}
