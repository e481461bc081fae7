package parse

import (
	"fmt"
	"math"
	"regexp/syntax"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/dsl/ast"
	"github.com/kefu-chat/kefu/dsl/source"
)

// File parses one .kefu file. It always returns a tree, partial where the
// source is broken, and every error found (up to source.MaxErrors),
// sorted, deduplicated, each with its source line filled in for
// rendering. A line that does not parse is reported and skipped together
// with the block indented under it; parsing goes on at the next line of
// the enclosing block, and the tree is marked Partial. File is safe for
// concurrent use.
func File(name string, src []byte) (*ast.File, source.ErrorList) {
	p := &parser{file: source.NewFile(name, src), last: itemNewline}
	f := &ast.File{Src: p.file}
	p.lex = newLexer(string(src), p.errorAt)
	p.parse(f)
	errs := p.finish()
	f.Partial = len(errs) > 0
	return f, errs
}

// bailout unwinds the parser to the nearest line it can resume at.
type bailout struct{}

// tooMany stops the parser once source.MaxErrors errors are recorded.
type tooMany struct{}

type parser struct {
	file *source.File
	lex  *lexer
	buf  []item   // lookahead
	ring [8]item  // backs buf while the lookahead is short
	last itemType // the type of the last item taken, for recovery
	skip bool     // skipping a broken line or block
	ntok int      // items taken so far, to make sure recovery moves on
	errs source.ErrorList
}

// parse runs the parser, recovering once at the top from tooMany. Any
// other panic (a runtime.Error above all) is a bug and goes on up.
func (p *parser) parse(f *ast.File) {
	defer func() {
		if e := recover(); e != nil {
			if _, ok := e.(runtime.Error); ok {
				panic(e)
			}
			if _, ok := e.(tooMany); !ok {
				panic(e)
			}
		}
	}()
	p.checkUTF8()
	p.decls(f)
}

// finish sorts and deduplicates the errors and fills in their lines.
func (p *parser) finish() source.ErrorList {
	if len(p.errs) == 0 {
		return nil
	}
	p.errs.Sort()
	p.errs.Dedup()
	if len(p.errs) > source.MaxErrors {
		p.errs = p.errs[:source.MaxErrors]
	}
	for _, e := range p.errs {
		e.Line = validLine(p.file.Line(e.Pos.Line))
	}
	return p.errs
}

