package embedded

import (
	"math/bits"
	"slices"
)

// invIndex is the BM25 inverted index: term id -> postings (slot, the
// chunk's stored term weight). A term's document frequency is its number
// of postings. Removing a chunk swaps each of its postings with its list's
// last one, so a delete costs O(terms · log terms) however common the
// terms are (a Chinese character like 的 is in most chunks).
type invIndex struct {
	post  map[uint32]*postings
	terms [][]uint32 // by slot: the chunk's term ids, ascending
	pos   [][]uint32 // by slot: where each of them sits in its postings
}

type postings struct {
	slots   []uint32
	weights []float32
}

func newInvIndex() *invIndex { return &invIndex{post: map[uint32]*postings{}} }

func (x *invIndex) grow(n int) {
	for len(x.terms) < n {
		x.terms = append(x.terms, nil)
		x.pos = append(x.pos, nil)
	}
}

func (x *invIndex) add(slot uint32, terms []uint32, weights []float32) {
	pos := make([]uint32, len(terms))
	for i, t := range terms {
		p := x.post[t]
		if p == nil {
			p = &postings{}
			x.post[t] = p
		}
		pos[i] = uint32(len(p.slots))
		p.slots = append(p.slots, slot)
		p.weights = append(p.weights, weights[i])
	}
	x.terms[slot], x.pos[slot] = terms, pos
}

// build indexes every chunk of slots at once, as Open does: it counts
// each term's postings first and carves them from one array, instead of
// growing millions of small slices. The index must be empty.
func (x *invIndex) build(slots []*entry) {
	x.grow(len(slots))
	total := 0
	for _, e := range slots {
		if e != nil {
			total += len(e.chunk.Sparse.Indices)
		}
	}
	// term -> postings count, then index in post. Most terms of a large
	// store are rare bigrams: guess a distinct term per ten postings.
	where := make(map[uint32]int32, total/10)
	for _, e := range slots {
		if e != nil {
			for _, t := range e.chunk.Sparse.Indices {
				where[t]++
			}
		}
	}
	x.post = make(map[uint32]*postings, len(where))
	post := make([]postings, 0, len(where))
	ids := make([]uint32, total)
	weights := make([]float32, total)
	off := 0
	for t, n := range where {
		end := off + int(n)
		post = append(post, postings{slots: ids[off:off:end], weights: weights[off:off:end]})
		x.post[t] = &post[len(post)-1]
		where[t] = int32(len(post) - 1)
		off = end
	}
	pos := make([]uint32, total)
	off = 0
	for slot, e := range slots {
		if e == nil {
			continue
		}
		terms := e.chunk.Sparse.Indices
		end := off + len(terms)
		x.terms[slot], x.pos[slot] = terms, pos[off:end:end]
		for i, t := range terms {
			p := &post[where[t]]
			pos[off+i] = uint32(len(p.slots))
			p.slots = append(p.slots, uint32(slot))
			p.weights = append(p.weights, e.chunk.Sparse.Values[i])
		}
		off = end
	}
}

func (x *invIndex) remove(slot uint32) {
	for i, t := range x.terms[slot] {
		p := x.post[t]
		j, last := x.pos[slot][i], uint32(len(p.slots)-1)
		if j != last {
			moved := p.slots[last]
			p.slots[j], p.weights[j] = moved, p.weights[last]
			k, _ := slices.BinarySearch(x.terms[moved], t)
			x.pos[moved][k] = j
		}
		p.slots, p.weights = p.slots[:last], p.weights[:last]
		if last == 0 {
			delete(x.post, t)
		}
	}
	x.terms[slot], x.pos[slot] = nil, nil
}

// bitset is a set of slots.
type bitset struct {
	w []uint64
	n int
}

func (b *bitset) set(i uint32) {
	for int(i/64) >= len(b.w) {
		b.w = append(b.w, 0)
	}
	if b.w[i/64]&(1<<(i%64)) == 0 {
		b.w[i/64] |= 1 << (i % 64)
		b.n++
	}
}

func (b *bitset) unset(i uint32) {
	if int(i/64) < len(b.w) && b.w[i/64]&(1<<(i%64)) != 0 {
		b.w[i/64] &^= 1 << (i % 64)
		b.n--
	}
}

func (b *bitset) has(i uint32) bool {
	return int(i/64) < len(b.w) && b.w[i/64]&(1<<(i%64)) != 0
}

// or adds o's members to b.
func (b *bitset) or(o *bitset) {
	for len(b.w) < len(o.w) {
		b.w = append(b.w, 0)
	}
	n := 0
	for i := range b.w {
		if i < len(o.w) {
			b.w[i] |= o.w[i]
		}
		n += bits.OnesCount64(b.w[i])
	}
	b.n = n
}

// each calls fn for every member, ascending.
func (b *bitset) each(fn func(uint32)) {
	for i, w := range b.w {
		for w != 0 {
			fn(uint32(i*64 + bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
}
