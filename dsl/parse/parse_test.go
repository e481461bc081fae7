package parse_test

import (
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/parse"
	"github.com/kefu-chat/kefu/dsl/source"
)

// TestSeedRule checks the seed rule's tree node by node.
func TestSeedRule(t *testing.T) {
	src := `when "投诉" then if $订单状态 == "已发货" then trigger 售后流程 else ask "请问订单号是多少?"`
	f, errs := parse.File("seed.kefu", []byte(src))
	if errs != nil {
		t.Fatal(errs.Render())
	}
	r := f.Decls[0].(*ast.Rule)
	if len(r.Triggers) != 1 || r.Triggers[0].Kind != ast.TriggerKeyword || r.Triggers[0].Keyword.Value != "投诉" {
		t.Fatalf("triggers = %+v", r.Triggers)
	}
	n := r.Body.(*ast.If)
	if !n.Inline || len(n.Clauses) != 1 {
		t.Fatalf("if = %+v", n)
	}
	cond := n.Clauses[0].Cond
	if cond.Src != `$订单状态 == "已发货"` || src[cond.Pos:][:len(cond.Src)] != cond.Src {
		t.Errorf("cond = %q at %d", cond.Src, cond.Pos)
	}
	if g := n.Clauses[0].Body[0].(*ast.Goto); g.Flow.Name != "售后流程" {
		t.Errorf("then = %+v", g)
	}
	if a := n.Else[0].(*ast.Ask); a.Text.Parts[0].Text != "请问订单号是多少?" || src[n.ElsePos:][:4] != "else" {
		t.Errorf("else = %+v at %d", a, n.ElsePos)
	}
}

// TestHolePositions checks that a hole's Expr.Pos is the file offset of
// its first byte even after escapes and CJK text.
func TestHolePositions(t *testing.T) {
	src := "flow 模板\n  say \"转义\\\"引号\\u4e00 {订单号} 和 {  订单.状态 }\"\n"
	f, errs := parse.File("t.kefu", []byte(src))
	if errs != nil {
		t.Fatal(errs.Render())
	}
	parts := f.Decls[0].(*ast.Flow).Body[0].(*ast.Say).Text.Parts
	var holes []*ast.Expr
	for _, p := range parts {
		if p.Expr != nil {
			holes = append(holes, p.Expr)
		}
	}
	if len(holes) != 2 {
		t.Fatalf("holes = %v", parts)
	}
	for _, h := range holes {
		if got := src[h.Pos:][:len(h.Src)]; got != h.Src {
			t.Errorf("hole %q at %d reads %q", h.Src, h.Pos, got)
		}
	}
	p := f.Src.Position(holes[0].Pos)
	if p.Line != 2 || p.Col != 22 {
		t.Errorf("first hole at %d:%d, want 2:22 (just after the brace)", p.Line, p.Col)
	}
}

// TestErrorDetails covers what the goldens cannot hold: invalid UTF-8,
// CRLF line ends, the error cap and the fields of an error.
func TestErrorDetails(t *testing.T) {
	t.Run("invalid UTF-8", func(t *testing.T) {
		src := "flow 坏\n  say \"ok\xff\"\n  say \"\xfe\xfe\"\n"
		_, errs := parse.File("u.kefu", []byte(src))
		if len(errs) != 2 {
			t.Fatalf("errors:\n%s", errs.Render())
		}
		for _, e := range errs {
			if e.Msg != "invalid UTF-8 encoding" || src[e.Pos.Offset] < 0x80 {
				t.Errorf("error %v at offset %d", e, e.Pos.Offset)
			}
		}
		if errs[0].Pos.Line != 2 || errs[0].Pos.Col != 10 || !strings.Contains(errs[0].Line, "\uFFFD") {
			t.Errorf("first error %+v", errs[0])
		}
	})
	t.Run("CRLF", func(t *testing.T) {
		_, errs := parse.File("c.kefu", []byte("when \"a\"\r\nflow x\r\n  sya \"b\"\r\n"))
		want := []string{`c.kefu:1:9: missing "then" in one-line rule`, `c.kefu:3:3: unknown statement "sya"`}
		if len(errs) != len(want) {
			t.Fatalf("errors:\n%s", errs.Render())
		}
		for i, e := range errs {
			if e.Error() != want[i] {
				t.Errorf("error %d = %q, want %q", i, e.Error(), want[i])
			}
			if strings.Contains(e.Line, "\r") {
				t.Errorf("line %q keeps its \\r", e.Line)
			}
		}
	})
	t.Run("cap", func(t *testing.T) {
		src := strings.Repeat("sya \"x\"\n", 3*source.MaxErrors)
		f, errs := parse.File("m.kefu", []byte(src))
		if len(errs) != source.MaxErrors || f == nil {
			t.Fatalf("%d errors, want %d", len(errs), source.MaxErrors)
		}
	})
	t.Run("fields", func(t *testing.T) {
		_, errs := parse.File("f.kefu", []byte("flow 退货\n  say \"订单\" 多余\n"))
		if len(errs) != 1 {
			t.Fatalf("errors:\n%s", errs.Render())
		}
		e := errs[0]
		if e.Pos.Line != 2 || e.Pos.Col != 12 || e.Len != 2 || e.Line != `  say "订单" 多余` || e.Hint == "" {
			t.Errorf("error = %+v", e)
		}
	})
}

// TestPartialTree checks that a broken line costs only itself.
func TestPartialTree(t *testing.T) {
	src := "flow 退货\n  say \"一\"\n  sya \"二\"\n  if\n    say \"跳过\"\n  say \"三\"\nwhen \"a\" say \"b\"\nwhen \"c\" then end\n"
	f, errs := parse.File("p.kefu", []byte(src))
	if len(errs) != 3 {
		t.Fatalf("errors:\n%s", errs.Render())
	}
	want := "Flow 退货\n  Say \"一\"\n  Say \"三\"\nRule\n  Trigger keyword \"c\"\n  End\n"
	if got := ast.Dump(f); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
}

// TestRecoveryMovesOn checks that a line failing on its first item is
// reported once and skipped, not retried until the error cap.
func TestRecoveryMovesOn(t *testing.T) {
	for _, src := range []string{"entity 颜色\n  : 红\n  蓝\n", "entity 颜色\n  /x/\n  蓝\n"} {
		f, errs := parse.File("r.kefu", []byte(src))
		if len(errs) != 1 {
			t.Errorf("%q: errors:\n%s", src, errs.Render())
		}
		if got, want := ast.Dump(f), "Entity 颜色\n  Value \"蓝\"\n"; got != want {
			t.Errorf("%q: tree:\n%s", src, got)
		}
	}
}
