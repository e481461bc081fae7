package loadgen

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Upstream is a local OpenAI-compatible chat completions server for load
// runs: it waits Delay before the first token, then answers, blocking or
// streamed. It is no test double of the wire (providers/openai/openaitest
// is); it only stands in for an LLM's latency without costing the server
// much CPU.
type Upstream struct {
	URL   string // base URL, e.g. http://127.0.0.1:41234/v1
	Delay time.Duration
	srv   *http.Server
}

// upstreamReply is what the upstream says, streamed in four pieces.
var upstreamReply = []string{"您好，", "这个问题我帮您看了一下，", "建议您在订单详情页联系在线客服处理，", "还有其他问题随时问我哦。"}

// StartUpstream serves an Upstream on a free loopback port.
func StartUpstream(delay time.Duration) (*Upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &Upstream{URL: "http://" + ln.Addr().String() + "/v1", Delay: delay}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", u.chat)
	u.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go u.srv.Serve(ln)
	return u, nil
}

// Close stops the server.
func (u *Upstream) Close() error { return u.srv.Close() }

func (u *Upstream) chat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad JSON","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(u.Delay):
	case <-r.Context().Done():
		return
	}
	id, created := fmt.Sprintf("chatcmpl-%d", time.Now().UnixNano()), time.Now().Unix()
	usage := map[string]int{"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]string{"role": "assistant", "content": strings.Join(upstreamReply, "")}}},
			"usage": usage,
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	chunk := func(delta map[string]string, finish any, usage any) {
		data, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}, "usage": usage})
		fmt.Fprintf(w, "data: %s\n\n", data)
		if fl != nil {
			fl.Flush()
		}
	}
	chunk(map[string]string{"role": "assistant"}, nil, nil)
	for _, p := range upstreamReply {
		chunk(map[string]string{"content": p}, nil, nil)
	}
	chunk(map[string]string{}, "stop", usage)
	fmt.Fprint(w, "data: [DONE]\n\n")
}
