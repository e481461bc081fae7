package chunk

import (
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/kefu-chat/kefu/knowledge"
)

func TestOptionsLimits(t *testing.T) {
	tests := []struct {
		in                 Options
		wantMax, wantOverl int
	}{
		{Options{}, 600, 60},
		{Options{MaxRunes: 100}, 100, 25},
		{Options{MaxRunes: 100, OverlapRunes: 10}, 100, 10},
		{Options{MaxRunes: 100, OverlapRunes: -1}, 100, 0},
		{Options{MaxRunes: -5, OverlapRunes: 500}, 600, 150},
		{Options{MaxRunes: 1}, 1, 0},
	}
	for _, tt := range tests {
		m, o := tt.in.limits()
		if m != tt.wantMax || o != tt.wantOverl {
			t.Errorf("%+v.limits() = %d, %d; want %d, %d", tt.in, m, o, tt.wantMax, tt.wantOverl)
		}
	}
}

func TestSplitText(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		max, overlap int
		want         []string
	}{
		{
			name: "short text is one passage, tidied",
			in:   "  第一段。  \n\n\n\n第二段。\n",
			max:  100, overlap: 10,
			want: []string{"第一段。\n\n第二段。"},
		},
		{
			name: "paragraphs are packed whole",
			in:   "退货需在七天内申请。\n\n换货需在十五天内申请。\n\n运费规则见下文。",
			max:  24, overlap: -1,
			want: []string{"退货需在七天内申请。\n\n换货需在十五天内申请。", "运费规则见下文。"},
		},
		{
			name: "a long paragraph is cut at sentence ends",
			in:   "第一句话比较长一点。第二句话也很长吧！第三句呢？第四句；第五句。",
			max:  20, overlap: -1,
			want: []string{"第一句话比较长一点。第二句话也很长吧！", "第三句呢？第四句；第五句。"},
		},
		{
			name: "closing quotes stay with their sentence",
			in:   "客服说：“好的。”然后挂了电话。接着又打来了一次。",
			max:  10, overlap: -1,
			want: []string{"客服说：“好的。”", "然后挂了电话。", "接着又打来了一次。"},
		},
		{
			name: "overlap repeats the last sentence",
			in:   "甲甲甲甲甲甲甲甲。乙乙乙乙乙乙。丙丙丙丙丙丙丙丙丙丙。丁丁丁丁丁丁丁丁丁。",
			max:  28, overlap: 7,
			// Bodies of at most 28-7 runes; the second repeats a whole
			// sentence of the first.
			want: []string{"甲甲甲甲甲甲甲甲。乙乙乙乙乙乙。", "乙乙乙乙乙乙。丙丙丙丙丙丙丙丙丙丙。丁丁丁丁丁丁丁丁丁。"},
		},
		{
			name: "no sentence end: cut at commas",
			in:   "商品签收后七天内，未拆封，不影响二次销售，可以申请无理由退货",
			max:  17, overlap: -1,
			want: []string{"商品签收后七天内，未拆封，", "不影响二次销售，可以申请无理由退货"},
		},
		{
			name: "no boundary at all: hard cut",
			in:   strings.Repeat("字", 25),
			max:  10, overlap: -1,
			want: []string{strings.Repeat("字", 10), strings.Repeat("字", 10), strings.Repeat("字", 5)},
		},
		{
			name: "numbers and addresses are not sentence ends",
			in:   "营业时间 9:00-18:00，价格 1,299.50 元，网址 shop.example.com 可查。\n下一行",
			max:  30, overlap: -1,
			want: []string{"营业时间 9:00-18:00，价格 1,299.50 元，", "网址 shop.example.com 可查。\n下一行"},
		},
		{
			name: "list numbers are not sentence ends",
			in:   "1. 第一步点击申请退货\n2. 第二步填写原因并上传照片\n3. 第三步寄回",
			max:  26, overlap: -1,
			want: []string{"1. 第一步点击申请退货", "2. 第二步填写原因并上传照片\n3. 第三步寄回"},
		},
		{
			name: "empty",
			in:   " \n\n\t",
			max:  10,
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, o := Options{MaxRunes: tt.max, OverlapRunes: tt.overlap}.limits()
			got := splitText(tt.in, m, o)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("splitText (-want +got):\n%s", diff)
			}
		})
	}
}

