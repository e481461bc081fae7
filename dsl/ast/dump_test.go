package ast_test

import (
	"testing"
	"time"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/source"
)

func flow(pos int, raw string) *ast.File {
	p := func(n int) source.Pos { return source.Pos(pos + n) }
	return &ast.File{Decls: []ast.Decl{&ast.Flow{Pos: p(0), Name: &ast.Ident{Pos: p(5), Name: "退货"}, Body: []ast.Stmt{
		&ast.Call{
			Pos: p(10), Service: &ast.Ident{Pos: p(15), Name: "订单服务"}, Op: &ast.Ident{Pos: p(20), Name: "查询"},
			Args:    []*ast.Arg{{Value: &ast.Expr{Pos: p(25), Src: "订单号"}}},
			Timeout: &ast.Duration{Pos: p(30), Value: 2 * time.Second, Raw: raw}, Retry: -1,
		},
		&ast.Say{Pos: p(40), Text: &ast.Template{Pos: p(44), Raw: `'订单 {订单号}'`, Parts: []ast.TemplatePart{
			{Text: "订单 "}, {Expr: &ast.Expr{Pos: p(48), Src: "订单号"}},
		}}},
	}}}}
}

func TestEqualIgnoresPositionsAndRaw(t *testing.T) {
	a, b := flow(0, "2s"), flow(7, "002s")
	if !ast.Equal(a, b) {
		t.Errorf("trees differ:\n%s\n%s", ast.Dump(a), ast.Dump(b))
	}
	b.Decls[0].(*ast.Flow).Body[1].(*ast.Say).Text.Parts[0].Text = "订单"
	if ast.Equal(a, b) {
		t.Error("Equal misses a changed text")
	}
	want := "Flow 退货\n  Call 订单服务.查询\n    arg `订单号`\n    timeout 2s\n  Say \"订单 \" {订单号}\n"
	if got := ast.Dump(a); got != want {
		t.Errorf("Dump =\n%s\nwant\n%s", got, want)
	}
}

func TestInspect(t *testing.T) {
	var exprs []string
	ast.Inspect(flow(0, "2s"), func(n any) bool {
		if x, ok := n.(*ast.Expr); ok {
			exprs = append(exprs, x.Src)
		}
		return true
	})
	if len(exprs) != 2 {
		t.Errorf("Inspect found expressions %q, want the argument and the hole", exprs)
	}
}

func TestEscapeSlashes(t *testing.T) {
	for in, want := range map[string]string{`a/b`: `a\/b`, `a\/b`: `a\/b`, `a\\/b`: `a\\\/b`, `\d+`: `\d+`} {
		if got := ast.EscapeSlashes(in); got != want {
			t.Errorf("EscapeSlashes(%q) = %q, want %q", in, got, want)
		}
	}
}
