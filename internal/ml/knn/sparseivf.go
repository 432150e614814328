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

// sparseIVF is the approximate index for sparse tf-idf rows: spherical
// k-means on the rows themselves (no projection), centroids truncated to
// their heaviest terms, and an inverted index whose postings are grouped by
// list, so a query scores the rows of its nearest lists exactly.
//
// Why not the projected "ivf": a 64-dimension random-sign projection adds
// noise of about 1/8 in cosine, while the similarities that separate a
// tf-idf query's neighbours are a few hundredths (0.04-0.06 on
// synthetic.Realistic). Clustering the sparse vectors keeps the terms that
// rows of a list share (topic words, common words) in the centroids, and
// scoring the probed rows through an inverted index costs about the postings
// the exact search would walk for those rows, a few thousand per list,
// instead of a bit test per nonzero of every row.
type sparseIVF struct {
	// Stored. Centroid c is cIdx/cVal[cOff[c]:cOff[c+1]], ascending
	// features, unit length. The rows of list c are
	// listRow[listOff[c]:listOff[c+1]], ascending.
	cOff, cIdx []uint32
	cVal       []float32
	listOff    []uint32
	listRow    []uint32

	// Derived on build and load. Centroid index: feature f is a dense
	// column of ciDense (lists wide) when ci[f].dense != 0, else it appears
	// in centroids ciCent[ci[f].off:ci[f+1].off] with weights ciVal.
	ci      []centFeat
	ciCent  []uint32
	ciVal   []float32
	ciDense []float32
	// Row postings in list order: a row's position is its index in
	// listRow, so the postings of a list form one run of positions inside
	// each feature's postings: feature f has post[feat[f].off:feat[f+1].off],
	// ascending positions, each with its value beside it (one cache miss
	// per run instead of two).
	feat []featPostings
	post []posting
	// dir holds, for each feature with at least lists postings, where each
	// list's run starts: run of list c is dir[d+c]:dir[d+c+1] relative to
	// the feature's first posting, d = feat[f].dir-1. Shorter postings are
	// binary searched; finding a run in a long one by binary search took
	// a cache miss per step, most of a query's time. Its size is at most
	// half of those features' postings.
	dir []uint32
}

// posting is one row's value for a feature, by the row's list position.
type posting struct {
	pos uint32
	val float32
}

// featPostings is one feature's entry: where its postings start and its
// directory (0 for none, else 1 + its offset in dir), side by side so one
// cache line serves both.
type featPostings struct{ off, dir uint32 }

// sparseIVFRounds is the number of k-means rounds. The assignment moves
// little after five or six on tf-idf rows; every round costs one pass over
// the training postings.
const sparseIVFRounds = 8

// buildSparseIVF clusters rows into cfg.Lists lists by spherical k-means
// seeded from distinct random rows (deterministic with cfg.Seed), then
// indexes them. Every round looks at every row: k-means on a sample of 64
// rows per list left lists of 3 to 2,500 rows on synthetic.Realistic (all
// rows: 19 to 750), and a query's time grows with its list's.
func buildSparseIVF(ctx context.Context, cfg Config, rows []feature.Vector, dim int) (*sparseIVF, error) {
	n, lists := len(rows), cfg.Lists
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x73697666))
	cents := make([]feature.Vector, lists)
	for c, i := range rng.Perm(n)[:lists] {
		cents[c] = truncateUnit(rows[i], cfg.CentroidTerms)
	}
	sv := &sparseIVF{}
	sv.setCentroids(cents)
	assign := make([]int32, n)
	acc := make([]float32, dim)
	for round := 0; ; round++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("build sparse-ivf: %w", err)
		}
		sv.indexCentroids(dim)
		sv.assignAll(rows, assign)
		if round == sparseIVFRounds {
			break
		}
		members := groupRows(assign, lists)
		for c := range lists {
			if len(members[c]) == 0 {
				continue // an empty list keeps its centroid
			}
			cents[c] = centroidOf(rows, members[c], acc, cfg.CentroidTerms)
		}
		sv.setCentroids(cents)
	}
	sv.listOff = make([]uint32, lists+1)
	for _, c := range assign {
		sv.listOff[c+1]++
	}
	for c := range lists {
		sv.listOff[c+1] += sv.listOff[c]
	}
	sv.listRow = make([]uint32, n)
	next := append([]uint32(nil), sv.listOff[:lists]...)
	for i, c := range assign {
		sv.listRow[next[c]] = uint32(i)
		next[c]++
	}
	sv.indexRows(rows, dim)
	return sv, nil
}

