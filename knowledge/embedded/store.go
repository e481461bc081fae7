package embedded

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/knowledge"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Logger receives index rebuilds and snapshot decisions (default:
	// discard).
	Logger *slog.Logger
	// ExactBelow is the chunk count below which dense search is exact,
	// by brute force; at or above it an HNSW graph answers (default
	// 20000). The graph is built when the count reaches ExactBelow and
	// dropped when it falls under half of it.
	ExactBelow int
	// M is the number of links per HNSW node, twice that on the bottom
	// level (default 16). The defaults of M, EfConstruction and EfSearch
	// give recall@10 above 0.99 at 100k chunks on the benchmark's data,
	// at about 0.3 ms a search on two cores.
	M int
	// EfConstruction is the candidate list size when linking a node
	// (default 128).
	EfConstruction int
	// EfSearch is the candidate list size of a search, at least k
	// (default 64): larger is slower and more exact.
	EfSearch int
	// Dim is the vector size; 0 takes it from the first chunk stored.
	// A store keeps its size for life: opening it with another is an
	// error.
	Dim int
	// NoSync skips the fsync after each commit. A crash of the process
	// (kill -9) still loses nothing acknowledged; a power cut may lose
	// the last writes, and the file stays consistent.
	NoSync bool
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ExactBelow <= 0 {
		o.ExactBelow = 20000
	}
	if o.M < 2 {
		o.M = 16
	}
	if o.EfConstruction <= 0 {
		o.EfConstruction = 128
	}
	o.EfConstruction = max(o.EfConstruction, o.M)
	if o.EfSearch <= 0 {
		o.EfSearch = 64
	}
	return o
}

// Store is the embedded knowledge.Store. It is safe for concurrent use:
// searches run in parallel with each other and with a write, writes run
// one at a time. The file can be open in one process at a time; Open
// waits a second for bbolt's file lock and then fails.
type Store struct {
	db     *bolt.DB
	path   string
	opts   Options
	log    *slog.Logger
	fileID [16]byte

	// wmu serialises writers (ReplaceDocument, DeleteDocument, Close).
	// A writer commits to bbolt, then updates the in-memory indexes:
	// under mu exclusively for the short steps, under neither for linking
	// the HNSW graph, which has per-node locks. Fields below written only
	// by writers may be read by a writer holding wmu alone.
	wmu     sync.Mutex
	snapGen uint64 // the generation the snapshot file on disk reflects, 0 for none
	unsaved int    // graph nodes added or deleted since the snapshot
	loaded  string // how Open got its graph, for tests: "", "rebuilt", "snapshot"

	// mu guards the fields below; searches hold it shared.
	mu     sync.RWMutex
	closed bool
	dim    int
	gen    uint64    // the generation of the last committed write
	slots  []*entry  // by slot; nil when free, deleted or not published yet
	vecs   []float32 // by slot, dim each, unit length
	free   []uint32  // slots to reuse
	tomb   []uint32  // slots deleted but still linked in the graph
	byID   map[string]uint32
	docs   map[string][]uint32 // document id -> slots, by position
	inv    *invIndex
	tags   map[string]*bitset
	graph  *graph // nil while dense search is exact
	scores sync.Pool
}

// entry is a published chunk: its text and sparse vector (the dense one
// lives in Store.vecs) and the generation that wrote it.
type entry struct {
	chunk knowledge.Chunk
	gen   uint64
}

var (
	_ knowledge.Store   = (*Store)(nil)
	_ knowledge.Scanner = (*Store)(nil)
)

// Open opens the store file at path, creating it if needed, and loads it
// into memory: vectors, the BM25 index and, from ExactBelow chunks, the
// HNSW graph, read from its snapshot (path + ".hnsw") when that matches
// the file, else rebuilt (tens of seconds for 100k chunks).
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("embedded: open %q: file is locked (is another kefu using it?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded: open %q: %w", path, err)
	}
	db.NoSync = opts.NoSync
	s := &Store{
		db:   db,
		path: path,
		opts: opts,
		log:  opts.Logger.With("store", "embedded", "path", path),
		byID: map[string]uint32{},
		docs: map[string][]uint32{},
		inv:  newInvIndex(),
		tags: map[string]*bitset{},
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded: open %q: %w", path, err)
	}
	return s, nil
}

