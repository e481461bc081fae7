package source

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/text/width"
)

// Error is one mistake in a flow file: where, what, and how to fix it.
type Error struct {
	Pos  Position
	Len  int    // runes to underline; 0 or 1 draws a single caret
	Msg  string // what is wrong, lower case, no final period
	Hint string // how to fix it; optional
	Line string // the source line, for rendering; optional
}

// Error returns "file:line:col: msg".
func (e *Error) Error() string {
	if !e.Pos.IsValid() {
		if e.Pos.File != "" {
			return e.Pos.File + ": " + e.Msg
		}
		return e.Msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.Pos.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

// Render writes the error as `kefu check` prints it: the position and
// message, the source line, a caret under the column (padded by display
// width, so CJK text lines up), and the hint.
func (e *Error) Render() string {
	var b strings.Builder
	b.WriteString(e.Error())
	if e.Line != "" && e.Pos.IsValid() {
		line := strings.ReplaceAll(e.Line, "\r", "")
		b.WriteString("\n    ")
		b.WriteString(line)
		b.WriteString("\n    ")
		b.WriteString(pad(line, e.Pos.Col))
		b.WriteByte('^')
		if e.Len > 1 {
			// The underline spans the display width of Len runes.
			rs := []rune(line)
			from := min(e.Pos.Col-1, len(rs))
			to := min(from+e.Len, len(rs))
			if w := Width(string(rs[from:to])) - 1; w > 0 {
				b.WriteString(strings.Repeat("~", w))
			}
		}
	}
	if e.Hint != "" {
		b.WriteString("\n  hint: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// pad returns the blanks that bring a caret under rune column col of line:
// tabs are copied, wide runes take two columns.
func pad(line string, col int) string {
	var b strings.Builder
	i := 1
	for _, r := range line {
		if i >= col {
			break
		}
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteString(strings.Repeat(" ", runeWidth(r)))
		}
		i++
	}
	for ; i < col; i++ {
		b.WriteByte(' ')
	}
	return b.String()
}

// Width is the display width of s in a terminal: East Asian wide and
// full-width runes take two columns.
func Width(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// MaxErrors caps how many errors one load reports.
const MaxErrors = 100

// ErrorList is every error of a load, as go/scanner keeps them.
type ErrorList []*Error

// Add appends an error.
func (l *ErrorList) Add(pos Position, msg, hint string) *Error {
	e := &Error{Pos: pos, Msg: msg, Hint: hint}
	*l = append(*l, e)
	return e
}

// Sort orders the list by file, line, column, then message.
func (l ErrorList) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return l[i].Msg < l[j].Msg
	})
}

// Dedup drops errors with the same position and message, keeping the first.
// The list must be sorted.
func (l *ErrorList) Dedup() {
	out := (*l)[:0]
	for i, e := range *l {
		if i > 0 {
			p := out[len(out)-1]
			if p.Pos == e.Pos && p.Msg == e.Msg {
				continue
			}
		}
		out = append(out, e)
	}
	*l = out
}

// Error returns the first error and how many more there are.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0], len(l)-1)
}

// Err returns nil for an empty list, else the list.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Render renders every error, separated by blank lines.
func (l ErrorList) Render() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(e.Render())
	}
	return b.String()
}
