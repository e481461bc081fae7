// Package onnx runs Hugging Face layout BERT models with ONNX Runtime.
//
// It owns the process-wide ONNX Runtime environment (Init, Shutdown), one
// shared session per model, and the two things kefu asks of a model: intent
// classification (Classifier) and text embeddings (Embedder). A session
// serves concurrent callers: each call has its own tensors, and at most
// Options.MaxInFlight calls run at once, so that queueing happens in Go
// rather than inside ONNX Runtime's thread pool. On a 2-core machine two
// calls in flight on a single-threaded session gave 1.5-1.9x the throughput
// of one; batching did not pay, so there is no micro-batcher.
//
// Inputs and outputs are checked against the graph when a model loads, and
// a probe inference runs then, so a wrong model fails at start-up rather
// than at the first request.
//
// The library is loaded at run time (dlopen); FindLibrary says where.
// Building without cgo gives a package whose constructors return ErrNoCgo.
package onnx
