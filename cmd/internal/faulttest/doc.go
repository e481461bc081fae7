// Package faulttest sizes the load-and-fault suite: the tests named
// TestFault* across the module (reloads under load, provider faults, Redis
// restarts, kill -9 of the server, business services down or slow).
//
// `make test` runs them bounded (a few seconds each); `make test-faults`
// sets KEFU_FAULTS=full and runs them longer. Everything listens on
// 127.0.0.1 only.
package faulttest
