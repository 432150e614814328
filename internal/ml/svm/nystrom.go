package svm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/mat"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// The Nystrom kernel gives the linear machine an RBF kernel's locality
// through m landmark rows L: phi(x) = K_LL^{-1/2} k(x, L), where k is
// exp(-gamma ||x-l||^2) over the model's input columns (on L2-normalised
// tf-idf rows, exp(-2 gamma (1 - cos))). Unlike random Fourier features,
// which project sparse rows through a dense Gaussian matrix and come out
// noisy, k(x, L) is exact: only the K_LL^{-1/2} step approximates. Serving
// folds K_LL^{-1/2} into the weights (w' = K^{-1/2} w, K symmetric), so a
// decision is the sparse dot products with the landmarks, m exps and one
// m-long dot product per candidate; K_LL is never stored. On dcrouter it
// routes better than the linear machine and RouterBench worse; see
// bench/notes/ml-svm.md.

// defaultLandmarks is the landmark count of a nystrom machine when unset.
const defaultLandmarks = 512

// maxLandmarks bounds the landmark count: K_LL's eigendecomposition is
// cubic in it and every decision pays m exps.
const maxLandmarks = 4096

// eigenFloor drops eigenvalues of K_LL below this share of the largest:
// near-duplicate landmarks make K_LL nearly singular, and 1/sqrt of a tiny
// eigenvalue would blow noise up into a feature.
const eigenFloor = 1e-6

// pickLandmarks draws up to cfg.Landmarks distinct non-empty training rows,
// mapped to input columns, in the seed's order, and stores them row-major
// in lmPtr, lmCol and lmVal (what the codec writes).
func (m *Model) pickLandmarks(samples []sample) error {
	rng := rand.New(rand.NewPCG(uint64(m.cfg.Seed), 0x6e7973))
	seen := map[string]bool{}
	m.lmPtr = []uint32{0}
	m.lmCol, m.lmVal = nil, nil
	for _, i := range rng.Perm(len(samples)) {
		s := samples[i]
		if len(s.idx) == 0 {
			continue
		}
		key := fmt.Sprint(s.idx, s.val)
		if seen[key] {
			continue
		}
		seen[key] = true
		for k, c := range s.idx {
			m.lmCol = append(m.lmCol, uint32(c))
			m.lmVal = append(m.lmVal, s.val[k])
		}
		m.lmPtr = append(m.lmPtr, uint32(len(m.lmCol)))
		if len(m.lmPtr)-1 == m.cfg.Landmarks {
			break
		}
	}
	if len(m.lmPtr) < 2 {
		return fmt.Errorf("nystrom: no training row has a feature to use as a landmark")
	}
	return nil
}

// initLandmarks builds the serving layout from the stored landmarks, per
// input column (feature-major, so a sparse input visits only the landmarks
// it shares a column with): a column most landmarks use (a common word) as
// one dense row over all landmarks, added with one vector axpy; a rarer
// column as a list of the landmarks that use it. It also sets each
// landmark's squared norm.
func (m *Model) initLandmarks() {
	nl := len(m.lmPtr) - 1
	m.nLm = nl
	count := make([]int32, len(m.cols))
	for _, c := range m.lmCol {
		count[c]++
	}
	m.lmDenseOf = make([]int32, len(m.cols))
	m.lmStart = make([]int32, len(m.cols)+1)
	nDense := int32(0)
	for c, n := range count {
		m.lmDenseOf[c] = -1
		if int(n)*denseShare >= nl {
			m.lmDenseOf[c] = nDense
			nDense++
			n = 0
		}
		m.lmStart[c+1] = m.lmStart[c] + n
	}
	m.lmDense = make([]float32, int(nDense)*nl)
	m.lmRow = make([]int32, m.lmStart[len(m.cols)])
	m.lmColVal = make([]float32, len(m.lmRow))
	next := slices.Clone(m.lmStart[:len(m.cols)])
	m.lmSq = make([]float32, nl)
	for l := range nl {
		for p := m.lmPtr[l]; p < m.lmPtr[l+1]; p++ {
			c, v := m.lmCol[p], m.lmVal[p]
			m.lmSq[l] += v * v
			if d := m.lmDenseOf[c]; d >= 0 {
				m.lmDense[int(d)*nl+l] = v
				continue
			}
			m.lmRow[next[c]] = int32(l)
			m.lmColVal[next[c]] = v
			next[c]++
		}
	}
	m.kOff = 0
	if m.cfg.AddLinear {
		m.kOff = len(m.cols)
	}
	m.nIn = m.kOff + nl
	m.initKernelWeights()
}

