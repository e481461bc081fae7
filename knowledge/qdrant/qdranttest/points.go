package qdranttest

import (
	"context"
	"fmt"
	"slices"
	"sort"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// pointsService is Qdrant's Points service: Upsert, Delete, Get, Count,
// Scroll, Query (nearest, with a filter) and CreateFieldIndex /
// DeleteFieldIndex. Searching is exact (brute force), as Qdrant's is on a
// small collection below its indexing threshold. The rest answer
// Unimplemented, as do the options of the modelled calls that the double
// does not follow.
type pointsService struct {
	qc.UnimplementedPointsServer
	s *Server
}

// update numbers an update operation. Qdrant answers Completed when the
// request waited for it (wait=true) and Acknowledged otherwise (wait
// defaults to false); the double applies it at once either way.
func (c *collection) update(wait *bool) *qc.UpdateResult {
	c.opNum++
	st := qc.UpdateStatus_Acknowledged
	if wait != nil && *wait {
		st = qc.UpdateStatus_Completed
	}
	return &qc.UpdateResult{OperationId: qc.PtrOf(c.opNum), Status: st}
}

func (ps *pointsService) Upsert(_ context.Context, req *qc.UpsertPoints) (*qc.PointsOperationResponse, error) {
	if req.UpdateFilter != nil || req.GetUpdateMode() != qc.UpdateMode_Upsert {
		return nil, errNotModelled("conditional upserts (update_filter, update_mode)")
	}
	ps.s.mu.Lock()
	defer ps.s.mu.Unlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	// Every point is checked before any is stored: a rejected request
	// changes nothing.
	points := make([]*point, 0, len(req.GetPoints()))
	for i, p := range req.GetPoints() {
		np, err := c.newPoint(p, fmt.Sprintf("points[%d]", i))
		if err != nil {
			return nil, err
		}
		points = append(points, np)
	}
	for _, p := range points {
		c.points[p.key] = p
	}
	return &qc.PointsOperationResponse{Result: c.update(req.Wait)}, nil
}

// newPoint checks a point as Qdrant converts and applies it (the order of
// checks is Qdrant's: vectors, then id, then each vector) and returns it
// ready to store.
func (c *collection) newPoint(ps *qc.PointStruct, path string) (*point, error) {
	if ps.GetVectors() == nil {
		return nil, errNoVectors
	}
	if ps.GetId() == nil {
		return nil, errNoID
	}
	key, err := keyOf(ps.GetId())
	if err != nil {
		return nil, err
	}
	p := &point{key: key, payload: clonePayload(ps.GetPayload()), dense: map[string][]float32{}, sparse: map[string]sparseVec{}}
	switch v := ps.GetVectors().GetVectorsOptions().(type) {
	case *qc.Vectors_Vector:
		if err := c.setVector(p, "", v.Vector, path+".vectors.vector"); err != nil {
			return nil, err
		}
	case *qc.Vectors_Vectors:
		named := v.Vectors.GetVectors()
		// Named vectors are optional: a point may carry some of them
		// (Qdrant documentation, "Vectors"), or none.
		for _, name := range sortedKeys(named) {
			if err := c.setVector(p, name, named[name], path+".vectors.vectors."+name); err != nil {
				return nil, err
			}
		}
	default:
		return nil, errNoVectors
	}
	return p, nil
}

// vectorOf reads a Vector in its current form (the vector oneof) or the
// deprecated one (data, indices).
func vectorOf(v *qc.Vector) (dense []float32, sparse *sparseVec, err error) {
	switch x := v.GetVector().(type) {
	case *qc.Vector_Dense:
		return x.Dense.GetData(), nil, nil
	case *qc.Vector_Sparse:
		return nil, &sparseVec{indices: x.Sparse.GetIndices(), values: x.Sparse.GetValues()}, nil
	case nil:
		if v.GetIndices() != nil {
			return nil, &sparseVec{indices: v.GetIndices().GetData(), values: v.GetData()}, nil
		}
		if v.GetVectorsCount() > 0 {
			return nil, nil, errNotModelled("multivectors")
		}
		return v.GetData(), nil, nil
	}
	return nil, nil, errNotModelled("multivectors and inference objects")
}

func (c *collection) setVector(p *point, name string, v *qc.Vector, path string) error {
	dense, sparse, err := vectorOf(v)
	if err != nil {
		return err
	}
	dp, isDense := c.dense[name]
	_, isSparse := c.sparse[name]
	if !isDense && !isSparse {
		return errUnknownVectorName(name)
	}
	if sparse != nil {
		if isDense {
			return errWrongSparse()
		}
		sv, err := checkSparse(*sparse, path)
		if err != nil {
			return err
		}
		p.sparse[name] = sv
		return nil
	}
	if isSparse {
		return errWrongSparse()
	}
	if len(dense) != int(dp.GetSize()) {
		return errDimension(int(dp.GetSize()), len(dense))
	}
	if dp.GetDistance() == qc.Distance_Cosine {
		dense = normalize(dense)
	} else {
		dense = slices.Clone(dense)
	}
	p.dense[name] = dense
	return nil
}

// checkSparse validates a sparse vector as Qdrant does
// (lib/sparse/src/common/sparse_vector.rs, validate_sparse_vector_impl:
// "values: must be the same length as indices", "indices: must be
// unique"; the path before them is approximate) and sorts it by index, as
// Qdrant stores it.
func checkSparse(v sparseVec, path string) (sparseVec, error) {
	if len(v.indices) != len(v.values) {
		return sparseVec{}, errValidation(path+".values", "must be the same length as indices")
	}
	type pair struct {
		i uint32
		v float32
	}
	pairs := make([]pair, len(v.indices))
	for k := range v.indices {
		pairs[k] = pair{v.indices[k], v.values[k]}
	}
	sort.Slice(pairs, func(a, b int) bool { return pairs[a].i < pairs[b].i })
	out := sparseVec{indices: make([]uint32, len(pairs)), values: make([]float32, len(pairs))}
	for k, pr := range pairs {
		if k > 0 && pr.i == pairs[k-1].i {
			return sparseVec{}, errValidation(path+".indices", "must be unique")
		}
		out.indices[k], out.values[k] = pr.i, pr.v
	}
	return out, nil
}

func clonePayload(p map[string]*qc.Value) map[string]*qc.Value {
	out := make(map[string]*qc.Value, len(p))
	for k, v := range p {
		out[k] = proto.Clone(v).(*qc.Value)
	}
	return out
}

func (ps *pointsService) Delete(_ context.Context, req *qc.DeletePoints) (*qc.PointsOperationResponse, error) {
	ps.s.mu.Lock()
	defer ps.s.mu.Unlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	switch sel := req.GetPoints().GetPointsSelectorOneOf().(type) {
	case *qc.PointsSelector_Points:
		keys := make([]pointKey, 0, len(sel.Points.GetIds()))
		for _, id := range sel.Points.GetIds() {
			k, err := keyOf(id)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		for _, k := range keys {
			delete(c.points, k)
		}
	case *qc.PointsSelector_Filter:
		if err := checkFilter(sel.Filter, "points.filter"); err != nil {
			return nil, err
		}
		for k, p := range c.points {
			if matches(sel.Filter, p) {
				delete(c.points, k)
			}
		}
	default:
		// lib/api/src/grpc/conversions.rs (approximate message).
		return nil, status.Error(codes.InvalidArgument, "Malformed PointsSelector type")
	}
	return &qc.PointsOperationResponse{Result: c.update(req.Wait)}, nil
}

func (ps *pointsService) CreateFieldIndex(_ context.Context, req *qc.CreateFieldIndexCollection) (*qc.PointsOperationResponse, error) {
	ps.s.mu.Lock()
	defer ps.s.mu.Unlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	if req.FieldType == nil {
		// operation_error.rs, TypeInferenceError (Qdrant infers the type
		// from stored values; the double does not).
		return nil, status.Errorf(codes.InvalidArgument,
			"Wrong input: Unable to infer type for the field '%s'. Please specify `field_type`", req.GetFieldName())
	}
	types := map[qc.FieldType]qc.PayloadSchemaType{
		qc.FieldType_FieldTypeKeyword:  qc.PayloadSchemaType_Keyword,
		qc.FieldType_FieldTypeInteger:  qc.PayloadSchemaType_Integer,
		qc.FieldType_FieldTypeFloat:    qc.PayloadSchemaType_Float,
		qc.FieldType_FieldTypeGeo:      qc.PayloadSchemaType_Geo,
		qc.FieldType_FieldTypeText:     qc.PayloadSchemaType_Text,
		qc.FieldType_FieldTypeBool:     qc.PayloadSchemaType_Bool,
		qc.FieldType_FieldTypeDatetime: qc.PayloadSchemaType_Datetime,
		qc.FieldType_FieldTypeUuid:     qc.PayloadSchemaType_Uuid,
	}
	t, ok := types[req.GetFieldType()]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "Malformed field type: %d", req.GetFieldType())
	}
	ix := &qc.PayloadSchemaInfo{DataType: t}
	if req.FieldIndexParams != nil {
		ix.Params = proto.Clone(req.FieldIndexParams).(*qc.PayloadIndexParams)
	}
	c.schema[req.GetFieldName()] = ix
	return &qc.PointsOperationResponse{Result: c.update(req.Wait)}, nil
}

