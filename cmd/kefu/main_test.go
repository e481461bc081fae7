package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models/onnx"
)

var (
	repoRoot  = func() string { p, _ := filepath.Abs("../.."); return p }()
	demo      = filepath.Join(repoRoot, "testdata/bots/demo")
	demoModel = filepath.Join(demo, "model")
)

// needRuntime points kefu at the ONNX Runtime library, skipping locally and
// failing under CI when it is missing.
func needRuntime(t *testing.T) {
	t.Helper()
	if _, err := onnx.FindLibrary(""); err == nil {
		return
	}
	lib := filepath.Join(repoRoot, onnx.DefaultDir, onnx.LibraryName)
	if _, err := os.Stat(lib); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ONNX Runtime is required in CI: %v", err)
		}
		t.Skipf("ONNX Runtime not installed (%v); run %s", err, onnx.FixCommand)
	}
	t.Setenv(onnx.EnvLibrary, lib)
}

// kefuBin builds the kefu binary once per test run.
var kefuBin = func() func(t *testing.T) string {
	var path string
	return func(t *testing.T) string {
		t.Helper()
		if path != "" {
			return path
		}
		dir, err := os.MkdirTemp("", "kefu-bin-")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "kefu")
		out, err := exec.Command("go", "build", "-o", p, ".").CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		path = p
		return p
	}
}()

func runKefu(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	if code, _, stderr := runKefu(); code != 2 || !strings.Contains(stderr, "usage:") {
		t.Errorf("no args: code %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runKefu("frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: code %d, stderr %q", code, stderr)
	}
	if code, out, _ := runKefu("version"); code != 0 || !strings.HasPrefix(out, "kefu ") {
		t.Errorf("version: code %d, out %q", code, out)
	}
}

func TestCheck(t *testing.T) {
	needRuntime(t)
	code, out, stderr := runKefu("check", "--config", filepath.Join(demo, "kefu.yaml"))
	if code != 0 || !strings.Contains(out, "ok") || !strings.Contains(out, "intents") {
		t.Fatalf("check demo: code %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	bad := filepath.Join(t.TempDir(), "kefu.yaml")
	os.WriteFile(bad, []byte("models:\n  intent:\n    path: "+demoModel+"\n    treshold: 0.5\n"), 0o644)
	code, _, stderr = runKefu("check", "--config", bad)
	if code != 1 || !strings.Contains(stderr, "line 4: unknown key models.intent.treshold") {
		t.Errorf("bad key: code %d, stderr %q", code, stderr)
	}
	os.WriteFile(bad, []byte("models:\n  intent:\n    path: /nonexistent/model\n"), 0o644)
	code, _, stderr = runKefu("check", "--config", bad)
	if code != 1 || !strings.Contains(stderr, "models.intent") || !strings.Contains(stderr, "/nonexistent/model") {
		t.Errorf("missing model: code %d, stderr %q", code, stderr)
	}
}

// TestMissingLibrary runs the real binary without the library: one line
// saying where it looked and how to fix it, never a cgo stack trace.
func TestMissingLibrary(t *testing.T) {
	bin := kefuBin(t)
	cmd := exec.Command(bin, "check", "--config", filepath.Join(demo, "kefu.yaml"))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), onnx.EnvLibrary+"=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("check succeeded without the library:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "not found (looked in: ") || !strings.Contains(lines[0], "fetch-onnxruntime.sh") {
		t.Errorf("want one line naming where it looked and the fix, got:\n%s", out)
	}
	if strings.Contains(string(out), "goroutine") || strings.Contains(string(out), "SIGSEGV") {
		t.Errorf("stack trace in output:\n%s", out)
	}
}

func TestEvalJSON(t *testing.T) {
	needRuntime(t)
	code, out, stderr := runKefu("eval", "intents", "--model", demoModel, "--data", filepath.Join(demo, "intents/test.jsonl"), "--json")
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"accuracy", "in_scope_accuracy", "macro_f1", "oos_recall", "oos_precision", "n"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("missing key %q", k)
		}
	}
	if n := rep["n"].(float64); n < 250 {
		t.Errorf("n = %v, want the whole held-out set (>= 250)", n)
	}
	// The shipped model must stay useful; this fails if a retrain regresses badly.
	if acc := rep["in_scope_accuracy"].(float64); acc < 0.75 {
		t.Errorf("demo in-scope accuracy %.3f < 0.75", acc)
	}
}

// TestServe runs the real binary: it serves the demo bot, answers
// /v1/classify, and shuts down cleanly on SIGTERM.
func TestServe(t *testing.T) {
	needRuntime(t)
	bin := kefuBin(t)
	cmd := exec.Command(bin, "serve", "--config", filepath.Join(demo, "kefu.yaml"), "--addr", "127.0.0.1:0")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addrc := make(chan string, 1)
	var logs bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		re := regexp.MustCompile(`addr=(http://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-addrc:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	resp, err := http.Post(base+"/v1/classify", "application/json", strings.NewReader(`{"text":"我的快递到哪了"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct {
		Intent struct {
			Name       string  `json:"name"`
			Confidence float64 `json:"confidence"`
		} `json:"intent"`
		Ranking []struct{ Name string } `json:"ranking"`
		OOS     bool                    `json:"oos"`
	}
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
	if got.Intent.Name != "物流查询" || len(got.Ranking) != 5 {
		t.Errorf("classify: %s", body)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		r, err := http.Get(base + p)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", p, err, r)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if p == "/metrics" {
			for _, m := range []string{`kefu_model_inference_seconds_count{model="intent"}`, `kefu_http_requests_total{code="200",method="POST",route="/v1/classify"} 1`} {
				if !strings.Contains(string(b), m) {
					t.Errorf("/metrics lacks %s", m)
				}
			}
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		<-done
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
		if !strings.Contains(logs.String(), "stopped") {
			t.Errorf("no clean stop in logs:\n%s", logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop on SIGTERM")
	}
}
