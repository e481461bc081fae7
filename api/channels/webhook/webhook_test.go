package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kefu-chat/kefu/api"
	"github.com/kefu-chat/kefu/api/channels"
	"github.com/kefu-chat/kefu/engine"
)

const secret = "s3cr3t-webhook-key"

type fakeTurner struct {
	mu    sync.Mutex
	reqs  []engine.Request
	reply *engine.Reply
	err   error
}

func (f *fakeTurner) Turn(_ context.Context, req engine.Request) (*engine.Reply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if f.err != nil {
		return nil, f.err
	}
	rep := *f.reply
	rep.SessionID = req.SessionID
	return &rep, nil
}

func sign(key, body string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func post(h http.Handler, body, sig string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/channels/webhook", strings.NewReader(body))
	if sig != "" {
		r.Header.Set(SignatureHeader, sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestWebhookOK(t *testing.T) {
	ft := &fakeTurner{reply: &engine.Reply{Route: "flow", Handoff: true, Replies: []engine.Part{
		{Type: "text", Text: "请提供订单号"}, {Type: "buttons", Text: "请选择"},
	}}}
	h := New(Config{Secret: secret}, ft, Deps{})
	body := `{"user_id":"u1","text":"我要退款","message_id":"m9","metadata":{"shop":"a"}}`
	w := post(h, body, sign(secret, body))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"session_id": "webhook:u1", "route": "flow", "handoff": true,
		"replies": []any{
			map[string]any{"type": "text", "text": "请提供订单号"},
			map[string]any{"type": "text", "text": "请选择"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	wantReq := engine.Request{SessionID: "webhook:u1", UserID: "u1", Channel: "webhook", Text: "我要退款",
		Metadata: map[string]string{"shop": "a", "message_id": "m9"}}
	if diff := cmp.Diff([]engine.Request{wantReq}, ft.reqs, cmp.Comparer(func(a, b func(engine.StreamEvent)) bool { return a == nil && b == nil })); diff != "" {
		t.Errorf("engine request (-want +got):\n%s", diff)
	}
}

func TestWebhookChannelAndIdentities(t *testing.T) {
	ft := &fakeTurner{reply: &engine.Reply{}}
	h := New(Config{Secret: secret, Channel: "shop", Identities: func(ch, u string) string { return "c-" + ch + "-" + u }}, ft, Deps{})
	body := `{"user_id":"u1","text":"hi"}`
	w := post(h, body, sign(secret, body))
	if w.Code != http.StatusOK || ft.reqs[0].SessionID != "c-shop-u1" || ft.reqs[0].Channel != "shop" {
		t.Fatalf("status %d, request %+v", w.Code, ft.reqs)
	}
	if !strings.Contains(w.Body.String(), `"replies":[]`) {
		t.Errorf("no replies should be an empty list: %s", w.Body)
	}
}

func TestWebhookErrors(t *testing.T) {
	good := `{"user_id":"u1","text":"hi"}`
	tests := []struct {
		name, secret, body, sig string
		method                  string
		status                  int
		code                    string
	}{
		{name: "missing signature", body: good, status: 401, code: "unauthenticated"},
		{name: "wrong key", body: good, sig: sign("other", good), status: 401, code: "unauthenticated"},
		{name: "signature of another body", body: good, sig: sign(secret, good+" "), status: 401, code: "unauthenticated"},
		{name: "no prefix", body: good, sig: strings.TrimPrefix(sign(secret, good), "sha256="), status: 401, code: "unauthenticated"},
		{name: "not hex", body: good, sig: "sha256=zz", status: 401, code: "unauthenticated"},
		{name: "no secret configured", secret: "-", body: good, sig: sign("", good), status: 401, code: "unauthenticated"},
		{name: "bad json", body: `{"user_id":`, status: 400, code: "invalid_json"},
		{name: "trailing data", body: good + `{}`, status: 400, code: "invalid_json"},
		{name: "unknown field", body: `{"user_id":"u1","text":"hi","sesion":"x"}`, status: 400, code: "invalid_json"},
		{name: "no user", body: `{"text":"hi"}`, status: 400, code: "invalid_argument"},
		{name: "user with slash", body: `{"user_id":"a/b","text":"hi"}`, status: 400, code: "invalid_argument"},
		{name: "empty text", body: `{"user_id":"u1","text":"  "}`, status: 400, code: "text_empty"},
		{name: "long text", body: `{"user_id":"u1","text":"` + strings.Repeat("字", 2001) + `"}`, status: 400, code: "text_too_long"},
		{name: "too large", body: `{"user_id":"u1","text":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, status: 413, code: "body_too_large"},
		{name: "GET", method: http.MethodGet, status: 405, code: "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := secret
			if tt.secret == "-" {
				key = ""
			}
			ft := &fakeTurner{reply: &engine.Reply{}}
			h := New(Config{Secret: key}, ft, Deps{})
			sig := tt.sig
			if sig == "" && tt.status == 400 || tt.status == 413 {
				sig = sign(secret, tt.body)
			}
			r := httptest.NewRequest(cmpOr(tt.method, http.MethodPost), "/", strings.NewReader(tt.body))
			r.Header.Set(SignatureHeader, sig)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			var env struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if w.Code != tt.status || env.Error.Code != tt.code || env.Error.Message == "" {
				t.Errorf("got %d %+v, want %d %s", w.Code, env.Error, tt.status, tt.code)
			}
			if len(ft.reqs) != 0 {
				t.Errorf("turn ran on a rejected request")
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestWebhookTurnErrors(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("save: %w", engine.ErrStore), 503, "unavailable"},
		{fmt.Errorf("%w: session \"webhook:u1\" belongs to another tenant", engine.ErrForbidden), 403, "permission_denied"},
		{errors.New("db password=hunter2 leaked"), 500, "internal"},
	} {
		var logs bytes.Buffer
		h := New(Config{Secret: secret}, &fakeTurner{err: tt.err}, Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		body := `{"user_id":"u1","text":"hi"}`
		w := post(h, body, sign(secret, body))
		if w.Code != tt.status || !strings.Contains(w.Body.String(), `"code":"`+tt.code+`"`) {
			t.Errorf("%v: got %d %s", tt.err, w.Code, w.Body)
		}
		if strings.Contains(w.Body.String(), "hunter2") {
			t.Errorf("internal detail sent to the client: %s", w.Body)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("secret logged: %s", logs.String())
		}
	}
}

// TestWebhookLimited: under channels.Limited a message over the session's
// budget gets the API's 429 with Retry-After, and the turn does not run.
func TestWebhookLimited(t *testing.T) {
	ft := &fakeTurner{reply: &engine.Reply{Route: "flow"}}
	lim := channels.Limited(ft, api.NewAdmission(api.Limits{PerSession: 1}), "channel:webhook", false)
	h := New(Config{Secret: secret}, lim, Deps{})
	body := `{"user_id":"u1","text":"在吗"}`
	if w := post(h, body, sign(secret, body)); w.Code != http.StatusOK {
		t.Fatalf("first message: %d %s", w.Code, w.Body)
	}
	w := post(h, body, sign(secret, body))
	var got struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusTooManyRequests || got.Error.Code != api.CodeRateLimited || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("second message: %d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if len(ft.reqs) != 1 {
		t.Fatalf("%d turns ran, want 1", len(ft.reqs))
	}
}
