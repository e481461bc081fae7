package qdrant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kefu-chat/kefu/knowledge"
	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Defaults of Options.
const (
	DefaultAddr       = "127.0.0.1:6334"
	DefaultCollection = "kefu"
	DefaultTimeout    = 10 * time.Second
)

// Options configure a Store. Dim is required when the collection does not
// exist yet.
type Options struct {
	// Addr is the host:port of Qdrant's gRPC API (default
	// "127.0.0.1:6334"; a host alone gets port 6334). New only.
	Addr string
	// APIKey is sent as the "api-key" metadata of every request. It is
	// never logged and never part of an error. New only.
	APIKey string
	// UseTLS dials with TLS (1.3, system roots). New only.
	UseTLS bool
	// Collection is the collection kefu owns (default "kefu").
	Collection string
	// Dim is the size of the dense vectors (the embedder's Dim). It is
	// required to create the collection; 0 accepts an existing collection's
	// size, anything else must match it.
	Dim int
	// Distance is the dense similarity: "cosine" (default) or "dot". It is
	// used to create the collection and checked against an existing one.
	Distance string
	// Timeout bounds each request to Qdrant (default 10s; negative: none).
	Timeout time.Duration
	// Logger receives the collection's creation and warnings (default:
	// discard).
	Logger *slog.Logger
}

// String shows the options with the API key redacted, so that printing
// them (%v, %+v) cannot leak it.
func (o Options) String() string {
	key := ""
	if o.APIKey != "" {
		key = "[redacted]"
	}
	return fmt.Sprintf("{Addr:%s APIKey:%s UseTLS:%t Collection:%s Dim:%d Distance:%s Timeout:%s}",
		o.Addr, key, o.UseTLS, o.Collection, o.Dim, o.Distance, o.Timeout)
}

// GoString is String, for %#v.
func (o Options) GoString() string { return "qdrant.Options" + o.String() }

// LogValue logs the options with the API key redacted.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", o.Addr),
		slog.Bool("api_key", o.APIKey != ""),
		slog.Bool("tls", o.UseTLS),
		slog.String("collection", o.Collection),
		slog.Int("dim", o.Dim),
	)
}

// Store is a knowledge.Store and knowledge.Scanner kept in one Qdrant
// collection. It is safe for concurrent use; every method but Dim and
// Close is a request to Qdrant and fails with knowledge.ErrClosed after
// Close.
type Store struct {
	client     *qc.Client
	owned      bool // client was made by New, so Close closes it
	collection string
	dim        int
	timeout    time.Duration
	log        *slog.Logger
	closed     atomic.Bool
}

var (
	_ knowledge.Store   = (*Store)(nil)
	_ knowledge.Scanner = (*Store)(nil)
)

// New connects to the Qdrant at opts.Addr and makes sure opts.Collection
// exists with kefu's layout, creating it when it is missing. ctx bounds
// that setup only. An existing collection whose dense size is not
// opts.Dim is an error wrapping knowledge.ErrDimension.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	host, port, err := splitAddr(opts.Addr)
	if err != nil {
		return nil, err
	}
	log := logger(opts)
	if opts.APIKey != "" && !opts.UseTLS && !isLoopback(host) {
		log.Warn("qdrant: the API key is sent over a connection without TLS; set UseTLS", "addr", opts.Addr)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // the client joins host and port with a colon
	}
	client, err := qc.NewClient(&qc.Config{
		Host:   host,
		Port:   port,
		UseTLS: opts.UseTLS,
		// The client's compatibility check asks for the server's version
		// while connecting and logs to slog.Default; kefu's first request
		// (the collection's description) checks the server well enough.
		SkipCompatibilityCheck: true,
		// The key goes in by kefu's interceptor rather than the client's
		// so that the client does not warn on slog.Default.
		GrpcOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(apiKey(opts.APIKey))},
	})
	if err != nil {
		return nil, fmt.Errorf("qdrant: connect %s: %w", opts.Addr, err)
	}
	s, err := NewFromClient(ctx, client, opts)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// NewFromClient is New with a client the caller made (in tests, one dialled
