package qdrant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kefu-chat/kefu/knowledge"
	"github.com/kefu-chat/kefu/knowledge/qdrant/qdranttest"
	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const testKey = "kefu-test-key-7c1f9e"

// TestDouble runs the shared checks against the Qdrant double, with an
// API key so that every request must carry it.
func TestDouble(t *testing.T) {
	srv := qdranttest.Start(t, qdranttest.Config{APIKey: testKey})
	runChecks(t, newEnv(t, srv.Addr(), testKey, false))
}

func TestAPIKey(t *testing.T) {
	srv := qdranttest.Start(t, qdranttest.Config{APIKey: testKey})
	opts := Options{Addr: srv.Addr(), Collection: "kefu", Dim: testDim}

	s, err := New(t.Context(), withKey(opts, testKey))
	if err != nil {
		t.Fatalf("New with the key: %v", err)
	}
	defer s.Close()
	if err := s.ReplaceDocument(t.Context(), returnsID, returnsDoc()); err != nil {
		t.Fatalf("ReplaceDocument with the key: %v", err)
	}

	for _, key := range []string{"", "wrong-" + testKey} {
		_, err := New(t.Context(), withKey(opts, key))
		var qe *Error
		if !errors.As(err, &qe) || qe.Code != codes.Unauthenticated {
			t.Errorf("New with key %q: %v; want Unauthenticated", key, err)
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("error shows a key: %v", err)
		}
	}
}

func withKey(o Options, key string) Options {
	o.APIKey = key
	return o
}

// TestAPIKeyMetadata checks the key travels as the "api-key" metadata
// Qdrant reads, on every request.
func TestAPIKeyMetadata(t *testing.T) {
	srv := qdranttest.Start(t, qdranttest.Config{})
	var keys []string
	srv.SetFail(func(ctx context.Context, method string) error {
		md, _ := metadata.FromIncomingContext(ctx)
		keys = append(keys, strings.Join(md.Get("api-key"), ","))
		return nil
	})
	s, err := New(t.Context(), Options{Addr: srv.Addr(), APIKey: testKey, Dim: testDim})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Documents(t.Context())
	if len(keys) == 0 || slices.ContainsFunc(keys, func(k string) bool { return k != testKey }) {
		t.Errorf("api-key metadata per request = %q; want %q on each", keys, testKey)
	}
}

func TestOptionsHideKey(t *testing.T) {
	o := Options{Addr: "qdrant:6334", APIKey: testKey, Dim: 384}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("opening", "opts", o)
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), logged.String()} {
		if strings.Contains(s, testKey) {
			t.Errorf("options printed with the key: %s", s)
		}
	}
}

// TestReplaceOrder checks ReplaceDocument deletes before it upserts, so a
// failed upsert leaves the document missing, and a second run repairs it.
func TestReplaceOrder(t *testing.T) {
	srv := qdranttest.Start(t, qdranttest.Config{})
	s, err := New(t.Context(), Options{Addr: srv.Addr(), Dim: testDim})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ingest(t, s)

	before := len(srv.Calls())
	if err := s.ReplaceDocument(t.Context(), returnsID, returnsDoc()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Points/Delete", "Points/Upsert"}, srv.Calls()[before:]); diff != "" {
		t.Errorf("requests of ReplaceDocument (-want +got):\n%s", diff)
	}

	srv.SetFail(func(_ context.Context, method string) error {
		if method == "Points/Upsert" {
			return status.Error(codes.Unavailable, "connection reset")
		}
		return nil
	})
	changed := returnsDoc()
	changed[0].Text = "改过的"
	err = s.ReplaceDocument(t.Context(), returnsID, changed)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("ReplaceDocument with upserts failing: %v", err)
	}
	docs, _ := s.Documents(t.Context())
	if diff := cmp.Diff(map[string]int{shippingID: 2}, docs); diff != "" {
		t.Errorf("after a failed upsert (-want +got):\n%s", diff)
	}
	srv.SetFail(nil)
	if err := s.ReplaceDocument(t.Context(), returnsID, changed); err != nil {
		t.Fatal(err)
	}
	docs, _ = s.Documents(t.Context())
	if diff := cmp.Diff(map[string]int{returnsID: 3, shippingID: 2}, docs); diff != "" {
		t.Errorf("after re-running (-want +got):\n%s", diff)
	}
}

// TestBatches checks a large document goes in several upserts.
func TestBatches(t *testing.T) {
	srv := qdranttest.Start(t, qdranttest.Config{})
	s, err := New(t.Context(), Options{Addr: srv.Addr(), Dim: testDim})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var chunks []knowledge.Chunk
	for i := range 2*upsertBatch + 5 {
		chunks = append(chunks, knowledge.Chunk{ID: fmt.Sprintf("big#%d", i), Text: fmt.Sprint("第", i, "段"),
			Position: i, Vector: unit(i)})
	}
	before := len(srv.Calls())
	if err := s.ReplaceDocument(t.Context(), "big", chunks); err != nil {
		t.Fatal(err)
	}
	upserts := 0
	for _, c := range srv.Calls()[before:] {
		if c == "Points/Upsert" {
			upserts++
		}
	}
	if upserts != 3 {
		t.Errorf("upserts = %d; want 3", upserts)
	}
	docs, err := s.Documents(t.Context())
	if err != nil || docs["big"] != len(chunks) {
		t.Errorf("Documents = %v, %v; want big: %d (over several scroll pages)", docs, err, len(chunks))
	}
	n := 0
	s.Scan(t.Context(), func(knowledge.Chunk) error { n++; return nil })
	if n != len(chunks) {
		t.Errorf("Scan visited %d chunks; want %d", n, len(chunks))
	}
}

