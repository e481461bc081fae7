package wordmatch

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// The library reports overlapping matches (see Matcher.Each); check the
// filtered result against a brute-force leftmost-longest scan.
func TestLeftmostLongest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []rune("ab红色")
	word := func(max int) string {
		var b strings.Builder
		for range 1 + rng.IntN(max) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 2000 {
		var words []string
		for range 1 + rng.IntN(5) {
			if w := word(4); !slices.Contains(words, w) {
				words = append(words, w)
			}
		}
		text := word(12)
		type match struct{ W, S, E int }
		var got, want []match
		New(words).Each(text, func(w, s, e int) { got = append(got, match{w, s, e}) })
		for i := 0; i < len(text); {
			best := -1
			for w, p := range words {
				if strings.HasPrefix(text[i:], p) && (best < 0 || len(p) > len(words[best])) {
					best = w
				}
			}
			if best < 0 {
				_, size := utf8.DecodeRuneInString(text[i:])
				i += size
				continue
			}
			want = append(want, match{best, i, i + len(words[best])})
			i += len(words[best])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("words %q, text %q (-want +got):\n%s", words, text, diff)
		}
	}
}
