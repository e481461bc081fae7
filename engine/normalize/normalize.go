package normalize

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"

	"github.com/kefu-chat/kefu/engine/internal/wordmatch"
)

// Action says what happens to a message that contains a sensitive word.
type Action string

const (
	// ActionMask replaces each rune of a sensitive word in Result.Text with
	// Config.Mask. It is the default.
	ActionMask Action = "mask"
	// ActionBlock leaves Result.Text as it is and sets Result.Blocked.
	ActionBlock Action = "block"
)

// Config selects the normalization steps. The zero Config only repairs
// UTF-8 and collapses whitespace; start from DefaultConfig.
type Config struct {
	Width      bool     // fold full-width forms to half-width, U+3000 to a space
	Simplified bool     // convert traditional Chinese to simplified (OpenCC t2s)
	Lower      bool     // lower-case letters
	Sensitive  []string // sensitive words, in any script or width
	Action     Action   // ActionMask when empty
	Mask       rune     // '*' when zero
}

// DefaultConfig returns a Config with every step on, no sensitive words,
// ActionMask and '*'.
func DefaultConfig() Config {
	return Config{Width: true, Simplified: true, Lower: true, Action: ActionMask, Mask: '*'}
}

// Result is a normalized message.
type Result struct {
	Original string // the message exactly as received, for memory and logs
	Text     string // the text to match against
	Hits     []Hit  // sensitive words found, in order
	Blocked  bool   // Action is ActionBlock and Hits is not empty
}

// Hit is a sensitive word found in Result.Text.
type Hit struct {
	Word       string // the word as listed in Config.Sensitive
	Start, End int    // rune offsets in Result.Text
}

// Normalizer normalizes messages. It is immutable and safe for concurrent
// use.
type Normalizer struct {
	cfg   Config
	t2s   *converter         // nil unless cfg.Simplified
	m     *wordmatch.Matcher // nil without sensitive words
	words []string           // the listed word for each matcher pattern
}

// New validates cfg and builds a Normalizer. It errs on an unknown action,
// a mask that normalization would change or that is a Han character, a
// sensitive word that normalizes to nothing, and, with ActionMask, a word
// that contains the mask (masking must not create new matches). The OpenCC dictionaries load once per
// process, on the first New with Simplified set.
func New(cfg Config) (*Normalizer, error) {
	switch cfg.Action {
	case "":
		cfg.Action = ActionMask
	case ActionMask, ActionBlock:
	default:
		return nil, fmt.Errorf("normalize: unknown action %q (have: %s, %s)", cfg.Action, ActionBlock, ActionMask)
	}
	if cfg.Mask == 0 {
		cfg.Mask = '*'
	}
	n := &Normalizer{cfg: cfg}
	if cfg.Simplified {
		c, err := t2s()
		if err != nil {
			return nil, fmt.Errorf("normalize: load opencc t2s: %w", err)
		}
		n.t2s = c
	}
	if !utf8.ValidRune(cfg.Mask) {
		return nil, fmt.Errorf("normalize: mask %U is not a valid rune", cfg.Mask)
	}
	if mask := string(cfg.Mask); n.text(mask) != mask {
		return nil, fmt.Errorf("normalize: mask %q is changed by normalization", cfg.Mask)
	}
	if unicode.Is(unicode.Han, cfg.Mask) {
		return nil, fmt.Errorf("normalize: mask %q is a Han character", cfg.Mask) // it could form a phrase with its neighbours
	}
	if len(cfg.Sensitive) == 0 {
		return n, nil
	}
	seen := make(map[string]bool, len(cfg.Sensitive))
	var norm []string
	for i, w := range cfg.Sensitive {
		s := n.text(w)
		switch {
		case s == "":
			return nil, fmt.Errorf("normalize: sensitive word %d (%q) is empty after normalization", i+1, w)
		case cfg.Action == ActionMask && strings.ContainsRune(s, cfg.Mask):
			return nil, fmt.Errorf("normalize: sensitive word %q contains the mask %q", w, cfg.Mask)
		case seen[s]:
			continue
		}
		seen[s] = true
		norm = append(norm, s)
		n.words = append(n.words, w)
	}
	n.m = wordmatch.New(norm)
	return n, nil
}

