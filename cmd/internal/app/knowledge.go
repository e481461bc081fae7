package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kefu-chat/kefu/api"
	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/knowledge"
	"github.com/kefu-chat/kefu/knowledge/chunk"
	"github.com/kefu-chat/kefu/knowledge/embedded"
	"github.com/kefu-chat/kefu/knowledge/openaiembed"
	"github.com/kefu-chat/kefu/knowledge/qdrant"
)

// KnowledgeBase is the configured knowledge base: its store, embedder,
// retriever and ingester. It satisfies api.Knowledge and engine.Retriever.
type KnowledgeBase struct {
	Store     knowledge.Store
	Embedder  knowledge.Embedder // never nil: the hash embedder when none is configured
	Retriever *knowledge.Retriever
	chunking  chunk.Options
}

var _ api.Knowledge = (*KnowledgeBase)(nil)

// OpenKnowledge opens the knowledge base of cfg, or returns nil when
// knowledge.store is empty. models is the embedder of models.embedder
// (nil when none); normalize is the turn normalizer's text function.
func OpenKnowledge(ctx context.Context, cfg *config.Config, models knowledge.Embedder, normalize func(string) string, logger *slog.Logger) (*KnowledgeBase, error) {
	k := cfg.Knowledge
	if k.Store == "" {
		return nil, nil
	}
	emb, err := knowledgeEmbedder(k, models)
	if err != nil {
		return nil, err
	}
	dim := emb.Dim()
	var st knowledge.Store
	switch k.Store {
	case "qdrant":
		q := k.Qdrant
		if st, err = qdrant.New(ctx, qdrant.Options{Addr: q.Addr, APIKey: q.APIKey, UseTLS: q.TLS, Collection: q.Collection, Dim: dim, Logger: logger}); err != nil {
			return nil, fmt.Errorf("knowledge: %w", err)
		}
	default:
		if err := os.MkdirAll(filepath.Dir(k.Path), 0o755); err != nil {
			return nil, fmt.Errorf("knowledge: %w", err)
		}
		if st, err = embedded.Open(k.Path, embedded.Options{Logger: logger, Dim: dim}); err != nil {
			return nil, fmt.Errorf("knowledge: %w", err)
		}
	}
	kb, err := newKnowledgeBase(st, k, emb, normalize)
	if err != nil {
		st.Close()
		return nil, err
	}
	return kb, nil
}

// newKnowledgeBase serves st with emb and k's retrieval settings; emb must
// make vectors of the store's size.
func newKnowledgeBase(st knowledge.Store, k config.Knowledge, emb knowledge.Embedder, normalize func(string) string) (*KnowledgeBase, error) {
	if d, dim := st.Dim(), emb.Dim(); d != 0 && dim != 0 && d != dim {
		return nil, fmt.Errorf("knowledge: the store holds %d-dimensional vectors but the embedder makes %d: %w (re-ingest into a new store)", d, dim, knowledge.ErrDimension)
	}
	return &KnowledgeBase{Store: st, Embedder: emb, chunking: chunk.Options{MaxRunes: k.ChunkRunes},
		Retriever: knowledge.NewRetriever(st, emb, normalize, knowledge.RetrieverConfig{
			TopK: k.TopK, Candidates: k.Candidates, Fusion: knowledge.Fusion(k.Fusion), DenseWeight: k.DenseWeight,
		})}, nil
}

// knowledgeEmbedder picks the embedder of the knowledge section; models is
// the ONNX embedder of models.embedder, nil when none.
func knowledgeEmbedder(k config.Knowledge, models knowledge.Embedder) (knowledge.Embedder, error) {
	switch k.Embedder {
	case "openai":
		o := k.OpenAI
		e, err := openaiembed.New(openaiembed.Config{BaseURL: o.BaseURL, APIKey: o.APIKey, Model: o.Model,
			Dimensions: o.Dimensions, Batch: o.Batch, Timeout: o.Timeout.Std()}, nil)
		if err != nil {
			return nil, fmt.Errorf("knowledge.openai: %w", err)
		}
		return e, nil
	case "", "models":
		if models != nil {
			return models, nil
		}
	}
	return knowledge.HashEmbedder{}, nil
}

// WithSettings returns a knowledge base over the same store with cfg's
// retrieval settings, embedder and normalizer (for a reload). The
// embedder must make vectors of the store's size.
func (kb *KnowledgeBase) WithSettings(cfg *config.Config, models knowledge.Embedder, normalize func(string) string) (*KnowledgeBase, error) {
	emb, err := knowledgeEmbedder(cfg.Knowledge, models)
	if err != nil {
		return nil, err
	}
	return newKnowledgeBase(kb.Store, cfg.Knowledge, emb, normalize)
}