// load reads the file into memory. It runs before the Store is shared.
func (s *Store) load() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketChunks, bucketDocs} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyFormat); v == nil {
			if err := meta.Put(keyFormat, binary.AppendUvarint(nil, formatVersion)); err != nil {
				return err
			}
		} else if f, _ := binary.Uvarint(v); f != formatVersion {
			return fmt.Errorf("file format %d, this kefu reads %d", f, formatVersion)
		}
		if v := meta.Get(keyID); len(v) == len(s.fileID) {
			copy(s.fileID[:], v)
		} else {
			rand.Read(s.fileID[:])
			if err := meta.Put(keyID, s.fileID[:]); err != nil {
				return err
			}
		}
		if v := meta.Get(keyGen); len(v) == 8 {
			s.gen = binary.BigEndian.Uint64(v)
		}
		if v := meta.Get(keyDim); v != nil {
			d, _ := binary.Uvarint(v)
			s.dim = int(d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if s.opts.Dim > 0 {
		if s.dim != 0 && s.dim != s.opts.Dim {
			return fmt.Errorf("options ask for %d dimensions, the file holds %d: %w", s.opts.Dim, s.dim, knowledge.ErrDimension)
		}
		s.dim = s.opts.Dim
	}

	var loaded []loadedChunk
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChunks).ForEach(func(k, v []byte) error {
			c, gen, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("chunk %q: %w", k, err)
			}
			if len(c.Vector) != s.dim {
				return fmt.Errorf("chunk %q: %d-dimensional vector in a %d-dimensional store: %w", k, len(c.Vector), s.dim, errCorrupt)
			}
			loaded = append(loaded, loadedChunk{c, gen})
			return nil
		})
	})
	if err != nil {
		return err
	}

	start := time.Now()
	if len(loaded) >= s.opts.ExactBelow {
		if snap, why := s.readSnapshot(); snap != nil {
			if err := s.restore(snap, loaded); err != nil {
				s.log.Warn("graph snapshot not used", "reason", err)
				s.reset()
			} else {
				s.loaded = "snapshot"
			}
		} else {
			s.log.Info("graph snapshot not used", "reason", why)
		}
	}
	if s.loaded == "" {
		for i := range loaded {
			s.publish(s.alloc(loaded[i].chunk.Vector), &loaded[i].chunk, loaded[i].gen, true)
		}
		s.inv.build(s.slots)
		s.sortDocs()
		if len(loaded) >= s.opts.ExactBelow {
			s.buildGraph()
			s.loaded = "rebuilt"
		}
	}
	if s.graph != nil {
		s.log.Info("graph ready", "from", s.loaded, "chunks", len(s.byID), "took", time.Since(start))
		if s.snapGen != s.gen {
			s.saveSnapshot()
		}
	} else {
		s.removeSnapshot()
	}
	return nil
}

type loadedChunk struct {
	chunk knowledge.Chunk
	gen   uint64
}

// reset empties the in-memory indexes after a failed restore.
func (s *Store) reset() {
	s.slots, s.vecs, s.free, s.tomb = nil, nil, nil, nil
	s.byID = map[string]uint32{}
	s.docs = map[string][]uint32{}
	s.inv = newInvIndex()
	s.tags = map[string]*bitset{}
	s.graph = nil
	s.snapGen = 0
}

func (s *Store) sortDocs() {
	for _, slots := range s.docs {
		slices.SortFunc(slots, func(a, b uint32) int {
			return cmp.Compare(s.slots[a].chunk.Position, s.slots[b].chunk.Position)
		})
	}
}

