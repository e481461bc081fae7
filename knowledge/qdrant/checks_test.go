package qdrant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/kefu-chat/kefu/knowledge"
	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The checks below run against the double (TestDouble) and, when
// QDRANT_ADDR is set, against a real Qdrant (TestLive): the same adapter
// checks, and the wire behaviours the double claims to share with Qdrant,
// so a live run is also how the double is verified.

// env is where the checks run: a Qdrant's address and key, and a raw
// client to look at or change the server behind the adapter's back.
type env struct {
	addr   string
	apiKey string
	useTLS bool
	client *qc.Client
}

func newEnv(t *testing.T, addr, key string, useTLS bool) *env {
	t.Helper()
	host, port, err := splitAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	client, err := qc.NewClient(&qc.Config{
		Host: host, Port: port, UseTLS: useTLS, SkipCompatibilityCheck: true, PoolSize: 1,
		GrpcOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(apiKey(key))},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &env{addr: addr, apiKey: key, useTLS: useTLS, client: client}
}

// collection names a fresh collection and deletes it when the test ends.
func (e *env) collection(t *testing.T) string {
	b := make([]byte, 6)
	rand.Read(b)
	name := "kefu_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		e.client.GetCollectionsClient().Delete(context.Background(), &qc.DeleteCollection{CollectionName: name})
	})
	return name
}

func (e *env) options(name string, dim int) Options {
	return Options{Addr: e.addr, APIKey: e.apiKey, UseTLS: e.useTLS, Collection: name, Dim: dim}
}

// open opens a store on a collection, closed when the test ends.
func (e *env) open(t *testing.T, name string, dim int) *Store {
	t.Helper()
	s, err := New(t.Context(), e.options(name, dim))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// noSecret fails when an error shows the API key.
func (e *env) noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && e.apiKey != "" && strings.Contains(err.Error(), e.apiKey) {
		t.Errorf("error shows the API key: %v", err)
	}
}

func (e *env) count(t *testing.T, name string) int {
	t.Helper()
	n, err := e.client.Count(t.Context(), &qc.CountPoints{CollectionName: name, Exact: qc.PtrOf(true)})
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	return int(n)
}

const testDim = 8

// unit is a distinct unit vector for each i < testDim.
func unit(i int) []float32 {
	v := make([]float32, testDim)
	v[i%testDim] = 1
	v[(i+1)%testDim] = 0.25
	n := float32(math.Sqrt(1 + 0.25*0.25))
	for k := range v {
		v[k] /= n
	}
	return v
}

func withVectors(cs []knowledge.Chunk, base int) []knowledge.Chunk {
	for i := range cs {
		cs[i].Vector = unit(base + i)
		cs[i].Sparse = knowledge.DocumentVector(cs[i].MatchText())
	}
	return cs
}

const (
	returnsID  = "faq/returns"
	shippingID = "guide/shipping"
)

func returnsDoc() []knowledge.Chunk {
	return withVectors([]knowledge.Chunk{
		{ID: returnsID + "#0", DocID: returnsID, Title: "怎么退货", Text: "七天内可以无理由退货。",
			Answer: "七天内可以无理由退货，请在订单页申请。", Questions: []string{"怎么退货", "如何退货"}, Tags: []string{"售后"}},
		{ID: returnsID + "#1", DocID: returnsID, Title: "退换货 > 运费", Text: "退货运费由买家承担，质量问题除外。",
			Tags: []string{"售后", "运费"}, Position: 1},
		{ID: returnsID + "#2", DocID: returnsID, Title: "退换货 > 流程", Text: "在订单页点击申请退货，填写原因后提交。",
			Tags: []string{"售后"}, Position: 2},
	}, 0)
}

