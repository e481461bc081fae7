package normalize

import (
	"sync"
	"testing"

	"github.com/kefu-chat/kefu/models/evaluate"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func newT(t testing.TB, cfg Config) *Normalizer {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNormalizeText(t *testing.T) {
	n := newT(t, DefaultConfig())
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"only spaces", " \t\n　", ""},
		{"full-width ascii", "ＡＢＣ１２３？", "abc123?"},
		{"full-width punctuation", "你好，在吗？！", "你好,在吗?!"},
		{"chinese punctuation kept", "好的。「收到」、谢谢", "好的。「收到」、谢谢"},
		{"ideographic space", "你好　世界", "你好 世界"},
		{"whitespace runs", "  多个   空格\t\n换行  ", "多个 空格 换行"},
		{"control characters", "订单\x00\x1b号", "订单 号"},
		{"zero-width", "退\u200b货\ufeff", "退货"},
		{"yen", "￥１２.５", "¥12.5"},
		{"traditional", "這個訂單還沒發貨", "这个订单还没发货"},
		{"traditional words", "退貨 請問 裡面 裏面", "退货 请问 里面 里面"},
		{"traditional sentence", "我要退貨，請問運費誰出？", "我要退货,请问运费谁出?"},
		{"phrase keeps 乾", "乾隆年間很乾燥", "乾隆年间很干燥"},
		{"simplified unchanged", "这个订单还没发货", "这个订单还没发货"},
		{"mixed", "我要退貨，ＯＲＤＥＲ　Ａ１２３ Please", "我要退货,order a123 please"},
		{"emoji kept", "好的👍😀", "好的👍😀"},
		{"emoji zwj kept", "家庭👨‍👩‍👧", "家庭👨‍👩‍👧"},
		{"invalid utf-8", "a\xffb\xc0", "a\ufffdb\ufffd"},
		{"latin lower", "ÀÉÎ iPhone", "àéî iphone"},
		{"half-width katakana", "ｶﾀｶﾅ", "カタカナ"},
		{"not idempotent in opencc", "乾圖", "干图"},
		{"opencc three rounds", "么麼", "幺么"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := n.Normalize(tt.in)
			want := Result{Original: tt.in, Text: tt.want}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Normalize(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if again := n.Normalize(got.Text).Text; again != got.Text {
				t.Errorf("not idempotent: %q -> %q", got.Text, again)
			}
		})
	}
}

func TestConfigSteps(t *testing.T) {
	const in = "ＡＢＣ　退貨"
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero config", Config{}, "ＡＢＣ 退貨"},
		{"width only", Config{Width: true}, "ABC 退貨"},
		{"lower only", Config{Lower: true}, "ａｂｃ 退貨"},
		{"simplified only", Config{Simplified: true}, "ＡＢＣ 退货"},
		{"default", DefaultConfig(), "abc 退货"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newT(t, tt.cfg).Normalize(in).Text; got != tt.want {
				t.Errorf("Normalize(%q).Text = %q, want %q", in, got, tt.want)
			}
		})
	}
}

