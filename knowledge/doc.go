// Package knowledge will own ingestion, the embedded and Qdrant vector
// stores, and hybrid retrieval. It is empty until the knowledge issue
// lands; the embedder it will use already exists (models/onnx.Embedder).
package knowledge
