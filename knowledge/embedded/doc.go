// Package embedded is kefu's default knowledge.Store: in the kefu process,
// persisted in one bbolt file, with no server to run.
//
// It owns the file (chunks with their vectors, a per-document index, a
// generation counter), the in-memory indexes rebuilt from it at Open (the
// vectors, a BM25 inverted index with document frequencies, tag sets and,
// from Options.ExactBelow chunks, an HNSW graph) and the graph's snapshot
// file. Chunking, embedding and fusing dense with sparse hits are
// knowledge's.
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
// there or not at all: a document is never half replaced. After a crash
// (kill -9, power loss) Open finds the file as of its last commit and
// rebuilds every in-memory index from it. The HNSW graph is the one index
// costly to rebuild (about a minute for 100k chunks on two cores), so
// Close saves it next to the file (path + ".hnsw", written to a temporary
// file and renamed) with the generation it reflects. Open loads it when it
// belongs to this file; after a crash it is older than the file, and Open
// unlinks the chunks deleted or rewritten since and links the new ones
// instead of rebuilding, unless they are more than a quarter of the store.
// A snapshot that is corrupt, of another file, ahead of the file or built
// with another M is ignored and the graph rebuilt. Deleting the snapshot
// is always safe.
//
// # Search
//
// Dense search ranks by cosine similarity; vectors are normalised when
// stored. Below ExactBelow chunks it is exact, by brute force (an AVX2 dot
// product on amd64: about 0.5 ms for 20k chunks of 384 dimensions); from
// there an HNSW graph answers (see graph in hnsw.go for why it is written
// here). Deleted chunks stay in the graph as tombstones, passed through but
// never returned, until a tenth of the nodes are such; then their
// neighbours are relinked and the slots reused. A tag filter narrower than
// ExactBelow chunks is answered exactly on those chunks; a wider one
// searches the graph with a wider candidate list and falls back to exact
// when that finds too few.
//
// Sparse search is BM25: the chunk's stored term weights (the tf part,
// knowledge.DocumentVector) times the query's weights times IDF from the
// document frequencies of the inverted index, which every write keeps up
// to date.
//
// Memory: every chunk lives in memory, its vector (4 bytes a dimension),
// text, sparse terms (about 12 bytes each, postings included) and HNSW
// links (up to 2·M uint32 on the bottom level): about 2.5 KB a chunk at
// 384 dimensions, 250 MB for 100k.
//
// # Concurrency
//
// Searches run in parallel; writes are serialised and do not block
// searches while the graph links new nodes, only for the moments when a
// document's chunks are swapped. Searches see a document replaced
// atomically.
package embedded
