package wordpiece

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// Options mirror the settings of Hugging Face's BertTokenizer. The zero
// value is not useful; start from DefaultOptions.
type Options struct {
	// Lowercase lowercases every word (do_lower_case).
	Lowercase bool
	// StripAccents removes combining marks after NFD. Nil follows Lowercase,
	// as in Hugging Face (strip_accents: null).
	StripAccents *bool
	// SplitCJK puts every CJK ideograph in a word of its own
	// (tokenize_chinese_chars).
	SplitCJK bool
	// MaxLen is the longest encoding, [CLS] and [SEP] included.
	MaxLen int
	// MaxCharsPerWord turns longer words into [UNK] (max_input_chars_per_word).
	MaxCharsPerWord int
	// Special tokens.
	Unk, CLS, SEP, Pad string
	// ContinuationPrefix marks word pieces that continue a word ("##").
	ContinuationPrefix string
}

// DefaultOptions are those of bert-base-chinese and of the models our
// recipe trains.
func DefaultOptions() Options {
	return Options{
		Lowercase:          true,
		SplitCJK:           true,
		MaxLen:             64,
		MaxCharsPerWord:    100,
		Unk:                "[UNK]",
		CLS:                "[CLS]",
		SEP:                "[SEP]",
		Pad:                "[PAD]",
		ContinuationPrefix: "##",
	}
}

// Tokenizer is a BERT tokenizer: basic tokenization (cleaning, CJK
// splitting, lowercasing, accent stripping, punctuation splitting) followed
// by greedy longest-match WordPiece. It is safe for concurrent use.
//
// Special-token strings that appear in the text, such as a customer typing
// "[SEP]", are tokenized as plain text. Hugging Face maps them to the special
// ids; we do not let user text inject control tokens.
type Tokenizer struct {
	opts        Options
	vocab       map[string]int32 // word-initial pieces
	cont        map[string]int32 // continuation pieces, keyed without the prefix
	unk, cls    int32
	sep, pad    int32
	stripAccent bool
	lower       cases.Caser
}

// New builds a tokenizer from a vocabulary whose index is the token id.
func New(vocab []string, opts Options) (*Tokenizer, error) {
	if opts.MaxLen < 3 {
		return nil, fmt.Errorf("wordpiece: max length %d is below 3", opts.MaxLen)
	}
	if opts.MaxCharsPerWord <= 0 {
		opts.MaxCharsPerWord = 100
	}
	t := &Tokenizer{
		opts:  opts,
		vocab: make(map[string]int32, len(vocab)),
		cont:  make(map[string]int32),
		lower: cases.Lower(language.Und),
	}
	t.stripAccent = opts.Lowercase
	if opts.StripAccents != nil {
		t.stripAccent = *opts.StripAccents
	}
	for i, tok := range vocab {
		if _, dup := t.vocab[tok]; dup {
			continue // Hugging Face keeps the last id; our recipe never writes duplicates
		}
		t.vocab[tok] = int32(i)
		if p := opts.ContinuationPrefix; p != "" && strings.HasPrefix(tok, p) && len(tok) > len(p) {
			t.cont[tok[len(p):]] = int32(i)
		}
	}
	for _, s := range []struct {
		name string
		dst  *int32
	}{{opts.Unk, &t.unk}, {opts.CLS, &t.cls}, {opts.SEP, &t.sep}, {opts.Pad, &t.pad}} {
		id, ok := t.vocab[s.name]
		if !ok {
			return nil, fmt.Errorf("wordpiece: special token %q is not in the vocabulary", s.name)
		}
		*s.dst = id
	}
	return t, nil
}