// alloc takes a slot for a new chunk and stores its vector there. The
// slot is not published: searches skip it. Store.mu must be held
// exclusively (or the store not yet shared).
func (s *Store) alloc(vec []float32) uint32 {
	var slot uint32
	if n := len(s.free); n > 0 {
		slot = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		slot = uint32(len(s.slots))
		s.slots = append(s.slots, nil)
		s.vecs = append(s.vecs, make([]float32, s.dim)...)
		s.inv.grow(len(s.slots))
		if s.graph != nil {
			s.graph.grow(len(s.slots), s.vecs)
		}
	}
	copy(s.vec(slot), vec)
	if s.graph != nil {
		s.graph.add(slot)
	}
	return slot
}

func (s *Store) vec(slot uint32) []float32 {
	i := int(slot) * s.dim
	return s.vecs[i : i+s.dim : i+s.dim]
}

// publish makes slot's chunk visible to searches; c.Vector is dropped
// (alloc stored it). Store.mu must be held exclusively. Open passes
// bulk, then builds the inverted index in one go.
func (s *Store) publish(slot uint32, c *knowledge.Chunk, gen uint64, bulk bool) {
	e := &entry{chunk: *c, gen: gen}
	e.chunk.Vector = nil
	s.slots[slot] = e
	s.byID[c.ID] = slot
	s.docs[c.DocID] = append(s.docs[c.DocID], slot)
	if !bulk {
		s.inv.add(slot, c.Sparse.Indices, c.Sparse.Values)
	}
	for _, t := range c.Tags {
		b := s.tags[t]
		if b == nil {
			b = &bitset{}
			s.tags[t] = b
		}
		b.set(slot)
	}
}

// unpublish removes slot's chunk from the indexes. Its slot is free at
// once in exact mode; with a graph it waits, linked but never returned,
// for repair. Store.mu must be held exclusively. The caller updates docs.
func (s *Store) unpublish(slot uint32) {
	e := s.slots[slot]
	if s.byID[e.chunk.ID] == slot {
		delete(s.byID, e.chunk.ID)
	}
	s.inv.remove(slot)
	for _, t := range e.chunk.Tags {
		if b := s.tags[t]; b != nil {
			b.unset(slot)
			if b.n == 0 {
				delete(s.tags, t)
			}
		}
	}
	s.slots[slot] = nil
	if s.graph != nil {
		s.graph.kill(slot)
		s.tomb = append(s.tomb, slot)
	} else {
		s.free = append(s.free, slot)
	}
}

// ReplaceDocument implements knowledge.Store. The new chunks are written
// in one fsynced bbolt transaction with the removal of the old ones, then
// indexed; searches see the old chunks until the new ones are all
// indexed, then only the new. Vectors are copied and normalised. A chunk's
// DocID must be empty or docID, its ID unique and not another document's;
// vectors of another size than the store's fail with
// knowledge.ErrDimension.
func (s *Store) ReplaceDocument(ctx context.Context, docID string, chunks []knowledge.Chunk) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if docID == "" {
		return errors.New("embedded: replace: empty document id")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return knowledge.ErrClosed
	}
	if len(chunks) == 0 {
		_, err := s.deleteLocked(ctx, docID)
		return err
	}
	cs, dim, err := s.prepare(docID, chunks)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	gen := s.gen + 1
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := s.commitMeta(tx, gen, dim); err != nil {
			return err
		}
		if err := deleteChunks(tx, docID); err != nil {
			return err
		}
		bc := tx.Bucket(bucketChunks)
		ids := make([]string, len(cs))
		for i := range cs {
			rec, err := appendRecord(nil, &cs[i], gen)
			if err != nil {
				return err
			}
			if err := bc.Put([]byte(cs[i].ID), rec); err != nil {
				return err
			}
			ids[i] = cs[i].ID
		}
		return tx.Bucket(bucketDocs).Put([]byte(docID), appendIDs(nil, ids))
	})
	if err != nil {
		return fmt.Errorf("embedded: replace %q: %w", docID, err)
	}

	// Slots with vectors, linked into the graph while searches go on;
	// then, in one step, the old chunks go and the new ones appear.
	s.mu.Lock()
	s.dim = dim
	slots := make([]uint32, len(cs))
	for i := range cs {
		slots[i] = s.alloc(cs[i].Vector)
	}
	g := s.graph
	s.mu.Unlock()
	if g != nil {
		g.insertBatch(slots)
	}
	s.mu.Lock()
	old := s.docs[docID]
	for _, slot := range old {
		s.unpublish(slot)
	}
	delete(s.docs, docID)
	for i, slot := range slots {
		s.publish(slot, &cs[i], gen, false)
	}
	s.gen = gen
	s.mu.Unlock()
	s.maintain(len(old) + len(slots))
	return nil
}

