//go:build cgo && !linux

package onnx_test

func preemptions() int64 { return -1 }