// to a double); opts.Addr, APIKey and UseTLS are ignored. The caller keeps
// the client: Close does not close it.
func NewFromClient(ctx context.Context, client *qc.Client, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("qdrant: nil client")
	}
	if opts.Collection == "" {
		opts.Collection = DefaultCollection
	}
	if opts.Dim < 0 {
		return nil, fmt.Errorf("qdrant: Dim %d is negative", opts.Dim)
	}
	dist, err := distance(opts.Distance)
	if err != nil {
		return nil, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	s := &Store{
		client:     client,
		collection: opts.Collection,
		timeout:    opts.Timeout,
		log:        logger(opts).With("store", "qdrant", "collection", opts.Collection),
	}
	if err := s.ensureCollection(ctx, opts.Dim, dist); err != nil {
		return nil, err
	}
	return s, nil
}

func logger(opts Options) *slog.Logger {
	if opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return opts.Logger
}

func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		// A host alone, or an IPv6 address without brackets or port.
		if strings.Count(addr, ":") == 1 || strings.ContainsAny(addr, "/[]") {
			return "", 0, fmt.Errorf("qdrant: Addr %q is not host:port", addr)
		}
		return addr, 6334, nil
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("qdrant: Addr %q has a bad port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func distance(name string) (qc.Distance, error) {
	switch strings.ToLower(name) {
	case "", "cosine":
		return qc.Distance_Cosine, nil
	case "dot":
		return qc.Distance_Dot, nil
	}
	return 0, fmt.Errorf("qdrant: Distance %q is not cosine or dot", name)
}

// apiKey adds the "api-key" metadata Qdrant authenticates by.
func apiKey(key string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if key != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "api-key", key)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// ensureCollection creates the collection when it is missing, then checks
// its layout and payload indexes.
func (s *Store) ensureCollection(ctx context.Context, dim int, dist qc.Distance) error {
	info, err := s.info(ctx)
	if err != nil {
		return err
	}
	if info == nil {
		if dim == 0 {
			return fmt.Errorf("qdrant: collection %q does not exist, and it cannot be created without Options.Dim", s.collection)
		}
		if err := s.create(ctx, dim, dist); err != nil {
			return err
		}
		if info, err = s.info(ctx); err != nil {
			return err
		}
		if info == nil {
			return fmt.Errorf("qdrant: collection %q is missing right after its creation", s.collection)
		}
	}
	params := info.GetConfig().GetParams()
	dense := params.GetVectorsConfig().GetParamsMap().GetMap()[denseVector]
	if dense == nil {
		return fmt.Errorf("qdrant: collection %q has no dense vector named %q: it was not made by kefu", s.collection, denseVector)
	}
	size := int(dense.GetSize())
	if dim != 0 && size != dim {
		return fmt.Errorf("qdrant: collection %q holds %d-dimensional vectors, but Dim is %d (another embedder?): %w",
			s.collection, size, dim, knowledge.ErrDimension)
	}
	if dense.GetDistance() != dist {
		return fmt.Errorf("qdrant: collection %q uses %s distance, not %s", s.collection, dense.GetDistance(), dist)
	}
	sparse := params.GetSparseVectorsConfig().GetMap()[sparseVector]
	if sparse == nil {
		return fmt.Errorf("qdrant: collection %q has no sparse vector named %q: it was not made by kefu", s.collection, sparseVector)
	}
	if sparse.GetModifier() != qc.Modifier_Idf {
		return fmt.Errorf("qdrant: collection %q has sparse vector %q without the idf modifier", s.collection, sparseVector)
	}
	s.dim = size
	for _, key := range []string{keyDocID, keyTags} {
		if ix := info.GetPayloadSchema()[key]; ix != nil {
			if ix.GetDataType() != qc.PayloadSchemaType_Keyword {
				return fmt.Errorf("qdrant: collection %q indexes %q as %s, not keyword", s.collection, key, ix.GetDataType())
			}
			continue
		}
		if err := s.index(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

// info is the collection's description, nil when it does not exist.
func (s *Store) info(ctx context.Context) (*qc.CollectionInfo, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.client.GetCollectionsClient().Get(ctx, &qc.GetCollectionInfoRequest{CollectionName: s.collection})
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("get collection", s.collection, err)
	}
	return resp.GetResult(), nil
}

func (s *Store) create(ctx context.Context, dim int, dist qc.Distance) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.client.GetCollectionsClient().Create(ctx, &qc.CreateCollection{
		CollectionName: s.collection,
		VectorsConfig: qc.NewVectorsConfigMap(map[string]*qc.VectorParams{
			denseVector: {Size: uint64(dim), Distance: dist},
		}),
		SparseVectorsConfig: qc.NewSparseVectorsConfig(map[string]*qc.SparseVectorParams{
			sparseVector: {Modifier: qc.Modifier_Idf.Enum()},
		}),
	})
	switch {
	case status.Code(err) == codes.AlreadyExists,
		// Before Qdrant 1.8 the same error was InvalidArgument.
		status.Code(err) == codes.InvalidArgument && strings.Contains(err.Error(), "already exists"):
		// Another kefu made it meanwhile; its layout is checked next.
		return nil
	case err != nil:
		return wrap("create collection", s.collection, err)
	}
	s.log.Info("qdrant: created collection", "dim", dim, "distance", dist.String())
	return nil
}

func (s *Store) index(ctx context.Context, key string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.client.GetPointsClient().CreateFieldIndex(ctx, &qc.CreateFieldIndexCollection{
		CollectionName: s.collection,
		Wait:           qc.PtrOf(true),
		FieldName:      key,
		FieldType:      qc.FieldType_FieldTypeKeyword.Enum(),
	})
	if err != nil {
		return wrap("create index "+strconv.Quote(key)+" in", s.collection, err)
	}
	s.log.Debug("qdrant: created payload index", "field", key)
	return nil
}

func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout > 0 {
		return context.WithTimeout(ctx, s.timeout)
	}
	return context.WithCancel(ctx)
}

