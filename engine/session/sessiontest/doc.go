// Package sessiontest is the conformance suite for session.Store
// implementations. Each store's tests call Run with a function that opens
// an empty store, so what the engine relies on (versions, the handoff
// queue, expiry, lock semantics) is checked the same way for all of them.
// It also owns the test helpers stores share: a settable Clock, Sample
// sessions, and Increment, one engine-style turn under Lock.
package sessiontest
