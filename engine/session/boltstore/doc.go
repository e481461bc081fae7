// Package boltstore is the embedded session.Store: one bbolt file, no
// server. Every Save and Delete is a transaction fsynced before it
// returns, so a crash (even kill -9) loses nothing that was acknowledged.
//
// It owns the file layout (a sessions bucket, an expiry index and the
// handoff queue index, all updated in one transaction), idle expiry (Get
// hides sessions idle for IdleTTL; a sweeper goroutine deletes them in
// batches) and in-process per-session locks. The file can be open in one
// process at a time, so in-process locks are enough; several kefu nodes
// need redisstore.
package boltstore