// prepare checks chunks and returns copies to store, with DocID set and
// vectors normalised, and the store's dimension after them.
func (s *Store) prepare(docID string, chunks []knowledge.Chunk) ([]knowledge.Chunk, int, error) {
	dim := s.dim
	if dim == 0 {
		dim = len(chunks[0].Vector)
	}
	seen := make(map[string]bool, len(chunks))
	cs := make([]knowledge.Chunk, len(chunks))
	for i, c := range chunks {
		switch {
		case c.ID == "":
			return nil, 0, fmt.Errorf("embedded: replace %q: chunk %d has no id", docID, i)
		case seen[c.ID]:
			return nil, 0, fmt.Errorf("embedded: replace %q: chunk id %q twice", docID, c.ID)
		case c.DocID != "" && c.DocID != docID:
			return nil, 0, fmt.Errorf("embedded: replace %q: chunk %q belongs to document %q", docID, c.ID, c.DocID)
		case len(c.Vector) != dim || dim == 0:
			return nil, 0, fmt.Errorf("embedded: replace %q: chunk %q has a %d-dimensional vector, the store's are %d: %w",
				docID, c.ID, len(c.Vector), dim, knowledge.ErrDimension)
		case len(c.Sparse.Indices) != len(c.Sparse.Values):
			return nil, 0, fmt.Errorf("embedded: replace %q: chunk %q has %d sparse indices and %d values",
				docID, c.ID, len(c.Sparse.Indices), len(c.Sparse.Values))
		}
		if slot, ok := s.byID[c.ID]; ok && s.slots[slot].chunk.DocID != docID {
			return nil, 0, fmt.Errorf("embedded: replace %q: chunk id %q is taken by document %q", docID, c.ID, s.slots[slot].chunk.DocID)
		}
		for j := 1; j < len(c.Sparse.Indices); j++ {
			if c.Sparse.Indices[j] <= c.Sparse.Indices[j-1] {
				return nil, 0, fmt.Errorf("embedded: replace %q: chunk %q: sparse indices not ascending and distinct", docID, c.ID)
			}
		}
		seen[c.ID] = true
		c.DocID = docID
		c.Vector = slices.Clone(c.Vector)
		if !normalize(c.Vector) {
			return nil, 0, fmt.Errorf("embedded: replace %q: chunk %q: vector is zero or not finite", docID, c.ID)
		}
		c.Sparse = cloneSparse(c.Sparse)
		c.Tags = slices.Clone(c.Tags)
		c.Questions = slices.Clone(c.Questions)
		cs[i] = c
	}
	return cs, dim, nil
}

func cloneSparse(v knowledge.SparseVector) knowledge.SparseVector {
	return knowledge.SparseVector{Indices: slices.Clone(v.Indices), Values: slices.Clone(v.Values)}
}

// commitMeta records a write's generation, and the dimension with the
// first chunk.
func (s *Store) commitMeta(tx *bolt.Tx, gen uint64, dim int) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyDim) == nil {
		if err := meta.Put(keyDim, binary.AppendUvarint(nil, uint64(dim))); err != nil {
			return err
		}
	}
	return meta.Put(keyGen, binary.BigEndian.AppendUint64(nil, gen))
}

// deleteChunks deletes a document's chunks and its entry in the docs
// bucket.
func deleteChunks(tx *bolt.Tx, docID string) error {
	bd := tx.Bucket(bucketDocs)
	v := bd.Get([]byte(docID))
	if v == nil {
		return nil
	}
	ids, err := decodeIDs(v)
	if err != nil {
		return fmt.Errorf("document index: %w", err)
	}
	bc := tx.Bucket(bucketChunks)
	for _, id := range ids {
		if err := bc.Delete([]byte(id)); err != nil {
			return err
		}
	}
	return bd.Delete([]byte(docID))
}