func TestSensitive(t *testing.T) {
	words := []string{"垃圾", "垃圾桶", "桶装", "詐騙", "ＴＭＤ", "fuck you", "ab", "bc"}
	tests := []struct {
		name   string
		action Action
		in     string
		want   Result
	}{
		{
			name: "masked",
			in:   "你这个垃圾客服",
			want: Result{Text: "你这个**客服", Hits: []Hit{{"垃圾", 3, 5}}},
		},
		{
			name: "traditional message, simplified word",
			in:   "你這個垃圾客服",
			want: Result{Text: "你这个**客服", Hits: []Hit{{"垃圾", 3, 5}}},
		},
		{
			name: "simplified message, traditional word",
			in:   "这是诈骗吧",
			want: Result{Text: "这是**吧", Hits: []Hit{{"詐騙", 2, 4}}},
		},
		{
			name: "full-width message, full-width word",
			in:   "ｔｍｄ气死了",
			want: Result{Text: "***气死了", Hits: []Hit{{"ＴＭＤ", 0, 3}}},
		},
		{
			name: "upper-case message",
			in:   "TMD!",
			want: Result{Text: "***!", Hits: []Hit{{"ＴＭＤ", 0, 3}}},
		},
		{
			name: "word with a space matches collapsed whitespace",
			in:   "FUCK　　YOU",
			want: Result{Text: "********", Hits: []Hit{{"fuck you", 0, 8}}},
		},
		{
			name: "longest wins",
			in:   "垃圾桶装满了",
			want: Result{Text: "***装满了", Hits: []Hit{{"垃圾桶", 0, 3}}},
		},
		{
			name: "overlap leftmost wins",
			in:   "abc",
			want: Result{Text: "**c", Hits: []Hit{{"ab", 0, 2}}},
		},
		{
			name: "several hits",
			in:   "垃圾，詐騙，垃圾",
			want: Result{Text: "**,**,**", Hits: []Hit{{"垃圾", 0, 2}, {"詐騙", 3, 5}, {"垃圾", 6, 8}}},
		},
		{
			name:   "blocked",
			action: ActionBlock,
			in:     "你這個垃圾",
			want:   Result{Text: "你这个垃圾", Hits: []Hit{{"垃圾", 3, 5}}, Blocked: true},
		},
		{
			name:   "not blocked",
			action: ActionBlock,
			in:     "你好",
			want:   Result{Text: "你好"},
		},
		{
			name: "no hit",
			in:   "你好",
			want: Result{Text: "你好"},
		},
		{
			name: "empty",
			in:   "",
			want: Result{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Sensitive = words
			cfg.Action = tt.action
			n := newT(t, cfg)
			got := n.Normalize(tt.in)
			tt.want.Original = tt.in
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Normalize(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if again := n.Normalize(got.Text).Text; again != got.Text {
				t.Errorf("not idempotent: %q -> %q", got.Text, again)
			}
		})
	}
}

// Masking part of a phrase that kept a rune traditional must not leave a
// Text that converts further on the next pass.
func TestMaskSplitsPhrase(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Sensitive = []string{"隆"}
	n := newT(t, cfg)
	got := n.Normalize("乾隆")
	want := Result{Original: "乾隆", Text: "干*", Hits: []Hit{{"隆", 1, 2}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
	if again := n.Normalize(got.Text).Text; again != got.Text {
		t.Errorf("not idempotent: %q -> %q", got.Text, again)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*Config)
		wantErr string
	}{
		{"unknown action", func(c *Config) { c.Action = "drop" }, `normalize: unknown action "drop" (have: block, mask)`},
		{"space mask", func(c *Config) { c.Mask = ' ' }, `normalize: mask ' ' is changed by normalization`},
		{"full-width mask", func(c *Config) { c.Mask = 'Ｘ' }, `normalize: mask 'Ｘ' is changed by normalization`},
		{"traditional mask", func(c *Config) { c.Mask = '貨' }, `normalize: mask '貨' is changed by normalization`},
		{"han mask", func(c *Config) { c.Mask = '口' }, `normalize: mask '口' is a Han character`},
		{"invalid mask", func(c *Config) { c.Mask = utf8.MaxRune + 1 }, `normalize: mask U+110000 is not a valid rune`},
		{"empty word", func(c *Config) { c.Sensitive = []string{"垃圾", " \u200b "} }, `normalize: sensitive word 2 (" \u200b ") is empty after normalization`},
		{"word with mask", func(c *Config) { c.Sensitive = []string{"a*b"} }, `normalize: sensitive word "a*b" contains the mask '*'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.cfg(&cfg)
			_, err := New(cfg)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("New() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	// A word with the mask is fine when nothing is masked.
	if _, err := New(Config{Action: ActionBlock, Sensitive: []string{"a*b"}}); err != nil {
		t.Errorf("New(block, a*b) = %v", err)
	}
}

func TestDuplicateWords(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Sensitive = []string{"退貨", "退货", "ＴＭＤ", "tmd"}
	got := newT(t, cfg).Normalize("退货 tmd")
	want := []Hit{{"退貨", 0, 2}, {"ＴＭＤ", 3, 6}}
	if diff := cmp.Diff(want, got.Hits); diff != "" {
		t.Errorf("Hits mismatch (-want +got):\n%s", diff)
	}
}

func TestNormalizeAllocs(t *testing.T) {
	n := newT(t, DefaultConfig())
	for _, in := range []string{"这个订单什么时候发货", "where is my order", ""} {
		if a := testing.AllocsPerRun(100, func() { n.Normalize(in) }); a != 0 {
			t.Errorf("Normalize(%q): %v allocs, want 0 for text that needs no change", in, a)
		}
	}
}

func TestConcurrent(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Sensitive = []string{"垃圾", "詐騙"}
	n := newT(t, cfg)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if got := n.Normalize("這是詐騙，垃圾").Text; got != "这是**,**" {
					t.Errorf("Text = %q", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"", "ＡＢＣ１２３？", "你好　世界", "這個訂單還沒發貨", "乾隆", "么麼", "乾圖",
		"垃圾桶装", "a\xffb", "好的👍", "退\u200b貨", "  x  ", "İSTANBUL", "ｶﾞ", "TMD!",
	} {
		f.Add(s)
	}
	// And what customers write: the demo bot's held-out intent examples.
	demo, err := evaluate.ReadExamplesFile("../../testdata/bots/demo/intents/test.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range demo {
		f.Add(e.Text)
	}
	mask := DefaultConfig()
	mask.Sensitive = []string{"垃圾", "詐騙", "ＴＭＤ", "隆", "ab", "bc", "fuck you"}
	block := mask
	block.Action = ActionBlock
	ns := []*Normalizer{newT(f, DefaultConfig()), newT(f, mask), newT(f, block), newT(f, Config{})}
	f.Fuzz(func(t *testing.T, in string) {
		for i, n := range ns {
			r := n.Normalize(in)
			if r.Original != in {
				t.Fatalf("%d: Original = %q, want %q", i, r.Original, in)
			}
			if !utf8.ValidString(r.Text) {
				t.Fatalf("%d: Text %q is not valid UTF-8", i, r.Text)
			}
			if again := n.Normalize(r.Text); again.Text != r.Text {
				t.Fatalf("%d: not idempotent: %q -> %q -> %q", i, in, r.Text, again.Text)
			}
			runes, last := utf8.RuneCountInString(r.Text), 0
			for _, h := range r.Hits {
				if h.Start < last || h.End <= h.Start || h.End > runes {
					t.Fatalf("%d: bad hit %+v in %q (%d runes)", i, h, r.Text, runes)
				}
				last = h.End
			}
			if r.Blocked != (n.cfg.Action == ActionBlock && len(r.Hits) > 0) {
				t.Fatalf("%d: Blocked = %v with %d hits", i, r.Blocked, len(r.Hits))
			}
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Sensitive = []string{"垃圾", "詐騙", "傻逼", "ＴＭＤ", "退款骗子"}
	sensitive := newT(b, cfg)
	plain := newT(b, DefaultConfig())
	for _, bb := range []struct {
		name string
		n    *Normalizer
		in   string
	}{
		{"chinese", plain, "你好，我的订单什么时候发货？能快点吗"},
		{"chinese-clean", plain, "你好我的订单什么时候发货能快点吗"},
		{"traditional", plain, "你好，我的訂單什麼時候發貨？能快點嗎"},
		{"ascii", plain, "Hello, where is my order A2024112200123?"},
		{"chinese-sensitive", sensitive, "你好，我的订单什么时候发货？垃圾客服"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bb.n.Normalize(bb.in)
			}
		})
	}
}
