package knn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// ivf is the approximate index: rows projected to pdim dimensions, grouped
// by their nearest centroid.
type ivf struct {
	pdim      int
	seed      uint64
	centroids []float32 // lists*pdim, unit length
	listOff   []uint32  // rows of list c: listRow[listOff[c]:listOff[c+1]]
	listRow   []uint32
	listVec   []float32 // projections in list order, len(listRow)*pdim
}

// splitmix64 is the hash behind the projection: feature f's signs in block b
// are the bits of splitmix64(seed ^ f*blocks + b). It needs no stored matrix,
// so the projection of a 2^18-wide tf-idf vector costs one hash and pdim
// additions per nonzero.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// signTab[b] holds the signs (+1 for a set bit, -1 for a clear one) of the
// byte b's eight bits, low bit first: the projection adds val*sign for each
// of a hash's 64 bits a byte at a time, one load and one multiply-add per
// bit instead of shifting, masking and converting it (8 KiB, stays in L1).
var signTab = func() (tab [256][8]float32) {
	for b := range tab {
		for bit := range tab[b] {
			tab[b][bit] = float32(int32((b>>bit)&1)*2 - 1)
		}
	}
	return tab
}()

// project writes the unit-length random-sign projection of v into dst.
func (iv *ivf) project(v feature.Vector, dst []float32) {
	clear(dst)
	blocks := uint64(iv.pdim / 64)
	for k, ix := range v.Idx {
		val := v.Val[k]
		for b := uint64(0); b < blocks; b++ {
			h := splitmix64(iv.seed ^ (uint64(ix)*blocks + b))
			d := dst[b*64 : b*64+64]
			for byt := 0; byt < 8; byt++ {
				sg := &signTab[uint8(h>>(8*byt))]
				o := d[8*byt : 8*byt+8]
				o[0] += val * sg[0]
				o[1] += val * sg[1]
				o[2] += val * sg[2]
				o[3] += val * sg[3]
				o[4] += val * sg[4]
				o[5] += val * sg[5]
				o[6] += val * sg[6]
				o[7] += val * sg[7]
			}
		}
	}
	normalize(dst)
}

func normalize(v []float32) {
	n := blas32.Implementation().Snrm2(len(v), v, 1)
	if n > 0 {
		blas32.Implementation().Sscal(len(v), 1/n, v, 1)
	}
}

// buildIVF projects the rows and clusters them with spherical k-means
// (cosine assignment, mean-then-normalise update), seeded from distinct
// random rows, for a fixed number of rounds.
func buildIVF(ctx context.Context, cfg Config, rows []feature.Vector) (*ivf, error) {
	const rounds = 8
	iv := &ivf{pdim: cfg.ProjDim, seed: uint64(cfg.Seed)*0x9e3779b97f4a7c15 + 1}
	n, pd, lists := len(rows), cfg.ProjDim, cfg.Lists
	proj := make([]float32, n*pd)
	for i, r := range rows {
		iv.project(r, proj[i*pd:(i+1)*pd])
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6b6e6e))
	iv.centroids = make([]float32, lists*pd)
	for c, i := range rng.Perm(n)[:lists] {
		copy(iv.centroids[c*pd:], proj[i*pd:(i+1)*pd])
	}
	assign := make([]int32, n)
	impl := blas32.Implementation()
	for round := 0; round < rounds; round++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("build ivf: %w", err)
		}
		for i := 0; i < n; i++ {
			assign[i] = int32(nearest(iv.centroids, proj[i*pd:(i+1)*pd], pd))
		}
		sums := make([]float32, lists*pd)
		counts := make([]int, lists)
		for i, c := range assign {
			impl.Saxpy(pd, 1, proj[i*pd:], 1, sums[int(c)*pd:], 1)
			counts[c]++
		}
		for c := 0; c < lists; c++ {
			if counts[c] == 0 {
				continue // keep the old centroid for an empty list
			}
			copy(iv.centroids[c*pd:(c+1)*pd], sums[c*pd:(c+1)*pd])
			normalize(iv.centroids[c*pd : (c+1)*pd])
		}
	}
	for i := 0; i < n; i++ {
		assign[i] = int32(nearest(iv.centroids, proj[i*pd:(i+1)*pd], pd))
	}
	iv.listOff = make([]uint32, lists+1)
	for _, c := range assign {
		iv.listOff[c+1]++
	}
	for c := 0; c < lists; c++ {
		iv.listOff[c+1] += iv.listOff[c]
	}
	iv.listRow = make([]uint32, n)
	next := append([]uint32(nil), iv.listOff[:lists]...)
	for i, c := range assign {
		iv.listRow[next[c]] = uint32(i)
		next[c]++
	}
	iv.fillVectors(rows)
	return iv, nil
}

