package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/models/evaluate"
	"time"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/session"
	"github.com/kefu-chat/kefu/knowledge"
)

// fakeEngine is an Engine whose methods are function fields; nil ones fail
// the test if called.
type fakeEngine struct {
	t       testing.TB
	turn    func(context.Context, engine.Request) (*engine.Reply, error)
	getFor  func(ctx context.Context, tenant, id string) (*engine.SessionView, error)
	reset   func(ctx context.Context, tenant, id string) error
	waiting func(context.Context) ([]session.QueueEntry, error)
	reply   func(ctx context.Context, id, agent, text string) (*session.Turn, error)
	release func(context.Context, string) (*session.Turn, error)
}

func (f *fakeEngine) Turn(ctx context.Context, r engine.Request) (*engine.Reply, error) {
	if f.turn == nil {
		f.t.Fatal("unexpected Turn")
	}
	return f.turn(ctx, r)
}

func (f *fakeEngine) SessionFor(ctx context.Context, tenant, id string) (*engine.SessionView, error) {
	return f.getFor(ctx, tenant, id)
}
func (f *fakeEngine) ResetFor(ctx context.Context, tenant, id string) error {
	return f.reset(ctx, tenant, id)
}
func (f *fakeEngine) Waiting(ctx context.Context) ([]session.QueueEntry, error) {
	return f.waiting(ctx)
}
func (f *fakeEngine) AgentReply(ctx context.Context, id, agent, text string) (*session.Turn, error) {
	return f.reply(ctx, id, agent, text)
}
func (f *fakeEngine) Release(ctx context.Context, id string) (*session.Turn, error) {
	return f.release(ctx, id)
}

func echoEngine(t testing.TB) *fakeEngine {
	return &fakeEngine{t: t, turn: func(_ context.Context, r engine.Request) (*engine.Reply, error) {
		return &engine.Reply{
			SessionID: r.SessionID, TurnID: "t1", Route: engine.RouteFlow,
			Replies:  []engine.Part{{Type: "text", Text: "您说：" + r.Text}},
			Intent:   engine.Intent{Name: "退货", Confidence: 0.9},
			Entities: []engine.Entity{},
			Flow:     &engine.FlowRef{Name: "退货", Step: "slot 订单号", Active: true},
		}, nil
	}}
}

