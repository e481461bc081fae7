package parse_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/parse"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.txt")

// separator splits a case file into the source and the expected output.
const separator = "----------\n"

// readCase splits testdata/x.txt into its .kefu source and the expected
// output: the ast.Dump of the tree, or the rendered errors.
func readCase(t testing.TB, file string) (src, want []byte) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("\n"+separator))
	if bytes.HasPrefix(data, []byte(separator)) {
		return nil, data[len(separator):]
	}
	if i < 0 {
		return data, nil
	}
	return data[:i+1], data[i+1+len(separator):]
}

// caseName is the file name errors are reported against: testdata/x.txt
// becomes x.kefu.
func caseName(file string) string {
	return strings.TrimSuffix(filepath.Base(file), ".txt") + ".kefu"
}

// render is what a case expects: the dump, or the rendered errors.
func render(name string, src []byte) string {
	f, errs := parse.File(name, src)
	if len(errs) > 0 {
		return errs.Render() + "\n"
	}
	return ast.Dump(f)
}

// TestGolden parses each testdata/*.txt case and compares the dump or the
// errors with the expected output; -update rewrites it.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txt cases")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			src, want := readCase(t, file)
			got := render(caseName(file), src)
			if *update {
				out := append(append(append([]byte{}, src...), separator...), got...)
				if err := os.WriteFile(file, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(want) {
				t.Errorf("%s:\n%s", file, diff(string(want), got))
			}
		})
	}
}

// diff shows the first line where got departs from want.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("output line %d:\n  want %q\n  got  %q\n--- got:\n%s", i+1, wl, gl, got)
		}
	}
	return "(no difference)"
}