func (ps *pointsService) DeleteFieldIndex(_ context.Context, req *qc.DeleteFieldIndexCollection) (*qc.PointsOperationResponse, error) {
	ps.s.mu.Lock()
	defer ps.s.mu.Unlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	delete(c.schema, req.GetFieldName())
	return &qc.PointsOperationResponse{Result: c.update(req.Wait)}, nil
}

func (ps *pointsService) Count(_ context.Context, req *qc.CountPoints) (*qc.CountResponse, error) {
	ps.s.mu.RLock()
	defer ps.s.mu.RUnlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	if err := checkFilter(req.GetFilter(), "filter"); err != nil {
		return nil, err
	}
	n := uint64(0)
	for _, p := range c.points {
		if matches(req.GetFilter(), p) {
			n++
		}
	}
	return &qc.CountResponse{Result: &qc.CountResult{Count: n}}, nil
}

func (ps *pointsService) Get(_ context.Context, req *qc.GetPoints) (*qc.GetResponse, error) {
	ps.s.mu.RLock()
	defer ps.s.mu.RUnlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	resp := &qc.GetResponse{}
	for _, id := range req.GetIds() {
		k, err := keyOf(id)
		if err != nil {
			return nil, err
		}
		if p, ok := c.points[k]; ok {
			resp.Result = append(resp.Result, &qc.RetrievedPoint{
				Id:      k.id(),
				Payload: selectPayload(p, req.GetWithPayload(), true),
				Vectors: selectVectors(p, req.GetWithVectors()),
			})
		}
	}
	return resp, nil
}

