package parse_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/format"
	"github.com/kefu-chat/kefu/dsl/parse"
	"github.com/kefu-chat/kefu/dsl/source"
)

// seeds are the sources of the golden cases, the format cases and the
// demo bot's flows, when present.
func seeds(t testing.TB) [][]byte {
	var out [][]byte
	cases, _ := filepath.Glob("testdata/*.txt")
	for _, file := range cases {
		src, _ := readCase(t, file)
		out = append(out, src)
	}
	more, _ := filepath.Glob("../format/testdata/*.input")
	demo, _ := filepath.Glob("../../testdata/bots/demo/flows/*.kefu")
	more = append(more, demo...)
	more = append(more, "testdata/bench.kefu")
	for _, file := range more {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, src)
	}
	return out
}

// FuzzParse checks that parsing never panics, that every error lies in
// the input, and that a file without errors survives formatting: the
// output parses without errors to an equal tree, and formatting that
// again changes nothing.
func FuzzParse(f *testing.F) {
	for _, src := range seeds(f) {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 4096 {
			t.Skip()
		}
		checkRoundTrip(t, src)
	})
}

// TestRoundTrip runs the fuzz checks over the seeds, so plain `go test`
// covers them.
func TestRoundTrip(t *testing.T) {
	for _, src := range seeds(t) {
		checkRoundTrip(t, src)
	}
}

func checkRoundTrip(t *testing.T, src []byte) {
	t.Helper()
	const name = "fuzz.kefu"
	f, errs := parse.File(name, src)
	if f == nil || f.Src == nil {
		t.Fatal("parse.File returned no tree")
	}
	checkErrors(t, src, errs)
	if len(errs) > 0 {
		return
	}
	checkPositions(t, src, f)
	out := format.Source(f)
	f2, errs2 := parse.File(name, out)
	if len(errs2) > 0 {
		t.Fatalf("formatted source does not parse:\n%s\n--- input:\n%q\n--- formatted:\n%s", errs2.Render(), src, out)
	}
	if !ast.Equal(f, f2) {
		t.Fatalf("formatted source parses to another tree\n--- input:\n%q\n--- formatted:\n%s\n--- tree:\n%s\n--- tree of formatted:\n%s",
			src, out, ast.Dump(f), ast.Dump(f2))
	}
	if out2 := format.Source(f2); !bytes.Equal(out, out2) {
		t.Fatalf("formatting is not idempotent\n--- first:\n%s\n--- second:\n%s", out, out2)
	}
}

// checkErrors checks that each error lies inside the input, with a valid
// line and column, and that the list is sorted and capped.
func checkErrors(t *testing.T, src []byte, errs source.ErrorList) {
	t.Helper()
	if len(errs) > source.MaxErrors {
		t.Errorf("%d errors, more than MaxErrors", len(errs))
	}
	lines := bytes.Split(src, []byte("\n"))
	for i, e := range errs {
		p := e.Pos
		if p.File != "fuzz.kefu" || p.Offset < 0 || p.Offset > len(src) || p.Line < 1 || p.Line > len(lines) {
			t.Fatalf("error %q at %+v lies outside the input (%d bytes, %d lines)", e.Msg, p, len(src), len(lines))
		}
		if n := utf8.RuneCount(lines[p.Line-1]); p.Col < 1 || p.Col > n+1 {
			t.Fatalf("error %q at %+v: column outside line %d (%d runes)", e.Msg, p, p.Line, n)
		}
		if e.Msg == "" || e.Len < 0 {
			t.Fatalf("error %+v: empty message or negative length", e)
		}
		if i > 0 {
			q := errs[i-1].Pos
			if q.Line > p.Line || q.Line == p.Line && q.Col > p.Col {
				t.Fatalf("errors not sorted: %v before %v", errs[i-1], e)
			}
		}
	}
}

// checkPositions checks that names, expressions and holes (of templates
// without escapes) sit at their Pos in the source, as the compiler will
// rely on to report expr errors.
func checkPositions(t *testing.T, src []byte, f *ast.File) {
	t.Helper()
	at := func(pos source.Pos, want, what string) {
		if pos < 0 || int(pos) > len(src) || !bytes.HasPrefix(src[pos:], []byte(want)) {
			t.Fatalf("%s %q: not at its Pos %d in %q", what, want, pos, src)
		}
	}
	ast.Inspect(f, func(n any) bool {
		switch n := n.(type) {
		case *ast.Expr:
			at(n.Pos, n.Src, "expression")
		case *ast.Ident:
			name := n.Name
			if n.Dollar {
				name = "$" + name
			}
			at(n.Pos, name, "name")
		case *ast.Template:
			at(n.Pos, n.Raw, "template")
			return !strings.Contains(n.Raw, `\`)
		case *ast.Comment:
			at(n.Pos, "#", "comment")
		}
		return true
	})
}
