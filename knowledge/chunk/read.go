package chunk

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/knowledge"
)

// ErrUnsupported is returned by Read for a file whose extension it does not
// read.
var ErrUnsupported = errors.New("unsupported file type")

// Skipped is something Read or Walk left out, and why; ingestion reports it
// to the user and goes on.
type Skipped struct {
	Source string // the file's id
	// Line is where in the file: the 1-based line of a JSON Lines file or
	// a JSON array's entry, the 1-based row of a CSV file as a spreadsheet
	// numbers it (the header is row 1); 0 for the whole file.
	Line   int
	Reason string
}

// String formats s as `faq.jsonl:17: missing "answer"`.
func (s Skipped) String() string {
	if s.Line > 0 {
		return s.Source + ":" + strconv.Itoa(s.Line) + ": " + s.Reason
	}
	return s.Source + ": " + s.Reason
}

// Formats by file extension, lower-cased: how Read parses the file, and
// the format name FormatOf gives it.
var formats = map[string]struct {
	kind knowledge.Format
	name string
}{
	".md":       {knowledge.FormatMarkdown, "markdown"},
	".markdown": {knowledge.FormatMarkdown, "markdown"},
	".txt":      {knowledge.FormatText, "text"},
	".jsonl":    {knowledge.FormatFAQ, "faq-jsonl"},
	".json":     {knowledge.FormatFAQ, "faq-jsonl"},
	".csv":      {knowledge.FormatFAQ, "faq-csv"},
}

// uploads are the format names of files sent without a name to go by
// (POST /v1/knowledge/documents), each with the extension Read knows it by.
var uploads = map[string]string{"markdown": ".md", "text": ".txt", "faq-jsonl": ".jsonl", "faq-csv": ".csv"}

// FormatOf returns the format name of a file name by its extension:
// markdown, text, faq-jsonl or faq-csv; "" when Read does not know it.
func FormatOf(name string) string { return formats[strings.ToLower(path.Ext(name))].name }

// Extension returns the file extension of a format name, and whether the
// name is known.
func Extension(format string) (string, bool) {
	e, ok := uploads[format]
	return e, ok
}

// Supported reports whether Read reads a file of this name, by its
// extension (any case): .md, .markdown, .txt, .jsonl, .json or .csv.
func Supported(name string) bool { return FormatOf(name) != "" }

// Read parses one file's data by the extension of id:
//
//   - .md and .markdown give one FormatMarkdown document titled by its
//     first level-1 heading, else its front matter's title, else the file
//     name without extension;
//   - .txt gives one FormatText document titled by its first line when
//     that is short (at most 40 runes), does not end a sentence and is
//     followed by more text, else by the file name without extension;
//   - .jsonl and .json (FAQ JSON Lines; a .json file may instead hold one
//     JSON array of entries) and .csv (FAQ, with a header row) give one
//     FormatFAQ document per entry.
//
// id is the file's path relative to the ingest root, slash-separated; it is
// the id of a Markdown or text document. An FAQ document's id is its
// entry's "id", or else id + "#" + the entry's line (row for CSV), which
// stays the same on re-ingestion only while the file keeps its order. An
// FAQ document's Title holds its question, then one alternative question a
// line (see Split); Content is the answer. Every document's Tags are tags
// followed by the entry's own, without duplicates; Source is id, with ":"
// and the line for FAQ entries.
//
// Files that are empty, not UTF-8 (GBK, UTF-16) or binary, and FAQ entries
// that cannot be read, lack a question or an answer or repeat an id, are
// not errors: they come back as Skipped, with their line where there is
// one. The error is for an unsupported extension only (ErrUnsupported).
func Read(id string, data []byte, tags []string) ([]knowledge.Document, []Skipped, error) {
	ext := strings.ToLower(path.Ext(id))
	f, ok := formats[ext]
	if !ok {
		return nil, nil, fmt.Errorf("chunk: %q: %w (want .md, .markdown, .txt, .jsonl, .json or .csv)", id, ErrUnsupported)
	}
	content, reason, line := decode(data)
	if reason != "" {
		return nil, []Skipped{{Source: id, Line: line, Reason: reason}}, nil
	}
	tags = mergeTags(nil, tags)
	base := strings.TrimSuffix(path.Base(id), path.Ext(id))
	format := f.kind
	switch format {
	case knowledge.FormatMarkdown:
		title := markdownTitle(content)
		if title == "" {
			title = base
		}
		return []knowledge.Document{{ID: id, Title: title, Format: format, Tags: tags, Source: id, Content: content}}, nil, nil
	case knowledge.FormatText:
		title, _ := textTitle("", content)
		if title == "" {
			title = base
		}
		return []knowledge.Document{{ID: id, Title: title, Format: format, Tags: tags, Source: id, Content: content}}, nil, nil
	}
	r := &faqReader{file: id, tags: tags, seen: map[string]int{}}
	switch {
	case ext == ".csv":
		r.readCSV(content)
	case ext == ".json" && strings.HasPrefix(strings.TrimLeft(content, " \t\n"), "["):
		r.readJSONArray(content)
	default:
		r.readJSONLines(content)
	}
	return r.docs, r.skipped, nil
}

// decode checks that data is UTF-8 text worth reading and returns it with
// a leading byte order mark dropped and line ends as "\n"; or else why not,
// and on which line.
func decode(data []byte) (content, reason string, line int) {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return "", "UTF-16 text: save the file as UTF-8", 0
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if !utf8.Valid(data) {
		bad := 0
		for bad < len(data) {
			r, size := utf8.DecodeRune(data[bad:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			bad += size
		}
		return "", "not valid UTF-8 (GBK?): save the file as UTF-8", lineAt(data, bad)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return "", "binary file (a NUL byte)", lineAt(data, i)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "", "empty file", 0
	}
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n"), "", 0
}

// lineAt returns the 1-based line of data[i].
func lineAt(data []byte, i int) int {
	return bytes.Count(data[:i], []byte("\n")) + 1
}

// mergeTags appends the tags of more to tags, trimmed, without empty ones
// or duplicates.
func mergeTags(tags []string, more []string) []string {
	for _, t := range more {
		tags = appendUnique(tags, strings.TrimSpace(t))
	}
	return tags
}