// DeleteDocument implements knowledge.Store. Deleting a document that is
// not there returns 0 and writes nothing.
func (s *Store) DeleteDocument(ctx context.Context, docID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return 0, knowledge.ErrClosed
	}
	return s.deleteLocked(ctx, docID)
}

func (s *Store) deleteLocked(ctx context.Context, docID string) (int, error) {
	n := len(s.docs[docID])
	if n == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	gen := s.gen + 1
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := s.commitMeta(tx, gen, s.dim); err != nil {
			return err
		}
		return deleteChunks(tx, docID)
	})
	if err != nil {
		return 0, fmt.Errorf("embedded: delete %q: %w", docID, err)
	}
	s.mu.Lock()
	for _, slot := range s.docs[docID] {
		s.unpublish(slot)
	}
	delete(s.docs, docID)
	s.gen = gen
	s.mu.Unlock()
	s.maintain(n)
	return n, nil
}

// maintain builds the graph when the store reaches ExactBelow chunks,
// drops it under half of that, repairs it when a tenth of its nodes are
// deleted ones, and saves its snapshot when a tenth of them changed since
// the last, so that Open after a crash has little to bring up to date.
// changed counts the chunks the write added and removed. The caller holds
// wmu.
func (s *Store) maintain(changed int) {
	live := len(s.byID)
	switch {
	case s.graph == nil && live >= s.opts.ExactBelow:
		start := time.Now()
		s.buildGraph()
		s.log.Info("graph built", "chunks", live, "took", time.Since(start))
		s.saveSnapshot()
	case s.graph != nil && live < s.opts.ExactBelow/2:
		s.mu.Lock()
		s.graph = nil
		s.free = append(s.free, s.tomb...)
		s.tomb = nil
		s.mu.Unlock()
		s.log.Info("graph dropped", "chunks", live)
		s.removeSnapshot()
	case s.graph != nil:
		s.unsaved += changed
		if len(s.tomb) > 0 && len(s.tomb) >= s.graph.nodes/10 {
			s.repair()
		}
		if s.unsaved >= max(s.graph.nodes/10, 1) {
			if len(s.tomb) > 0 {
				s.repair()
			}
			s.saveSnapshot()
		}
	}
}

// buildGraph links every published chunk into a new graph, in parallel,
// while searches go on exact, then switches searches to it. The caller
// holds wmu (or the store is not shared yet).
func (s *Store) buildGraph() {
	g := newGraph(s.dim, s.opts.M, s.opts.EfConstruction)
	var slots []uint32
	s.mu.Lock()
	g.grow(len(s.slots), s.vecs)
	for i, e := range s.slots {
		if e != nil {
			g.add(uint32(i))
			slots = append(slots, uint32(i))
		}
	}
	s.mu.Unlock()
	g.insertBatch(slots)
	s.mu.Lock()
	s.graph = g
	s.mu.Unlock()
}

// repair unlinks the deleted nodes from the graph, while searches go on,
// then frees their slots. The caller holds wmu.
func (s *Store) repair() {
	start := time.Now()
	s.graph.repair()
	s.mu.Lock()
	for _, slot := range s.tomb {
		s.graph.free(slot)
	}
	s.free = append(s.free, s.tomb...)
	n := len(s.tomb)
	s.tomb = nil
	s.mu.Unlock()
	s.log.Debug("graph repaired", "deleted", n, "took", time.Since(start))
}

// Documents implements knowledge.Store.
func (s *Store) Documents(ctx context.Context) (map[string]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, knowledge.ErrClosed
	}
	out := make(map[string]int, len(s.docs))
	for id, slots := range s.docs {
		out[id] = len(slots)
	}
	return out, nil
}

// Dim implements knowledge.Store.
func (s *Store) Dim() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.dim
}

// Len reports the number of chunks stored.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