// setCentroids stores cents in the flat stored layout.
func (sv *sparseIVF) setCentroids(cents []feature.Vector) {
	sv.cOff = append(sv.cOff[:0], 0)
	sv.cIdx, sv.cVal = sv.cIdx[:0], sv.cVal[:0]
	for _, c := range cents {
		sv.cIdx = append(sv.cIdx, c.Idx...)
		sv.cVal = append(sv.cVal, c.Val...)
		sv.cOff = append(sv.cOff, uint32(len(sv.cIdx)))
	}
}

func (sv *sparseIVF) lists() int { return len(sv.cOff) - 1 }

// indexCentroids builds the feature-major centroid index: scoring every
// centroid against a vector is then one pass over its nonzeros. A feature
// that at least a quarter of the centroids keep (common and topic words)
// gets a dense column scored by one vector axpy; the others keep sparse
// postings. Query features of the first kind are few but hit most
// centroids, so the dense columns carry most of the work.
func (sv *sparseIVF) indexCentroids(dim int) {
	lists := sv.lists()
	count := make([]uint32, dim)
	for _, f := range sv.cIdx {
		count[f]++
	}
	sv.ci = make([]centFeat, dim+1)
	var nDense, nSparse uint32
	for f := range dim {
		sv.ci[f].off = nSparse
		if int(count[f])*4 >= lists && count[f] > 0 {
			nDense++
			sv.ci[f].dense = nDense
		} else {
			nSparse += count[f]
		}
	}
	sv.ci[dim].off = nSparse
	sv.ciCent = make([]uint32, nSparse)
	sv.ciVal = make([]float32, nSparse)
	sv.ciDense = make([]float32, int(nDense)*lists)
	next := make([]uint32, dim)
	for f := range dim {
		next[f] = sv.ci[f].off
	}
	for c := range lists {
		for p := sv.cOff[c]; p < sv.cOff[c+1]; p++ {
			f := sv.cIdx[p]
			if d := sv.ci[f].dense; d != 0 {
				sv.ciDense[int(d-1)*lists+c] = sv.cVal[p]
				continue
			}
			sv.ciCent[next[f]] = uint32(c)
			sv.ciVal[next[f]] = sv.cVal[p]
			next[f]++
		}
	}
}

// centFeat is a feature's entry in the centroid index: where its sparse
// centroid postings start, or 1 + its dense column.
type centFeat struct{ off, dense uint32 }

// scoreCentroids writes every centroid's dot product with x into sc.
func (sv *sparseIVF) scoreCentroids(x feature.Vector, sc []float32) {
	clear(sc)
	lists := len(sc)
	dim := uint32(len(sv.ci) - 1)
	impl := blas32.Implementation()
	for k, ix := range x.Idx {
		if ix >= dim {
			continue
		}
		qv := x.Val[k]
		e := sv.ci[ix]
		if e.dense != 0 {
			impl.Saxpy(lists, qv, sv.ciDense[int(e.dense-1)*lists:int(e.dense)*lists], 1, sc, 1)
			continue
		}
		lo, hi := e.off, sv.ci[ix+1].off
		cents, vals := sv.ciCent[lo:hi], sv.ciVal[lo:hi]
		for p, c := range cents {
			sc[c] += qv * vals[p]
		}
	}
}

