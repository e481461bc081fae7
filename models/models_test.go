package models

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/models/wordpiece"
)

var demoModel = filepath.Join("..", "testdata", "bots", "demo", "model")

func TestOpenDemoFolder(t *testing.T) {
	f, err := OpenFolder(demoModel, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Labels) < 26 || f.Labels[0] == "" {
		t.Errorf("labels: %v", f.Labels)
	}
	if f.Threshold == nil {
		t.Error("the recipe's threshold was not read")
	}
	if f.OOSLabel != OOS || f.Tokenizer.MaxLen() != 64 {
		t.Errorf("oos label %q, max len %d", f.OOSLabel, f.Tokenizer.MaxLen())
	}
	g, _ := OpenFolder(demoModel, 16)
	if g.Tokenizer.MaxLen() != 16 {
		t.Errorf("max_length cap: %d", g.Tokenizer.MaxLen())
	}
}

// copyDemo copies the demo model folder except the named files.
func copyDemo(t *testing.T, skip ...string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(demoModel)
	if err != nil {
		t.Fatal(err)
	}
outer:
	for _, e := range entries {
		for _, s := range skip {
			if e.Name() == s {
				continue outer
			}
		}
		b, err := os.ReadFile(filepath.Join(demoModel, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	}
	return dir
}

// TestTokenizerJSON loads the vocabulary from a Hugging Face tokenizer.json
// instead of vocab.txt and checks both give the same ids.
func TestTokenizerJSON(t *testing.T) {
	dir := copyDemo(t, "vocab.txt")
	vocab, err := wordpiece.ReadVocabFile(filepath.Join(demoModel, "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for i, v := range vocab {
		ids[v] = i
	}
	tj := map[string]any{
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "BertNormalizer", "lowercase": true, "strip_accents": nil, "handle_chinese_chars": true, "clean_text": true},
		}},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": ids},
	}
	b, _ := json.Marshal(tj)
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644)
	fromJSON, err := OpenFolder(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	fromTxt, _ := OpenFolder(demoModel, 0)
	for _, s := range []string{"我的快递到哪了？", "Café refund ＡＢＣ 😭", "size偏大吗 170穿什么码"} {
		a, b := fromJSON.Tokenizer.Encode(s).IDs, fromTxt.Tokenizer.Encode(s).IDs
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q: tokenizer.json %v, vocab.txt %v", s, a, b)
		}
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(`{"model":{"type":"BPE","vocab":{}}}`), 0o644)
	if _, err := OpenFolder(dir, 0); err == nil || !strings.Contains(err.Error(), "BPE") {
		t.Errorf("BPE tokenizer: err = %v", err)
	}
}

func TestFolderErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		skip   []string
		config string
		want   string
	}{
		{"no model", []string{"model.onnx"}, "", "no model.onnx"},
		{"no vocab", []string{"vocab.txt"}, "", "no vocab.txt or tokenizer.json"},
		{"no config", []string{"config.json"}, "", "config.json"},
		{"bad json", nil, `{"id2label": `, "config.json"},
		{"bad index", nil, `{"id2label": {"0": "a", "5": "b"}}`, `key "5" is not an index`},
		{"duplicate label", nil, `{"id2label": {"0": "a", "1": "a"}}`, `"a" appears twice`},
		{"threshold range", nil, `{"id2label": {"0": "a", "1": "b"}, "kefu": {"oos_threshold": 1.5}}`, "outside [0, 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDemo(t, tc.skip...)
			if tc.config != "" {
				os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o644)
			}
			_, err := OpenFolder(dir, 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := OpenFolder(filepath.Join(t.TempDir(), "missing"), 0); err == nil {
		t.Error("missing folder opened")
	}
}

func TestRankAndDecide(t *testing.T) {
	labels := []string{"退货", "oos", "物流查询"}
	r := Rank(labels, []float32{1, 0, 3})
	if r[0].Name != "物流查询" || r[1].Name != "退货" || r[2].Name != "oos" {
		t.Fatalf("rank order: %v", r)
	}
	var sum float32
	for _, x := range r {
		sum += x.Confidence
	}
	if math.Abs(float64(sum-1)) > 1e-6 {
		t.Errorf("confidences sum to %v", sum)
	}
	if p := Decide(r, OOS, 0.5); p.OOS || p.Intent.Name != "物流查询" {
		t.Errorf("in scope: %+v", p)
	}
	if p := Decide(r, OOS, 0.9); !p.OOS || p.Intent.Name != OOS || p.Intent.Confidence != r[0].Confidence {
		t.Errorf("under threshold: %+v", p)
	}
	if p := Decide(Rank(labels, []float32{0, 5, 1}), OOS, 0); !p.OOS {
		t.Errorf("oos class wins: %+v", p)
	}
	if p := Decide(nil, OOS, 0); !p.OOS {
		t.Errorf("empty ranking: %+v", p)
	}
}

func TestSoftmaxStable(t *testing.T) {
	p := Softmax([]float32{1000, 1000, -1000})
	if math.Abs(float64(p[0]-0.5)) > 1e-6 || p[2] != 0 {
		t.Errorf("softmax of large logits: %v", p)
	}
	if Softmax(nil) != nil {
		t.Error("softmax of nothing")
	}
}

func TestMeanPool(t *testing.T) {
	// Two real tokens [1,0] and [3,4], one padded token that must not count.
	v := MeanPool([]float32{1, 0, 3, 4, 100, 100}, []int64{1, 1, 0}, 2)
	want := []float32{2 / float32(math.Sqrt(8)), 2 / float32(math.Sqrt(8))}
	for i := range v {
		if math.Abs(float64(v[i]-want[i])) > 1e-6 {
			t.Fatalf("MeanPool = %v, want %v", v, want)
		}
	}
	if z := MeanPool([]float32{1, 2}, []int64{0}, 2); z[0] != 0 || z[1] != 0 {
		t.Errorf("all padding: %v", z)
	}
}
