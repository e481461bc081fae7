package chunk

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeTree writes files (path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWalk(t *testing.T) {
	root := t.TempDir()
	kb := filepath.Join(root, "kb")
	writeTree(t, kb, map[string]string{
		"退换货政策.md":        "# 退换货政策\n",
		"售后/faq.jsonl":    "{}",
		"售后/faq.csv":      "问题,答案\n",
		"售后/子目录/说明.TXT":   "说明",
		"手册.pdf":          "%PDF",
		"README":          "readme",
		".hidden.md":      "隐藏",
		".git/config.md":  "隐藏目录",
		"售后/~$faq.csv":    "Excel 锁文件",
		"售后/faq.csv~":     "备份",
		"草稿/.DS_Store":    "",
		"售后/notes.md.bak": "备份",
	})
	other := filepath.Join(root, "other")
	writeTree(t, other, map[string]string{"售后/faq.csv": "问题,答案\n", "单独.md": "# 单独\n"})
	if runtime.GOOS != "windows" {
		if err := os.Symlink(filepath.Join(kb, "售后"), filepath.Join(kb, "链接")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(kb, "退换货政策.md"), filepath.Join(kb, "链接.md")); err != nil {
			t.Fatal(err)
		}
	}

	type visit struct{ ID, Path string }
	var got []visit
	skipped, err := Walk([]string{kb, other, filepath.Join(other, "单独.md")}, func(id, path string) error {
		got = append(got, visit{id, path})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []visit{
		{"售后/faq.csv", filepath.Join(kb, "售后", "faq.csv")},
		{"售后/faq.jsonl", filepath.Join(kb, "售后", "faq.jsonl")},
		{"售后/子目录/说明.TXT", filepath.Join(kb, "售后", "子目录", "说明.TXT")},
		{"退换货政策.md", filepath.Join(kb, "退换货政策.md")},
		{"链接.md", filepath.Join(kb, "链接.md")},
		{"单独.md", filepath.Join(other, "单独.md")},
	}
	wantSkipped := []string{
		"README: unsupported file type (no extension)",
		"售后/notes.md.bak: unsupported file type .bak",
		"手册.pdf: unsupported file type .pdf",
		"链接: symbolic link to a directory (not followed)",
		"售后/faq.csv: duplicate id: also " + filepath.Join(other, "售后", "faq.csv") + ", ingested from " + filepath.Join(kb, "售后", "faq.csv"),
		"单独.md: duplicate id: also " + filepath.Join(other, "单独.md") + ", ingested from " + filepath.Join(other, "单独.md"),
	}
	if runtime.GOOS == "windows" {
		want = append(want[:4], want[5:]...)
		wantSkipped = append(wantSkipped[:3], wantSkipped[4:]...)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("visits (-want +got):\n%s", diff)
	}
	var gotSkipped []string
	for _, s := range skipped {
		gotSkipped = append(gotSkipped, s.String())
	}
	if diff := cmp.Diff(wantSkipped, gotSkipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

func TestWalkFile(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a/b/运费.md": "# 运费\n"})
	var ids []string
	_, err := Walk([]string{filepath.Join(dir, "a", "b", "运费.md")}, func(id, _ string) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil || len(ids) != 1 || ids[0] != "运费.md" {
		t.Errorf("Walk(file) = %q, %v; want [运费.md]", ids, err)
	}
}

func TestWalkErrors(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.md": "x", "b.md": "y"})

	// An error from fn stops the walk and comes back as it is.
	stop := errors.New("stop")
	calls := 0
	_, err := Walk([]string{dir}, func(string, string) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("Walk with a failing fn = %v after %d calls; want stop after 1", err, calls)
	}

	// A path that does not exist is an error.
	_, err = Walk([]string{filepath.Join(dir, "没有")}, func(string, string) error { return nil })
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Walk(missing) = %v, want ErrNotExist", err)
	}
}
