package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kefu-chat/kefu/engine"
)

const (
	token  = "123456:ABC-secret-token"
	secret = "webhook-secret"
)

type fakeTurner struct {
	mu      sync.Mutex
	reqs    []engine.Request
	replies []engine.Part
	err     error
	block   chan struct{} // when set, Turn waits for it
}

func (f *fakeTurner) Turn(ctx context.Context, req engine.Request) (*engine.Reply, error) {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if f.err != nil {
		return nil, f.err
	}
	return &engine.Reply{SessionID: req.SessionID, Replies: f.replies}, nil
}

type sent struct {
	Path   string
	ChatID int64  `json:"chat_id"`
	Text   string `json:"text"`
}

// fakeAPI is a Telegram Bot API server that records sendMessage calls.
func fakeAPI(t *testing.T, status int) (*httptest.Server, func() []sent) {
	var mu sync.Mutex
	var got []sent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s sent
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			t.Errorf("sendMessage body: %v", err)
		}
		s.Path = r.Method + " " + r.URL.Path
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
		w.WriteHeader(status)
		if status != http.StatusOK {
			w.Write([]byte(`{"ok":false,"description":"Unauthorized: bad token ` + token + `"}`))
			return
		}
		w.Write([]byte(`{"ok":true,"result":{}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []sent { mu.Lock(); defer mu.Unlock(); return append([]sent(nil), got...) }
}

func update(chatID, fromID int64, text string) string {
	return `{"update_id":1,"message":{"message_id":5,"from":{"id":` + itoa(fromID) + `,"is_bot":false,"first_name":"A"},"chat":{"id":` + itoa(chatID) + `,"type":"private"},"date":1,"text":` + quote(text) + `}}`
}

func itoa(n int64) string   { b, _ := json.Marshal(n); return string(b) }
func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func deliver(b *Bot, body, secretHeader string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/channels/telegram", strings.NewReader(body))
	if secretHeader != "" {
		r.Header.Set(SecretHeader, secretHeader)
	}
	w := httptest.NewRecorder()
	b.ServeHTTP(w, r)
	return w
}

func TestTelegramReplies(t *testing.T) {
	api, got := fakeAPI(t, http.StatusOK)
	ft := &fakeTurner{replies: []engine.Part{{Type: "text", Text: "您好"}, {Type: "buttons", Text: "请选择"}}}
	b := New(Config{Token: token, Secret: secret, APIBase: api.URL + "/"}, ft, Deps{})
	if w := deliver(b, update(-100, 7, "我要退款"), secret); w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	b.Close()
	want := []sent{
		{Path: "POST /bot" + token + "/sendMessage", ChatID: -100, Text: "您好"},
		{Path: "POST /bot" + token + "/sendMessage", ChatID: -100, Text: "请选择"},
	}
	if diff := cmp.Diff(want, got()); diff != "" {
		t.Errorf("sendMessage calls (-want +got):\n%s", diff)
	}
	r := ft.reqs[0]
	if r.SessionID != "telegram:7" || r.UserID != "7" || r.Channel != "telegram" || r.Text != "我要退款" ||
		r.Metadata["chat_id"] != "-100" || r.Metadata["message_id"] != "5" {
		t.Errorf("engine request %+v", r)
	}
}

func TestTelegramAnswersBeforeTheTurn(t *testing.T) {
	api, got := fakeAPI(t, http.StatusOK)
	ft := &fakeTurner{block: make(chan struct{}), replies: []engine.Part{{Type: "text", Text: "ok"}}}
	b := New(Config{Token: token, Secret: secret, APIBase: api.URL}, ft, Deps{})
	done := make(chan int)
	go func() { done <- deliver(b, update(1, 1, "hi"), secret).Code }()
	select {
	case code := <-done:
		if code != http.StatusOK {
			t.Errorf("status %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the webhook waited for the turn")
	}
	if len(got()) != 0 {
		t.Error("sent before the turn finished")
	}
	close(ft.block)
	b.Close()
	if len(got()) != 1 {
		t.Errorf("got %d sends, want 1", len(got()))
	}
}

func TestTelegramRejects(t *testing.T) {
	for _, tt := range []struct {
		name, cfgSecret, header, body string
		status                        int
	}{
		{"missing secret header", secret, "", update(1, 1, "hi"), 401},
		{"wrong secret", secret, "nope", update(1, 1, "hi"), 401},
		{"no secret configured", "", "", update(1, 1, "hi"), 401},
		{"bad json", secret, secret, `{"message":`, 400},
		{"not an object", secret, secret, `[1]`, 400},
		{"photo, no text", secret, secret, `{"update_id":2,"message":{"message_id":1,"from":{"id":1},"chat":{"id":1},"photo":[]}}`, 200},
		{"edited message", secret, secret, `{"update_id":3,"edited_message":{"text":"x"}}`, 200},
		{"channel post, no from", secret, secret, `{"update_id":4,"message":{"chat":{"id":1},"text":"x"}}`, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api, got := fakeAPI(t, http.StatusOK)
			ft := &fakeTurner{}
			b := New(Config{Token: token, Secret: tt.cfgSecret, APIBase: api.URL}, ft, Deps{})
			w := deliver(b, tt.body, tt.header)
			b.Close()
			if w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 401 && !strings.Contains(w.Body.String(), `"code":"unauthenticated"`) {
				t.Errorf("body %s", w.Body)
			}
			if len(ft.reqs) != 0 || len(got()) != 0 {
				t.Errorf("turn ran or message sent for a rejected update")
			}
		})
	}
}

func TestTelegramTurnErrorSendsApology(t *testing.T) {
	api, got := fakeAPI(t, http.StatusOK)
	b := New(Config{Token: token, Secret: secret, APIBase: api.URL}, &fakeTurner{err: errors.New("boom")}, Deps{})
	deliver(b, update(3, 3, "hi"), secret)
	b.Close()
	if s := got(); len(s) != 1 || s[0].Text != DefaultErrorText {
		t.Errorf("sends %+v", s)
	}
}

func TestTelegramTokenNeverLeaks(t *testing.T) {
	api, _ := fakeAPI(t, http.StatusUnauthorized)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, base := range []string{api.URL, closed.URL, "http://bad host"} {
		var logs bytes.Buffer
		b := New(Config{Token: token, Secret: secret, APIBase: base}, &fakeTurner{replies: []engine.Part{{Type: "text", Text: "x"}}},
			Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		err := b.send(context.Background(), 1, "x")
		deliver(b, update(1, 1, "hi"), secret)
		b.Close()
		if err == nil {
			t.Fatalf("%s: send succeeded", base)
		}
		t.Logf("%s: %v", base, err)
		if strings.Contains(err.Error(), token) || strings.Contains(logs.String(), token) || strings.Contains(logs.String(), secret) {
			t.Errorf("%s: token leaked:\nerr: %v\nlogs: %s", base, err, logs.String())
		}
		if !strings.Contains(logs.String(), "send failed") {
			t.Errorf("%s: failure not logged: %s", base, logs.String())
		}
	}
}

func TestTelegramTooLong(t *testing.T) {
	api, got := fakeAPI(t, http.StatusOK)
	ft := &fakeTurner{replies: []engine.Part{{Type: "text", Text: "ok"}}}
	b := New(Config{Token: token, Secret: secret, APIBase: api.URL, MaxTextRunes: 5}, ft, Deps{})
	deliver(b, update(4, 4, "我要退款啊"), secret)  // 5: a turn
	deliver(b, update(4, 4, "我要退款啊!"), secret) // 6: refused
	b.Close()
	want := []string{"ok", "您的消息太长了，请分几条发送，每条不超过 5 字。"}
	var texts []string
	for _, s := range got() {
		texts = append(texts, s.Text)
	}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("sends (-want +got):\n%s", diff)
	}
	if len(ft.reqs) != 1 {
		t.Errorf("%d turns ran, want 1", len(ft.reqs))
	}
}

// slowTurner's turns outlast their context.
type slowTurner struct{}

func (slowTurner) Turn(ctx context.Context, _ engine.Request) (*engine.Reply, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestTelegramTimeoutStillApologises: a turn that runs out of time still
// gets the error text sent, on a deadline of its own.
func TestTelegramTimeoutStillApologises(t *testing.T) {
	api, got := fakeAPI(t, http.StatusOK)
	b := New(Config{Token: token, Secret: secret, APIBase: api.URL, Timeout: 20 * time.Millisecond, ErrorText: "请稍后再试"}, slowTurner{}, Deps{})
	deliver(b, update(5, 5, "hi"), secret)
	b.Close()
	if s := got(); len(s) != 1 || s[0].Text != "请稍后再试" {
		t.Errorf("sends %+v, want the error text", s)
	}
}