func TestRateLimited(t *testing.T) {
	srv := qdranttest.Start(t, qdranttest.Config{})
	s, err := New(t.Context(), Options{Addr: srv.Addr(), Dim: testDim})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv.SetFail(func(ctx context.Context, method string) error {
		grpc.SetTrailer(ctx, metadata.Pairs("retry-after", "3"))
		return status.Error(codes.ResourceExhausted, "Rate limiting exceeded: Read rate limit exceeded")
	})
	_, err = s.SearchDense(t.Context(), unit(0), 1, knowledge.Filter{})
	var qe *Error
	if !errors.As(err, &qe) || qe.Code != codes.ResourceExhausted || qe.RetryAfter != 3*time.Second ||
		status.Code(err) != codes.ResourceExhausted {
		t.Errorf("rate-limited search: %#v", err)
	}
}

func TestUnreachable(t *testing.T) {
	srv := qdranttest.Start(t, qdranttest.Config{})
	addr := srv.Addr()
	srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := New(ctx, Options{Addr: addr, APIKey: testKey, Dim: testDim})
	if status.Code(err) != codes.Unavailable || strings.Contains(err.Error(), testKey) {
		t.Errorf("New on a closed port: %v; want Unavailable without the key", err)
	}
}

func TestPointID(t *testing.T) {
	id := PointID("faq/returns#0")
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Errorf("PointID = %q; want a version 5 UUID", id)
	}
	// The ids of stored points: changing them orphans every collection.
	// (Python: uuid.uuid5(uuid.UUID("6b656675-2d63-6875-6e6b-2d6964732e31"), "faq/returns#0").)
	if want := "2f2563c0-b611-5b9e-89b5-e70fd188adf3"; id != want {
		t.Errorf("PointID(faq/returns#0) = %s; want %s", id, want)
	}
	if PointID("faq/returns#1") == id {
		t.Error("two chunks share a point id")
	}
}

func TestSplitAddr(t *testing.T) {
	for _, tc := range []struct {
		in      string
		host    string
		port    int
		wantErr bool
	}{
		{"127.0.0.1:6334", "127.0.0.1", 6334, false},
		{"qdrant", "qdrant", 6334, false},
		{"qdrant:7000", "qdrant", 7000, false},
		{":6334", "127.0.0.1", 6334, false},
		{"[::1]:6334", "::1", 6334, false},
		{"::1", "::1", 6334, false},
		{"qdrant:port", "", 0, true},
		{"http://qdrant:6334", "", 0, true},
	} {
		host, port, err := splitAddr(tc.in)
		if host != tc.host || port != tc.port || (err != nil) != tc.wantErr {
			t.Errorf("splitAddr(%q) = %q, %d, %v", tc.in, host, port, err)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	srv := qdranttest.Start(t, qdranttest.Config{})
	for _, o := range []Options{
		{Addr: srv.Addr(), Dim: -1},
		{Addr: srv.Addr(), Dim: testDim, Distance: "euclid"},
		{Addr: "qdrant:port", Dim: testDim},
	} {
		if _, err := New(t.Context(), o); err == nil {
			t.Errorf("New(%v) succeeded", o)
		}
	}
	// A collection made with another distance is refused.
	if _, err := New(t.Context(), Options{Addr: srv.Addr(), Collection: "dot", Dim: testDim, Distance: "dot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(t.Context(), Options{Addr: srv.Addr(), Collection: "dot", Dim: testDim}); err == nil ||
		!strings.Contains(err.Error(), "Dot") {
		t.Errorf("cosine store on a dot collection: %v", err)
	}
	// So is a collection not made by kefu.
	client, err := qc.NewClient(&qc.Config{Host: "127.0.0.1", Port: port(t, srv.Addr()), SkipCompatibilityCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.CreateCollection(t.Context(), &qc.CreateCollection{CollectionName: "other",
		VectorsConfig: qc.NewVectorsConfig(&qc.VectorParams{Size: testDim, Distance: qc.Distance_Cosine})})
	if _, err := NewFromClient(t.Context(), client, Options{Collection: "other", Dim: testDim}); err == nil ||
		!strings.Contains(err.Error(), "not made by kefu") {
		t.Errorf("store on a foreign collection: %v", err)
	}
	if _, err := NewFromClient(t.Context(), nil, Options{}); err == nil {
		t.Error("NewFromClient(nil) succeeded")
	}
}

func port(t *testing.T, addr string) int {
	_, p, err := splitAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNewFromClient checks the store leaves a caller's client open.
func TestNewFromClient(t *testing.T) {
	srv := qdranttest.Start(t, qdranttest.Config{})
	client, err := qc.NewClient(&qc.Config{Host: "127.0.0.1", Port: port(t, srv.Addr()), SkipCompatibilityCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	s, err := NewFromClient(t.Context(), client, Options{Dim: testDim})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if ok, err := client.CollectionExists(t.Context(), DefaultCollection); err != nil || !ok {
		t.Errorf("client after the store's Close: %v, %v", ok, err)
	}
}

// TestConcurrent runs searches while documents are replaced (go test
// -race).
func TestConcurrent(t *testing.T) {
	srv := qdranttest.Start(t, qdranttest.Config{})
	s, err := New(t.Context(), Options{Addr: srv.Addr(), Dim: testDim})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ingest(t, s)
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			var err error
			for range 20 {
				if i%2 == 0 {
					err = errors.Join(err, s.ReplaceDocument(t.Context(), returnsID, returnsDoc()))
				} else {
					_, e := s.SearchSparse(t.Context(), knowledge.QueryVector("退货"), 3, knowledge.Filter{})
					err = errors.Join(err, e)
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
