package knn

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// centroids is a set of sparse unit centroids, stored flat: centroid c is
// idx/val[off[c]:off[c+1]], ascending features. index() adds a
// feature-major view so a vector is scored against all of them in one pass
// over its nonzeros.
type centroids struct {
	off, idx []uint32
	val      []float32

	// Feature-major view over the features some centroid keeps, by
	// their ordinal in cols: feature f (ordinal o) is a dense column of
	// dense (n wide) when ci[o].dense != 0, else it appears in centroids
	// cent[ci[o].off:ci[o+1].off] with weights cval. A feature kept by at
	// least a quarter of the centroids (common and topic words) gets a
	// dense column, scored by one vector axpy. cols is a rank index (64
	// KiB at 2^18 features) and ci holds only kept features: a dense
	// dimension-wide ci (2 MiB) cost a cache miss per query feature, a
	// sixth of the search.
	cols  feature.Columns
	ci    []centFeat
	cent  []uint32
	cval  []float32
	dense []float32
}

// centFeat is a feature's entry in the feature-major view.
type centFeat struct{ off, dense uint32 }

func (cs *centroids) n() int { return len(cs.off) - 1 }

func (cs *centroids) set(cents []feature.Vector) {
	cs.off = append(cs.off[:0], 0)
	cs.idx, cs.val = cs.idx[:0], cs.val[:0]
	for _, c := range cents {
		cs.idx = append(cs.idx, c.Idx...)
		cs.val = append(cs.val, c.Val...)
		cs.off = append(cs.off, uint32(len(cs.idx)))
	}
}

func (cs *centroids) get(c int) feature.Vector {
	lo, hi := cs.off[c], cs.off[c+1]
	return feature.Vector{Idx: cs.idx[lo:hi], Val: cs.val[lo:hi]}
}

// index builds the feature-major view over features below dim.
func (cs *centroids) index(dim int) {
	n := cs.n()
	count := make([]uint32, dim)
	for _, f := range cs.idx {
		count[f]++
	}
	var kept []uint32
	for f := range dim {
		if count[f] > 0 {
			kept = append(kept, uint32(f))
		}
	}
	cols, err := feature.NewColumns(kept, dim)
	if err != nil {
		panic(err) // kept is ascending and below dim by construction
	}
	cs.cols = cols
	cs.ci = make([]centFeat, len(kept)+1)
	var nDense, nSparse uint32
	for o, f := range kept {
		cs.ci[o].off = nSparse
		if int(count[f])*4 >= n {
			nDense++
			cs.ci[o].dense = nDense
		} else {
			nSparse += count[f]
		}
	}
	cs.ci[len(kept)].off = nSparse
	cs.cent = make([]uint32, nSparse)
	cs.cval = make([]float32, nSparse)
	cs.dense = make([]float32, int(nDense)*n)
	next := make([]uint32, len(kept))
	for o := range kept {
		next[o] = cs.ci[o].off
	}
	for c := range n {
		for p := cs.off[c]; p < cs.off[c+1]; p++ {
			o := cs.cols.Col(cs.idx[p])
			if d := cs.ci[o].dense; d != 0 {
				cs.dense[int(d-1)*n+c] = cs.val[p]
				continue
			}
			cs.cent[next[o]] = uint32(c)
			cs.cval[next[o]] = cs.val[p]
			next[o]++
		}
	}
}

// score writes every centroid's dot product with x into sc (length n()).
func (cs *centroids) score(x feature.Vector, sc []float32) {
	clear(sc)
	n := len(sc)
	impl := blas32.Implementation()
	for k, ix := range x.Idx {
		o := cs.cols.Col(ix)
		if o < 0 {
			continue
		}
		qv := x.Val[k]
		e := cs.ci[o]
		if e.dense != 0 {
			impl.Saxpy(n, qv, cs.dense[int(e.dense-1)*n:int(e.dense)*n], 1, sc, 1)
			continue
		}
		lo, hi := e.off, cs.ci[o+1].off
		cents, vals := cs.cent[lo:hi], cs.cval[lo:hi]
		for p, c := range cents {
			sc[c] += qv * vals[p]
		}
	}
}

// kmeansRounds is the number of spherical k-means rounds. The assignment
// moves little after five or six on tf-idf rows.
const kmeansRounds = 8

