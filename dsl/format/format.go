package format

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/parse"
	"github.com/kefu-chat/kefu/dsl/source"
)

// Format parses src and prints it in canonical form. It refuses to format
// a file with errors: it returns nil and the errors.
func Format(name string, src []byte) ([]byte, source.ErrorList) {
	f, errs := parse.File(name, src)
	if len(errs) > 0 {
		return nil, errs
	}
	return Source(f), nil
}

// Source prints a tree in canonical form. For a tree from parse.File the
// output parses back to an equal tree (ast.Equal) and every comment is
// kept. A file with no declarations prints as nothing.
func Source(f *ast.File) []byte {
	p := &printer{src: f.Src}
	for i, d := range f.Decls {
		if i > 0 && (groupBreak(f.Decls, i) || p.hadBlank(declPos(d))) {
			p.b.WriteByte('\n')
		}
		p.decl(d)
	}
	return []byte(p.b.String())
}

// hadBlank reports whether the line above pos was blank in the source, so
// that a blank line the user left between declarations or statements is
// kept (one, however many there were). A tree without source has none.
func (p *printer) hadBlank(pos source.Pos) bool {
	if p.src == nil || !pos.IsValid() {
		return false
	}
	line := p.src.Position(pos).Line
	return line > 1 && strings.Trim(p.src.Line(line-1), " \t\r") == ""
}

func declPos(d ast.Decl) source.Pos {
	switch d := d.(type) {
	case *ast.Comment:
		return d.Pos
	case *ast.Rule:
		return d.Pos
	case *ast.Flow:
		return d.Pos
	case *ast.Entity:
		return d.Pos
	case *ast.Var:
		return d.Pos
	}
	return source.NoPos
}

func stmtPos(s ast.Stmt) source.Pos {
	switch s := s.(type) {
	case *ast.Comment:
		return s.Pos
	case *ast.Say:
		return s.Pos
	case *ast.Ask:
		return s.Pos
	case *ast.Set:
		return s.Pos
	case *ast.Goto:
		return s.Pos
	case *ast.Handoff:
		return s.Pos
	case *ast.Generate:
		return s.Pos
	case *ast.End:
		return s.Pos
	case *ast.If:
		return s.Pos
	case *ast.Slot:
		return s.Pos
	case *ast.Call:
		return s.Pos
	}
	return source.NoPos
}

// groupBreak says whether a blank line must go before decls[i]: always,
// except after a comment (a comment belongs to what follows it) and
// between one-liners of the same kind (rules, vars, regex entities),
// comments between them included.
func groupBreak(decls []ast.Decl, i int) bool {
	prev := decls[i-1]
	if _, ok := prev.(*ast.Comment); ok {
		return false
	}
	k := oneLiner(prev)
	if k == "" {
		return true
	}
	for _, d := range decls[i:] {
		if _, ok := d.(*ast.Comment); !ok {
			return oneLiner(d) != k
		}
	}
	return true
}

func oneLiner(d ast.Decl) string {
	switch d := d.(type) {
	case *ast.Rule:
		return "rule"
	case *ast.Var:
		return "var"
	case *ast.Entity:
		if d.Regex != nil && len(d.Values) == 0 {
			return "entity"
		}
	}
	return ""
}

type printer struct {
	b     strings.Builder
	depth int
	src   *source.File // for the blank lines of the source; may be nil
}

// line writes one line at the current depth, with a trailing comment.
func (p *printer) line(text, cmt string) {
	for range p.depth {
		p.b.WriteString("  ")
	}
	p.b.WriteString(text)
	if cmt != "" {
		p.b.WriteString("  # ")
		p.b.WriteString(cmt)
	}
	p.b.WriteByte('\n')
}

func (p *printer) comment(c *ast.Comment) {
	if c.Text == "" {
		p.line("#", "")
		return
	}
	p.line("# "+c.Text, "")
}

func (p *printer) comments(list []*ast.Comment) {
	for _, c := range list {
		p.comment(c)
	}
}

