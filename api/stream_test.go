package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/providers"
)

// streamingEngine answers every turn by "generating" its text in pieces.
func streamingEngine(t testing.TB) *fakeEngine {
	return &fakeEngine{t: t, turn: func(ctx context.Context, r engine.Request) (*engine.Reply, error) {
		parts := []string{"您好，", "积分", "可以抵现。"}
		rep := &engine.Reply{SessionID: r.SessionID, TurnID: "t1", Route: engine.RouteGenerative, Entities: []engine.Entity{},
			Intent: engine.Intent{Name: "会员积分", Confidence: 0.9}, Usage: &providers.Usage{PromptTokens: 50, CompletionTokens: 8, TotalTokens: 58}}
		if r.Stream != nil {
			r.Stream(engine.StreamEvent{Start: true, Route: engine.RouteGenerative, Intent: &rep.Intent})
		}
		for _, p := range parts {
			if r.Stream != nil {
				r.Stream(engine.StreamEvent{Delta: p})
			}
		}
		rep.Replies = []engine.Part{{Type: "text", Text: strings.Join(parts, "")}}
		return rep, nil
	}}
}

func TestChatSSE(t *testing.T) {
	srv := httptest.NewServer(New(Options{Engine: streamingEngine(t)}))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/v1/chat", strings.NewReader(`{"session_id":"s","text":"积分怎么用"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("X-Accel-Buffering") != "no" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("headers %v", resp.Header)
	}
	body, _ := io.ReadAll(resp.Body)
	got := string(body)
	for _, want := range []string{
		"event: start\ndata: {\"intent\":{\"name\":\"会员积分\",\"confidence\":0.9},\"route\":\"generative\",\"session_id\":\"s\"}\n\n",
		"event: delta\ndata: {\"text\":\"您好，\"}\n\n",
		"event: delta\ndata: {\"text\":\"可以抵现。\"}\n\n",
		"event: done\ndata: {\"session_id\":\"s\"",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stream lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "event: start") > strings.Index(got, "event: delta") || strings.Index(got, "event: delta") > strings.Index(got, "event: done") {
		t.Errorf("events out of order:\n%s", got)
	}
}

// TestChatSSEOneDelta: a reply that is not generated comes as one delta.
func TestChatSSEOneDelta(t *testing.T) {
	h := New(Options{Engine: echoEngine(t)})
	rec := serve(h, request{path: "/v1/chat", body: `{"session_id":"s","text":"我要退货"}`, header: map[string]string{"Accept": "text/event-stream"}})
	got := rec.Body.String()
	if strings.Count(got, "event: delta") != 1 || !strings.Contains(got, `"route":"flow"`) || !strings.Contains(got, "您说：我要退货") {
		t.Fatalf("stream:\n%s", got)
	}
}

// TestCompletionsWithGoOpenAI talks to the facade with go-openai, blocking
// and streaming, as an existing OpenAI client would.
func TestCompletionsWithGoOpenAI(t *testing.T) {
	var sessions []string
	fe := streamingEngine(t)
	inner := fe.turn
	fe.turn = func(ctx context.Context, r engine.Request) (*engine.Reply, error) {
		sessions = append(sessions, r.SessionID+"|"+r.Text)
		return inner(ctx, r)
	}
	srv := httptest.NewServer(New(Options{Engine: fe}))
	defer srv.Close()
	cfg := openai.DefaultConfig("unused")
	cfg.BaseURL = srv.URL + "/v1"
	c := openai.NewClientWithConfig(cfg)
	msgs := []openai.ChatCompletionMessage{
		{Role: "system", Content: "ignored: kefu has its own prompt"},
		{Role: "user", Content: "你好"},
		{Role: "assistant", Content: "您好"},
		{Role: "user", Content: "积分怎么用"},
	}
	res, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{Model: "kefu", Messages: msgs, User: "web-42"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[0].Message.Content != "您好，积分可以抵现。" || res.Usage.TotalTokens != 58 || res.Object != "chat.completion" {
		t.Fatalf("%+v", res)
	}
	st, err := c.CreateChatCompletionStream(context.Background(), openai.ChatCompletionRequest{Model: "kefu", Messages: msgs, User: "web-42", Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got strings.Builder
	finish := ""
	for {
		ch, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(ch.Choices[0].Delta.Content)
		if ch.Choices[0].FinishReason != "" {
			finish = string(ch.Choices[0].FinishReason)
		}
	}
	if got.String() != "您好，积分可以抵现。" || finish != "stop" {
		t.Fatalf("streamed %q finish %q", got.String(), finish)
	}
	if len(sessions) != 2 || sessions[0] != "web-42|积分怎么用" {
		t.Fatalf("turns %v", sessions)
	}
	// Without a session there is nothing to continue.
	_, err = c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{Model: "kefu", Messages: msgs})
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 400 {
		t.Fatalf("no session: %v", err)
	}
}

// TestSSEStopsWhenClientLeaves checks that the turn's context ends when the
// client disconnects.
func TestSSEStopsWhenClientLeaves(t *testing.T) {
	ended := make(chan struct{})
	fe := &fakeEngine{t: t, turn: func(ctx context.Context, r engine.Request) (*engine.Reply, error) {
		r.Stream(engine.StreamEvent{Start: true, Route: engine.RouteGenerative, Intent: &engine.Intent{}})
		r.Stream(engine.StreamEvent{Delta: "一"})
		<-ctx.Done()
		close(ended)
		return nil, ctx.Err()
	}}
	srv := httptest.NewServer(New(Options{Engine: fe}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat", strings.NewReader(`{"session_id":"s","text":"hi"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, "一") {
			break
		}
	}
	cancel()
	resp.Body.Close()
	<-ended
}
