package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTorch skips locally and fails under CI when Debian's PyTorch is
// missing (make test installs it).
func needTorch(t *testing.T) {
	t.Helper()
	if err := exec.Command(defaultPython(), "-c", "import torch").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PyTorch is required in CI: %v (scripts/install-train-deps.sh)", err)
		}
		t.Skipf("PyTorch not installed: %v; run scripts/install-train-deps.sh", err)
	}
}

// smallData writes the first n examples of the first k demo intents.
func smallData(t *testing.T, k, n int) string {
	t.Helper()
	f, err := os.Open(filepath.Join(demo, "intents/train.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[string]int{}
	var out strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ex struct{ Intent string }
		json.Unmarshal(sc.Bytes(), &ex)
		if _, ok := counts[ex.Intent]; !ok && len(counts) >= k {
			continue
		}
		if counts[ex.Intent] >= n {
			continue
		}
		counts[ex.Intent]++
		out.WriteString(sc.Text() + "\n")
	}
	p := filepath.Join(t.TempDir(), "train.jsonl")
	os.WriteFile(p, []byte(out.String()), 0o644)
	return p
}

// TestTrainAndFineTune trains a small two-member ensemble with the embedded
// recipe, then fine-tunes from the checkpoint the recipe saved (--base),
// and checks that both load in kefu.
func TestTrainAndFineTune(t *testing.T) {
	needTorch(t)
	needRuntime(t)
	data := smallData(t, 6, 15)
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first"), filepath.Join(dir, "second")

	code, out, stderr := runKefu("train", "--data", data, "--out", first, "--epochs", "3", "--", "--augment", "0", "--members", "2", "--jobs", "2")
	if code != 0 {
		t.Fatalf("train: code %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "loads in kefu, 6 intents") || !strings.Contains(stderr, "[member 1] epoch 3/3") ||
		!strings.Contains(stderr, "ensemble: 2 members") || !strings.Contains(stderr, "validation:") {
		t.Errorf("train output lacks progress or scores:\nstdout %s\nstderr %s", out, stderr)
	}
	for _, f := range []string{"model.onnx", "config.json", "vocab.txt", "tokenizer_config.json", "pytorch_model.bin", "golden.json"} {
		if _, err := os.Stat(filepath.Join(first, f)); err != nil {
			t.Errorf("first model: %v", err)
		}
	}

	// The fine-tune also runs masked-LM pretraining on unlabelled text, both
	// in bfloat16 where the CPU has it.
	unlabelled := filepath.Join(dir, "logs.txt")
	os.WriteFile(unlabelled, []byte("我的快递三天了还没到\n这件衣服可以退吗\n优惠券怎么用不了\n"), 0o644)
	code, out, stderr = runKefu("train", "--data", data, "--base", first, "--out", second, "--epochs", "2",
		"--unlabelled", unlabelled, "--", "--augment", "0", "--mlm-epochs", "1", "--bf16")
	if code != 0 {
		t.Fatalf("train --base: code %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "base: loaded") || !strings.Contains(stderr, "mlm epoch 1/1") || !strings.Contains(out, "loads in kefu") {
		t.Errorf("fine-tune output:\nstdout %s\nstderr %s", out, stderr)
	}
	if !strings.Contains(stderr, "bfloat16 products") && !strings.Contains(stderr, "no native bfloat16") {
		t.Errorf("--bf16: neither used nor declined:\n%s", stderr)
	}
	// The fine-tuned model keeps the base's vocabulary.
	a, _ := os.ReadFile(filepath.Join(first, "vocab.txt"))
	b, _ := os.ReadFile(filepath.Join(second, "vocab.txt"))
	if string(a) != string(b) {
		t.Error("fine-tuning changed the vocabulary")
	}

	code, _, stderr = runKefu("train", "--data", data, "--base", t.TempDir(), "--out", filepath.Join(dir, "x"), "--epochs", "1")
	if code == 0 || !strings.Contains(stderr, "config.json") {
		t.Errorf("--base without a checkpoint: code %d, stderr %s", code, stderr)
	}
}

// TestTrainOutliers trains with unrelated text as extra out-of-scope
// examples, from a file and from WordNet's example sentences, and checks
// that the recipe refuses outliers when the data has no oos class.
func TestTrainOutliers(t *testing.T) {
	needTorch(t)
	needRuntime(t)
	dir := t.TempDir()
	data := smallData(t, 5, 10) // the demo's first intent is oos
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.Contains(line, `"intent": "oos"`) {
			kept = append(kept, line)
		}
	}
	if len(kept) != 40 {
		t.Fatalf("want 40 in-scope examples from 4 intents, got %d", len(kept))
	}
	withoutOOS := filepath.Join(dir, "in-scope.jsonl")
	if err := os.WriteFile(withoutOOS, []byte(strings.Join(kept, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outliers := filepath.Join(dir, "outliers.txt")
	if err := os.WriteFile(outliers, []byte("明天会下雨吗\n讲个笑话\n{\"text\": \"股票怎么买\"}\n\n火星离地球多远\n我要退货退款\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "model")
	code, stdout, stderr := runKefu("train", "--data", data, "--out", out, "--epochs", "1", "--",
		"--augment", "0", "--outliers", outliers, "--outlier-count", "3")
	if code != 0 {
		t.Fatalf("train --outliers: code %d\n%s\n%s", code, stdout, stderr)
	}
	// 我要退货退款 shares 退货 with the demo's 退货 intent: labelled oos,
	// it would contradict that intent's examples, so the recipe drops it.
	if !strings.Contains(stderr, "outliers: 4 texts (1 more shared an intent's words), 3 a epoch") {
		t.Errorf("stderr does not report 4 outlier texts kept and 1 dropped:\n%s", stderr)
	}
	var conf struct {
		Kefu struct {
			Recipe struct {
				Outliers     []string `json:"outliers"`
				OutlierCount int      `json:"outlier_count"`
			} `json:"recipe"`
		} `json:"kefu"`
	}
	b, err = os.ReadFile(filepath.Join(out, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	if r := conf.Kefu.Recipe; len(r.Outliers) != 1 || r.OutlierCount != 3 {
		t.Errorf("config.json recipe: outliers %v, count %d; want the file and 3", r.Outliers, r.OutlierCount)
	}

	code, _, stderr = runKefu("train", "--data", data, "--out", filepath.Join(dir, "wn"), "--epochs", "1", "--",
		"--augment", "0", "--wordnet", "/usr/share/wordnet", "--wordnet-outliers", "--outlier-count", "20")
	if code != 0 {
		t.Fatalf("train --wordnet-outliers: code %d\n%s", code, stderr)
	}
	var n, dropped, k int
	for _, line := range strings.Split(stderr, "\n") {
		if _, err := fmt.Sscanf(line, "outliers: %d texts (%d more shared an intent's words), %d a epoch", &n, &dropped, &k); err == nil {
			break
		}
	}
	if n < 20000 || k != 20 {
		t.Errorf("WordNet gave %d example sentences, %d a epoch; want tens of thousands and 20\n%s", n, k, stderr)
	}

	code, _, stderr = runKefu("train", "--data", withoutOOS, "--out", filepath.Join(dir, "x"), "--epochs", "1", "--",
		"--outliers", outliers)
	if code == 0 || !strings.Contains(stderr, "needs oos examples") {
		t.Errorf("outliers without oos data: code %d, stderr %s", code, stderr)
	}

	missing := filepath.Join(dir, "no-such.txt")
	code, _, stderr = runKefu("train", "--data", data, "--out", filepath.Join(dir, "y"), "--epochs", "1", "--",
		"--outliers", missing)
	if code == 0 || !strings.Contains(stderr, missing+": No such file") || strings.Contains(stderr, "Traceback") {
		t.Errorf("missing outlier file: code %d, stderr %s", code, stderr)
	}
}
