package dify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/kefu-chat/kefu/providers"
	"github.com/kefu-chat/kefu/providers/dify"
	"github.com/kefu-chat/kefu/providers/dify/difytest"
)

const key = "app-S3CRETkey0123456789"

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func yamlDecode(src string) func(any) error {
	return func(v any) error {
		dec := yaml.NewDecoder(strings.NewReader(src))
		dec.KnownFields(true)
		return dec.Decode(v)
	}
}

type env struct {
	srv  *difytest.Server
	p    providers.Provider
	logs *logBuf
	http *http.Client
}

// setup starts a double and opens a provider on it through the registry;
// extra is appended to the YAML config.
func setup(t *testing.T, extra string) *env {
	t.Helper()
	srv := difytest.New(t, key)
	e := &env{srv: srv, logs: &logBuf{}, http: &http.Client{Transport: &http.Transport{}}}
	cfg := fmt.Sprintf("base_url: %s\napi_key: %s\n%s", srv.URL, key, extra)
	p, err := providers.Open("dify", "d1", yamlDecode(cfg), providers.Deps{
		HTTP:   e.http,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		e.http.CloseIdleConnections()
		if strings.Contains(e.logs.String(), key) {
			t.Errorf("api key in logs: %s", e.logs.String())
		}
	})
	e.p = p
	return e
}

func req(session, user string, msgs ...string) providers.Request {
	r := providers.Request{SessionID: session, User: user,
		Messages: []providers.Message{{Role: providers.RoleSystem, Content: "you are kefu"}}}
	for i, m := range msgs {
		role := providers.RoleUser
		if i%2 == 1 {
			role = providers.RoleAssistant
		}
		r.Messages = append(r.Messages, providers.Message{Role: role, Content: m})
	}
	return r
}

// collect reads a whole stream; the error is Stream's or Recv's.
func collect(ctx context.Context, p providers.Provider, r providers.Request) (string, *providers.Usage, int, error) {
	s, err := p.Stream(ctx, r)
	if err != nil {
		return "", nil, 0, err
	}
	defer s.Close()
	var b strings.Builder
	var u *providers.Usage
	n := 0
	for {
		ch, err := s.Recv()
		if err == io.EOF {
			return b.String(), u, n, nil
		}
		if err != nil {
			return b.String(), u, n, err
		}
		if ch.Delta != "" {
			n++
		}
		b.WriteString(ch.Delta)
		if ch.Usage != nil {
			u = ch.Usage
		}
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name, cfg, wantErr string
	}{
		{"minimal", "api_key: " + key, ""},
		{"full", "base_url: http://dify.local/v1/\napi_key: " + key + "\ninputs: {shop: demo, n: 3}\nmax_conversations: 5", ""},
		{"unknown key", "api_key: " + key + "\nmodel: gpt", "field model not found"},
		{"no key", "base_url: https://x/v1", "api_key is required"},
		{"bad url", "base_url: ftp://x\napi_key: " + key, "not an http(s) URL"},
		{"url with credentials", "base_url: https://u:" + key + "@x/v1\napi_key: " + key, "not an http(s) URL"},
		{"negative max", "api_key: " + key + "\nmax_conversations: -1", "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := providers.Open("dify", "d1", yamlDecode(tt.cfg), providers.Deps{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				p.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), key) {
				t.Fatalf("api key in error: %v", err)
			}
		})
	}
	if got := providers.Types(); !strings.Contains(strings.Join(got, ","), "dify") {
		t.Fatalf("dify not registered: %v", got)
	}
}

