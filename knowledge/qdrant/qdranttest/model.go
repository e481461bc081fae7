package qdranttest

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"math"
	"slices"
	"strings"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/proto"
)

// collection is one collection: its vector configuration, payload
// indexes and points.
type collection struct {
	name   string
	dense  map[string]*qc.VectorParams       // "" is the unnamed vector
	sparse map[string]*qc.SparseVectorParams // by name
	schema map[string]*qc.PayloadSchemaInfo  // payload indexes by field
	points map[pointKey]*point
	opNum  uint64 // the last update's operation number
}

// point is a stored point. Dense vectors of a Cosine vector are kept
// normalised, as Qdrant does on upsert (and returns them so).
type point struct {
	key     pointKey
	payload map[string]*qc.Value
	dense   map[string][]float32
	sparse  map[string]sparseVec
}

// sparseVec is a sparse vector with its indices ascending, as Qdrant
// sorts them on upsert.
type sparseVec struct {
	indices []uint32
	values  []float32
}

// pointKey is a point id. Qdrant orders integer ids before UUIDs, and
// UUIDs by their 128-bit value (segment::types::ExtendedPointId).
type pointKey struct {
	isUUID bool
	num    uint64
	uuid   [16]byte
}

func comparePoints(a, b pointKey) int {
	switch {
	case a.isUUID != b.isUUID:
		if a.isUUID {
			return 1
		}
		return -1
	case a.isUUID:
		return bytes.Compare(a.uuid[:], b.uuid[:])
	}
	return cmp.Compare(a.num, b.num)
}

func (k pointKey) id() *qc.PointId {
	if !k.isUUID {
		return qc.NewIDNum(k.num)
	}
	var b [36]byte
	hex.Encode(b[0:8], k.uuid[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], k.uuid[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], k.uuid[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], k.uuid[8:10])
	b[23] = '-'
	hex.Encode(b[24:], k.uuid[10:])
	return qc.NewIDUUID(string(b[:]))
}

// keyOf parses a point id. UUIDs may be written as Rust's uuid crate
// reads them: simple, hyphenated, braced or urn:uuid:.
func keyOf(id *qc.PointId) (pointKey, error) {
	switch v := id.GetPointIdOptions().(type) {
	case *qc.PointId_Num:
		return pointKey{num: v.Num}, nil
	case *qc.PointId_Uuid:
		s := v.Uuid
		t := strings.TrimPrefix(strings.ToLower(s), "urn:uuid:")
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			t = t[1 : len(t)-1]
		}
		if len(t) == 36 {
			if t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
				return pointKey{}, errBadUUID(s)
			}
			t = t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:]
		}
		if len(t) != 32 {
			return pointKey{}, errBadUUID(s)
		}
		k := pointKey{isUUID: true}
		if _, err := hex.Decode(k.uuid[:], []byte(t)); err != nil {
			return pointKey{}, errBadUUID(s)
		}
		return k, nil
	}
	return pointKey{}, errNoID
}

// sorted is the collection's points in id order.
func (c *collection) sorted() []*point {
	ps := make([]*point, 0, len(c.points))
	for _, p := range c.points {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *point) int { return comparePoints(a.key, b.key) })
	return ps
}

// info is the collection as Collections/Get describes it.
func (c *collection) info() *qc.CollectionInfo {
	params := &qc.CollectionParams{
		ShardNumber:            1,
		ReplicationFactor:      qc.PtrOf(uint32(1)),
		WriteConsistencyFactor: qc.PtrOf(uint32(1)),
	}
	if p, ok := c.dense[""]; ok {
		params.VectorsConfig = qc.NewVectorsConfig(proto.Clone(p).(*qc.VectorParams))
	} else if len(c.dense) > 0 {
		m := make(map[string]*qc.VectorParams, len(c.dense))
		for name, p := range c.dense {
			m[name] = proto.Clone(p).(*qc.VectorParams)
		}
		params.VectorsConfig = qc.NewVectorsConfigMap(m)
	}
	if len(c.sparse) > 0 {
		m := make(map[string]*qc.SparseVectorParams, len(c.sparse))
		for name, p := range c.sparse {
			m[name] = proto.Clone(p).(*qc.SparseVectorParams)
		}
		params.SparseVectorsConfig = qc.NewSparseVectorsConfig(m)
	}
	schema := make(map[string]*qc.PayloadSchemaInfo, len(c.schema))
	for field, ix := range c.schema {
		ix = proto.Clone(ix).(*qc.PayloadSchemaInfo)
		n := uint64(0)
		for _, p := range c.points {
			if len(values(p.payload, field)) > 0 {
				n++
			}
		}
		ix.Points = &n
		schema[field] = ix
	}
	n := uint64(len(c.points))
	return &qc.CollectionInfo{
		Status:              qc.CollectionStatus_Green,
		OptimizerStatus:     &qc.OptimizerStatus{Ok: true},
		SegmentsCount:       1,
		PointsCount:         &n,
		IndexedVectorsCount: qc.PtrOf(uint64(0)),
		Config: &qc.CollectionConfig{
			Params:          params,
			HnswConfig:      &qc.HnswConfigDiff{},
			OptimizerConfig: &qc.OptimizersConfigDiff{},
			WalConfig:       &qc.WalConfigDiff{},
		},
		PayloadSchema: schema,
	}
}

func normalize(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	out := slices.Clone(v)
	if sum == 0 {
		return out
	}
	n := math.Sqrt(sum)
	for i := range out {
		out[i] = float32(float64(out[i]) / n)
	}
	return out
}

// denseScore is Qdrant's score of a stored vector against the query:
// a similarity for Cosine (both normalised) and Dot, a distance for
// Euclid and Manhattan.
func denseScore(d qc.Distance, q, v []float32) float32 {
	var s float64
	switch d {
	case qc.Distance_Euclid:
		for i := range q {
			x := float64(q[i]) - float64(v[i])
			s += x * x
		}
		return float32(math.Sqrt(s))
	case qc.Distance_Manhattan:
		for i := range q {
			s += math.Abs(float64(q[i]) - float64(v[i]))
		}
		return float32(s)
	}
	for i := range q {
		s += float64(q[i]) * float64(v[i])
	}
	return float32(s)
}

// better reports whether score a ranks before b for the distance.
func better(d qc.Distance, a, b float32) bool {
	if d == qc.Distance_Euclid || d == qc.Distance_Manhattan {
		return a < b
	}
	return a > b
}

// idf is Qdrant's inverse document frequency of a sparse dimension found
// in df of n points (documentation, "IDF Modifier"; the same formula as
// BM25's): ln(1 + (n − df + 0.5) / (df + 0.5)).
func idf(df, n int) float64 {
	return math.Log(1 + (float64(n)-float64(df)+0.5)/(float64(df)+0.5))
}