// kmeans clusters the rows members (indexes into rows) into k sparse
// centroids of at most terms features by spherical k-means (nearest by dot
// product, mean then normalise, truncated to the heaviest terms), seeded
// from k distinct members drawn with rng. It returns the centroids and
// each member's cluster. Members are scored in parallel; a member's answer
// depends only on the member, so the result does not depend on the split.
func kmeans(ctx context.Context, rows []feature.Vector, members []uint32, k, terms, dim int, rng *rand.Rand) (*centroids, []int32, error) {
	cents := make([]feature.Vector, k)
	for c, i := range rng.Perm(len(members))[:k] {
		cents[c] = truncateUnit(rows[members[i]], terms)
	}
	cs := &centroids{}
	cs.set(cents)
	assign := make([]int32, len(members))
	acc := make([]float32, dim)
	for round := 0; ; round++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("build sparse-ivf: %w", err)
		}
		cs.index(dim)
		cs.assign(rows, members, assign)
		if round == kmeansRounds || k == 1 {
			return cs, assign, nil
		}
		groups := make([][]uint32, k)
		for i, c := range assign {
			groups[c] = append(groups[c], members[i])
		}
		for c := range k {
			if len(groups[c]) > 0 { // an empty cluster keeps its centroid
				cents[c] = centroidOf(rows, groups[c], acc, terms)
			}
		}
		cs.set(cents)
	}
}

// assign sets assign[i] to the centroid nearest rows[members[i]] (ties to
// the lower centroid).
func (cs *centroids) assign(rows []feature.Vector, members []uint32, assign []int32) {
	workers := max(1, min(runtime.GOMAXPROCS(0), len(members)/1024))
	chunk := (len(members) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min(len(members), (w+1)*chunk)
		wg.Go(func() {
			sc := make([]float32, cs.n())
			for i := lo; i < hi; i++ {
				cs.score(rows[members[i]], sc)
				best := 0
				for c, v := range sc {
					if v > sc[best] {
						best = c
					}
				}
				assign[i] = int32(best)
			}
		})
	}
	wg.Wait()
}

// centroidOf is the unit-length mean of the member rows cut to its terms
// heaviest features (ties to the lower feature). acc is a zeroed dim-sized
// scratch array, left zeroed.
func centroidOf(rows []feature.Vector, members []uint32, acc []float32, terms int) feature.Vector {
	var touched []uint32
	for _, r := range members {
		row := rows[r]
		for k, f := range row.Idx {
			if acc[f] == 0 {
				touched = append(touched, f)
			}
			acc[f] += row.Val[k]
		}
	}
	h := termHeap{}
	for _, f := range touched {
		v := acc[f]
		acc[f] = 0
		h.offer(term{f, v}, terms)
	}
	return h.vector()
}

// truncateUnit is row cut to its terms heaviest features, unit length.
func truncateUnit(row feature.Vector, terms int) feature.Vector {
	h := termHeap{}
	for k, f := range row.Idx {
		h.offer(term{f, row.Val[k]}, terms)
	}
	return h.vector()
}

type term struct {
	f uint32
	v float32
}

// lighter orders terms for the top-terms selection: smaller weight first,
// and at equal weight the higher feature, so the lower feature is kept.
func lighter(a, b term) bool { return a.v < b.v || (a.v == b.v && a.f > b.f) }

// termHeap is a min-heap by lighter: its root is the term to drop first.
type termHeap []term

func (h termHeap) Len() int           { return len(h) }
func (h termHeap) Less(i, j int) bool { return lighter(h[i], h[j]) }
func (h termHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *termHeap) Push(x any)        { *h = append(*h, x.(term)) }
func (h *termHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// offer keeps t if it is among the terms heaviest positive ones seen (a
// negative mean cannot help a cosine ranking of tf-idf rows).
func (h *termHeap) offer(t term, terms int) {
	switch {
	case t.v <= 0:
	case len(*h) < terms:
		heap.Push(h, t)
	case lighter((*h)[0], t):
		(*h)[0] = t
		heap.Fix(h, 0)
	}
}

// vector is the kept terms by ascending feature, unit length.
func (h termHeap) vector() feature.Vector {
	slices.SortFunc(h, func(a, b term) int { return int(a.f) - int(b.f) })
	v := feature.Vector{Idx: make([]uint32, len(h)), Val: make([]float32, len(h))}
	for k, t := range h {
		v.Idx[k], v.Val[k] = t.f, t.v
	}
	var s float64
	for _, x := range v.Val {
		s += float64(x) * float64(x)
	}
	if s > 0 {
		inv := float32(1 / math.Sqrt(s))
		for k := range v.Val {
			v.Val[k] *= inv
		}
	}
	return v
}
