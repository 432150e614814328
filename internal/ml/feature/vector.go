// Package feature turns prompts into vectors: the featurizers that travel
// inside a router bundle so training and serving compute the same features.
package feature

// Vector is a sparse feature vector: Idx sorted ascending and unique, Val the
// matching values. Dense featurizers (embeddings) fill every index.
type Vector struct {
	Idx []uint32
	Val []float32
}

// Dot returns the inner product of two sparse vectors.
func (v Vector) Dot(w Vector) float32 {
	var s float32
	i, j := 0, 0
	for i < len(v.Idx) && j < len(w.Idx) {
		switch {
		case v.Idx[i] == w.Idx[j]:
			s += v.Val[i] * w.Val[j]
			i++
			j++
		case v.Idx[i] < w.Idx[j]:
			i++
		default:
			j++
		}
	}
	return s
}
