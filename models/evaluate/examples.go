package evaluate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// OOS is the gold label and prediction that mark an out-of-scope text. It
// equals models.OOS.
const OOS = "oos"

// Example is one labelled test text, one line of a JSON Lines test set:
//
//	{"text": "我的快递到哪了", "intent": "物流查询"}
type Example struct {
	Text   string `json:"text"`
	Intent string `json:"intent"`
}

// ReadExamples reads JSON Lines examples from r. name is used only in error
// messages, which have the form "name:line: problem", for instance
//
//	test.jsonl:12: missing "intent"
//
// Blank lines are skipped; a UTF-8 byte order mark at the start is ignored.
// Every other line must hold exactly one JSON object with a string "text"
// and a string "intent", neither empty nor only white space. Field names are
// case-sensitive; a null field counts as missing, and any other field is an
// error. An input with no examples at all is an error too, since an empty
// test set cannot be scored meaningfully.
func ReadExamples(r io.Reader, name string) ([]Example, error) {
	if name == "" {
		name = "input"
	}
	br := bufio.NewReader(r)
	var out []Example
	for lineNo := 1; ; lineNo++ {
		line, readErr := br.ReadBytes('\n')
		if readErr != nil && readErr != io.EOF {
			return nil, fmt.Errorf("%s:%d: read: %w", name, lineNo, readErr)
		}
		if lineNo == 1 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		if len(bytes.TrimSpace(line)) > 0 {
			ex, err := parseExample(line)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %s", name, lineNo, err)
			}
			out = append(out, ex)
		}
		if readErr == io.EOF {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no examples", name)
	}
	return out, nil
}

// ReadExamplesFile reads the JSON Lines file at path with [ReadExamples].
func ReadExamplesFile(path string) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadExamples(f, path)
}

// parseExample decodes and validates one non-blank line. Its errors carry no
// position; the caller adds file and line. Field names must match exactly:
// unlike encoding/json's struct decoding, "Text" is an unknown field.
func parseExample(line []byte) (Example, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return Example{}, fmt.Errorf("want a JSON object, not %s", typ.Value)
		}
		return Example{}, fmt.Errorf("invalid JSON: %s", trimJSONPrefix(err))
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return Example{}, errors.New("unexpected data after the JSON object")
	}
	var unknown []string
	for k := range fields {
		if k != "text" && k != "intent" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return Example{}, fmt.Errorf("unknown field %q", unknown[0])
	}
	var ex Example
	for _, f := range []struct {
		name string
		dst  *string
	}{{"text", &ex.Text}, {"intent", &ex.Intent}} {
		raw, ok := fields[f.name]
		if !ok || string(raw) == "null" {
			return Example{}, fmt.Errorf("missing %q", f.name)
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return Example{}, fmt.Errorf("%q must be a string", f.name)
		}
		if strings.TrimSpace(*f.dst) == "" {
			return Example{}, fmt.Errorf("empty %q", f.name)
		}
	}
	return ex, nil
}

func trimJSONPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}