// ReadVocab reads a vocab.txt: one token per line, the line number is the id.
func ReadVocab(r io.Reader) ([]string, error) {
	var vocab []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// Hugging Face strips only the trailing newline; keep other spaces.
		vocab = append(vocab, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(vocab) == 0 {
		return nil, fmt.Errorf("wordpiece: empty vocabulary")
	}
	return vocab, nil
}

// ReadVocabFile reads a vocab.txt file.
func ReadVocabFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v, err := ReadVocab(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// VocabSize reports the number of distinct tokens.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// MaxLen reports the longest encoding the tokenizer produces.
func (t *Tokenizer) MaxLen() int { return t.opts.MaxLen }

// Tokenize returns the word pieces of text, without special tokens and
// without truncation.
func (t *Tokenizer) Tokenize(text string) []string {
	var out []string
	t.pieces(text, func(id int32, piece string) bool {
		out = append(out, piece)
		return true
	})
	return out
}

// Encoding is the model input for one text.
type Encoding struct {
	IDs  []int64 // [CLS] pieces... [SEP]
	Mask []int64 // all ones; padding is the caller's business
	Type []int64 // all zeros (single segment)
}

// Encode returns [CLS] + the word pieces of text + [SEP], truncated to MaxLen.
func (t *Tokenizer) Encode(text string) Encoding {
	ids := make([]int64, 1, 16)
	ids[0] = int64(t.cls)
	budget := t.opts.MaxLen - 2
	t.pieces(text, func(id int32, _ string) bool {
		if len(ids)-1 >= budget {
			return false
		}
		ids = append(ids, int64(id))
		return true
	})
	ids = append(ids, int64(t.sep))
	mask := make([]int64, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	return Encoding{IDs: ids, Mask: mask, Type: make([]int64, len(ids))}
}

// PadID reports the id of the padding token.
func (t *Tokenizer) PadID() int64 { return int64(t.pad) }

// pieces calls emit for every word piece of text until emit returns false.
// The piece string is only built when the caller needs it (Tokenize).
func (t *Tokenizer) pieces(text string, emit func(id int32, piece string) bool) {
	for _, word := range t.basic(text) {
		if !t.wordPieces(word, emit) {
			return
		}
	}
}

// basic is BERT's BasicTokenizer: it returns the words of text.
func (t *Tokenizer) basic(text string) []string {
	// Clean: drop NUL, U+FFFD and control characters; map whitespace to a
	// space; surround CJK ideographs with spaces.
	var b strings.Builder
	b.Grow(len(text) + 8)
	ascii := true
	for _, r := range text {
		switch {
		case r == 0 || r == utf8.RuneError || isControl(r):
			continue
		case isWhitespace(r):
			b.WriteByte(' ')
		case t.opts.SplitCJK && isCJK(r):
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			ascii = false
		default:
			if r >= utf8.RuneSelf {
				ascii = false
			}
			b.WriteRune(r)
		}
	}
	s := b.String()
	if !ascii && !norm.NFC.IsNormalString(s) {
		s = norm.NFC.String(s)
	}
	var words []string
	for _, w := range strings.FieldsFunc(s, unicode.IsSpace) {
		if r, size := utf8.DecodeRuneInString(w); size == len(w) && r >= 0x3400 && isCJK(r) {
			// A CJK ideograph (after NFC, never a compatibility form) has
			// no case, no decomposition and is not punctuation.
			words = append(words, w)
			continue
		}
		if t.opts.Lowercase {
			w = t.lowerWord(w)
		}
		if t.stripAccent && !isASCII(w) {
			w = stripAccents(w)
		}
		words = splitPunct(w, words)
	}
	return words
}

func (t *Tokenizer) lowerWord(w string) string {
	if isASCII(w) {
		return strings.ToLower(w)
	}
	// Full Unicode lowercasing (final sigma, İ), as Python's str.lower.
	return t.lower.String(w)
}

// wordPieces is greedy longest-match-first WordPiece over one word.
func (t *Tokenizer) wordPieces(word string, emit func(int32, string) bool) bool {
	if utf8.RuneCountInString(word) > t.opts.MaxCharsPerWord {
		return emit(t.unk, t.opts.Unk)
	}
	// Find all pieces first: a word with any unmatched part is one [UNK].
	var buf [16]int32
	var ends [16]int
	ids, stops := buf[:0], ends[:0]
	start := 0
	for start < len(word) {
		end := len(word)
		dict := t.vocab
		if start > 0 {
			dict = t.cont
		}
		found := false
		for end > start {
			if id, ok := dict[word[start:end]]; ok {
				ids = append(ids, id)
				stops = append(stops, end)
				found = true
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if !found {
			return emit(t.unk, t.opts.Unk)
		}
		start = end
	}
	prev := 0
	for i, id := range ids {
		piece := word[prev:stops[i]]
		if prev > 0 {
			piece = t.opts.ContinuationPrefix + piece
		}
		if !emit(id, piece) {
			return false
		}
		prev = stops[i]
	}
	return true
}

func splitPunct(w string, out []string) []string {
	start := 0
	for i, r := range w {
		if isPunct(r) {
			if start < i {
				out = append(out, w[start:i])
			}
			size := utf8.RuneLen(r)
			out = append(out, w[i:i+size])
			start = i + size
		}
	}
	if start < len(w) {
		out = append(out, w[start:])
	}
	return out
}

func stripAccents(w string) string {
	d := norm.NFD.String(w)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isWhitespace is BERT's _is_whitespace: space, tab, newline, CR, or Zs.
func isWhitespace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r':
		return true
	}
	return r >= utf8.RuneSelf && unicode.Is(unicode.Zs, r)
}

// isControl is BERT's _is_control: any category C (Cc, Cf, Co, Cs and
// unassigned code points) except tab, newline and CR.
func isControl(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	}
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7f
	}
	if unicode.Is(unicode.C, r) {
		return true
	}
	// Python's unicodedata calls unassigned code points "Cn".
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isPunct is BERT's _is_punctuation: ASCII non-alphanumerics (symbols like
// $ and ^ included) and every Unicode P* category.
func isPunct(r rune) bool {
	if (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126) {
		return true
	}
	return r >= utf8.RuneSelf && unicode.IsPunct(r)
}

// isCJK is BERT's _is_chinese_char: the CJK Unified Ideographs blocks and
// their extensions and compatibility forms. Kana and Hangul are not in it.
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}