// fillVectors lays the rows' projections out in list order, so a probe reads
// one contiguous block. It is recomputed on load rather than stored.
func (iv *ivf) fillVectors(rows []feature.Vector) {
	pd := iv.pdim
	iv.listVec = make([]float32, len(iv.listRow)*pd)
	for p, r := range iv.listRow {
		iv.project(rows[r], iv.listVec[p*pd:(p+1)*pd])
	}
}

func nearest(centroids, v []float32, pd int) int {
	impl := blas32.Implementation()
	best, bestSim := 0, float32(math.Inf(-1))
	for c := 0; c*pd < len(centroids); c++ {
		if s := impl.Sdot(pd, centroids[c*pd:], 1, v, 1); s > bestSim {
			best, bestSim = c, s
		}
	}
	return best
}

// searchIVF finds the Probe nearest lists in the projection, keeps the
// Rerank rows most similar in the projection, re-scores those by exact cosine
// and leaves the K best in s.top.
func (m *Model) searchIVF(x feature.Vector, s *scratch) {
	iv, pd := m.ivf, m.ivf.pdim
	impl := blas32.Implementation()
	iv.project(x, s.proj)
	lists := len(iv.listOff) - 1
	// Score every centroid with one matrix-vector product, then keep the
	// Probe best with a small top-k.
	sc := s.listScores[:lists]
	impl.Sgemv(blas.NoTrans, lists, pd, 1, iv.centroids, pd, s.proj, 1, 0, sc, 1)
	probe := &s.probe
	probe.reset()
	for c, v := range sc {
		probe.push(v, uint32(c))
	}
	for _, p := range probe.items {
		lo, hi := int(iv.listOff[p.row]), int(iv.listOff[p.row+1])
		if hi == lo {
			continue
		}
		rs := s.rowScores[:hi-lo]
		impl.Sgemv(blas.NoTrans, hi-lo, pd, 1, iv.listVec[lo*pd:hi*pd], pd, s.proj, 1, 0, rs, 1)
		for q, v := range rs {
			s.top.push(v, iv.listRow[lo+q])
		}
	}
	// Exact re-ranking of the short list. The query's values are
	// scattered into a dense array over the feature space, and its features
	// marked in a bitset (32 KiB for 2^18 features, so it stays in L1): each
	// row feature costs one bit test, and only shared features read the
	// dense array. A sorted merge was five times slower, its three-way
	// branch mispredicting on every step, and a binary search per shared
	// feature took half of a decision.
	s.cand = s.cand[:0]
	for _, it := range s.top.items {
		s.cand = append(s.cand, it.row)
	}
	for k, ix := range x.Idx {
		if int(ix) < m.dim {
			s.bits[ix>>6] |= 1 << (ix & 63)
			s.qval[ix] = x.Val[k]
		}
	}
	s.top.reset()
	s.top.k = m.cfg.K
	for _, r := range s.cand {
		row := m.rows[r]
		val := row.Val[:len(row.Idx)]
		var dot float32
		for k, ix := range row.Idx {
			if s.bits[ix>>6]&(1<<(ix&63)) != 0 {
				dot += s.qval[ix] * val[k]
			}
		}
		s.top.push(dot, r)
	}
	s.top.k = m.cfg.Rerank
	for _, ix := range x.Idx {
		if int(ix) < m.dim {
			s.bits[ix>>6] = 0
			s.qval[ix] = 0
		}
	}
}
