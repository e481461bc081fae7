package wordpiece

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

type goldenCase struct {
	Text   string   `json:"text"`
	Tokens []string `json:"tokens"`
	IDs    []int64  `json:"ids"`
}

func readGolden(t testing.TB, path string) []goldenCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []goldenCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c goldenCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func load(t testing.TB, vocab string, opts Options) *Tokenizer {
	t.Helper()
	v, err := ReadVocabFile(vocab)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := New(v, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestGolden checks the Go tokenizer against ids produced by the training
// recipe's reference tokenizer (models/train/tokenization.py, which
// follows Hugging Face's BertTokenizer). Regenerate with `make golden`.
func TestGolden(t *testing.T) {
	no := false
	cased := DefaultOptions()
	cased.Lowercase, cased.StripAccents, cased.MaxLen = false, &no, 16
	for _, tc := range []struct {
		golden, vocab string
		opts          Options
	}{
		{"testdata/golden-uncased.jsonl", "testdata/vocab.txt", DefaultOptions()},
		{"testdata/golden-cased.jsonl", "testdata/vocab-cased.txt", cased},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			tok := load(t, tc.vocab, tc.opts)
			cases := readGolden(t, tc.golden)
			if len(cases) < 200 {
				t.Fatalf("golden file has %d cases, want at least 200", len(cases))
			}
			for _, c := range cases {
				if got := tok.Tokenize(c.Text); !equalStrings(got, c.Tokens) {
					t.Errorf("Tokenize(%q)\n got %q\nwant %q", c.Text, got, c.Tokens)
					continue
				}
				if got := tok.Encode(c.Text).IDs; !reflect.DeepEqual(got, c.IDs) {
					t.Errorf("Encode(%q)\n got %v\nwant %v", c.Text, got, c.IDs)
				}
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func TestBasics(t *testing.T) {
	vocab := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "退", "货", "un", "##aff", "##able", "，", "?", "hello", "##s"}
	tok, err := New(vocab, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"退货", []string{"退", "货"}},
		{"退货，Hello?", []string{"退", "货", "，", "hello", "?"}},
		{"unaffable", []string{"un", "##aff", "##able"}},
		{"unaffablex", []string{"[UNK]"}}, // any unmatched piece makes the word [UNK]
		{"hellos", []string{"hello", "##s"}},
		{"😭", []string{"[UNK]"}},
		{"ＨＥＬＬＯ", []string{"[UNK]"}},                   // BERT does no NFKC: full-width Latin is unknown
		{"[SEP]", []string{"[UNK]", "[UNK]", "[UNK]"}}, // special tokens in user text are plain text
	} {
		if got := tok.Tokenize(tc.in); !equalStrings(got, tc.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEncodeTruncates(t *testing.T) {
	opts := DefaultOptions()
	opts.MaxLen = 5
	tok, err := New([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := tok.Encode("a a a a a a a")
	want := []int64{2, 4, 4, 4, 3}
	if !reflect.DeepEqual(e.IDs, want) {
		t.Fatalf("IDs = %v, want %v", e.IDs, want)
	}
	if len(e.Mask) != 5 || len(e.Type) != 5 || e.Mask[4] != 1 || e.Type[4] != 0 {
		t.Fatalf("mask %v type %v", e.Mask, e.Type)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New([]string{"[PAD]", "[CLS]", "[SEP]"}, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "[UNK]") {
		t.Errorf("missing [UNK]: err = %v", err)
	}
	opts := DefaultOptions()
	opts.MaxLen = 2
	if _, err := New([]string{"[PAD]", "[UNK]", "[CLS]", "[SEP]"}, opts); err == nil {
		t.Error("MaxLen 2 accepted")
	}
	if _, err := ReadVocab(strings.NewReader("")); err == nil {
		t.Error("empty vocab accepted")
	}
}

func FuzzTokenize(f *testing.F) {
	for _, c := range readGolden(f, "testdata/golden-uncased.jsonl") {
		f.Add(c.Text)
	}
	tok := load(f, "testdata/vocab.txt", DefaultOptions())
	f.Fuzz(func(t *testing.T, s string) {
		e := tok.Encode(s)
		if len(e.IDs) < 2 || len(e.IDs) > tok.MaxLen() {
			t.Fatalf("Encode(%q): %d ids", s, len(e.IDs))
		}
		if e.IDs[0] != int64(tok.cls) || e.IDs[len(e.IDs)-1] != int64(tok.sep) {
			t.Fatalf("Encode(%q) = %v: not framed by [CLS] [SEP]", s, e.IDs)
		}
		for _, p := range tok.Tokenize(s) {
			if p == "" || !utf8.ValidString(p) {
				t.Fatalf("Tokenize(%q): bad piece %q", s, p)
			}
			if strings.ContainsFunc(p, func(r rune) bool { return r == ' ' }) {
				t.Fatalf("Tokenize(%q): piece %q has a space", s, p)
			}
		}
	})
}

func BenchmarkTokenize(b *testing.B) {
	tok := load(b, "testdata/vocab.txt", DefaultOptions())
	cases := readGolden(b, "testdata/golden-uncased.jsonl")
	texts := []string{}
	for _, c := range cases[100:] { // the demo and CLINC150 sample, not the edge cases
		texts = append(texts, c.Text)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tok.Encode(texts[i%len(texts)])
		i++
	}
}
