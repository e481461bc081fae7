package entity

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/width"

	"github.com/kefu-chat/kefu/engine/internal/wordmatch"
)

// Built-in entity types.
const (
	TypeOrderID = "order_id"
	TypePhone   = "phone"
	TypeEmail   = "email"
	TypeAmount  = "amount"
	TypeDate    = "date"
	TypeTime    = "time"
	TypeNumber  = "number"
)

// builtins lists the built-in types in their tie-break order (see doc.go).
var builtins = []string{TypePhone, TypeEmail, TypeOrderID, TypeAmount, TypeDate, TypeTime, TypeNumber}

// DefaultOrderPattern is the order id pattern when Config.OrderPattern is
// empty: up to three letters, then 8 to 20 digits.
const DefaultOrderPattern = `[A-Za-z]{0,3}\d{8,20}`

// Entity is one entity found in a text.
type Entity struct {
	Type  string // a built-in Type constant or a Def's Name
	Value string // the canonical value; see doc.go
	Text  string // the text as it appeared
	Start int    // offset of the first rune in the text, in runes
	End   int    // offset after the last rune, in runes
}

// Def declares a custom entity type, matched by a regexp or a lexicon.
type Def struct {
	Name    string              // the type, e.g. 颜色 or express_no
	Pattern string              // RE2, matched against normalized (lower-case) text; a group named value, if any, is the Value
	Values  map[string][]string // canonical value -> synonyms; the canonical value matches too
}

// Config configures an Extractor.
type Config struct {
	OrderPattern string // RE2, matched ignoring case; DefaultOrderPattern when empty
	Defs         []Def  // custom types, earlier ones winning ties
}

// Extractor extracts entities. It is immutable and safe for concurrent use.
type Extractor struct {
	order    *regexp.Regexp
	patterns []pattern
	lex      *wordmatch.Matcher
	terms    [][]lexEntry // by matcher pattern
	types    []string
}

type pattern struct {
	name  string
	rank  int
	re    *regexp.Regexp
	value int // the group named value, or 0 for the whole match
}

type lexEntry struct {
	name, value string
	rank        int
}

// New validates cfg and builds an Extractor. Its errors name the bad
// definition and why, as in `entity: 快递单号: bad pattern: …`.
func New(cfg Config) (*Extractor, error) {
	x := &Extractor{types: slices.Clone(builtins)}
	op := cfg.OrderPattern
	if op == "" {
		op = DefaultOrderPattern
	}
	if _, err := regexp.Compile(op); err != nil {
		return nil, fmt.Errorf("entity: %s: bad pattern: %w", TypeOrderID, err)
	}
	x.order = regexp.MustCompile(`(?i:` + op + `)`)
	var terms []string
	index := map[string]int{} // term -> matcher pattern
	for i, d := range cfg.Defs {
		switch {
		case strings.TrimSpace(d.Name) == "":
			return nil, fmt.Errorf("entity: def %d has no name", i+1)
		case slices.Contains(builtins, d.Name):
			return nil, fmt.Errorf("entity: %s: name of a built-in type", d.Name)
		case slices.Contains(x.types, d.Name):
			return nil, fmt.Errorf("entity: %s: declared twice", d.Name)
		case d.Pattern != "" && len(d.Values) > 0:
			return nil, fmt.Errorf("entity: %s: has both a pattern and values", d.Name)
		case d.Pattern == "" && len(d.Values) == 0:
			return nil, fmt.Errorf("entity: %s: needs a pattern or values", d.Name)
		}
		x.types = append(x.types, d.Name)
		if d.Pattern != "" {
			re, err := regexp.Compile(d.Pattern)
			if err != nil {
				return nil, fmt.Errorf("entity: %s: bad pattern: %w", d.Name, err)
			}
			x.patterns = append(x.patterns, pattern{name: d.Name, rank: i, re: re, value: max(re.SubexpIndex("value"), 0)})
			continue
		}
		owner := map[string]string{} // term -> canonical value, within d
		for _, canon := range slices.Sorted(maps.Keys(d.Values)) {
			for _, syn := range append([]string{canon}, d.Values[canon]...) {
				t := fold(syn)
				if t == "" {
					return nil, fmt.Errorf("entity: %s: empty synonym of %q", d.Name, canon)
				}
				if c, ok := owner[t]; ok {
					if c != canon {
						return nil, fmt.Errorf("entity: %s: %q is listed for both %q and %q", d.Name, syn, c, canon)
					}
					continue
				}
				owner[t] = canon
				p, ok := index[t]
				if !ok {
					p = len(terms)
					index[t] = p
					terms = append(terms, t)
					x.terms = append(x.terms, nil)
				}
				x.terms[p] = append(x.terms[p], lexEntry{name: d.Name, value: canon, rank: i})
			}
		}
	}
	if len(terms) > 0 {
		x.lex = wordmatch.New(terms)
	}
	return x, nil
}