func TestConversationContinuity(t *testing.T) {
	e := setup(t, "inputs: {shop: demo}")
	ctx := context.Background()
	for i, q := range []string{"hello", "where is my order", "thanks"} {
		msgs := []string{"earlier question", "earlier answer", q}
		resp, err := e.p.Chat(ctx, req("s1", "u1", msgs...))
		if err != nil {
			t.Fatalf("turn %d: %v", i, err)
		}
		if want := "echo: " + q; resp.Text != want {
			t.Fatalf("turn %d: text %q, want %q", i, resp.Text, want)
		}
		if resp.Usage.TotalTokens == 0 || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
			t.Fatalf("usage %+v", resp.Usage)
		}
	}
	// A streamed turn continues the same conversation.
	if _, _, _, err := collect(ctx, e.p, req("s1", "u1", "and streaming")); err != nil {
		t.Fatal(err)
	}
	// Other sessions and other users get their own conversations.
	for _, r := range []providers.Request{req("s2", "u1", "hi"), req("s1", "u2", "hi"), req("s3", "", "hi")} {
		if _, err := e.p.Chat(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	calls := e.srv.Calls()
	if len(calls) != 7 {
		t.Fatalf("%d calls", len(calls))
	}
	conv := e.srv.Calls()[1].ConversationID
	if conv == "" {
		t.Fatal("second turn started a new conversation")
	}
	if diff := cmp.Diff([]string{"hello", "where is my order", "thanks", "and streaming"}, e.srv.Queries(conv)); diff != "" {
		t.Errorf("queries of s1/u1 (-want +got):\n%s", diff)
	}
	for i, c := range calls {
		if c.Inputs["shop"] != "demo" {
			t.Errorf("call %d inputs %v", i, c.Inputs)
		}
		if i >= 4 && c.ConversationID != "" {
			t.Errorf("call %d (%s, %s) continued conversation %s", i, c.User, c.Query, c.ConversationID)
		}
	}
	if got := calls[6].User; got != "kefu-s3" {
		t.Errorf("user without Request.User = %q, want kefu-s3", got)
	}
	owners := map[string]int{}
	for _, u := range e.srv.Conversations() {
		owners[u]++
	}
	if diff := cmp.Diff(map[string]int{"u1": 2, "u2": 1, "kefu-s3": 1}, owners); diff != "" {
		t.Errorf("conversations per user (-want +got):\n%s", diff)
	}
}

func TestStreamMatchesChat(t *testing.T) {
	e := setup(t, "")
	e.srv.Answer = func(c difytest.Call) string { return "您好，" + c.Query + "! Your order ships tomorrow 🚚." }
	ctx := context.Background()
	resp, err := e.p.Chat(ctx, req("a", "u", "订单 A1234"))
	if err != nil {
		t.Fatal(err)
	}
	text, usage, n, err := collect(ctx, e.p, req("b", "u", "订单 A1234"))
	if err != nil {
		t.Fatal(err)
	}
	if text != resp.Text || n < 2 {
		t.Fatalf("stream %q in %d deltas, chat %q", text, n, resp.Text)
	}
	if usage == nil || *usage != resp.Usage {
		t.Fatalf("stream usage %v, chat usage %v", usage, resp.Usage)
	}
}

func TestConversationGone(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		t.Run(fmt.Sprint("streaming=", streaming), func(t *testing.T) {
			e := setup(t, "")
			ctx := context.Background()
			turn := func(q string) string {
				t.Helper()
				if streaming {
					text, _, _, err := collect(ctx, e.p, req("s", "u", q))
					if err != nil {
						t.Fatal(err)
					}
					return text
				}
				r, err := e.p.Chat(ctx, req("s", "u", q))
				if err != nil {
					t.Fatal(err)
				}
				return r.Text
			}
			turn("one")
			turn("two")
			old := e.srv.Calls()[1].ConversationID
			e.srv.DeleteConversation(old)
			if got := turn("three"); got != "echo: three" {
				t.Fatalf("got %q", got)
			}
			turn("four")
			calls := e.srv.Calls()
			var ids []string
			for _, c := range calls {
				ids = append(ids, c.ConversationID)
			}
			if len(calls) != 5 || ids[2] != old || ids[3] != "" || ids[4] == "" || ids[4] == old {
				t.Fatalf("conversation ids sent: %q", ids)
			}
			if !strings.Contains(e.logs.String(), "conversation gone") {
				t.Errorf("no log of the retry: %s", e.logs.String())
			}
		})
	}
}

func TestMaxConversations(t *testing.T) {
	e := setup(t, "max_conversations: 2")
	ctx := context.Background()
	for _, s := range []string{"a", "b", "a", "c", "a", "b"} {
		if _, err := e.p.Chat(ctx, req(s, "u", "q")); err != nil {
			t.Fatal(err)
		}
	}
	var cont []bool
	for _, c := range e.srv.Calls() {
		cont = append(cont, c.ConversationID != "")
	}
	// b is evicted by c (a was used more recently), so b starts anew.
	if diff := cmp.Diff([]bool{false, false, true, false, true, false}, cont); diff != "" {
		t.Errorf("continued (-want +got):\n%s", diff)
	}
}

