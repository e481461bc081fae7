package openai_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/providers"
	"github.com/kefu-chat/kefu/providers/openai/openaitest"
)

// FuzzParseStream serves arbitrary bodies as the SSE of a 200 stream and
// reads them through the client (go-openai's stream reader and kefu's
// frame mapping): every body must end in io.EOF or a *providers.Error,
// never a panic or a hang.
func FuzzParseStream(f *testing.F) {
	for _, seed := range []string{
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\ndata: [DONE]",
		"data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n",
		"data: {\"error\":{\"code\":7}}\n\n",
		"data: { \"error\": {\"message\": \"x\", \"code\": \"context_length_exceeded\"}}\n\n",
		"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\n",
		": ping\n\nevent: x\ndata:[DONE]\n",
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a",
		"data: [1,2]\n\n",
		"\n\n\n\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	var mu sync.Mutex
	var body []byte
	s := openaitest.New(f, openaitest.Config{Script: func(int, openaitest.ChatRequest) *openaitest.Fault {
		mu.Lock()
		defer mu.Unlock()
		return &openaitest.Fault{Raw: body}
	}})
	c := newClient(f, s, nil, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		mu.Lock()
		body = b
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := c.Stream(ctx, req("fuzz"))
		if err != nil {
			checkErr(t, err)
			return
		}
		defer st.Close()
		for range 100000 {
			ch, err := st.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				checkErr(t, err)
				if providers.KindOf(err) == providers.KindTimeout {
					t.Fatalf("stream hung: %v", err)
				}
				return
			}
			if ch.Delta == "" && ch.Usage == nil {
				t.Fatalf("empty chunk")
			}
		}
		t.Fatal("stream never ended")
	})
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err %#v is not a *providers.Error", err)
	}
}