// Dim is the collection's dense vector size.
func (s *Store) Dim() int { return s.dim }

// Collection is the name of the collection the store keeps.
func (s *Store) Collection() string { return s.collection }

// upsertBatch is the number of points per upsert request: a few MB with
// 1024-dimensional vectors, well under gRPC's message limits.
const upsertBatch = 128

// ReplaceDocument replaces every chunk of docID with chunks; no chunks
// deletes the document. A chunk's DocID must be docID or empty, its Vector
// must have Dim floats (else an error wrapping knowledge.ErrDimension,
// before any request).
//
// Qdrant has no transaction across requests, so this is two: a delete by
// filter (doc_id == docID), then upserts of the new points, each waiting
// until Qdrant has applied it. The order makes a failure between them
// leave the document missing (or partly stored, when an upsert batch
// fails), never duplicated nor mixed with stale chunks; ingesting the
// document again repairs it, since point ids follow from chunk ids.
// Searches running meanwhile may briefly miss the document.
func (s *Store) ReplaceDocument(ctx context.Context, docID string, chunks []knowledge.Chunk) error {
	if s.closed.Load() {
		return knowledge.ErrClosed
	}
	if docID == "" {
		return errors.New("qdrant: replace: empty document id")
	}
	points := make([]*qc.PointStruct, 0, len(chunks))
	seen := make(map[string]bool, len(chunks))
	for i := range chunks {
		c := chunks[i]
		switch {
		case c.DocID == "":
			c.DocID = docID
		case c.DocID != docID:
			return fmt.Errorf("qdrant: replace %q: chunk %q belongs to document %q", docID, c.ID, c.DocID)
		}
		if c.ID == "" {
			return fmt.Errorf("qdrant: replace %q: chunk %d has no id", docID, i)
		}
		if seen[c.ID] {
			return fmt.Errorf("qdrant: replace %q: chunk id %q appears twice", docID, c.ID)
		}
		seen[c.ID] = true
		if len(c.Vector) != s.dim {
			return fmt.Errorf("qdrant: replace %q: chunk %q has a %d-dimensional vector, collection %q holds %d: %w",
				docID, c.ID, len(c.Vector), s.collection, s.dim, knowledge.ErrDimension)
		}
		if len(c.Sparse.Indices) != len(c.Sparse.Values) {
			return fmt.Errorf("qdrant: replace %q: chunk %q has %d sparse indices but %d values",
				docID, c.ID, len(c.Sparse.Indices), len(c.Sparse.Values))
		}
		points = append(points, point(&c))
	}
	if err := s.deleteDoc(ctx, docID); err != nil {
		return err
	}
	for len(points) > 0 {
		n := min(len(points), upsertBatch)
		if err := s.upsert(ctx, points[:n]); err != nil {
			return err
		}
		points = points[n:]
	}
	return nil
}

