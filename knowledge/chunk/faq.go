package chunk

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/knowledge"
)

// FAQ fields and the names a JSON key or CSV header may give them, compared
// without case; the first name is the canonical one.
const (
	fieldID = iota
	fieldQuestion
	fieldAnswer
	fieldTags
	fieldQuestions
	numFields
)

var fieldNames = [numFields][]string{
	fieldID:        {"id", "编号"},
	fieldQuestion:  {"question", "问题", "标准问题"},
	fieldAnswer:    {"answer", "答案", "回答"},
	fieldTags:      {"tags", "tag", "标签", "category", "分类"},
	fieldQuestions: {"questions", "alternatives", "similar", "相似问题", "相似问法"},
}

// fieldOf returns the field a key or header names, or -1.
func fieldOf(name string) int {
	name = strings.ToLower(strings.TrimSpace(name))
	for f, names := range fieldNames {
		if slices.Contains(names, name) {
			return f
		}
	}
	return -1
}

// faqEntry is one FAQ entry as read, before it is checked.
type faqEntry struct {
	line                 int
	id, question, answer string
	tags, questions      []string
}

// faqReader gathers the documents of one FAQ file and what it skips.
type faqReader struct {
	file    string
	tags    []string
	seen    map[string]int // document id -> line
	docs    []knowledge.Document
	skipped []Skipped
}

func (r *faqReader) skip(line int, format string, args ...any) {
	r.skipped = append(r.skipped, Skipped{Source: r.file, Line: line, Reason: fmt.Sprintf(format, args...)})
}

// add checks e and makes it a document.
func (r *faqReader) add(e faqEntry) {
	e.question = oneLine(e.question)
	e.answer = strings.TrimSpace(e.answer)
	switch {
	case e.question == "" && e.answer == "":
		r.skip(e.line, `missing "question" and "answer"`)
		return
	case e.question == "":
		r.skip(e.line, `missing "question"`)
		return
	case e.answer == "":
		r.skip(e.line, `missing "answer"`)
		return
	}
	id := strings.TrimSpace(e.id)
	if id == "" {
		id = r.file + "#" + strconv.Itoa(e.line)
	}
	if first, ok := r.seen[id]; ok {
		r.skip(e.line, "duplicate id %q (first at %s:%d)", id, r.file, first)
		return
	}
	r.seen[id] = e.line
	questions := []string{e.question}
	for _, q := range e.questions {
		questions = appendUnique(questions, oneLine(q))
	}
	r.docs = append(r.docs, knowledge.Document{
		ID:        id,
		Title:     questions[0],
		Questions: questions,
		Format:    knowledge.FormatFAQ,
		Tags:      mergeTags(slices.Clone(r.tags), e.tags),
		Source:    r.file + ":" + strconv.Itoa(e.line),
		Content:   e.answer,
	})
}

// readJSONLines reads one entry a line; blank lines are ignored.
func (r *faqReader) readJSONLines(content string) {
	for i, line := range strings.Split(content, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		r.addJSON(i+1, []byte(line))
	}
}

// readJSONArray reads a JSON array of entries. A syntax error ends it.
func (r *faqReader) readJSONArray(content string) {
	dec := json.NewDecoder(strings.NewReader(content))
	// lineOf counts lines from where it last stopped: offsets only grow.
	line, counted := 1, 0
	lineOf := func(off int64) int {
		rest := strings.TrimLeft(content[off:], " \t\n,")
		end := len(content) - len(rest)
		line += strings.Count(content[counted:end], "\n")
		counted = end
		return line
	}
	fail := func(err error) {
		line, col, msg := jsonError([]byte(content), err)
		r.skip(line, "invalid JSON at column %d: %s; the rest of the file is skipped", col, msg)
	}
	if _, err := dec.Token(); err != nil { // [
		fail(err)
		return
	}
	for dec.More() {
		at := lineOf(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			fail(err)
			return
		}
		r.addJSON(at, raw)
	}
	if _, err := dec.Token(); err != nil { // ]
		fail(err)
	}
}

// jsonError returns the line and column (1-based, in runes) where a JSON
// syntax error lies in data, and its message, naming the character it
// stopped at whole rather than its first byte.
func jsonError(data []byte, err error) (line, col int, msg string) {
	msg = err.Error()
	off := len(data)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = min(max(int(se.Offset)-1, 0), len(data))
		if off < len(data) && data[off] >= utf8.RuneSelf {
			c, _ := utf8.DecodeRune(data[off:])
			msg = strings.Replace(msg, "'"+string(rune(data[off]))+"'", "'"+string(c)+"'", 1)
		}
	}
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return lineAt(data, off), utf8.RuneCount(data[start:off]) + 1, msg
}