// denseShare: a column used by at least 1/denseShare of the landmarks is
// laid out dense. A dense row costs nLm multiply-adds in SIMD, a list entry
// one scattered multiply-add, several times slower each; at 1/8 the dense
// rows stay within 8 times the landmarks' own size.
const denseShare = 8

// initKernelWeights lays the kernel weights out candidate-major (wk), so a
// decision is one contiguous dot product per candidate rather than a
// matrix-vector product over rows as narrow as the candidate count. Train
// calls it again once the weights are fitted.
func (m *Model) initKernelWeights() {
	nc := m.nCand
	if len(m.w) != (m.nIn+1)*nc {
		return // training: the weights come later
	}
	m.wk = make([]float32, nc*m.nLm)
	for l := range m.nLm {
		for j := range nc {
			m.wk[j*m.nLm+l] = m.w[(m.kOff+l)*nc+j]
		}
	}
}

// addLandmarkDots adds v times column c's landmark values to k.
func (m *Model) addLandmarkDots(c int, v float32, k []float32) {
	if d := m.lmDenseOf[c]; d >= 0 {
		blas32.Implementation().Saxpy(m.nLm, v, m.lmDense[int(d)*m.nLm:], 1, k, 1)
		return
	}
	for p := m.lmStart[c]; p < m.lmStart[c+1]; p++ {
		k[m.lmRow[p]] += v * m.lmColVal[p]
	}
}

// kernelFromDots turns the dot products k[l] = x.l into exp(-gamma
// ||x-l||^2), with xsq the input's squared norm. Training and serving both
// come through here, so the features a machine was trained on are the ones
// it is served.
func (m *Model) kernelFromDots(xsq float32, k []float32) {
	g := -m.cfg.Gamma
	for l, d := range k {
		dist := max(float64(xsq+m.lmSq[l]-2*d), 0)
		k[l] = expNeg(g * dist)
	}
}

// expNeg is exp(x) for x <= 0 to float32 precision (relative error below
// 2e-7) in about a third of math.Exp's time here: a decision takes one per
// landmark. With t = -x = j/64 + r (0 <= r < 1/64), exp(-t) is a product of
// two table entries, exp(-floor(j/64)) and exp(-(j mod 64)/64), and a cubic
// for exp(-r), whose error (r^4/24 < 2e-9) is far below float32's.
func expNeg(x float64) float32 {
	t := -x
	if !(t < 87) {
		return 0 // below float32's normal range (or NaN)
	}
	s := t * 64
	j := int(s)
	r := (s - float64(j)) / 64
	p := 1 - r*(1-r*(0.5-r*(1.0/6)))
	return float32(expWhole[j>>6] * expSixtyFourths[j&63] * p)
}

// expWhole[i] = exp(-i) and expSixtyFourths[i] = exp(-i/64), expNeg's
// tables.
var expWhole, expSixtyFourths = func() (w [88]float64, f [64]float64) {
	for i := range w {
		w[i] = math.Exp(-float64(i))
	}
	for i := range f {
		f[i] = math.Exp(-float64(i) / 64)
	}
	return w, f
}()

// kernelSample writes k(s, L) for a mapped training row into k.
func (m *Model) kernelSample(s sample, k []float32) {
	clear(k)
	var xsq float32
	for q, c := range s.idx {
		v := s.val[q]
		xsq += v * v
		m.addLandmarkDots(int(c), v, k)
	}
	m.kernelFromDots(xsq, k)
}