// Close closes the store.
func (kb *KnowledgeBase) Close() error { return kb.Store.Close() }

// Search runs a hybrid search.
func (kb *KnowledgeBase) Search(ctx context.Context, q string, k int, f knowledge.Filter) ([]knowledge.Result, error) {
	return kb.Retriever.Search(ctx, q, k, f)
}

// DeleteDocument removes a document.
func (kb *KnowledgeBase) DeleteDocument(ctx context.Context, id string) (int, error) {
	return kb.Store.DeleteDocument(ctx, id)
}

// Documents lists the stored documents.
func (kb *KnowledgeBase) Documents(ctx context.Context) (map[string]int, error) {
	return kb.Store.Documents(ctx)
}

func (kb *KnowledgeBase) ingester(progress func(done, total int)) *knowledge.Ingester {
	return &knowledge.Ingester{
		Store: kb.Store, Embedder: kb.Embedder, Progress: progress,
		Split: func(d knowledge.Document) []knowledge.Chunk { return chunk.Split(d, kb.chunking) },
	}
}

// IngestReport says what an ingestion of files did.
type IngestReport struct {
	Files     int
	Documents int
	Chunks    int
	Skipped   []chunk.Skipped
}

// IngestPaths ingests files and folders (recursively).
func (kb *KnowledgeBase) IngestPaths(ctx context.Context, paths []string, progress func(done, total int)) (IngestReport, error) {
	var rep IngestReport
	var docs []knowledge.Document
	skipped, err := chunk.Walk(paths, func(id, path string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rep.Files++
		d, sk, err := chunk.Read(id, data, nil)
		rep.Skipped = append(rep.Skipped, sk...)
		if err != nil {
			rep.Skipped = append(rep.Skipped, chunk.Skipped{Source: id, Reason: err.Error()})
			return nil
		}
		docs = append(docs, d...)
		return nil
	})
	rep.Skipped = append(skipped, rep.Skipped...)
	if err != nil {
		return rep, err
	}
	r, err := kb.ingester(progress).Ingest(ctx, docs)
	rep.Documents, rep.Chunks = r.Documents, r.Chunks
	return rep, err
}

// IngestFile ingests one uploaded file as document id.
func (kb *KnowledgeBase) IngestFile(ctx context.Context, id, format string, content []byte, tags []string) (api.IngestResult, error) {
	ext, ok := chunk.Extension(format)
	if !ok {
		return api.IngestResult{}, fmt.Errorf("%w: unknown format %q", api.ErrBadDocument, format)
	}
	name := id
	if !strings.HasSuffix(strings.ToLower(name), ext) {
		name += ext
	}
	docs, skipped, err := chunk.Read(name, content, tags)
	if err != nil {
		return api.IngestResult{}, fmt.Errorf("%w: %v", api.ErrBadDocument, err)
	}
	if name != id {
		for i := range docs {
			if docs[i].ID == name {
				docs[i].ID = id
			}
		}
	}
	res := api.IngestResult{Skipped: []api.Skipped{}}
	for _, s := range skipped {
		res.Skipped = append(res.Skipped, api.Skipped{Source: s.Source, Line: s.Line, Reason: s.Reason})
	}
	if len(docs) == 0 {
		return res, fmt.Errorf("%w: nothing to ingest", api.ErrBadDocument)
	}
	r, err := kb.ingester(nil).Ingest(ctx, docs)
	res.Documents, res.Chunks = r.Documents, r.Chunks
	return res, err
}

// ErrNoScan is returned when a store cannot be copied from.
var ErrNoScan = errors.New("knowledge: this store cannot be scanned")

// CopyKnowledge copies every chunk of from into to, document by document,
// with their vectors; it reports documents and chunks copied.
func CopyKnowledge(ctx context.Context, from, to knowledge.Store, progress func(docs int)) (int, int, error) {
	sc, ok := from.(knowledge.Scanner)
	if !ok {
		return 0, 0, ErrNoScan
	}
	byDoc := map[string][]knowledge.Chunk{}
	var order []string
	if err := sc.Scan(ctx, func(c knowledge.Chunk) error {
		if _, ok := byDoc[c.DocID]; !ok {
			order = append(order, c.DocID)
		}
		byDoc[c.DocID] = append(byDoc[c.DocID], c)
		return nil
	}); err != nil {
		return 0, 0, err
	}
	chunks := 0
	for i, id := range order {
		if err := to.ReplaceDocument(ctx, id, byDoc[id]); err != nil {
			return i, chunks, err
		}
		chunks += len(byDoc[id])
		if progress != nil {
			progress(i + 1)
		}
	}
	return len(order), chunks, nil
}