// limit is a request's limit: def when unset; 0 fails Qdrant's validation
// (range(min = 1)).
func limit(n *uint64, def uint64) (uint64, error) {
	if n == nil {
		return def, nil
	}
	if *n == 0 {
		return 0, errValidation("limit", "value 0 invalid, must be 1 or larger")
	}
	return *n, nil
}

// Scroll pages through the points in id order: Offset is the first id of
// the page (inclusive), NextPageOffset the first id of the next one.
func (ps *pointsService) Scroll(_ context.Context, req *qc.ScrollPoints) (*qc.ScrollResponse, error) {
	if req.OrderBy != nil {
		return nil, errNotModelled("order_by")
	}
	var lp *uint64
	if req.Limit != nil {
		lp = qc.PtrOf(uint64(*req.Limit))
	}
	n, err := limit(lp, 10)
	if err != nil {
		return nil, err
	}
	if err := checkFilter(req.GetFilter(), "filter"); err != nil {
		return nil, err
	}
	var start *pointKey
	if req.Offset != nil {
		k, err := keyOf(req.Offset)
		if err != nil {
			return nil, err
		}
		start = &k
	}
	ps.s.mu.RLock()
	defer ps.s.mu.RUnlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	resp := &qc.ScrollResponse{}
	for _, p := range c.sorted() {
		if start != nil && comparePoints(p.key, *start) < 0 || !matches(req.GetFilter(), p) {
			continue
		}
		if uint64(len(resp.Result)) == n {
			resp.NextPageOffset = p.key.id()
			break
		}
		resp.Result = append(resp.Result, &qc.RetrievedPoint{
			Id:      p.key.id(),
			Payload: selectPayload(p, req.GetWithPayload(), true),
			Vectors: selectVectors(p, req.GetWithVectors()),
		})
	}
	return resp, nil
}

