// Package qdrant is a knowledge.Store kept in a Qdrant server, spoken to
// over gRPC (port 6334) with Qdrant's official Go client.
//
// It owns one collection (Options.Collection, "kefu" by default) and its
// layout; New creates it when it is missing:
//
//   - a named dense vector "dense" of Options.Dim floats, cosine distance;
//   - a named sparse vector "lexical" with the IDF modifier, so Qdrant
//     multiplies each query term by its inverse document frequency at
//     search time: kefu sends BM25 term weights from
//     knowledge.DocumentVector for chunks and knowledge.QueryVector for
//     queries, and the score is BM25 over the whole collection, kept up to
//     date by Qdrant as documents come and go;
//   - keyword payload indexes on "doc_id" and "tags";
//   - one point per chunk, whose id is a UUID (version 5) of the chunk id,
//     so re-ingesting a document overwrites its points instead of adding
//     new ones, and whose payload is the chunk: doc_id, chunk_id, title,
//     text, answer, questions, tags, position.
//
// A collection that exists already is used as it is once its layout is
// checked: a dense size other than Options.Dim is an error wrapping
// knowledge.ErrDimension, naming both sizes.
//
// Embedding, chunking and fusion are left to package knowledge; this
// package only stores and searches. Errors from Qdrant come back as *Error,
// which keeps the gRPC status (status.Code and errors.As see it) and never
// holds the API key.
//
// Qdrant has no transaction across requests: ReplaceDocument deletes the
// document's points, then upserts the new ones. See its comment for what a
// failure between the two leaves.
//
// The package qdranttest beside this one is an in-process Qdrant double
// for tests.
package qdrant