// addJSON reads one entry, a JSON object.
func (r *faqReader) addJSON(line int, data []byte) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			r.skip(line, "not a JSON object")
		case errors.As(err, &syntaxErr) && syntaxErr.Offset >= int64(len(bytes.TrimRight(data, " \t"))):
			r.skip(line, "invalid JSON: the line ends inside the entry (JSON Lines: one entry a line)")
		default:
			_, col, msg := jsonError(data, err)
			r.skip(line, "invalid JSON at column %d: %s", col, msg)
		}
		return
	}
	// Keys in sorted order, so that when two name one field the choice does
	// not depend on map order.
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e := faqEntry{line: line}
	for _, k := range keys {
		f := fieldOf(k)
		if f < 0 {
			continue
		}
		v, err := jsonValue(obj[k], f == fieldTags || f == fieldQuestions)
		if err != nil {
			r.skip(line, "%q: %v", k, err)
			return
		}
		e.set(f, v)
	}
	r.add(e)
}

// jsonValue reads a string (or a number or boolean, as written) or null;
// for a list field, also an array of those, or a string of "|"-separated
// items.
func jsonValue(raw json.RawMessage, list bool) ([]string, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	scalar := func(v any) (string, bool) {
		switch v := v.(type) {
		case string:
			return v, true
		case json.Number:
			return v.String(), true
		case bool:
			return strconv.FormatBool(v), true
		case nil:
			return "", true
		}
		return "", false
	}
	if s, ok := scalar(v); ok {
		if list {
			return splitList(s), nil
		}
		return []string{s}, nil
	}
	arr, ok := v.([]any)
	if !ok || !list {
		if list {
			return nil, errors.New("want a string or an array of strings")
		}
		return nil, errors.New("want a string")
	}
	var out []string
	for _, item := range arr {
		s, ok := scalar(item)
		if !ok {
			return nil, errors.New("want an array of strings")
		}
		out = append(out, s)
	}
	return out, nil
}

// set gives field f the value v: a scalar field keeps its first non-empty
// value, a list field gathers them all.
func (e *faqEntry) set(f int, v []string) {
	first := func(dst *string) {
		if *dst == "" && len(v) > 0 {
			*dst = v[0]
		}
	}
	switch f {
	case fieldID:
		first(&e.id)
	case fieldQuestion:
		first(&e.question)
	case fieldAnswer:
		first(&e.answer)
	case fieldTags:
		e.tags = append(e.tags, v...)
	case fieldQuestions:
		e.questions = append(e.questions, v...)
	}
}

// splitList splits "a|b" into its trimmed, non-empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, "|") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// readCSV reads a CSV file whose first row names its columns. Rows are
// numbered as a spreadsheet does, the header being row 1; rows with no
// text are ignored.
func (r *faqReader) readCSV(content string) {
	cr := csv.NewReader(strings.NewReader(content))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		r.skip(1, "invalid CSV header: %v", csvError(err))
		return
	}
	cols := make([]int, len(header))
	var have [numFields]bool
	for i, h := range header {
		cols[i] = fieldOf(h)
		if cols[i] >= 0 {
			have[cols[i]] = true
		}
	}
	for _, f := range []int{fieldQuestion, fieldAnswer} {
		if !have[f] {
			r.skip(1, "no %q column in the header (want columns %s, or %s)",
				fieldNames[f][0], "id, question, answer, tags, questions", "问题, 答案, 标签, 相似问题")
			return
		}
	}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			r.skip(row, "invalid CSV: %v", csvError(err))
			continue
		}
		e := faqEntry{line: row}
		empty := true
		for i, cell := range rec {
			if strings.TrimSpace(cell) != "" {
				empty = false
			}
			if i >= len(cols) || cols[i] < 0 {
				continue
			}
			if f := cols[i]; f == fieldTags || f == fieldQuestions {
				e.set(f, splitList(cell))
			} else {
				e.set(f, []string{cell})
			}
		}
		if !empty {
			r.add(e)
		}
	}
}

// csvError explains a CSV parse error without its position, which the
// Skipped gives.
func csvError(err error) string {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return `a " inside an unquoted cell: quote the cell and double the " in it ("")`
	case errors.Is(pe.Err, csv.ErrQuote):
		return `a quoted cell is not closed, or has a " in it that is not doubled ("")`
	}
	return pe.Err.Error()
}