func TestConcurrentSessions(t *testing.T) {
	e := setup(t, "max_conversations: 8")
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 3 {
				r := req(fmt.Sprint("s", i), fmt.Sprint("u", i), fmt.Sprint("q", j))
				var err error
				if j%2 == 0 {
					_, err = e.p.Chat(ctx, r)
				} else {
					_, _, _, err = collect(ctx, e.p, r)
				}
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func TestNoUserMessage(t *testing.T) {
	e := setup(t, "")
	r := providers.Request{SessionID: "s", Messages: []providers.Message{{Role: providers.RoleSystem, Content: "x"}}}
	_, err := e.p.Chat(context.Background(), r)
	if providers.KindOf(err) != providers.KindBadRequest {
		t.Fatalf("err = %v", err)
	}
	if _, err := e.p.Stream(context.Background(), r); providers.KindOf(err) != providers.KindBadRequest {
		t.Fatalf("stream err = %v", err)
	}
	if n := len(e.srv.Calls()); n != 0 {
		t.Fatalf("%d calls sent", n)
	}
}

func TestErrors(t *testing.T) {
	httpDate := time.Date(2026, 1, 2, 3, 4, 35, 0, time.UTC).Format(http.TimeFormat) // Now + 30s
	type tc struct {
		name       string
		b          difytest.Behavior
		key        string // when set, the client's key
		ctxTimeout time.Duration
		streamOnly bool
		atRecv     bool // the stream fails after opening
		kind       providers.Kind
		status     int
		retry      time.Duration
		msg        string // in Error()
	}
	tests := []tc{
		{name: "401 wrong key", key: "app-wrong-" + key, kind: providers.KindAuth, status: 401, msg: "app api key rejected"},
		{name: "403", b: difytest.Behavior{Status: 403, Code: "forbidden", Message: "no"}, kind: providers.KindAuth, status: 403},
		{name: "429 seconds", b: difytest.Behavior{Status: 429, Code: "too_many_requests", Message: "Too many requests. Please try again later.", RetryAfter: "7"},
			kind: providers.KindRateLimit, status: 429, retry: 7 * time.Second},
		{name: "429 date", b: difytest.Behavior{Status: 429, Code: "rate_limit_error", Message: "Rate Limit Error", RetryAfter: httpDate},
			kind: providers.KindRateLimit, status: 429, retry: 30 * time.Second},
		{name: "500", b: difytest.Behavior{Status: 500, Code: "internal_server_error", Message: "Internal Server Error"}, kind: providers.KindUnavailable, status: 500},
		{name: "502 no code", b: difytest.Behavior{Status: 502}, kind: providers.KindUnavailable, status: 502},
		{name: "invalid_param", b: difytest.Behavior{Status: 400, Code: "invalid_param", Message: "bad"}, kind: providers.KindBadRequest, status: 400, msg: "invalid_param: bad"},
		{name: "conversation_completed", b: difytest.Behavior{Status: 400, Code: "conversation_completed", Message: "done"}, kind: providers.KindBadRequest, status: 400},
		{name: "app_unavailable", b: difytest.Behavior{Status: 400, Code: "app_unavailable", Message: "App unavailable, please check your app configurations."}, kind: providers.KindUnavailable, status: 400},
		{name: "not_chat_app", b: difytest.Behavior{Status: 400, Code: "not_chat_app", Message: "Please check if your app mode matches the right API route."}, kind: providers.KindAuth, status: 400},
		{name: "provider_not_initialize", b: difytest.Behavior{Status: 400, Code: "provider_not_initialize", Message: "No valid model provider credentials found."}, kind: providers.KindUnavailable, status: 400},
		{name: "provider_quota_exceeded", b: difytest.Behavior{Status: 400, Code: "provider_quota_exceeded", Message: "quota"}, kind: providers.KindUnavailable, status: 400},
		{name: "model_currently_not_support", b: difytest.Behavior{Status: 400, Code: "model_currently_not_support", Message: "x"}, kind: providers.KindUnavailable, status: 400},
		{name: "completion_request_error", b: difytest.Behavior{Status: 400, Code: "completion_request_error", Message: "[openai] Connection Error"}, kind: providers.KindUnavailable, status: 400},
		{name: "context length", b: difytest.Behavior{Status: 400, Code: "completion_request_error", Message: "[openai] Error code: 400 - This model's maximum context length is 8192 tokens"}, kind: providers.KindContextLength, status: 400},
		{name: "content filter", b: difytest.Behavior{Status: 400, Code: "completion_request_error", Message: "[azure_openai] finish_reason content_filter"}, kind: providers.KindContentFilter, status: 400},
		{name: "413", b: difytest.Behavior{Status: 413, Code: "request_entity_too_large", Message: "too large"}, kind: providers.KindContextLength, status: 413},
		{name: "error JSON on 200", b: difytest.Behavior{Status: 400, Code: "completion_request_error", Message: "upstream failed", OK200: true}, kind: providers.KindUnavailable, status: 400},
		{name: "deadline before headers", b: difytest.Behavior{HeaderDelay: time.Second}, ctxTimeout: 50 * time.Millisecond, kind: providers.KindTimeout},
		{name: "slow first token", b: difytest.Behavior{FirstTokenDelay: time.Second}, ctxTimeout: 100 * time.Millisecond, streamOnly: true, atRecv: true, kind: providers.KindTimeout},
		{name: "in-stream error", b: difytest.Behavior{After: 1, StreamError: &difytest.Error{Status: 400, Code: "completion_request_error", Message: "[openai] Rate limit reached for gpt-4o"}},
			streamOnly: true, atRecv: true, kind: providers.KindRateLimit, status: 400},
		{name: "in-stream invalid_param", b: difytest.Behavior{StreamError: &difytest.Error{Status: 400, Code: "invalid_param", Message: "x"}},
			streamOnly: true, atRecv: true, kind: providers.KindBadRequest, status: 400},
		{name: "in-stream context length", b: difytest.Behavior{After: 2, StreamError: &difytest.Error{Status: 400, Code: "completion_request_error", Message: "prompt is too long: 300000 tokens > 200000 maximum"}},
			streamOnly: true, atRecv: true, kind: providers.KindContextLength, status: 400},
		{name: "in-stream 500", b: difytest.Behavior{After: 1, StreamError: &difytest.Error{Status: 500, Code: "internal_server_error", Message: "boom"}},
			streamOnly: true, atRecv: true, kind: providers.KindUnavailable, status: 500},
		{name: "moderation replace", b: difytest.Behavior{After: 1, Replace: "Sorry, I cannot answer that."}, streamOnly: true, atRecv: true, kind: providers.KindContentFilter},
		{name: "mid-stream disconnect", b: difytest.Behavior{After: 2, Disconnect: true}, streamOnly: true, atRecv: true, kind: providers.KindUnavailable},
	}
	for _, tt := range tests {
		for _, streaming := range []bool{false, true} {
			if tt.streamOnly && !streaming {
				continue
			}
			t.Run(fmt.Sprintf("%s/streaming=%v", tt.name, streaming), func(t *testing.T) {
				e := setup(t, "")
				p := e.p
				if tt.key != "" {
					var err error
					p, err = dify.New("d1", dify.Config{BaseURL: e.srv.URL, APIKey: tt.key}, providers.Deps{})
					if err != nil {
						t.Fatal(err)
					}
				}
				e.srv.Hook = func(difytest.Call) difytest.Behavior { return tt.b }
				e.srv.Answer = func(difytest.Call) string { return "a long enough answer to stream in pieces" }
				ctx := context.Background()
				if tt.ctxTimeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
					defer cancel()
				}
				var err error
				if streaming {
					var s providers.Stream
					s, err = p.Stream(ctx, req("s", "u", "hi"))
					if (err == nil) != tt.atRecv {
						t.Fatalf("Stream err = %v, want the error at Recv: %v", err, tt.atRecv)
					}
					if err == nil {
						defer s.Close()
						for err == nil {
							_, err = s.Recv()
						}
						if _, again := s.Recv(); again != err {
							t.Errorf("Recv after the end = %v, want %v again", again, err)
						}
					}
				} else {
					_, err = p.Chat(ctx, req("s", "u", "hi"))
				}
				var pe *providers.Error
				if !errors.As(err, &pe) {
					t.Fatalf("err = %#v, want *providers.Error", err)
				}
				if pe.Kind != tt.kind || pe.Status != tt.status || pe.RetryAfter != tt.retry || pe.Provider != "d1" {
					t.Errorf("got kind %s status %d retry %v provider %q, want %s %d %v; err: %v",
						pe.Kind, pe.Status, pe.RetryAfter, pe.Provider, tt.kind, tt.status, tt.retry, err)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("err %q lacks %q", err, tt.msg)
				}
				if strings.Contains(err.Error(), key) || (tt.key != "" && strings.Contains(err.Error(), tt.key)) {
					t.Errorf("api key in error: %v", err)
				}
			})
		}
	}
}

func TestNetworkErrors(t *testing.T) {
	e := setup(t, "")
	e.srv.Close()
	_, err := e.p.Chat(context.Background(), req("s", "u", "hi"))
	if k := providers.KindOf(err); k != providers.KindUnavailable {
		t.Fatalf("closed server: kind %s, err %v", k, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.p.Stream(ctx, req("s", "u", "hi")); providers.KindOf(err) != providers.KindCanceled {
		t.Fatalf("canceled ctx: %v", err)
	}
}

func Test5xxBurst(t *testing.T) {
	e := setup(t, "")
	e.srv.Hook = func(c difytest.Call) difytest.Behavior {
		if c.N <= 2 {
			return difytest.Behavior{Status: 503, Code: "unknown", Message: "Service Unavailable"}
		}
		return difytest.Behavior{}
	}
	for i := range 2 {
		_, err := e.p.Chat(context.Background(), req("s", "u", "hi"))
		if k := providers.KindOf(err); err == nil || k != providers.KindUnavailable {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if _, err := e.p.Chat(context.Background(), req("s", "u", "hi")); err != nil {
		t.Fatalf("after the burst: %v", err)
	}
}

func TestCloseMidStream(t *testing.T) {
	e := setup(t, "")
	e.srv.Answer = func(difytest.Call) string { return strings.Repeat("lorem ipsum ", 50) }
	e.srv.Hook = func(difytest.Call) difytest.Behavior { return difytest.Behavior{ChunkDelay: 20 * time.Millisecond} }
	// Warm up so the transport's and server's long-lived goroutines exist.
	if _, err := e.p.Chat(context.Background(), req("w", "u", "hi")); err != nil {
		t.Fatal(err)
	}
	e.http.CloseIdleConnections()
	before := settle(0, 0)

	s, err := e.p.Stream(context.Background(), req("s", "u", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := s.Recv(); err != nil || ch.Delta == "" {
		t.Fatalf("first chunk %+v, %v", ch, err)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Recv(); providers.KindOf(err) != providers.KindCanceled {
		t.Fatalf("Recv after Close: %v", err)
	}
	for e.srv.Disconnects() == 0 {
		if time.Since(start) > 2*time.Second {
			t.Fatal("server never saw the client leave")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.http.CloseIdleConnections()
	if after := settle(before, 2*time.Second); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: %d before, %d after Close\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// settle waits up to d for the goroutine count to drop to want or below
// and returns the count.
func settle(want int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseFromAnotherGoroutine(t *testing.T) {
	e := setup(t, "")
	e.srv.Hook = func(difytest.Call) difytest.Behavior { return difytest.Behavior{FirstTokenDelay: 5 * time.Second} }
	s, err := e.p.Stream(context.Background(), req("s", "u", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := s.Recv()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if providers.KindOf(err) != providers.KindCanceled {
			t.Fatalf("blocked Recv returned %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Recv")
	}
}

func TestKeyRedacted(t *testing.T) {
	e := setup(t, "")
	e.srv.Hook = func(difytest.Call) difytest.Behavior {
		return difytest.Behavior{Status: 400, Code: "invalid_param", Message: "header was Bearer " + key}
	}
	_, err := e.p.Chat(context.Background(), req("s", "u", "hi"))
	if err == nil || strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("err = %v", err)
	}
}
