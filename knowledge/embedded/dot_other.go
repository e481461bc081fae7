//go:build !amd64

package embedded

// dot is the inner product of a and b; b is at least as long as a.
func dot(a, b []float32) float32 { return dotGeneric(a, b) }
