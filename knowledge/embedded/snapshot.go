package embedded

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kefu-chat/kefu/internal/wire"
)

// The graph snapshot, path + ".hnsw", spares Open from rebuilding the HNSW
// graph. Little-endian:
//
//	"KEFUHNSW", uint32 snapVersion
//	[16]byte  the file id (meta "id"), so another file's snapshot never matches
//	uint64    the generation it reflects
//	uint32    dim, M, slots, entry slot; int32 entry level (-1: empty)
//	per slot: uvarint n, n bytes: the chunk id ("" for a free slot); then,
//	          for a chunk, its level (1 byte) and per level a uvarint count
//	          and that many uint32 links
//	uint32    CRC-32C of everything before
//
// It is written when the graph is built, when a tenth of its nodes changed
// since the last snapshot, at Close, and after Open had to build or update
// the graph, into a temporary file renamed over the old one, so a crash
// leaves the old snapshot or the new, never half of one. Open uses it when the file
// id, dim and M match and its generation is not ahead of the file's: the
// chunks written since (their records carry a newer generation) or
// deleted since are then unlinked and linked again, and when they are more
// than a quarter of the store, or anything fails to check, the graph is
// rebuilt instead.
const (
	snapMagic   = "KEFUHNSW"
	snapVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (s *Store) snapPath() string { return s.path + ".hnsw" }

// snapshot is a decoded snapshot: the graph without vectors and the chunk
// id of each slot.
type snapshot struct {
	gen   uint64
	ids   []string
	graph *graph
}

// saveSnapshot writes the graph's snapshot; failing only costs the next
// Open a rebuild, so it logs. The caller holds wmu and has repaired the
// graph (no deleted nodes left).
func (s *Store) saveSnapshot() {
	start := time.Now()
	s.unsaved = 0
	if err := s.writeSnapshot(); err != nil {
		s.log.Warn("graph snapshot not saved", "err", err)
		return
	}
	s.snapGen = s.gen
	s.log.Debug("graph snapshot saved", "nodes", s.graph.nodes, "took", time.Since(start))
}

func (s *Store) writeSnapshot() error {
	g := s.graph
	dir, base := filepath.Split(s.snapPath())
	f, err := os.CreateTemp(dir, base+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	crc := crc32.New(castagnoli)
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	var b []byte
	b = append(b, snapMagic...)
	b = binary.LittleEndian.AppendUint32(b, snapVersion)
	b = append(b, s.fileID[:]...)
	b = binary.LittleEndian.AppendUint64(b, s.gen)
	b = binary.LittleEndian.AppendUint32(b, uint32(s.dim))
	b = binary.LittleEndian.AppendUint32(b, uint32(g.m))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.slots)))
	ep, top, ok := g.entry()
	if !ok {
		top = -1
	}
	b = binary.LittleEndian.AppendUint32(b, ep)
	b = binary.LittleEndian.AppendUint32(b, uint32(int32(top)))
	w.Write(b)
	for slot, e := range s.slots {
		b = b[:0]
		if e == nil {
			if g.levels[slot] >= 0 {
				f.Close()
				return fmt.Errorf("slot %d: in the graph without a chunk", slot)
			}
			b = binary.AppendUvarint(b, 0)
			w.Write(b)
			continue
		}
		b = wire.AppendString(b, e.chunk.ID)
		level := int(g.levels[slot])
		b = append(b, byte(level))
		for l := 0; l <= level; l++ {
			blk := g.block(uint32(slot), l)
			b = binary.AppendUvarint(b, uint64(blk[0]))
			for _, id := range blk[1 : 1+blk[0]] {
				b = binary.LittleEndian.AppendUint32(b, id)
			}
		}
		w.Write(b)
	}
	err = w.Flush()
	if err == nil {
		_, err = f.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), s.snapPath()); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// removeSnapshot deletes the snapshot of a store that no longer has a
// graph, so that an old one is never taken for current.
func (s *Store) removeSnapshot() {
	if err := os.Remove(s.snapPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("graph snapshot not removed", "err", err)
	}
	s.snapGen = 0
}

// readSnapshot reads and checks the snapshot; when there is none usable it
// says why.
func (s *Store) readSnapshot() (*snapshot, string) {
	data, err := os.ReadFile(s.snapPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "none"
	}
	if err != nil {
		return nil, err.Error()
	}
	if len(data) < 4 || crc32.Checksum(data[:len(data)-4], castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, "checksum mismatch"
	}
	snap, err := s.decodeSnapshot(data[:len(data)-4])
	if err != nil {
		return nil, err.Error()
	}
	return snap, ""
}