func (p *printer) decl(d ast.Decl) {
	switch d := d.(type) {
	case *ast.Comment:
		p.comment(d)
	case *ast.Rule:
		var cmts []string
		text := "when " + triggers(d.Triggers) + " then " + simple(d.Body, &cmts)
		p.line(text, joinComments(d.Comment, cmts))
	case *ast.Flow:
		p.line("flow "+ident(d.Name), d.Comment)
		p.depth++
		for _, on := range d.On {
			p.comments(on.Doc)
			p.line("on "+triggers(on.Triggers), on.Comment)
		}
		p.stmts(d.Body, len(d.On) > 0)
		p.depth--
	case *ast.Entity:
		if d.Regex != nil {
			p.line("entity "+ident(d.Name)+" "+regex(d.Regex), d.Comment)
		} else {
			p.line("entity "+ident(d.Name), d.Comment)
		}
		p.depth++
		for _, v := range d.Values {
			p.comments(v.Doc)
			text := word(v.Value)
			if len(v.Synonyms) > 0 {
				words := make([]string, len(v.Synonyms))
				for i, s := range v.Synonyms {
					words[i] = word(s)
				}
				text += ": " + strings.Join(words, ", ")
			}
			p.line(text, v.Comment)
		}
		p.depth--
	case *ast.Var:
		p.line("var "+ident(d.Name)+" = "+d.Value.Src, d.Comment)
	}
}

// stmts prints a block's statements, keeping the blank lines of the
// source between them; none goes first unless lines came before in the
// block (a flow's on lines).
func (p *printer) stmts(list []ast.Stmt, after bool) {
	for i, s := range list {
		if (i > 0 || after) && p.hadBlank(stmtPos(s)) {
			p.b.WriteByte('\n')
		}
		p.stmt(s)
	}
}

func (p *printer) stmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.Comment:
		p.comment(s)
	case *ast.If:
		if s.Inline {
			var cmts []string
			text := simple(s, &cmts)
			p.line(text, joinComments("", cmts))
			return
		}
		for i, c := range s.Clauses {
			kw := "if "
			if i > 0 {
				kw = "elif "
			}
			p.line(kw+c.Cond.Src, c.Comment)
			p.block(c.Body)
		}
		if s.Else != nil {
			p.line("else", s.ElseCmt)
			p.block(s.Else)
		}
	case *ast.Slot:
		var b strings.Builder
		b.WriteString("slot ")
		b.WriteString(ident(s.Name))
		switch {
		case s.Regex != nil:
			b.WriteString(": " + regex(s.Regex))
		case s.Type != nil:
			b.WriteString(": " + ident(s.Type))
		}
		if s.Where != nil {
			b.WriteString(" where " + s.Where.Src)
		}
		if s.Ask != nil {
			b.WriteString(" ask " + template(s.Ask))
		}
		if s.Retry >= 0 {
			b.WriteString(" retry " + strconv.Itoa(s.Retry))
			if s.RetryText != nil {
				b.WriteString(" " + template(s.RetryText))
			}
		}
		p.line(b.String(), s.Comment)
	case *ast.Call:
		var b strings.Builder
		fmt.Fprintf(&b, "call %s.%s(", ident(s.Service), ident(s.Op))
		for i, a := range s.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			if a.Name != nil {
				b.WriteString(ident(a.Name) + " = ")
			}
			b.WriteString(a.Value.Src)
		}
		b.WriteByte(')')
		if s.Result != nil {
			b.WriteString(" -> " + ident(s.Result))
		}
		if s.Timeout != nil {
			b.WriteString(" timeout " + duration(s.Timeout))
		}
		if s.Retry >= 0 {
			b.WriteString(" retry " + strconv.Itoa(s.Retry))
		}
		p.line(b.String(), s.Comment)
		if s.OnError != nil {
			p.line("on error", s.ErrorCmt)
			p.block(s.OnError)
		}
	default:
		var cmts []string
		text := simple(s, &cmts)
		p.line(text, joinComments("", cmts))
	}
}

func (p *printer) block(list []ast.Stmt) {
	p.depth++
	p.stmts(list, false)
	p.depth--
}

