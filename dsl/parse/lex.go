package parse

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// itemType identifies the kind of an item.
type itemType int

const (
	itemEOF     itemType = iota
	itemNewline          // the end of a line that holds tokens
	itemIndent           // the next line is indented deeper
	itemDedent           // a block ends
	itemComment          // a comment on its own line; val is its text
	itemTrail            // a comment at the end of a line; val is its text
	itemName             // a name or keyword: 退货, say
	itemVar              // $名; val excludes the $
	itemString           // "…", '…' (or a rejected curly-quoted string); val is the raw literal
	itemNumber           // 2, 2s, 500ms, 1.5s: digits and what sticks to them
	itemRegex            // /…/; only from scanRegex; val is the pattern
	itemExpr             // raw expression source; only from scanExpr
	itemColon            // :
	itemComma            // ,
	itemDot              // .
	itemLParen           // (
	itemRParen           // )
	itemArrow            // ->
	itemAssign           // =
	itemSlash            // / where a token was expected; the parser may ask for a regex
	itemChar             // any other character
)

// item is one token: its kind, the byte offset of its first byte and its
// text. end is the offset just past it, for underlines.
type item struct {
	typ itemType
	pos int
	end int
	val string
	bad bool // an unterminated string, regex or string in an expression (reported)
}

// errorHandler receives lexical errors: the byte range, a message and a hint.
type errorHandler func(pos, end int, msg, hint string)

// stateFn is one state of the lexer: it reads input, emits items and
// returns the next state.
type stateFn func(*lexer) stateFn

// lexer turns source into items. It runs synchronously, as text/template's
// does: nextItem runs states until one emits. Indentation is turned into
// INDENT and DEDENT items at line starts. Expressions and regexes are not
// tokens: the parser asks for them with scanExpr and scanRegex where the
// grammar expects one, so `/` is division inside an expression.
type lexer struct {
	input   string
	pos     int
	state   stateFn
	items   []item // emitted, not yet returned (a line start may emit several)
	head    int
	indents []int // the indentation stack, in columns; never empty
	errh    errorHandler
	muted   bool // drop token-level errors while the parser skips a broken block

	style     byte // ' ' or '\t': how the first indented line was indented
	styleLine int  // offset of that line
	mixed     bool // the tab/space error was reported
}

func newLexer(src string, errh errorHandler) *lexer {
	l := &lexer{input: src, state: lexLineStart, indents: []int{0}, errh: errh}
	if strings.HasPrefix(src, "\uFEFF") { // a byte order mark, as Windows editors write
		l.pos = 3
	}
	return l
}

// nextItem returns the next item.
func (l *lexer) nextItem() item {
	for l.head == len(l.items) {
		l.items, l.head = l.items[:0], 0
		l.state = l.state(l)
	}
	it := l.items[l.head]
	l.head++
	return it
}

func (l *lexer) emit(typ itemType, pos, end int, val string) {
	l.items = append(l.items, item{typ: typ, pos: pos, end: end, val: val})
}

// errorf reports a token-level error (muted while skipping).
func (l *lexer) errorf(pos, end int, hint, format string, args ...any) {
	if l.muted {
		return
	}
	l.errh(pos, end, fmt.Sprintf(format, args...), hint)
}

// lineEnd returns the offset of the end of the line holding pos, before
// any "\r\n" or "\n".
func (l *lexer) lineEnd(pos int) int {
	i := strings.IndexByte(l.input[pos:], '\n')
	if i < 0 {
		i = len(l.input)
	} else {
		i += pos
	}
	if i > pos && l.input[i-1] == '\r' {
		i--
	}
	return i
}

type pendingComment struct {
	pos, end int
	col      int
	text     string
}

// lexLineStart reads blank and comment lines, measures the indentation of
// the next line with tokens and emits the INDENT or DEDENT items and
// comments that come before it.
func lexLineStart(l *lexer) stateFn {
	var comments []pendingComment
	for {
		if l.pos >= len(l.input) {
			l.indentTo(0, len(l.input), comments)
			l.emit(itemEOF, len(l.input), len(l.input), "")
			return lexEOF
		}
		start := l.pos
		col, i := 0, l.pos
		sawTab, sawSpace := false, false
	indent:
		for ; i < len(l.input); i++ {
			switch l.input[i] {
			case ' ':
				col++
				sawSpace = true
			case '\t':
				col = col/4*4 + 4
				sawTab = true
			default:
				break indent
			}
		}
		end := l.lineEnd(i)
		if strings.Trim(l.input[i:end], " \t\r") == "" { // blank line
			l.skipLine(end)
			continue
		}
		if l.input[i] == '#' {
			comments = append(comments, pendingComment{pos: i, end: end, col: col, text: commentText(l.input[i:end])})
			l.skipLine(end)
			continue
		}
		if sawTab || sawSpace {
			l.checkIndentStyle(start, i, sawTab, sawSpace)
		}
		l.pos = i
		l.indentTo(col, i, comments)
		return lexInLine
	}
}

