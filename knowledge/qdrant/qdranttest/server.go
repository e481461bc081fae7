package qdranttest

import (
	"context"
	"crypto/subtle"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
)

// Version is the Qdrant version the double answers HealthCheck with: the
// one go-client v1.17 is made for.
const Version = "1.17.0"

// Config configures a Server.
type Config struct {
	// APIKey, when set, must come with every request as the "api-key"
	// metadata (or "authorization: Bearer …"), as with Qdrant's
	// service.api_key; requests without it fail Unauthenticated.
	APIKey string
}

// Server is a Qdrant double: a gRPC server on a loopback port serving
// Qdrant's Collections, Points and Qdrant services, from go-client's own
// generated definitions, over collections kept in memory. It is safe for
// concurrent use.
type Server struct {
	cfg  Config
	lis  net.Listener
	grpc *grpc.Server

	mu          sync.RWMutex
	collections map[string]*collection
	calls       []string // short method names, in order
	fail        func(ctx context.Context, method string) error
}

// NewServer starts a Server on 127.0.0.1 at a free port.
func NewServer(cfg Config) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, lis: lis, collections: map[string]*collection{}}
	s.grpc = grpc.NewServer(
		grpc.ChainUnaryInterceptor(s.record, s.auth, s.inject),
		// go-client pings every 10s even without calls; a default
		// grpc.Server would close the connection for that, Qdrant does not.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	qc.RegisterCollectionsServer(s.grpc, &collectionsService{s: s})
	qc.RegisterPointsServer(s.grpc, &pointsService{s: s})
	qc.RegisterQdrantServer(s.grpc, qdrantService{})
	go s.grpc.Serve(lis)
	return s, nil
}

// Start starts a Server for t and stops it when t ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatalf("qdranttest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Close stops the server, ending open connections.
func (s *Server) Close() { s.grpc.Stop() }

// Calls returns the gRPC methods called so far, in order, as short names
// ("Points/Upsert"), authenticated or not.
func (s *Server) Calls() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.calls)
}

// SetFail makes every authenticated request first call fail with its
// short method name ("Points/Upsert"); a non-nil error is returned instead
// of serving the request. It may set trailers with grpc.SetTrailer(ctx,
// …), as Qdrant's retry-after. nil stops the failures.
func (s *Server) SetFail(fail func(ctx context.Context, method string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

// Points returns the number of points in a collection, -1 when it does
// not exist.
func (s *Server) Points(collection string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.collections[collection]
	if !ok {
		return -1
	}
	return len(c.points)
}

func (s *Server) record(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	s.mu.Lock()
	s.calls = append(s.calls, strings.TrimPrefix(info.FullMethod, "/qdrant."))
	s.mu.Unlock()
	return h(ctx, req)
}

// auth checks the API key as Qdrant's AuthKeys::validate_request does:
// "api-key", else "authorization: Bearer …". HealthCheck is open, like the
// REST /healthz.
func (s *Server) auth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if s.cfg.APIKey == "" || info.FullMethod == qc.Qdrant_HealthCheck_FullMethodName {
		return h(ctx, req)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	key := ""
	if v := md.Get("api-key"); len(v) > 0 {
		key = v[0]
	} else if v := md.Get("authorization"); len(v) > 0 && strings.HasPrefix(v[0], "Bearer ") {
		key = strings.TrimPrefix(v[0], "Bearer ")
	} else {
		return nil, errNoKey
	}
	if subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) != 1 {
		return nil, errBadKey
	}
	return h(ctx, req)
}

func (s *Server) inject(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	s.mu.RLock()
	fail := s.fail
	s.mu.RUnlock()
	if fail != nil {
		if err := fail(ctx, strings.TrimPrefix(info.FullMethod, "/qdrant.")); err != nil {
			return nil, err
		}
	}
	return h(ctx, req)
}

type qdrantService struct {
	qc.UnimplementedQdrantServer
}

func (qdrantService) HealthCheck(context.Context, *qc.HealthCheckRequest) (*qc.HealthCheckReply, error) {
	return &qc.HealthCheckReply{Title: "qdrant - vector search engine", Version: Version}, nil
}

// collection returns a collection, or Qdrant's NotFound. The caller holds
// s.mu.
func (s *Server) collection(name string) (*collection, error) {
	c, ok := s.collections[name]
	if !ok {
		return nil, errNoCollection(name)
	}
	return c, nil
}
