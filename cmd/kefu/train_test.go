package main

import (
	"bufio"
	"encoding/json"
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

	code, out, stderr = runKefu("train", "--data", data, "--base", first, "--out", second, "--epochs", "2", "--", "--augment", "0")
	if code != 0 {
		t.Fatalf("train --base: code %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "base: loaded") || !strings.Contains(out, "loads in kefu") {
		t.Errorf("fine-tune output:\nstdout %s\nstderr %s", out, stderr)
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
