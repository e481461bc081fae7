package difytest_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/providers/dify/difytest"
)

const key = "app-test"

func post(t *testing.T, url, auth, body string) (*http.Response, string) {
	t.Helper()
	r, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestValidation(t *testing.T) {
	s := difytest.New(t, key)
	tests := []struct {
		name, auth, body string
		status           int
		code             string
	}{
		{"no auth", "", `{"query":"q","inputs":{},"user":"u"}`, 401, "unauthorized"},
		{"wrong key", "Bearer app-other", `{"query":"q","inputs":{},"user":"u"}`, 401, "unauthorized"},
		{"no query", "Bearer " + key, `{"inputs":{},"user":"u"}`, 400, "invalid_param"},
		{"no inputs", "Bearer " + key, `{"query":"q","user":"u"}`, 400, "invalid_param"},
		{"no user", "Bearer " + key, `{"query":"q","inputs":{}}`, 400, "invalid_param"},
		{"bad conversation id", "Bearer " + key, `{"query":"q","inputs":{},"user":"u","conversation_id":"abc"}`, 400, "invalid_param"},
		{"unknown conversation", "Bearer " + key, `{"query":"q","inputs":{},"user":"u","conversation_id":"5f0e8a52-9c1b-4b7e-8f3a-1d2c3b4a5e6f"}`, 404, "not_found"},
		{"ok", "Bearer " + key, `{"query":"q","inputs":{},"user":"u"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, s.URL+"/chat-messages", tt.auth, tt.body)
			var e difytest.Error
			json.Unmarshal([]byte(body), &e)
			if resp.StatusCode != tt.status || e.Code != tt.code || (tt.code != "" && e.Status != tt.status) {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestOwnership(t *testing.T) {
	s := difytest.New(t, key)
	_, body := post(t, s.URL+"/chat-messages", "Bearer "+key, `{"query":"q","inputs":{},"user":"alice"}`)
	var m map[string]any
	json.Unmarshal([]byte(body), &m)
	conv, _ := m["conversation_id"].(string)
	if m["event"] != "message" || m["answer"] != "echo: q" || conv == "" {
		t.Fatalf("blocking reply %s", body)
	}
	resp, body := post(t, s.URL+"/chat-messages", "Bearer "+key, `{"query":"q","inputs":{},"user":"bob","conversation_id":"`+conv+`"}`)
	if resp.StatusCode != 404 || !strings.Contains(body, "Conversation Not Exists.") {
		t.Fatalf("other user's conversation: %d %s", resp.StatusCode, body)
	}
	resp, _ = post(t, s.URL+"/chat-messages", "Bearer "+key, `{"query":"q2","inputs":{},"user":"alice","conversation_id":"`+conv+`"}`)
	if resp.StatusCode != 200 || len(s.Queries(conv)) != 2 {
		t.Fatalf("owner continuing: %d %v", resp.StatusCode, s.Queries(conv))
	}
}

func TestStreamFraming(t *testing.T) {
	s := difytest.New(t, key)
	s.Hook = func(difytest.Call) difytest.Behavior {
		return difytest.Behavior{FirstTokenDelay: 50 * time.Millisecond}
	}
	_, body := post(t, s.URL+"/chat-messages", "Bearer "+key, `{"query":"hello world","inputs":{},"user":"u","response_mode":"streaming"}`)
	frames := strings.Split(body, "\n\n")
	if frames[len(frames)-1] != "" {
		t.Fatalf("stream does not end with a blank line: %q", body)
	}
	var answer strings.Builder
	var tasks = map[string]bool{}
	pings, ends := 0, 0
	for _, f := range frames[:len(frames)-1] {
		if f == "event: ping" {
			pings++
			continue
		}
		if !strings.HasPrefix(f, "data: {") || strings.Contains(f, "\n") {
			t.Fatalf("frame %q", f)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(f[len("data: "):]), &ev); err != nil {
			t.Fatal(err)
		}
		tasks[ev["task_id"].(string)] = true
		switch ev["event"] {
		case "message":
			answer.WriteString(ev["answer"].(string))
		case "message_end":
			ends++
		}
	}
	if answer.String() != "echo: hello world" || ends != 1 || pings < 2 || len(tasks) != 1 {
		t.Fatalf("answer %q, %d message_end, %d pings, %d task ids", answer.String(), ends, pings, len(tasks))
	}
}

func TestStop(t *testing.T) {
	s := difytest.New(t, key)
	s.Answer = func(difytest.Call) string { return strings.Repeat("x", 300) }
	s.Hook = func(difytest.Call) difytest.Behavior { return difytest.Behavior{ChunkDelay: 10 * time.Millisecond} }
	r, _ := http.NewRequest("POST", s.URL+"/chat-messages", strings.NewReader(`{"query":"q","inputs":{},"user":"u","response_mode":"streaming"}`))
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	stopped, n := false, 0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		var ev struct {
			Event  string `json:"event"`
			TaskID string `json:"task_id"`
		}
		json.Unmarshal([]byte(line[6:]), &ev)
		n++
		if !stopped {
			if res, body := post(t, s.URL+"/chat-messages/"+ev.TaskID+"/stop", "Bearer "+key, `{"user":"u"}`); res.StatusCode != 200 || !strings.Contains(body, "success") {
				t.Fatalf("stop: %d %s", res.StatusCode, body)
			}
			stopped = true
		}
		if ev.Event == "message_end" {
			break
		}
	}
	if n > 10 {
		t.Fatalf("%d events after stop", n)
	}
}
