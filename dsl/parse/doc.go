// Package parse turns a .kefu file into an *ast.File: a state-function
// lexer run synchronously (as text/template/parse's) and a recursive-descent
// parser with each grammar rule of package dsl written above its method.
//
//	f, errs := parse.File("flows/refund.kefu", src)
//	if errs != nil {
//		fmt.Fprintln(os.Stderr, errs.Render())
//	}
//
// parse owns syntax: layout, tokens, literals (strings, templates, regexes,
// durations) and the shape of each declaration and statement. It leaves
// names, types and expression checking to compile: an expression is kept as
// source text with the offset of its first byte.
//
// # Errors
//
// File reports every error it finds, up to source.MaxErrors, sorted by
// position and deduplicated, each with its source line for rendering and
// usually a hint in the words the user should write. A line that does not
// parse is skipped with the block indented under it; the tree keeps the
// rest. An unterminated string or regex, or an expression with an unclosed
// bracket, is reported once and ends its line's parse, so that it does not
// also cause a confusing "missing then". Inside, the parser panics with an
// internal type and recovers at each line and once at the top; any other
// panic, runtime.Error above all, is a bug and goes through.
//
// # Clarifications of the grammar
//
// Keywords cannot be names: a flow, slot, slot type, intent, event, entity,
// set target, call service, operation or result may not be spelt like a
// keyword (Chinese names never clash). Three places take any word: a name
// after $ ($end), a named call argument (timeout = 3), and an entity value
// (end: then). Inside an expression a keyword is a stop only where its
// clause allows one (then after if and elif; elif and else after set
// within an inline if; ask and retry after where), at bracket depth 0,
// outside strings, and not glued to a `.` or `$` before it (订单.then).
//
// The clauses of a slot (where, ask, retry) and of a call (->, timeout,
// retry) may come in any order, each once; kefu fmt writes them in the
// grammar's order. An expression ends at the end of its line: an unclosed
// bracket is an error. The intent and event keywords are reserved at the
// start of a trigger; `intent` applies to one trigger, not the list.
//
// A tab advances to the next multiple of four columns. The first indented
// line fixes tabs or spaces for the file; the first line that departs
// from it, or mixes both, is reported (once). A line indented to a level
// that matches no open block is reported and taken as continuing the
// innermost block it closed, at its new level. A UTF-8 byte order mark is
// skipped; "\r\n" line ends are accepted. Full-width ：，（）＝＄． and the
// ideographic space are reported with the ASCII to use, then read as it.
// Curly quotes “…” ‘…’ 「…」 『…』 are reported and read as a string.
//
// Entity values written bare may start with a digit (2XL: 特大号). Strings
// decode Go's escapes, with \' and \" allowed in both kinds of quote; \x
// and octal escapes must stay below \x80. In a template, a hole runs from
// { to its matching }, skipping nested braces and quoted strings; a lone }
// in text is an error (write }}); a hole's Expr.Pos is the offset of its
// first byte after any leading blanks, found through the raw literal.
// Regexes are checked against Go's RE2 syntax.
//
// # Comments
//
// A comment on its own line becomes an *ast.Comment in the list of the
// innermost block whose statements it is indented at least as deep as:
// before a dedent, a comment indented like the closing block stays in it,
// one indented less goes out with the dedent. A comment just above an
// `elif`, `else` or `on error` line starts that line's block; one above an
// `on` line or an entity value is that line's Doc; one after the last value
// of an entity follows the entity at the top level. A comment at the end
// of a line goes to the Comment field of the node that line starts (a
// flow's header, an on line, a statement, an if or elif line, else → the
// If's ElseCmt, on error → the Call's ErrorCmt, an entity value); an inline
// if's goes to its first Clause, a one-line rule's to the Rule.
package parse
