package embedded

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly dot product: about ten times the portable
// loop on 384 dimensions, which is most of the cost of every search and of
// building the HNSW graph.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotAVX2(a, b *float32, n int) float32

// dot is the inner product of a and b; b is at least as long as a.
func dot(a, b []float32) float32 {
	if useAVX2 && len(a) > 0 {
		_ = b[len(a)-1]
		return dotAVX2(&a[0], &b[0], len(a))
	}
	return dotGeneric(a, b)
}
