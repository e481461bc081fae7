package qdrant

import (
	"os"
	"testing"
)

// TestLive runs the shared checks against a real Qdrant at QDRANT_ADDR
// (host:port of its gRPC API), with QDRANT_API_KEY when it needs one and
// QDRANT_TLS=1 for TLS. Each check works in its own collection,
// kefu_test_<random>, deleted when it ends.
//
// It is skipped when QDRANT_ADDR is unset, CI included: Qdrant cannot be
// installed on kefu's build machines (no registry ships it), so CI relies
// on the double (TestDouble), and this test is how the double and the
// adapter are checked against the real thing, e.g.
//
//	docker run -p 6334:6334 qdrant/qdrant
//	QDRANT_ADDR=127.0.0.1:6334 go test ./knowledge/qdrant -run Live -v
func TestLive(t *testing.T) {
	addr := os.Getenv("QDRANT_ADDR")
	if addr == "" {
		t.Skip("QDRANT_ADDR is not set: no Qdrant to test against")
	}
	runChecks(t, newEnv(t, addr, os.Getenv("QDRANT_API_KEY"), os.Getenv("QDRANT_TLS") == "1"))
}
