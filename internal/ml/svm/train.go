package svm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"

	"golang.org/x/sync/errgroup"
	"gonum.org/v1/gonum/mat"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// sample is one mapped training row: sparse columns or dense rff features;
// the bias input (1) is implicit.
type sample struct {
	idx []int32
	val []float32
	sq  float64 // squared norm including the bias
}

// Train fits one calibrated machine per candidate. x are feature vectors of
// dimension dim, y the rows x candidates quality matrix (NaN = missing: the
// row is left out of that candidate's machine), w the per-row weights (nil =
// 1), which scale each row's C.
func Train(ctx context.Context, cfg Config, x []feature.Vector, dim int, y [][]float64, w []float64) (*Model, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("svm: %w", err)
	}
	nCand, cols, err := feature.TrainingRows(x, dim, y, w, cfg.MinDF)
	if err != nil {
		return nil, fmt.Errorf("svm: %w", err)
	}
	m := &Model{cfg: cfg, dim: dim, nCand: nCand, cols: cols}
	m.init()
	samples := make([]sample, len(x))
	for i, r := range x {
		samples[i] = m.mapSample(r)
	}
	var fold *mat.Dense // nystrom: K_LL^{-1/2}, folded into the kernel weights
	if cfg.Kernel == KernelNystrom {
		if samples, fold, err = m.nystromSamples(ctx, samples); err != nil {
			return nil, fmt.Errorf("svm: %w", err)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x73766d))
	perm := rng.Perm(len(x))
	nCal := max(1, int(math.Round(cfg.CalibFrac*float64(len(x)))))
	isCal := make([]bool, len(x))
	for _, i := range perm[:nCal] {
		isCal[i] = true
	}
	m.w = make([]float32, (m.nIn+1)*nCand)
	m.a = make([]float64, nCand)
	m.b = make([]float64, nCand)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for j := 0; j < nCand; j++ {
		g.Go(func() error {
			return m.fitCandidate(gctx, j, samples, y, w, isCal, fold)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if cfg.Kernel == KernelNystrom {
		m.initKernelWeights()
	}
	return m, nil
}

func (m *Model) mapSample(r feature.Vector) sample {
	var s sample
	if m.cfg.Kernel == KernelRFF {
		z := make([]float32, m.nIn)
		m.rff(r, z)
		s.idx = make([]int32, m.nIn)
		for d := range s.idx {
			s.idx[d] = int32(d)
		}
		s.val = z
	} else {
		for k, f := range r.Idx {
			if c := m.col(f); c >= 0 {
				s.idx = append(s.idx, int32(c))
				s.val = append(s.val, r.Val[k])
			}
		}
	}
	s.sq = 1
	for _, v := range s.val {
		s.sq += float64(v) * float64(v)
	}
	return s
}

// fitCandidate trains candidate j's machine on the non-calibration rows,
// fits Platt scaling on the calibration rows' margins, then refits the
// machine on all rows and keeps the scaling. A non-nil fold (K_LL^{-1/2})
// maps the weights of the nystrom features onto the landmark kernel values.
func (m *Model) fitCandidate(ctx context.Context, j int, samples []sample, y [][]float64, w []float64, isCal []bool, fold *mat.Dense) error {
	var fitRows, calRows, allRows []int
	for i := range samples {
		if math.IsNaN(y[i][j]) || (w != nil && w[i] == 0) {
			continue
		}
		allRows = append(allRows, i)
		if isCal[i] {
			calRows = append(calRows, i)
		} else {
			fitRows = append(fitRows, i)
		}
	}
	weight := func(i int) float64 {
		if w == nil {
			return 1
		}
		return w[i]
	}
	if len(allRows) == 0 {
		// Nothing known: a flat 0.5.
		m.a[j], m.b[j] = 0, 0
		return nil
	}
	seed := uint64(m.cfg.Seed) + uint64(j)*0x9e3779b97f4a7c15
	if len(fitRows) > 0 && len(calRows) > 0 {
		wv, err := m.dcd(ctx, fitRows, samples, y, j, weight, seed)
		if err != nil {
			return err
		}
		f := make([]float64, len(calRows))
		t := make([]float64, len(calRows))
		cw := make([]float64, len(calRows))
		for k, i := range calRows {
			f[k] = margin(wv, samples[i])
			t[k] = y[i][j]
			cw[k] = weight(i)
		}
		m.a[j], m.b[j] = platt(f, t, cw)
	} else {
		m.a[j], m.b[j] = -1, 0
	}
	wv, err := m.dcd(ctx, allRows, samples, y, j, weight, seed+1)
	if err != nil {
		return err
	}
	if fold != nil {
		// w.phi(x) = w.(T k) = (T w).k, T symmetric.
		kw := mat.NewVecDense(m.nLm, wv[m.kOff:m.kOff+m.nLm])
		kw.MulVec(fold, mat.VecDenseCopyOf(kw))
	}
	nc := m.nCand
	for c, v := range wv {
		m.w[c*nc+j] = float32(v)
	}
	return nil
}

func margin(wv []float64, s sample) float64 {
	f := wv[len(wv)-1]
	for k, c := range s.idx {
		f += wv[c] * float64(s.val[k])
	}
	return f
}

// dcd is dual coordinate descent for the L2-regularised squared-hinge SVM
// (Hsieh et al. 2008): per row a closed-form update of its dual variable,
// with D_ii = 1/(2*C_i) and C_i = C * weight. It returns nIn weights then the
// bias (the bias is an extra input fixed at 1).
func (m *Model) dcd(ctx context.Context, rows []int, samples []sample, y [][]float64, j int, weight func(int) float64, seed uint64) ([]float64, error) {
	wv := make([]float64, m.nIn+1)
	alpha := make([]float64, len(rows))
	lab := make([]float64, len(rows))
	diag := make([]float64, len(rows))
	for k, i := range rows {
		lab[k] = -1
		if y[i][j] >= 0.5 {
			lab[k] = 1
		}
		diag[k] = 1 / (2 * m.cfg.C * weight(i))
	}
	order := make([]int, len(rows))
	for k := range order {
		order[k] = k
	}
	rng := rand.New(rand.NewPCG(seed, 0x646364))
	for iter := 0; iter < m.cfg.MaxIter; iter++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("svm: %w", err)
		}
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		pgMax, pgMin := math.Inf(-1), math.Inf(1)
		for _, k := range order {
			s := samples[rows[k]]
			g := lab[k]*margin(wv, s) - 1 + diag[k]*alpha[k]
			pg := g
			if alpha[k] == 0 {
				pg = min(g, 0)
			}
			pgMax, pgMin = max(pgMax, pg), min(pgMin, pg)
			if math.Abs(pg) < 1e-12 {
				continue
			}
			old := alpha[k]
			alpha[k] = max(old-g/(s.sq+diag[k]), 0)
			d := (alpha[k] - old) * lab[k]
			for q, c := range s.idx {
				wv[c] += d * float64(s.val[q])
			}
			wv[m.nIn] += d
		}
		if pgMax-pgMin < m.cfg.Tol {
			break
		}
	}
	return wv, nil
}