// checkPieces checks the invariants of cut: every piece within maxRunes,
// every overlap within overlap runes and a suffix of the previous body,
// and the bodies together the whole text but its whitespace.
func checkPieces(t *testing.T, text string, maxRunes, overlap int) {
	t.Helper()
	r := []rune(tidy(text))
	if len(r) == 0 {
		return
	}
	pieces := cut(r, maxRunes, overlap)
	var bodies strings.Builder
	for i, p := range pieces {
		if p.end-p.from > maxRunes {
			t.Errorf("piece %d has %d runes, more than %d", i, p.end-p.from, maxRunes)
		}
		if p.from > p.body || p.body >= p.end {
			t.Fatalf("piece %d is %+v", i, p)
		}
		if i > 0 {
			prev := pieces[i-1]
			if p.body < prev.end {
				t.Errorf("piece %d body starts at %d, inside the previous (ends %d)", i, p.body, prev.end)
			}
			if p.from < p.body && (p.from < prev.body || prev.end-p.from > overlap) {
				t.Errorf("piece %d overlap [%d,%d) is not within %d runes of the previous body %+v", i, p.from, p.body, overlap, prev)
			}
		}
		bodies.WriteString(string(r[p.body:p.end]))
	}
	if got, want := noSpace(bodies.String()), noSpace(string(r)); got != want {
		t.Errorf("bodies lose text:\n got %q\nwant %q", got, want)
	}
}

func noSpace(s string) string {
	return strings.Map(func(c rune) rune {
		if unicode.IsSpace(c) {
			return -1
		}
		return c
	}, s)
}

const policy = `退换货政策

签收后 7 天内可无理由退货，15 天内可换货。定制商品、生鲜食品、已拆封的贴身衣物不支持无理由退货！退货时请保持商品完好，配件、赠品、发票需一并寄回；否则可能影响退款金额。

运费：质量问题由本店承担，非质量问题由买家承担。包邮商品退货将扣除 10 元运费？是的，这是平台规则。
退款在仓库签收后 1-3 个工作日内原路退回。微信支付一般即时到账；银行卡 3-5 个工作日。信用卡退款以银行入账时间为准。

客服工作时间 9:00-21:00，节假日无休。如有疑问请联系在线客服，或拨打 400-123-4567。`

func TestCutInvariants(t *testing.T) {
	texts := []string{
		policy,
		strings.Repeat("这是一个没有任何标点的很长的句子", 20),
		strings.Repeat("短句。", 100),
		strings.Repeat("a b c d e f g ", 50),
		strings.Repeat("第一段。\n\n", 30),
		"“引号里的话。””」』））】》“又一句！”" + strings.Repeat("？", 40),
	}
	for i, text := range texts {
		for _, maxRunes := range []int{1, 2, 3, 5, 8, 13, 20, 40, 64, 100, 600} {
			for _, ov := range []int{-1, 0, 2, 10, 60} {
				m, o := Options{MaxRunes: maxRunes, OverlapRunes: ov}.limits()
				t.Run(fmt.Sprintf("text%d/max%d/overlap%d", i, m, o), func(t *testing.T) {
					checkPieces(t, text, m, o)
				})
			}
		}
	}
}

func TestSplitFAQ(t *testing.T) {
	doc := knowledge.Document{
		ID:        "refund-time",
		Title:     "退款多久到账？",
		Questions: []string{"钱什么时候退回来", " 退款多久到账？ ", "", "退款几天到"},
		Format:    knowledge.FormatFAQ,
		Tags:      []string{"售后"},
		Content:   strings.Repeat("仓库签收后 1-3 个工作日原路退回。", 40) + "\n",
	}
	want := []knowledge.Chunk{{
		ID:        "refund-time#0",
		DocID:     "refund-time",
		Title:     "退款多久到账？",
		Text:      "问：退款多久到账？\n答：" + strings.TrimSpace(doc.Content),
		Answer:    strings.TrimSpace(doc.Content),
		Questions: []string{"退款多久到账？", "钱什么时候退回来", "退款几天到"},
		Tags:      []string{"售后"},
	}}
	// An FAQ entry is one chunk whatever its size.
	got := Split(doc, Options{MaxRunes: 50})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Split (-want +got):\n%s", diff)
	}
	if got := Split(knowledge.Document{ID: "x", Format: knowledge.FormatFAQ, Title: " ", Content: "\n"}, Options{}); len(got) != 0 {
		t.Errorf("Split of an empty FAQ entry = %v, want none", got)
	}
}

