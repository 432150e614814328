package dataset

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext/prng"
)

// NumPyPermutation returns what numpy's legacy generator returns for
// np.random.RandomState(seed).permutation(n): the scikit-learn reference
// figures in ../shared/data/routing/README.md were computed on splits drawn
// this way, so reproducing it is the only way to compare against them on the
// same rows.
//
// numpy seeds MT19937 with the standard init_genrand recurrence (gonum's
// MT19937.Seed), builds arange(n) and shuffles it with its legacy
// Fisher-Yates: for i from n-1 down to 1 it swaps a[i] with a[j], j drawn
// uniformly from [0, i] by masked rejection (32-bit outputs masked with the
// smallest all-ones mask >= i, redrawn while above i). n is always far below
// 2^32 here, so numpy's 64-bit branch of that draw is never taken.
func NumPyPermutation(n int, seed uint32) []int {
	src := prng.NewMT19937()
	src.Seed(uint64(seed))
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := npInterval(src, uint32(i))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}

// npInterval is numpy's random_interval(max) for max < 2^32: a uniform draw
// from [0, max] by masking and rejection.
func npInterval(src *prng.MT19937, max uint32) uint32 {
	mask := max
	mask |= mask >> 1
	mask |= mask >> 2
	mask |= mask >> 4
	mask |= mask >> 8
	mask |= mask >> 16
	for {
		if v := src.Uint32() & mask; v <= max {
			return v
		}
	}
}

// SplitSKLearn splits rows as scikit-learn's
// train_test_split(rows, test_size=testFrac, random_state=seed) does (its
// ShuffleSplit): perm = NumPyPermutation(len(rows), seed), the first
// ceil(testFrac*n) indices are the test rows, the rest the training rows,
// both in permutation order as scikit-learn returns them. The split depends
// on the input row order, so the same order as the reference's must be used
// for its figures to be comparable. testFrac must lie in (0, 1).
func SplitSKLearn(rows []Row, testFrac float64, seed uint32) (train, test []Row, err error) {
	if !(testFrac > 0 && testFrac < 1) {
		return nil, nil, fmt.Errorf("sklearn split: test fraction %g outside (0,1)", testFrac)
	}
	n := len(rows)
	nTest := int(math.Ceil(testFrac * float64(n)))
	if nTest >= n {
		return nil, nil, fmt.Errorf("sklearn split: %d rows leave no training rows at test fraction %g", n, testFrac)
	}
	perm := NumPyPermutation(n, seed)
	test = make([]Row, 0, nTest)
	for _, i := range perm[:nTest] {
		test = append(test, rows[i])
	}
	train = make([]Row, 0, n-nTest)
	for _, i := range perm[nTest:] {
		train = append(train, rows[i])
	}
	return train, test, nil
}
