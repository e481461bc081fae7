package channels_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kefu-chat/kefu/api/channels/telegram"
	"github.com/kefu-chat/kefu/api/channels/webhook"
	"github.com/kefu-chat/kefu/engine"
)

// recorder is a fake Turner that records the session id of every turn.
type recorder struct {
	mu       sync.Mutex
	sessions []string
}

func (r *recorder) Turn(_ context.Context, req engine.Request) (*engine.Reply, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sessions = append(r.sessions, req.SessionID)
	return &engine.Reply{SessionID: req.SessionID, Replies: []engine.Part{{Type: "text", Text: "ok"}}}, nil
}

// An operator maps Telegram user 7 and webhook user "shop-u1" to one
// customer: both adapters continue the same conversation.
func TestSharedIdentity(t *testing.T) {
	identities := func(channel, userID string) string {
		switch channel + "/" + userID {
		case "telegram/7", "webhook/shop-u1":
			return "customer-42"
		}
		return "" // everyone else: channel:user
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) }))
	defer api.Close()
	rec := &recorder{}
	tg := telegram.New(telegram.Config{Token: "t", Secret: "tg", APIBase: api.URL, Identities: identities}, rec, telegram.Deps{})
	wh := webhook.New(webhook.Config{Secret: "wh", Identities: identities}, rec, webhook.Deps{})

	tgPost := func(from string) {
		r := httptest.NewRequest(http.MethodPost, "/channels/telegram", strings.NewReader(
			`{"update_id":1,"message":{"message_id":1,"from":{"id":`+from+`},"chat":{"id":`+from+`},"text":"hi"}}`))
		r.Header.Set(telegram.SecretHeader, "tg")
		w := httptest.NewRecorder()
		tg.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("telegram: %d %s", w.Code, w.Body)
		}
		tg.Close() // wait for the turn, keeping the order below
		tg = telegram.New(telegram.Config{Token: "t", Secret: "tg", APIBase: api.URL, Identities: identities}, rec, telegram.Deps{})
	}
	whPost := func(user string) {
		body := `{"user_id":"` + user + `","text":"hi"}`
		m := hmac.New(sha256.New, []byte("wh"))
		m.Write([]byte(body))
		r := httptest.NewRequest(http.MethodPost, "/channels/webhook", strings.NewReader(body))
		r.Header.Set(webhook.SignatureHeader, "sha256="+hex.EncodeToString(m.Sum(nil)))
		w := httptest.NewRecorder()
		wh.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"session_id":"`+rec.sessions[len(rec.sessions)-1]+`"`) {
			t.Fatalf("webhook: %d %s", w.Code, w.Body)
		}
	}
	tgPost("7")
	whPost("shop-u1")
	tgPost("8")
	whPost("other")
	tg.Close()
	want := []string{"customer-42", "customer-42", "telegram:8", "webhook:other"}
	if diff := cmp.Diff(want, rec.sessions); diff != "" {
		t.Errorf("session ids (-want +got):\n%s", diff)
	}
}
