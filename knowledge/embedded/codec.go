package embedded

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/kefu-chat/kefu/knowledge"
)

// Buckets of the bbolt file.
//
//	meta:   "format" -> uvarint formatVersion
//	        "id"     -> 16 random bytes naming this file, so a graph
//	                    snapshot of another file never matches
//	        "gen"    -> uint64 big-endian, bumped by every write transaction
//	        "dim"    -> uvarint vector size, once the first chunk is stored
//	chunks: chunk id -> record (see appendRecord)
//	docs:   document id -> its chunk ids (see appendIDs)
var (
	bucketMeta   = []byte("meta")
	bucketChunks = []byte("chunks")
	bucketDocs   = []byte("docs")

	keyFormat = []byte("format")
	keyID     = []byte("id")
	keyGen    = []byte("gen")
	keyDim    = []byte("dim")
)

const (
	formatVersion = 1
	recordVersion = 1
)

var errCorrupt = errors.New("corrupt record")

// appendRecord encodes a chunk as stored in the chunks bucket:
//
//	byte     recordVersion
//	uvarint  gen, the generation of the transaction that wrote it
//	uvarint  n, then n bytes: the chunk's JSON (knowledge.Chunk's own
//	         encoding, which leaves out the vectors)
//	uvarint  dim, then dim float32 little-endian: the dense vector
//	uvarint  nnz, then nnz uint32 and nnz float32, little-endian: the
//	         sparse vector's indices and values
//
// The generation lets Open tell which chunks changed since a graph
// snapshot was written.
func appendRecord(dst []byte, c *knowledge.Chunk, gen uint64) ([]byte, error) {
	meta, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, gen)
	dst = binary.AppendUvarint(dst, uint64(len(meta)))
	dst = append(dst, meta...)
	dst = binary.AppendUvarint(dst, uint64(len(c.Vector)))
	for _, x := range c.Vector {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
	}
	dst = binary.AppendUvarint(dst, uint64(len(c.Sparse.Indices)))
	for _, i := range c.Sparse.Indices {
		dst = binary.LittleEndian.AppendUint32(dst, i)
	}
	for _, x := range c.Sparse.Values {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
	}
	return dst, nil
}

// decodeRecord is the inverse of appendRecord. It copies everything out of
// b, which may be bbolt's memory map.
func decodeRecord(b []byte) (c knowledge.Chunk, gen uint64, err error) {
	d := decoder{b: b}
	if v := d.byte(); v != recordVersion {
		if d.err == nil {
			d.err = fmt.Errorf("record version %d, want %d", v, recordVersion)
		}
		return c, 0, d.err
	}
	gen = d.uvarint()
	meta := d.bytes(d.uvarint())
	if d.err == nil {
		if err := json.Unmarshal(meta, &c); err != nil {
			return c, 0, err
		}
	}
	if n := d.count(4); n > 0 {
		c.Vector = make([]float32, n)
		for i := range c.Vector {
			c.Vector[i] = math.Float32frombits(d.uint32())
		}
	}
	if n := d.count(8); n > 0 {
		c.Sparse.Indices = make([]uint32, n)
		c.Sparse.Values = make([]float32, n)
		for i := range c.Sparse.Indices {
			c.Sparse.Indices[i] = d.uint32()
		}
		for i := range c.Sparse.Values {
			c.Sparse.Values[i] = math.Float32frombits(d.uint32())
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return c, gen, d.err
}

// appendIDs encodes a document's chunk ids: uvarint count, then each id as
// uvarint length and bytes.
func appendIDs(dst []byte, ids []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, uint64(len(id)))
		dst = append(dst, id...)
	}
	return dst
}

func decodeIDs(b []byte) ([]string, error) {
	d := decoder{b: b}
	n := d.count(1)
	ids := make([]string, 0, n)
	for range n {
		ids = append(ids, string(d.bytes(d.uvarint())))
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	return ids, d.err
}

// decoder reads a record, remembering the first error; reads after an
// error return zeros.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a uvarint count of items of size bytes each, checking that
// they fit in what is left.
func (d *decoder) count(size int) int {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)/size) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint32() uint32 {
	if d.err != nil || len(d.b) < 4 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
}
