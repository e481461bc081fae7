// Package knowledge owns the shop's knowledge base: documents and their
// chunks, ingestion, the Store interface with its two implementations
// (knowledge/embedded, in process and on disk; knowledge/qdrant, a Qdrant
// server), and hybrid retrieval.
//
// A document (a Markdown article, an FAQ file's entry, a text file) is split
// into chunks by knowledge/chunk. Each chunk is indexed twice: a dense
// vector from an Embedder (the ONNX embedder of models/onnx, or an
// OpenAI-compatible /v1/embeddings endpoint), and a sparse lexical vector of
// its characters and character bigrams with BM25 term weights, which works
// for Chinese without a word segmenter. A Retriever asks the store for the
// nearest chunks on each side and fuses the two rankings (reciprocal rank
// fusion or a weighted sum), then scores each hit in [0, 1] for the
// engine's thresholds: at or above the answer threshold an FAQ answer is
// returned directly; above the context threshold passages go to the
// generative fallback.
//
// Stores hold chunks with their vectors and search them; they know nothing
// of embedders or fusion. Chunk ids are stable (document id and position),
// so re-ingesting a changed document replaces its chunks without
// duplicates.
package knowledge
