package openaitest_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

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
