// Package openaiembed is a knowledge.Embedder that calls an OpenAI-compatible
// /v1/embeddings endpoint (OpenAI, Azure-style gateways, vLLM, Ollama,
// Xinference…) through github.com/sashabaranov/go-openai.
package openaiembed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/kefu-chat/kefu/knowledge"
)

// Config is the knowledge.openai section of kefu.yaml.
type Config struct {
	BaseURL    string // e.g. https://api.openai.com/v1 (default)
	APIKey     string // a secret: never logged, never in errors
	Model      string // e.g. text-embedding-3-small
	Dimensions int    // the vector size the endpoint returns; asked for when the model supports it
	Batch      int    // texts per request; default 64
	Timeout    time.Duration
}

// Embedder calls the endpoint. It is safe for concurrent use.
type Embedder struct {
	c   *openai.Client
	cfg Config
}

var _ knowledge.Embedder = (*Embedder)(nil)

// New checks cfg; it makes no request.
func New(cfg Config, httpClient *http.Client) (*Embedder, error) {
	if cfg.Model == "" {
		return nil, errors.New("openaiembed: model is required")
	}
	if cfg.Dimensions <= 0 {
		return nil, errors.New("openaiembed: dimensions is required (the vector size the model returns)")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	if cfg.BaseURL != "" {
		oc.BaseURL = cfg.BaseURL
	}
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	oc.HTTPClient = httpClient
	return &Embedder{c: openai.NewClientWithConfig(oc), cfg: cfg}, nil
}

// Dim is the configured vector size.
func (e *Embedder) Dim() int { return e.cfg.Dimensions }

// Embed embeds texts in batches, in order, L2-normalising each vector.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += e.cfg.Batch {
		end := min(start+e.cfg.Batch, len(texts))
		rctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		res, err := e.c.CreateEmbeddings(rctx, openai.EmbeddingRequestStrings{
			Input: texts[start:end], Model: openai.EmbeddingModel(e.cfg.Model), Dimensions: e.dimensionsParam(),
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("openaiembed: %s", describe(err))
		}
		if len(res.Data) != end-start {
			return nil, fmt.Errorf("openaiembed: asked for %d embeddings, got %d", end-start, len(res.Data))
		}
		batch := make([][]float32, end-start)
		for _, d := range res.Data {
			if d.Index < 0 || d.Index >= len(batch) || batch[d.Index] != nil {
				return nil, fmt.Errorf("openaiembed: bad embedding index %d", d.Index)
			}
			if len(d.Embedding) != e.cfg.Dimensions {
				return nil, fmt.Errorf("openaiembed: got %d dimensions, configured %d: %w", len(d.Embedding), e.cfg.Dimensions, knowledge.ErrDimension)
			}
			batch[d.Index] = normalize(d.Embedding)
		}
		out = append(out, batch...)
	}
	return out, nil
}

// dimensionsParam asks for the configured size only from models that take
// the parameter (OpenAI's text-embedding-3 family); others reject it.
func (e *Embedder) dimensionsParam() int {
	if len(e.cfg.Model) >= 16 && e.cfg.Model[:16] == "text-embedding-3" {
		return e.cfg.Dimensions
	}
	return 0
}

// describe keeps the status and the API's own message, never the request
// (whose headers hold the key).
func describe(err error) string {
	var ae *openai.APIError
	if errors.As(err, &ae) {
		return fmt.Sprintf("HTTP %d: %s", ae.HTTPStatusCode, ae.Message)
	}
	var re *openai.RequestError
	if errors.As(err, &re) {
		return fmt.Sprintf("HTTP %d", re.HTTPStatusCode)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return err.Error()
}

func normalize(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return v
	}
	s := float32(1 / math.Sqrt(n))
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * s
	}
	return out
}