// skipLine moves past the newline after end.
func (l *lexer) skipLine(end int) {
	l.pos = end
	if l.pos < len(l.input) && l.input[l.pos] == '\r' {
		l.pos++
	}
	if l.pos < len(l.input) && l.input[l.pos] == '\n' {
		l.pos++
	}
}

// commentText is a comment's text: without the #, leading blanks and
// trailing white space.
func commentText(s string) string {
	s = strings.TrimPrefix(s, "#")
	return strings.TrimRightFunc(strings.TrimLeft(s, " \t"), unicode.IsSpace)
}

// checkIndentStyle reports, once per file, indentation that mixes tabs and
// spaces: within a line, or against the first indented line.
func (l *lexer) checkIndentStyle(start, end int, sawTab, sawSpace bool) {
	if l.mixed {
		return
	}
	var style byte = ' '
	if sawTab {
		style = '\t'
	}
	switch {
	case sawTab && sawSpace:
		l.mixed = true
		l.errh(start, end, "indentation mixes tabs and spaces",
			"indent with spaces only (kefu fmt uses two spaces per level)")
	case l.style == 0:
		l.style, l.styleLine = style, start
	case l.style != style:
		l.mixed = true
		first, this := "spaces", "tabs"
		if l.style == '\t' {
			first, this = "tabs", "spaces"
		}
		l.errh(start, end, fmt.Sprintf("indentation mixes tabs and spaces: this line indents with %s", this),
			fmt.Sprintf("the file indents with %s from line %d; indent with spaces only (kefu fmt uses two spaces per level)",
				first, strings.Count(l.input[:l.styleLine], "\n")+1))
	}
}

// indentTo emits what changing the indentation to col (at offset pos)
// takes: an INDENT, or DEDENTs, with the pending comments placed among
// them so that a comment stays in the innermost block it is indented for.
func (l *lexer) indentTo(col, pos int, comments []pendingComment) {
	top := l.indents[len(l.indents)-1]
	if col > top {
		l.indents = append(l.indents, col)
		l.emit(itemIndent, pos, pos, "")
		l.emitComments(comments)
		return
	}
	// Close the blocks deeper than col.
	n := 0
	for n < len(l.indents)-1 && l.indents[len(l.indents)-1-n] > col {
		n++
	}
	mismatch := l.indents[len(l.indents)-1-n] != col
	if mismatch {
		// The line continues the innermost closed block, at a new level:
		// one error instead of a cascade.
		n--
		l.errh(pos, pos, "indentation does not match any outer line",
			"indent it like the lines of the block it belongs to")
	}
	d := 0
	for _, c := range comments {
		for d < n && c.col < l.indents[len(l.indents)-1-d] {
			l.emit(itemDedent, pos, pos, "")
			d++
		}
		l.emit(itemComment, c.pos, c.end, c.text)
	}
	for ; d < n; d++ {
		l.emit(itemDedent, pos, pos, "")
	}
	l.indents = l.indents[:len(l.indents)-n]
	if mismatch {
		l.indents[len(l.indents)-1] = col
	}
}

func (l *lexer) emitComments(comments []pendingComment) {
	for _, c := range comments {
		l.emit(itemComment, c.pos, c.end, c.text)
	}
}

func lexEOF(l *lexer) stateFn {
	l.emit(itemEOF, len(l.input), len(l.input), "")
	return lexEOF
}

// fullWidth maps full-width punctuation that Chinese input methods type to
// the ASCII the language wants.
var fullWidth = map[rune]byte{'：': ':', '，': ',', '（': '(', '）': ')', '＝': '=', '＄': '$', '．': '.'}

// curlyClose maps an opening (or stray closing) curly quote to its closer.
var curlyClose = map[rune]rune{'“': '”', '”': '”', '‘': '’', '’': '’', '「': '」', '」': '」', '『': '』', '』': '』'}

