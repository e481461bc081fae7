package models

import "math"

// Softmax returns the softmax of x, computed stably in float64.
func Softmax(x []float32) []float32 {
	if len(x) == 0 {
		return nil
	}
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	out := make([]float32, len(x))
	var sum float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		out[i] = float32(e)
		sum += e
	}
	for i := range out {
		out[i] = float32(float64(out[i]) / sum)
	}
	return out
}

// MeanPool averages the rows of hidden ([seq][dim], flattened) whose mask
// is 1 and L2-normalises the result.
func MeanPool(hidden []float32, mask []int64, dim int) []float32 {
	out := make([]float32, dim)
	n := 0
	for t, m := range mask {
		if m == 0 {
			continue
		}
		row := hidden[t*dim : (t+1)*dim]
		for i, v := range row {
			out[i] += v
		}
		n++
	}
	if n == 0 {
		return out
	}
	for i := range out {
		out[i] /= float32(n)
	}
	return Normalize(out)
}

// Normalize scales v to unit length in place and returns it; a zero vector
// stays zero.
func Normalize(v []float32) []float32 {
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if norm > 0 {
		inv := float32(1 / math.Sqrt(norm))
		for i := range v {
			v[i] *= inv
		}
	}
	return v
}