func TestSplitMarkdownTitles(t *testing.T) {
	tests := []struct {
		name  string
		title string
		in    string
		want  []string // title: text
	}{
		{
			name:  "heading paths",
			title: "退换货政策",
			in:    "# 退换货政策\n\n总则。\n\n## 退货流程\n\n步骤。\n\n### 运费\n\n运费说明。\n\n#### 偏远地区\n\n另计。\n\n## 换货\n\n换货说明。\n\n# 附录\n\n## 联系方式\n\n电话。\n",
			want: []string{
				"退换货政策: 总则。",
				"退换货政策 > 退货流程: 步骤。",
				"退换货政策 > 退货流程 > 运费: 运费说明。",
				"退换货政策 > 退货流程 > 运费 > 偏远地区: 另计。",
				"退换货政策 > 换货: 换货说明。",
				"附录 > 联系方式: 电话。",
			},
		},
		{
			name:  "text before the first heading joins the title section",
			title: "退换货政策",
			in:    "前言。\n\n# 退换货政策\n\n总则。\n",
			want:  []string{"退换货政策: 前言。\n\n总则。"},
		},
		{
			name:  "no level-1 heading: the document title leads",
			title: "shipping",
			in:    "开头。\n\n## 运费\n\n十元。\n\n### 偏远\n\n二十元。\n\n## 时效\n\n三天。",
			want:  []string{"shipping: 开头。", "shipping > 运费: 十元。", "shipping > 运费 > 偏远: 二十元。", "shipping > 时效: 三天。"},
		},
		{
			name: "no document title",
			in:   "开头。\n\n## 运费\n\n十元。",
			want: []string{": 开头。", "运费: 十元。"},
		},
		{
			name:  "skipped levels and going back up",
			title: "T",
			in:    "# T\n\n### 深\n\n一。\n\n## 中\n\n二。",
			want:  []string{"T > 深: 一。", "T > 中: 二。"},
		},
		{
			name:  "empty sections are skipped",
			title: "T",
			in:    "# T\n\n## 空\n\n## 也空\n\n<!-- 只有注释 -->\n\n## 有内容\n\n内容。",
			want:  []string{"T > 有内容: 内容。"},
		},
		{
			name:  "# in code blocks is not a heading",
			title: "T",
			in:    "# T\n\n```bash\n# 注释\necho hi\n```\n\n~~~\n## 也不是\n~~~\n\n    # 缩进代码\n",
			want:  []string{"T: ```bash\n# 注释\necho hi\n```\n\n~~~\n## 也不是\n~~~\n\n    # 缩进代码"},
		},
		{
			name:  "setext headings, closing hashes, inline markup",
			title: "T",
			in:    "T\n===\n\n一。\n\n退货 **流程**\n----\n\n二。\n\n## `运费` 与 [规则](https://example.com) ##\n\n三。\n\n#hashtag\n不是标题\n",
			want:  []string{"T: 一。", "T > 退货 流程: 二。", "T > 运费 与 规则: 三。\n\n#hashtag\n不是标题"},
		},
		{
			name:  "headings in lists and quotes stay text",
			title: "T",
			in:    "# T\n\n- 列表\n  # 列表里的\n\n> # 引用里的\n",
			want:  []string{"T: - 列表\n  # 列表里的\n\n> # 引用里的"},
		},
		{
			name:  "front matter and comments are dropped",
			title: "T",
			in:    "---\ntitle: 旧\n---\n# T\n\n正文<!-- 内部备注 -->继续。\n\n<!--\n多行\n备注\n-->\n\n结尾。",
			want:  []string{"T: 正文继续。\n\n结尾。"},
		},
		{
			name:  "a thematic break is not front matter",
			title: "T",
			in:    "---\n\n正文。",
			want:  []string{"T: ---\n\n正文。"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := knowledge.Document{ID: "a.md", Title: tt.title, Format: knowledge.FormatMarkdown, Content: tt.in}
			var got []string
			for i, c := range Split(doc, Options{}) {
				if c.Position != i || c.ID != fmt.Sprintf("a.md#%d", i) || c.DocID != "a.md" {
					t.Errorf("chunk %d: id %q, position %d", i, c.ID, c.Position)
				}
				got = append(got, c.Title+": "+c.Text)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("sections (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitTextTitle(t *testing.T) {
	tests := []struct {
		name, title, in string
		want            []string
	}{
		{"document title", "配送", "第一行。\n\n第二段。", []string{"配送: 第一行。\n\n第二段。"}},
		{"first line repeating the title is dropped", "配送说明", "配送说明\n\n当天发货。", []string{"配送说明: 当天发货。"}},
		{"short first line becomes the title", "", "配送说明\n当天发货。", []string{"配送说明: 当天发货。"}},
		{"a sentence is not a title", "", "周末不发货。\n节假日也不发货。", []string{": 周末不发货。\n节假日也不发货。"}},
		{"a lone line is text", "", "周末不发货", []string{": 周末不发货"}},
		{"a long first line is text", "", strings.Repeat("长", 41) + "\n正文", []string{": " + strings.Repeat("长", 41) + "\n正文"}},
		{"blank", "T", "\n \n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range Split(knowledge.Document{ID: "a.txt", Title: tt.title, Format: knowledge.FormatText, Content: tt.in}, Options{}) {
				got = append(got, c.Title+": "+c.Text)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSplitMarkdownSizes checks a long section: no chunk over MaxRunes, no
// text lost, every chunk titled by the section.
func TestSplitMarkdownSizes(t *testing.T) {
	body := strings.ReplaceAll(policy, "\n\n", "\n\n") // paragraphs and lines
	doc := knowledge.Document{ID: "p.md", Title: "政策", Format: knowledge.FormatMarkdown, Content: "# 政策\n\n## 细则\n\n" + body + "\n\n## 短\n\n短。"}
	opts := Options{MaxRunes: 50, OverlapRunes: 10}
	chunks := Split(doc, opts)
	var long []knowledge.Chunk
	for _, c := range chunks {
		if n := utf8.RuneCountInString(c.Text); n > opts.MaxRunes {
			t.Errorf("%s has %d runes", c.ID, n)
		}
		if c.Title == "政策 > 细则" {
			long = append(long, c)
		}
	}
	if len(long) < 5 || chunks[len(chunks)-1].Title != "政策 > 短" {
		t.Fatalf("got %d chunks of the long section, last %q", len(long), chunks[len(chunks)-1].Title)
	}
	// Join the chunks, dropping from each the longest prefix that ends the
	// previous one (the overlap); the text is the section's, but spaces.
	var joined strings.Builder
	for i, c := range long {
		text := []rune(c.Text)
		if i > 0 {
			prev := long[i-1].Text
			for k := min(len(text), 10+2); k > 0; k-- {
				if strings.HasSuffix(strings.TrimSpace(prev), strings.TrimSpace(string(text[:k]))) {
					text = text[k:]
					break
				}
			}
		}
		joined.WriteString(string(text))
	}
	if got, want := noSpace(joined.String()), noSpace(body); got != want {
		t.Errorf("chunks lose text:\n got %q\nwant %q", got, want)
	}
}

func TestSplitStable(t *testing.T) {
	doc := knowledge.Document{ID: "kb/p.md", Title: "政策", Format: knowledge.FormatMarkdown, Tags: []string{"售后"}, Content: "# 政策\n\n" + policy}
	a := Split(doc, Options{MaxRunes: 40})
	b := Split(doc, Options{MaxRunes: 40})
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("two splits differ:\n%s", diff)
	}
	seen := map[string]bool{}
	for i, c := range a {
		if want := fmt.Sprintf("kb/p.md#%d", i); c.ID != want || seen[c.ID] {
			t.Errorf("chunk %d id %q, want %q once", i, c.ID, want)
		}
		seen[c.ID] = true
	}
	// Tags are copied: changing one chunk's leaves the others' alone.
	a[0].Tags[0] = "改了"
	if a[1].Tags[0] != "售后" || doc.Tags[0] != "售后" {
		t.Errorf("chunks share their tags")
	}
}
