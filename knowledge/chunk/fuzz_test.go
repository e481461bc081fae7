package chunk

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/kefu-chat/kefu/knowledge"
)

var fuzzExts = []string{".md", ".txt", ".jsonl", ".json", ".csv"}

// FuzzRead reads arbitrary files of every format and splits what it gets:
// no panic, every skip explained, every chunk within limits and valid
// UTF-8, ids stable, FAQ entries one chunk each.
func FuzzRead(f *testing.F) {
	err := filepath.WalkDir("testdata/kb", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ext := slices.Index(fuzzExts, filepath.Ext(path))
		f.Add(uint8(ext), data, uint8(40))
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), []byte("# 标题\n\n## 小节\n\n正文。正文！\n\n```\n# 代码\n```\n标题二\n==="), uint8(5))
	f.Add(uint8(3), []byte(`[{"question":"问","answer":"答","tags":"a|b"}, 1, {"问题":"问二"}]`), uint8(1))
	f.Add(uint8(4), []byte("\uFEFFquestion,answer,questions\n\"问\"\"一\",\"答\n一\",别名|别名\n问二,\"答二"), uint8(0))

	f.Fuzz(func(t *testing.T, ext uint8, data []byte, maxRunes uint8) {
		id := "dir/file" + fuzzExts[int(ext)%len(fuzzExts)]
		docs, skipped, err := Read(id, data, []string{"kb"})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		for _, s := range skipped {
			if s.Source != id || s.Line < 0 || s.Reason == "" || !utf8.ValidString(s.Reason) {
				t.Errorf("bad Skipped %+v", s)
			}
		}
		opts := Options{MaxRunes: int(maxRunes), OverlapRunes: int(maxRunes) / 5}
		limit, overlap := opts.limits()
		for _, d := range docs {
			if d.ID == "" || !utf8.ValidString(d.Content) || !utf8.ValidString(d.Title) {
				t.Fatalf("bad document %+v", d)
			}
			chunks := Split(d, opts)
			if diff := cmp.Diff(chunks, Split(d, opts)); diff != "" {
				t.Fatalf("two splits differ:\n%s", diff)
			}
			if d.Format == knowledge.FormatFAQ && len(chunks) != 1 {
				t.Fatalf("FAQ entry %q gave %d chunks", d.ID, len(chunks))
			}
			for i, c := range chunks {
				if c.ID != fmt.Sprintf("%s#%d", d.ID, i) || c.Position != i || c.DocID != d.ID {
					t.Errorf("chunk %d: id %q, position %d, doc %q", i, c.ID, c.Position, c.DocID)
				}
				if !utf8.ValidString(c.Text) || !utf8.ValidString(c.Title) || strings.TrimSpace(c.Text) == "" {
					t.Errorf("chunk %s: text %q, title %q", c.ID, c.Text, c.Title)
				}
				if n := utf8.RuneCountInString(c.Text); d.Format != knowledge.FormatFAQ && n > limit {
					t.Errorf("chunk %s has %d runes, more than %d", c.ID, n, limit)
				}
				if d.Format == knowledge.FormatFAQ && (c.Answer == "" || len(c.Questions) == 0 || c.Title != c.Questions[0]) {
					t.Errorf("FAQ chunk %+v", c)
				}
			}
			if d.Format == knowledge.FormatText {
				checkPieces(t, d.Content, limit, overlap)
			}
		}
	})
}
