// Package qdranttest is an in-process Qdrant for tests: a real gRPC server
// on a loopback port implementing Qdrant's services from go-client's own
// generated definitions (qdrant.UnimplementedCollectionsServer,
// UnimplementedPointsServer, UnimplementedQdrantServer), so a client
// cannot tell it from a Qdrant by the wire.
//
//	srv := qdranttest.Start(t, qdranttest.Config{APIKey: "secret"})
//	store, err := qdrant.New(ctx, qdrant.Options{Addr: srv.Addr(), APIKey: "secret", Dim: 384})
//
// It keeps collections in memory with their dense and sparse vector
// configurations, payload indexes and points, and serves what kefu's
// adapter asks for as Qdrant would: creating, describing, listing and
// deleting collections; upserting points (named or unnamed vectors,
// dense vectors normalised for cosine), deleting them by id or filter,
// counting, getting, scrolling in id order with offsets, and nearest
// queries scored exactly: cosine, dot, Euclid or Manhattan for dense
// vectors, a dot product over shared dimensions for sparse ones, weighted
// by Qdrant's IDF, ln(1 + (N − n + 0.5)/(n + 0.5)), when the vector has
// the Idf modifier. Filters apply must, should, must_not and min_should
// with match (keyword, any, except, integer, bool, substring text), range,
// is_empty, is_null, has_id and has_vector.
//
// It rejects what Qdrant rejects, with Qdrant's gRPC codes and messages
// (errors.go says where each comes from in qdrant/qdrant): unknown
// collections (NotFound), a collection created twice (AlreadyExists),
// vectors of the wrong size, unknown vector names, dense for sparse and
// the other way round, points without vectors or id, malformed filter
// conditions (InvalidArgument), missing or wrong API keys
// (Unauthenticated). A rejected upsert stores nothing.
//
// Whatever it does not model (hybrid prefetch, recommendations,
// full-text and geo conditions, multivectors, aliases, snapshots…)
// answers Unimplemented rather than something plausible but wrong.
package qdranttest