// platt fits p = 1/(1+exp(a*f+b)) to soft targets t with weights cw by
// Newton's method with backtracking (Lin, Lin and Weng's stable variant).
// Targets are pulled in from 0 and 1 by 1/(n+2) as Platt recommends, so a
// perfectly separated calibration set does not drive a to infinity.
func platt(f, t, cw []float64) (float64, float64) {
	eps := 1 / float64(len(f)+2)
	tt := make([]float64, len(t))
	var pos, tot float64
	for i, v := range t {
		tt[i] = v*(1-2*eps) + eps
		pos += cw[i] * v
		tot += cw[i]
	}
	a := 0.0
	b := math.Log((tot - pos + 1) / (pos + 1))
	obj := func(a, b float64) float64 {
		var s float64
		for i := range f {
			z := a*f[i] + b
			// -t log p - (1-t) log(1-p) with p = 1/(1+e^z), computed stably.
			if z >= 0 {
				s += cw[i] * (tt[i]*z + math.Log1p(math.Exp(-z)))
			} else {
				s += cw[i] * ((tt[i]-1)*z + math.Log1p(math.Exp(z)))
			}
		}
		return s
	}
	cur := obj(a, b)
	for it := 0; it < 100; it++ {
		var g1, g2, h11, h22, h21 float64
		h11, h22 = 1e-12, 1e-12
		for i := range f {
			z := a*f[i] + b
			p := 1 / (1 + math.Exp(z))
			d1 := cw[i] * (tt[i] - p)
			d2 := cw[i] * p * (1 - p)
			g1 += f[i] * d1
			g2 += d1
			h11 += f[i] * f[i] * d2
			h22 += d2
			h21 += f[i] * d2
		}
		if math.Abs(g1) < 1e-7 && math.Abs(g2) < 1e-7 {
			break
		}
		det := h11*h22 - h21*h21
		da := -(h22*g1 - h21*g2) / det
		db := -(-h21*g1 + h11*g2) / det
		step := 1.0
		for step > 1e-10 {
			na, nb := a+step*da, b+step*db
			if v := obj(na, nb); v < cur+1e-4*step*(g1*da+g2*db) {
				a, b, cur = na, nb, v
				break
			}
			step /= 2
		}
		if step <= 1e-10 {
			break
		}
	}
	return a, b
}