func shippingDoc() []knowledge.Chunk {
	return withVectors([]knowledge.Chunk{
		{ID: shippingID + "#0", DocID: shippingID, Title: "发货时间", Text: "付款后 48 小时内发货。", Tags: []string{"物流"}},
		{ID: shippingID + "#1", DocID: shippingID, Title: "快递公司", Text: "默认顺丰快递，偏远地区改用邮政。",
			Tags: []string{"物流"}, Position: 1},
	}, 3)
}

// ingest stores both documents.
func ingest(t *testing.T, s *Store) {
	t.Helper()
	for doc, chunks := range map[string][]knowledge.Chunk{returnsID: returnsDoc(), shippingID: shippingDoc()} {
		if err := s.ReplaceDocument(t.Context(), doc, chunks); err != nil {
			t.Fatalf("ReplaceDocument(%s): %v", doc, err)
		}
	}
}

// bare is a chunk as a search returns it: without vectors.
func bare(c knowledge.Chunk) knowledge.Chunk {
	c.Vector, c.Sparse = nil, knowledge.SparseVector{}
	return c
}

func hitIDs(hits []knowledge.Hit) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.Chunk.ID
	}
	return ids
}

// bm25 is the score Qdrant should give each chunk sharing a term with q:
// q's weights times IDF over the corpus, dotted with the chunk's weights.
func bm25(q knowledge.SparseVector, corpus []knowledge.Chunk) map[string]float64 {
	df := map[uint32]int{}
	for _, c := range corpus {
		for _, i := range c.Sparse.Indices {
			df[i]++
		}
	}
	scores := map[string]float64{}
	for _, c := range corpus {
		shared, sum := false, 0.0
		for k, i := range c.Sparse.Indices {
			if j, ok := slices.BinarySearch(q.Indices, i); ok {
				shared = true
				sum += float64(q.Values[j]) * knowledge.IDF(df[i], len(corpus)) * float64(c.Sparse.Values[k])
			}
		}
		if shared {
			scores[c.ID] = sum
		}
	}
	return scores
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-4*math.Max(1, math.Abs(b)) }

// wantStatus fails unless err carries code and a message containing want.
func wantStatus(t *testing.T, err error, code codes.Code, want string) {
	t.Helper()
	s, _ := status.FromError(err)
	if err == nil || s.Code() != code || !strings.Contains(s.Message(), want) {
		t.Errorf("error = %v; want %s containing %q", err, code, want)
	}
}