// validLine replaces each invalid byte with U+FFFD, keeping rune columns.
func validLine(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// checkUTF8 reports the first invalid byte of each line.
func (p *parser) checkUTF8() {
	src := p.file.Src
	for i := 0; i < len(src); {
		r, n := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && n == 1 {
			p.errorAt(i, i+1, "invalid UTF-8 encoding", "save the file as UTF-8 (it may be in GBK)")
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		}
		i += n
	}
}

// errorAt records an error over the bytes [pos, end).
func (p *parser) errorAt(pos, end int, msg, hint string) {
	if len(p.errs) >= source.MaxErrors {
		panic(tooMany{})
	}
	src := p.lex.input
	pos = max(0, min(pos, len(src)))
	end = max(pos, min(end, p.lex.lineEnd(pos)))
	n := utf8.RuneCountInString(src[pos:end])
	p.errs = append(p.errs, &source.Error{Pos: p.file.Position(source.Pos(pos)), Len: n, Msg: msg, Hint: hint})
}

// fail records an error at t and unwinds to the enclosing line.
func (p *parser) fail(t item, msg, hint string) {
	p.errorAt(t.pos, t.end, msg, hint)
	panic(bailout{})
}

// try runs fn, one line's parse; if fn bails out, it skips the rest of
// that line and the block indented under it.
func (p *parser) try(fn func()) {
	n := p.ntok
	defer func() {
		if e := recover(); e != nil {
			if _, ok := e.(bailout); !ok {
				panic(e)
			}
			if p.ntok == n {
				// fn failed on the first item of its line: skip the line.
				p.last = itemChar
			}
			p.sync()
		}
	}()
	fn()
}

// sync skips to the next line at the indentation of the broken one.
func (p *parser) sync() {
	if !p.atLineStart() {
		p.skipLine()
	}
	if p.peek().typ == itemIndent {
		p.skipBlock()
	}
}

func (p *parser) atLineStart() bool {
	switch p.last {
	case itemNewline, itemIndent, itemDedent, itemComment:
		return true
	}
	return false
}

// skipLine drops the rest of the current line, its NEWLINE included,
// without lexing it.
func (p *parser) skipLine() {
	p.skip = true
	defer func() { p.skip = false }()
	for len(p.buf) > 0 {
		t := p.next()
		if t.typ == itemNewline || t.typ == itemEOF {
			return
		}
	}
	p.lex.skipToLineEnd()
	p.next() // the NEWLINE
}

// skipBlock drops an indented block, from its INDENT to its DEDENT.
func (p *parser) skipBlock() {
	p.lex.muted, p.skip = true, true
	defer func() { p.lex.muted, p.skip = false, false }()
	depth := 0
	for {
		switch p.next().typ {
		case itemIndent:
			depth++
		case itemDedent:
			if depth--; depth == 0 {
				return
			}
		case itemEOF:
			return
		}
	}
}

func (p *parser) peek() item { return p.peekAt(0) }

// peekAt returns the item n places ahead.
func (p *parser) peekAt(n int) item {
	for len(p.buf) <= n {
		p.buf = append(p.buf, p.lex.nextItem())
	}
	return p.buf[n]
}

// next takes the next item. An unterminated literal has eaten the rest of
// its line and been reported: next bails out at once, so that the line
// yields no second, confusing error.
func (p *parser) next() item {
	t := p.peek()
	p.buf = p.buf[1:]
	if len(p.buf) == 0 {
		p.buf = p.ring[:0]
	}
	p.ntok++
	p.last = t.typ
	if t.bad && !p.skip {
		panic(bailout{})
	}
	return t
}

// rawExpr asks the lexer for an expression at the current offset. The
// parser must hold no lookahead: the lexer is just past the last item.
func (p *parser) rawExpr(st stops) item {
	if len(p.buf) != 0 {
		panic("parse: internal error: expression after lookahead")
	}
	p.last = itemExpr
	x := p.lex.scanExpr(st)
	if x.bad {
		panic(bailout{})
	}
	return x
}

// regex takes the `/` just peeked and scans the regex it opens.
//
//	Regex = "/" … "/" .
func (p *parser) regex() *ast.Regex {
	t := p.next()
	if len(p.buf) != 0 || p.lex.pos != t.end {
		panic("parse: internal error: regex after lookahead")
	}
	r := p.lex.scanRegex(t.pos)
	p.last = itemRegex
	if r.bad {
		panic(bailout{})
	}
	if r.val == "" {
		p.errorAt(t.pos, r.end, "empty regex", `write a pattern between the slashes: /\d{8,20}/`)
	} else if _, err := syntax.Parse(r.val, syntax.Perl); err != nil {
		msg := "invalid regex"
		if se, ok := err.(*syntax.Error); ok {
			msg += ": " + string(se.Code)
			if se.Expr != "" && se.Expr != r.val {
				msg += " " + strconv.Quote(se.Expr)
			}
		}
		p.errorAt(t.pos, r.end, msg, "regexes use Go's RE2 syntax (https://github.com/google/re2/wiki/Syntax)")
	}
	return &ast.Regex{Pos: source.Pos(t.pos), Pattern: r.val}
}

// Keywords are reserved as names; see the package comment.
var keywords = map[string]bool{
	"when": true, "then": true, "flow": true, "on": true, "intent": true, "event": true,
	"entity": true, "var": true, "say": true, "ask": true, "set": true, "trigger": true,
	"handoff": true, "end": true, "if": true, "elif": true, "else": true, "slot": true,
	"where": true, "retry": true, "call": true, "timeout": true, "error": true,
	"generate": true, "via": true,
}

// stmtWords start statements, in the order suggestions prefer.
var stmtWords = []string{"say", "ask", "set", "trigger", "handoff", "end", "if", "elif", "else", "slot", "call", "generate"}

var declWords = []string{"when", "flow", "entity", "var"}

const stepsHint = "a step starts with say, ask, set, trigger, handoff, end, if, slot or call"

func isWord(t item, w string) bool { return t.typ == itemName && t.val == w }

func isEOL(t item) bool { return t.typ == itemNewline || t.typ == itemTrail }

// describe names an item in a message.
func describe(t item) string {
	switch t.typ {
	case itemEOF:
		return "end of file"
	case itemNewline:
		return "end of line"
	case itemIndent:
		return "indentation"
	case itemDedent:
		return "end of block"
	case itemTrail, itemComment:
		return "comment"
	case itemString:
		s := t.val
		if utf8.RuneCountInString(s) > 24 {
			s = string([]rune(s)[:20]) + "…"
		}
		return "string " + s
	case itemVar:
		return strconv.Quote("$" + t.val)
	}
	return strconv.Quote(t.val)
}

func ident(t item) *ast.Ident {
	return &ast.Ident{Pos: source.Pos(t.pos), Name: t.val, Dollar: t.typ == itemVar}
}

func comment(t item) *ast.Comment { return &ast.Comment{Pos: source.Pos(t.pos), Text: t.val} }

// name takes a name that is not a keyword, or fails with msg and hint.
// what ("a flow") completes the message for a keyword.
func (p *parser) name(what, msg, hint string) *ast.Ident {
	t := p.peek()
	if t.typ == itemName {
		if !keywords[t.val] {
			p.next()
			return ident(t)
		}
		switch t.val {
		case "then", "elif", "else", "ask", "retry", "where", "timeout":
		default:
			p.next()
			p.fail(t, fmt.Sprintf("%q is a keyword and cannot name %s", t.val, what), hint)
		}
	}
	p.fail(t, msg, hint)
	return nil
}

// endLine takes the end of a line: an optional trailing comment and the
// NEWLINE. Anything else before it is reported and skipped; the node
// parsed so far is kept.
func (p *parser) endLine(after, hint string) string {
	t := p.peek()
	cmt := ""
	if t.typ == itemTrail {
		p.next()
		cmt = t.val
		t = p.peek()
	}
	if t.typ == itemNewline {
		p.next()
		return cmt
	}
	switch {
	case isWord(t, "elif") || isWord(t, "else"):
		p.errorAt(t.pos, t.end, fmt.Sprintf("unexpected %q without if", t.val), hint)
	default:
		p.errorAt(t.pos, t.end, fmt.Sprintf("unexpected %s after %s", describe(t), after), hint)
	}
	p.skipLine()
	return cmt
}

// decls parses the file.
//
//	File = { Decl } .
func (p *parser) decls(f *ast.File) {
	for {
		t := p.peek()
		switch t.typ {
		case itemEOF:
			return
		case itemComment:
			p.next()
			f.Decls = append(f.Decls, comment(t))
		case itemIndent:
			p.errorAt(t.pos, t.pos, "unexpected indentation",
				"only the lines of a flow, an entity or an if are indented; start this line at column 1")
			p.skipBlock()
		case itemNewline, itemDedent:
			p.next() // not produced at the top level; skip defensively
		default:
			p.try(func() { f.Decls = append(f.Decls, p.decl()...) })
		}
	}
}

// decl parses one declaration.
//
//	Decl = Rule | Flow | Entity | Var .
func (p *parser) decl() []ast.Decl {
	t := p.peek()
	if t.typ == itemName {
		switch t.val {
		case "when":
			return []ast.Decl{p.rule()}
		case "flow":
			return []ast.Decl{p.flow()}
		case "entity":
			return p.entity()
		case "var":
			return []ast.Decl{p.varDecl()}
		}
	}
	p.next()
	switch {
	case isWord(t, "elif") || isWord(t, "else"):
		p.fail(t, fmt.Sprintf("unexpected %q without if", t.val), "")
	case t.typ == itemName && keywords[t.val] && contains(stmtWords, t.val):
		p.fail(t, fmt.Sprintf("%q must be inside a flow or a one-line rule", t.val),
			fmt.Sprintf(`when "关键词" then %s …`, t.val))
	case t.typ == itemName:
		if s := suggest(t.val, declWords); s != "" {
			p.fail(t, fmt.Sprintf("unknown declaration %q", t.val), fmt.Sprintf("did you mean %q?", s))
		}
		if s := suggest(t.val, stmtWords); s != "" {
			p.fail(t, fmt.Sprintf("unknown declaration %q", t.val),
				fmt.Sprintf("did you mean %q? steps go inside a flow or a one-line rule", s))
		}
	}
	p.fail(t, fmt.Sprintf("expected when, flow, entity or var, found %s", describe(t)),
		"a file holds one-line rules (when …), flows, entities and vars")
	return nil
}

// rule parses a one-line rule.
//
//	Rule = "when" Triggers "then" Simple NEWLINE .
func (p *parser) rule() *ast.Rule {
	kw := p.next()
	r := &ast.Rule{Pos: source.Pos(kw.pos)}
	r.Triggers = p.triggers("when", `when "关键词" then say "回复"`)
	t := p.peek()
	if !isWord(t, "then") {
		hint := `when "关键词" then say "回复"`
		if t.typ == itemString || t.typ == itemSlash || t.typ == itemName && !keywords[t.val] {
			hint = `separate triggers with commas and end them with then: when "退货", "退款" then say "回复"`
		}
		p.fail(t, `missing "then" in one-line rule`, hint)
	}
	p.next()
	if b := p.peek(); isEOL(b) {
		p.fail(b, `missing step after "then"`, `when "关键词" then say "回复"; for several steps, write a flow`)
	}
	r.Body = p.simple(false)
	r.Comment = p.endLine("the rule", "a one-line rule has one step (or an inline if); for several steps, write a flow")
	return r
}

// triggers parses a list of triggers after kw (when or on).
//
//	Triggers = Trigger { "," Trigger } .
func (p *parser) triggers(kw, hint string) []*ast.Trigger {
	var list []*ast.Trigger
	after := kw
	for {
		list = append(list, p.trigger(after, hint))
		if p.peek().typ != itemComma {
			return list
		}
		p.next()
		after = ","
	}
}

// trigger parses one trigger.
//
//	Trigger = [ "intent" ] Name | "event" Name | String | Regex .
func (p *parser) trigger(after, hint string) *ast.Trigger {
	t := p.peek()
	switch {
	case t.typ == itemString:
		p.next()
		s := p.str(t)
		if s.Value == "" {
			p.errorAt(t.pos, t.end, "empty keyword", `write the words to match: "退货"`)
		}
		return &ast.Trigger{Pos: source.Pos(t.pos), Kind: ast.TriggerKeyword, Keyword: s}
	case t.typ == itemSlash:
		re := p.regex()
		return &ast.Trigger{Pos: re.Pos, Kind: ast.TriggerRegex, Regex: re}
	case isWord(t, "intent"):
		p.next()
		n := p.name("an intent", "intent needs a name", "intent 退货申请")
		return &ast.Trigger{Pos: source.Pos(t.pos), Kind: ast.TriggerIntent, Name: n, Explicit: true}
	case isWord(t, "event"):
		p.next()
		n := p.name("an event", "event needs a name", "event 会话开始")
		return &ast.Trigger{Pos: source.Pos(t.pos), Kind: ast.TriggerEvent, Name: n}
	case t.typ == itemName && !keywords[t.val]:
		p.next()
		return &ast.Trigger{Pos: source.Pos(t.pos), Kind: ast.TriggerIntent, Name: ident(t)}
	}
	p.fail(t, fmt.Sprintf("expected a trigger after %q, found %s", after, describe(t)), hint)
	return nil
}

// flow parses a flow.
//
//	Flow = "flow" Name NEWLINE INDENT { On } Body DEDENT .
func (p *parser) flow() *ast.Flow {
	kw := p.next()
	fl := &ast.Flow{Pos: source.Pos(kw.pos)}
	fl.Name = p.name("a flow", `expected a flow name after "flow"`, "flow 退货")
	fl.Comment = p.endLine("the flow name", `a flow line holds only its name: flow 退货`)
	if p.peek().typ != itemIndent {
		p.errorAt(int(fl.Name.Pos), int(fl.Name.Pos)+len(fl.Name.Name), fmt.Sprintf("flow %s has no steps", fl.Name.Name),
			`indent its lines under the flow line: on intent 退货申请, then steps such as say "您好"`)
		return fl
	}
	p.next()
	nerr := len(p.errs)
	var docs []*ast.Comment
	for {
		t := p.peek()
		if t.typ == itemComment {
			p.next()
			docs = append(docs, comment(t))
			continue
		}
		if !isWord(t, "on") || isWord(p.peekAt(1), "error") {
			break
		}
		p.try(func() {
			on := p.on()
			on.Doc, docs = docs, nil
			fl.On = append(fl.On, on)
		})
	}
	body := make([]ast.Stmt, 0, len(docs)+8)
	for _, c := range docs {
		body = append(body, c)
	}
	fl.Body = p.stmtList(body)
	if !hasStmt(fl.Body) && len(p.errs) == nerr {
		p.errorAt(int(fl.Name.Pos), int(fl.Name.Pos)+len(fl.Name.Name), fmt.Sprintf("flow %s has no steps", fl.Name.Name),
			`add steps after its on lines, such as say "您好"`)
	}
	return fl
}

func hasStmt(list []ast.Stmt) bool {
	for _, s := range list {
		if _, ok := s.(*ast.Comment); !ok {
			return true
		}
	}
	return false
}

// on parses a trigger line of a flow.
//
//	On = "on" Triggers NEWLINE .
func (p *parser) on() *ast.On {
	kw := p.next()
	on := &ast.On{Pos: source.Pos(kw.pos)}
	on.Triggers = p.triggers("on", `on intent 退货申请, "退货"`)
	on.Comment = p.endLine("the triggers", `separate triggers with commas: on intent 退货申请, 退款咨询`)
	return on
}

// entity parses an entity. Comments after its last value are returned
// after it, as top-level comments.
//
//	Entity = "entity" Name ( Regex NEWLINE | NEWLINE INDENT { Value } DEDENT ) .
func (p *parser) entity() []ast.Decl {
	kw := p.next()
	e := &ast.Entity{Pos: source.Pos(kw.pos)}
	e.Name = p.name("an entity", "entity needs a name", `entity 快递单号 /SF\d{12}/`)
	if p.peek().typ == itemSlash {
		e.Regex = p.regex()
		e.Comment = p.endLine("the regex", `an entity line holds its name and regex: entity 快递单号 /SF\d{12}/`)
		return []ast.Decl{e}
	}
	e.Comment = p.endLine("the entity name", `entity 快递单号 /SF\d{12}/`)
	if p.peek().typ != itemIndent {
		p.errorAt(int(e.Name.Pos), int(e.Name.Pos)+len(e.Name.Name), fmt.Sprintf("entity %s needs a /regex/ or indented values", e.Name.Name),
			`entity 快递单号 /SF\d{12}/, or values on indented lines: 红色: 红, 大红`)
		return []ast.Decl{e}
	}
	p.next()
	var docs []*ast.Comment
	for {
		t := p.peek()
		switch t.typ {
		case itemDedent:
			p.next()
			fallthrough
		case itemEOF:
			decls := []ast.Decl{e}
			for _, c := range docs {
				decls = append(decls, c)
			}
			return decls
		case itemComment:
			p.next()
			docs = append(docs, comment(t))
		case itemIndent:
			p.errorAt(t.pos, t.pos, "unexpected indentation", "indent every value of an entity the same")
			p.skipBlock()
		default:
			p.try(func() {
				v := p.value()
				v.Doc, docs = docs, nil
				e.Values = append(e.Values, v)
			})
		}
	}
}

// value parses a lexicon line of an entity.
//
//	Value = ( Name | String ) [ ":" ( Name | String ) { "," ( Name | String ) } ] NEWLINE .
func (p *parser) value() *ast.EntityValue {
	t := p.peek()
	v := &ast.EntityValue{Pos: source.Pos(t.pos)}
	v.Value = p.word()
	if p.peek().typ == itemColon {
		p.next()
		for {
			v.Synonyms = append(v.Synonyms, p.word())
			if p.peek().typ != itemComma {
				break
			}
			p.next()
		}
	}
	v.Comment = p.endLine("the value", `a value line goes: 红色: 红, 大红; quote values with spaces or punctuation: "iPhone 15": 苹果15`)
	return v
}

// word parses an entity value or synonym: a bare word (keywords and words
// starting with a digit included) or a string.
func (p *parser) word() *ast.String {
	t := p.peek()
	switch t.typ {
	case itemName, itemNumber:
		p.next()
		return &ast.String{Pos: source.Pos(t.pos), Value: t.val}
	case itemString:
		p.next()
		s := p.str(t)
		if s.Value == "" {
			p.errorAt(t.pos, t.end, "empty value", "")
		}
		return s
	}
	p.fail(t, fmt.Sprintf("expected a value, found %s", describe(t)), `a value line goes: 红色: 红, 大红`)
	return nil
}

// varDecl parses a session variable declaration.
//
//	Var = "var" "$" Name "=" Expr NEWLINE .
func (p *parser) varDecl() *ast.Var {
	kw := p.next()
	v := &ast.Var{Pos: source.Pos(kw.pos)}
	const hint = `var $会员等级 = "普通"`
	t := p.peek()
	switch t.typ {
	case itemVar:
		p.next()
		v.Name = ident(t)
	case itemName:
		p.fail(t, "a session variable is written with $", hint)
	default:
		p.fail(t, "var needs a $name", hint)
	}
	if t := p.peek(); t.typ != itemAssign {
		p.fail(t, fmt.Sprintf(`expected "=" after var $%s`, v.Name.Name), hint)
	}
	eq := p.next()
	v.Value = p.expr(eq, 0, fmt.Sprintf("var $%s needs a value", v.Name.Name), hint, false)
	v.Comment = p.endLine("the value", "")
	return v
}

// expr takes an expression after kw up to the stops. An empty one is an
// error (soft: recorded, and parsing goes on).
func (p *parser) expr(kw item, st stops, msg, hint string, soft bool) *ast.Expr {
	x := p.rawExpr(st)
	if x.val == "" {
		if soft {
			p.errorAt(x.pos, x.pos, msg, hint)
		} else {
			p.fail(x, msg, hint)
		}
	}
	return &ast.Expr{Pos: source.Pos(x.pos), Src: x.val}
}

// stmtList parses the statements of a block after its INDENT, through its
// DEDENT, appending them to list.
//
//	Body = Stmt { Stmt } .
func (p *parser) stmtList(list []ast.Stmt) []ast.Stmt {
	for {
		t := p.peek()
		switch t.typ {
		case itemDedent:
			p.next()
			return list
		case itemEOF:
			return list
		case itemComment:
			p.next()
			list = append(list, comment(t))
		case itemIndent:
			p.errorAt(t.pos, t.pos, "unexpected indentation", "indent the lines of a block the same; only if, else and on error open a deeper block")
			p.skipBlock()
		default:
			var prev ast.Stmt
			for i := len(list) - 1; i >= 0 && prev == nil; i-- {
				if _, ok := list[i].(*ast.Comment); !ok {
					prev = list[i]
				}
			}
			p.try(func() { list = append(list, p.stmt(prev)) })
		}
	}
}

// block parses an indented block after the line of opener (if, elif,
// else, on error). A missing block is reported and yields no statements.
func (p *parser) block(opener item) []ast.Stmt {
	t := p.peek()
	if t.typ != itemIndent {
		if t.typ == itemEOF || t.typ == itemDedent {
			t = opener
		}
		p.errorAt(t.pos, t.end, fmt.Sprintf("expected an indented block after %q", opener.val),
			fmt.Sprintf("indent the lines that belong to %s deeper than it", opener.val))
		return []ast.Stmt{}
	}
	p.next()
	return p.stmtList(make([]ast.Stmt, 0, 4))
}

// commentsBefore takes the comment lines before the next item when that
// item satisfies ok(k), k being its place in the lookahead; it leaves them
// otherwise. They become the first lines of the block that item opens. ok
// must not peek past the line of that item: a raw scan may follow.
func (p *parser) commentsBefore(ok func(k int) bool) []ast.Stmt {
	k := 0
	for p.peekAt(k).typ == itemComment {
		k++
	}
	if !ok(k) {
		return nil
	}
	list := make([]ast.Stmt, 0, k+4)
	for range k {
		list = append(list, comment(p.next()))
	}
	return list
}

// stmt parses a statement of a flow body; prev is the statement before it
// in the same block, for hints.
//
//	Stmt = Simple NEWLINE | If | Slot | Call .
func (p *parser) stmt(prev ast.Stmt) ast.Stmt {
	t := p.peek()
	if t.typ == itemName {
		switch t.val {
		case "if":
			return p.ifStmt(false)
		case "slot":
			return p.slot()
		case "call":
			return p.call()
		case "say", "ask", "set", "trigger", "handoff", "end", "generate":
			s := p.simple(false)
			setComment(s, p.endLine(t.val, "one step per line"))
			return s
		case "elif", "else":
			p.next()
			hint := ""
			if n, ok := prev.(*ast.If); ok && n.Inline {
				hint = "an inline if ends with its line; to add elif or else lines, write the if as a block"
			} else if ok && n.Else != nil {
				hint = "this if already has an else"
			}
			p.fail(t, fmt.Sprintf("unexpected %q without if", t.val), hint)
		case "on":
			p.next()
			if isWord(p.peek(), "error") {
				hint := "put it right after the call line, at the same indentation"
				if c, ok := prev.(*ast.Call); ok && c.OnError != nil {
					hint = "this call already has an on error block"
				}
				p.fail(t, `"on error" must follow a call`, hint)
			}
			p.fail(t, "on lines must come before the first step of a flow", "move it up, under the flow line")
		case "when", "flow", "entity", "var":
			p.next()
			p.fail(t, fmt.Sprintf("%q cannot be inside a block", t.val), "start it at column 1")
		}
	}
	p.unknownStmt(t)
	return nil
}

// unknownStmt takes t and fails with the best message for it.
func (p *parser) unknownStmt(t item) {
	p.next()
	switch {
	case t.typ == itemString:
		p.fail(t, fmt.Sprintf("expected a step, found %s", describe(t)), "to send it, write: say "+t.val)
	case t.typ == itemVar:
		p.fail(t, fmt.Sprintf("expected a step, found %s", describe(t)), fmt.Sprintf("to change it, write: set $%s = …", t.val))
	case t.typ != itemName:
		p.fail(t, fmt.Sprintf("expected a step, found %s", describe(t)), stepsHint)
	case keywords[t.val]:
		p.fail(t, fmt.Sprintf("unexpected %q at the start of a step", t.val), stepsHint)
	}
	if s := suggest(t.val, stmtWords); s != "" {
		p.fail(t, fmt.Sprintf("unknown statement %q", t.val), fmt.Sprintf("did you mean %q?", s))
	}
	p.fail(t, fmt.Sprintf("unknown statement %q", t.val), stepsHint)
}

// setComment stores a trailing comment in a simple statement.
func setComment(s ast.Stmt, c string) {
	switch s := s.(type) {
	case *ast.Say:
		s.Comment = c
	case *ast.Ask:
		s.Comment = c
	case *ast.Set:
		s.Comment = c
	case *ast.Goto:
		s.Comment = c
	case *ast.Handoff:
		s.Comment = c
	case *ast.Generate:
		s.Comment = c
	case *ast.End:
		s.Comment = c
	case *ast.If:
		s.Clauses[0].Comment = c
	}
}

// simple parses a simple statement, without its line end. inline says it
// is a branch of an inline if, where set's expression stops at elif and
// else.
//
//	Simple  = Say | Ask | Set | Goto | Handoff | End | InlineIf .
//	Say     = "say" Template .
//	Ask     = "ask" Template .
//	Set     = "set" [ "$" ] Name "=" Expr .
//	Goto    = "trigger" Name .
//	Handoff = "handoff" [ String ] .
//	End     = "end" .
func (p *parser) simple(inline bool) ast.Stmt {
	t := p.peek()
	if isEOL(t) {
		p.fail(t, `missing step after "then"`, `if 条件 then say "…"`)
	}
	if t.typ != itemName {
		p.unknownStmt(t)
	}
	switch t.val {
	case "say", "ask":
		p.next()
		s := p.peek()
		if s.typ != itemString {
			hint := fmt.Sprintf(`%s "您好，请问有什么可以帮您？"`, t.val)
			if s.typ == itemName {
				hint = fmt.Sprintf(`put the text in straight quotes: %s "%s"`, t.val, s.val)
			}
			p.fail(s, fmt.Sprintf("%s needs a text in quotes", t.val), hint)
		}
		p.next()
		if t.val == "say" {
			return &ast.Say{Pos: source.Pos(t.pos), Text: p.template(s)}
		}
		return &ast.Ask{Pos: source.Pos(t.pos), Text: p.template(s)}
	case "set":
		p.next()
		const hint = `set $会员等级 = "黄金"`
		s := &ast.Set{Pos: source.Pos(t.pos)}
		if n := p.peek(); n.typ == itemVar {
			p.next()
			s.Name = ident(n)
		} else {
			s.Name = p.name("a variable", "set needs a name", hint)
		}
		if n := p.peek(); n.typ != itemAssign {
			p.fail(n, fmt.Sprintf(`expected "=" after set %s`, s.Name.Name), hint)
		}
		eq := p.next()
		var st stops
		if inline {
			st = stopElse
		}
		s.Value = p.expr(eq, st, fmt.Sprintf("set %s needs a value", s.Name.Name), hint, false)
		return s
	case "trigger":
		p.next()
		return &ast.Goto{Pos: source.Pos(t.pos), Flow: p.name("a flow", "trigger needs a flow name", "trigger 售后流程")}
	case "handoff":
		p.next()
		h := &ast.Handoff{Pos: source.Pos(t.pos)}
		switch n := p.peek(); {
		case n.typ == itemString:
			p.next()
			h.Queue = p.str(n)
		case n.typ == itemName && !keywords[n.val]:
			p.next()
			p.fail(n, "handoff needs its queue in quotes", fmt.Sprintf(`handoff "%s"`, n.val))
		}
		return h
	case "end":
		p.next()
		return &ast.End{Pos: source.Pos(t.pos)}
	case "generate":
		//	Generate = "generate" Template [ "via" Name ] .
		p.next()
		s := p.peek()
		if s.typ != itemString {
			p.fail(s, "generate needs a prompt in quotes", `generate "请根据订单 {订单号} 的情况安抚顾客"`)
		}
		p.next()
		g := &ast.Generate{Pos: source.Pos(t.pos), Prompt: p.template(s)}
		if isWord(p.peek(), "via") {
			p.next()
			g.Route = p.name("a route", "via needs a route name", `generate "…" via default`)
		}
		return g
	case "if":
		return p.ifStmt(true)
	case "slot", "call":
		p.next()
		p.fail(t, `the "then" part must be a simple step: say, ask, set, trigger, handoff, end or an inline if`,
			t.val+" needs a line of its own in a flow")
	}
	p.unknownStmt(t)
	return nil
}

// ifStmt parses an if. Within a one-line rule or an inline if (inlineOnly)
// it must be inline and its line end is left to the caller.
//
//	InlineIf = "if" Expr "then" Simple { "elif" Expr "then" Simple } [ "else" Simple ] .
//	If       = "if" Expr NEWLINE INDENT Body DEDENT
//	           { "elif" Expr NEWLINE INDENT Body DEDENT }
//	           [ "else" NEWLINE INDENT Body DEDENT ] .
func (p *parser) ifStmt(inlineOnly bool) *ast.If {
	const condHint = `if 订单.状态 == "已发货"`
	kw := p.next()
	n := &ast.If{Pos: source.Pos(kw.pos), ElsePos: source.NoPos}
	cond := p.expr(kw, stopThen, "if needs a condition", condHint, false)
	clause := &ast.Clause{Pos: source.Pos(kw.pos), Cond: cond}
	n.Clauses = []*ast.Clause{clause}
	if isWord(p.peek(), "then") {
		p.next()
		n.Inline = true
		clause.Body = []ast.Stmt{p.simple(true)}
		for {
			t := p.peek()
			if isWord(t, "elif") {
				p.next()
				c := &ast.Clause{Pos: source.Pos(t.pos)}
				c.Cond = p.expr(t, stopThen, "elif needs a condition", condHint, false)
				if th := p.peek(); !isWord(th, "then") {
					p.fail(th, `missing "then" after the elif condition`, `if 条件 then say "…" elif 条件 then say "…" else say "…"`)
				}
				p.next()
				c.Body = []ast.Stmt{p.simple(true)}
				n.Clauses = append(n.Clauses, c)
				continue
			}
			if isWord(t, "else") {
				p.next()
				n.ElsePos = source.Pos(t.pos)
				n.Else = []ast.Stmt{p.simple(true)}
			}
			break
		}
		if !inlineOnly {
			clause.Comment = p.endLine("the inline if", "an inline if is one line: if 条件 then say \"…\" else say \"…\"")
		}
		return n
	}
	if inlineOnly {
		p.fail(p.peek(), `missing "then" in inline if`, `if $订单状态 == "已发货" then say "…" else say "…"`)
	}
	clause.Comment = p.endLine("the condition", "")
	clause.Body = p.block(kw)
	for {
		cmts := p.commentsBefore(func(k int) bool {
			a := p.peekAt(k)
			return isWord(a, "elif") || isWord(a, "else")
		})
		t := p.peek()
		if isWord(t, "elif") {
			p.next()
			c := &ast.Clause{Pos: source.Pos(t.pos)}
			c.Cond = p.expr(t, stopThen, "elif needs a condition", `elif 订单.状态 == "未发货"`, true)
			c.Comment = p.endLine("the condition", "in a block if, put the step on the next line, indented")
			c.Body = append(cmts, p.block(t)...)
			n.Clauses = append(n.Clauses, c)
			continue
		}
		if isWord(t, "else") {
			p.next()
			n.ElsePos = source.Pos(t.pos)
			n.ElseCmt = p.endLine(`"else"`, "in a block if, put the step on the next line, indented")
			n.Else = append(cmts, p.block(t)...)
		}
		return n
	}
}

// slot parses a slot. Its clauses may come in any order, each once.
//
//	Slot = "slot" Name [ ":" ( Regex | Name ) ] [ "where" Expr ]
//	       [ "ask" Template ] [ "retry" Int [ Template ] ] NEWLINE .
func (p *parser) slot() *ast.Slot {
	const hint = `slot 订单号: /\d{8,20}/ ask "请问订单号是多少？" retry 2 "格式不对，请重新输入"`
	kw := p.next()
	s := &ast.Slot{Pos: source.Pos(kw.pos), Retry: -1, RetryPos: source.NoPos}
	s.Name = p.name("a slot", "slot needs a name", hint)
	if p.peek().typ == itemColon {
		p.next()
		switch t := p.peek(); {
		case t.typ == itemSlash:
			s.Regex = p.regex()
		case t.typ == itemName && !keywords[t.val]:
			p.next()
			s.Type = ident(t)
		default:
			p.fail(t, fmt.Sprintf(`slot %s needs a type or a /regex/ after ":"`, s.Name.Name), `slot 订单号: /\d{8,20}/, or slot 手机: phone`)
		}
	}
	seen := map[string]bool{}
	for {
		t := p.peek()
		if isEOL(t) {
			break
		}
		if t.typ != itemName || t.val != "where" && t.val != "ask" && t.val != "retry" {
			p.fail(t, fmt.Sprintf("unexpected %s in slot", describe(t)), hint)
		}
		if seen[t.val] {
			p.fail(t, fmt.Sprintf("duplicate %q in slot", t.val), "")
		}
		seen[t.val] = true
		p.next()
		switch t.val {
		case "where":
			s.Where = p.expr(t, stopAskRetry, "where needs a condition", `slot 数量: number where 数量 > 0`, false)
		case "ask":
			q := p.peek()
			if q.typ != itemString {
				p.fail(q, "ask needs a question in quotes", `slot 订单号 ask "请问订单号是多少？"`)
			}
			p.next()
			s.Ask = p.template(q)
		case "retry":
			s.RetryPos = source.Pos(t.pos)
			s.Retry = p.count(`retry 2 "请重新输入"`)
			if q := p.peek(); q.typ == itemString {
				p.next()
				s.RetryText = p.template(q)
			}
		}
	}
	s.Comment = p.endLine("the slot", hint)
	return s
}

// count parses the number after retry.
//
//	Int = decimal digits .
func (p *parser) count(hint string) int {
	t := p.peek()
	if t.typ != itemNumber || strings.TrimLeft(t.val, "0123456789") != "" {
		p.fail(t, "retry needs a number", hint)
	}
	p.next()
	n, err := strconv.Atoi(t.val)
	if err != nil {
		p.fail(t, "retry count is too large", hint)
	}
	return n
}

// call parses a call and its on error block.
//
//	Call = "call" Name "." Name "(" [ Arg { "," Arg } ] ")" [ "->" Name ]
//	       [ "timeout" Duration ] [ "retry" Int ] NEWLINE
//	       [ "on" "error" NEWLINE INDENT Body DEDENT ] .
func (p *parser) call() *ast.Call {
	const hint = `call 订单服务.查询(订单号) -> 订单 timeout 2s`
	kw := p.next()
	c := &ast.Call{Pos: source.Pos(kw.pos), Retry: -1, RetryPos: source.NoPos, ErrorPos: source.NoPos}
	bad := func(t item) { p.fail(t, "call needs service.operation(...)", hint) }
	if t := p.peek(); t.typ != itemName || keywords[t.val] {
		bad(t)
	}
	c.Service = ident(p.next())
	if t := p.peek(); t.typ != itemDot {
		bad(t)
	}
	p.next()
	if t := p.peek(); t.typ != itemName || keywords[t.val] {
		bad(t)
	}
	c.Op = ident(p.next())
	if t := p.peek(); t.typ != itemLParen {
		bad(t)
	}
	p.next()
	c.Args = p.args()
	seen := map[string]bool{}
	for {
		t := p.peek()
		if isEOL(t) {
			break
		}
		key := t.val
		if t.typ != itemArrow && (t.typ != itemName || key != "timeout" && key != "retry") {
			p.fail(t, fmt.Sprintf("unexpected %s in call", describe(t)), hint+" retry 1")
		}
		if seen[key] {
			p.fail(t, fmt.Sprintf("duplicate %q in call", key), "")
		}
		seen[key] = true
		p.next()
		switch key {
		case "->":
			c.Result = p.name("a result", `"->" needs a name for the result`, hint)
		case "timeout":
			c.Timeout = p.duration()
		case "retry":
			c.RetryPos = source.Pos(t.pos)
			c.Retry = p.count(`call 订单服务.查询(订单号) retry 1`)
		}
	}
	c.Comment = p.endLine("the call", hint)
	cmts := p.commentsBefore(func(k int) bool { return isWord(p.peekAt(k), "on") && isWord(p.peekAt(k+1), "error") })
	if t := p.peek(); isWord(t, "on") && isWord(p.peekAt(1), "error") {
		p.next()
		p.next()
		c.ErrorPos = source.Pos(t.pos)
		c.ErrorCmt = p.endLine(`"on error"`, "put the steps on the next lines, indented")
		c.OnError = append(cmts, p.block(item{pos: t.pos, end: t.end, val: "on error"})...)
	}
	return c
}

// args parses call arguments after "(", through ")".
//
//	Arg = [ Name "=" ] Expr .
func (p *parser) args() []*ast.Arg {
	var args []*ast.Arg
	for {
		x := p.rawExpr(stopArg)
		t := p.next()
		if x.val == "" {
			if t.typ == itemRParen && len(args) == 0 {
				return nil
			}
			if t.typ == itemComma || t.typ == itemRParen {
				p.fail(t, "missing argument", `separate arguments with commas: call 订单服务.查询(订单号, 手机)`)
			}
		} else {
			args = append(args, p.arg(x))
		}
		switch t.typ {
		case itemComma:
			continue
		case itemRParen:
			return args
		}
		p.fail(t, `missing ")" in call`, `call 订单服务.查询(订单号) -> 订单`)
	}
}

// arg splits `名 = expr` into a named argument; anything else is
// positional.
func (p *parser) arg(x item) *ast.Arg {
	src := x.val
	if r, _ := utf8.DecodeRuneInString(src); isNameStart(r) {
		w := scanName(src, 0)
		rest := strings.TrimLeft(src[w:], " \t")
		if strings.HasPrefix(rest, "=") && !strings.HasPrefix(rest, "==") {
			val := strings.TrimLeft(rest[1:], " \t")
			vpos := x.pos + len(src) - len(val)
			if val == "" {
				p.errorAt(x.pos, x.end, fmt.Sprintf("argument %s needs a value", src[:w]), `call 订单服务.查询(订单号 = 单号)`)
			}
			return &ast.Arg{
				Name:  &ast.Ident{Pos: source.Pos(x.pos), Name: src[:w]},
				Value: &ast.Expr{Pos: source.Pos(vpos), Src: val},
			}
		}
	}
	return &ast.Arg{Value: &ast.Expr{Pos: source.Pos(x.pos), Src: src}}
}

var units = []struct {
	name string
	d    time.Duration
}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}

