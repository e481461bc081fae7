package qdrant

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"

	"github.com/kefu-chat/kefu/knowledge"
	qc "github.com/qdrant/go-client/qdrant"
)

// Vector names and payload keys of the collection layout (see doc.go).
const (
	denseVector  = "dense"
	sparseVector = "lexical"

	keyDocID     = "doc_id"
	keyChunkID   = "chunk_id"
	keyTitle     = "title"
	keyText      = "text"
	keyAnswer    = "answer"
	keyQuestions = "questions"
	keyTags      = "tags"
	keyPosition  = "position"
)

// chunkNamespace is the UUID namespace of point ids. Changing it would
// orphan every point already stored: re-ingesting would add new points
// beside the old ones instead of overwriting them.
var chunkNamespace = [16]byte{
	0x6b, 0x65, 0x66, 0x75, 0x2d, 0x63, 0x68, 0x75, // "kefu-chu"
	0x6e, 0x6b, 0x2d, 0x69, 0x64, 0x73, 0x2e, 0x31, // "nk-ids.1"
}

// PointID is the Qdrant point id of a chunk id: the name-based (version 5,
// SHA-1) UUID of chunkID in kefu's namespace
// 6b656675-2d63-6875-6e6b-2d6964732e31, hyphenated and lower-case.
// It is stable across processes and versions, so storing a chunk twice
// overwrites one point.
func PointID(chunkID string) string {
	h := sha1.New()
	h.Write(chunkNamespace[:])
	h.Write([]byte(chunkID))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// point is the Qdrant point of a chunk. A chunk without lexical terms
// (an empty sparse vector) gets no sparse vector: named vectors are
// optional in Qdrant, and a point without one is simply never a sparse
// hit.
func point(c *knowledge.Chunk) *qc.PointStruct {
	vectors := map[string]*qc.Vector{denseVector: qc.NewVectorDense(c.Vector)}
	if len(c.Sparse.Indices) > 0 {
		vectors[sparseVector] = qc.NewVectorSparse(c.Sparse.Indices, c.Sparse.Values)
	}
	return &qc.PointStruct{
		Id:      qc.NewIDUUID(PointID(c.ID)),
		Payload: payload(c),
		Vectors: qc.NewVectorsMap(vectors),
	}
}

func payload(c *knowledge.Chunk) map[string]*qc.Value {
	return map[string]*qc.Value{
		keyDocID:     qc.NewValueString(c.DocID),
		keyChunkID:   qc.NewValueString(c.ID),
		keyTitle:     qc.NewValueString(c.Title),
		keyText:      qc.NewValueString(c.Text),
		keyAnswer:    qc.NewValueString(c.Answer),
		keyQuestions: stringList(c.Questions),
		keyTags:      stringList(c.Tags),
		keyPosition:  qc.NewValueInt(int64(c.Position)),
	}
}

func stringList(ss []string) *qc.Value {
	vs := make([]*qc.Value, len(ss))
	for i, s := range ss {
		vs[i] = qc.NewValueString(s)
	}
	return qc.NewValueFromList(vs...)
}

// chunkOf decodes a point's payload, and its vectors when it has them.
// A point without a chunk_id was not written by kefu.
func chunkOf(id *qc.PointId, p map[string]*qc.Value, vectors *qc.VectorsOutput) (knowledge.Chunk, error) {
	c := knowledge.Chunk{
		ID:        p[keyChunkID].GetStringValue(),
		DocID:     p[keyDocID].GetStringValue(),
		Title:     p[keyTitle].GetStringValue(),
		Text:      p[keyText].GetStringValue(),
		Answer:    p[keyAnswer].GetStringValue(),
		Questions: stringsOf(p[keyQuestions]),
		Tags:      stringsOf(p[keyTags]),
		Position:  int(p[keyPosition].GetIntegerValue()),
	}
	if c.ID == "" {
		return c, fmt.Errorf("point %s has no %s in its payload: it was not written by kefu", idString(id), keyChunkID)
	}
	if named := vectors.GetVectors().GetVectors(); named != nil {
		if d := named[denseVector].GetDenseVector(); d != nil {
			c.Vector = d.GetData()
		}
		if s := named[sparseVector].GetSparseVector(); s != nil {
			c.Sparse = knowledge.SparseVector{Indices: s.GetIndices(), Values: s.GetValues()}
		}
	}
	return c, nil
}

// stringsOf decodes a list of strings; an empty list is nil, as in a chunk
// that never had any.
func stringsOf(v *qc.Value) []string {
	vs := v.GetListValue().GetValues()
	if len(vs) == 0 {
		return nil
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.GetStringValue()
	}
	return out
}

func idString(id *qc.PointId) string {
	if u := id.GetUuid(); u != "" {
		return u
	}
	return fmt.Sprint(id.GetNum())
}
