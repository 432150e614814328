package feature

import (
	"errors"
	"fmt"
	"math"
)

// Validate reports whether v is well formed: as many values as indices,
// indices strictly ascending, values finite. Vectors read from data sets and
// bundles are checked before a learner trusts them.
func (v Vector) Validate() error {
	if len(v.Idx) != len(v.Val) {
		return fmt.Errorf("vector has %d indices but %d values", len(v.Idx), len(v.Val))
	}
	for i := range v.Idx {
		if i > 0 && v.Idx[i] <= v.Idx[i-1] {
			return errors.New("vector indices not strictly ascending")
		}
		if f := float64(v.Val[i]); math.IsNaN(f) || math.IsInf(f, 0) {
			return errors.New("vector has a non-finite value")
		}
	}
	return nil
}

// Norm returns the Euclidean norm of v.
func (v Vector) Norm() float64 {
	var s float64
	for _, x := range v.Val {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
