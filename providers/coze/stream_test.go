package coze

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/kefu-chat/kefu/providers"
)

// fixture is framed as coze-py's tests/testdata/chat_text_stream_resp.txt.
const fixture = `event:conversation.chat.created
data:{"id":"c1","conversation_id":"v1","bot_id":"b","status":"created"}

event:conversation.chat.in_progress
data:{"id":"c1","conversation_id":"v1","bot_id":"b","status":"in_progress"}

event:conversation.message.delta
data:{"id":"m1","conversation_id":"v1","role":"assistant","type":"answer","content":"Hel","content_type":"text","chat_id":"c1"}

event:conversation.audio.delta
data:{"id":"m1","content_type":"audio","content":"AAAA"}

event:conversation.message.delta
data:{"id":"m1","conversation_id":"v1","role":"assistant","type":"answer","content":"lo","content_type":"text","chat_id":"c1"}

event:conversation.message.completed
data:{"id":"m1","conversation_id":"v1","role":"assistant","type":"answer","content":"Hello","content_type":"text","chat_id":"c1"}

event:conversation.message.completed
data:{"id":"m2","conversation_id":"v1","role":"assistant","type":"answer","content":"Whole","content_type":"text","chat_id":"c1"}

event:conversation.message.completed
data:{"id":"m3","role":"assistant","type":"verbose","content":"{\"msg_type\":\"generate_answer_finish\"}","content_type":"text"}

event:conversation.message.completed
data:{"id":"m4","role":"assistant","type":"follow_up","content":"More?","content_type":"text"}

event:some.future.event
data:{}

event:conversation.chat.completed
data:{"id":"c1","conversation_id":"v1","status":"completed","usage":{"token_count":9,"output_count":7,"input_count":2}}

event:done
data:"[DONE]"

`

func testStream(body string) *stream {
	c, _ := New("t", Config{BaseURL: "http://x", Token: "tok", BotID: "b"}, providers.Deps{})
	_, cancel := context.WithCancel(context.Background())
	return &stream{c: c, ctx: context.Background(), cancel: cancel, body: io.NopCloser(nil),
		sse: newSSEReader(strings.NewReader(body)), t: turn{key: "s\x00u"}}
}

func drain(s *stream) (string, *providers.Usage, error) {
	var b strings.Builder
	var u *providers.Usage
	for i := 0; ; i++ {
		ch, err := s.Recv()
		if err != nil {
			return b.String(), u, err
		}
		b.WriteString(ch.Delta)
		if ch.Usage != nil {
			u = ch.Usage
		}
	}
}

func TestParseStream(t *testing.T) {
	tests := []struct {
		name, body string
		text       string
		usage      *providers.Usage
		kind       providers.Kind // "" for io.EOF
	}{
		{name: "fixture", body: fixture, text: "Hello" + answerSep + "Whole", usage: &providers.Usage{PromptTokens: 2, CompletionTokens: 7, TotalTokens: 9}},
		{name: "crlf and spaces", body: strings.ReplaceAll(strings.ReplaceAll(fixture, ":", ": "), "\n", "\r\n"), text: "Hello" + answerSep + "Whole", usage: &providers.Usage{PromptTokens: 2, CompletionTokens: 7, TotalTokens: 9}},
		{name: "bare done, no blank line at end", body: "event:conversation.message.delta\ndata:{\"id\":\"m\",\"type\":\"answer\",\"content\":\"x\"}\n\nevent:conversation.chat.completed\ndata:{}\n\nevent:done\ndata:[DONE]", text: "x"},
		{name: "failed", body: "event:conversation.message.delta\ndata:{\"id\":\"m\",\"type\":\"answer\",\"content\":\"x\"}\n\nevent:conversation.chat.failed\ndata:{\"status\":\"failed\",\"last_error\":{\"code\":5000,\"msg\":\"event interval error\"}}\n\nevent:done\ndata:\"[DONE]\"\n\n", text: "x", kind: providers.KindUnavailable},
		{name: "empty error event", body: "event:error\ndata:{}\n\n", kind: providers.KindUnavailable},
		{name: "truncated", body: "event:conversation.message.delta\ndata:{\"id\":\"m\",\"type\":\"answer\",\"content\":\"x\"}\n\n", text: "x", kind: providers.KindUnavailable},
		{name: "malformed json", body: "event:conversation.message.delta\ndata:{\"id\n\n", kind: providers.KindUnavailable},
		{name: "done without completed", body: "event:done\ndata:\"[DONE]\"\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, u, err := drain(testStream(tt.body))
			if text != tt.text {
				t.Errorf("text %q, want %q", text, tt.text)
			}
			if diff := cmp.Diff(tt.usage, u); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if tt.kind == "" && err != io.EOF || tt.kind != "" && providers.KindOf(err) != tt.kind {
				t.Errorf("err %v, want %q", err, tt.kind)
			}
		})
	}
}

func TestSSEReaderFraming(t *testing.T) {
	r := newSSEReader(strings.NewReader(": comment\nid: 1\nevent:a\ndata:1\ndata: 2\n\n\n\nevent:b\n\ndata:only\n"))
	var got []event
	for {
		ev, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	want := []event{{"a", "1\n2"}, {"b", ""}, {"", "only"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(event{})); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func FuzzParseStream(f *testing.F) {
	f.Add([]byte(fixture))
	f.Add([]byte("event:error\ndata:{\"code\":4100,\"msg\":\"tok\"}\n\n"))
	f.Add([]byte("event:conversation.chat.failed\ndata:{\"last_error\":{\"code\":4000,\"msg\":\"sensitive\"}}\n\n"))
	f.Add([]byte("data:\r\n\r\nevent:done\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The framing: terminates, and no event name or data line holds a
		// line break of its own beyond the data joiner.
		r := newSSEReader(bytes.NewReader(data))
		for n := 0; ; n++ {
			if n > len(data)+1 {
				t.Fatal("more events than bytes")
			}
			ev, err := r.next()
			if err != nil {
				break
			}
			if strings.ContainsAny(ev.name, "\n") {
				t.Fatalf("event name %q holds a newline", ev.name)
			}
		}
		// The decoder: ends in io.EOF or an *providers.Error, and the
		// text is made of the deltas it was given (valid UTF-8 in, valid
		// UTF-8 out).
		s := testStream(string(data))
		text, _, err := drain(s)
		var pe *providers.Error
		if err != io.EOF && !errors.As(err, &pe) {
			t.Fatalf("err %v (%T)", err, err)
		}
		if pe != nil && strings.Contains(pe.Error(), "tok") && !bytes.Contains(data, []byte("tok")) {
			t.Fatalf("error invents text: %v", pe)
		}
		if utf8.Valid(data) && !utf8.ValidString(text) {
			t.Fatalf("invalid UTF-8 out of valid input: %q", text)
		}
		s.Close()
	})
}
