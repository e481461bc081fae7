package ast

import (
	"fmt"
	"strconv"
	"strings"
)

// Dump returns a readable, deterministic dump of the tree: one node per
// line, children indented by two spaces, no positions and no Raw fields.
// Expressions are in backquotes, strings and template text in Go quotes,
// template holes in braces, trailing comments after "  # ". Golden tests
// compare dumps; so does Equal.
//
//	Rule
//	  Trigger keyword "投诉"
//	  If inline
//	    Clause `$订单状态 == "已发货"`
//	      Goto 售后流程
//	    Else
//	      Ask "请问订单号是多少?"
func Dump(f *File) string {
	if f == nil {
		return "<nil>\n"
	}
	d := &dumper{}
	for _, decl := range f.Decls {
		d.decl(decl)
	}
	return d.b.String()
}

// Equal reports whether a and b are the same tree, ignoring positions and
// the Raw fields that formatting may change.
func Equal(a, b *File) bool { return Dump(a) == Dump(b) }

type dumper struct {
	b     strings.Builder
	depth int
}

// line writes one node line, with its trailing comment.
func (d *dumper) line(cmt string, format string, args ...any) {
	d.b.WriteString(strings.Repeat("  ", d.depth))
	fmt.Fprintf(&d.b, format, args...)
	if cmt != "" {
		d.b.WriteString("  # ")
		d.b.WriteString(cmt)
	}
	d.b.WriteByte('\n')
}

func (d *dumper) in()  { d.depth++ }
func (d *dumper) out() { d.depth-- }

func (d *dumper) decl(n Decl) {
	switch n := n.(type) {
	case *Comment:
		d.comment(n)
	case *Rule:
		d.line(n.Comment, "Rule")
		d.in()
		for _, t := range n.Triggers {
			d.trigger(t)
		}
		d.stmt(n.Body)
		d.out()
	case *Flow:
		d.line(n.Comment, "Flow %s", ident(n.Name))
		d.in()
		for _, on := range n.On {
			d.line(on.Comment, "On")
			d.in()
			d.comments(on.Doc, "Doc")
			for _, t := range on.Triggers {
				d.trigger(t)
			}
			d.out()
		}
		d.stmts(n.Body)
		d.out()
	case *Entity:
		if n.Regex != nil {
			d.line(n.Comment, "Entity %s %s", ident(n.Name), regex(n.Regex))
		} else {
			d.line(n.Comment, "Entity %s", ident(n.Name))
		}
		d.in()
		for _, v := range n.Values {
			if v == nil {
				d.line("", "<nil>")
				continue
			}
			syn := ""
			if len(v.Synonyms) > 0 {
				parts := make([]string, len(v.Synonyms))
				for i, s := range v.Synonyms {
					parts[i] = str(s)
				}
				syn = " synonyms " + strings.Join(parts, " ")
			}
			d.line(v.Comment, "Value %s%s", str(v.Value), syn)
			d.in()
			d.comments(v.Doc, "Doc")
			d.out()
		}
		d.out()
	case *Var:
		d.line(n.Comment, "Var %s = %s", ident(n.Name), expr(n.Value))
	case nil:
		d.line("", "<nil>")
	default:
		d.line("", "<unknown %T>", n)
	}
}

func (d *dumper) comment(c *Comment) {
	if c == nil {
		d.line("", "Comment <nil>")
		return
	}
	d.line("", "Comment %s", strconv.Quote(c.Text))
}

func (d *dumper) comments(list []*Comment, label string) {
	for _, c := range list {
		if c == nil {
			d.line("", "%s <nil>", label)
			continue
		}
		d.line("", "%s %s", label, strconv.Quote(c.Text))
	}
}

func (d *dumper) trigger(t *Trigger) {
	if t == nil {
		d.line("", "Trigger <nil>")
		return
	}
	switch t.Kind {
	case TriggerIntent:
		if t.Explicit {
			d.line("", "Trigger intent %s explicit", ident(t.Name))
		} else {
			d.line("", "Trigger intent %s", ident(t.Name))
		}
	case TriggerKeyword:
		d.line("", "Trigger keyword %s", str(t.Keyword))
	case TriggerRegex:
		d.line("", "Trigger regex %s", regex(t.Regex))
	case TriggerEvent:
		d.line("", "Trigger event %s", ident(t.Name))
	default:
		d.line("", "Trigger <kind %d>", t.Kind)
	}
}

func (d *dumper) stmts(list []Stmt) {
	for _, s := range list {
		d.stmt(s)
	}
}

