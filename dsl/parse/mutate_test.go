package parse_test

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/dsl/parse"
)

// TestMutations runs the fuzz checks over line-level mutations of the
// valid seeds: comments at any indentation, trailing comments, blank and
// deleted lines, re-indented lines and stock statements dropped in. Most
// results stay valid, so they exercise the formatter, which byte-level
// fuzzing rarely reaches. It is deterministic; raise iterations locally to
// search further.
func TestMutations(t *testing.T) {
	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	r := rand.New(rand.NewSource(1))
	var valid []string
	for _, src := range seeds(t) {
		if _, errs := parse.File("x", src); errs == nil {
			valid = append(valid, string(src))
		}
	}
	pool := []string{
		`say "x{a}"`, "if a", "else", "elif b", "on error", "call s.o(a, b = 1) -> r",
		`slot q where a. ask "z"`, "if a then set x = (1) else end", "when k then end",
		"flow f", "entity e", "  v: w", "on intent i", "# k", "end", "set $v = f(1)  # c",
		"if a then if b then end else end", "handoff", "  ",
	}
	insert := func(lines []string, i int, l string) []string {
		return append(lines[:i], append([]string{l}, lines[i:]...)...)
	}
	for range iterations {
		lines := strings.Split(valid[r.Intn(len(valid))], "\n")
		for k := r.Intn(6); k >= 0; k-- {
			i := r.Intn(len(lines) + 1)
			switch r.Intn(8) {
			case 0, 1:
				c := strings.Repeat(" ", r.Intn(9)) + "#" + []string{"", " c", "x", "  y "}[r.Intn(4)]
				lines = insert(lines, i, c)
			case 2:
				lines = insert(lines, i, strings.Repeat(" ", r.Intn(5)))
			case 3:
				if i < len(lines) && lines[i] != "" && !strings.Contains(lines[i], "#") {
					lines[i] += "  # t"
				}
			case 4:
				if i < len(lines) {
					lines = append(lines[:i], lines[i+1:]...)
				}
			case 5, 6:
				lines = insert(lines, i, strings.Repeat(" ", 2*r.Intn(4))+pool[r.Intn(len(pool))])
			case 7:
				if i < len(lines) {
					if r.Intn(2) == 0 {
						lines[i] = "  " + lines[i]
					} else {
						lines[i] = strings.TrimPrefix(lines[i], "  ")
					}
				}
			}
		}
		checkRoundTrip(t, []byte(strings.Join(lines, "\n")))
		if t.Failed() {
			return
		}
	}
}
