// Package svm predicts every candidate's quality with one linear support
// vector machine per candidate, optionally on random Fourier features or
// Nystrom landmark features to approximate an RBF kernel.
//
// Each machine is a binary classifier of "this candidate answers well"
// (quality >= 0.5) trained with the squared hinge loss by dual coordinate
// descent (the liblinear L2-loss solver): the loss is differentiable, so the
// solver converges in a few passes, and sample weights enter as per-row C.
// We chose classification over epsilon-insensitive regression because the
// public routing labels are mostly 0/1, where a margin is the natural target
// and regression would spend its capacity on fitting exact zeros and ones.
// Raw margins do not compare across candidates, so each machine is
// calibrated with Platt scaling against the soft quality on a held-out part
// of the training rows: its output estimates the candidate's expected
// quality, which is what the router trades against cost.
package svm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// Kernel kinds.
const (
	KernelLinear  = "linear"
	KernelRFF     = "rff"
	KernelNystrom = "nystrom"
)

// Config holds the SVM hyper-parameters; zero values take the defaults noted.
type Config struct {
	// C is the inverse regularisation strength (default 1).
	C float64 `yaml:"c" json:"c"`
	// Kernel is "linear" (default), "rff" (random Fourier features for an
	// RBF kernel exp(-gamma*||x-y||^2)) or "nystrom" (the same RBF kernel
	// through its exact values at landmark training rows; see nystrom.go).
	Kernel string `yaml:"kernel" json:"kernel"`
	// RFFDim is the number of random features (default 512).
	RFFDim int `yaml:"rff_dim" json:"rff_dim"`
	// Gamma is the RBF width (default 1).
	Gamma float64 `yaml:"gamma" json:"gamma"`
	// Landmarks is the number of training rows a nystrom machine compares
	// each input with (default 512, at most 4096; fewer when the training
	// rows have fewer distinct ones). Nystrom only.
	Landmarks int `yaml:"landmarks" json:"landmarks"`
	// AddLinear feeds the linear input beside the nystrom kernel features,
	// so one machine has both the global word weights and the locality.
	// Nystrom only.
	AddLinear bool `yaml:"add_linear" json:"add_linear"`
	// MaxIter caps the passes of the dual solver (default 100).
	MaxIter int `yaml:"max_iter" json:"max_iter"`
	// Tol stops the solver when the projected gradient spread is below it
	// (default 0.1, liblinear's).
	Tol float64 `yaml:"tol" json:"tol"`
	// CalibFrac is the share of rows held out to fit the Platt scaling
	// (default 0.2).
	CalibFrac float64 `yaml:"calib_frac" json:"calib_frac"`
	// MinDF drops input features seen in fewer training rows (default 1).
	MinDF int `yaml:"min_df" json:"min_df"`
	// Seed drives the solver order, the calibration split and the Fourier
	// features.
	Seed int64 `yaml:"seed" json:"seed"`
}

// Validate checks the configuration without data, so a training config
// with a bad svm section can fail before any featurizing (Train checks it
// again).
func (c Config) Validate() error {
	if _, err := c.withDefaults(); err != nil {
		return fmt.Errorf("svm: %w", err)
	}
	return nil
}

