package chunk

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// A piece is one passage cut from a text, in rune indices: text[from:end]
// is the passage and text[body:end] the part no earlier passage holds
// (from < body where it repeats the end of the previous one).
type piece struct{ from, body, end int }

// Levels of boundaries, coarsest first.
const (
	levelParagraph = iota
	levelSentence
	levelClause
	levelRune
)

// splitText tidies text and cuts it into passages of at most maxRunes
// runes; see Options.
func splitText(text string, maxRunes, overlap int) []string {
	text = tidy(text)
	if text == "" {
		return nil
	}
	r := []rune(text)
	pieces := cut(r, maxRunes, overlap)
	out := make([]string, len(pieces))
	for i, p := range pieces {
		out[i] = string(r[p.from:p.end])
	}
	return out
}

// cut cuts tidy text r into pieces of at most maxRunes runes. Their bodies
// hold every rune of r but the whitespace between them, in order.
func cut(r []rune, maxRunes, overlap int) []piece {
	if len(r) <= maxRunes {
		return []piece{{0, 0, len(r)}}
	}
	budget := maxRunes - overlap // of a body, leaving room for the overlap
	var units []span
	units = appendUnits(units, r, trim(r, span{0, len(r)}), levelParagraph, budget)

	// Pack whole units greedily into bodies.
	var bodies []span
	for _, u := range units {
		if n := len(bodies); n > 0 && u.end-bodies[n-1].start <= budget {
			bodies[n-1].end = u.end
			continue
		}
		bodies = append(bodies, u)
	}

	out := make([]piece, len(bodies))
	for i, b := range bodies {
		out[i] = piece{b.start, b.start, b.end}
		if i == 0 || overlap == 0 {
			continue
		}
		prev := bodies[i-1]
		// The overlap starts in the previous body, holds at most overlap
		// runes of it and keeps the whole piece within maxRunes.
		from := max(prev.end-overlap, b.end-maxRunes, prev.start)
		if from >= prev.end {
			continue
		}
		from = snap(r, from, prev.end)
		if from < prev.end {
			out[i].from = from
		}
	}
	return out
}

type span struct{ start, end int }

// appendUnits appends the pieces of s, cut at boundaries of level and
// finer ones, that each fit in budget runes.
func appendUnits(units []span, r []rune, s span, level, budget int) []span {
	if s.end <= s.start {
		return units
	}
	if s.end-s.start <= budget {
		return append(units, s)
	}
	if level == levelRune {
		for i := s.start; i < s.end; i += budget {
			if t := trim(r, span{i, min(i+budget, s.end)}); t.end > t.start {
				units = append(units, t)
			}
		}
		return units
	}
	start := s.start
	for i := s.start; i < s.end; i++ {
		if breaksAfter(r, i, s.end, level) {
			units = appendUnits(units, r, trim(r, span{start, i + 1}), level+1, budget)
			start = i + 1
		}
	}
	return appendUnits(units, r, trim(r, span{start, s.end}), level+1, budget)
}

// breaksAfter reports whether a piece of the given level ends after r[i]
// (i < end).
func breaksAfter(r []rune, i, end, level int) bool {
	next := rune(0)
	if i+1 < end {
		next = r[i+1]
	}
	switch level {
	case levelParagraph:
		return r[i] == '\n' && next == '\n'
	case levelSentence:
		return sentenceEnd(r, i, next)
	default:
		return strings.ContainsRune("，,、：:", r[i]) && !isCloser(next) && !midWord(r[i], next) ||
			unicode.IsSpace(r[i]) && next != 0 && !unicode.IsSpace(next)
	}
}

// midWord reports whether ASCII punctuation c sits inside a word or number
// ("1,000", "16:00", "a.b"), where it ends nothing.
func midWord(c, next rune) bool {
	return c < utf8.RuneSelf && next < utf8.RuneSelf &&
		('0' <= next && next <= '9' || 'a' <= next && next <= 'z' || 'A' <= next && next <= 'Z')
}

// sentenceEnd reports whether a sentence ends after r[i]: at a line break,
// or after a terminator and any closing quotes or brackets that follow it.
func sentenceEnd(r []rune, i int, next rune) bool {
	if r[i] == '\n' {
		return true
	}
	if isCloser(next) || isTerminator(next) {
		return false
	}
	j := i
	for k := 0; k < 3 && j > 0 && isCloser(r[j]); k++ { // 。”） at most
		j--
	}
	switch {
	case r[j] == '.':
		// Not "3.5", "example.com" nor the "1." of an ordered list item.
		return !midWord('.', next) && !listNumber(r, j)
	case isTerminator(r[j]):
		return !midWord(r[j], next)
	}
	return false
}

// listNumber reports whether the "." at r[i] follows nothing but digits on
// its line.
func listNumber(r []rune, i int) bool {
	j := i
	for j > 0 && '0' <= r[j-1] && r[j-1] <= '9' {
		j--
	}
	return j < i && (j == 0 || r[j-1] == '\n' || unicode.IsSpace(r[j-1]))
}

func isTerminator(c rune) bool { return strings.ContainsRune("。！？!?；;…", c) }
func isCloser(c rune) bool     { return strings.ContainsRune("”’\"'」』）)】》]", c) }

// snap moves an overlap start at from forward to the start of a sentence,
// else of a clause, before end, so the overlap starts cleanly if it can.
func snap(r []rune, from, end int) int {
	for _, level := range []int{levelSentence, levelClause} {
		if from > 0 && breaksAfter(r, from-1, end, level) {
			return skipSpace(r, from, end)
		}
		for i := from; i < end-1; i++ {
			if breaksAfter(r, i, end, level) {
				return skipSpace(r, i+1, end)
			}
		}
	}
	return skipSpace(r, from, end)
}

func skipSpace(r []rune, i, end int) int {
	for i < end && unicode.IsSpace(r[i]) {
		i++
	}
	return i
}

// trim narrows s to exclude leading and trailing whitespace.
func trim(r []rune, s span) span {
	for s.start < s.end && unicode.IsSpace(r[s.start]) {
		s.start++
	}
	for s.end > s.start && unicode.IsSpace(r[s.end-1]) {
		s.end--
	}
	return s
}
