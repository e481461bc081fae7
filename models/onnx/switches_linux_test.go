//go:build cgo

package onnx_test

import "syscall"

// preemptions reports how many times the process's threads were switched
// out involuntarily so far, or -1 where that is not known.
func preemptions() int64 {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return -1
	}
	return r.Nivcsw
}
