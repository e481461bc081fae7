package embedded

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/kefu-chat/kefu/internal/wire"
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
	dst = wire.AppendBytes(dst, meta)
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
	d := wire.NewDecoder(b, errCorrupt)
	if v := d.Byte(); v != recordVersion {
		d.Fail(fmt.Errorf("record version %d, want %d", v, recordVersion))
		return c, 0, d.Err()
	}
	gen = d.Uvarint()
	meta := d.Bytes()
	if d.Err() == nil {
		if err := json.Unmarshal(meta, &c); err != nil {
			return c, 0, err
		}
	}
	if n := d.Count(4); n > 0 {
		c.Vector = make([]float32, n)
		for i := range c.Vector {
			c.Vector[i] = math.Float32frombits(d.Uint32())
		}
	}
	if n := d.Count(8); n > 0 {
		c.Sparse.Indices = make([]uint32, n)
		c.Sparse.Values = make([]float32, n)
		for i := range c.Sparse.Indices {
			c.Sparse.Indices[i] = d.Uint32()
		}
		for i := range c.Sparse.Values {
			c.Sparse.Values[i] = math.Float32frombits(d.Uint32())
		}
	}
	if d.Len() != 0 {
		d.Fail(errCorrupt)
	}
	return c, gen, d.Err()
}

// appendIDs encodes a document's chunk ids: uvarint count, then each id as
// uvarint length and bytes.
func appendIDs(dst []byte, ids []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = wire.AppendString(dst, id)
	}
	return dst
}

func decodeIDs(b []byte) ([]string, error) {
	d := wire.NewDecoder(b, errCorrupt)
	n := d.Count(1)
	ids := make([]string, 0, n)
	for range n {
		ids = append(ids, d.String())
	}
	if d.Len() != 0 {
		d.Fail(errCorrupt)
	}
	return ids, d.Err()
}