// simple prints a simple statement or an inline if on one line, collecting
// the trailing comments of its parts.
func simple(s ast.Stmt, cmts *[]string) string {
	add := func(c string) {
		if c != "" {
			*cmts = append(*cmts, c)
		}
	}
	switch s := s.(type) {
	case *ast.Say:
		add(s.Comment)
		return "say " + template(s.Text)
	case *ast.Ask:
		add(s.Comment)
		return "ask " + template(s.Text)
	case *ast.Set:
		add(s.Comment)
		return "set " + ident(s.Name) + " = " + s.Value.Src
	case *ast.Goto:
		add(s.Comment)
		return "trigger " + ident(s.Flow)
	case *ast.Handoff:
		add(s.Comment)
		if s.Queue != nil {
			return "handoff " + quote(s.Queue.Value)
		}
		return "handoff"
	case *ast.Generate:
		add(s.Comment)
		if s.Route != nil {
			return "generate " + template(s.Prompt) + " via " + ident(s.Route)
		}
		return "generate " + template(s.Prompt)
	case *ast.End:
		add(s.Comment)
		return "end"
	case *ast.If:
		var b strings.Builder
		for i, c := range s.Clauses {
			if i > 0 {
				b.WriteString(" elif ")
			} else {
				b.WriteString("if ")
			}
			add(c.Comment)
			b.WriteString(c.Cond.Src + " then " + simpleList(c.Body, cmts))
		}
		if s.Else != nil {
			add(s.ElseCmt)
			b.WriteString(" else " + simpleList(s.Else, cmts))
		}
		return b.String()
	}
	return ""
}

// simpleList prints the one statement of an inline branch.
func simpleList(list []ast.Stmt, cmts *[]string) string {
	var parts []string
	for _, s := range list {
		if c, ok := s.(*ast.Comment); ok {
			if c.Text != "" {
				*cmts = append(*cmts, c.Text)
			}
			continue
		}
		parts = append(parts, simple(s, cmts))
	}
	return strings.Join(parts, " ")
}

func joinComments(first string, rest []string) string {
	if first != "" {
		rest = append([]string{first}, rest...)
	}
	return strings.Join(rest, " ")
}

func triggers(list []*ast.Trigger) string {
	parts := make([]string, len(list))
	for i, t := range list {
		switch t.Kind {
		case ast.TriggerIntent:
			if t.Explicit {
				parts[i] = "intent " + ident(t.Name)
			} else {
				parts[i] = ident(t.Name)
			}
		case ast.TriggerKeyword:
			parts[i] = quote(t.Keyword.Value)
		case ast.TriggerRegex:
			parts[i] = regex(t.Regex)
		case ast.TriggerEvent:
			parts[i] = "event " + ident(t.Name)
		}
	}
	return strings.Join(parts, ", ")
}

func ident(id *ast.Ident) string {
	if id.Dollar {
		return "$" + id.Name
	}
	return id.Name
}

func regex(r *ast.Regex) string { return "/" + ast.EscapeSlashes(r.Pattern) + "/" }

// word prints an entity value bare when it lexes as one word (a name, or
// ASCII digits followed by name characters), quoted otherwise.
func word(s *ast.String) string {
	for i, r := range s.Value {
		if r != '_' && !unicode.IsLetter(r) && !(unicode.IsDigit(r) && (i > 0 || r <= '9')) {
			return quote(s.Value)
		}
	}
	if s.Value == "" {
		return `""`
	}
	return s.Value
}

// duration prints a duration as written, without leading zeros; a
// duration built without Raw is printed in its largest exact unit.
func duration(d *ast.Duration) string {
	raw := d.Raw
	digits := strings.TrimRight(raw, "abcdefghijklmnopqrstuvwxyz")
	if digits != "" && strings.TrimLeft(digits, "0123456789") == "" {
		unit := raw[len(digits):]
		if n := strings.TrimLeft(digits, "0"); n != "" {
			return n + unit
		}
		return "0" + unit
	}
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if d.Value%u.d == 0 {
			return strconv.FormatInt(int64(d.Value/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d.Value/time.Millisecond), 10) + "ms"
}

// quote writes s in double quotes with the fewest escapes: quotes,
// backslashes and characters that are not printable.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	escape(&b, s, false)
	b.WriteByte('"')
	return b.String()
}

// template writes a template from its parts: text escaped, braces
// doubled, holes as {expr}.
func template(t *ast.Template) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, part := range t.Parts {
		if part.Expr != nil {
			b.WriteByte('{')
			escape(&b, part.Expr.Src, false)
			b.WriteByte('}')
			continue
		}
		escape(&b, part.Text, true)
	}
	b.WriteByte('"')
	return b.String()
}

func escape(b *strings.Builder, s string, braces bool) {
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case braces && (r == '{' || r == '}'):
			b.WriteRune(r)
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		case r == ' ' || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			fmt.Fprintf(b, `\U%08x`, r)
		}
	}
}
