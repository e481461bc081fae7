package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// DefaultMaxInFlight is the bound on calls in flight on a session when
// Options.MaxInFlight is not set: one per CPU.
func DefaultMaxInFlight() int { return runtime.NumCPU() }

// GOMAXPROCSFor is the GOMAXPROCS a process should run with when up to
// inFlight model calls may be inside ONNX Runtime at once: the number of
// CPUs plus inFlight.
//
// A goroutine in a cgo call holds no P once the scheduler hands its P to
// other work, and when the call returns it must wait for a free P. With
// GOMAXPROCS equal to the CPU count and every CPU busy in ONNX Runtime, that
// wait lasted a scheduler tick (about 4 ms) for 1 % of calls on a 2-core
// machine; spare Ps removed the tail (p99 4.3 ms -> 0.6 ms) and raised
// throughput. The composition root applies it (cmd/internal/app); a library
// must not change process-wide settings.
func GOMAXPROCSFor(inFlight int) int {
	return runtime.NumCPU() + max(inFlight, 0)
}

// LibraryName is the file name of the ONNX Runtime shared library.
const LibraryName = "libonnxruntime.so.1"

// EnvLibrary names the environment variable that points at the library
// (a file, or a folder holding LibraryName).
const EnvLibrary = "KEFU_ONNXRUNTIME_LIB"

// DefaultDir is where scripts/fetch-onnxruntime.sh installs the library,
// relative to the working directory or to the kefu executable.
const DefaultDir = "third_party/onnxruntime"

// FixCommand is what a person runs to install the library.
const FixCommand = "scripts/fetch-onnxruntime.sh (or: make onnxruntime)"

// LibraryError says that the library was not found, and where we looked.
type LibraryError struct {
	Tried []string
}

func (e *LibraryError) Error() string {
	return fmt.Sprintf("onnxruntime: %s not found (looked in: %s); install it with %s",
		LibraryName, strings.Join(e.Tried, ", "), FixCommand)
}

// FindLibrary returns the path of the ONNX Runtime library. The first of
// these that is set decides: configured (the config file's
// onnxruntime.library), $KEFU_ONNXRUNTIME_LIB, then the default folder
// under the working directory and beside the executable. A configured or
// environment path that does not exist is an error, not a reason to look
// elsewhere.
func FindLibrary(configured string) (string, error) {
	if configured != "" {
		return existing(configured, "config onnxruntime.library")
	}
	if env := os.Getenv(EnvLibrary); env != "" {
		return existing(env, "$"+EnvLibrary)
	}
	var tried []string
	cands := []string{filepath.Join(DefaultDir, LibraryName)}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		cands = append(cands,
			filepath.Join(dir, LibraryName),
			filepath.Join(dir, "..", DefaultDir, LibraryName))
	}
	for _, c := range cands {
		abs, err := filepath.Abs(c)
		if err != nil {
			abs = c
		}
		if st, err := os.Stat(abs); err == nil && !st.IsDir() {
			return abs, nil
		}
		tried = append(tried, abs)
	}
	return "", &LibraryError{Tried: tried}
}

func existing(p, from string) (string, error) {
	st, err := os.Stat(p)
	if err == nil && st.IsDir() {
		p = filepath.Join(p, LibraryName)
		st, err = os.Stat(p)
	}
	if err != nil || st.IsDir() {
		return "", &LibraryError{Tried: []string{fmt.Sprintf("%s (%s)", p, from)}}
	}
	return filepath.Abs(p)
}