// Normalize normalizes text, which may be any bytes: invalid UTF-8 becomes
// U+FFFD.
func (n *Normalizer) Normalize(text string) Result {
	r := Result{Original: text, Text: n.text(text)}
	if n.m == nil {
		return r
	}
	for range maxRounds {
		found := len(r.Hits)
		r.Hits = n.find(r.Text, r.Hits)
		if len(r.Hits) == found || n.cfg.Action != ActionMask {
			break
		}
		r.Text = n.mask(r.Text, r.Hits[found:])
		// Masking can split a phrase that kept a rune traditional
		// (乾隆 → 乾*); convert and look again so the Text is final.
		if n.t2s == nil || !n.t2s.needed(r.Text) {
			break
		}
		r.Text = n.t2s.convert(r.Text)
	}
	// Hits of later rounds lie between those of earlier ones.
	slices.SortFunc(r.Hits, func(a, b Hit) int { return cmp.Compare(a.Start, b.Start) })
	r.Blocked = n.cfg.Action == ActionBlock && len(r.Hits) > 0
	return r
}

// text runs every step but the sensitive words.
func (n *Normalizer) text(s string) string {
	s = n.fold(s)
	if n.t2s != nil {
		s = n.t2s.convert(s)
	}
	return s
}

// Kinds of rune for fold.
const (
	keep = iota
	space
	drop
)

// mapRune maps one rune for fold.
func (n *Normalizer) mapRune(r rune) (rune, int) {
	if r < utf8.RuneSelf {
		if r <= ' ' || r == 0x7f {
			return ' ', space
		}
		if n.cfg.Lower && 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r, keep
	}
	if 0x3400 <= r && r <= 0x9fff {
		return r, keep // CJK ideographs: no width, case or space
	}
	if n.cfg.Width {
		if f := width.LookupRune(r).Folded(); f != 0 {
			r = f
		}
	}
	switch {
	case unicode.IsSpace(r) || unicode.IsControl(r):
		return ' ', space
	case r == '\u200b' || r == '\u200c' || r == '\u2060' || r == '\ufeff' || r == '\u00ad':
		// Zero-width characters would hide a word from matching. ZWJ
		// (U+200D) stays: it joins emoji.
		return r, drop
	}
	if n.cfg.Lower {
		r = unicode.ToLower(r)
	}
	return r, keep
}

// fold repairs UTF-8, folds width, drops zero-width runes, lower-cases,
// and collapses whitespace. It returns s itself when nothing changes.
func (n *Normalizer) fold(s string) string {
	if n.clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	pending := false
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:]) // RuneError for invalid bytes
		}
		i += size
		r, kind := n.mapRune(r)
		switch kind {
		case space:
			pending = b.Len() > 0
		case keep:
			if pending {
				b.WriteByte(' ')
				pending = false
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clean reports whether fold would return s unchanged.
func (n *Normalizer) clean(s string) bool {
	prevSpace := true // no leading space
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return false
			}
		}
		i += size
		m, kind := n.mapRune(r)
		switch {
		case kind == drop:
			return false
		case kind == space:
			if r != ' ' || prevSpace {
				return false
			}
			prevSpace = true
		case m != r:
			return false
		default:
			prevSpace = false
		}
	}
	return !prevSpace || s == ""
}

// find appends the sensitive words in s to hits, in rune offsets.
func (n *Normalizer) find(s string, hits []Hit) []Hit {
	pos, runes := 0, 0 // a byte offset and its rune offset
	n.m.Each(s, func(w, start, end int) {
		runes += utf8.RuneCountInString(s[pos:start])
		h := Hit{Word: n.words[w], Start: runes}
		runes += utf8.RuneCountInString(s[start:end])
		h.End = runes
		pos = end
		hits = append(hits, h)
	})
	return hits
}

// mask replaces the runes of hits in s with the mask.
func (n *Normalizer) mask(s string, hits []Hit) string {
	var b strings.Builder
	b.Grow(len(s))
	i, h := 0, 0
	for _, r := range s {
		for h < len(hits) && i >= hits[h].End {
			h++
		}
		if h < len(hits) && i >= hits[h].Start {
			r = n.cfg.Mask
		}
		b.WriteRune(r)
		i++
	}
	return b.String()
}
