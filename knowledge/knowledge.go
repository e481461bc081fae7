package knowledge

import (
	"context"
	"errors"
)

// Document is one source of knowledge before chunking.
type Document struct {
	ID    string // stable: the file's path relative to the ingest root, or an FAQ entry's id
	Title string // optional; Markdown takes its first heading; an FAQ entry's question
	// Questions are an FAQ entry's question and its alternatives.
	Questions []string
	Format    Format   // how Content is written
	Tags      []string // copied to every chunk
	Source    string   // where it came from (a path), for reports
	// Content is the document's text.
	Content string
}

// Format is how a document is written.
type Format string

const (
	FormatMarkdown Format = "markdown"
	FormatText     Format = "text"
	FormatFAQ      Format = "faq" // one FAQ entry: Content is the answer; see Chunk.Questions
)

// Chunk is a piece of a document that is indexed and retrieved on its own.
type Chunk struct {
	ID        string   `json:"id"`                  // DocID + "#" + Position
	DocID     string   `json:"doc_id"`              // the document it came from
	Title     string   `json:"title"`               // the heading path ("退换货 > 退货流程") or the FAQ question
	Text      string   `json:"text"`                // the passage shown as context
	Answer    string   `json:"answer,omitempty"`    // an FAQ entry's answer, returned directly on a strong match
	Questions []string `json:"questions,omitempty"` // an FAQ entry's question and its alternatives
	Tags      []string `json:"tags,omitempty"`
	Position  int      `json:"position"` // order within the document, from 0

	// Vector is the dense embedding of MatchText; Sparse its lexical terms.
	// Stores keep both; they are not part of the chunk's JSON.
	Vector []float32    `json:"-"`
	Sparse SparseVector `json:"-"`
}

// MatchText is what a chunk is matched by: an FAQ entry's questions, or a
// passage's title and text.
func (c *Chunk) MatchText() string {
	if len(c.Questions) > 0 {
		s := ""
		for i, q := range c.Questions {
			if i > 0 {
				s += "\n"
			}
			s += q
		}
		return s
	}
	if c.Title == "" {
		return c.Text
	}
	return c.Title + "\n" + c.Text
}

// SparseVector is a lexical vector: term ids (hashes) and their weights,
// ids ascending and distinct.
type SparseVector struct {
	Indices []uint32  `json:"i"`
	Values  []float32 `json:"v"`
}

// Filter restricts a search. A zero Filter matches every chunk.
type Filter struct {
	// Tags: a chunk matches when it has at least one of them.
	Tags []string
}

// Hit is a chunk found by a search with the store's score for it: cosine
// similarity for dense searches, BM25 for sparse ones.
type Hit struct {
	Chunk Chunk
	Score float64
}

// Store keeps chunks with their vectors. Implementations are safe for
// concurrent use.
type Store interface {
	// ReplaceDocument atomically replaces every chunk of docID with chunks
	// (none deletes the document). Every chunk's Vector has the store's
	// dimension.
	ReplaceDocument(ctx context.Context, docID string, chunks []Chunk) error
	// DeleteDocument removes a document's chunks and reports how many.
	DeleteDocument(ctx context.Context, docID string) (int, error)
	// SearchDense returns up to k chunks nearest to vec, best first.
	SearchDense(ctx context.Context, vec []float32, k int, f Filter) ([]Hit, error)
	// SearchSparse returns up to k chunks by BM25 over their sparse
	// vectors (term weights times inverse document frequency), best first.
	SearchSparse(ctx context.Context, q SparseVector, k int, f Filter) ([]Hit, error)
	// Documents lists the ids of the stored documents with their chunk counts.
	Documents(ctx context.Context) (map[string]int, error)
	// Dim is the dense vector size; 0 until the first chunk is stored.
	Dim() int
	Close() error
}

// Scanner is an optional Store ability: visiting every chunk with its
// vectors, used to copy one store into another.
type Scanner interface {
	Scan(ctx context.Context, fn func(Chunk) error) error
}

// Errors stores return.
var (
	ErrDimension = errors.New("knowledge: vector dimension does not match the store")
	ErrClosed    = errors.New("knowledge: store is closed")
)

// Embedder turns texts into dense vectors, L2-normalised. models/onnx's
// Embedder satisfies it, as does OpenAIEmbedder.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Dim() int
}