func TestChatOK(t *testing.T) {
	var got engine.Request
	fe := echoEngine(t)
	inner := fe.turn
	fe.turn = func(ctx context.Context, r engine.Request) (*engine.Reply, error) {
		got = r
		return inner(ctx, r)
	}
	h := New(Options{Engine: fe})
	rec := serve(h, request{path: "/v1/chat", body: `{"session_id":"s-1","user_id":"u1","channel":"web","text":"我要退货","metadata":{"page":"order"}}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got.SessionID != "s-1" || got.UserID != "u1" || got.Channel != "web" || got.Text != "我要退货" || got.Metadata["page"] != "order" {
		t.Fatalf("engine got %+v", got)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"session_id", "turn_id", "replies", "route", "intent", "entities", "flow", "timings"} {
		if _, ok := body[k]; !ok {
			t.Errorf("response lacks %q: %s", k, rec.Body)
		}
	}
	if r := body["replies"].([]any)[0].(map[string]any); r["type"] != "text" || r["text"] != "您说：我要退货" {
		t.Errorf("replies %v", body["replies"])
	}
}

func TestChatErrors(t *testing.T) {
	h := New(Options{Engine: echoEngine(t), MaxTextRunes: 10})
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"no session", `{"text":"你好"}`, 400, CodeInvalidArgument},
		{"typo in a field", `{"sesion_id":"a","text":"你好"}`, 400, CodeUnknownField},
		{"empty text", `{"session_id":"a","text":"  "}`, 400, CodeTextEmpty},
		{"too long", `{"session_id":"a","text":"` + strings.Repeat("长", 11) + `"}`, 400, CodeTextTooLong},
		{"space in id", `{"session_id":"a b","text":"你好"}`, 400, CodeInvalidArgument},
		{"long id", `{"session_id":"` + strings.Repeat("x", 129) + `","text":"你好"}`, 400, CodeInvalidArgument},
		{"text and event", `{"session_id":"a","text":"你好","event":"会话开始"}`, 400, CodeInvalidArgument},
		{"not json", `你好`, 400, CodeInvalidJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, serve(h, request{path: "/v1/chat", body: tc.body}), tc.status, tc.code)
		})
	}
	wantError(t, serve(New(Options{}), request{path: "/v1/chat", body: `{"session_id":"a","text":"你好"}`}), 503, CodeNotReady)
}

func TestChatEngineFailureIsInternal(t *testing.T) {
	fe := &fakeEngine{t: t, turn: func(context.Context, engine.Request) (*engine.Reply, error) {
		return nil, errors.New("engine: save session: disk full at /secret/path")
	}}
	rec := serve(New(Options{Engine: fe}), request{path: "/v1/chat", body: `{"session_id":"a","text":"你好"}`})
	e := wantError(t, rec, 500, CodeInternal)
	if strings.Contains(e.Message, "secret") {
		t.Fatalf("internal detail leaked: %q", e.Message)
	}
}

func TestSessionsAndHandoff(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	fe := &fakeEngine{t: t,
		getFor: func(_ context.Context, tenant, id string) (*engine.SessionView, error) {
			if tenant != "" {
				t.Errorf("an admin key reads sessions as tenant %q, want the operator's (\"\")", tenant)
			}
			if id != "s1" {
				return nil, session.ErrNotFound
			}
			return &engine.SessionView{ID: id, Turns: []session.Turn{{ID: "t", Text: "你好"}}}, nil
		},
		reset: func(_ context.Context, tenant, id string) error {
			if tenant != "ops" {
				t.Errorf("ResetFor tenant %q, want the key's name", tenant)
			}
			if id != "s1" {
				return session.ErrNotFound
			}
			return nil
		},
		waiting: func(context.Context) ([]session.QueueEntry, error) {
			return []session.QueueEntry{{SessionID: "s1", Queue: "售后专员", Reason: "flow 退货", Since: now}}, nil
		},
		reply: func(_ context.Context, id, agent, text string) (*session.Turn, error) {
			if id != "s1" {
				return nil, engine.ErrNotWaiting
			}
			return &session.Turn{ID: "a1", Replies: []string{text}, Route: engine.RouteAgent}, nil
		},
		release: func(_ context.Context, id string) (*session.Turn, error) {
			return nil, engine.ErrNotWaiting
		},
	}
	h := New(Options{Engine: fe, Keys: []APIKey{{Name: "ops", Key: "k-admin", Scopes: []string{ScopeChat, ScopeAdmin}}}})
	auth := map[string]string{"Authorization": "Bearer k-admin"}
	rec := serve(h, request{method: "GET", path: "/v1/sessions/s1", header: auth})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"你好"`) {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}
	wantError(t, serve(h, request{method: "GET", path: "/v1/sessions/nope", header: auth}), 404, CodeNotFound)
	if rec := serve(h, request{method: "DELETE", path: "/v1/sessions/s1", header: auth}); rec.Code != 204 {
		t.Fatalf("delete: %d", rec.Code)
	}
	wantError(t, serve(h, request{method: "DELETE", path: "/v1/sessions/nope", header: auth}), 404, CodeNotFound)

	rec = serve(h, request{method: "GET", path: "/v1/handoff", header: auth})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"queue":"售后专员"`) || !strings.Contains(rec.Body.String(), `"since":"2026-11-22T10:00:00.000Z"`) {
		t.Fatalf("queue: %d %s", rec.Code, rec.Body)
	}
	rec = serve(h, request{path: "/v1/handoff/s1/reply", body: `{"agent":"小王","text":"您好，我是客服小王"}`, header: auth})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "客服小王") {
		t.Fatalf("reply: %d %s", rec.Code, rec.Body)
	}
	wantError(t, serve(h, request{path: "/v1/handoff/s2/reply", body: `{"text":"x"}`, header: auth}), 409, CodeConflict)
	wantError(t, serve(h, request{path: "/v1/handoff/s1/reply", body: `{"text":""}`, header: auth}), 400, CodeTextEmpty)
	wantError(t, serve(h, request{path: "/v1/handoff/s1/release", header: auth}), 409, CodeConflict)
}

func FuzzChatHandler(f *testing.F) {
	for _, seed := range []string{
		`{"session_id":"a","text":"我要退货"}`,
		`{"session_id":"a","event":"会话开始"}`,
		`{"session_id":"","text":""}`,
		`{"session_id":"a\u0000","text":"x"}`,
		`{"session_id":"a","text":"x","metadata":{"k":1}}`,
		`{"session_id":"a","text":"\ud800"}`,
	} {
		f.Add(seed)
	}
	demo, err := evaluate.ReadExamplesFile("../testdata/bots/demo/intents/test.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for i, e := range demo { // what customers write, as JSON bodies
		b, _ := json.Marshal(map[string]string{"session_id": fmt.Sprint("s", i%7), "text": e.Text})
		f.Add(string(b))
	}
	h := New(Options{Engine: echoEngine(f), MaxBodyBytes: 1024, MaxTextRunes: 50})
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if !utf8.Valid(rec.Body.Bytes()) {
			t.Errorf("response is not UTF-8: %q", rec.Body)
		}
		switch {
		case rec.Code == 200:
			var rep engine.Reply
			if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
				t.Errorf("2xx body %q: %v", rec.Body, err)
			}
		case rec.Code >= 400 && rec.Code < 500:
			if _, err := parseEnvelope(rec.Body.Bytes()); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
	})
}

func TestChatStoreDownIs503(t *testing.T) {
	fe := &fakeEngine{t: t, turn: func(context.Context, engine.Request) (*engine.Reply, error) {
		return nil, fmt.Errorf("%w: lock: dial tcp 127.0.0.1:6379: connection refused", engine.ErrStore)
	}}
	rec := serve(New(Options{Engine: fe}), request{path: "/v1/chat", body: `{"session_id":"a","text":"你好"}`})
	e := wantError(t, rec, 503, CodeUnavailable)
	if strings.Contains(e.Message, "6379") {
		t.Fatalf("detail leaked: %q", e.Message)
	}
}

type fakeKnowledge struct {
	docs map[string]int
	last string
}

func (f *fakeKnowledge) Search(ctx context.Context, q string, k int, flt knowledge.Filter) ([]knowledge.Result, error) {
	if strings.Trim(q, "？?！! ") == "" {
		return nil, knowledge.ErrEmptyQuery
	}
	return []knowledge.Result{{Chunk: knowledge.Chunk{ID: "ship-2#0", DocID: "ship-2", Title: "运费怎么算", Answer: "满99元包邮。", Tags: flt.Tags}, Score: 0.9, Matched: []string{"运费"}}}, nil
}

func (f *fakeKnowledge) IngestFile(ctx context.Context, id, format string, content []byte, tags []string) (IngestResult, error) {
	if format == "faq-jsonl" && !strings.HasPrefix(string(content), "{") {
		return IngestResult{}, fmt.Errorf("%w: line 1 is not JSON", ErrBadDocument)
	}
	f.last = id + " " + format
	f.docs[id] = 2
	return IngestResult{Documents: 1, Chunks: 2}, nil
}

func (f *fakeKnowledge) DeleteDocument(ctx context.Context, id string) (int, error) {
	n := f.docs[id]
	delete(f.docs, id)
	return n, nil
}

func (f *fakeKnowledge) Documents(ctx context.Context) (map[string]int, error) { return f.docs, nil }

func TestKnowledgeEndpoints(t *testing.T) {
	kb := &fakeKnowledge{docs: map[string]int{}}
	h := New(Options{Knowledge: kb})
	rec := serve(h, request{path: "/v1/knowledge/search", body: `{"query":"运费多少","top_k":3,"tags":["物流"]}`})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"answer":"满99元包邮。"`) || !strings.Contains(rec.Body.String(), `"matched":["运费"]`) || !strings.Contains(rec.Body.String(), `"tags":["物流"]`) {
		t.Fatalf("search: %d %s", rec.Code, rec.Body)
	}
	wantError(t, serve(h, request{path: "/v1/knowledge/search", body: `{"query":""}`}), 400, CodeTextEmpty)
	wantError(t, serve(h, request{path: "/v1/knowledge/search", body: `{"query":"？！"}`}), 400, CodeInvalidArgument)
	wantError(t, serve(h, request{path: "/v1/knowledge/search", body: `{"query":"a","top_k":500}`}), 400, CodeInvalidArgument)

	rec = serve(h, request{path: "/v1/knowledge/documents", body: `{"id":"articles/配送说明.md","content":"# 配送\n顺丰发货"}`})
	if rec.Code != 200 || kb.last != "articles/配送说明.md markdown" || !strings.Contains(rec.Body.String(), `"skipped":[]`) {
		t.Fatalf("put: %d %s (%s)", rec.Code, rec.Body, kb.last)
	}
	wantError(t, serve(h, request{path: "/v1/knowledge/documents", body: `{"id":"x","content":"a"}`}), 400, CodeInvalidArgument)
	wantError(t, serve(h, request{path: "/v1/knowledge/documents", body: `{"id":"faq.jsonl","content":"not json"}`}), 400, CodeInvalidArgument)
	rec = serve(h, request{method: "GET", path: "/v1/knowledge/documents"})
	if !strings.Contains(rec.Body.String(), `{"id":"articles/配送说明.md","chunks":2}`) {
		t.Fatalf("list: %s", rec.Body)
	}
	rec = serve(h, request{method: "DELETE", path: "/v1/knowledge/documents/articles/%E9%85%8D%E9%80%81%E8%AF%B4%E6%98%8E.md"})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"deleted_chunks":2`) {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	wantError(t, serve(h, request{method: "DELETE", path: "/v1/knowledge/documents/articles/none.md"}), 404, CodeNotFound)
	wantError(t, serve(New(Options{}), request{path: "/v1/knowledge/search", body: `{"query":"a"}`}), 503, CodeNotReady)
}
