package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/knowledge/embedded"
	"github.com/kefu-chat/kefu/knowledge/qdrant/qdranttest"
	"github.com/kefu-chat/kefu/models/onnx"
	"github.com/kefu-chat/kefu/providers/openai/openaitest"
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

// demoConfig writes a copy of the demo bot's config whose paths are
// absolute and whose sessions live in dir, so tests never touch the
// repository's own session file.
func demoConfig(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(demo, "kefu.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(
		"path: model", "path: "+demoModel,
		"path: knowledge-model", "path: "+filepath.Join(demo, "knowledge-model"),
		`flows: ["flows/*.kefu"]`, `flows: ["`+filepath.Join(demo, "flows")+`/*.kefu"]`,
		"path: data/sessions.db", "path: "+filepath.Join(dir, "sessions.db"),
		"path: data/knowledge.db", "path: "+filepath.Join(dir, "knowledge.db"),
		"sources: [knowledge]", "sources: ["+filepath.Join(demo, "knowledge")+"]",
	).Replace(string(data))
	if !strings.Contains(s, dir) || !strings.Contains(s, demoModel) {
		t.Fatal("demo kefu.yaml changed shape; update demoConfig")
	}
	path := filepath.Join(dir, "kefu.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// server is a running kefu serve.
type server struct {
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
	done chan struct{}
}

func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(kefuBin(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	s := &server{cmd: cmd, logs: new(bytes.Buffer), done: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		defer close(s.done)
		re := regexp.MustCompile(`addr=(http://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.logs.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
			}
		}
	}()
	select {
	case s.base = <-addrc:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	return s
}

// stop sends SIGTERM and checks for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- s.cmd.Wait() }()
	select {
	case err := <-errc:
		<-s.done
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, s.logs.String())
		}
		if !strings.Contains(s.logs.String(), "stopped") {
			t.Errorf("no clean stop in logs:\n%s", s.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop on SIGTERM")
	}
}

func postJSON(t *testing.T, url, body string, out any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("POST %s: %v\n%s", url, err, data)
		}
	}
	return resp.StatusCode
}

// TestServe runs the real binary: it serves the demo bot, answers
// /v1/classify and /v1/chat, and shuts down cleanly on SIGTERM.
func TestServe(t *testing.T) {
	needRuntime(t)
	s := startServer(t, "--config", demoConfig(t, t.TempDir()))
	var got struct {
		Intent struct {
			Name       string  `json:"name"`
			Confidence float64 `json:"confidence"`
		} `json:"intent"`
		Ranking []struct{ Name string } `json:"ranking"`
		OOS     bool                    `json:"oos"`
	}
	if code := postJSON(t, s.base+"/v1/classify", `{"text":"我的快递到哪了"}`, &got); code != 200 {
		t.Fatalf("classify status %d", code)
	}
	if got.Intent.Name != "物流查询" || len(got.Ranking) != 5 {
		t.Errorf("classify: %+v", got)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		r, err := http.Get(s.base + p)
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
	s.stop(t)
}

type chatReply struct {
	SessionID string `json:"session_id"`
	TurnID    string `json:"turn_id"`
	Replies   []struct{ Type, Text string }
	Route     string `json:"route"`
	Intent    struct{ Name string }
	Flow      *struct{ Name, Step string }
	Timings   map[string]float64
}

// TestChatSurvivesRestart talks to kefu serve --demo over HTTP, stops it in
// the middle of a flow, starts it again on the same session file, and
// finishes the flow: nothing acknowledged is lost.
func TestChatSurvivesRestart(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	cfg := demoConfig(t, dir)
	s := startServer(t, "--config", cfg, "--demo")
	var r chatReply
	if code := postJSON(t, s.base+"/v1/chat", `{"session_id":"web-1","text":"我要退货"}`, &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	if r.Route != "flow" || r.Flow == nil || r.Flow.Name != "退货" || len(r.Replies) != 1 || r.Replies[0].Text != "请问您的订单号是多少？" {
		t.Fatalf("turn 1: %+v", r)
	}
	if r.TurnID == "" || r.Timings["total_ms"] <= 0 {
		t.Errorf("turn id and timings: %+v", r)
	}
	s.stop(t)

	s = startServer(t, "--config", cfg, "--demo")
	if code := postJSON(t, s.base+"/v1/chat", `{"session_id":"web-1","text":"A2024112200001"}`, &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	if len(r.Replies) != 1 || r.Replies[0].Text != "订单 A2024112200001 还在路上，您可以拒收，或签收后 7 天内申请退货。" {
		t.Fatalf("after restart: %+v", r)
	}
	resp, err := http.Get(s.base + "/v1/sessions/web-1")
	if err != nil {
		t.Fatal(err)
	}
	var view struct {
		Turns     []struct{ Text string }
		Variables map[string]any
	}
	json.NewDecoder(resp.Body).Decode(&view)
	resp.Body.Close()
	if len(view.Turns) != 2 || view.Variables["订单状态"] != "已发货" {
		t.Fatalf("session: %+v", view)
	}
	var e struct{ Error struct{ Code string } }
	if code := postJSON(t, s.base+"/v1/chat", `{"sesion_id":"x","text":"hi"}`, &e); code != 400 || e.Error.Code != "unknown_field" {
		t.Errorf("typo: %d %+v", code, e)
	}
	// The knowledge base was ingested at start; documents can be added.
	var hits struct {
		Hits []struct {
			DocID string  `json:"doc_id"`
			Score float64 `json:"score"`
		}
	}
	if code := postJSON(t, s.base+"/v1/knowledge/search", `{"query":"可以货到付款吗","top_k":3}`, &hits); code != 200 || len(hits.Hits) == 0 || hits.Hits[0].DocID != "pay-006" {
		t.Errorf("search: %d %+v", code, hits)
	}
	var ing struct{ Documents, Chunks int }
	if code := postJSON(t, s.base+"/v1/knowledge/documents", `{"id":"notice.md","content":"# 春节放假通知\n\n春节期间（2月1日至2月7日）暂停发货，2月8日起按付款顺序发出。"}`, &ing); code != 200 || ing.Documents != 1 {
		t.Errorf("put document: %d %+v", code, ing)
	}
	found := false
	if code := postJSON(t, s.base+"/v1/knowledge/search", `{"query":"春节放假期间暂停发货吗","top_k":3}`, &hits); code == 200 {
		for _, h := range hits.Hits {
			found = found || h.DocID == "notice.md"
		}
	}
	if !found {
		t.Errorf("search after upload: %+v", hits)
	}
	s.stop(t)
}

// TestConversations runs the demo bot's conversation scripts, as make test
// and a business user's kefu test do.
func TestConversations(t *testing.T) {
	needRuntime(t)
	code, out, stderr := runKefu("test", "--demo", "--config", filepath.Join(demo, "kefu.yaml"), filepath.Join(demo, "conversations"))
	if code != 0 {
		t.Fatalf("kefu test: code %d\n%s\n%s", code, out, stderr)
	}
	if n := strings.Count(out, "\n"); n < 1 || !regexp.MustCompile(`(\d+) scripts, (\d+) passed, 0 failed`).MatchString(out) {
		t.Fatalf("summary: %s", out)
	}
	m := regexp.MustCompile(`(\d+) scripts`).FindStringSubmatch(out)
	if m == nil || len(m[1]) < 2 || m[1] < "30" {
		t.Errorf("want at least 30 scripts: %s", out)
	}
}

// TestTestFails checks that kefu test exits non-zero and prints a diff.
func TestTestFails(t *testing.T) {
	needRuntime(t)
	script := filepath.Join(t.TempDir(), "wrong.txt")
	os.WriteFile(script, []byte("# 错误的期望\n> 你好\n< 你好呀\n"), 0o644)
	code, out, _ := runKefu("test", "--config", filepath.Join(demo, "kefu.yaml"), script)
	if code != 1 || !strings.Contains(out, "wrong.txt:3") || !strings.Contains(out, "want: 你好呀") || !strings.Contains(out, "got:") {
		t.Fatalf("code %d\n%s", code, out)
	}
}

// TestCheckFlows checks that kefu check reports every flow error with its
// position, the source line, a caret and a hint.
func TestCheckFlows(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "flows"), 0o755)
	os.WriteFile(filepath.Join(dir, "flows", "a.kefu"), []byte("flow 退货\n  on intent 退或\n  sya \"好的\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "flows", "b.kefu"), []byte("when 问候 then trigger 售后\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "kefu.yaml"), []byte("models:\n  intent:\n    path: "+demoModel+"\nflows: [\"flows/*.kefu\"]\n"), 0o644)
	code, out, stderr := runKefu("check", "--config", filepath.Join(dir, "kefu.yaml"))
	if code != 1 || !strings.Contains(stderr, "errors in flows") {
		t.Fatalf("code %d, stderr %s", code, stderr)
	}
	for _, want := range []string{
		filepath.Join(dir, "flows", "a.kefu") + ":2:13: unknown intent \"退或\"",
		`hint: did you mean "退货"?`,
		filepath.Join(dir, "flows", "a.kefu") + ":3:3:",
		`hint: did you mean "say"?`,
		filepath.Join(dir, "flows", "b.kefu") + ":1:22: unknown flow \"售后\"",
		// the caret sits under 售 after two double-width characters
		"    when 问候 then trigger 售后\n    " + strings.Repeat(" ", 23) + "^~~~\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestFmt checks that the demo flows are in canonical form and that kefu fmt
// rewrites a messy file.
func TestFmt(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(demo, "flows", "*.kefu"))
	code, out, stderr := runKefu(append([]string{"fmt", "-l"}, files...)...)
	if code != 0 {
		t.Errorf("demo flows are not formatted (run kefu fmt -w):\n%s%s", out, stderr)
	}
	messy := filepath.Join(t.TempDir(), "m.kefu")
	os.WriteFile(messy, []byte("flow 问候\n    on intent 问候\n    say   \"你好\"   # 打招呼\n"), 0o644)
	if code, _, stderr := runKefu("fmt", "-w", messy); code != 0 {
		t.Fatalf("fmt -w: %s", stderr)
	}
	got, _ := os.ReadFile(messy)
	if code, _, _ := runKefu("fmt", "-l", messy); code != 0 {
		t.Errorf("formatting is not idempotent:\n%s", got)
	}
	if !strings.Contains(string(got), "# 打招呼") {
		t.Errorf("fmt lost a comment:\n%s", got)
	}
}

// TestChat talks to the demo bot through kefu chat's terminal loop.
func TestChat(t *testing.T) {
	needRuntime(t)
	in := strings.NewReader("你好\n我要退货\nA2024112200003\n/reset\n谢谢\n/quit\n")
	var out, errb bytes.Buffer
	if err := chat([]string{"--demo", "--config", filepath.Join(demo, "kefu.yaml")}, in, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{
		"< 您好，我是小店的智能客服小K，请问有什么可以帮您？",
		"route flow · intent 退货",
		"flow 退货 @ slot 订单号",
		"< 请问退货的原因是什么？",
		"call 订单服务.查询",
		"(session reset)",
		"< 不客气～还有其他问题随时找我。",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestIngest ingests files twice into the demo config's embedded store:
// the second run replaces, never duplicates, and bad lines are reported.
func TestIngest(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	cfg := demoConfig(t, dir)
	kb := filepath.Join(dir, "kb")
	os.MkdirAll(kb, 0o755)
	os.WriteFile(filepath.Join(kb, "faq.jsonl"), []byte(`{"id":"a","question":"运费怎么算","answer":"满99元包邮"}
{"id":"b","question":"缺答案"}
{"id":"c","question":"支持花呗吗","questions":["能分期吗"],"answer":"支持"}
`), 0o644)
	os.WriteFile(filepath.Join(kb, "说明.md"), []byte("# 配送说明\n\n## 快递\n默认中通。\n\n## 时效\n1-3天送达。\n"), 0o644)
	os.WriteFile(filepath.Join(kb, "image.png"), []byte("x"), 0o644)
	for i := 0; i < 2; i++ {
		code, out, stderr := runKefu("ingest", "--config", cfg, kb)
		if code != 0 {
			t.Fatalf("ingest: %d %s %s", code, out, stderr)
		}
		for _, want := range []string{`faq.jsonl:2: missing "answer"`, "image.png", "3 documents, 4 chunks, 2 skipped"} {
			if !strings.Contains(out, want) {
				t.Errorf("run %d: output lacks %q:\n%s", i+1, want, out)
			}
		}
	}
	st, err := embedded.Open(filepath.Join(dir, "knowledge.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	docs, _ := st.Documents(context.Background())
	if len(docs) != 3 || docs["说明.md"] != 2 || docs["a"] != 1 {
		t.Fatalf("documents after two ingests: %v", docs)
	}
}

// TestEvalRetrievalJSON scores the demo help centre; the floors catch a
// regression of the encoder or the retriever.
func TestEvalRetrievalJSON(t *testing.T) {
	needRuntime(t)
	code, out, stderr := runKefu("eval", "retrieval", "--config", filepath.Join(demo, "kefu.yaml"),
		"--data", filepath.Join(demo, "knowledge-eval/queries.jsonl"), "--json")
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"hit_at_1", "hit_at_5", "mrr_at_10", "answer_rate", "answer_precision", "n", "thresholds"} {
		if _, ok := s[k]; !ok {
			t.Errorf("missing key %q", k)
		}
	}
	if s["n"].(float64) < 300 || s["hit_at_5"].(float64) < 0.7 || s["answer_precision"].(float64) < 0.75 {
		t.Errorf("scores regressed: %s", out)
	}
	// --kb evaluates one FAQ file without a bot of its own.
	code, out, _ = runKefu("eval", "retrieval", "--config", filepath.Join(demo, "kefu.yaml"), "--kb", filepath.Join(demo, "knowledge/faq.jsonl"),
		"--data", filepath.Join(demo, "knowledge-eval/queries.jsonl"))
	if code != 0 || !strings.Contains(out, "over 166 documents") {
		t.Errorf("--kb: %d\n%s", code, out)
	}
}

// TestGenerativeEndToEnd serves the demo bot with an OpenAI-compatible
// provider (a local double of the wire format) as its generative fallback:
// a question the help centre cannot answer directly is generated with the
// retrieved passages; the same turn streams over SSE; a dead primary fails
// over to the second provider of the route.
func TestGenerativeEndToEnd(t *testing.T) {
	needRuntime(t)
	var prompts []string
	var mu sync.Mutex
	up := openaitest.New(t, openaitest.Config{APIKey: "sk-e2e", Reply: func(r openaitest.ChatRequest) string {
		mu.Lock()
		prompts = append(prompts, r.Messages[0].Content)
		mu.Unlock()
		return "您好，积分可以在结算时抵现，100积分抵1元。"
	}})
	dir := t.TempDir()
	cfg := demoConfig(t, dir)
	extra := `
providers:
  dead: {type: openai, base_url: "http://127.0.0.1:1/v1", api_key: x, model: m, timeout: 2s}
  gpt: {type: openai, base_url: "` + up.URL + `", api_key: "${KEFU_TEST_KEY}", model: gpt-test, prices: {prompt: 0.001, completion: 0.002}}
routes:
  default: {providers: [dead, gpt]}
generate:
  route: default
`
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(extra)
	f.Close()
	t.Setenv("KEFU_TEST_KEY", "sk-e2e")
	if code, out, stderr := runKefu("check", "--config", cfg); code != 0 || !strings.Contains(out, "providers: 1 routes") {
		t.Fatalf("check: %d %s %s", code, out, stderr)
	}
	s := startServer(t, "--config", cfg, "--demo")
	var r struct {
		chatReply
		Provider string
		Attempts []struct{ Provider, Kind string }
		Sources  []struct {
			ID   string
			Used bool
		}
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		}
	}
	if code := postJSON(t, s.base+"/v1/chat", `{"session_id":"g1","text":"积分到底该怎么用才划算"}`, &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	if r.Route != "generative" || r.Provider != "gpt" || len(r.Replies) != 1 || !strings.Contains(r.Replies[0].Text, "积分") {
		t.Fatalf("generative turn: %+v", r)
	}
	if len(r.Attempts) != 2 || r.Attempts[0].Provider != "dead" || r.Attempts[0].Kind != "unavailable" || r.Usage.TotalTokens == 0 {
		t.Errorf("failover trace: %+v", r)
	}
	mu.Lock()
	if len(prompts) == 0 || !strings.Contains(prompts[0], "参考资料") || !strings.Contains(prompts[0], "[1] (member-") {
		t.Errorf("system prompt lacks the retrieved passages: %q", prompts)
	}
	mu.Unlock()
	// The same over SSE.
	req, _ := http.NewRequest("POST", s.base+"/v1/chat", strings.NewReader(`{"session_id":"g2","text":"积分到底该怎么用才划算"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "event: start") || strings.Count(string(body), "event: delta") < 2 || !strings.Contains(string(body), "event: done") {
		t.Errorf("SSE:\n%s", body)
	}
	resp, err = http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{
		`kefu_turns_total{outcome="ok",route="generative"} 2`,
		`kefu_provider_requests_total{kind="unavailable",provider="dead"}`,
		`kefu_provider_tokens_total{provider="gpt",route="default",type="completion"}`,
		`kefu_provider_breaker_state{provider="gpt"} 0`,
		`kefu_knowledge_searches_total{outcome="context"}`,
		`kefu_sessions_active 2`,
		`kefu_handoff_queue_length 0`,
		`kefu_reload_success 1`,
		`kefu_turn_stage_seconds_count{stage="generate"} 2`,
	} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	s.stop(t)
}

func TestCheckUnknownProviderType(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	cfg := demoConfig(t, dir)
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\nproviders:\n  gpt: {type: gtp, model: x}\nroutes:\n  default: {providers: [gpt]}\n")
	f.Close()
	code, _, stderr := runKefu("check", "--config", cfg)
	if code != 1 || !strings.Contains(stderr, `providers.gpt: providers: unknown type "gtp" (have: coze, dify, openai)`) {
		t.Fatalf("code %d: %s", code, stderr)
	}
}

// TestKnowledgeCopyToQdrant ingests into the embedded store, copies it into
// Qdrant (the wire-level double) with kefu knowledge copy, and searches the
// Qdrant store through the same retriever: one config change switches.
func TestKnowledgeCopyToQdrant(t *testing.T) {
	needRuntime(t)
	dir := t.TempDir()
	cfg := demoConfig(t, dir)
	if code, out, stderr := runKefu("ingest", "--config", cfg); code != 0 {
		t.Fatalf("ingest: %s %s", out, stderr)
	}
	q := qdranttest.Start(t, qdranttest.Config{APIKey: "qk"})
	t.Setenv("QDRANT_API_KEY", "qk")
	code, out, stderr := runKefu("knowledge", "copy", "--config", cfg, "--qdrant", q.Addr(), "--collection", "shop")
	if code != 0 || !strings.Contains(out, "copied 197 documents, 277 chunks") {
		t.Fatalf("copy: %d %s %s", code, out, stderr)
	}
	data, _ := os.ReadFile(cfg)
	s := strings.Replace(string(data), "  store: embedded            # or qdrant (see README)", "  store: qdrant\n  qdrant: {addr: \""+q.Addr()+"\", api_key: \"${QDRANT_API_KEY}\", collection: shop}", 1)
	s = strings.Replace(s, "  ingest_on_start: true", "  ingest_on_start: false", 1)
	os.WriteFile(cfg, []byte(s), 0o644)
	srv := startServer(t, "--config", cfg)
	var hits struct {
		Hits []struct {
			DocID string `json:"doc_id"`
		}
	}
	if code := postJSON(t, srv.base+"/v1/knowledge/search", `{"query":"可以货到付款吗","top_k":3}`, &hits); code != 200 || len(hits.Hits) == 0 || hits.Hits[0].DocID != "pay-006" {
		t.Errorf("search on qdrant: %d %+v", code, hits)
	}
	srv.stop(t)
}
