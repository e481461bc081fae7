package coze_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/kefu-chat/kefu/providers"
	"github.com/kefu-chat/kefu/providers/coze"
	"github.com/kefu-chat/kefu/providers/coze/cozetest"
)

const (
	token = "pat_SECRET0123456789abcdef"
	botID = "7350000000000000001"
)

func setup(t *testing.T, logs io.Writer) (*cozetest.Server, *coze.Client) {
	t.Helper()
	srv := cozetest.New(t, token, botID)
	if logs == nil {
		logs = io.Discard
	}
	c, err := coze.New("coze-test", coze.Config{BaseURL: srv.URL, Token: token, BotID: botID, PollInterval: time.Millisecond},
		providers.Deps{HTTP: srv.Client(), Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func req(session, text string) providers.Request {
	return providers.Request{SessionID: session, Messages: []providers.Message{
		{Role: providers.RoleSystem, Content: "ignored: the bot has its own prompt"},
		{Role: providers.RoleUser, Content: text},
	}}
}

func collect(t *testing.T, s providers.Stream) (string, *providers.Usage, error) {
	t.Helper()
	defer s.Close()
	var b strings.Builder
	var u *providers.Usage
	for {
		ch, err := s.Recv()
		if err == io.EOF {
			return b.String(), u, nil
		}
		if err != nil {
			return b.String(), u, err
		}
		b.WriteString(ch.Delta)
		if ch.Usage != nil {
			u = ch.Usage
		}
	}
}

func TestOpen(t *testing.T) {
	decode := func(src string) func(any) error {
		return func(v any) error {
			d := yaml.NewDecoder(strings.NewReader(src))
			d.KnownFields(true)
			return d.Decode(v)
		}
	}
	p, err := providers.Open("coze", "c", decode("token: x\nbot_id: b\npoll_interval: 250ms\nmax_conversations: 5\n"), providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	for _, bad := range []string{"token: x\n", "bot_id: b\n", "token: x\nbot_id: b\nbase_url: ftp://x\n", "token: x\nbot_id: b\nmodel: m\n"} {
		if _, err := providers.Open("coze", "c", decode(bad), providers.Deps{}); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	_, err = providers.Open("coze", "c", decode("token: "+token+"\n"), providers.Deps{})
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("config error %v: want an error without the token", err)
	}
}

func TestStreamEqualsChat(t *testing.T) {
	for _, answers := range []int{1, 3} {
		srv, c := setup(t, nil)
		srv.Set(cozetest.Behavior{Answers: answers, Polls: 3, Answer: func(q cozetest.Query) string {
			return "您好，关于「" + q.Text + "」，请提供订单号。Thanks!"
		}})
		ctx := context.Background()
		resp, err := c.Chat(ctx, req("s1", "退款"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Stream(ctx, req("s2", "退款"))
		if err != nil {
			t.Fatal(err)
		}
		text, u, err := collect(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if text != resp.Text {
			t.Errorf("answers=%d: stream %q != chat %q", answers, text, resp.Text)
		}
		want := providers.Usage{PromptTokens: 2, CompletionTokens: len([]rune(resp.Text)) - 2*(answers-1), TotalTokens: 2 + len([]rune(resp.Text)) - 2*(answers-1)}
		if diff := cmp.Diff(want, resp.Usage); diff != "" {
			t.Errorf("chat usage (-want +got):\n%s", diff)
		}
		if u == nil || *u != resp.Usage {
			t.Errorf("stream usage %v, chat usage %v", u, resp.Usage)
		}
		if resp.FinishReason != "stop" || resp.Model != botID {
			t.Errorf("response %+v", resp)
		}
	}
}

func TestConversationContinuity(t *testing.T) {
	srv, c := setup(t, nil)
	srv.Set(cozetest.Behavior{Answer: func(q cozetest.Query) string {
		return q.ConversationID + "#" + string(rune('0'+q.Turn))
	}})
	ctx := context.Background()
	turn := func(session, user, text string, stream bool) string {
		t.Helper()
		r := req(session, text)
		r.User = user
		if !stream {
			resp, err := c.Chat(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return resp.Text
		}
		s, err := c.Stream(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := collect(t, s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a1 := turn("A", "", "hi", true)
	a2 := turn("A", "", "again", false)
	a3 := turn("A", "", "third", true)
	b1 := turn("B", "", "hi", false)
	a4 := turn("A", "other-user", "hi", true)
	convA := strings.Split(a1, "#")[0]
	if a1 != convA+"#1" || a2 != convA+"#2" || a3 != convA+"#3" {
		t.Errorf("session A did not continue: %q %q %q", a1, a2, a3)
	}
	if strings.HasPrefix(b1, convA) || !strings.HasSuffix(b1, "#1") {
		t.Errorf("session B shares A's conversation: %q", b1)
	}
	if strings.HasPrefix(a4, convA) {
		t.Errorf("another user on session A shares its conversation: %q", a4)
	}
	if got := srv.Conversations(); got != 3 {
		t.Errorf("conversations = %d, want 3", got)
	}
	want := []string{"user: hi", "assistant: " + a1, "user: again", "assistant: " + a2, "user: third", "assistant: " + a3}
	if diff := cmp.Diff(want, srv.History(convA)); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	// Only the new user message is sent; user_id is kefu-<session>.
	for _, r := range srv.Requests() {
		if r.Path != "/v3/chat" {
			continue
		}
		if msgs := r.Body["additional_messages"].([]any); len(msgs) != 1 {
			t.Errorf("sent %d messages, want 1", len(msgs))
		}
		if u := r.Body["user_id"]; u != "kefu-A" && u != "kefu-B" && u != "other-user" {
			t.Errorf("user_id %v", u)
		}
	}
}

func TestConversationForgottenWhenRefused(t *testing.T) {
	srv, c := setup(t, nil)
	ctx := context.Background()
	if _, err := c.Chat(ctx, req("S", "one")); err != nil {
		t.Fatal(err)
	}
	srv.Set(cozetest.Behavior{Code: 4200, Msg: "conversation not found"})
	if _, err := c.Chat(ctx, req("S", "two")); providers.KindOf(err) != providers.KindBadRequest {
		t.Fatalf("err %v, want bad_request", err)
	}
	srv.Set(cozetest.Behavior{})
	if _, err := c.Chat(ctx, req("S", "three")); err != nil {
		t.Fatal(err)
	}
	// The turn after the refusal starts a new conversation.
	var creates []string
	for _, r := range srv.Requests() {
		if r.Path == "/v3/chat" {
			creates = append(creates, r.ConversationID)
		}
	}
	if len(creates) != 3 || creates[1] == "" || creates[2] != "" {
		t.Errorf("conversation ids sent: %q", creates)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		b          cozetest.Behavior
		token      string
		kind       providers.Kind
		retryAfter time.Duration
		status     int
		midStream  bool // the stream starts, then fails
	}{
		{name: "bad token", token: "pat_WRONG", kind: providers.KindAuth, status: 401},
		{name: "auth code on 200", b: cozetest.Behavior{Code: 4101, Msg: "token " + token + " has no permission"}, kind: providers.KindAuth},
		{name: "429", b: cozetest.Behavior{Status: 429, RetryAfter: "7"}, kind: providers.KindRateLimit, retryAfter: 7 * time.Second, status: 429},
		{name: "rate code", b: cozetest.Behavior{Code: 4013, Msg: "request frequency exceeds the limit"}, kind: providers.KindRateLimit},
		{name: "5xx burst", b: cozetest.Behavior{Status: 503, FailRequests: -1}, kind: providers.KindUnavailable, status: 503},
		{name: "502", b: cozetest.Behavior{Status: 502}, kind: providers.KindUnavailable, status: 502},
		{name: "internal code", b: cozetest.Behavior{Code: 5000, Msg: "internal error"}, kind: providers.KindUnavailable},
		{name: "bot not published", b: cozetest.Behavior{Code: 4015, Msg: "bot not published to the API channel"}, kind: providers.KindBadRequest},
		{name: "bad param", b: cozetest.Behavior{Code: 4000, Msg: "invalid parameter"}, kind: providers.KindBadRequest},
		{name: "moderation", b: cozetest.Behavior{Code: 4000, Msg: "the input contains sensitive content"}, kind: providers.KindContentFilter},
		{name: "context length", b: cozetest.Behavior{Code: 4000, Msg: "input exceeds the maximum context length"}, kind: providers.KindContextLength},
		{name: "chat failed", b: cozetest.Behavior{FailCode: 5000, FailMsg: "event interval error", FailAfter: 2}, kind: providers.KindUnavailable, midStream: true},
		{name: "chat failed moderation", b: cozetest.Behavior{FailCode: 4000, FailMsg: "output flagged by moderation"}, kind: providers.KindContentFilter},
		{name: "error event", b: cozetest.Behavior{FailCode: 4013, FailMsg: "too many requests", ErrorEvent: true, FailAfter: 1}, kind: providers.KindRateLimit, midStream: true},
		{name: "requires action", b: cozetest.Behavior{RequiresAction: true}, kind: providers.KindBadRequest, midStream: true},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name + map[bool]string{false: "/chat", true: "/stream"}[stream]
			if !stream && tt.b.ErrorEvent {
				continue // error events exist only in streams
			}
			t.Run(name, func(t *testing.T) {
				var logs bytes.Buffer
				srv, c := setup(t, &logs)
				if tt.token != "" {
					c2, err := coze.New("coze-test", coze.Config{BaseURL: srv.URL, Token: tt.token, BotID: botID, PollInterval: time.Millisecond},
						providers.Deps{HTTP: srv.Client(), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
					if err != nil {
						t.Fatal(err)
					}
					c = c2
				}
				srv.Set(tt.b)
				var err error
				if stream {
					var s providers.Stream
					s, err = c.Stream(context.Background(), req("s", "hello there, world"))
					if err == nil {
						if !tt.midStream {
							t.Errorf("Stream succeeded; want the error before the first chunk")
						}
						_, _, err = collect(t, s)
					}
				} else {
					_, err = c.Chat(context.Background(), req("s", "hello there, world"))
				}
				var pe *providers.Error
				if !errors.As(err, &pe) {
					t.Fatalf("err %v (%T), want *providers.Error", err, err)
				}
				if pe.Kind != tt.kind || pe.RetryAfter != tt.retryAfter || pe.Status != tt.status || pe.Provider != "coze-test" {
					t.Errorf("got kind %s retry %v status %d; want %s %v %d (%v)", pe.Kind, pe.RetryAfter, pe.Status, tt.kind, tt.retryAfter, tt.status, err)
				}
				for _, tok := range []string{token, tt.token} {
					if tok != "" && (strings.Contains(err.Error(), tok) || strings.Contains(pe.Message, tok) || strings.Contains(logs.String(), tok)) {
						t.Errorf("the token leaked: %v / %s", err, logs.String())
					}
				}
			})
		}
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	srv, c := setup(t, nil)
	srv.Set(cozetest.Behavior{FirstTokenDelay: 2 * time.Second, Polls: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Chat(ctx, req("s", "slow")); providers.KindOf(err) != providers.KindTimeout {
		t.Errorf("Chat: %v, want timeout", err)
	}
	if srv.Canceled() != 1 {
		t.Errorf("canceled chats = %d, want 1 (the abandoned chat is canceled)", srv.Canceled())
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := c.Stream(ctx2, req("s", "slow")); providers.KindOf(err) != providers.KindTimeout {
		t.Errorf("Stream: %v, want timeout", err)
	}
	ctx3, cancel3 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel3)
	if _, err := c.Stream(ctx3, req("s", "slow")); providers.KindOf(err) != providers.KindCanceled {
		t.Errorf("Stream: %v, want canceled", err)
	}
}

func TestSlowFirstToken(t *testing.T) {
	srv, c := setup(t, nil)
	srv.Set(cozetest.Behavior{FirstTokenDelay: 200 * time.Millisecond})
	s, err := c.Stream(context.Background(), req("s", "wait for it"))
	if err != nil {
		t.Fatal(err)
	}
	if text, _, err := collect(t, s); err != nil || text != "echo: wait for it" {
		t.Errorf("got %q, %v", text, err)
	}
}

func TestDisconnectAndTruncation(t *testing.T) {
	for _, b := range []cozetest.Behavior{{DisconnectAfter: 2}, {NoDone: true, FailCode: 0}} {
		srv, c := setup(t, nil)
		srv.Set(b)
		s, err := c.Stream(context.Background(), req("s", "a fairly long question"))
		if err != nil {
			t.Fatal(err)
		}
		text, _, err := collect(t, s)
		if b.DisconnectAfter > 0 {
			if providers.KindOf(err) != providers.KindUnavailable || text == "" {
				t.Errorf("disconnect: %q, %v; want some text then unavailable", text, err)
			}
		} else if err != nil || text != "echo: a fairly long question" {
			// a stream that ends after chat.completed without done is complete
			t.Errorf("no done: %q, %v", text, err)
		}
	}
}

func TestCloseMidStream(t *testing.T) {
	srv, c := setup(t, nil)
	srv.Set(cozetest.Behavior{StallAfter: 1})
	before := runtime.NumGoroutine()
	for range 5 {
		s, err := c.Stream(context.Background(), req("s", "hold the line please"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := s.Recv() // blocks: the server stalls
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		s.Close()
		s.Close()
		select {
		case err := <-done:
			if providers.KindOf(err) != providers.KindCanceled {
				t.Errorf("Recv after Close: %v, want canceled", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Close did not unblock Recv")
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for srv.OpenStreams() != 0 || runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("open streams %d, goroutines %d (before %d)", srv.OpenStreams(), runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLRUBound(t *testing.T) {
	srv := cozetest.New(t, token, botID)
	c, err := coze.New("c", coze.Config{BaseURL: srv.URL, Token: token, BotID: botID, PollInterval: time.Millisecond, MaxConversations: 2},
		providers.Deps{HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range []string{"a", "b", "a", "c", "a", "b"} {
		if _, err := c.Chat(ctx, req(s, "x")); err != nil {
			t.Fatal(err)
		}
	}
	// a, b, a(cont), c evicts b, a(cont), b(new): a continues, b restarts.
	if got := srv.Conversations(); got != 4 {
		t.Errorf("conversations = %d, want 4", got)
	}
}

func TestConcurrent(t *testing.T) {
	srv, c := setup(t, nil)
	srv.Set(cozetest.Behavior{Polls: 2})
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			session := string(rune('a' + i%5))
			if i%2 == 0 {
				_, err := c.Chat(context.Background(), req(session, "q"))
				errs <- err
				return
			}
			s, err := c.Stream(context.Background(), req(session, "q"))
			if err == nil {
				_, _, err = collect(t, s)
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestNoUserMessage(t *testing.T) {
	_, c := setup(t, nil)
	_, err := c.Chat(context.Background(), providers.Request{Messages: []providers.Message{{Role: providers.RoleSystem, Content: "x"}}})
	if providers.KindOf(err) != providers.KindBadRequest {
		t.Errorf("err %v, want bad_request", err)
	}
}