func (s *Store) decodeSnapshot(data []byte) (*snapshot, error) {
	const headerLen = 8 + 4 + 16 + 8 + 4*5
	if len(data) < headerLen || string(data[:8]) != snapMagic {
		return nil, errors.New("not a snapshot")
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[8:]); v != snapVersion {
		return nil, fmt.Errorf("snapshot version %d", v)
	}
	if !bytes.Equal(data[12:28], s.fileID[:]) {
		return nil, errors.New("snapshot of another file")
	}
	gen := le.Uint64(data[28:])
	dim, m := int(le.Uint32(data[36:])), int(le.Uint32(data[40:]))
	n := int(le.Uint32(data[44:]))
	ep, top := le.Uint32(data[48:]), int(int32(le.Uint32(data[52:])))
	switch {
	case gen > s.gen:
		return nil, fmt.Errorf("snapshot of generation %d, ahead of the file's %d", gen, s.gen)
	case dim != s.dim:
		return nil, fmt.Errorf("snapshot of %d dimensions, the file has %d", dim, s.dim)
	case m != s.opts.M:
		return nil, fmt.Errorf("snapshot with M=%d, options ask for %d", m, s.opts.M)
	case n > len(data): // every slot takes a byte at least
		return nil, errCorrupt
	}
	g := newGraph(dim, m, s.opts.EfConstruction)
	g.grow(n, nil)
	ids := make([]string, n)
	d := wire.NewDecoder(data[headerLen:], errCorrupt)
	for slot := range n {
		ids[slot] = d.String()
		if ids[slot] == "" {
			continue
		}
		level := int(d.Byte())
		if level > maxLevel {
			return nil, errCorrupt
		}
		g.levels[slot] = int8(level)
		if level > 0 {
			g.up[slot] = make([]uint32, level*(g.m+1))
		}
		g.nodes++
		for l := 0; l <= level; l++ {
			blk := g.block(uint32(slot), l)
			cnt := d.Count(4)
			if cnt > len(blk)-1 {
				return nil, errCorrupt
			}
			blk[0] = uint32(cnt)
			for i := range cnt {
				blk[1+i] = d.Uint32()
			}
		}
	}
	if d.Err() != nil || d.Len() != 0 {
		return nil, errCorrupt
	}
	// Every link must lead to a node present at its level.
	for slot, level := range g.levels {
		for l := 0; l <= int(level); l++ {
			blk := g.block(uint32(slot), l)
			for _, id := range blk[1 : 1+blk[0]] {
				if int(id) >= n || int(g.levels[id]) < l {
					return nil, errCorrupt
				}
			}
		}
	}
	if top >= 0 {
		if int(ep) >= n || int(g.levels[ep]) != top {
			return nil, errCorrupt
		}
		g.ep.Store(packEntry(ep, top))
	}
	return &snapshot{gen: gen, ids: ids, graph: g}, nil
}

// restore loads the chunks into the slots the snapshot gives them and
// takes its graph, then brings the graph up to date: nodes of chunks
// deleted or rewritten since are unlinked, chunks written since are
// linked. It fails, leaving the Store to be reset, when that is more than
// a quarter of the chunks.
func (s *Store) restore(snap *snapshot, loaded []loadedChunk) error {
	index := make(map[string]int, len(loaded))
	for i := range loaded {
		index[loaded[i].chunk.ID] = i
	}
	n := len(snap.ids)
	g := snap.graph
	s.slots = make([]*entry, n)
	s.vecs = make([]float32, n*s.dim)
	s.inv.grow(n)
	g.grow(n, s.vecs)
	placed := make([]bool, len(loaded))
	var dead []uint32
	for slot, id := range snap.ids {
		if id == "" {
			s.free = append(s.free, uint32(slot))
			continue
		}
		i, ok := index[id]
		if !ok || placed[i] || loaded[i].gen > snap.gen {
			dead = append(dead, uint32(slot))
			continue
		}
		placed[i] = true
		copy(s.vec(uint32(slot)), loaded[i].chunk.Vector)
		s.publish(uint32(slot), &loaded[i].chunk, loaded[i].gen, true)
	}
	var fresh []int
	for i := range loaded {
		if !placed[i] {
			fresh = append(fresh, i)
		}
	}
	if changed := len(dead) + len(fresh); changed > len(loaded)/4 {
		return fmt.Errorf("%d of %d chunks changed since the snapshot", changed, len(loaded))
	}
	s.graph = g
	if len(dead) > 0 {
		// Their vectors are gone: unlink them before anything searches.
		for _, slot := range dead {
			g.kill(slot)
		}
		s.tomb = dead
		s.repair()
	}
	slots := make([]uint32, len(fresh))
	for j, i := range fresh {
		slots[j] = s.alloc(loaded[i].chunk.Vector)
	}
	g.insertBatch(slots)
	for j, i := range fresh {
		s.publish(slots[j], &loaded[i].chunk, loaded[i].gen, true)
	}
	s.inv.build(s.slots)
	s.sortDocs()
	s.snapGen = snap.gen
	if len(dead)+len(fresh) > 0 {
		s.log.Info("graph snapshot updated", "unlinked", len(dead), "linked", len(fresh))
	}
	return nil
}
