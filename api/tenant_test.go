package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kefu-chat/kefu/dsl"
	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/session/boltstore"
)

// newRealEngine is the real turn engine over a real session store, with
// a one-rule bot.
func newRealEngine(t *testing.T) *engine.Engine {
	t.Helper()
	bot := fstest.MapFS{"bot.kefu": {Data: []byte("when \"你好\" then say \"您好\"\n")}}
	prog, err := dsl.LoadFS(bot, []string{"bot.kefu"}, dsl.Schema{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "sessions.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e, err := engine.New(engine.Config{}, engine.Deps{Program: prog, Sessions: st})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestTenants: keys of different tenants cannot continue, read or delete
// each other's sessions; keys of one tenant share them.
func TestTenants(t *testing.T) {
	h := New(Options{Engine: newRealEngine(t), Keys: []APIKey{
		{Name: "web-a", Key: "key-web-a", Scopes: []string{ScopeChat}, Tenant: "shop-a"},
		{Name: "app-a", Key: "key-app-a", Scopes: []string{ScopeChat}, Tenant: "shop-a"},
		{Name: "shop-b", Key: "key-b", Scopes: []string{ScopeChat}}, // tenant: its name
		{Name: "ops", Key: "key-ops", Scopes: []string{ScopeChat, ScopeAdmin}},
	}})
	as := func(key string, extra ...string) map[string]string {
		hd := map[string]string{"Authorization": "Bearer " + key}
		for i := 0; i+1 < len(extra); i += 2 {
			hd[extra[i]] = extra[i+1]
		}
		return hd
	}
	chat := func(key, sid string, extra ...string) *httptest.ResponseRecorder {
		return serve(h, request{path: "/v1/chat", body: `{"session_id":"` + sid + `","text":"你好"}`, header: as(key, extra...)})
	}
	turns := func(key, sid string) int {
		t.Helper()
		rec := serve(h, request{method: "GET", path: "/v1/sessions/" + sid, header: as(key)})
		if rec.Code != 200 {
			t.Fatalf("GET %s as %s: %d %s", sid, key, rec.Code, rec.Body)
		}
		var v engine.SessionView
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		return len(v.Turns)
	}
	denied := func(what string, rec *httptest.ResponseRecorder) {
		t.Helper()
		e := wantError(t, rec, http.StatusForbidden, CodePermissionDenied)
		if e.Message != `session "order-1" belongs to another tenant` {
			t.Errorf("%s: message %q", what, e.Message)
		}
		if body := rec.Body.String(); strings.Contains(body, "shop-a") || strings.Contains(body, "您好") {
			t.Errorf("%s: the 403 leaks the owner or the conversation: %s", what, body)
		}
	}

	if rec := chat("key-web-a", "order-1"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "您好") {
		t.Fatalf("A creates the session: %d %s", rec.Code, rec.Body)
	}

	// Tenant B: every way in is refused.
	denied("B's turn", chat("key-b", "order-1"))
	denied("B's streamed turn", chat("key-b", "order-1", "Accept", "text/event-stream"))
	denied("B's GET", serve(h, request{method: "GET", path: "/v1/sessions/order-1", header: as("key-b")}))
	denied("B's DELETE", serve(h, request{method: "DELETE", path: "/v1/sessions/order-1", header: as("key-b")}))
	completion := `{"model":"kefu","messages":[{"role":"user","content":"你好"}]}`
	denied("B's completion", serve(h, request{path: "/v1/chat/completions", body: completion, header: as("key-b", "X-Session-Id", "order-1")}))
	denied("B's completion by user", serve(h, request{path: "/v1/chat/completions",
		body: `{"model":"kefu","user":"order-1","messages":[{"role":"user","content":"你好"}]}`, header: as("key-b")}))
	denied("B's streamed completion", serve(h, request{path: "/v1/chat/completions",
		body: `{"model":"kefu","stream":true,"messages":[{"role":"user","content":"你好"}]}`, header: as("key-b", "X-Session-Id", "order-1")}))

	// A still works, and B left no trace.
	if n := turns("key-web-a", "order-1"); n != 1 {
		t.Fatalf("after B's attempts the session has %d turns, want 1", n)
	}
	if rec := chat("key-web-a", "order-1"); rec.Code != 200 {
		t.Fatalf("A's second turn: %d %s", rec.Code, rec.Body)
	}
	// Another key of tenant A shares the session.
	if rec := chat("key-app-a", "order-1"); rec.Code != 200 {
		t.Fatalf("same tenant, other key: %d %s", rec.Code, rec.Body)
	}
	if rec := chat("key-app-a", "order-1", "Accept", "text/event-stream"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "event: done") {
		t.Fatalf("same tenant, streamed: %d %s", rec.Code, rec.Body)
	}
	if n := turns("key-app-a", "order-1"); n != 4 {
		t.Fatalf("session has %d turns, want 4", n)
	}

	// An agent's key (admin scope) reads every tenant's sessions, but its
	// turns and deletes are its own tenant's.
	if n := turns("key-ops", "order-1"); n != 4 {
		t.Fatalf("agent's GET: %d turns", n)
	}
	denied("the agent's turn", chat("key-ops", "order-1"))
	denied("the agent's DELETE", serve(h, request{method: "DELETE", path: "/v1/sessions/order-1", header: as("key-ops")}))

	// B's own session is B's.
	if rec := chat("key-b", "order-2"); rec.Code != 200 {
		t.Fatalf("B's own session: %d %s", rec.Code, rec.Body)
	}
	wantError(t, serve(h, request{method: "GET", path: "/v1/sessions/order-2", header: as("key-web-a")}), 403, CodePermissionDenied)

	// A deletes its session; the id is then unknown to everyone.
	if rec := serve(h, request{method: "DELETE", path: "/v1/sessions/order-1", header: as("key-web-a")}); rec.Code != 204 {
		t.Fatalf("A's DELETE: %d %s", rec.Code, rec.Body)
	}
	wantError(t, serve(h, request{method: "GET", path: "/v1/sessions/order-1", header: as("key-web-a")}), 404, CodeNotFound)
	wantError(t, serve(h, request{method: "GET", path: "/v1/sessions/order-1", header: as("key-b")}), 404, CodeNotFound)
}

// TestTenantPerSessionLimit: another tenant's refused turns on a session
// id do not spend its owner's per-session budget.
func TestTenantPerSessionLimit(t *testing.T) {
	h := New(Options{Engine: newRealEngine(t), Admission: NewAdmission(Limits{PerSession: 2}), Keys: []APIKey{
		{Name: "a", Key: "key-a", Scopes: []string{ScopeChat}},
		{Name: "b", Key: "key-b", Scopes: []string{ScopeChat}},
	}})
	turn := func(key string) *httptest.ResponseRecorder {
		return serve(h, request{path: "/v1/chat", body: `{"session_id":"s","text":"你好"}`, header: map[string]string{"Authorization": "Bearer " + key}})
	}
	if rec := turn("key-a"); rec.Code != 200 {
		t.Fatalf("A: %d %s", rec.Code, rec.Body)
	}
	wantError(t, turn("key-b"), 403, CodePermissionDenied)
	wantError(t, turn("key-b"), 403, CodePermissionDenied)
	wantError(t, turn("key-b"), 429, CodeRateLimited)
	if rec := turn("key-a"); rec.Code != 200 {
		t.Fatalf("A after B's attempts: %d %s", rec.Code, rec.Body)
	}
}
