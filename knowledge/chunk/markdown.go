package chunk

import (
	"bytes"
	"slices"
	"strings"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// Markdown is parsed with goldmark's CommonMark block parser rather than
// scanned by line, so that only real headings start sections: not a "#"
// line in a fenced or indented code block, an HTML block or a list item,
// while setext headings ("标题\n===") count. The source between headings
// is kept as written.

// A section is a heading's text up to the next heading, with its path.
type section struct {
	title string
	text  string
}

// heading is a top-level heading: its level, its text as plain text and
// the bytes it takes in the source, whole lines.
type heading struct {
	level      int
	text       string
	start, end int
}

// markdownSections cuts Markdown src into its non-empty sections. Section
// titles are heading paths joined by " > ", led by docTitle unless the
// outermost heading of the path is of level 1; text before the first
// heading is titled docTitle, and so joins the section of a first heading
// that is the document's title.
func markdownSections(src, docTitle string) []section {
	src = src[frontMatterEnd(src):]
	heads, drop := markdownOutline([]byte(src))
	var out []section
	next := 0 // the first of drop that may lie in a later section
	add := func(title string, from, to int) {
		var b strings.Builder
		for ; next < len(drop) && drop[next].start < to; next++ {
			d := drop[next]
			if d.end <= from {
				continue
			}
			b.WriteString(src[from:max(from, d.start)])
			from = max(from, d.end)
		}
		if from < to {
			b.WriteString(src[from:to])
		}
		t := tidy(b.String())
		switch {
		case t == "":
		case len(out) > 0 && out[len(out)-1].title == title:
			// Text before the first heading and the title heading's own.
			out[len(out)-1].text += "\n\n" + t
		default:
			out = append(out, section{title, t})
		}
	}
	var path []heading
	from := 0
	title := docTitle
	for _, h := range heads {
		add(title, from, h.start)
		for len(path) > 0 && path[len(path)-1].level >= h.level {
			path = path[:len(path)-1]
		}
		path = append(path, h)
		var names []string
		if path[0].level > 1 && docTitle != "" {
			names = append(names, docTitle)
		}
		for _, p := range path {
			if p.text != "" {
				names = append(names, p.text)
			}
		}
		title = strings.Join(names, " > ")
		from = h.end
	}
	add(title, from, len(src))
	return out
}

// markdownTitle returns the text of the first level-1 heading of src, or
// else the title of its YAML front matter, or "".
func markdownTitle(src string) string {
	end := frontMatterEnd(src)
	heads, _ := markdownOutline([]byte(src[end:]))
	for _, h := range heads {
		if h.level == 1 && h.text != "" {
			return h.text
		}
	}
	for line := range strings.SplitSeq(src[:end], "\n") {
		if v, ok := strings.CutPrefix(line, "title:"); ok {
			v = strings.TrimSpace(v)
			if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
				v = v[1 : len(v)-1]
			}
			return oneLine(v)
		}
	}
	return ""
}

// frontMatterEnd returns the length of a YAML front matter block ("---"
// lines around it) at the start of src, or 0.
func frontMatterEnd(src string) int {
	rest, ok := strings.CutPrefix(src, "---\n")
	if !ok {
		return 0
	}
	for len(rest) > 0 {
		line, next, found := strings.Cut(rest, "\n")
		if t := strings.TrimRight(line, " \t"); t == "---" || t == "..." {
			if !found {
				return len(src)
			}
			return len(src) - len(next)
		}
		if !found {
			break
		}
		rest = next
	}
	return 0
}

// markdownOutline returns the top-level headings of src in order, and the
// byte ranges of its HTML comments (blocks and inline), sorted, which are
// dropped from the text: they hold notes for editors, not customers.
func markdownOutline(src []byte) (heads []heading, drop []span) {
	doc := parser.NewParser(
		parser.WithBlockParsers(parser.DefaultBlockParsers()...),
		parser.WithInlineParsers(parser.DefaultInlineParsers()...),
	).Parse(text.NewReader(src))
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		if n, ok := n.(*ast.Heading); ok {
			if h, ok := headingOf(n, src); ok {
				heads = append(heads, h)
			}
		}
	}
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.HTMLBlock:
			if s, ok := commentBlock(n, src); ok {
				drop = append(drop, s)
			}
		case *ast.RawHTML:
			if n.Segments.Len() == 0 || !bytes.HasPrefix(src[n.Segments.At(0).Start:], []byte("<!--")) {
				break
			}
			for i := 0; i < n.Segments.Len(); i++ {
				seg := n.Segments.At(i)
				drop = append(drop, span{seg.Start, seg.Stop})
			}
		}
		return ast.WalkContinue, nil
	})
	slices.SortFunc(drop, func(a, b span) int { return a.start - b.start })
	return heads, drop
}

func headingOf(n *ast.Heading, src []byte) (heading, bool) {
	pos := n.Pos()
	lines := n.Lines()
	if pos < 0 && lines.Len() > 0 {
		pos = lines.At(0).Start
	}
	if pos < 0 || pos > len(src) {
		return heading{}, false
	}
	h := heading{level: n.Level, text: oneLine(inlineText(n, src)), start: lineStart(src, pos)}
	h.end = lineEnd(src, pos)
	if lines.Len() > 0 && !isATX(src, h.start) {
		// A setext heading: its text lines, then the underline.
		last := lines.At(lines.Len() - 1)
		h.end = lineEnd(src, lineEnd(src, max(last.Stop-1, last.Start)))
	}
	return h, true
}

// isATX reports whether the line at start is an ATX heading: up to three
// spaces, one to six "#", then a space, a tab or the end of the line.
func isATX(src []byte, start int) bool {
	line := bytes.TrimRight(src[start:lineEnd(src, start)], "\n")
	indent := len(line) - len(bytes.TrimLeft(line, " "))
	if indent > 3 {
		return false
	}
	line = line[indent:]
	level := len(line) - len(bytes.TrimLeft(line, "#"))
	if level < 1 || level > 6 {
		return false
	}
	return level == len(line) || line[level] == ' ' || line[level] == '\t'
}

func commentBlock(n *ast.HTMLBlock, src []byte) (span, bool) {
	if n.HTMLBlockType != ast.HTMLBlockType2 || n.Lines().Len() == 0 {
		return span{}, false
	}
	s := span{lineStart(src, n.Lines().At(0).Start), lineEnd(src, n.Lines().At(n.Lines().Len()-1).Start)}
	if n.HasClosure() {
		s.end = max(s.end, lineEnd(src, n.ClosureLine.Start))
	}
	body := bytes.TrimSpace(src[s.start:s.end])
	// Only a block that is one comment: no text before or after it.
	if !bytes.HasPrefix(body, []byte("<!--")) || !bytes.HasSuffix(body, []byte("-->")) ||
		bytes.Count(body, []byte("-->")) != 1 {
		return span{}, false
	}
	return s, true
}

// inlineText returns the plain text of n's inline content: emphasis and
// link markup dropped, code spans and link texts kept.
func inlineText(n ast.Node, src []byte) string {
	var b strings.Builder
	ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Value(src))
			if c.SoftLineBreak() || c.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(c.Value)
		case *ast.AutoLink:
			b.Write(c.Label(src))
		case *ast.RawHTML:
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// lineStart returns the offset of the start of the line holding src[i].
func lineStart(src []byte, i int) int {
	return bytes.LastIndexByte(src[:i], '\n') + 1
}

// lineEnd returns the offset just past the end of the line holding src[i],
// its newline included.
func lineEnd(src []byte, i int) int {
	if i >= len(src) {
		return len(src)
	}
	if j := bytes.IndexByte(src[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(src)
}