// Scan implements knowledge.Scanner: it visits every chunk with its
// vectors, in chunk id order, from one consistent read of the file. fn
// must not write to s: a long read can hold up a write that needs to grow
// the file.
func (s *Store) Scan(ctx context.Context, fn func(knowledge.Chunk) error) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return knowledge.ErrClosed
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChunks).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			chunk, _, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("embedded: scan: chunk %q: %w", k, err)
			}
			if err := fn(chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return knowledge.ErrClosed
	}
	return err
}

// Close writes the graph snapshot when the graph changed since the last
// one, then closes the file. Later calls return knowledge.ErrClosed,
// except Close, which returns nil.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return nil
	}
	if s.graph != nil && s.snapGen != s.gen {
		if len(s.tomb) > 0 {
			s.repair()
		}
		s.saveSnapshot()
	} else if s.graph == nil {
		s.removeSnapshot()
	}
	s.mu.Lock()
	s.closed = true
	s.slots, s.vecs, s.graph, s.inv, s.tags = nil, nil, nil, nil, nil
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("embedded: close %q: %w", s.path, err)
	}
	return nil
}

// SearchDense implements knowledge.Store: cosine similarity, exact below
// ExactBelow chunks, by the HNSW graph from there. A filtered search
// covering fewer than ExactBelow chunks is exact on them; a wider one
// searches the graph with a candidate list widened by the filter's
// selectivity and falls back to exact when it comes back short.
func (s *Store) SearchDense(ctx context.Context, vec []float32, k int, f knowledge.Filter) ([]knowledge.Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, knowledge.ErrClosed
	}
	if s.dim == 0 || len(s.byID) == 0 || k <= 0 {
		if s.dim != 0 && len(vec) != s.dim {
			return nil, fmt.Errorf("embedded: search: %d-dimensional query, the store's vectors are %d: %w", len(vec), s.dim, knowledge.ErrDimension)
		}
		return nil, nil
	}
	if len(vec) != s.dim {
		return nil, fmt.Errorf("embedded: search: %d-dimensional query, the store's vectors are %d: %w", len(vec), s.dim, knowledge.ErrDimension)
	}
	q := slices.Clone(vec)
	if !normalize(q) {
		return nil, errors.New("embedded: search: query vector is zero or not finite")
	}
	allow, n := s.filter(f)
	if n == 0 {
		return nil, nil
	}
	var found []candidate
	if s.graph != nil && len(s.byID) >= s.opts.ExactBelow && n >= s.opts.ExactBelow {
		ef := max(s.opts.EfSearch, k)
		accept := func(slot uint32) bool { return s.slots[slot] != nil }
		if allow != nil {
			ef = min(ef*len(s.byID)/n, 8*ef)
			accept = func(slot uint32) bool { return s.slots[slot] != nil && allow.has(slot) }
		}
		found = s.graph.search(q, k, ef, accept)
		if len(found) < min(k, n) {
			found = nil
		}
	}
	if found == nil {
		found = s.exact(q, k, allow)
	}
	hits := make([]knowledge.Hit, len(found))
	for i, c := range found {
		hits[i] = s.hit(c.id, float64(dot(q, s.vec(c.id))))
	}
	sortHits(hits)
	return hits, nil
}

// filter returns the slots f allows and their number; nil when f allows
// all.
func (s *Store) filter(f knowledge.Filter) (*bitset, int) {
	if len(f.Tags) == 0 {
		return nil, len(s.byID)
	}
	if len(f.Tags) == 1 {
		if b := s.tags[f.Tags[0]]; b != nil {
			return b, b.n
		}
		return nil, 0
	}
	u := &bitset{}
	for _, t := range f.Tags {
		if b := s.tags[t]; b != nil {
			u.or(b)
		}
	}
	return u, u.n
}