// nystromDecision adds the margins of input x to f (which holds the bias):
// the linear rows if configured, then the folded kernel weights times
// k(x, L). k is scratch of at least nLm floats.
func (m *Model) nystromDecision(x feature.Vector, k, f []float32) {
	impl := blas32.Implementation()
	k = k[:m.nLm]
	clear(k)
	nc := m.nCand
	var xsq float32
	for q, ft := range x.Idx {
		c := m.col(ft)
		if c < 0 {
			continue
		}
		v := x.Val[q]
		xsq += v * v
		if m.cfg.AddLinear {
			impl.Saxpy(nc, v, m.w[c*nc:], 1, f, 1)
		}
		m.addLandmarkDots(c, v, k)
	}
	m.kernelFromDots(xsq, k)
	for j := range f[:nc] {
		f[j] += impl.Sdot(m.nLm, m.wk[j*m.nLm:], 1, k, 1)
	}
}

// nystromSamples picks the landmarks, then maps each training row to its
// linear columns (if configured) followed by phi(x) = K_LL^{-1/2} k(x, L).
// It returns the mapped rows and K_LL^{-1/2}, which folds the trained
// weights back onto k(x, L).
func (m *Model) nystromSamples(ctx context.Context, linear []sample) ([]sample, *mat.Dense, error) {
	if err := m.pickLandmarks(linear); err != nil {
		return nil, nil, err
	}
	m.initLandmarks()
	nl := m.nLm
	kbuf := make([]float32, nl)
	kll := mat.NewSymDense(nl, nil)
	for l := range nl {
		s := sample{idx: make([]int32, 0, m.lmPtr[l+1]-m.lmPtr[l]), val: m.lmVal[m.lmPtr[l]:m.lmPtr[l+1]]}
		for _, c := range m.lmCol[m.lmPtr[l]:m.lmPtr[l+1]] {
			s.idx = append(s.idx, int32(c))
		}
		m.kernelSample(s, kbuf)
		for q := l; q < nl; q++ {
			kll.SetSym(l, q, float64(kbuf[q]))
		}
	}
	var es mat.EigenSym
	if !es.Factorize(kll, true) {
		return nil, nil, fmt.Errorf("nystrom: eigendecomposition of the %d landmarks' kernel failed", nl)
	}
	vals := es.Values(nil)
	var u mat.Dense
	es.VectorsTo(&u)
	top := slices.Max(vals)
	scaled := mat.NewDense(nl, nl, nil)
	for d, s := range vals {
		if s <= eigenFloor*top {
			continue // this direction is dropped: its column stays zero
		}
		inv := 1 / math.Sqrt(s)
		for l := range nl {
			scaled.Set(l, d, u.At(l, d)*inv)
		}
	}
	var t mat.Dense // K^{-1/2} = U diag(s^-1/2) U^T
	t.Mul(scaled, u.T())
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("svm: %w", err)
	}
	kx := mat.NewDense(len(linear), nl, nil)
	for i, s := range linear {
		m.kernelSample(s, kbuf)
		row := kx.RawRowView(i)
		for l, v := range kbuf {
			row[l] = float64(v)
		}
	}
	var phi mat.Dense
	phi.Mul(kx, &t)
	out := make([]sample, len(linear))
	for i, s := range linear {
		var o sample
		if m.cfg.AddLinear {
			o.idx = slices.Grow(slices.Clone(s.idx), nl)
			o.val = slices.Grow(slices.Clone(s.val), nl)
		}
		for l, v := range phi.RawRowView(i) {
			o.idx = append(o.idx, int32(m.kOff+l))
			o.val = append(o.val, float32(v))
		}
		o.sq = 1
		for _, v := range o.val {
			o.sq += float64(v) * float64(v)
		}
		out[i] = o
	}
	return out, &t, nil
}
