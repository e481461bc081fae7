package knowledge

import (
	"context"
	"fmt"
)

// Ingester embeds and stores documents. Split turns a document into chunks
// (knowledge/chunk.Split); the Ingester fills their vectors, batching
// embedding calls across documents, and replaces each document's chunks in
// the store.
type Ingester struct {
	Store    Store
	Embedder Embedder               // nil: lexical only
	Split    func(Document) []Chunk // required
	Batch    int                    // texts per Embed call; default 64
	Progress func(done, total int)  // documents done; optional
}

// IngestReport says what an ingestion did.
type IngestReport struct {
	Documents int      `json:"documents"`
	Chunks    int      `json:"chunks"`
	Empty     []string `json:"empty,omitempty"` // documents that gave no chunk (and were removed from the store)
}

// Ingest stores docs, replacing the chunks of any document already there.
// A failure stops it; documents already stored stay stored.
func (in *Ingester) Ingest(ctx context.Context, docs []Document) (IngestReport, error) {
	var rep IngestReport
	batch := in.Batch
	if batch <= 0 {
		batch = 64
	}
	type pending struct {
		id     string
		chunks []Chunk
	}
	var group []pending
	texts := 0
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		if in.Embedder != nil && texts > 0 {
			var all []string
			for _, p := range group {
				for i := range p.chunks {
					all = append(all, p.chunks[i].MatchText())
				}
			}
			vecs, err := in.Embedder.Embed(ctx, all)
			if err != nil {
				return fmt.Errorf("knowledge: embed: %w", err)
			}
			n := 0
			for _, p := range group {
				for i := range p.chunks {
					p.chunks[i].Vector = vecs[n]
					n++
				}
			}
		}
		for _, p := range group {
			if err := in.Store.ReplaceDocument(ctx, p.id, p.chunks); err != nil {
				return fmt.Errorf("knowledge: store %q: %w", p.id, err)
			}
			rep.Documents++
			rep.Chunks += len(p.chunks)
			if in.Progress != nil {
				in.Progress(rep.Documents+len(rep.Empty), len(docs))
			}
		}
		group, texts = group[:0], 0
		return nil
	}
	for _, d := range docs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		chunks := in.Split(d)
		if len(chunks) == 0 {
			if _, err := in.Store.DeleteDocument(ctx, d.ID); err != nil {
				return rep, fmt.Errorf("knowledge: delete %q: %w", d.ID, err)
			}
			rep.Empty = append(rep.Empty, d.ID)
			continue
		}
		for i := range chunks {
			chunks[i].Sparse = DocumentVector(chunks[i].MatchText())
		}
		group = append(group, pending{d.ID, chunks})
		texts += len(chunks)
		if texts >= batch {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	return rep, flush()
}
