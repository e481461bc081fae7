package openaiembed

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/knowledge"
)

// fakeOpenAI speaks POST /v1/embeddings as OpenAI does: JSON in, a list of
// {object, index, embedding} out, and the error envelope on failure.
func fakeOpenAI(t *testing.T, dim int, requests *[]int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/embeddings" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer sk-test-secret" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"message":"Incorrect API key provided: sk-wrong","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`))
			return
		}
		var req struct {
			Input []string `json:"input"`
			Model string   `json:"model"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		*requests = append(*requests, len(req.Input))
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		var data []item
		// Out of order on purpose: clients must use index.
		for i := len(req.Input) - 1; i >= 0; i-- {
			v := make([]float32, dim)
			v[len(req.Input[i])%dim] = 3
			data = append(data, item{"embedding", i, v})
		}
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model,
			"usage": map[string]int{"prompt_tokens": 5, "total_tokens": 5}})
	}))
}

func TestEmbed(t *testing.T) {
	var reqs []int
	srv := fakeOpenAI(t, 8, &reqs)
	defer srv.Close()
	e, err := New(Config{BaseURL: srv.URL + "/v1", APIKey: "sk-test-secret", Model: "bge-m3", Dimensions: 8, Batch: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var _ knowledge.Embedder = e
	vecs, err := e.Embed(context.Background(), []string{"a", "bb", "ccc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0] != 2 || reqs[1] != 1 {
		t.Errorf("batches %v, want [2 1]", reqs)
	}
	for i, v := range vecs {
		if v[(i+1)%8] != 1 {
			t.Errorf("vector %d = %v: not in input order or not normalised", i, v)
		}
	}
}

func TestErrorsHideTheKey(t *testing.T) {
	var reqs []int
	srv := fakeOpenAI(t, 8, &reqs)
	defer srv.Close()
	e, _ := New(Config{BaseURL: srv.URL + "/v1", APIKey: "sk-wrong-key-123", Model: "m", Dimensions: 8}, nil)
	_, err := e.Embed(context.Background(), []string{"x"})
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "sk-wrong-key-123") {
		t.Fatalf("err = %v", err)
	}
	e, _ = New(Config{BaseURL: srv.URL + "/v1", APIKey: "sk-test-secret", Model: "m", Dimensions: 4}, nil)
	if _, err := e.Embed(context.Background(), []string{"x"}); !errors.Is(err, knowledge.ErrDimension) {
		t.Fatalf("dimension mismatch: %v", err)
	}
	if _, err := New(Config{Model: "m"}, nil); err == nil {
		t.Fatal("missing dimensions accepted")
	}
}