var checks = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"layout", func(t *testing.T, e *env) {
		name := e.collection(t)
		s := e.open(t, name, testDim)
		if s.Dim() != testDim || s.Collection() != name {
			t.Errorf("Dim, Collection = %d, %q; want %d, %q", s.Dim(), s.Collection(), testDim, name)
		}
		info, err := e.client.GetCollectionInfo(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		params := info.GetConfig().GetParams()
		dense := params.GetVectorsConfig().GetParamsMap().GetMap()[denseVector]
		if dense.GetSize() != testDim || dense.GetDistance() != qc.Distance_Cosine {
			t.Errorf("dense vector = %v; want size %d, cosine", dense, testDim)
		}
		if m := params.GetSparseVectorsConfig().GetMap()[sparseVector]; m.GetModifier() != qc.Modifier_Idf {
			t.Errorf("sparse vector = %v; want modifier idf", m)
		}
		for _, key := range []string{keyDocID, keyTags} {
			if ix := info.GetPayloadSchema()[key]; ix.GetDataType() != qc.PayloadSchemaType_Keyword {
				t.Errorf("payload index %q = %v; want keyword", key, ix)
			}
		}
	}},
	{"reopen", func(t *testing.T, e *env) {
		name := e.collection(t)
		a := e.open(t, name, testDim)
		ingest(t, a)
		b := e.open(t, name, 0) // Dim 0 takes the collection's
		if b.Dim() != testDim {
			t.Errorf("Dim = %d; want %d", b.Dim(), testDim)
		}
		docs, err := b.Documents(t.Context())
		if err != nil || docs[returnsID] != 3 {
			t.Errorf("Documents after reopening = %v, %v", docs, err)
		}
	}},
	{"dimension mismatch", func(t *testing.T, e *env) {
		name := e.collection(t)
		e.open(t, name, testDim)
		_, err := New(t.Context(), e.options(name, 2*testDim))
		if !errors.Is(err, knowledge.ErrDimension) {
			t.Fatalf("New with another Dim: %v; want ErrDimension", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "8") || !strings.Contains(msg, "16") || !strings.Contains(msg, name) {
			t.Errorf("error %q does not name the collection and both sizes", msg)
		}
	}},
	{"missing collection without dim", func(t *testing.T, e *env) {
		name := e.collection(t)
		_, err := New(t.Context(), e.options(name, 0))
		if err == nil || !strings.Contains(err.Error(), "Dim") {
			t.Errorf("New without Dim on a missing collection: %v", err)
		}
	}},
	{"replace and documents", func(t *testing.T, e *env) {
		name := e.collection(t)
		s := e.open(t, name, testDim)
		ingest(t, s)
		docs, err := s.Documents(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]int{returnsID: 3, shippingID: 2}, docs); diff != "" {
			t.Errorf("Documents (-want +got):\n%s", diff)
		}
		if n := e.count(t, name); n != 5 {
			t.Errorf("points = %d; want 5", n)
		}
	}},
	{"replace drops old chunks", func(t *testing.T, e *env) {
		name := e.collection(t)
		s := e.open(t, name, testDim)
		ingest(t, s)
		newer := returnsDoc()[:1]
		newer[0].Text = "十五天内可以无理由退货。"
		if err := s.ReplaceDocument(t.Context(), returnsID, newer); err != nil {
			t.Fatal(err)
		}
		docs, _ := s.Documents(t.Context())
		if docs[returnsID] != 1 || docs[shippingID] != 2 {
			t.Errorf("Documents = %v; want returns 1, shipping 2", docs)
		}
		hits, err := s.SearchDense(t.Context(), unit(1), 5, knowledge.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if ids := hitIDs(hits); slices.Contains(ids, returnsID+"#1") || slices.Contains(ids, returnsID+"#2") || len(ids) != 3 {
			t.Errorf("search after replace = %v; want the 3 current chunks", ids)
		}
		var texts []string
		s.Scan(t.Context(), func(c knowledge.Chunk) error {
			if c.DocID == returnsID {
				texts = append(texts, c.Text)
			}
			return nil
		})
		if diff := cmp.Diff([]string{newer[0].Text}, texts); diff != "" {
			t.Errorf("returns chunks (-want +got):\n%s", diff)
		}
		if err := s.ReplaceDocument(t.Context(), returnsID, nil); err != nil {
			t.Fatal(err)
		}
		if docs, _ := s.Documents(t.Context()); docs[returnsID] != 0 {
			t.Errorf("no chunks left %d", docs[returnsID])
		}
	}},
	{"chunk without terms", func(t *testing.T, e *env) {
		s := e.open(t, e.collection(t), testDim)
		// No DocID: the chunk takes the document's. No terms: no sparse vector.
		c := knowledge.Chunk{ID: "emoji#0", Text: "🙂🙂", Vector: unit(5)}
		if err := s.ReplaceDocument(t.Context(), "emoji", []knowledge.Chunk{c}); err != nil {
			t.Fatal(err)
		}
		var got []knowledge.Chunk
		if err := s.Scan(t.Context(), func(c knowledge.Chunk) error { got = append(got, c); return nil }); err != nil {
			t.Fatal(err)
		}
		c.DocID = "emoji"
		if diff := cmp.Diff([]knowledge.Chunk{c}, got, cmpopts.EquateApprox(0, 1e-6), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("scanned (-want +got):\n%s", diff)
		}
		hits, err := s.SearchDense(t.Context(), unit(5), 1, knowledge.Filter{})
		if err != nil || len(hits) != 1 || hits[0].Chunk.DocID != "emoji" {
			t.Errorf("dense search = %v, %v", hits, err)
		}
	}},
	{"re-ingest is idempotent", func(t *testing.T, e *env) {
		name := e.collection(t)
		s := e.open(t, name, testDim)
		ingest(t, s)
		ingest(t, s)
		if n := e.count(t, name); n != 5 {
			t.Errorf("points after ingesting twice = %d; want 5", n)
		}
		points, err := e.client.Scroll(t.Context(), &qc.ScrollPoints{
			CollectionName: name, Limit: qc.PtrOf(uint32(10)), WithPayload: qc.NewWithPayloadInclude(keyChunkID),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range points {
			if id := p.GetPayload()[keyChunkID].GetStringValue(); p.GetId().GetUuid() != PointID(id) {
				t.Errorf("point of chunk %q has id %v; want %s", id, p.GetId(), PointID(id))
			}
		}
	}},
	{"delete", func(t *testing.T, e *env) {
		name := e.collection(t)
		s := e.open(t, name, testDim)
		ingest(t, s)
		n, err := s.DeleteDocument(t.Context(), returnsID)
		if err != nil || n != 3 {
			t.Errorf("DeleteDocument = %d, %v; want 3", n, err)
		}
		docs, _ := s.Documents(t.Context())
		if diff := cmp.Diff(map[string]int{shippingID: 2}, docs); diff != "" {
			t.Errorf("Documents (-want +got):\n%s", diff)
		}
		if n, err := s.DeleteDocument(t.Context(), returnsID); err != nil || n != 0 {
			t.Errorf("DeleteDocument again = %d, %v; want 0", n, err)
		}
	}},
	{"dense search", func(t *testing.T, e *env) {
		name := e.collection(t)
		s := e.open(t, name, testDim)
		ingest(t, s)
		all := append(returnsDoc(), shippingDoc()...)
		// Closest to #1, then #0; orthogonal to the rest.
		q := []float32{0.3, 1, 0, 0, 0, 0, 0, 0}
		hits, err := s.SearchDense(t.Context(), q, 2, knowledge.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{returnsID + "#1", returnsID + "#0"}, hitIDs(hits)); diff != "" {
			t.Fatalf("hits (-want +got):\n%s", diff)
		}
		for _, h := range hits {
			i := slices.IndexFunc(all, func(c knowledge.Chunk) bool { return c.ID == h.Chunk.ID })
			if want := cosine(q, all[i].Vector); !near(h.Score, want) {
				t.Errorf("score of %s = %v; want cosine %v", h.Chunk.ID, h.Score, want)
			}
			if diff := cmp.Diff(bare(all[i]), h.Chunk); diff != "" {
				t.Errorf("hit chunk (-want +got):\n%s", diff)
			}
		}
		hits, err = s.SearchDense(t.Context(), q, 10, knowledge.Filter{Tags: []string{"物流"}})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{shippingID + "#0", shippingID + "#1"}, hitIDs(hits), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("hits tagged 物流 (-want +got):\n%s", diff)
		}
		hits, err = s.SearchDense(t.Context(), q, 10, knowledge.Filter{Tags: []string{"运费", "没有"}})
		if err != nil || len(hits) != 1 || hits[0].Chunk.ID != returnsID+"#1" {
			t.Errorf("hits tagged 运费 or 没有 = %v, %v", hitIDs(hits), err)
		}
		if hits, err := s.SearchDense(t.Context(), q, 0, knowledge.Filter{}); hits != nil || err != nil {
			t.Errorf("k=0: %v, %v", hits, err)
		}
	}},
	{"sparse search", func(t *testing.T, e *env) {
		name := e.collection(t)
		s := e.open(t, name, testDim)
		ingest(t, s)
		all := append(returnsDoc(), shippingDoc()...)
		q := knowledge.QueryVector("退货运费谁出")
		want := bm25(q, all)
		hits, err := s.SearchSparse(t.Context(), q, 10, knowledge.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != len(want) {
			t.Fatalf("hits = %v; want the %d chunks sharing a term: %v", hitIDs(hits), len(want), want)
		}
		for i, h := range hits {
			if !near(h.Score, want[h.Chunk.ID]) {
				t.Errorf("score of %s = %v; want BM25 %v", h.Chunk.ID, h.Score, want[h.Chunk.ID])
			}
			if i > 0 && h.Score > hits[i-1].Score {
				t.Errorf("hits not best first: %v", hits)
			}
		}
		if hits[0].Chunk.ID != returnsID+"#1" {
			t.Errorf("best hit = %s; want the chunk on 运费", hits[0].Chunk.ID)
		}
		hits, err = s.SearchSparse(t.Context(), q, 10, knowledge.Filter{Tags: []string{"运费"}})
		if err != nil || len(hits) != 1 || hits[0].Chunk.ID != returnsID+"#1" {
			t.Errorf("hits tagged 运费 = %v, %v", hitIDs(hits), err)
		}
		hits, err = s.SearchSparse(t.Context(), knowledge.QueryVector("猫狗鱼"), 10, knowledge.Filter{})
		if err != nil || len(hits) != 0 {
			t.Errorf("query sharing no term = %v, %v; want none", hitIDs(hits), err)
		}
	}},
	{"scan and copy", func(t *testing.T, e *env) {
		src := e.open(t, e.collection(t), testDim)
		ingest(t, src)
		all := append(returnsDoc(), shippingDoc()...)
		byDoc := map[string][]knowledge.Chunk{}
		err := src.Scan(t.Context(), func(c knowledge.Chunk) error {
			i := slices.IndexFunc(all, func(w knowledge.Chunk) bool { return w.ID == c.ID })
			if i < 0 {
				t.Fatalf("scan found %q", c.ID)
			}
			if diff := cmp.Diff(all[i], c, cmpopts.EquateApprox(0, 1e-6), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("scanned chunk (-want +got):\n%s", diff)
			}
			byDoc[c.DocID] = append(byDoc[c.DocID], c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		dst := e.open(t, e.collection(t), testDim)
		for doc, cs := range byDoc {
			if err := dst.ReplaceDocument(t.Context(), doc, cs); err != nil {
				t.Fatal(err)
			}
		}
		q := knowledge.QueryVector("怎么退货")
		a, _ := src.SearchSparse(t.Context(), q, 5, knowledge.Filter{})
		b, _ := dst.SearchSparse(t.Context(), q, 5, knowledge.Filter{})
		if diff := cmp.Diff(a, b, cmpopts.EquateApprox(0, 1e-5)); diff != "" || len(a) == 0 {
			t.Errorf("copy searches differently (-src +dst):\n%s", diff)
		}
		stop := errors.New("stop")
		n := 0
		if err := src.Scan(t.Context(), func(knowledge.Chunk) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("Scan stopping: %v after %d chunks", err, n)
		}
	}},
	{"client-side checks", func(t *testing.T, e *env) {
		name := e.collection(t)
		s := e.open(t, name, testDim)
		ingest(t, s)
		bad := returnsDoc()
		bad[1].Vector = []float32{1, 2, 3}
		err := s.ReplaceDocument(t.Context(), returnsID, bad)
		if !errors.Is(err, knowledge.ErrDimension) {
			t.Errorf("ReplaceDocument with a 3-dimensional vector: %v; want ErrDimension", err)
		}
		if docs, _ := s.Documents(t.Context()); docs[returnsID] != 3 {
			t.Errorf("a rejected replace changed the document: %v", docs)
		}
		if _, err := s.SearchDense(t.Context(), []float32{1, 2, 3}, 3, knowledge.Filter{}); !errors.Is(err, knowledge.ErrDimension) {
			t.Errorf("SearchDense with 3 dimensions: %v; want ErrDimension", err)
		}
		other := shippingDoc()
		if err := s.ReplaceDocument(t.Context(), returnsID, other); err == nil {
			t.Errorf("ReplaceDocument accepted chunks of another document")
		}
		dup := returnsDoc()
		dup[1].ID = dup[0].ID
		if err := s.ReplaceDocument(t.Context(), returnsID, dup); err == nil {
			t.Errorf("ReplaceDocument accepted a chunk id twice")
		}
	}},
	{"unknown collection", func(t *testing.T, e *env) {
		name := e.collection(t)
		s := e.open(t, name, testDim)
		if err := e.client.DeleteCollection(t.Context(), name); err != nil {
			t.Fatal(err)
		}
		_, err := s.SearchDense(t.Context(), unit(0), 3, knowledge.Filter{})
		var qe *Error
		if !errors.As(err, &qe) || qe.Op != "search" || qe.Collection != name || qe.Code != codes.NotFound {
			t.Fatalf("search of a deleted collection: %#v", err)
		}
		wantStatus(t, err, codes.NotFound, "Not found: Collection `"+name+"` doesn't exist!")
		if want := fmt.Sprintf("qdrant: search %q: NotFound: Not found: Collection `%s` doesn't exist!", name, name); err.Error() != want {
			t.Errorf("error = %q; want %q", err, want)
		}
		var gs interface{ GRPCStatus() *status.Status }
		if !errors.As(err, &gs) || gs.GRPCStatus().Code() != codes.NotFound {
			t.Errorf("errors.As to a gRPC status: %v", err)
		}
		e.noSecret(t, err)
		for what, err := range map[string]error{
			"ReplaceDocument": s.ReplaceDocument(t.Context(), returnsID, returnsDoc()),
			"Documents":       func() error { _, err := s.Documents(t.Context()); return err }(),
			"DeleteDocument":  func() error { _, err := s.DeleteDocument(t.Context(), returnsID); return err }(),
			"SearchSparse": func() error {
				_, err := s.SearchSparse(t.Context(), knowledge.QueryVector("退货"), 3, knowledge.Filter{})
				return err
			}(),
		} {
			if status.Code(err) != codes.NotFound {
				t.Errorf("%s on a deleted collection: %v; want NotFound", what, err)
			}
			e.noSecret(t, err)
		}
	}},
	{"closed", func(t *testing.T, e *env) {
		s := e.open(t, e.collection(t), testDim)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		_, err1 := s.SearchDense(t.Context(), unit(0), 1, knowledge.Filter{})
		_, err2 := s.SearchSparse(t.Context(), knowledge.QueryVector("退货"), 1, knowledge.Filter{})
		_, err3 := s.Documents(t.Context())
		_, err4 := s.DeleteDocument(t.Context(), returnsID)
		err5 := s.ReplaceDocument(t.Context(), returnsID, nil)
		err6 := s.Scan(t.Context(), func(knowledge.Chunk) error { return nil })
		for i, err := range []error{err1, err2, err3, err4, err5, err6} {
			if !errors.Is(err, knowledge.ErrClosed) {
				t.Errorf("call %d after Close: %v; want ErrClosed", i+1, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}},
	// The wire behaviours the double models, checked with the raw client.
	{"server rejects", func(t *testing.T, e *env) {
		name := e.collection(t)
		e.open(t, name, testDim)
		pts := e.client.GetPointsClient()
		id := qc.NewID(PointID("x#0"))
		upsert := func(v *qc.Vectors) error {
			_, err := pts.Upsert(t.Context(), &qc.UpsertPoints{CollectionName: name, Wait: qc.PtrOf(true),
				Points: []*qc.PointStruct{{Id: id, Vectors: v}}})
			e.noSecret(t, err)
			return err
		}
		err := upsert(qc.NewVectorsMap(map[string]*qc.Vector{denseVector: qc.NewVectorDense([]float32{1, 2, 3})}))
		wantStatus(t, err, codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: 8, got 3")
		err = upsert(qc.NewVectorsMap(map[string]*qc.Vector{"dense2": qc.NewVectorDense(unit(0))}))
		wantStatus(t, err, codes.InvalidArgument, "dense2")
		err = upsert(qc.NewVectorsMap(map[string]*qc.Vector{sparseVector: qc.NewVectorDense(unit(0))}))
		wantStatus(t, err, codes.InvalidArgument, "")
		_, err = pts.Upsert(t.Context(), &qc.UpsertPoints{CollectionName: name, Points: []*qc.PointStruct{{Id: id}}})
		wantStatus(t, err, codes.InvalidArgument, "Expected some vectors")
		if n := e.count(t, name); n != 0 {
			t.Errorf("rejected upserts stored %d points", n)
		}

		query := func(q *qc.QueryPoints) error {
			q.CollectionName = name
			_, err := pts.Query(t.Context(), q)
			e.noSecret(t, err)
			return err
		}
		err = query(&qc.QueryPoints{Query: qc.NewQueryDense(unit(0)), Using: qc.PtrOf("dense2")})
		wantStatus(t, err, codes.InvalidArgument, "dense2")
		err = query(&qc.QueryPoints{Query: qc.NewQueryDense([]float32{1, 2, 3}), Using: qc.PtrOf(denseVector)})
		wantStatus(t, err, codes.InvalidArgument, "Vector dimension error: expected dim: 8, got 3")
		err = query(&qc.QueryPoints{Query: qc.NewQueryDense(unit(0)), Using: qc.PtrOf(denseVector),
			Filter: &qc.Filter{Must: []*qc.Condition{{}}}})
		wantStatus(t, err, codes.InvalidArgument, "Malformed Condition type")
		err = query(&qc.QueryPoints{Query: qc.NewQueryDense(unit(0)), Using: qc.PtrOf(denseVector),
			Filter: &qc.Filter{Must: []*qc.Condition{{ConditionOneOf: &qc.Condition_Field{Field: &qc.FieldCondition{Key: keyTags}}}}}})
		wantStatus(t, err, codes.InvalidArgument, "At least one field condition must be specified")
		// A condition on a field no point has is no error: it matches nothing.
		resp, err := pts.Query(t.Context(), &qc.QueryPoints{CollectionName: name, Query: qc.NewQueryDense(unit(0)),
			Using: qc.PtrOf(denseVector), Filter: &qc.Filter{Must: []*qc.Condition{qc.NewMatchKeyword("no_such_field", "x")}}})
		if err != nil || len(resp.GetResult()) != 0 {
			t.Errorf("filter on a missing field = %v, %v; want no hits, no error", resp, err)
		}

		_, err = e.client.GetCollectionsClient().Create(t.Context(), &qc.CreateCollection{CollectionName: name,
			VectorsConfig: qc.NewVectorsConfig(&qc.VectorParams{Size: 4, Distance: qc.Distance_Cosine})})
		wantStatus(t, err, codes.AlreadyExists, "Wrong input: Collection `"+name+"` already exists!")
		missing := name + "_missing"
		_, err = e.client.GetCollectionsClient().Get(t.Context(), &qc.GetCollectionInfoRequest{CollectionName: missing})
		wantStatus(t, err, codes.NotFound, "Not found: Collection `"+missing+"` doesn't exist!")
		_, err = pts.Upsert(t.Context(), &qc.UpsertPoints{CollectionName: missing, Points: []*qc.PointStruct{
			{Id: id, Vectors: qc.NewVectorsMap(map[string]*qc.Vector{denseVector: qc.NewVectorDense(unit(0))})}}})
		wantStatus(t, err, codes.NotFound, "Not found: Collection `"+missing+"` doesn't exist!")
	}},
}

func runChecks(t *testing.T, e *env) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(t, e) })
	}
}
