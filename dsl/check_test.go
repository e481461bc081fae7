package dsl_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/tools/txtar"

	"github.com/kefu-chat/kefu/dsl"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testSchema is the bot the golden flows are checked against.
var testSchema = dsl.Schema{
	Intents:  []string{"退货申请", "退款咨询", "投诉", "物流查询", "问候", "发票"},
	Entities: []string{"order_id", "phone", "email", "number", "amount", "date", "time"},
	Services: map[string]map[string][]string{
		"订单服务": {"查询": {"订单号"}, "退货": {"订单号", "原因"}},
	},
	Routes: []string{"default", "售后"},
}

// TestCheck loads each testdata/check/*.txtar archive: its .kefu files are
// flows, and its "errors" file is what kefu check prints for them (empty
// when they are fine). Run with -update to rewrite the expectations.
func TestCheck(t *testing.T) {
	files, _ := filepath.Glob("testdata/check/*.txtar")
	if len(files) == 0 {
		t.Fatal("no test cases")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fsys := fstest.MapFS{}
			var names []string
			wantIdx := -1
			for i, f := range ar.Files {
				if f.Name == "errors" {
					wantIdx = i
					continue
				}
				fsys[f.Name] = &fstest.MapFile{Data: f.Data}
				names = append(names, f.Name)
			}
			_, err = dsl.LoadFS(fsys, names, testSchema)
			got := ""
			if err != nil {
				var list dsl.ErrorList
				if !errors.As(err, &list) {
					t.Fatalf("not an ErrorList: %v", err)
				}
				got = list.Render() + "\n"
			}
			if *update {
				if wantIdx < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "errors"})
					wantIdx = len(ar.Files) - 1
				}
				ar.Files[wantIdx].Data = []byte(got)
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := ""
			if wantIdx >= 0 {
				want = string(ar.Files[wantIdx].Data)
			}
			if strings.TrimSpace(got) != strings.TrimSpace(want) {
				t.Errorf("errors differ\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}
