package parse_test

import (
	"os"
	"testing"

	"github.com/kefu-chat/kefu/dsl/format"
	"github.com/kefu-chat/kefu/dsl/parse"
)

// BenchmarkParse parses testdata/bench.kefu, a realistic 100-line file.
func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile("testdata/bench.kefu")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := parse.File("bench.kefu", src); errs != nil {
			b.Fatal(errs)
		}
	}
}

// BenchmarkFormat parses and prints the same file, as kefu fmt does.
func BenchmarkFormat(b *testing.B) {
	src, err := os.ReadFile("testdata/bench.kefu")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := format.Format("bench.kefu", src); errs != nil {
			b.Fatal(errs)
		}
	}
}