// lexInLine lexes one token of a line.
func lexInLine(l *lexer) stateFn {
	l.skipSpace()
	if l.pos >= len(l.input) {
		l.emit(itemNewline, l.pos, l.pos, "")
		return lexLineStart
	}
	start := l.pos
	r, size := utf8.DecodeRuneInString(l.input[l.pos:])
	switch {
	case r == '\n' || r == '\r': // skipSpace stops at '\r' only before '\n'
		l.emit(itemNewline, start, start, "")
		l.skipLine(start)
		return lexLineStart
	case r == '#':
		end := l.lineEnd(start)
		l.pos = end
		l.emit(itemTrail, start, end, commentText(l.input[start:end]))
	case r == '"' || r == '\'':
		l.lexString(r, r)
	case curlyClose[r] != 0:
		l.lexString(r, curlyClose[r])
	case r == '/':
		l.pos += size
		l.emit(itemSlash, start, l.pos, "/")
	case r >= '0' && r <= '9':
		l.pos = l.scanNumber(start)
		l.emit(itemNumber, start, l.pos, l.input[start:l.pos])
	case isNameStart(r):
		l.pos = scanName(l.input, start)
		l.emit(itemName, start, l.pos, l.input[start:l.pos])
	case r == '$' || r == '＄':
		if r == '＄' {
			l.errorf(start, start+size, `use the ASCII "$"`, `full-width "＄" is not "$"`)
		}
		l.pos += size
		if r, _ := utf8.DecodeRuneInString(l.input[l.pos:]); isNameStart(r) {
			l.pos = scanName(l.input, l.pos)
			l.emit(itemVar, start, l.pos, l.input[start+size:l.pos])
		} else {
			l.emit(itemChar, start, l.pos, "$")
		}
	case r == '-' && strings.HasPrefix(l.input[l.pos:], "->"):
		l.pos += 2
		l.emit(itemArrow, start, l.pos, "->")
	case r == '=' && strings.HasPrefix(l.input[l.pos:], "=="):
		l.pos += 2
		l.emit(itemChar, start, l.pos, "==")
	default:
		l.pos += size
		c := byte(r)
		if fc, ok := fullWidth[r]; ok {
			l.errorf(start, l.pos, fmt.Sprintf("use the ASCII %q", string(fc)), "full-width %q is not %q", string(r), string(fc))
			c = fc
		} else if r >= utf8.RuneSelf {
			l.emit(itemChar, start, l.pos, string(r))
			return lexInLine
		}
		l.emit(punct(c), start, l.pos, string(c))
	}
	return lexInLine
}

func punct(c byte) itemType {
	switch c {
	case ':':
		return itemColon
	case ',':
		return itemComma
	case '.':
		return itemDot
	case '(':
		return itemLParen
	case ')':
		return itemRParen
	case '=':
		return itemAssign
	}
	return itemChar
}

// skipSpace skips blanks within a line: spaces, tabs, a '\r' that does not
// end the line, invalid UTF-8 (reported once, up front) and full-width
// spaces (reported).
func (l *lexer) skipSpace() {
	for l.pos < len(l.input) {
		c := l.input[l.pos]
		switch {
		case c == ' ' || c == '\t':
			l.pos++
		case c == '\r':
			if l.pos+1 < len(l.input) && l.input[l.pos+1] == '\n' {
				return
			}
			l.pos++
		case c < utf8.RuneSelf:
			return
		default:
			r, size := utf8.DecodeRuneInString(l.input[l.pos:])
			switch {
			case r == utf8.RuneError && size == 1:
				l.pos++
			case r == '\u3000':
				l.errorf(l.pos, l.pos+size, "use an ordinary space", "full-width space (U+3000) in a line")
				l.pos += size
			default:
				return
			}
		}
	}
}

func isNameStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }

func isNameChar(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// scanName returns the end of the name starting at pos.
func scanName(s string, pos int) int {
	for pos < len(s) {
		r, size := utf8.DecodeRuneInString(s[pos:])
		if !isNameChar(r) {
			break
		}
		pos += size
	}
	return pos
}

// scanNumber returns the end of the number at pos: digits and the name
// characters and dots that stick to them (2s, 500ms, 1.5s, 2次), so that a
// bad number is reported whole.
func (l *lexer) scanNumber(pos int) int {
	for pos < len(l.input) {
		r, size := utf8.DecodeRuneInString(l.input[pos:])
		if !isNameChar(r) && r != '.' {
			break
		}
		pos += size
	}
	return pos
}

// lexString lexes a quoted literal from its opening quote to close. A
// string does not span lines. Curly quotes are reported and lexed as a
// string anyway, so the parse goes on.
func (l *lexer) lexString(open, close rune) {
	start := l.pos
	end := l.lineEnd(start)
	l.pos += utf8.RuneLen(open)
	closed := false
	curly := curlyClose[open] != 0
	for l.pos < end {
		r, size := utf8.DecodeRuneInString(l.input[l.pos:])
		if r == '\\' && !curly {
			l.pos++
			if l.pos < end {
				_, size = utf8.DecodeRuneInString(l.input[l.pos:])
				l.pos += size
			}
			continue
		}
		l.pos += size
		if r == close {
			closed = true
			break
		}
	}
	bad := false
	if curly {
		l.errorf(start, l.pos, `use straight quotes "…"`, "curly quotes are not string delimiters")
	} else if !closed {
		bad = true
		l.errorf(start, l.pos, fmt.Sprintf("close it with %c on the same line", close), "unterminated string")
	}
	l.items = append(l.items, item{typ: itemString, pos: start, end: l.pos, val: l.input[start:l.pos], bad: bad})
}

// scanRegex scans a regex literal whose opening slash ends just before
// l.pos, and returns it with its pattern (`\/` turned into `/`).
func (l *lexer) scanRegex(slash int) item {
	end := l.lineEnd(slash)
	var b strings.Builder
	i := slash + 1
	for i < end {
		c := l.input[i]
		if c == '\\' && i+1 < end {
			if l.input[i+1] == '/' {
				b.WriteByte('/')
			} else {
				b.WriteString(l.input[i : i+2])
			}
			i += 2
			continue
		}
		if c == '/' {
			l.pos = i + 1
			return item{typ: itemRegex, pos: slash, end: l.pos, val: b.String()}
		}
		b.WriteByte(c)
		i++
	}
	// A trailing lone backslash belongs to the pattern as written.
	l.pos = end
	l.errorf(slash, end, "close it with / on the same line (write \\/ for a slash inside it)", "unterminated regex")
	return item{typ: itemRegex, pos: slash, end: end, val: b.String(), bad: true}
}

// stops says where an expression ends besides the end of the line and a
// comment.
type stops uint8

const (
	stopThen     stops = 1 << iota // then
	stopElse                       // elif, else
	stopAskRetry                   // ask, retry
	stopArg                        // , and ) at bracket depth 0
)

// scanExpr scans an expression from l.pos to the end of the line, a `#`
// comment, or a stop, each at bracket depth 0 and outside strings, and
// returns it trimmed. l.pos is left at the stop. An unterminated string or
// an unclosed bracket is reported and makes the item bad: the expression
// would swallow what follows it, so the formatter could not print it back.
func (l *lexer) scanExpr(st stops) item {
	l.skipSpace()
	start := l.pos
	end := l.lineEnd(start)
	var open []int // offsets of the unclosed brackets
	curly, bad := false, false
	i := start
scan:
	for i < end {
		c := l.input[i]
		switch {
		case c == '#' && len(open) == 0:
			break scan
		case c == '"' || c == '\'' || c == '`':
			var ok bool
			i, ok = l.skipExprString(i, end)
			bad = bad || !ok
			continue
		case c == '(' || c == '[' || c == '{':
			open = append(open, i)
		case c == ')' || c == ']' || c == '}':
			if len(open) > 0 {
				open = open[:len(open)-1]
			} else if c == ')' && st&stopArg != 0 {
				break scan
			}
		case c == ',' && len(open) == 0 && st&stopArg != 0:
			break scan
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(l.input[i:])
			if curlyClose[r] != 0 && !curly {
				curly = true
				to := i + size
				if j := strings.IndexRune(l.input[to:end], curlyClose[r]); j >= 0 {
					to += j + utf8.RuneLen(curlyClose[r])
				}
				l.errorf(i, to, `use straight quotes "…"`, "curly quotes are not string delimiters")
			}
			if isNameStart(r) {
				i = scanName(l.input, i)
			} else {
				i += size
			}
			continue
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			w := scanName(l.input, i)
			// 订单.then and $else are names, not keywords.
			if len(open) == 0 && st != 0 && isStop(l.input[i:w], st) && (i == start || l.input[i-1] != '.' && l.input[i-1] != '$') {
				break scan
			}
			i = w
			continue
		}
		i++
	}
	if len(open) > 0 && !bad {
		bad = true
		o := open[0]
		l.errorf(o, o+1, "close it on the same line; an expression does not span lines",
			"unclosed %q in expression", l.input[o:o+1])
	}
	l.pos = i
	src := strings.TrimRight(l.input[start:i], " \t\r")
	return item{typ: itemExpr, pos: start, end: start + len(src), val: src, bad: bad}
}

func isStop(w string, st stops) bool {
	switch w {
	case "then":
		return st&stopThen != 0
	case "elif", "else":
		return st&stopElse != 0
	case "ask", "retry":
		return st&stopAskRetry != 0
	}
	return false
}

// skipExprString skips a string inside an expression and returns the
// offset after it; an unterminated one is reported and runs to end.
func (l *lexer) skipExprString(i, end int) (int, bool) {
	q := l.input[i]
	j := i + 1
	for j < end {
		c := l.input[j]
		if c == '\\' && q != '`' {
			j += 2
			continue
		}
		j++
		if c == q {
			return j, true
		}
	}
	l.errorf(i, end, fmt.Sprintf("close it with %c on the same line", q), "unterminated string")
	return end, false
}

// skipToLineEnd drops the rest of the current line, so that the next item
// is its NEWLINE.
func (l *lexer) skipToLineEnd() {
	l.pos = l.lineEnd(l.pos)
}
