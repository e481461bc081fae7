package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-chat/kefu/engine"
)

func TestAuthScopes(t *testing.T) {
	keys := []APIKey{
		{Name: "web", Key: "k-chat", Scopes: []string{ScopeChat}},
		{Name: "ops", Key: "k-ops", Scopes: []string{ScopeChat, ScopeKnowledge, ScopeAdmin}},
	}
	kb := &fakeKnowledge{docs: map[string]int{}}
	h := New(Options{Engine: echoEngine(t), Knowledge: kb, Keys: keys})
	bearer := func(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }
	chat := `{"session_id":"s","text":"你好"}`
	wantError(t, serve(h, request{path: "/v1/chat", body: chat}), 401, CodeUnauthenticated)
	rec := serve(h, request{path: "/v1/chat", body: chat, header: bearer("k-wrong")})
	wantError(t, rec, 401, CodeUnauthenticated)
	if !strings.Contains(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no WWW-Authenticate: %v", rec.Header())
	}
	if rec := serve(h, request{path: "/v1/chat", body: chat, header: bearer("k-chat")}); rec.Code != 200 {
		t.Fatalf("chat key on chat: %d %s", rec.Code, rec.Body)
	}
	wantError(t, serve(h, request{path: "/v1/knowledge/search", body: `{"query":"运费"}`, header: bearer("k-chat")}), 403, CodePermissionDenied)
	if rec := serve(h, request{path: "/v1/knowledge/search", body: `{"query":"运费"}`, header: bearer("k-ops")}); rec.Code != 200 {
		t.Fatalf("ops key on knowledge: %d", rec.Code)
	}
	wantError(t, serve(h, request{method: "GET", path: "/v1/handoff", header: bearer("k-chat")}), 403, CodePermissionDenied)
	// Keys never appear in responses or logs.
	logger, logs := newLogger()
	h = New(Options{Engine: echoEngine(t), Keys: keys, Logger: logger})
	rec = serve(h, request{path: "/v1/chat", body: chat, header: bearer("k-ops-secret-guess")})
	if strings.Contains(rec.Body.String(), "k-ops") || strings.Contains(logs.String(), "k-ops") {
		t.Errorf("a key leaked: %s / %s", rec.Body, logs)
	}
	// Probes, metrics and the page stay open.
	for _, p := range []string{"/healthz", "/metrics", "/"} {
		if rec := serve(h, request{method: "GET", path: p}); rec.Code != 200 {
			t.Errorf("GET %s: %d", p, rec.Code)
		}
	}
}

func TestAdminClosedWithoutKeys(t *testing.T) {
	h := New(Options{Engine: echoEngine(t)})
	if rec := serve(h, request{path: "/v1/chat", body: `{"session_id":"s","text":"你好"}`}); rec.Code != 200 {
		t.Fatalf("chat without keys configured: %d", rec.Code)
	}
	wantError(t, serve(h, request{method: "GET", path: "/v1/handoff"}), 401, CodeUnauthenticated)
}

func TestTurnLimits(t *testing.T) {
	h := New(Options{Engine: echoEngine(t), Admission: NewAdmission(Limits{PerSession: 1})})
	body := `{"session_id":"fast","text":"你好"}`
	if rec := serve(h, request{path: "/v1/chat", body: body}); rec.Code != 200 {
		t.Fatalf("first: %d", rec.Code)
	}
	rec := serve(h, request{path: "/v1/chat", body: body})
	wantError(t, rec, 429, CodeRateLimited)
	if ra := rec.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q", ra)
	}
	if rec := serve(h, request{path: "/v1/chat", body: `{"session_id":"other","text":"你好"}`}); rec.Code != 200 {
		t.Errorf("another session is not limited: %d", rec.Code)
	}

	// Saturation: beyond MaxConcurrent turns in flight, 503 at once.
	block := make(chan struct{})
	started := make(chan struct{}, 1)
	fe := &fakeEngine{t: t, turn: func(ctx context.Context, r engine.Request) (*engine.Reply, error) {
		started <- struct{}{}
		<-block
		return &engine.Reply{SessionID: r.SessionID, Replies: []engine.Part{}, Entities: []engine.Entity{}}, nil
	}}
	h = New(Options{Engine: fe, Admission: NewAdmission(Limits{MaxConcurrent: 1})})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); serve(h, request{path: "/v1/chat", body: `{"session_id":"a","text":"x"}`}) }()
	<-started
	rec = serve(h, request{path: "/v1/chat", body: `{"session_id":"b","text":"x"}`})
	wantError(t, rec, http.StatusServiceUnavailable, CodeOverloaded)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	close(block)
	wg.Wait()
}

func TestCORS(t *testing.T) {
	h := New(Options{Engine: echoEngine(t), CORSOrigins: []string{"https://shop.example.com"}})
	rec := serve(h, request{method: "OPTIONS", path: "/v1/chat", header: map[string]string{
		"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"}})
	if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "https://shop.example.com" || !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
	}
	rec = serve(h, request{path: "/v1/chat", body: `{"session_id":"s","text":"你好"}`, header: map[string]string{"Origin": "https://evil.example"}})
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("unknown origin allowed: %v", rec.Header())
	}
}

func TestAdminReload(t *testing.T) {
	calls := 0
	fail := false
	h := New(Options{Engine: echoEngine(t), Keys: []APIKey{{Name: "ops", Key: "k-ops-0123456789", Scopes: []string{ScopeAdmin}}},
		Reload: func(context.Context) error {
			calls++
			if fail {
				return errors.New("reload: flows/rules.kefu:1:14: unknown statement \"sya\"")
			}
			return nil
		}})
	wantError(t, serve(h, request{path: "/admin/reload"}), 401, CodeUnauthenticated)
	auth := map[string]string{"Authorization": "Bearer k-ops-0123456789"}
	if rec := serve(h, request{path: "/admin/reload", header: auth}); rec.Code != 200 || calls != 1 {
		t.Fatalf("reload: %d %s", rec.Code, rec.Body)
	}
	fail = true
	e := wantError(t, serve(h, request{path: "/admin/reload", header: auth}), 400, CodeInvalidArgument)
	if !strings.Contains(e.Message, "rules.kefu:1:14") {
		t.Errorf("the operator must see where: %q", e.Message)
	}
}

func TestAccessLogCarriesSession(t *testing.T) {
	logger, logs := newLogger()
	h := New(Options{Engine: echoEngine(t), Logger: logger})
	serve(h, request{path: "/v1/chat", body: `{"session_id":"s-77","text":"你好"}`, header: map[string]string{"X-Request-Id": "req-123"}})
	if !strings.Contains(logs.String(), "session=s-77") || !strings.Contains(logs.String(), "request_id=req-123") || strings.Contains(logs.String(), "你好") {
		t.Fatalf("access log: %s", logs)
	}
}
