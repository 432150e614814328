package feature

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// TrainingRows checks a learner's training set: x are feature vectors of
// dimension dim, y the rows x candidates quality matrix, w the per-row
// weights (nil = 1). It returns the number of candidates and the columns
// (features) that at least minDF rows use, ascending: the inputs a model
// that learns one weight per column keeps.
func TrainingRows(x []Vector, dim int, y [][]float64, w []float64, minDF int) (nCand int, cols []uint32, err error) {
	if len(x) < 2 {
		return 0, nil, errors.New("need at least 2 training rows")
	}
	if len(y) != len(x) || (w != nil && len(w) != len(x)) {
		return 0, nil, fmt.Errorf("%d rows but %d quality rows and %d weights", len(x), len(y), len(w))
	}
	nCand = len(y[0])
	df := map[uint32]int{}
	for i, r := range x {
		if len(y[i]) != nCand {
			return 0, nil, fmt.Errorf("row %d has %d candidates, want %d", i, len(y[i]), nCand)
		}
		if len(r.Idx) != len(r.Val) {
			return 0, nil, fmt.Errorf("row %d: vector index and value counts differ", i)
		}
		for _, f := range r.Idx {
			if int(f) >= dim {
				return 0, nil, fmt.Errorf("row %d: feature %d beyond dimension %d", i, f, dim)
			}
			df[f]++
		}
		if w != nil && (!(w[i] >= 0) || math.IsInf(w[i], 0)) {
			return 0, nil, fmt.Errorf("row %d weight %v: must be finite and >= 0", i, w[i])
		}
	}
	for f, n := range df {
		if n >= minDF {
			cols = append(cols, f)
		}
	}
	slices.Sort(cols)
	if len(cols) == 0 {
		return 0, nil, errors.New("no input feature reaches min_df")
	}
	return nCand, cols, nil
}
