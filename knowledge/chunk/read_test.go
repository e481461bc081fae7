package chunk

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kefu-chat/kefu/knowledge"
)

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		in      string
		tags    []string
		want    []knowledge.Document
		skipped []string // Skipped.String()
	}{
		{
			name: "markdown titled by its first level-1 heading",
			id:   "售后/退换货.md", in: "前言\n\n## 小节\n\n# 退换货政策\n\n正文", tags: []string{"售后", " ", "售后"},
			want: []knowledge.Document{{ID: "售后/退换货.md", Title: "退换货政策", Format: knowledge.FormatMarkdown, Tags: []string{"售后"}, Source: "售后/退换货.md", Content: "前言\n\n## 小节\n\n# 退换货政策\n\n正文"}},
		},
		{
			name: "markdown titled by its front matter",
			id:   "a.markdown", in: "---\ntitle: \"运费说明\"\n---\n## 运费\n十元\n",
			want: []knowledge.Document{{ID: "a.markdown", Title: "运费说明", Format: knowledge.FormatMarkdown, Source: "a.markdown", Content: "---\ntitle: \"运费说明\"\n---\n## 运费\n十元\n"}},
		},
		{
			name: "markdown titled by its file name; BOM and CRLF dropped",
			id:   "kb/运费.MD", in: "\uFEFF## 运费\r\n\r\n十元\r\n",
			want: []knowledge.Document{{ID: "kb/运费.MD", Title: "运费", Format: knowledge.FormatMarkdown, Source: "kb/运费.MD", Content: "## 运费\n\n十元\n"}},
		},
		{
			name: "text titled by its first line",
			id:   "配送.txt", in: "配送说明\n\n当天发货。",
			want: []knowledge.Document{{ID: "配送.txt", Title: "配送说明", Format: knowledge.FormatText, Source: "配送.txt", Content: "配送说明\n\n当天发货。"}},
		},
		{
			name: "text titled by its file name",
			id:   "配送.txt", in: "当天发货。\n周末不发货。",
			want: []knowledge.Document{{ID: "配送.txt", Title: "配送", Format: knowledge.FormatText, Source: "配送.txt", Content: "当天发货。\n周末不发货。"}},
		},
		{
			name: "JSON Lines",
			id:   "faq.jsonl", tags: []string{"kb"},
			in: `{"id": "r1", "question": "退款多久到账？", "answer": "1-3 个工作日。", "tags": ["退款", "kb"], "questions": ["钱什么时候退", "退款多久到账？"]}

{"ID": 42, "Question": " 可以开发票吗？ ", "answer": "可以。\n电子发票。", "tags": "发票| 财务 |", "alternatives": "能开票吗|要发票"}
{"问题": "支持货到付款吗？", "答案": "不支持。", "similar": ["能到付吗"], "相似问题": ["货到付款行吗"], "分类": "支付", "extra": {"x": 1}}
`,
			want: []knowledge.Document{
				{ID: "r1", Title: "退款多久到账？", Questions: []string{"退款多久到账？", "钱什么时候退"}, Format: knowledge.FormatFAQ, Tags: []string{"kb", "退款"}, Source: "faq.jsonl:1", Content: "1-3 个工作日。"},
				{ID: "42", Title: "可以开发票吗？", Questions: []string{"可以开发票吗？", "能开票吗", "要发票"}, Format: knowledge.FormatFAQ, Tags: []string{"kb", "发票", "财务"}, Source: "faq.jsonl:3", Content: "可以。\n电子发票。"},
				{ID: "faq.jsonl#4", Title: "支持货到付款吗？", Questions: []string{"支持货到付款吗？", "能到付吗", "货到付款行吗"}, Format: knowledge.FormatFAQ, Tags: []string{"kb", "支付"}, Source: "faq.jsonl:4", Content: "不支持。"},
			},
		},
		{
			name: "JSON Lines errors",
			id:   "faq.jsonl",
			in: `{"id": "a", "question": "问一", "answer": "答一"}
{"id": "b", "question": "问二", "answer":
{"id": "c", "question": "问三"}
{"id": "d", "answer": "答四"}
{"id": "e", "question": " ", "answer": null}
{"id": "a", "question": "问六", "answer": "答六"}
["数组"]
"字符串"
{"id": "g", "question": ["问七"], "answer": "答七"}
{"id": "h", "question": "问八", "answer": "答八", "tags": [1, {"x": 2}]}
{"id": "i", "question": "问九", "answer": "答九"} 多余
`,
			want: []knowledge.Document{{ID: "a", Title: "问一", Questions: []string{"问一"}, Format: knowledge.FormatFAQ, Source: "faq.jsonl:1", Content: "答一"}},
			skipped: []string{
				`faq.jsonl:2: invalid JSON: the line ends inside the entry (JSON Lines: one entry a line)`,
				`faq.jsonl:3: missing "answer"`,
				`faq.jsonl:4: missing "question"`,
				`faq.jsonl:5: missing "question" and "answer"`,
				`faq.jsonl:6: duplicate id "a" (first at faq.jsonl:1)`,
				`faq.jsonl:7: not a JSON object`,
				`faq.jsonl:8: not a JSON object`,
				`faq.jsonl:9: "question": want a string`,
				`faq.jsonl:10: "tags": want an array of strings`,
				`faq.jsonl:11: invalid JSON at column 47: invalid character '多' after top-level value`,
			},
		},
		{
			name: "JSON array",
			id:   "faq.json",
			in: `[
  {"id": "a", "question": "问一", "answer": "答一"},
  {"id": "b",
   "question": "问二"},
  {"question": "问三", "answer": "答三"}
]`,
			want: []knowledge.Document{
				{ID: "a", Title: "问一", Questions: []string{"问一"}, Format: knowledge.FormatFAQ, Source: "faq.json:2", Content: "答一"},
				{ID: "faq.json#5", Title: "问三", Questions: []string{"问三"}, Format: knowledge.FormatFAQ, Source: "faq.json:5", Content: "答三"},
			},
			skipped: []string{`faq.json:3: missing "answer"`},
		},
		{
			name:    "JSON array with a syntax error",
			id:      "faq.json",
			in:      "[\n{\"question\": \"问一\", \"answer\": \"答一\"},\n{\"question\": \"问二\" \"answer\": \"答二\"},\n{\"question\": \"问三\", \"answer\": \"答三\"}\n]",
			want:    []knowledge.Document{{ID: "faq.json#2", Title: "问一", Questions: []string{"问一"}, Format: knowledge.FormatFAQ, Source: "faq.json:2", Content: "答一"}},
			skipped: []string{`faq.json:3: invalid JSON at column 18: invalid character '"' after object key:value pair; the rest of the file is skipped`},
		},
		{
			name: "a .json file of JSON Lines",
			id:   "faq.json",
			in:   "{\"question\": \"问一\", \"answer\": \"答一\"}\n{\"question\": \"问二\", \"answer\": \"答二\"}\n",
			want: []knowledge.Document{
				{ID: "faq.json#1", Title: "问一", Questions: []string{"问一"}, Format: knowledge.FormatFAQ, Source: "faq.json:1", Content: "答一"},
				{ID: "faq.json#2", Title: "问二", Questions: []string{"问二"}, Format: knowledge.FormatFAQ, Source: "faq.json:2", Content: "答二"},
			},
		},
		{
			name: "CSV with Chinese headers, BOM and quoting",
			id:   "faq.csv", tags: []string{"kb"},
			in: "\uFEFF问题,答案,标签,相似问题,备注\r\n" +
				"怎么改地址？,\"发货前可改，已发货请联系客服。\",物流|地址,改地址|地址填错了,内部\r\n" +
				"\"快递用哪家？\",\"默认顺丰。\r\n偏远地区用邮政。\",物流\r\n" +
				"\"说“包邮”是真的吗？\",\"是的，\"\"全场包邮\"\"。\",,,\r\n" +
				",,,,\r\n" +
				"没有答案,,,,\r\n",
			want: []knowledge.Document{
				{ID: "faq.csv#2", Title: "怎么改地址？", Questions: []string{"怎么改地址？", "改地址", "地址填错了"}, Format: knowledge.FormatFAQ, Tags: []string{"kb", "物流", "地址"}, Source: "faq.csv:2", Content: "发货前可改，已发货请联系客服。"},
				{ID: "faq.csv#3", Title: "快递用哪家？", Questions: []string{"快递用哪家？"}, Format: knowledge.FormatFAQ, Tags: []string{"kb", "物流"}, Source: "faq.csv:3", Content: "默认顺丰。\n偏远地区用邮政。"},
				{ID: "faq.csv#4", Title: "说“包邮”是真的吗？", Questions: []string{"说“包邮”是真的吗？"}, Format: knowledge.FormatFAQ, Tags: []string{"kb"}, Source: "faq.csv:4", Content: `是的，"全场包邮"。`},
			},
			skipped: []string{`faq.csv:6: missing "answer"`},
		},
		{
			name: "CSV with English headers in any order and case",
			id:   "faq.csv",
			in:   "Answer, QUESTION ,Tags,ID,Questions\n答一,问一,a|b,q1,问一别名\n答二,问二,,q1,\n答三,,,,\n",
			want: []knowledge.Document{
				{ID: "q1", Title: "问一", Questions: []string{"问一", "问一别名"}, Format: knowledge.FormatFAQ, Tags: []string{"a", "b"}, Source: "faq.csv:2", Content: "答一"},
			},
			skipped: []string{`faq.csv:3: duplicate id "q1" (first at faq.csv:2)`, `faq.csv:4: missing "question"`},
		},
		{
			name:    "CSV without a question column",
			id:      "faq.csv",
			in:      "q,a\n问,答\n",
			skipped: []string{`faq.csv:1: no "question" column in the header (want columns id, question, answer, tags, questions, or 问题, 答案, 标签, 相似问题)`},
		},
		{
			name: "CSV quote errors",
			id:   "faq.csv",
			in:   "question,answer\n问一,答一\n问\"二,答二\n\"问三\"x,答三\n问四,答四\n\"问五,答五\n问六,答六\n",
			want: []knowledge.Document{
				{ID: "faq.csv#2", Title: "问一", Questions: []string{"问一"}, Format: knowledge.FormatFAQ, Source: "faq.csv:2", Content: "答一"},
				{ID: "faq.csv#5", Title: "问四", Questions: []string{"问四"}, Format: knowledge.FormatFAQ, Source: "faq.csv:5", Content: "答四"},
			},
			skipped: []string{
				`faq.csv:3: invalid CSV: a " inside an unquoted cell: quote the cell and double the " in it ("")`,
				`faq.csv:4: invalid CSV: a quoted cell is not closed, or has a " in it that is not doubled ("")`,
				`faq.csv:6: invalid CSV: a quoted cell is not closed, or has a " in it that is not doubled ("")`,
			},
		},
		{
			name:    "empty file",
			id:      "a.md",
			in:      " \n\t\n",
			skipped: []string{"a.md: empty file"},
		},
		{
			name:    "GBK",
			id:      "faq.csv",
			in:      "question,answer\n\xce\xca,\xb4\xf0\n",
			skipped: []string{"faq.csv:2: not valid UTF-8 (GBK?): save the file as UTF-8"},
		},
		{
			name:    "UTF-16",
			id:      "a.txt",
			in:      "\xff\xfea\x00",
			skipped: []string{"a.txt: UTF-16 text: save the file as UTF-8"},
		},
		{
			name:    "binary",
			id:      "a.txt",
			in:      "abc\n\x00\x01",
			skipped: []string{"a.txt:2: binary file (a NUL byte)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, skipped, err := Read(tt.id, []byte(tt.in), tt.tags)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, docs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("documents (-want +got):\n%s", diff)
			}
			var got []string
			for _, s := range skipped {
				got = append(got, s.String())
			}
			if diff := cmp.Diff(tt.skipped, got); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadUnsupported(t *testing.T) {
	_, _, err := Read("手册.pdf", []byte("%PDF"), nil)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"手册.pdf"`) {
		t.Errorf("Read(.pdf) error = %v, want ErrUnsupported naming the file", err)
	}
	for name, want := range map[string]bool{"a.md": true, "b/C.CSV": true, "x.jsonl": true, "x.json": true, "a.txt": true, "a.markdown": true, "a.pdf": false, "md": false, "a.md.bak": false} {
		if got := Supported(name); got != want {
			t.Errorf("Supported(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestReadTagsNotShared checks that every FAQ document has its own tags.
func TestReadTagsNotShared(t *testing.T) {
	docs, _, _ := Read("f.jsonl", []byte(`{"question":"问一","answer":"答一","tags":"x"}`+"\n"+`{"question":"问二","answer":"答二","tags":"y"}`), []string{"kb"})
	if len(docs) != 2 {
		t.Fatalf("got %d documents", len(docs))
	}
	if diff := cmp.Diff([][]string{{"kb", "x"}, {"kb", "y"}}, [][]string{docs[0].Tags, docs[1].Tags}); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}

// TestReadSplit checks Read and Split together: an FAQ file gives one
// chunk per entry, with its question and alternatives.
func TestReadSplit(t *testing.T) {
	docs, _, err := Read("faq.csv", []byte("问题,答案,相似问题\n退款多久到账？,1-3 个工作日。,钱什么时候退|退款几天到\n"), []string{"售后"})
	if err != nil {
		t.Fatal(err)
	}
	var got []knowledge.Chunk
	for _, d := range docs {
		got = append(got, Split(d, Options{})...)
	}
	want := []knowledge.Chunk{{
		ID: "faq.csv#2#0", DocID: "faq.csv#2", Title: "退款多久到账？",
		Text: "问：退款多久到账？\n答：1-3 个工作日。", Answer: "1-3 个工作日。",
		Questions: []string{"退款多久到账？", "钱什么时候退", "退款几天到"}, Tags: []string{"售后"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
}

func TestFormatOf(t *testing.T) {
	for name, want := range map[string]string{"a/配送.md": "markdown", "x.MARKDOWN": "markdown", "n.txt": "text", "f.jsonl": "faq-jsonl", "f.json": "faq-jsonl", "f.csv": "faq-csv", "p.png": "", "noext": ""} {
		if got := FormatOf(name); got != want {
			t.Errorf("FormatOf(%q) = %q, want %q", name, got, want)
		}
		if want != "" {
			if ext, ok := Extension(want); !ok || !Supported("x"+ext) {
				t.Errorf("Extension(%q) = %q, %v", want, ext, ok)
			}
		}
	}
}
