package openaitest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/providers/openai/openaitest"
)

func post(t *testing.T, url, auth, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		_ = json.NewDecoder(resp.Body).Decode(&v)
	}
	return resp, v
}

func TestChecks(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{APIKey: "k"})
	chat := s.URL + "/chat/completions"
	for _, tc := range []struct {
		name, auth, body string
		status           int
		param            string
	}{
		{"no auth", "", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 401, ""},
		{"bad auth", "nope", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 401, ""},
		{"bad json", "k", `{`, 400, ""},
		{"no model", "k", `{"messages":[{"role":"user","content":"x"}]}`, 400, "model"},
		{"no messages", "k", `{"model":"m"}`, 400, "messages"},
		{"bad role", "k", `{"model":"m","messages":[{"role":"bot","content":"x"}]}`, 400, "messages.[0].role"},
		{"stream_options without stream", "k", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, 400, "stream_options"},
		{"ok", "k", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 200, ""},
	} {
		resp, v := post(t, chat, tc.auth, tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if tc.status != 200 {
			e, _ := v["error"].(map[string]any)
			if e == nil || e["message"] == "" || e["type"] == nil {
				t.Errorf("%s: body %v is not the error envelope", tc.name, v)
			}
			if p, _ := e["param"].(string); p != tc.param {
				t.Errorf("%s: param %q, want %q", tc.name, p, tc.param)
			}
		}
	}
	if s.ChatRequests() != 8 {
		t.Errorf("ChatRequests = %d", s.ChatRequests())
	}
}

func TestStreamWire(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{Reply: func(openaitest.ChatRequest) string { return "abcdefg" }})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/chat/completions", strings.NewReader(
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if n := len(lines); n < 4 || lines[n-2] != "data: [DONE]" || lines[n-1] != "" {
		t.Fatalf("stream does not end with data: [DONE]: %q", lines)
	}
	var last struct {
		Choices []any          `json:"choices"`
		Usage   map[string]int `json:"usage"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[len(lines)-4], "data: ")), &last); err != nil || len(last.Choices) != 0 || last.Usage["total_tokens"] != 9 {
		t.Errorf("usage chunk = %+v, %v", last, err)
	}
	if s.StreamRequests() != 1 {
		t.Errorf("StreamRequests = %d", s.StreamRequests())
	}
}

// TestMalformedAndCuts: Malformed goes into a stream where AfterChunks
// says; Truncate cuts a JSON reply and drops the connection; Hang waits
// for the client to go away.
func TestMalformedAndCuts(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{ChunkRunes: 2, Reply: func(openaitest.ChatRequest) string { return "abcdef" }})
	do := func(ctx context.Context, stream bool) (string, error) {
		body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
		if stream {
			body = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, tc := range []struct {
		after  int
		cut    bool
		before string // the content chunk the garbage precedes; "" at the end
	}{{0, false, `"ab"`}, {2, false, `"ef"`}, {3, false, ""}, {9, false, ""}, {1, true, ""}} {
		s.FailNext(openaitest.Fault{Malformed: "garbage\n: comment\ndata: {bad json\n\n", AfterChunks: tc.after, Disconnect: tc.cut})
		got, err := do(context.Background(), true)
		if tc.cut != (err != nil) {
			t.Fatalf("after %d, cut %v: err %v", tc.after, tc.cut, err)
		}
		i := strings.Index(got, "garbage\n")
		if i < 0 || strings.Count(got, "{bad json") != 1 {
			t.Fatalf("after %d: no garbage, or twice: %q", tc.after, got)
		}
		rest := got[i:]
		switch {
		case tc.cut:
			if strings.Contains(rest, `"content"`) || strings.Contains(got, "[DONE]") {
				t.Errorf("after %d, cut: the stream went on: %q", tc.after, got)
			}
		case tc.before != "":
			if strings.Index(rest, `"content":`+tc.before) < 0 || strings.Count(got[:i], `"content":"`) != tc.after+1 {
				t.Errorf("after %d: garbage not before %s: %q", tc.after, tc.before, got)
			}
		default:
			if strings.Contains(rest, `"content":"`) || !strings.HasSuffix(got, "data: [DONE]\n\n") {
				t.Errorf("after %d: garbage not at the end: %q", tc.after, got)
			}
		}
	}

	s.FailNext(openaitest.Fault{Truncate: true})
	got, err := do(context.Background(), false)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(got, `{"choices":`) || json.Valid([]byte(got)) {
		t.Errorf("truncated reply: %q, %v", got, err)
	}

	s.FailNext(openaitest.Hang())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := do(ctx, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); s.Active() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the hung handler did not end when its client went away")
		}
	}
}

func TestEmbeddings(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{EmbeddingDim: 4})
	resp, v := post(t, s.URL+"/embeddings", "x", `{"model":"e","input":["a","b"]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, v)
	}
	data := v["data"].([]any)
	if len(data) != 2 || len(data[1].(map[string]any)["embedding"].([]any)) != 4 {
		t.Errorf("data = %v", data)
	}
	if resp, _ := post(t, s.URL+"/embeddings", "x", `{"model":"e"}`); resp.StatusCode != 400 {
		t.Errorf("no input: %d", resp.StatusCode)
	}
	if s.EmbeddingRequests() != 2 {
		t.Errorf("EmbeddingRequests = %d", s.EmbeddingRequests())
	}
}