func (d *dumper) stmt(s Stmt) {
	switch s := s.(type) {
	case *Comment:
		d.comment(s)
	case *Say:
		d.line(s.Comment, "Say %s", template(s.Text))
	case *Ask:
		d.line(s.Comment, "Ask %s", template(s.Text))
	case *Set:
		d.line(s.Comment, "Set %s = %s", ident(s.Name), expr(s.Value))
	case *Goto:
		d.line(s.Comment, "Goto %s", ident(s.Flow))
	case *Handoff:
		if s.Queue != nil {
			d.line(s.Comment, "Handoff %s", str(s.Queue))
		} else {
			d.line(s.Comment, "Handoff")
		}
	case *Generate:
		if s.Route != nil {
			d.line(s.Comment, "Generate %s via %s", template(s.Prompt), ident(s.Route))
		} else {
			d.line(s.Comment, "Generate %s", template(s.Prompt))
		}
	case *End:
		d.line(s.Comment, "End")
	case *If:
		if s.Inline {
			d.line("", "If inline")
		} else {
			d.line("", "If")
		}
		d.in()
		for _, c := range s.Clauses {
			if c == nil {
				d.line("", "Clause <nil>")
				continue
			}
			d.line(c.Comment, "Clause %s", expr(c.Cond))
			d.in()
			d.stmts(c.Body)
			d.out()
		}
		if s.Else != nil {
			d.line(s.ElseCmt, "Else")
			d.in()
			d.stmts(s.Else)
			d.out()
		}
		d.out()
	case *Slot:
		d.line(s.Comment, "Slot %s", ident(s.Name))
		d.in()
		if s.Regex != nil {
			d.line("", "regex %s", regex(s.Regex))
		}
		if s.Type != nil {
			d.line("", "type %s", ident(s.Type))
		}
		if s.Where != nil {
			d.line("", "where %s", expr(s.Where))
		}
		if s.Ask != nil {
			d.line("", "ask %s", template(s.Ask))
		}
		if s.Retry >= 0 {
			if s.RetryText != nil {
				d.line("", "retry %d %s", s.Retry, template(s.RetryText))
			} else {
				d.line("", "retry %d", s.Retry)
			}
		} else if s.RetryText != nil {
			d.line("", "retry <none> %s", template(s.RetryText))
		}
		d.out()
	case *Call:
		d.line(s.Comment, "Call %s.%s", ident(s.Service), ident(s.Op))
		d.in()
		for _, a := range s.Args {
			switch {
			case a == nil:
				d.line("", "arg <nil>")
			case a.Name != nil:
				d.line("", "arg %s = %s", ident(a.Name), expr(a.Value))
			default:
				d.line("", "arg %s", expr(a.Value))
			}
		}
		if s.Result != nil {
			d.line("", "result %s", ident(s.Result))
		}
		if s.Timeout != nil {
			d.line("", "timeout %s", s.Timeout.Value)
		}
		if s.Retry >= 0 {
			d.line("", "retry %d", s.Retry)
		}
		if s.OnError != nil {
			d.line(s.ErrorCmt, "OnError")
			d.in()
			d.stmts(s.OnError)
			d.out()
		}
		d.out()
	case nil:
		d.line("", "<nil>")
	default:
		d.line("", "<unknown %T>", s)
	}
}

func ident(id *Ident) string {
	switch {
	case id == nil:
		return "<nil>"
	case id.Dollar:
		return "$" + id.Name
	}
	return id.Name
}

func str(s *String) string {
	if s == nil {
		return "<nil>"
	}
	return strconv.Quote(s.Value)
}

// expr shows an expression in backquotes, or quoted if it holds one.
func expr(x *Expr) string {
	switch {
	case x == nil:
		return "<nil>"
	case strings.ContainsRune(x.Src, '`'):
		return "expr" + strconv.Quote(x.Src)
	}
	return "`" + x.Src + "`"
}

func regex(r *Regex) string {
	if r == nil {
		return "<nil>"
	}
	return "/" + EscapeSlashes(r.Pattern) + "/"
}

// template shows text parts quoted and holes in braces, separated by
// spaces: "订单 " {订单号} " 已发货".
func template(t *Template) string {
	if t == nil {
		return "<nil>"
	}
	if len(t.Parts) == 0 {
		return `""`
	}
	parts := make([]string, len(t.Parts))
	for i, p := range t.Parts {
		switch {
		case p.Expr == nil:
			parts[i] = strconv.Quote(p.Text)
		case strings.ContainsAny(p.Expr.Src, "{}\""):
			parts[i] = "{" + strconv.Quote(p.Expr.Src) + "}"
		default:
			parts[i] = "{" + p.Expr.Src + "}"
		}
	}
	return strings.Join(parts, " ")
}

// EscapeSlashes turns a regex pattern back into what goes between the
// slashes of a literal: each `/` not already escaped becomes `\/`.
func EscapeSlashes(pattern string) string {
	if !strings.Contains(pattern, "/") {
		return pattern
	}
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '\\' && i+1 < len(pattern):
			b.WriteByte(c)
			b.WriteByte(pattern[i+1])
			i++
		case c == '/':
			b.WriteString(`\/`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
