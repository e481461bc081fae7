// Package embedded is kefu's default knowledge.Store: in the kefu process,
// persisted in one bbolt file, with no server to run.
//
// It owns the file (chunks with their vectors, a per-document index, a
// generation counter), the in-memory indexes rebuilt from it at Open (the
// vectors, a BM25 inverted index with document frequencies, tag sets and,
// from Options.ExactBelow chunks, an HNSW graph) and the graph's snapshot
// file. Chunking, embedding and fusing dense with sparse hits are left to
// knowledge.
//
//	st, err := embedded.Open("data/knowledge.db", embedded.Options{Logger: log})
//	...
//	defer st.Close()
//	err = st.ReplaceDocument(ctx, doc.ID, chunks) // one transaction, fsynced
//	hits, err := st.SearchDense(ctx, vec, 10, knowledge.Filter{Tags: []string{"售后"}})
//
// # Storage and crashes
//
// The bbolt file is the only source of truth. ReplaceDocument and
// DeleteDocument each write one transaction (the chunks, keyed by chunk
// id; the document's list of chunk ids; the generation) and fsync it
// before indexing in memory, so every call that returned nil survives a
// crash of the process or the machine, and one cut short is either all
// there or not at all: a document is never half replaced.
//
// After a crash (kill -9, power loss) Open finds the file as of its last
// commit and rebuilds every in-memory index from it. The HNSW graph is the
// one index slow to rebuild (about 30 s for 100k chunks of 384 dimensions
// on two cores), so it is also saved next to the file (path + ".hnsw",
// written to a temporary file and renamed) with the generation it
// reflects: when it is built, whenever a tenth of its nodes changed since
// the last save, and at Close. Open takes the snapshot when it belongs to
// this file; after a crash it is older than the file, and Open unlinks the
// chunks deleted or rewritten since and links the new ones (they are at
// most about a tenth of the store) instead of rebuilding. A snapshot that
// is corrupt, of another file, ahead of the file or built with another M,
// or one that more than a quarter of the chunks changed since, is ignored
// and the graph rebuilt. Deleting the snapshot is always safe.
//
// # Search
//
// Dense search ranks by cosine similarity; vectors are normalised when
// stored. Below ExactBelow chunks it is exact, by brute force (an AVX2 dot
// product on amd64: about 0.5 ms for 10k chunks of 384 dimensions); from
// there an HNSW graph answers (about 0.3 ms at 100k, recall@10 above
// 0.99 on clustered data; see graph in hnsw.go for why it is written
// here). Deleted chunks stay in the graph as tombstones, passed through
// but never returned, until a tenth of the nodes are such; then their
// neighbours are relinked and the slots reused. A tag filter matching
// fewer than ExactBelow chunks is answered exactly on those chunks; a
// wider one searches the graph with a candidate list widened by its
// selectivity and falls back to exact when that finds too few.
//
// Sparse search is BM25: the chunk's stored term weights (the tf part,
// knowledge.DocumentVector) times the query's weights times IDF from the
// document frequencies of the inverted index, which every write keeps up
// to date.
//
// Memory: every chunk lives in memory, with its vector (4 bytes a
// dimension), text, sparse terms (about 20 bytes each, postings included)
// and HNSW links: about 5 KB a chunk of 384 dimensions and 100 terms, so
// 0.5 GB for 100k chunks.
//
// # Concurrency
//
// A Store is safe for concurrent use. Searches run in parallel; writes
// are serialised, and do not hold searches up while the graph links new
// nodes, only while a document's chunks are swapped, which searches see
// happen at once.
package embedded