func (c Config) withDefaults() (Config, error) {
	if c.C == 0 {
		c.C = 1
	}
	if c.Kernel == "" {
		c.Kernel = KernelLinear
	}
	if c.Kernel == KernelNystrom && c.Landmarks == 0 {
		c.Landmarks = defaultLandmarks
	}
	if c.RFFDim == 0 {
		c.RFFDim = 512
	}
	if c.Gamma == 0 {
		c.Gamma = 1
	}
	if c.MaxIter == 0 {
		c.MaxIter = 100
	}
	if c.Tol == 0 {
		c.Tol = 0.1
	}
	if c.CalibFrac == 0 {
		c.CalibFrac = 0.2
	}
	if c.MinDF == 0 {
		c.MinDF = 1
	}
	switch {
	case !(c.C > 0) || math.IsInf(c.C, 0):
		return c, fmt.Errorf("c %v: must be > 0", c.C)
	case c.Kernel != KernelLinear && c.Kernel != KernelRFF && c.Kernel != KernelNystrom:
		return c, fmt.Errorf("kernel %q: want %q, %q or %q", c.Kernel, KernelLinear, KernelRFF, KernelNystrom)
	case c.Kernel != KernelNystrom && (c.Landmarks != 0 || c.AddLinear):
		return c, fmt.Errorf("landmarks and add_linear apply to kernel %q only (kernel is %q)", KernelNystrom, c.Kernel)
	case c.Kernel == KernelNystrom && (c.Landmarks < 1 || c.Landmarks > maxLandmarks):
		return c, fmt.Errorf("landmarks %d: must be in [1, %d]", c.Landmarks, maxLandmarks)
	case c.RFFDim < 1 || c.RFFDim > 1<<14:
		return c, fmt.Errorf("rff_dim %d: must be in [1, 16384]", c.RFFDim)
	case !(c.Gamma > 0) || c.MaxIter < 1 || !(c.Tol > 0):
		return c, errors.New("gamma and tol must be > 0, max_iter >= 1")
	case !(c.CalibFrac > 0 && c.CalibFrac < 0.5):
		return c, fmt.Errorf("calib_frac %v: must be in (0, 0.5)", c.CalibFrac)
	case c.MinDF < 1:
		return c, errors.New("min_df must be >= 1")
	}
	return c, nil
}

// Model is one calibrated machine per candidate over a shared input map.
// Immutable after Train or Unmarshal; Predict is safe for concurrent use.
type Model struct {
	cfg     Config
	dim     int
	nCand   int
	cols    []uint32        // feature index of each input column, ascending
	index   feature.Columns // feature -> column (built, not stored)
	indexed bool            // index is built (dim small enough), else binary search
	omega   []float32       // rff: cols x RFFDim Gaussian projection (built from Seed)
	phase   []float32       // rff: RFFDim phases in [0, 2pi)
	nIn     int             // width of the mapped input: len(cols), RFFDim, or kOff + nLm
	// Nystrom landmarks, stored row-major over input columns: landmark l
	// uses lmCol[lmPtr[l]:lmPtr[l+1]] with values lmVal at the same places.
	lmPtr, lmCol []uint32
	lmVal        []float32
	// Built from the landmarks: column c's values over all landmarks are
	// dense row lmDenseOf[c] of lmDense if it has one (>= 0), else its
	// landmarks are lmRow[lmStart[c]:lmStart[c+1]] with values lmColVal;
	// lmSq are the landmarks' squared norms.
	lmDenseOf, lmStart, lmRow []int32
	lmDense, lmColVal, lmSq   []float32
	nLm, kOff                 int       // landmark count; first kernel input (len(cols) with add_linear, else 0)
	wk                        []float32 // kernel weights candidate-major: nCand x nLm (built from w)
	// w holds per candidate nIn weights then the bias: nCand x (nIn+1),
	// row-major by input so a sparse input adds whole rows (one axpy each).
	w    []float32
	a, b []float64 // Platt parameters: p = 1/(1+exp(a*f+b))
	pool sync.Pool
}

// Candidates is the number of machines.
func (m *Model) Candidates() int { return m.nCand }

