// Package source holds what every stage of the flow language shares: files,
// positions and errors.
//
// A Pos is a byte offset into one file. It becomes a Position (file, line,
// column) only when something is reported, as in go/token and expr's file
// package. Columns count runes, 1-based; rendering pads the caret by display
// width, so it sits under the right character of CJK text.
package source

import (
	"sort"
	"unicode/utf8"
)

// Pos is a byte offset into a File's source. NoPos means unknown.
type Pos int

// NoPos is the zero value of an unknown position.
const NoPos Pos = -1

// IsValid reports whether p is a known position.
func (p Pos) IsValid() bool { return p >= 0 }

// Position is a human position: 1-based line and 1-based rune column.
type Position struct {
	File   string
	Offset int
	Line   int
	Col    int
}

// IsValid reports whether the position has a line.
func (p Position) IsValid() bool { return p.Line > 0 }

// File is one source file of the flow language.
type File struct {
	Name  string
	Src   []byte
	lines []int // byte offset of each line start
}

// NewFile records the line starts of src.
func NewFile(name string, src []byte) *File {
	f := &File{Name: name, Src: src, lines: []int{0}}
	for i, b := range src {
		if b == '\n' {
			f.lines = append(f.lines, i+1)
		}
	}
	return f
}

// Position converts an offset into file, line and rune column. Offsets
// outside the source are clamped to it.
func (f *File) Position(p Pos) Position {
	off := int(p)
	if off < 0 {
		return Position{File: f.Name}
	}
	if off > len(f.Src) {
		off = len(f.Src)
	}
	i := sort.Search(len(f.lines), func(i int) bool { return f.lines[i] > off }) - 1
	start := f.lines[i]
	return Position{
		File:   f.Name,
		Offset: off,
		Line:   i + 1,
		Col:    utf8.RuneCount(f.Src[start:off]) + 1,
	}
}

// Line returns the text of line n (1-based) without its newline.
func (f *File) Line(n int) string {
	if n < 1 || n > len(f.lines) {
		return ""
	}
	start := f.lines[n-1]
	end := len(f.Src)
	if n < len(f.lines) {
		end = f.lines[n] - 1
	}
	if end > start && f.Src[end-1] == '\r' {
		end--
	}
	return string(f.Src[start:end])
}

// Offset returns the byte offset of line and rune column col (both 1-based),
// clamped to the line. It is the inverse of Position.
func (f *File) Offset(line, col int) Pos {
	if line < 1 {
		return 0
	}
	if line > len(f.lines) {
		return Pos(len(f.Src))
	}
	off := f.lines[line-1]
	for c := 1; c < col && off < len(f.Src) && f.Src[off] != '\n'; c++ {
		_, n := utf8.DecodeRune(f.Src[off:])
		off += n
	}
	return Pos(off)
}
