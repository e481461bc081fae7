package app

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestKeyTenantsWired: server.keys[].tenant reaches the API, so keys of
// one tenant share sessions and another tenant's key is refused them; a
// channel's tenant owns the sessions the channel creates.
func TestKeyTenantsWired(t *testing.T) {
	demoRuntime(t)
	a := buildFile(t, writeDemoConfig(t, `
server:
  keys:
    - {name: web, key: key-web-0123456789, scopes: [chat], tenant: shop-a}
    - {name: app, key: key-app-0123456789, scopes: [chat], tenant: shop-a}
    - {name: shop-b, key: key-b-0123456789ab, scopes: [chat]}
channels:
  webhook: {secret: "0123456789abcdef0123", tenant: shop-a}
`))
	do := func(method, path, key, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, req)
		return rec
	}
	chat := `{"session_id":"t1","text":"你好"}`
	if rec := do("POST", "/v1/chat", "key-web-0123456789", chat); rec.Code != 200 {
		t.Fatalf("tenant shop-a creates: %d %s", rec.Code, rec.Body)
	}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/chat", chat}, {"GET", "/v1/sessions/t1", ""}, {"DELETE", "/v1/sessions/t1", ""},
	} {
		rec := do(r.method, r.path, "key-b-0123456789ab", r.body)
		if rec.Code != 403 || !strings.Contains(rec.Body.String(), `"permission_denied"`) {
			t.Errorf("tenant shop-b: %s %s = %d %s", r.method, r.path, rec.Code, rec.Body)
		}
	}
	if rec := do("GET", "/v1/sessions/t1", "key-app-0123456789", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), "你好") {
		t.Fatalf("the other key of shop-a: %d %s", rec.Code, rec.Body)
	}

	// The webhook channel acts for shop-a: its session is shop-a's.
	body := `{"user_id":"u7","text":"你好"}`
	req := httptest.NewRequest("POST", "/channels/webhook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Kefu-Signature", sign("0123456789abcdef0123", body))
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("webhook: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "/v1/sessions/webhook:u7", "key-b-0123456789ab", ""); rec.Code != 403 {
		t.Errorf("shop-b reads the webhook's session: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "/v1/sessions/webhook:u7", "key-web-0123456789", ""); rec.Code != 200 {
		t.Errorf("shop-a reads the webhook's session: %d %s", rec.Code, rec.Body)
	}
}