func docFilter(docID string) *qc.Filter {
	return &qc.Filter{Must: []*qc.Condition{qc.NewMatchKeyword(keyDocID, docID)}}
}

func (s *Store) deleteDoc(ctx context.Context, docID string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.client.GetPointsClient().Delete(ctx, &qc.DeletePoints{
		CollectionName: s.collection,
		Wait:           qc.PtrOf(true),
		Points:         qc.NewPointsSelectorFilter(docFilter(docID)),
	})
	return wrap("delete", s.collection, err)
}

func (s *Store) upsert(ctx context.Context, points []*qc.PointStruct) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	_, err := s.client.GetPointsClient().Upsert(ctx, &qc.UpsertPoints{
		CollectionName: s.collection,
		Wait:           qc.PtrOf(true),
		Points:         points,
	})
	return wrap("upsert", s.collection, err)
}

// DeleteDocument removes a document's chunks and reports how many there
// were: a count, then a delete by filter. A concurrent ReplaceDocument of
// the same document can make the count stale.
func (s *Store) DeleteDocument(ctx context.Context, docID string) (int, error) {
	if s.closed.Load() {
		return 0, knowledge.ErrClosed
	}
	n, err := s.count(ctx, docFilter(docID))
	if err != nil || n == 0 {
		return 0, err
	}
	if err := s.deleteDoc(ctx, docID); err != nil {
		return 0, err
	}
	return n, nil
}

func (s *Store) count(ctx context.Context, f *qc.Filter) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.client.GetPointsClient().Count(ctx, &qc.CountPoints{
		CollectionName: s.collection,
		Filter:         f,
		Exact:          qc.PtrOf(true),
	})
	if err != nil {
		return 0, wrap("count", s.collection, err)
	}
	return int(resp.GetResult().GetCount()), nil
}

// scrollPage is the number of points per scroll request.
const scrollPage = 256

// scroll visits every point of the collection, page by page, in id order.
func (s *Store) scroll(ctx context.Context, req *qc.ScrollPoints, fn func(*qc.RetrievedPoint) error) error {
	req.CollectionName = s.collection
	req.Limit = qc.PtrOf(uint32(scrollPage))
	for {
		if s.closed.Load() {
			return knowledge.ErrClosed
		}
		rctx, cancel := s.ctx(ctx)
		resp, err := s.client.GetPointsClient().Scroll(rctx, req)
		cancel()
		if err != nil {
			return wrap("scroll", s.collection, err)
		}
		for _, p := range resp.GetResult() {
			if err := fn(p); err != nil {
				return err
			}
		}
		next := resp.GetNextPageOffset()
		if next == nil {
			return nil
		}
		req.Offset = next
	}
}

