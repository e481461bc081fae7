package openai_test

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
	"github.com/kefu-chat/kefu/providers/openai"
	"github.com/kefu-chat/kefu/providers/openai/openaitest"
)

const key = "sk-test-SECRET-0123456789abcdef"

func newClient(t testing.TB, s *openaitest.Server, mut func(*openai.Config), logs io.Writer) *openai.Client {
	t.Helper()
	cfg := openai.Config{BaseURL: s.URL, APIKey: key, Model: "gpt-test"}
	if mut != nil {
		mut(&cfg)
	}
	if logs == nil {
		logs = io.Discard
	}
	c, err := openai.New("gpt", cfg, providers.Deps{
		HTTP:   &http.Client{Transport: &http.Transport{}},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func req(text string) providers.Request {
	return providers.Request{Messages: []providers.Message{
		{Role: providers.RoleSystem, Content: "You are kefu."},
		{Role: providers.RoleUser, Content: "earlier question"},
		{Role: providers.RoleAssistant, Content: "earlier answer"},
		{Role: providers.RoleUser, Content: text},
	}}
}

// drain reads a whole stream: its text, the last usage seen, and the error
// that ended it (nil for io.EOF).
func drain(ctx context.Context, p providers.Provider, r providers.Request) (string, *providers.Usage, int, error) {
	st, err := p.Stream(ctx, r)
	if err != nil {
		return "", nil, 0, err
	}
	defer st.Close()
	var b strings.Builder
	var u *providers.Usage
	n := 0
	for {
		ch, err := st.Recv()
		if err == io.EOF {
			return b.String(), u, n, nil
		}
		if err != nil {
			return b.String(), u, n, err
		}
		n++
		b.WriteString(ch.Delta)
		if ch.Usage != nil {
			u = ch.Usage
		}
	}
}

func TestChatAndStreamAgree(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{APIKey: key, ChunkRunes: 2})
	c := newClient(t, s, nil, nil)
	ctx := context.Background()
	const q = "我要退货，订单 A1234"

	resp, err := c.Chat(ctx, req(q))
	if err != nil {
		t.Fatal(err)
	}
	want := &providers.Response{
		Text:         q,
		Usage:        providers.Usage{PromptTokens: 56, CompletionTokens: 13, TotalTokens: 69},
		Model:        "gpt-test",
		FinishReason: "stop",
	}
	if d := cmp.Diff(want, resp); d != "" {
		t.Errorf("Chat (-want +got):\n%s", d)
	}
	if got := s.LastRequest(); got.StreamOptions != nil || got.Stream || len(got.Messages) != 4 || got.Messages[0].Role != "system" || got.Messages[2].Role != "assistant" {
		t.Errorf("chat request = %+v", got)
	}

	text, u, n, err := drain(ctx, c, req(q))
	if err != nil {
		t.Fatal(err)
	}
	if text != resp.Text {
		t.Errorf("stream text %q, chat text %q", text, resp.Text)
	}
	if n < 5 {
		t.Errorf("got %d chunks, want the reply in 2-rune deltas", n)
	}
	if u == nil || *u != resp.Usage {
		t.Errorf("stream usage %v, chat usage %v", u, resp.Usage)
	}
	got := s.LastRequest()
	if !got.Stream || got.StreamOptions == nil || !got.StreamOptions.IncludeUsage {
		t.Errorf("stream request lacks stream_options.include_usage: %+v", got)
	}
	if got.Header.Get("Authorization") != "Bearer "+key {
		t.Errorf("Authorization = %q", got.Header.Get("Authorization"))
	}
}

func TestRequestOptions(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{})
	zero, half := 0.0, 0.5
	c := newClient(t, s, func(c *openai.Config) { c.MaxTokens = 100; c.Temperature = &half; c.Organization = "org-1" }, nil)
	ctx := context.Background()

	if _, err := c.Chat(ctx, req("hi")); err != nil {
		t.Fatal(err)
	}
	got := s.LastRequest()
	if got.MaxTokens == nil || *got.MaxTokens != 100 || got.Temperature == nil || *got.Temperature != 0.5 || got.Header.Get("OpenAI-Organization") != "org-1" {
		t.Errorf("config defaults not sent: %+v", got)
	}
	r := req("hi")
	r.MaxTokens, r.Temperature = 7, &zero
	if _, err := c.Chat(ctx, r); err != nil {
		t.Fatal(err)
	}
	got = s.LastRequest()
	if got.MaxTokens == nil || *got.MaxTokens != 7 || got.Temperature == nil || *got.Temperature > 1e-30 {
		t.Errorf("request overrides not sent (temperature 0 must not be dropped): max_tokens %v temperature %v", got.MaxTokens, got.Temperature)
	}
}

func TestErrors(t *testing.T) {
	date := time.Date(2025, 1, 1, 0, 0, 30, 0, time.UTC).Format(http.TimeFormat)
	tests := []struct {
		name       string
		srv        openaitest.Config
		fault      *openaitest.Fault
		cfg        func(*openai.Config)
		timeout    time.Duration
		cancel     bool
		streamOnly bool
		want       providers.Kind
		status     int
		retryAfter time.Duration
	}{
		{name: "wrong key", srv: openaitest.Config{APIKey: "sk-other"}, want: providers.KindAuth, status: 401},
		{name: "no key", srv: openaitest.Config{APIKey: "sk-other"}, cfg: func(c *openai.Config) { c.APIKey = "" }, want: providers.KindAuth, status: 401},
		{name: "forbidden", fault: &openaitest.Fault{Status: 403, Type: "invalid_request_error", Code: "unsupported_country_region_territory", Message: "Country not supported"}, want: providers.KindAuth, status: 403},
		{name: "429 seconds", fault: ptr(openaitest.RateLimited("7")), want: providers.KindRateLimit, status: 429, retryAfter: 7 * time.Second},
		{name: "429 date", fault: ptr(openaitest.RateLimited(date)), want: providers.KindRateLimit, status: 429, retryAfter: 30 * time.Second},
		{name: "429 ms", fault: &openaitest.Fault{Status: 429, Code: "rate_limit_exceeded", Message: "slow down", Header: http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"2"}}}, want: providers.KindRateLimit, status: 429, retryAfter: 1500 * time.Millisecond},
		{name: "429 none", fault: ptr(openaitest.RateLimited("")), want: providers.KindRateLimit, status: 429},
		{name: "500", fault: ptr(openaitest.ServerError()), want: providers.KindUnavailable, status: 500},
		{name: "503 not json", fault: &openaitest.Fault{Status: 503}, want: providers.KindUnavailable, status: 503},
		{name: "408", fault: &openaitest.Fault{Status: 408, Message: "timeout"}, want: providers.KindTimeout, status: 408},
		{name: "context length", srv: openaitest.Config{MaxContext: 10}, want: providers.KindContextLength, status: 400},
		{name: "context length scripted", fault: ptr(openaitest.ContextLengthExceeded()), want: providers.KindContextLength, status: 400},
		{name: "context length no code", fault: &openaitest.Fault{Status: 400, Type: "BadRequestError", Message: "This model's maximum context length is 4096 tokens."}, want: providers.KindContextLength, status: 400},
		{name: "content filter 400", fault: ptr(openaitest.ContentFiltered()), want: providers.KindContentFilter, status: 400},
		{name: "finish content_filter", fault: &openaitest.Fault{FinishReason: "content_filter"}, want: providers.KindContentFilter, status: 200},
		{name: "unknown model", srv: openaitest.Config{Models: []string{"gpt-4o"}}, want: providers.KindBadRequest, status: 404},
		{name: "400", fault: &openaitest.Fault{Status: 400, Type: "invalid_request_error", Param: "max_tokens", Message: "max_tokens is too large"}, want: providers.KindBadRequest, status: 400},
		{name: "422", fault: &openaitest.Fault{Status: 422, Message: "unprocessable"}, want: providers.KindBadRequest, status: 422},
		{name: "deadline", fault: &openaitest.Fault{Delay: 5 * time.Second}, timeout: 50 * time.Millisecond, want: providers.KindTimeout},
		{name: "canceled", fault: &openaitest.Fault{Delay: 5 * time.Second}, cancel: true, want: providers.KindCanceled},
		{name: "network", cfg: func(c *openai.Config) { c.BaseURL = "http://127.0.0.1:1/v1" }, want: providers.KindUnavailable},
		{name: "200 garbage", fault: &openaitest.Fault{Raw: []byte("<html>bad gateway</html>")}, want: providers.KindUnavailable},
		{name: "mid-stream disconnect", fault: &openaitest.Fault{Disconnect: true, AfterChunks: 2}, streamOnly: true, want: providers.KindUnavailable},
		{name: "stream without DONE", fault: &openaitest.Fault{Raw: []byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n")}, streamOnly: true, want: providers.KindUnavailable},
		{name: "in-stream server_error", fault: &openaitest.Fault{StreamError: true, AfterChunks: 1, Type: "server_error", Message: "boom"}, streamOnly: true, want: providers.KindUnavailable},
		{name: "in-stream context length", fault: &openaitest.Fault{StreamError: true, Type: "invalid_request_error", Code: "context_length_exceeded", Message: "too long"}, streamOnly: true, want: providers.KindContextLength},
		{name: "in-stream rate limit", fault: &openaitest.Fault{StreamError: true, AfterChunks: 2, Type: "tokens", Code: "rate_limit_exceeded", Message: "slow"}, streamOnly: true, want: providers.KindRateLimit},
		{name: "in-stream bad request spaced", fault: &openaitest.Fault{Raw: []byte("data: { \"error\": {\"message\": \"bad\", \"type\": \"invalid_request_error\"}}\n\n")}, streamOnly: true, want: providers.KindBadRequest},
	}
	for _, tt := range tests {
		for _, mode := range []string{"chat", "stream"} {
			if tt.streamOnly && mode == "chat" {
				continue
			}
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				if tt.srv.APIKey == "" {
					tt.srv.APIKey = key
				}
				s := openaitest.New(t, tt.srv)
				if tt.fault != nil {
					s.FailNext(*tt.fault)
				}
				var logs bytes.Buffer
				c := newClient(t, s, tt.cfg, &logs)
				ctx := context.Background()
				if tt.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
					defer cancel()
				}
				if tt.cancel {
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					time.AfterFunc(50*time.Millisecond, cancel)
				}
				var err error
				if mode == "chat" {
					_, err = c.Chat(ctx, req("hello there, model"))
				} else {
					_, _, _, err = drain(ctx, c, req("hello there, model"))
				}
				var pe *providers.Error
				if !errors.As(err, &pe) {
					t.Fatalf("err = %#v, want *providers.Error", err)
				}
				if pe.Kind != tt.want || pe.Provider != "gpt" {
					t.Errorf("kind = %s, want %s (%v)", pe.Kind, tt.want, err)
				}
				if tt.status != 0 && pe.Status != tt.status && (mode == "chat" || tt.status != 200) {
					t.Errorf("status = %d, want %d", pe.Status, tt.status)
				}
				if pe.RetryAfter != tt.retryAfter {
					t.Errorf("RetryAfter = %v, want %v", pe.RetryAfter, tt.retryAfter)
				}
				checkNoKey(t, err, logs.String())
			})
		}
	}
}