// duration parses the duration after timeout.
//
//	Duration = Int ( "ms" | "s" | "m" | "h" ) .
func (p *parser) duration() *ast.Duration {
	const hint = "write a whole number and a unit, ms, s, m or h: timeout 2s, timeout 500ms"
	t := p.peek()
	if t.typ != itemNumber {
		p.fail(t, "timeout needs a duration", hint)
	}
	p.next()
	digits := strings.TrimRight(t.val, "abcdefghijklmnopqrstuvwxyz")
	unit := t.val[len(digits):]
	for _, u := range units {
		if u.name != unit || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
			continue
		}
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || n > math.MaxInt64/int64(u.d) {
			p.fail(t, fmt.Sprintf("duration %s is too long", t.val), hint)
		}
		return &ast.Duration{Pos: source.Pos(t.pos), Value: time.Duration(n) * u.d, Raw: t.val}
	}
	p.fail(t, fmt.Sprintf("bad duration %q", t.val), hint)
	return nil
}

func contains(list []string, s string) bool {
	for _, w := range list {
		if w == s {
			return true
		}
	}
	return false
}

// suggest returns the word of list closest to w by edit distance
// (transpositions count one), if it is close enough to be a typo.
func suggest(w string, list []string) string {
	limit := 1
	if utf8.RuneCountInString(w) > 4 {
		limit = 2
	}
	best, bestD := "", limit+1
	for _, k := range list {
		if d := distance(w, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b.
func distance(a, b string) int {
	ra, rb := []rune(strings.ToLower(a)), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