// Documents lists the stored documents with their chunk counts, reading
// every point's doc_id.
func (s *Store) Documents(ctx context.Context) (map[string]int, error) {
	if s.closed.Load() {
		return nil, knowledge.ErrClosed
	}
	docs := map[string]int{}
	err := s.scroll(ctx, &qc.ScrollPoints{
		WithPayload: qc.NewWithPayloadInclude(keyDocID),
		WithVectors: qc.NewWithVectors(false),
	}, func(p *qc.RetrievedPoint) error {
		docs[p.GetPayload()[keyDocID].GetStringValue()]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	return docs, nil
}

// Scan calls fn with every chunk, its vectors included, in point id
// order, stopping at fn's first error, which it returns. Qdrant keeps
// cosine vectors normalised, so Vector comes back with length 1.
func (s *Store) Scan(ctx context.Context, fn func(knowledge.Chunk) error) error {
	if s.closed.Load() {
		return knowledge.ErrClosed
	}
	return s.scroll(ctx, &qc.ScrollPoints{
		WithPayload: qc.NewWithPayload(true),
		WithVectors: qc.NewWithVectorsInclude(denseVector, sparseVector),
	}, func(p *qc.RetrievedPoint) error {
		c, err := chunkOf(p.GetId(), p.GetPayload(), p.GetVectors())
		if err != nil {
			return fmt.Errorf("qdrant: scan %q: %w", s.collection, err)
		}
		return fn(c)
	})
}

// SearchDense returns up to k chunks by cosine similarity to vec (of Dim
// floats; else an error wrapping knowledge.ErrDimension), best first.
func (s *Store) SearchDense(ctx context.Context, vec []float32, k int, f knowledge.Filter) ([]knowledge.Hit, error) {
	if s.closed.Load() {
		return nil, knowledge.ErrClosed
	}
	if len(vec) != s.dim {
		return nil, fmt.Errorf("qdrant: search %q: the query vector has %d dimensions, the collection %d: %w",
			s.collection, len(vec), s.dim, knowledge.ErrDimension)
	}
	if k <= 0 {
		return nil, nil
	}
	return s.query(ctx, denseVector, qc.NewQueryDense(vec), k, f)
}

// SearchSparse returns up to k chunks by BM25: Qdrant multiplies q's
// weights by each term's IDF over the collection and sums the products
// with the chunks' weights. Only chunks sharing a term with q come back.
func (s *Store) SearchSparse(ctx context.Context, q knowledge.SparseVector, k int, f knowledge.Filter) ([]knowledge.Hit, error) {
	if s.closed.Load() {
		return nil, knowledge.ErrClosed
	}
	if len(q.Indices) != len(q.Values) {
		return nil, fmt.Errorf("qdrant: search %q: the query has %d sparse indices but %d values",
			s.collection, len(q.Indices), len(q.Values))
	}
	if k <= 0 || len(q.Indices) == 0 {
		return nil, nil
	}
	return s.query(ctx, sparseVector, qc.NewQuerySparse(q.Indices, q.Values), k, f)
}

func (s *Store) query(ctx context.Context, using string, q *qc.Query, k int, f knowledge.Filter) ([]knowledge.Hit, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.client.GetPointsClient().Query(ctx, &qc.QueryPoints{
		CollectionName: s.collection,
		Query:          q,
		Using:          qc.PtrOf(using),
		Filter:         tagFilter(f),
		Limit:          qc.PtrOf(uint64(k)),
		WithPayload:    qc.NewWithPayload(true),
	})
	if err != nil {
		return nil, wrap("search", s.collection, err)
	}
	hits := make([]knowledge.Hit, 0, len(resp.GetResult()))
	for _, p := range resp.GetResult() {
		c, err := chunkOf(p.GetId(), p.GetPayload(), nil)
		if err != nil {
			return nil, fmt.Errorf("qdrant: search %q: %w", s.collection, err)
		}
		hits = append(hits, knowledge.Hit{Chunk: c, Score: float64(p.GetScore())})
	}
	return hits, nil
}

// tagFilter is `must: [{key: tags, match: {any: [...]}}]`, or nil.
func tagFilter(f knowledge.Filter) *qc.Filter {
	if len(f.Tags) == 0 {
		return nil
	}
	return &qc.Filter{Must: []*qc.Condition{qc.NewMatchKeywords(keyTags, f.Tags...)}}
}

// Close makes further calls fail with knowledge.ErrClosed and, for a
// Store made by New, closes the connections. Requests in flight finish or
// fail on their own.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.owned {
		return s.client.Close()
	}
	return nil
}