// checkNoKey fails if the key shows in err, its chain, or the logs.
func checkNoKey(t *testing.T, err error, logs string) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		for _, s := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			if strings.Contains(s, key) || strings.Contains(s, "SECRET") {
				t.Errorf("key leaked in error: %s", s)
			}
		}
	}
	if strings.Contains(logs, "SECRET") {
		t.Errorf("key leaked in logs: %s", logs)
	}
}

func TestRetryAfterBurst(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{})
	s.FailNext(openaitest.ServerError(), openaitest.ServerError())
	c := newClient(t, s, nil, nil)
	for i, want := range []providers.Kind{providers.KindUnavailable, providers.KindUnavailable, ""} {
		_, err := c.Chat(context.Background(), req("x"))
		if got := kindOf(err); got != want {
			t.Errorf("call %d: kind %q, want %q", i, got, want)
		}
	}
	if s.ChatRequests() != 3 || s.Requests() != 3 {
		t.Errorf("counters: chat %d all %d", s.ChatRequests(), s.Requests())
	}
}

func kindOf(err error) providers.Kind {
	if err == nil {
		return ""
	}
	return providers.KindOf(err)
}

func TestBadRequestBeforeSending(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{})
	c := newClient(t, s, nil, nil)
	for _, r := range []providers.Request{{}, {Messages: []providers.Message{{Role: "tool", Content: "x"}}}} {
		if _, err := c.Chat(context.Background(), r); providers.KindOf(err) != providers.KindBadRequest {
			t.Errorf("Chat(%v) = %v, want bad_request", r, err)
		}
		if _, err := c.Stream(context.Background(), r); providers.KindOf(err) != providers.KindBadRequest {
			t.Errorf("Stream(%v) = %v, want bad_request", r, err)
		}
	}
	if s.Requests() != 0 {
		t.Errorf("%d requests sent", s.Requests())
	}
}

