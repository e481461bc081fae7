// Package wordmatch finds listed words in text, leftmost-longest and
// without overlaps, for the normalizer's sensitive words and the entity
// extractor's lexicons. It wraps an Aho-Corasick library.
package wordmatch

import ahocorasick "github.com/petar-dambovaliev/aho-corasick"

// Matcher finds words leftmost-longest and without overlaps. It is
// read-only after New and safe for concurrent use.
type Matcher struct {
	ac ahocorasick.AhoCorasick
}

// New builds a Matcher for words, which must be non-empty and distinct.
func New(words []string) *Matcher {
	b := ahocorasick.NewAhoCorasickBuilder(ahocorasick.Opts{
		MatchKind: ahocorasick.LeftMostLongestMatch,
		// The DFA searches about twice as fast but, for 2,000 words, takes
		// 5x the memory (9 MB) and 15x the build time (0.2 s); the NFA
		// searches a message in about a microsecond.
		DFA: false,
	})
	return &Matcher{ac: b.Build(words)}
}

// Each calls fn with the index of the word and the byte offsets of every
// match in s, left to right.
func (m *Matcher) Each(s string, fn func(word, start, end int)) {
	it := m.ac.Iter(s)
	end := 0
	for x := it.Next(); x != nil; x = it.Next() {
		// The library resumes one byte after each match's start, so it
		// also reports matches that overlap the previous one: skip them.
		if x.Start() < end {
			continue
		}
		fn(x.Pattern(), x.Start(), x.End())
		end = x.End()
	}
}
