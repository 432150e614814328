package knn

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestFeatureSetsShared checks both layouts of featureSets against a plain
// intersection on random sets: features at both ends of the space, a
// dimension that is not a multiple of 64 or 512, dense and sparse sets,
// and queries with more words than the scratch starts with.
func TestFeatureSetsShared(t *testing.T) {
	for _, tc := range []struct {
		name               string
		dim, sets, setSize int
		querySize          int
	}{
		{"small space", 100, 5, 30, 20},
		{"ragged space", 70_001, 20, 500, 300},
		{"long queries", 1 << 18, 8, 3000, 5000},
		{"empty sets", 4096, 6, 0, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(tc.dim)))
			draw := func(n int) []uint32 {
				set := map[uint32]bool{0: true, uint32(tc.dim - 1): true}
				for len(set) < min(n, tc.dim) {
					set[uint32(rng.IntN(tc.dim))] = true
				}
				if n == 0 {
					return nil
				}
				out := make([]uint32, 0, len(set))
				for f := range set {
					out = append(out, f)
				}
				slices.Sort(out)
				return out
			}
			sets := make([][]uint32, tc.sets)
			pairs := 0
			for i := range sets {
				sets[i] = draw(tc.setSize)
				pairs += len(sets[i])
			}
			for _, layout := range []int{layoutDense, layoutSparse} {
				fs := newFeatureSets(tc.sets, tc.dim, pairs, layout)
				first := make([]uint32, tc.sets) // ordinal of each set's first feature
				for i, set := range sets {
					first[i] = fs.n
					fs.add(i, set)
				}
				s := &scratch{bits: make([]uint64, (tc.dim+63)/64)}
				for q := range 5 {
					query := draw(tc.querySize)
					s.qwords = s.qwords[:0]
					for _, f := range query {
						if s.bits[f>>6] == 0 {
							s.qwords = append(s.qwords, f>>6)
						}
						s.bits[f>>6] |= 1 << (f & 63)
					}
					for i, set := range sets {
						var want []sharedFeature
						for k, f := range set {
							if _, ok := slices.BinarySearch(query, f); ok {
								want = append(want, sharedFeature{u: first[i] + uint32(k), f: f})
							}
						}
						got := fs.shared(i, s)
						if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
							t.Fatalf("layout %d, query %d, set %d: shared %v, want %v", layout, q, i, got, want)
						}
					}
					clear(s.bits)
				}
			}
		})
	}
}