// exact is brute force over the published slots allow has (all when nil):
// the k nearest, one goroutine per CPU when there are many.
func (s *Store) exact(q []float32, k int, allow *bitset) []candidate {
	n := len(s.slots)
	parts := 1
	if n >= 8192 && allow == nil {
		parts = min(runtime.GOMAXPROCS(0), n/4096)
	}
	top := make([]heap, parts)
	scan := func(p int) {
		h := &top[p]
		h.tie = s.idLess
		push := func(slot uint32) {
			if s.slots[slot] != nil {
				h.offer(candidate{1 - dot(q, s.vec(slot)), slot}, k)
			}
		}
		if allow != nil {
			allow.each(push)
			return
		}
		for slot := p * n / parts; slot < (p+1)*n/parts; slot++ {
			push(uint32(slot))
		}
	}
	if parts == 1 {
		scan(0)
	} else {
		var wg sync.WaitGroup
		for p := range parts {
			wg.Go(func() { scan(p) })
		}
		wg.Wait()
	}
	var all []candidate
	for _, h := range top {
		all = append(all, h.c...)
	}
	slices.SortFunc(all, func(a, b candidate) int {
		if c := cmp.Compare(a.d, b.d); c != 0 {
			return c
		}
		return cmp.Compare(s.slots[a.id].chunk.ID, s.slots[b.id].chunk.ID)
	})
	return all[:min(k, len(all))]
}

// idLess orders slots by chunk id, to break ties the same way whatever
// the slots.
func (s *Store) idLess(a, b uint32) bool { return s.slots[a].chunk.ID < s.slots[b].chunk.ID }

// SearchSparse implements knowledge.Store: the BM25 score of a chunk is
// the sum over the query's terms of IDF(df, n) · the query's weight · the
// chunk's stored term weight, where df counts the chunks with the term
// and n all chunks, whatever the filter.
func (s *Store) SearchSparse(ctx context.Context, q knowledge.SparseVector, k int, f knowledge.Filter) ([]knowledge.Hit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(q.Indices) != len(q.Values) {
		return nil, fmt.Errorf("embedded: search: %d sparse indices and %d values", len(q.Indices), len(q.Values))
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, knowledge.ErrClosed
	}
	if k <= 0 || len(s.byID) == 0 {
		return nil, nil
	}
	allow, nAllowed := s.filter(f)
	if nAllowed == 0 {
		return nil, nil
	}
	acc, _ := s.scores.Get().(*accumulator)
	if acc == nil {
		acc = &accumulator{}
	}
	defer s.scores.Put(acc)
	acc.reset(len(s.slots))
	n := len(s.byID)
	for i, t := range q.Indices {
		p := s.inv.post[t]
		if p == nil {
			continue
		}
		w := knowledge.IDF(len(p.slots), n) * float64(q.Values[i])
		for j, slot := range p.slots {
			acc.add(slot, w*float64(p.weights[j]))
		}
	}
	h := heap{tie: s.idLess}
	for _, slot := range acc.touched {
		if allow == nil || allow.has(slot) {
			h.offer(candidate{float32(-acc.score[slot]), slot}, k)
		}
	}
	hits := make([]knowledge.Hit, h.len())
	for i, c := range h.c {
		hits[i] = s.hit(c.id, acc.score[c.id])
	}
	sortHits(hits)
	return hits, nil
}

// accumulator sums a sparse search's scores by slot.
type accumulator struct {
	score   []float64
	touched []uint32
}

func (a *accumulator) reset(n int) {
	if len(a.score) < n {
		a.score = make([]float64, n+n/4)
	}
	for _, slot := range a.touched {
		a.score[slot] = 0
	}
	a.touched = a.touched[:0]
}

func (a *accumulator) add(slot uint32, v float64) {
	if a.score[slot] == 0 {
		a.touched = append(a.touched, slot)
	}
	a.score[slot] += v
	if a.score[slot] == 0 {
		a.score[slot] = 1e-300 // keep it touched
	}
}

// hit copies slot's chunk, vectors included, so the caller may keep it.
func (s *Store) hit(slot uint32, score float64) knowledge.Hit {
	c := s.slots[slot].chunk
	c.Vector = slices.Clone(s.vec(slot))
	c.Sparse = cloneSparse(c.Sparse)
	c.Tags = slices.Clone(c.Tags)
	c.Questions = slices.Clone(c.Questions)
	return knowledge.Hit{Chunk: c, Score: score}
}

func sortHits(hits []knowledge.Hit) {
	slices.SortFunc(hits, func(a, b knowledge.Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Chunk.ID, b.Chunk.ID)
	})
}
