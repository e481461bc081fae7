package models

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/kefu-chat/kefu/models/wordpiece"
)

// Folder is a model folder in the Hugging Face layout:
//
//	model.onnx              the graph (inputs input_ids, attention_mask, optional token_type_ids)
//	config.json             id2label, max_position_embeddings; kefu.oos_threshold when our recipe made it
//	vocab.txt               or tokenizer.json (a WordPiece tokenizer)
//	tokenizer_config.json   optional: do_lower_case, strip_accents, tokenize_chinese_chars, model_max_length
type Folder struct {
	Dir       string
	ModelPath string
	// Labels are the class names by output index (from id2label). Nil for
	// an encoder without a classification head.
	Labels []string
	// Threshold is the out-of-scope confidence threshold stored with the
	// model, or nil.
	Threshold *float32
	// OOSLabel is the label that means out of scope ("oos").
	OOSLabel  string
	Tokenizer *wordpiece.Tokenizer
}

type hfConfig struct {
	ID2Label              map[string]string `json:"id2label"`
	MaxPositionEmbeddings int               `json:"max_position_embeddings"`
	Kefu                  struct {
		OOSLabel     string   `json:"oos_label"`
		OOSThreshold *float32 `json:"oos_threshold"`
	} `json:"kefu"`
}

type hfTokenizerConfig struct {
	DoLowerCase          *bool    `json:"do_lower_case"`
	StripAccents         *bool    `json:"strip_accents"`
	TokenizeChineseChars *bool    `json:"tokenize_chinese_chars"`
	ModelMaxLength       *float64 `json:"model_max_length"`
	UnkToken             any      `json:"unk_token"`
	ClsToken             any      `json:"cls_token"`
	SepToken             any      `json:"sep_token"`
	PadToken             any      `json:"pad_token"`
}

// OpenFolder reads a model folder's configuration and tokenizer. It does not
// load the ONNX graph; see the onnx package. maxLen, when positive, caps the
// tokenizer's encoding length further.
func OpenFolder(dir string, maxLen int) (*Folder, error) {
	f := &Folder{Dir: dir, ModelPath: filepath.Join(dir, "model.onnx"), OOSLabel: OOS}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("models: model folder: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("models: %s is not a folder", dir)
	}
	if _, err := os.Stat(f.ModelPath); err != nil {
		return nil, fmt.Errorf("models: %s: no model.onnx (want a Hugging Face layout folder: model.onnx, config.json, vocab.txt)", dir)
	}
	var cfg hfConfig
	if err := readJSON(filepath.Join(dir, "config.json"), &cfg); err != nil {
		return nil, err
	}
	if len(cfg.ID2Label) > 0 {
		labels, err := labelsOf(cfg.ID2Label)
		if err != nil {
			return nil, fmt.Errorf("models: %s: %w", filepath.Join(dir, "config.json"), err)
		}
		f.Labels = labels
	}
	if cfg.Kefu.OOSLabel != "" {
		f.OOSLabel = cfg.Kefu.OOSLabel
	}
	if t := cfg.Kefu.OOSThreshold; t != nil {
		if *t < 0 || *t >= 1 {
			return nil, fmt.Errorf("models: %s: kefu.oos_threshold %v is outside [0, 1)", filepath.Join(dir, "config.json"), *t)
		}
		f.Threshold = t
	}

	opts := wordpiece.DefaultOptions()
	var tc hfTokenizerConfig
	if err := readJSON(filepath.Join(dir, "tokenizer_config.json"), &tc); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if tc.DoLowerCase != nil {
		opts.Lowercase = *tc.DoLowerCase
	}
	opts.StripAccents = tc.StripAccents
	if tc.TokenizeChineseChars != nil {
		opts.SplitCJK = *tc.TokenizeChineseChars
	}
	for _, s := range []struct {
		v   any
		dst *string
	}{{tc.UnkToken, &opts.Unk}, {tc.ClsToken, &opts.CLS}, {tc.SepToken, &opts.SEP}, {tc.PadToken, &opts.Pad}} {
		if name := tokenName(s.v); name != "" {
			*s.dst = name
		}
	}
	opts.MaxLen = 128
	if cfg.MaxPositionEmbeddings > 0 {
		opts.MaxLen = cfg.MaxPositionEmbeddings
	}
	// Hugging Face writes a huge model_max_length when it is unset.
	if m := tc.ModelMaxLength; m != nil && *m >= 3 && *m < float64(opts.MaxLen) {
		opts.MaxLen = int(*m)
	}
	if maxLen > 0 && maxLen < opts.MaxLen {
		opts.MaxLen = maxLen
	}

	var vocab []string
	vocabPath := filepath.Join(dir, "vocab.txt")
	switch v, err := wordpiece.ReadVocabFile(vocabPath); {
	case err == nil:
		vocab = v
	case errors.Is(err, fs.ErrNotExist):
		tj, err := readTokenizerJSON(filepath.Join(dir, "tokenizer.json"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("models: %s: no vocab.txt or tokenizer.json", dir)
		}
		if err != nil {
			return nil, err
		}
		vocab = tj.vocab
		tj.apply(&opts)
	default:
		return nil, fmt.Errorf("models: %w", err)
	}
	tok, err := wordpiece.New(vocab, opts)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", dir, err)
	}
	f.Tokenizer = tok
	return f, nil
}

