// Package redistest starts throwaway redis-server processes for tests:
// an empty, unpersisted server on a free 127.0.0.1 port, killed at the
// test's cleanup. It owns only the process; what a test stores is its own.
//
// When redis-server is not in PATH, tests are skipped, except when the
// CI environment variable is set: CI must never skip, so they fail.
// scripts/install-test-deps.sh installs it.
package redistest