func TestSlowFirstToken(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{})
	s.FailNext(openaitest.Fault{Delay: 200 * time.Millisecond})
	c := newClient(t, s, nil, nil)
	start := time.Now()
	text, _, _, err := drain(context.Background(), c, req("slow"))
	if err != nil || text != "slow" || time.Since(start) < 200*time.Millisecond {
		t.Errorf("got %q, %v after %v", text, err, time.Since(start))
	}
}

func TestCloseMidStream(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{ChunkRunes: 1})
	hc := &http.Client{Transport: &http.Transport{}}
	c, err := openai.New("gpt", openai.Config{BaseURL: s.URL, APIKey: key, Model: "m"}, providers.Deps{HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()

	s.FailNext(openaitest.Fault{ChunkDelay: 20 * time.Millisecond})
	st, err := c.Stream(context.Background(), req(strings.Repeat("long answer ", 50)))
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := st.Recv(); err != nil || ch.Delta != "l" {
		t.Fatalf("Recv = %+v, %v", ch, err)
	}
	// Close from another goroutine while Recv blocks on the next chunk.
	var wg sync.WaitGroup
	wg.Add(1)
	var recvErr error
	go func() {
		defer wg.Done()
		for {
			if _, recvErr = st.Recv(); recvErr != nil {
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	wg.Wait()
	if k := providers.KindOf(recvErr); k != providers.KindCanceled {
		t.Errorf("Recv after Close: %v (kind %s), want canceled", recvErr, k)
	}
	if _, err := st.Recv(); err == nil {
		t.Error("Recv after Close succeeded")
	}
	hc.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Second)
	for s.Active() != 0 || runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("leak: %d handlers active, goroutines %d > %d\n%s", s.Active(), runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenRegistered(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{})
	decode := func(src string) func(any) error {
		return func(v any) error {
			dec := yaml.NewDecoder(strings.NewReader(src))
			dec.KnownFields(true)
			return dec.Decode(v)
		}
	}
	p, err := providers.Open("openai", "gpt", decode("base_url: "+s.URL+"\napi_key: "+key+"\nmodel: m\nmax_tokens: 5\ntemperature: 0.2\n"), providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if r, err := p.Chat(context.Background(), req("ok")); err != nil || r.Text != "ok" {
		t.Fatalf("Chat = %v, %v", r, err)
	}
	for _, tc := range []struct{ src, want string }{
		{"model: m\napi_keyy: " + key + "\n", "field api_keyy not found"},
		{"api_key: " + key + "\n", "model: required"},
		{"model: m\nbase_url: ftp://x\napi_key: " + key + "\n", "base_url"},
		{"model: m\ntemperature: 3\n", "temperature"},
		{"model: m\nmax_tokens: -1\n", "max_tokens"},
	} {
		_, err := providers.Open("openai", "gpt", decode(tc.src), providers.Deps{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want %q", tc.src, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("key in %v", err)
		}
	}
	cfg := openai.Config{APIKey: key, Model: "m", BaseURL: "https://u:pw@x/v1"}
	if s := fmt.Sprint(cfg) + fmt.Sprintf("%v %+v", cfg, cfg); strings.Contains(s, "SECRET") || strings.Contains(s, "pw") {
		t.Errorf("Config prints a secret: %s", s)
	}
}

func TestClosedProvider(t *testing.T) {
	s := openaitest.New(t, openaitest.Config{})
	c := newClient(t, s, nil, nil)
	_ = c.Close()
	if _, err := c.Chat(context.Background(), req("x")); providers.KindOf(err) != providers.KindUnavailable {
		t.Errorf("Chat after Close: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