// assignAll sets assign[i] to the centroid most similar to row i (ties to
// the lower list). Rows are split among the CPUs in fixed chunks; each
// row's answer depends only on the row, so the result does not depend on
// the split.
func (sv *sparseIVF) assignAll(rows []feature.Vector, assign []int32) {
	workers := max(1, min(runtime.GOMAXPROCS(0), len(rows)/1024))
	var wg sync.WaitGroup
	chunk := (len(rows) + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min(len(rows), (w+1)*chunk)
		wg.Go(func() {
			sc := make([]float32, sv.lists())
			for i := lo; i < hi; i++ {
				sv.scoreCentroids(rows[i], sc)
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

func groupRows(assign []int32, lists int) [][]uint32 {
	members := make([][]uint32, lists)
	for i, c := range assign {
		members[c] = append(members[c], uint32(i))
	}
	return members
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
		if v <= 0 {
			continue // a mean below zero cannot help a cosine ranking of tf-idf rows
		}
		t := term{f, v}
		if len(h) < terms {
			heap.Push(&h, t)
		} else if lighter(h[0], t) {
			h[0] = t
			heap.Fix(&h, 0)
		}
	}
	slices.SortFunc(h, func(a, b term) int { return int(a.f) - int(b.f) })
	v := feature.Vector{Idx: make([]uint32, len(h)), Val: make([]float32, len(h))}
	for k, t := range h {
		v.Idx[k], v.Val[k] = t.f, t.v
	}
	normalizeSparse(v.Val)
	return v
}

// truncateUnit is row cut to its terms heaviest features, unit length.
func truncateUnit(row feature.Vector, terms int) feature.Vector {
	h := termHeap{}
	for k, f := range row.Idx {
		if row.Val[k] <= 0 {
			continue
		}
		t := term{f, row.Val[k]}
		if len(h) < terms {
			heap.Push(&h, t)
		} else if lighter(h[0], t) {
			h[0] = t
			heap.Fix(&h, 0)
		}
	}
	slices.SortFunc(h, func(a, b term) int { return int(a.f) - int(b.f) })
	v := feature.Vector{Idx: make([]uint32, len(h)), Val: make([]float32, len(h))}
	for k, t := range h {
		v.Idx[k], v.Val[k] = t.f, t.v
	}
	normalizeSparse(v.Val)
	return v
}

func normalizeSparse(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s > 0 {
		inv := float32(1 / math.Sqrt(s))
		for k := range v {
			v[k] *= inv
		}
	}
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

// indexRows builds the row postings in list order (positions, not rows)
// and the run directories of the long ones.
func (sv *sparseIVF) indexRows(rows []feature.Vector, dim int) {
	off := make([]uint32, dim+1)
	for _, r := range rows {
		for _, f := range r.Idx {
			off[f+1]++
		}
	}
	for f := range dim {
		off[f+1] += off[f]
	}
	total := off[dim]
	sv.post = make([]posting, total)
	next := append([]uint32(nil), off[:dim]...)
	for pos, r := range sv.listRow {
		row := rows[r]
		for k, f := range row.Idx {
			sv.post[next[f]] = posting{uint32(pos), row.Val[k]}
			next[f]++
		}
	}
	lists := sv.lists()
	sv.feat = make([]featPostings, dim+1)
	sv.dir = sv.dir[:0]
	for f := range dim + 1 {
		sv.feat[f].off = off[f]
		if f == dim || int(off[f+1]-off[f]) < lists {
			continue
		}
		sv.feat[f].dir = uint32(len(sv.dir)) + 1
		pos := sv.post[off[f]:off[f+1]]
		p := 0
		for c := range lists {
			for p < len(pos) && pos[p].pos < sv.listOff[c] {
				p++
			}
			sv.dir = append(sv.dir, uint32(p))
		}
		sv.dir = append(sv.dir, uint32(len(pos)))
	}
}

// searchSparseIVF scores the query against every centroid, keeps the Probe
// best lists and scores their rows exactly through the list-ordered
// postings, leaving the K best in s.top. A row's similarity is summed over
// the query's features in ascending order, the order the exact search sums
// in, so it is bit for bit the exact similarity.
//
// The time is cache misses (a query has ~190 features, each with its own
// postings somewhere in hundreds of megabytes), so the work is split into
// passes whose loads do not depend on each other and overlap: first every
// feature's postings bounds, then the runs.
func (m *Model) searchSparseIVF(x feature.Vector, s *scratch) {
	sv := m.sparse
	sc := s.listScores[:sv.lists()]
	sv.scoreCentroids(x, sc)
	probe := &s.probe
	probe.reset()
	for c, v := range sc {
		probe.push(v, uint32(c))
	}
	// Probed lists in ascending order, so a short feature's postings are
	// merged with them in one forward pass; base[i] is list i's offset in
	// rowScores.
	s.cand = s.cand[:0]
	for _, it := range probe.items {
		s.cand = append(s.cand, it.row)
	}
	slices.Sort(s.cand)
	s.base = s.base[:0]
	used := 0
	for _, c := range s.cand {
		s.base = append(s.base, uint32(used))
		used += int(sv.listOff[c+1] - sv.listOff[c])
	}
	rs := s.rowScores[:used]
	clear(rs)
	dim := uint32(len(sv.feat) - 1)
	s.fp = s.fp[:0]
	for _, ix := range x.Idx {
		if ix >= dim {
			ix = dim // no postings
		}
		a, b := sv.feat[ix], sv.feat[min(ix+1, dim)]
		s.fp = append(s.fp, featRun{a.off, b.off, a.dir})
	}
	// The probed lists' runs in the long features' postings, then one
	// load from the start of every run and short postings: independent
	// loads, so their cache misses overlap instead of each stalling the
	// accumulation below.
	s.runs = s.runs[:0]
	for k, fr := range s.fp {
		if fr.dir == 0 {
			continue
		}
		d := sv.dir[fr.dir-1:]
		for i, c := range s.cand {
			if a, b := fr.lo+d[c], fr.lo+d[c+1]; a < b {
				s.runs = append(s.runs, postRun{a, b, uint32(k), uint32(i)})
			}
		}
	}
	var sink uint32
	for _, r := range s.runs {
		sink += sv.post[r.a].pos
	}
	for _, fr := range s.fp {
		if fr.dir == 0 && fr.lo < fr.hi {
			sink += sv.post[fr.lo].pos
		}
	}
	s.sink = sink
	next := 0
	for k, fr := range s.fp {
		if fr.lo == fr.hi {
			continue
		}
		qv := x.Val[k]
		post := sv.post[fr.lo:fr.hi]
		if fr.dir != 0 {
			for ; next < len(s.runs) && s.runs[next].k == uint32(k); next++ {
				r := s.runs[next]
				lo := sv.listOff[s.cand[r.i]]
				dst := rs[s.base[r.i]:]
				for _, p := range sv.post[r.a:r.b] {
					dst[p.pos-lo] += qv * p.val
				}
			}
			continue
		}
		// Fewer postings than lists: one forward merge with the probed
		// lists' position ranges. (A binary search per list was twice as
		// slow: its steps are dependent cache misses, the scan streams.)
		i, lo, hi := 0, sv.listOff[s.cand[0]], sv.listOff[s.cand[0]+1]
		for _, p := range post {
			for p.pos >= hi {
				if i++; i == len(s.cand) {
					break
				}
				lo, hi = sv.listOff[s.cand[i]], sv.listOff[s.cand[i]+1]
			}
			if i == len(s.cand) {
				break
			}
			if p.pos >= lo {
				rs[s.base[i]+p.pos-lo] += qv * p.val
			}
		}
	}
	for i, c := range s.cand {
		lo, hi := sv.listOff[c], sv.listOff[c+1]
		local := rs[s.base[i] : int(s.base[i])+int(hi-lo)]
		for q, v := range local {
			if v != 0 {
				s.top.push(v, sv.listRow[int(lo)+q])
			}
		}
	}
}

// featRun is a query feature's postings bounds and directory.
type featRun struct{ lo, hi, dir uint32 }

// postRun is the run [a, b) of query feature k's postings that falls in
// probed list i.
type postRun struct{ a, b, k, i uint32 }
