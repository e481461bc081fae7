package parse

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/source"
)

// unquote decodes the raw string literal lit, which starts at offset pos.
// It returns the value and, when offsets is set and the literal holds
// escapes, the offset in the file of the source character each byte of
// the value came from (nil means byte i came from base+i, base being the
// offset just past the opening quote). Bad escapes are reported; the
// lexer has already reported a missing closing quote or curly quotes.
func (p *parser) unquote(lit string, pos int, offsets bool) (value string, offs []int, base int) {
	open, size := utf8.DecodeRuneInString(lit)
	body := lit[size:]
	close := open
	curly := false
	if c, ok := curlyClose[open]; ok {
		close, curly = c, true
	}
	if r, n := utf8.DecodeLastRuneInString(body); r == close && n > 0 && (curly || !escapedEnd(body[:len(body)-n])) {
		body = body[:len(body)-n]
	}
	base = pos + size
	if curly || !strings.Contains(body, `\`) {
		return body, nil, base
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			_, n := utf8.DecodeRuneInString(body[i:])
			b.WriteString(body[i : i+n])
			for k := 0; k < n && offsets; k++ {
				offs = append(offs, base+i+k)
			}
			i += n
			continue
		}
		r, n, err := unescape(body[i:])
		if err != "" {
			p.errorAt(base+i, base+i+max(n, 2), err, `write \\ for a backslash; escapes are \" \' \\ \n \t \u4e00`)
			i += max(n, 1)
			continue
		}
		start := b.Len()
		b.WriteRune(r)
		for k := start; k < b.Len() && offsets; k++ {
			offs = append(offs, base+i)
		}
		i += n
	}
	return b.String(), offs, base
}

// escapedEnd reports whether s ends in an odd number of backslashes, that
// is, whether the quote after it is escaped.
func escapedEnd(s string) bool {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n%2 == 1
}

// unescape decodes the escape sequence at the start of s (which starts
// with a backslash): Go's escapes, with \' and \" allowed in both kinds of
// string. It returns the rune, the length of the sequence, or a message.
func unescape(s string) (rune, int, string) {
	if len(s) < 2 {
		return 0, 1, "backslash at the end of a string"
	}
	switch s[1] {
	case '"', '\'':
		return rune(s[1]), 2, ""
	}
	r, _, tail, err := strconv.UnquoteChar(s, '"')
	n := len(s) - len(tail)
	if err != nil {
		_, size := utf8.DecodeRuneInString(s[1:])
		return 0, 1 + size, "unknown escape " + s[:1+size]
	}
	if r >= utf8.RuneSelf && (s[1] == 'x' || '0' <= s[1] && s[1] <= '7') {
		// \xff and \377 are bytes in Go; here they would be broken UTF-8.
		return 0, n, "escape " + s[:n] + ` is not a character; write \u00` + strconv.FormatInt(int64(r), 16)
	}
	return r, n, ""
}

// str decodes a string token into an *ast.String.
func (p *parser) str(t item) *ast.String {
	v, _, _ := p.unquote(t.val, t.pos, false)
	return &ast.String{Pos: source.Pos(t.pos), Value: v}
}

// template decodes a string token and splits it into text and {expr}
// holes. Each hole's Expr.Pos is the file offset of its first byte, found
// through the raw literal, so escapes before it do not shift it.
func (p *parser) template(t item) *ast.Template {
	v, offs, base := p.unquote(t.val, t.pos, true)
	tmpl := &ast.Template{Pos: source.Pos(t.pos), Raw: t.val}
	if !strings.ContainsAny(v, "{}") {
		if v != "" {
			tmpl.Parts = []ast.TemplatePart{{Text: v}}
		}
		return tmpl
	}
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			tmpl.Parts = append(tmpl.Parts, ast.TemplatePart{Text: text.String()})
			text.Reset()
		}
	}
	off := func(i int) int {
		switch {
		case offs == nil:
			return base + i
		case i < len(offs):
			return offs[i]
		}
		return t.end
	}
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == '{' && i+1 < len(v) && v[i+1] == '{', c == '}' && i+1 < len(v) && v[i+1] == '}':
			text.WriteByte(c)
			i += 2
		case c == '{':
			end := holeEnd(v, i+1)
			if end < 0 {
				p.errorAt(off(i), off(i)+1, "unclosed { in template", "close the hole with }, or write {{ for a literal brace")
				text.WriteByte(c)
				i++
				continue
			}
			inner := v[i+1 : end]
			// Trim as TrimSpace does, so that Pos and Src agree.
			lead := len(inner) - len(strings.TrimLeftFunc(inner, unicode.IsSpace))
			src := strings.TrimSpace(inner)
			if src == "" {
				p.errorAt(off(i), off(end)+1, "empty {} in template", "put a name in it, as in {订单号}, or write {{}} for literal braces")
				text.WriteString(v[i : end+1])
				i = end + 1
				continue
			}
			flush()
			tmpl.Parts = append(tmpl.Parts, ast.TemplatePart{Expr: &ast.Expr{Pos: source.Pos(off(i + 1 + lead)), Src: src}})
			i = end + 1
		case c == '}':
			p.errorAt(off(i), off(i)+1, "unmatched } in template", "write }} for a literal brace")
			text.WriteByte(c)
			i++
		default:
			text.WriteByte(c)
			i++
		}
	}
	flush()
	return tmpl
}

// holeEnd returns the index of the } that closes the hole whose content
// starts at i, skipping nested braces and quoted strings, or -1.
func holeEnd(v string, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch c := v[i]; c {
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i
			}
			depth--
		case '"', '\'', '`':
			for i++; i < len(v) && v[i] != c; i++ {
				if v[i] == '\\' && c != '`' {
					i++
				}
			}
			if i >= len(v) {
				return -1
			}
		}
	}
	return -1
}
