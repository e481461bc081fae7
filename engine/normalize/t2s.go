package normalize

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/longbridgeapp/opencc"
)

// maxRounds bounds the repeated conversions and maskings that make
// Normalize idempotent. Real text settles in one or two rounds.
const maxRounds = 8

// converter wraps OpenCC t2s. OpenCC's Convert costs nearly 1 µs and 5
// allocations per rune, so converter first checks whether any dictionary
// entry that changes text occurs in s at all; most simplified or non-Chinese
// messages skip OpenCC entirely.
//
// A converter is read-only after loadT2S and safe for concurrent use.
type converter struct {
	cc    *opencc.OpenCC
	first []uint64          // bit r: some changing entry starts with rune r
	keys  map[rune][]string // changing entries by first rune
}

var t2s = sync.OnceValues(loadT2S)

// loadT2S builds the converter once per process: the dictionaries are
// embedded in the opencc module and never change.
func loadT2S() (*converter, error) {
	cc, err := opencc.New("t2s")
	if err != nil {
		return nil, err
	}
	c := &converter{cc: cc, keys: make(map[rune][]string)}
	// Index every entry whose replacement differs from its key. opencc
	// exposes its double-array tries; the conversion itself stays OpenCC's.
	for _, g := range cc.DictChains {
		for _, d := range g.Dicts {
			for _, id := range d.Trie.PrefixPredict(nil, 0) {
				k, err := d.Trie.Key(id)
				if err != nil {
					return nil, fmt.Errorf("index %v: %w", g, err)
				}
				v, err := d.Trie.Value(id)
				if err != nil || v < 0 || v >= len(d.Values) || len(d.Values[v]) == 0 {
					return nil, fmt.Errorf("index %v: bad value for %q", g, k)
				}
				if d.Values[v][0] == string(k) {
					continue
				}
				r, _ := utf8.DecodeRune(k)
				c.keys[r] = append(c.keys[r], string(k))
				for int(r)/64 >= len(c.first) {
					c.first = append(c.first, 0)
				}
				c.first[r/64] |= 1 << (r % 64)
			}
		}
	}
	if len(c.keys) == 0 {
		return nil, fmt.Errorf("t2s: no dictionary entries")
	}
	return c, nil
}

// needed reports whether OpenCC would change s: whether some entry that
// changes text occurs in it.
func (c *converter) needed(s string) bool {
	for i, r := range s {
		if r < 0x2e80 || int(r)/64 >= len(c.first) || c.first[r/64]&(1<<(r%64)) == 0 {
			continue
		}
		for _, k := range c.keys[r] {
			if strings.HasPrefix(s[i:], k) {
				return true
			}
		}
	}
	return false
}

// convert converts s to simplified Chinese. It converts again until the
// text is stable, because a single OpenCC pass is not idempotent (乾圖 →
// 乾图 → 干图: the phrase that kept 乾 is gone after the first pass).
// Entries map Han runes to as many Han runes, so rune offsets survive.
func (c *converter) convert(s string) string {
	for range maxRounds {
		if !c.needed(s) {
			return s
		}
		out, err := c.cc.Convert(s)
		if err != nil || out == s {
			return s
		}
		s = out
	}
	return s
}
