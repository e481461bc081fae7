package qdranttest

import (
	"context"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// client dials srv with go-client, sending key when it is not empty.
func client(t *testing.T, srv *Server, key string) *qc.Client {
	t.Helper()
	host, p, _ := net.SplitHostPort(srv.Addr())
	port, _ := strconv.Atoi(p)
	var opts []grpc.DialOption
	if key != "" {
		opts = append(opts, grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any,
			cc *grpc.ClientConn, invoker grpc.UnaryInvoker, o ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "api-key", key), method, req, reply, cc, o...)
		}))
	}
	c, err := qc.NewClient(&qc.Config{Host: host, Port: port, SkipCompatibilityCheck: true, PoolSize: 1, GrpcOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantErr(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	if s, _ := status.FromError(err); err == nil || s.Code() != code || s.Message() != msg {
		t.Errorf("error = %v; want %s %q", err, code, msg)
	}
}

// named makes a collection with a dense vector "dense" (4, cosine) and a
// sparse vector "lexical" with the idf modifier.
func named(t *testing.T, c *qc.Client, name string) {
	t.Helper()
	err := c.CreateCollection(t.Context(), &qc.CreateCollection{
		CollectionName: name,
		VectorsConfig:  qc.NewVectorsConfigMap(map[string]*qc.VectorParams{"dense": {Size: 4, Distance: qc.Distance_Cosine}}),
		SparseVectorsConfig: qc.NewSparseVectorsConfig(map[string]*qc.SparseVectorParams{
			"lexical": {Modifier: qc.Modifier_Idf.Enum()},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func upsert(t *testing.T, c *qc.Client, name string, points ...*qc.PointStruct) {
	t.Helper()
	if _, err := c.Upsert(t.Context(), &qc.UpsertPoints{CollectionName: name, Wait: qc.PtrOf(true), Points: points}); err != nil {
		t.Fatal(err)
	}
}

func ids(points []*qc.ScoredPoint) []uint64 {
	var out []uint64
	for _, p := range points {
		out = append(out, p.GetId().GetNum())
	}
	return out
}

func TestAuth(t *testing.T) {
	srv := Start(t, Config{APIKey: "secret"})
	ctx := t.Context()
	_, err := client(t, srv, "").ListCollections(ctx)
	wantErr(t, errorsUnwrap(err), codes.Unauthenticated, "Must provide an API key or an Authorization bearer token")
	_, err = client(t, srv, "nope").ListCollections(ctx)
	wantErr(t, errorsUnwrap(err), codes.Unauthenticated, "Invalid API key or JWT")
	if _, err := client(t, srv, "secret").ListCollections(ctx); err != nil {
		t.Errorf("with the key: %v", err)
	}
	bearer := qc.NewCollectionsClient(client(t, srv, "").GetConnection())
	_, err = bearer.List(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer secret"), &qc.ListCollectionsRequest{})
	if err != nil {
		t.Errorf("with a bearer token: %v", err)
	}
	if h, err := client(t, srv, "").HealthCheck(ctx); err != nil || h.GetVersion() != Version {
		t.Errorf("health check without a key = %v, %v", h, err)
	}
}

// errorsUnwrap gets the status error out of go-client's QdrantError.
func errorsUnwrap(err error) error {
	if s, ok := status.FromError(err); ok {
		return status.Error(s.Code(), s.Message()[strings.LastIndex(s.Message(), "desc = ")+len("desc = "):])
	}
	return err
}

func TestCollections(t *testing.T) {
	srv := Start(t, Config{})
	c := client(t, srv, "")
	cs := c.GetCollectionsClient()
	ctx := t.Context()
	named(t, c, "a")
	_, err := cs.Create(ctx, &qc.CreateCollection{CollectionName: "a"})
	wantErr(t, err, codes.AlreadyExists, "Wrong input: Collection `a` already exists!")
	_, err = cs.Get(ctx, &qc.GetCollectionInfoRequest{CollectionName: "b"})
	wantErr(t, err, codes.NotFound, "Not found: Collection `b` doesn't exist!")
	for _, bad := range []*qc.CreateCollection{
		{CollectionName: ""},
		{CollectionName: "a/b"},
		{CollectionName: "z", VectorsConfig: qc.NewVectorsConfig(&qc.VectorParams{Size: 0, Distance: qc.Distance_Cosine})},
		{CollectionName: "z", VectorsConfig: qc.NewVectorsConfig(&qc.VectorParams{Size: 4})},
	} {
		if _, err := cs.Create(ctx, bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Create(%v) = %v; want InvalidArgument", bad, err)
		}
	}
	if ok, _ := c.CollectionExists(ctx, "a"); !ok {
		t.Error("a does not exist")
	}
	if names, _ := c.ListCollections(ctx); !cmp.Equal(names, []string{"a"}) {
		t.Errorf("List = %v", names)
	}
	r, err := cs.Delete(ctx, &qc.DeleteCollection{CollectionName: "b"})
	if err != nil || r.GetResult() {
		t.Errorf("deleting a missing collection = %v, %v; want false", r, err)
	}
	if err := c.DeleteCollection(ctx, "a"); err != nil {
		t.Error(err)
	}
	if srv.Points("a") != -1 {
		t.Error("a still there")
	}
}

func TestVectorErrors(t *testing.T) {
	srv := Start(t, Config{})
	c := client(t, srv, "")
	pc := c.GetPointsClient()
	ctx := t.Context()
	named(t, c, "n")
	if err := c.CreateCollection(ctx, &qc.CreateCollection{CollectionName: "u",
		VectorsConfig: qc.NewVectorsConfig(&qc.VectorParams{Size: 2, Distance: qc.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	up := func(name string, p *qc.PointStruct) error {
		_, err := pc.Upsert(ctx, &qc.UpsertPoints{CollectionName: name, Points: []*qc.PointStruct{p}})
		return err
	}
	query := func(name string, q *qc.Query, using *string) error {
		_, err := pc.Query(ctx, &qc.QueryPoints{CollectionName: name, Query: q, Using: using})
		return err
	}
	for _, tc := range []struct {
		name string
		err  error
		code codes.Code
		msg  string
	}{
		{"unnamed into named", up("n", &qc.PointStruct{Id: qc.NewIDNum(1), Vectors: qc.NewVectors(1, 0, 0, 0)}),
			codes.InvalidArgument, "Wrong input: Not existing vector name error: "},
		{"wrong size", up("n", &qc.PointStruct{Id: qc.NewIDNum(1), Vectors: qc.NewVectorsMap(map[string]*qc.Vector{"dense": qc.NewVector(1, 2)})}),
			codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: 4, got 2"},
		{"dense as sparse", up("n", &qc.PointStruct{Id: qc.NewIDNum(1), Vectors: qc.NewVectorsMap(map[string]*qc.Vector{"lexical": qc.NewVector(1, 2)})}),
			codes.InvalidArgument, "Wrong input: Conversion between sparse and regular vectors failed"},
		{"no vectors", up("n", &qc.PointStruct{Id: qc.NewIDNum(1)}), codes.InvalidArgument, "Expected some vectors"},
		{"no id", up("n", &qc.PointStruct{Vectors: qc.NewVectorsMap(nil)}), codes.InvalidArgument, "Empty ID is not allowed"},
		{"bad uuid", up("n", &qc.PointStruct{Id: qc.NewID("nope"), Vectors: qc.NewVectorsMap(nil)}), codes.InvalidArgument, "Unable to parse UUID: nope"},
		{"sparse lengths", up("n", &qc.PointStruct{Id: qc.NewIDNum(1), Vectors: qc.NewVectorsMap(map[string]*qc.Vector{"lexical": qc.NewVectorSparse([]uint32{1, 2}, []float32{1})})}),
			codes.InvalidArgument, "Validation error in body: [points[0].vectors.vectors.lexical.values: must be the same length as indices]"},
		{"query unknown name", query("n", qc.NewQuery(1, 0, 0, 0), qc.PtrOf("x")),
			codes.InvalidArgument, "Wrong input: Vector with name `x` is not configured in this collection, available names: dense, lexical"},
		{"query without name", query("n", qc.NewQuery(1, 0, 0, 0), nil),
			codes.InvalidArgument, "Wrong input: Collection requires specified vector name in the request, available names: dense, lexical"},
		{"query unnamed collection by name", query("u", qc.NewQuery(1, 0), qc.PtrOf("x")),
			codes.InvalidArgument, "Wrong input: Vector with name x is not configured in this collection"},
		{"query sparse as dense", query("n", qc.NewQuerySparse([]uint32{1}, []float32{1}), qc.PtrOf("dense")),
			codes.InvalidArgument, "Wrong input: Conversion between sparse and regular vectors failed"},
		{"query wrong size", query("u", qc.NewQuery(1, 0, 0), nil),
			codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: 2, got 3"},
		{"query missing collection", query("m", qc.NewQuery(1, 0), nil), codes.NotFound, "Not found: Collection `m` doesn't exist!"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.err, tc.code, tc.msg) })
	}
	if srv.Points("n") != 0 {
		t.Errorf("rejected upserts stored points")
	}
	// Named vectors are optional: a point with only its sparse vector is
	// stored, and dense queries pass it by.
	upsert(t, c, "n", &qc.PointStruct{Id: qc.NewIDNum(7), Vectors: qc.NewVectorsMap(map[string]*qc.Vector{
		"lexical": qc.NewVectorSparse([]uint32{3}, []float32{1})})})
	res, err := c.Query(ctx, &qc.QueryPoints{CollectionName: "n", Query: qc.NewQuery(1, 0, 0, 0), Using: qc.PtrOf("dense")})
	if err != nil || len(res) != 0 {
		t.Errorf("dense query over a point without a dense vector = %v, %v", res, err)
	}
	// A batch with one bad point stores nothing.
	_, err = pc.Upsert(ctx, &qc.UpsertPoints{CollectionName: "u", Points: []*qc.PointStruct{
		{Id: qc.NewIDNum(1), Vectors: qc.NewVectors(1, 0)},
		{Id: qc.NewIDNum(2), Vectors: qc.NewVectors(1, 0, 0)},
	}})
	if status.Code(err) != codes.InvalidArgument || srv.Points("u") != 0 {
		t.Errorf("bad batch: %v, %d points stored", err, srv.Points("u"))
	}
}

func TestScroll(t *testing.T) {
	srv := Start(t, Config{})
	c := client(t, srv, "")
	ctx := t.Context()
	if err := c.CreateCollection(ctx, &qc.CreateCollection{CollectionName: "s",
		VectorsConfig: qc.NewVectorsConfig(&qc.VectorParams{Size: 2, Distance: qc.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 12 {
		upsert(t, c, "s", &qc.PointStruct{Id: qc.NewIDNum(uint64(100 - i)), Vectors: qc.NewVectors(1, 0),
			Payload: qc.NewValueMap(map[string]any{"i": i})})
	}
	for i := 100 - 11; i <= 100; i++ {
		want = append(want, fmt.Sprint(i))
	}
	// UUIDs come after integers, in 128-bit order; any spelling reads.
	uuids := []string{"urn:uuid:F9168C5E-CEB2-4faa-B6BF-329BF39FA1E4", "{00000000-0000-0000-0000-000000000001}", "936DA01F9ABD4d9d80C702AF85C822A8"}
	for _, u := range uuids {
		upsert(t, c, "s", &qc.PointStruct{Id: qc.NewID(u), Vectors: qc.NewVectors(1, 0)})
	}
	want = append(want, "00000000-0000-0000-0000-000000000001", "936da01f-9abd-4d9d-80c7-02af85c822a8", "f9168c5e-ceb2-4faa-b6bf-329bf39fa1e4")

	var got []string
	var offset *qc.PointId
	pages := 0
	for {
		points, next, err := c.ScrollAndOffset(ctx, &qc.ScrollPoints{CollectionName: "s", Limit: qc.PtrOf(uint32(4)), Offset: offset})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, p := range points {
			if u := p.GetId().GetUuid(); u != "" {
				got = append(got, u)
			} else {
				got = append(got, fmt.Sprint(p.GetId().GetNum()))
			}
			if p.GetPayload() == nil && p.GetId().GetUuid() == "" {
				t.Errorf("scroll returned no payload by default")
			}
			if p.GetVectors() != nil {
				t.Errorf("scroll returned vectors by default")
			}
		}
		if next == nil {
			break
		}
		offset = next
	}
	if diff := cmp.Diff(want, got); diff != "" || pages != 4 {
		t.Errorf("scroll over %d pages (-want +got):\n%s", pages, diff)
	}
	_, err := c.GetPointsClient().Scroll(ctx, &qc.ScrollPoints{CollectionName: "s", Limit: qc.PtrOf(uint32(0))})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("limit 0: %v", err)
	}
}

func TestFilters(t *testing.T) {
	srv := Start(t, Config{})
	c := client(t, srv, "")
	ctx := t.Context()
	if err := c.CreateCollection(ctx, &qc.CreateCollection{CollectionName: "f",
		VectorsConfig: qc.NewVectorsConfig(&qc.VectorParams{Size: 2, Distance: qc.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	payloads := []map[string]any{
		1: {"tags": []any{"a", "b"}, "n": 1, "ok": true, "meta": map[string]any{"lang": "zh"}, "text": "退货运费"},
		2: {"tags": []any{"b"}, "n": 5, "ok": false, "meta": map[string]any{"lang": "en"}, "text": "shipping"},
		3: {"tags": []any{}, "n": 2.5, "none": nil},
		4: {"tags": "c"},
	}
	for id := 1; id <= 4; id++ {
		upsert(t, c, "f", &qc.PointStruct{Id: qc.NewIDNum(uint64(id)), Vectors: qc.NewVectors(1, 0), Payload: qc.NewValueMap(payloads[id])})
	}
	cond := func(fc *qc.FieldCondition) *qc.Condition {
		return &qc.Condition{ConditionOneOf: &qc.Condition_Field{Field: fc}}
	}
	for _, tc := range []struct {
		name string
		f    *qc.Filter
		want []uint64
	}{
		{"keyword in array", &qc.Filter{Must: []*qc.Condition{qc.NewMatchKeyword("tags", "a")}}, []uint64{1}},
		{"any", &qc.Filter{Must: []*qc.Condition{qc.NewMatchKeywords("tags", "a", "c")}}, []uint64{1, 4}},
		{"any of none", &qc.Filter{Must: []*qc.Condition{qc.NewMatchKeywords("tags")}}, nil},
		{"except", &qc.Filter{Must: []*qc.Condition{qc.NewMatchExcept("tags", "b")}}, []uint64{3, 4}},
		{"integer", &qc.Filter{Must: []*qc.Condition{qc.NewMatchInt("n", 5)}}, []uint64{2}},
		{"bool", &qc.Filter{Must: []*qc.Condition{qc.NewMatchBool("ok", true)}}, []uint64{1}},
		{"nested key", &qc.Filter{Must: []*qc.Condition{qc.NewMatch("meta.lang", "en")}}, []uint64{2}},
		{"text", &qc.Filter{Must: []*qc.Condition{qc.NewMatchText("text", "运费")}}, []uint64{1}},
		{"range", &qc.Filter{Must: []*qc.Condition{qc.NewRange("n", &qc.Range{Gte: qc.PtrOf(2.0), Lt: qc.PtrOf(5.0)})}}, []uint64{3}},
		{"is empty", &qc.Filter{Must: []*qc.Condition{qc.NewIsEmpty("tags")}}, []uint64{3}},
		{"is null", &qc.Filter{Must: []*qc.Condition{qc.NewIsNull("none")}}, []uint64{3}},
		{"has id", &qc.Filter{Must: []*qc.Condition{qc.NewHasID(qc.NewIDNum(2), qc.NewIDNum(4))}}, []uint64{2, 4}},
		{"should", &qc.Filter{Should: []*qc.Condition{qc.NewMatchInt("n", 1), qc.NewMatchKeyword("tags", "c")}}, []uint64{1, 4}},
		{"must not", &qc.Filter{MustNot: []*qc.Condition{qc.NewMatchKeyword("tags", "b")}}, []uint64{3, 4}},
		{"min should", &qc.Filter{MinShould: &qc.MinShould{MinCount: 2, Conditions: []*qc.Condition{
			qc.NewMatchKeyword("tags", "b"), qc.NewMatchBool("ok", false), qc.NewMatchInt("n", 1)}}}, []uint64{1, 2}},
		{"sub-filter", &qc.Filter{Must: []*qc.Condition{qc.NewFilterAsCondition(&qc.Filter{
			Should: []*qc.Condition{qc.NewMatchInt("n", 1), qc.NewMatchInt("n", 5)}})}}, []uint64{1, 2}},
		{"field is_empty flag", &qc.Filter{Must: []*qc.Condition{cond(&qc.FieldCondition{Key: "tags", IsEmpty: qc.PtrOf(false)})}}, []uint64{1, 2, 4}},
		{"missing field", &qc.Filter{Must: []*qc.Condition{qc.NewMatch("nope", "x")}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Query(ctx, &qc.QueryPoints{CollectionName: "f", Filter: tc.f})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, ids(res)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			n, err := c.Count(ctx, &qc.CountPoints{CollectionName: "f", Filter: tc.f})
			if err != nil || int(n) != len(tc.want) {
				t.Errorf("Count = %d, %v; want %d", n, err, len(tc.want))
			}
		})
	}
	for _, tc := range []struct {
		name string
		c    *qc.Condition
		code codes.Code
		msg  string
	}{
		{"empty condition", &qc.Condition{}, codes.InvalidArgument, "Malformed Condition type"},
		{"empty match", cond(&qc.FieldCondition{Key: "tags", Match: &qc.Match{}}), codes.InvalidArgument, "Malformed Match condition"},
		{"no field condition", cond(&qc.FieldCondition{Key: "tags"}), codes.InvalidArgument,
			"Validation error in body: [filter.must[0].match: At least one field condition must be specified]"},
		{"geo", qc.NewGeoRadius("loc", 1, 2, 3), codes.Unimplemented, "qdranttest: geo conditions is not modelled by the double"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.GetPointsClient().Count(ctx, &qc.CountPoints{CollectionName: "f", Filter: &qc.Filter{Must: []*qc.Condition{tc.c}}})
			wantErr(t, err, tc.code, tc.msg)
		})
	}
	// Delete by filter.
	if _, err := c.Delete(ctx, &qc.DeletePoints{CollectionName: "f", Wait: qc.PtrOf(true),
		Points: qc.NewPointsSelectorFilter(&qc.Filter{Must: []*qc.Condition{qc.NewMatchKeyword("tags", "b")}})}); err != nil {
		t.Fatal(err)
	}
	if srv.Points("f") != 2 {
		t.Errorf("%d points after deleting those tagged b; want 2", srv.Points("f"))
	}
	r, err := c.Delete(ctx, &qc.DeletePoints{CollectionName: "f", Points: qc.NewPointsSelector(qc.NewIDNum(3))})
	if err != nil || r.GetStatus() != qc.UpdateStatus_Acknowledged || srv.Points("f") != 1 {
		t.Errorf("delete by id without wait = %v, %v, %d points", r, err, srv.Points("f"))
	}
}

func TestScores(t *testing.T) {
	srv := Start(t, Config{})
	c := client(t, srv, "")
	ctx := t.Context()
	named(t, c, "n")
	point := func(id uint64, dense []float32, idx []uint32, vals []float32) *qc.PointStruct {
		return &qc.PointStruct{Id: qc.NewIDNum(id), Vectors: qc.NewVectorsMap(map[string]*qc.Vector{
			"dense": qc.NewVectorDense(dense), "lexical": qc.NewVectorSparse(idx, vals)})}
	}
	upsert(t, c, "n",
		point(1, []float32{3, 4, 0, 0}, []uint32{20, 10}, []float32{2, 1}), // unsorted sparse
		point(2, []float32{0, 1, 0, 0}, []uint32{10}, []float32{1}),
		point(3, []float32{1, 0, 0, 0}, []uint32{30}, []float32{5}),
	)
	// Cosine: vectors come back normalised; the score is the cosine.
	res, err := c.Query(ctx, &qc.QueryPoints{CollectionName: "n", Query: qc.NewQuery(0, 2, 0, 0), Using: qc.PtrOf("dense"),
		WithVectors: qc.NewWithVectorsInclude("dense")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{2, 1, 3}, ids(res)); diff != "" {
		t.Errorf("dense order (-want +got):\n%s", diff)
	}
	if math.Abs(float64(res[1].GetScore())-0.8) > 1e-6 || res[2].GetScore() != 0 {
		t.Errorf("cosine scores = %v", res)
	}
	if v := res[1].GetVectors().GetVectors().GetVectors()["dense"].GetDenseVector().GetData(); !cmp.Equal(v, []float32{0.6, 0.8, 0, 0}) {
		t.Errorf("stored vector = %v; want it normalised", v)
	}
	// Sparse with IDF: N = 3; dimension 10 is in 2 points, 20 in 1.
	idf := func(df float64) float64 { return math.Log(1 + (3-df+0.5)/(df+0.5)) }
	res, err = c.Query(ctx, &qc.QueryPoints{CollectionName: "n", Query: qc.NewQuerySparse([]uint32{10, 20}, []float32{1, 1}),
		Using: qc.PtrOf("lexical"), WithVectors: qc.NewWithVectorsInclude("lexical")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{1, 2}, ids(res)); diff != "" {
		t.Fatalf("sparse order (-want +got):\n%s", diff)
	}
	want := []float64{1*idf(2) + 2*idf(1), idf(2)}
	for i, p := range res {
		if math.Abs(float64(p.GetScore())-want[i]) > 1e-5 {
			t.Errorf("score of %d = %v; want %v", p.GetId().GetNum(), p.GetScore(), want[i])
		}
	}
	if s := res[0].GetVectors().GetVectors().GetVectors()["lexical"].GetSparseVector(); !cmp.Equal(s.GetIndices(), []uint32{10, 20}) ||
		!cmp.Equal(s.GetValues(), []float32{1, 2}) {
		t.Errorf("sparse vector = %v; want it sorted by index", s)
	}
	// Limit and offset.
	res, err = c.Query(ctx, &qc.QueryPoints{CollectionName: "n", Query: qc.NewQuery(0, 2, 0, 0), Using: qc.PtrOf("dense"),
		Limit: qc.PtrOf(uint64(1)), Offset: qc.PtrOf(uint64(1))})
	if err != nil || !cmp.Equal(ids(res), []uint64{1}) || res[0].GetPayload() != nil {
		t.Errorf("limit 1 offset 1 = %v, %v (and no payload by default)", res, err)
	}
	for _, q := range []*qc.QueryPoints{
		{CollectionName: "n", Prefetch: []*qc.PrefetchQuery{{}}, Query: qc.NewQueryFusion(qc.Fusion_RRF)},
		{CollectionName: "n", Query: qc.NewQuery(0, 2, 0, 0), Using: qc.PtrOf("dense"), ScoreThreshold: qc.PtrOf(float32(0.5))},
		{CollectionName: "n", Query: qc.NewQueryFusion(qc.Fusion_RRF)},
	} {
		if _, err := c.GetPointsClient().Query(ctx, q); status.Code(err) != codes.Unimplemented {
			t.Errorf("Query(%v) = %v; want Unimplemented", q, err)
		}
	}
}

func TestPayloadIndex(t *testing.T) {
	srv := Start(t, Config{})
	c := client(t, srv, "")
	ctx := t.Context()
	named(t, c, "n")
	upsert(t, c, "n", &qc.PointStruct{Id: qc.NewIDNum(1), Vectors: qc.NewVectorsMap(nil),
		Payload: qc.NewValueMap(map[string]any{"doc_id": "a"})})
	if _, err := c.CreateFieldIndex(ctx, &qc.CreateFieldIndexCollection{CollectionName: "n", FieldName: "doc_id",
		FieldType: qc.FieldType_FieldTypeKeyword.Enum(), Wait: qc.PtrOf(true)}); err != nil {
		t.Fatal(err)
	}
	info, err := c.GetCollectionInfo(ctx, "n")
	if err != nil {
		t.Fatal(err)
	}
	ix := info.GetPayloadSchema()["doc_id"]
	if ix.GetDataType() != qc.PayloadSchemaType_Keyword || ix.GetPoints() != 1 || info.GetPointsCount() != 1 {
		t.Errorf("info = %v", info)
	}
	_, err = c.GetPointsClient().CreateFieldIndex(ctx, &qc.CreateFieldIndexCollection{CollectionName: "x", FieldName: "doc_id"})
	wantErr(t, err, codes.NotFound, "Not found: Collection `x` doesn't exist!")
}

func TestSetFail(t *testing.T) {
	srv := Start(t, Config{})
	c := client(t, srv, "")
	srv.SetFail(func(_ context.Context, method string) error {
		if method == "Collections/List" {
			return status.Error(codes.Internal, "boom")
		}
		return nil
	})
	if _, err := c.ListCollections(t.Context()); status.Code(err) != codes.Internal {
		t.Errorf("List = %v; want the injected failure", err)
	}
	if _, err := c.CollectionExists(t.Context(), "x"); err != nil {
		t.Errorf("CollectionExists = %v", err)
	}
	if calls := srv.Calls(); !cmp.Equal(calls, []string{"Collections/List", "Collections/CollectionExists"}) {
		t.Errorf("Calls = %v", calls)
	}
}