func labelsOf(id2label map[string]string) ([]string, error) {
	labels := make([]string, len(id2label))
	seen := make(map[string]bool, len(id2label))
	for k, v := range id2label {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(labels) {
			return nil, fmt.Errorf("id2label: key %q is not an index in 0..%d", k, len(labels)-1)
		}
		if v == "" {
			return nil, fmt.Errorf("id2label: label %d is empty", i)
		}
		if seen[v] {
			return nil, fmt.Errorf("id2label: label %q appears twice", v)
		}
		seen[v] = true
		labels[i] = v
	}
	return labels, nil
}

// tokenName reads a special token that tokenizer_config.json writes either
// as a string or as an AddedToken object with "content".
func tokenName(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case map[string]any:
		s, _ := t["content"].(string)
		return s
	}
	return ""
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("models: %s: %w", path, err)
	}
	return nil
}

// tokenizerJSON is the part of a Hugging Face tokenizer.json we use: a
// WordPiece model with a BertNormalizer.
type tokenizerJSON struct {
	vocab []string
	norm  *bertNormalizer
	model struct {
		unk     string
		prefix  string
		maxWord int
	}
}

type bertNormalizer struct {
	Type               string           `json:"type"`
	Lowercase          *bool            `json:"lowercase"`
	StripAccents       *bool            `json:"strip_accents"`
	HandleChineseChars *bool            `json:"handle_chinese_chars"`
	Normalizers        []bertNormalizer `json:"normalizers"`
}

func readTokenizerJSON(path string) (*tokenizerJSON, error) {
	var raw struct {
		Normalizer *bertNormalizer `json:"normalizer"`
		Model      struct {
			Type                    string         `json:"type"`
			UnkToken                string         `json:"unk_token"`
			ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
			MaxInputCharsPerWord    int            `json:"max_input_chars_per_word"`
			Vocab                   map[string]int `json:"vocab"`
		} `json:"model"`
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("models: %s: %w", path, err)
	}
	if raw.Model.Type != "WordPiece" {
		return nil, fmt.Errorf("models: %s: tokenizer model %q is not supported (want WordPiece)", path, raw.Model.Type)
	}
	tj := &tokenizerJSON{norm: raw.Normalizer}
	ids := make([]string, len(raw.Model.Vocab))
	for tok, id := range raw.Model.Vocab {
		if id < 0 || id >= len(ids) || ids[id] != "" {
			return nil, fmt.Errorf("models: %s: vocabulary ids are not 0..%d", path, len(ids)-1)
		}
		ids[id] = tok
	}
	tj.vocab = ids
	tj.model.unk = raw.Model.UnkToken
	tj.model.prefix = "##"
	if p := raw.Model.ContinuingSubwordPrefix; p != nil {
		tj.model.prefix = *p
	}
	tj.model.maxWord = raw.Model.MaxInputCharsPerWord
	return tj, nil
}

func (tj *tokenizerJSON) apply(o *wordpiece.Options) {
	if tj.model.unk != "" {
		o.Unk = tj.model.unk
	}
	o.ContinuationPrefix = tj.model.prefix
	if tj.model.maxWord > 0 {
		o.MaxCharsPerWord = tj.model.maxWord
	}
	var walk func(n *bertNormalizer)
	walk = func(n *bertNormalizer) {
		if n == nil {
			return
		}
		if n.Type == "BertNormalizer" {
			if n.Lowercase != nil {
				o.Lowercase = *n.Lowercase
			}
			o.StripAccents = n.StripAccents
			if n.HandleChineseChars != nil {
				o.SplitCJK = *n.HandleChineseChars
			}
		}
		for i := range n.Normalizers {
			walk(&n.Normalizers[i])
		}
	}
	walk(tj.norm)
}

// Rank turns logits into the labels sorted by softmax confidence.
func Rank(labels []string, logits []float32) []Intent {
	probs := Softmax(logits)
	out := make([]Intent, len(probs))
	for i, p := range probs {
		name := strconv.Itoa(i)
		if i < len(labels) {
			name = labels[i]
		}
		out[i] = Intent{Name: name, Confidence: p}
	}
	slices.SortStableFunc(out, func(a, b Intent) int { return cmp.Compare(b.Confidence, a.Confidence) })
	return out
}

// Decide makes a prediction from a ranking: out of scope when the top label
// is the oos label, or when the best in-scope confidence is under threshold.
func Decide(ranking []Intent, oosLabel string, threshold float32) Prediction {
	p := Prediction{Ranking: ranking}
	if len(ranking) == 0 {
		p.OOS = true
		p.Intent = Intent{Name: oosLabel}
		return p
	}
	top := ranking[0]
	switch {
	case top.Name == oosLabel:
		p.OOS = true
		p.Intent = top
	case top.Confidence < threshold:
		p.OOS = true
		p.Intent = Intent{Name: oosLabel, Confidence: top.Confidence}
	default:
		p.Intent = top
	}
	return p
}