type scored struct {
	p     *point
	score float32
}

// Query serves nearest-neighbour queries on a dense or sparse vector, with
// a filter, limit and offset, or no query at all (points in id order).
func (ps *pointsService) Query(_ context.Context, req *qc.QueryPoints) (*qc.QueryResponse, error) {
	switch {
	case len(req.GetPrefetch()) > 0:
		return nil, errNotModelled("prefetch (hybrid queries)")
	case req.LookupFrom != nil:
		return nil, errNotModelled("lookup_from")
	case req.ScoreThreshold != nil:
		return nil, errNotModelled("score_threshold")
	}
	n, err := limit(req.Limit, 10)
	if err != nil {
		return nil, err
	}
	if err := checkFilter(req.GetFilter(), "filter"); err != nil {
		return nil, err
	}
	ps.s.mu.RLock()
	defer ps.s.mu.RUnlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	var cands []*point
	for _, p := range c.sorted() {
		if matches(req.GetFilter(), p) {
			cands = append(cands, p)
		}
	}
	var hits []scored
	if req.Query == nil {
		for _, p := range cands {
			hits = append(hits, scored{p: p})
		}
	} else {
		nearest := req.Query.GetNearest()
		if nearest == nil {
			return nil, errNotModelled(fmt.Sprintf("query %T", req.Query.GetVariant()))
		}
		switch in := nearest.GetVariant().(type) {
		case *qc.VectorInput_Dense:
			hits, err = c.nearestDense(req.GetUsing(), in.Dense.GetData(), cands)
		case *qc.VectorInput_Sparse:
			hits, err = c.nearestSparse(req.GetUsing(), sparseVec{indices: in.Sparse.GetIndices(), values: in.Sparse.GetValues()}, cands)
		default:
			err = errNotModelled(fmt.Sprintf("nearest %T", in))
		}
		if err != nil {
			return nil, err
		}
	}
	off := min(req.GetOffset(), uint64(len(hits)))
	hits = hits[off:]
	hits = hits[:min(n, uint64(len(hits)))]
	resp := &qc.QueryResponse{Result: make([]*qc.ScoredPoint, 0, len(hits))}
	for _, h := range hits {
		resp.Result = append(resp.Result, &qc.ScoredPoint{
			Id:      h.p.key.id(),
			Score:   h.score,
			Version: c.opNum,
			Payload: selectPayload(h.p, req.GetWithPayload(), false),
			Vectors: selectVectors(h.p, req.GetWithVectors()),
		})
	}
	return resp, nil
}

// nearestDense scores the candidates that have the dense vector named
// using, best first; ties go by id.
func (c *collection) nearestDense(using string, q []float32, cands []*point) ([]scored, error) {
	params, ok := c.dense[using]
	if !ok {
		if _, sparse := c.sparse[using]; sparse {
			return nil, errWrongSparse()
		}
		return nil, errMissingVector(c, using)
	}
	if len(q) != int(params.GetSize()) {
		return nil, errDimension(int(params.GetSize()), len(q))
	}
	d := params.GetDistance()
	if d == qc.Distance_Cosine {
		q = normalize(q)
	}
	var hits []scored
	for _, p := range cands {
		if v, ok := p.dense[using]; ok {
			hits = append(hits, scored{p: p, score: denseScore(d, q, v)})
		}
	}
	sortHits(hits, func(a, b float32) bool { return better(d, a, b) })
	return hits, nil
}

