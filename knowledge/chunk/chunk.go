package chunk

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/knowledge"
)

// Defaults of Options.
const (
	DefaultMaxRunes     = 600
	DefaultOverlapRunes = 60
)

// shortTitle is the longest first line of a text document taken as its title.
const shortTitle = 40

// Options says how Split sizes passages. The zero value means the defaults.
type Options struct {
	// MaxRunes bounds the runes of a passage chunk's Text (0: 600). A longer
	// section is split at paragraph breaks, then at sentence ends
	// (。！？!?；; and line breaks), then at commas and spaces, and only
	// then inside a run of text. It does not apply to FAQ chunks, whose
	// answer is returned whole.
	MaxRunes int
	// OverlapRunes is how much of the end of a split piece is repeated at
	// the start of the next (0: 60; negative: none), so a sentence cut in
	// two is found from either side. It is at most MaxRunes/4 and
	// starts, where it can, at a sentence start.
	OverlapRunes int
}

func (o Options) limits() (maxRunes, overlap int) {
	maxRunes, overlap = o.MaxRunes, o.OverlapRunes
	if maxRunes <= 0 {
		maxRunes = DefaultMaxRunes
	}
	switch {
	case overlap == 0:
		overlap = DefaultOverlapRunes
	case overlap < 0:
		overlap = 0
	}
	return maxRunes, min(overlap, maxRunes/4)
}

// Split turns a document into chunks, numbered from 0 in document order.
// A chunk's ID is doc.ID + "#" + its position, so splitting the same
// document with the same Options always gives the same ids; each chunk has
// its own copy of doc.Tags. It fills no vectors.
//
// By doc.Format:
//   - FormatFAQ gives exactly one chunk: Title is the question,
//     Questions the question and its alternatives, Answer the answer and
//     Text "问：<question>\n答：<answer>". Until knowledge.Document has a
//     field of its own for them, the question is the first line of
//     doc.Title and the alternatives are its further lines (as Read
//     writes them); Content is the answer.
//   - FormatMarkdown gives one chunk per non-empty section, split by size;
//     Title is the heading path joined by " > " ("退换货政策 > 退货流程 >
//     运费"), led by doc.Title when the document has no level-1 heading
//     above the section. Text before the first heading is titled doc.Title.
//     Heading markers are dropped, as are YAML front matter and HTML
//     comments (notes for editors); the rest stays as written (lists,
//     tables, code).
//   - FormatText (and anything else) is split by paragraphs and size; Title
//     is doc.Title, or else the first line when it is short and more text
//     follows. A first line equal to the title is not repeated in the text.
//
// A document with no text gives no chunks.
func Split(doc knowledge.Document, opts Options) []knowledge.Chunk {
	maxRunes, overlap := opts.limits()
	var out []knowledge.Chunk
	add := func(c knowledge.Chunk) {
		c.Position = len(out)
		c.ID = doc.ID + "#" + strconv.Itoa(c.Position)
		c.DocID = doc.ID
		c.Tags = cloneTags(doc.Tags)
		out = append(out, c)
	}
	passages := func(title, text string) {
		for _, p := range splitText(text, maxRunes, overlap) {
			add(knowledge.Chunk{Title: title, Text: p})
		}
	}
	switch doc.Format {
	case knowledge.FormatFAQ:
		if c, ok := faqChunk(doc); ok {
			add(c)
		}
	case knowledge.FormatMarkdown:
		for _, s := range markdownSections(doc.Content, doc.Title) {
			passages(s.title, s.text)
		}
	default:
		title, text := textTitle(doc.Title, doc.Content)
		passages(title, text)
	}
	return out
}

func faqChunk(doc knowledge.Document) (knowledge.Chunk, bool) {
	var questions []string
	for _, q := range append([]string{doc.Title}, doc.Questions...) {
		if q = oneLine(q); q != "" {
			questions = appendUnique(questions, q)
		}
	}
	answer := strings.TrimSpace(doc.Content)
	if len(questions) == 0 && answer == "" {
		return knowledge.Chunk{}, false
	}
	c := knowledge.Chunk{Answer: answer, Questions: questions, Text: "答：" + answer}
	if len(questions) > 0 {
		c.Title = questions[0]
		c.Text = "问：" + c.Title + "\n" + c.Text
	}
	return c, true
}

// textTitle returns a text document's title and its text without a first
// line that only repeats the title.
func textTitle(title, content string) (string, string) {
	content = tidy(content)
	first, rest, _ := strings.Cut(content, "\n")
	first = strings.TrimSpace(first)
	rest = strings.TrimSpace(rest)
	if title == "" && rest != "" && isTitleLine(first) {
		title = first
	}
	if title != "" && first == strings.TrimSpace(title) && rest != "" {
		content = rest
	}
	return title, content
}

// isTitleLine reports whether a first line reads as a title: short and not
// ending a sentence.
func isTitleLine(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > shortTitle {
		return false
	}
	last, _ := utf8.DecodeLastRuneInString(s)
	return !strings.ContainsRune("。.!！;；，,", last)
}

// tidy trims the trailing space of every line, folds runs of blank lines
// into one and trims the text.
func tidy(s string) string {
	var b strings.Builder
	blank := 0
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if line == "" {
			blank++
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
			if blank > 0 {
				b.WriteString("\n")
			}
		}
		blank = 0
		b.WriteString(line)
	}
	return strings.TrimSpace(b.String())
}

// oneLine trims s and joins its lines with spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func appendUnique(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func cloneTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	return slices.Clone(tags)
}
