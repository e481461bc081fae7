package format_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/format"
	"github.com/kefu-chat/kefu/dsl/parse"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden formats each testdata/x.input and compares it with
// testdata/x.golden (-update rewrites it); then formats the golden again,
// which must change nothing, and checks both parse to equal trees.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.input")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.input cases")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".input")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, errs := format.Format(name+".kefu", src)
			if errs != nil {
				t.Fatalf("format %s:\n%s", in, errs.Render())
			}
			golden := strings.TrimSuffix(in, ".input") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: format differs from %s:\n%s", in, golden, lineDiff(string(want), string(got)))
			}
			// Idempotency: the golden is in canonical form.
			again, errs := format.Format(name+".golden", want)
			if errs != nil {
				t.Fatalf("format %s:\n%s", golden, errs.Render())
			}
			if !bytes.Equal(again, want) {
				t.Errorf("%s: formatting the golden changes it:\n%s", golden, lineDiff(string(want), string(again)))
			}
			a, _ := parse.File(in, src)
			b, _ := parse.File(golden, want)
			if !ast.Equal(a, b) {
				t.Errorf("%s and %s parse to different trees:\n%s\n---\n%s", in, golden, ast.Dump(a), ast.Dump(b))
			}
		})
	}
}

func TestFormatRefusesErrors(t *testing.T) {
	out, errs := format.Format("bad.kefu", []byte("flow 退货\n  sya \"你好\"\n"))
	if out != nil || len(errs) != 1 {
		t.Fatalf("Format = %q, %v; want nil and one error", out, errs)
	}
	if got, want := errs[0].Error(), `bad.kefu:2:3: unknown statement "sya"`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestSourceBuiltTree(t *testing.T) {
	// A tree built by hand, without Raw fields or positions.
	f := &ast.File{Decls: []ast.Decl{
		&ast.Flow{Name: &ast.Ident{Name: "查单"}, Body: []ast.Stmt{
			&ast.Call{
				Service: &ast.Ident{Name: "订单服务"}, Op: &ast.Ident{Name: "查询"},
				Args:    []*ast.Arg{{Value: &ast.Expr{Src: "订单号"}}},
				Timeout: &ast.Duration{Value: 1500_000_000}, Retry: -1,
			},
			&ast.Say{Text: &ast.Template{Parts: []ast.TemplatePart{{Text: "第 {1} 步 "}, {Expr: &ast.Expr{Src: `a ?? "x"`}}}}},
		}},
	}}
	want := "flow 查单\n  call 订单服务.查询(订单号) timeout 1500ms\n  say \"第 {{1}} 步 {a ?? \\\"x\\\"}\"\n"
	if got := string(format.Source(f)); got != want {
		t.Errorf("Source =\n%s\nwant\n%s", got, want)
	}
}

// lineDiff shows the first line where got departs from want.
func lineDiff(want, got string) string {
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
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q\n--- got:\n%s", i+1, wl, gl, got)
		}
	}
	return "(no difference)"
}