func (m *Model) init() {
	// The rank index costs dim/4 bytes; past 2^26 buckets a binary search
	// over cols is the lighter choice.
	m.indexed = false
	if m.dim <= maxIndexedDim {
		ix, err := feature.NewColumns(m.cols, m.dim)
		m.index, m.indexed = ix, err == nil
	}
	m.nIn = len(m.cols)
	m.omega, m.phase = nil, nil
	if m.cfg.Kernel == KernelNystrom && len(m.lmPtr) > 1 {
		m.initLandmarks() // Train picks the landmarks after init
	}
	if m.cfg.Kernel == KernelRFF {
		m.nIn = m.cfg.RFFDim
		// Omega ~ N(0, 2*gamma) makes cos features approximate the RBF
		// kernel. It is drawn from Seed and the column list, never stored.
		rng := rand.New(rand.NewPCG(uint64(m.cfg.Seed), 0x727666))
		sd := math.Sqrt(2 * m.cfg.Gamma)
		m.omega = make([]float32, len(m.cols)*m.nIn)
		for i := range m.omega {
			m.omega[i] = float32(rng.NormFloat64() * sd)
		}
		m.phase = make([]float32, m.nIn)
		for i := range m.phase {
			m.phase[i] = float32(rng.Float64() * 2 * math.Pi)
		}
	}
	m.pool.New = func() any {
		s := make([]float32, m.nIn+m.nCand)
		return &s
	}
}

// maxIndexedDim is the largest dim given a rank index over its columns.
const maxIndexedDim = 1 << 26

func (m *Model) col(f uint32) int {
	if m.indexed {
		return m.index.Col(f)
	}
	if c, ok := slices.BinarySearch(m.cols, f); ok {
		return c
	}
	return -1
}

// rff writes the random Fourier features of x into z:
// sqrt(2/D) * cos(omega^T x + phase).
func (m *Model) rff(x feature.Vector, z []float32) {
	impl := blas32.Implementation()
	clear(z)
	for k, f := range x.Idx {
		if c := m.col(f); c >= 0 {
			impl.Saxpy(m.nIn, x.Val[k], m.omega[c*m.nIn:], 1, z, 1)
		}
	}
	s := float32(math.Sqrt(2 / float64(m.nIn)))
	for d := range z {
		z[d] = s * float32(math.Cos(float64(z[d]+m.phase[d])))
	}
}

// Predict writes each candidate's calibrated quality estimate into out.
func (m *Model) Predict(x feature.Vector, out []float64) {
	sp := m.pool.Get().(*[]float32)
	buf := *sp
	f := buf[m.nIn:]
	m.decision(x, buf[:m.nIn], f)
	m.PredictFrom(f, out)
	m.pool.Put(sp)
}

// SparseInput exposes a linear machine's weights as one sparse layer whose
// output is the raw margins; PredictFrom turns them into Predict's result.
// A Fourier-feature or Nystrom machine has no such layer (ok false).
func (m *Model) SparseInput() (feature.SparseLayer, bool) {
	if m.cfg.Kernel != KernelLinear {
		return feature.SparseLayer{}, false
	}
	nc := m.nCand
	return feature.SparseLayer{Cols: m.cols, Width: nc, W: m.w[:m.nIn*nc], Bias: m.w[m.nIn*nc:]}, true
}

// PredictFrom calibrates the raw margins f (see SparseInput) into out.
func (m *Model) PredictFrom(f []float32, out []float64) {
	for j := range out[:m.nCand] {
		out[j] = 1 / (1 + math.Exp(m.a[j]*float64(f[j])+m.b[j]))
	}
}

// decision writes the raw margins of every machine into f; z is scratch of
// width nIn. Weights are laid out input-major (nIn+1 rows of nCand), so one
// input column updates all machines with one axpy.
func (m *Model) decision(x feature.Vector, z, f []float32) {
	impl := blas32.Implementation()
	nc := m.nCand
	copy(f, m.w[m.nIn*nc:]) // bias row
	if m.cfg.Kernel == KernelNystrom {
		m.nystromDecision(x, z, f)
		return
	}
	if m.cfg.Kernel == KernelRFF {
		m.rff(x, z)
		impl.Sgemv('T', m.nIn, nc, 1, m.w, nc, z, 1, 1, f, 1)
		return
	}
	for k, ft := range x.Idx {
		if c := m.col(ft); c >= 0 {
			impl.Saxpy(nc, x.Val[k], m.w[c*nc:], 1, f, 1)
		}
	}
}
