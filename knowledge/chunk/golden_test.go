package chunk

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden reads and splits every file of testdata/kb and compares a dump
// of the documents, chunks and skipped lines with testdata/kb.golden.
func TestGolden(t *testing.T) {
	var b strings.Builder
	skipped, err := Walk([]string{"testdata/kb"}, func(id, path string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		docs, skipped, err := Read(id, data, []string{"kb"})
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "=== %s\n", id)
		for _, s := range skipped {
			fmt.Fprintf(&b, "skipped %s\n", s)
		}
		for _, d := range docs {
			fmt.Fprintf(&b, "doc %s %s title=%q tags=%q source=%s\n", d.ID, d.Format, d.Title, d.Tags, d.Source)
			for _, c := range Split(d, Options{MaxRunes: 60, OverlapRunes: 12}) {
				fmt.Fprintf(&b, "  chunk %s title=%q", c.ID, c.Title)
				if c.Answer != "" {
					fmt.Fprintf(&b, " questions=%q answer=%q", c.Questions, c.Answer)
				}
				fmt.Fprintf(&b, " tags=%q\n", c.Tags)
				for line := range strings.SplitSeq(c.Text, "\n") {
					fmt.Fprintf(&b, "    |%s\n", line)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range skipped {
		fmt.Fprintf(&b, "walk skipped %s\n", s)
	}
	got := b.String()
	golden := filepath.Join("testdata", "kb.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("dump differs from %s (-want +got; go test -update rewrites it):\n%s", golden, diff)
	}
}