// nearestSparse scores the candidates that share a dimension with q; a
// point sharing none is no hit (sparse_vector.rs: the score is None
// without overlap). The score is the sum over shared dimensions of the
// query weight times the point's, the query weight first multiplied by
// the dimension's IDF when the vector has the Idf modifier. n of the IDF
// is the number of points in the collection (QueryContext's
// available_point_count), df the number of points whose vector has the
// dimension.
func (c *collection) nearestSparse(using string, q sparseVec, cands []*point) ([]scored, error) {
	params, ok := c.sparse[using]
	if !ok {
		if _, dense := c.dense[using]; dense {
			return nil, errWrongSparse()
		}
		return nil, errMissingVector(c, using)
	}
	q, err := checkSparse(q, "query.nearest.sparse")
	if err != nil {
		return nil, err
	}
	weights := make(map[uint32]float64, len(q.indices))
	for k, i := range q.indices {
		weights[i] = float64(q.values[k])
	}
	if params.GetModifier() == qc.Modifier_Idf {
		df := make(map[uint32]int, len(weights))
		for _, p := range c.points {
			for _, i := range p.sparse[using].indices {
				if _, ok := weights[i]; ok {
					df[i]++
				}
			}
		}
		for i := range weights {
			weights[i] *= idf(df[i], len(c.points))
		}
	}
	var hits []scored
	for _, p := range cands {
		v, ok := p.sparse[using]
		if !ok {
			continue
		}
		shared, sum := false, 0.0
		for k, i := range v.indices {
			if w, ok := weights[i]; ok {
				shared = true
				sum += w * float64(v.values[k])
			}
		}
		if shared {
			hits = append(hits, scored{p: p, score: float32(sum)})
		}
	}
	sortHits(hits, func(a, b float32) bool { return a > b })
	return hits, nil
}

func sortHits(hits []scored, better func(a, b float32) bool) {
	slices.SortStableFunc(hits, func(a, b scored) int {
		switch {
		case better(a.score, b.score):
			return -1
		case better(b.score, a.score):
			return 1
		}
		return comparePoints(a.p.key, b.p.key)
	})
}

// selectPayload applies a with_payload selector (top-level keys only for
// include and exclude); def is the request's default when it has none.
func selectPayload(p *point, sel *qc.WithPayloadSelector, def bool) map[string]*qc.Value {
	keep := func(string) bool { return def }
	switch x := sel.GetSelectorOptions().(type) {
	case *qc.WithPayloadSelector_Enable:
		keep = func(string) bool { return x.Enable }
	case *qc.WithPayloadSelector_Include:
		keep = func(k string) bool { return slices.Contains(x.Include.GetFields(), k) }
	case *qc.WithPayloadSelector_Exclude:
		keep = func(k string) bool { return !slices.Contains(x.Exclude.GetFields(), k) }
	}
	out := map[string]*qc.Value{}
	for k, v := range p.payload {
		if keep(k) {
			out[k] = proto.Clone(v).(*qc.Value)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// selectVectors applies a with_vectors selector (default: none). A point
// of a collection with one unnamed vector gets it unnamed.
func selectVectors(p *point, sel *qc.WithVectorsSelector) *qc.VectorsOutput {
	keep := func(string) bool { return false }
	switch x := sel.GetSelectorOptions().(type) {
	case *qc.WithVectorsSelector_Enable:
		keep = func(string) bool { return x.Enable }
	case *qc.WithVectorsSelector_Include:
		keep = func(name string) bool { return slices.Contains(x.Include.GetNames(), name) }
	}
	if v, ok := p.dense[""]; ok && len(p.dense) == 1 && len(p.sparse) == 0 {
		if !keep("") {
			return nil
		}
		return &qc.VectorsOutput{VectorsOptions: &qc.VectorsOutput_Vector{Vector: denseOutput(v)}}
	}
	named := map[string]*qc.VectorOutput{}
	for name, v := range p.dense {
		if keep(name) {
			named[name] = denseOutput(v)
		}
	}
	for name, v := range p.sparse {
		if keep(name) {
			named[name] = &qc.VectorOutput{Vector: &qc.VectorOutput_Sparse{Sparse: &qc.SparseVector{
				Indices: slices.Clone(v.indices),
				Values:  slices.Clone(v.values),
			}}}
		}
	}
	if len(named) == 0 {
		return nil
	}
	return &qc.VectorsOutput{VectorsOptions: &qc.VectorsOutput_Vectors{Vectors: &qc.NamedVectorsOutput{Vectors: named}}}
}

func denseOutput(v []float32) *qc.VectorOutput {
	return &qc.VectorOutput{Vector: &qc.VectorOutput_Dense{Dense: &qc.DenseVector{Data: slices.Clone(v)}}}
}