// fold lower-cases and width-folds a lexicon term, as engine/normalize
// does to messages, and trims and collapses its spaces.
func fold(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(width.Fold.String(s))), " ")
}

// Types returns the built-in types, then the custom ones in declaration
// order. The caller may modify the slice.
func (x *Extractor) Types() []string {
	return slices.Clone(x.types)
}

// cand is a candidate entity, in byte offsets until resolve.
type cand struct {
	typ, value string
	start, end int
	rank       int // tie-break: lower wins
}

// Ranks of the built-in types: after every custom type.
func builtinRank(typ string) int {
	return 1<<20 + slices.Index(builtins, typ)
}

// Extract returns the entities in text, sorted by Start, without overlaps
// (see doc.go for how overlaps are resolved). text should be normalized
// (engine/normalize): lower-case, half-width, simplified. Invalid UTF-8 is
// read as U+FFFD, one per bad byte, so offsets count runes as []rune(text)
// does. Relative dates are resolved against now, in now's location.
func (x *Extractor) Extract(text string, now time.Time) []Entity {
	if text == "" {
		return nil
	}
	if !utf8.ValidString(text) {
		text = string([]rune(text))
	}
	var cs []cand
	add := func(typ, value string, start, end, rank int) {
		if start < end {
			cs = append(cs, cand{typ: typ, value: value, start: start, end: end, rank: rank})
		}
	}
	x.custom(text, add)
	builtinCands(text, x.order, now, func(typ, value string, start, end int) {
		add(typ, value, start, end, builtinRank(typ))
	})
	return resolve(text, cs)
}

// custom finds the custom types.
func (x *Extractor) custom(text string, add func(typ, value string, start, end, rank int)) {
	for _, p := range x.patterns {
		for _, m := range p.re.FindAllStringSubmatchIndex(text, -1) {
			if v := group(text, m, p.value); v != "" {
				add(p.name, v, m[0], m[1], p.rank)
			}
		}
	}
	if x.lex == nil {
		return
	}
	x.lex.Each(text, func(t, start, end int) {
		// A term that starts or ends with a Latin letter or digit must not
		// sit inside a word: l is a size, not part of hello.
		if (isAlnum(text[start]) && start > 0 && isAlnum(text[start-1])) ||
			(isAlnum(text[end-1]) && end < len(text) && isAlnum(text[end])) {
			return
		}
		for _, e := range x.terms[t] {
			add(e.name, e.value, start, end, e.rank)
		}
	})
}

// resolve converts cs to rune offsets and keeps, greedily, the longest
// candidates, then the lowest rank, then the leftmost, dropping any that
// overlap one already kept.
func resolve(text string, cs []cand) []Entity {
	if len(cs) == 0 {
		return nil
	}
	slices.SortFunc(cs, func(a, b cand) int { return cmp.Compare(a.start, b.start) })
	es := make([]Entity, len(cs))
	pos, runes := 0, 0
	for i, c := range cs {
		runes += utf8.RuneCountInString(text[pos:c.start])
		pos = c.start
		es[i] = Entity{Type: c.typ, Value: c.value, Text: text[c.start:c.end], Start: runes, End: runes + utf8.RuneCountInString(text[c.start:c.end])}
	}
	order := make([]int, len(es))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(
			cmp.Compare(es[b].End-es[b].Start, es[a].End-es[a].Start),
			cmp.Compare(cs[a].rank, cs[b].rank),
			cmp.Compare(es[a].Start, es[b].Start),
		)
	})
	var kept []Entity
	for _, i := range order {
		e := es[i]
		if !slices.ContainsFunc(kept, func(k Entity) bool { return e.Start < k.End && k.Start < e.End }) {
			kept = append(kept, e)
		}
	}
	slices.SortFunc(kept, func(a, b Entity) int { return cmp.Compare(a.Start, b.Start) })
	return kept
}

func isAlnum(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }
