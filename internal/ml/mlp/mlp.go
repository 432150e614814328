// Package mlp predicts every candidate's quality with one multi-output
// perceptron: a sparse input layer over the features seen in training, ReLU
// hidden layers, and one sigmoid output per candidate. The loss is binary
// cross-entropy masked where a candidate's outcome is missing and weighted
// per row; Adam on mini-batches, early stopping on a validation split.
package mlp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// Config holds the MLP hyper-parameters; zero values take the defaults noted.
type Config struct {
	// Hidden lists the hidden layer widths (default [64]).
	Hidden []int `yaml:"hidden" json:"hidden"`
	// MaxEpochs caps training (default 100).
	MaxEpochs int `yaml:"max_epochs" json:"max_epochs"`
	// Patience stops training after this many epochs without a better
	// validation loss (default 5).
	Patience int `yaml:"patience" json:"patience"`
	// BatchSize is the mini-batch size (default 32).
	BatchSize int `yaml:"batch_size" json:"batch_size"`
	// LearningRate is Adam's step size (default 1e-3).
	LearningRate float64 `yaml:"learning_rate" json:"learning_rate"`
	// L2 is the weight decay added to the gradient (default 1e-5).
	L2 float64 `yaml:"l2" json:"l2"`
	// ValFrac is the share of training rows held out for early stopping
	// (default 0.1).
	ValFrac float64 `yaml:"val_frac" json:"val_frac"`
	// MinDF drops input features seen in fewer training rows (default 1).
	MinDF int `yaml:"min_df" json:"min_df"`
	// Seed drives initialisation, shuffling and the validation split.
	Seed int64 `yaml:"seed" json:"seed"`
}

func (c Config) withDefaults() (Config, error) {
	if c.Hidden == nil {
		c.Hidden = []int{64}
	}
	if c.MaxEpochs == 0 {
		c.MaxEpochs = 100
	}
	if c.Patience == 0 {
		c.Patience = 5
	}
	if c.BatchSize == 0 {
		c.BatchSize = 32
	}
	if c.LearningRate == 0 {
		c.LearningRate = 1e-3
	}
	if c.L2 == 0 {
		c.L2 = 1e-5
	}
	if c.ValFrac == 0 {
		c.ValFrac = 0.1
	}
	if c.MinDF == 0 {
		c.MinDF = 1
	}
	for _, h := range c.Hidden {
		if h < 1 || h > 1<<14 {
			return c, fmt.Errorf("hidden width %d: must be in [1, 16384]", h)
		}
	}
	switch {
	case len(c.Hidden) == 0 || len(c.Hidden) > 8:
		return c, errors.New("hidden: want 1 to 8 layers")
	case c.MaxEpochs < 1 || c.Patience < 1 || c.BatchSize < 1:
		return c, errors.New("max_epochs, patience and batch_size must be >= 1")
	case !(c.LearningRate > 0) || c.L2 < 0:
		return c, errors.New("learning_rate must be > 0 and l2 >= 0")
	case !(c.ValFrac > 0 && c.ValFrac < 0.5):
		return c, fmt.Errorf("val_frac %v: must be in (0, 0.5)", c.ValFrac)
	case c.MinDF < 1:
		return c, errors.New("min_df must be >= 1")
	}
	return c, nil
}

// layer is a dense layer, W row-major in x in (in rows, out columns), so the
// sparse input layer is a sum of W rows.
type layer struct {
	in, out int
	w, b    []float32
}

// Model is a trained MLP. Immutable after Train or Unmarshal; Predict is safe
// for concurrent use.
type Model struct {
	cfg    Config
	dim    int
	nCand  int
	cols   []uint32 // feature index of each input row, ascending
	colOf  []int32  // feature index -> input row, -1 if unused (built, not stored)
	layers []layer  // layers[0] is the sparse input layer; the last is the output
	pool   sync.Pool
	// Epochs is how many epochs ran before early stopping, for the report.
	Epochs int
}

// Candidates is the number of outputs.
func (m *Model) Candidates() int { return m.nCand }

func (m *Model) init() {
	m.colOf = nil
	if m.dim <= 1<<24 {
		m.colOf = make([]int32, m.dim)
		for i := range m.colOf {
			m.colOf[i] = -1
		}
		for c, f := range m.cols {
			m.colOf[f] = int32(c)
		}
	}
	m.pool.New = func() any { return m.newActs() }
}

// col maps a feature index to its input row.
func (m *Model) col(f uint32) int {
	if m.colOf != nil {
		if int(f) >= len(m.colOf) {
			return -1
		}
		return int(m.colOf[f])
	}
	if c, ok := slices.BinarySearch(m.cols, f); ok {
		return c
	}
	return -1
}

type acts struct{ a [][]float32 } // a[l] is the output of layer l

func (m *Model) newActs() *acts {
	s := &acts{a: make([][]float32, len(m.layers))}
	for l, ly := range m.layers {
		s.a[l] = make([]float32, ly.out)
	}
	return s
}

// forward fills s.a; hidden layers use ReLU, the output stays as logits.
func (m *Model) forward(x feature.Vector, s *acts) {
	impl := blas32.Implementation()
	l0 := m.layers[0]
	h := s.a[0]
	copy(h, l0.b)
	for k, f := range x.Idx {
		if c := m.col(f); c >= 0 {
			impl.Saxpy(l0.out, x.Val[k], l0.w[c*l0.out:], 1, h, 1)
		}
	}
	for l := 1; l < len(m.layers); l++ {
		relu(s.a[l-1])
		ly := m.layers[l]
		copy(s.a[l], ly.b)
		// out = W^T in, with W stored in x out.
		impl.Sgemv('T', ly.in, ly.out, 1, ly.w, ly.out, s.a[l-1], 1, 1, s.a[l], 1)
	}
}

func relu(v []float32) {
	for i, x := range v {
		if x < 0 {
			v[i] = 0
		}
	}
}

func sigmoid(z float32) float32 { return 1 / (1 + float32(math.Exp(float64(-z)))) }

// Predict writes each candidate's predicted quality into out; it allocates
// nothing in the steady state.
func (m *Model) Predict(x feature.Vector, out []float64) {
	s := m.pool.Get().(*acts)
	m.forward(x, s)
	for j, z := range s.a[len(s.a)-1] {
		out[j] = float64(sigmoid(z))
	}
	m.pool.Put(s)
}

// Train fits the network. x are feature vectors of dimension dim, y the rows
// x candidates quality matrix (NaN = missing, masked out of the loss), w the
// per-row weights (nil = 1).
func Train(ctx context.Context, cfg Config, x []feature.Vector, dim int, y [][]float64, w []float64) (*Model, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("mlp: %w", err)
	}
	if len(x) < 2 {
		return nil, errors.New("mlp: need at least 2 training rows")
	}
	if len(y) != len(x) || (w != nil && len(w) != len(x)) {
		return nil, fmt.Errorf("mlp: %d rows but %d quality rows and %d weights", len(x), len(y), len(w))
	}
	nCand := len(y[0])
	df := map[uint32]int{}
	for i, r := range x {
		if len(y[i]) != nCand {
			return nil, fmt.Errorf("mlp: row %d has %d candidates, want %d", i, len(y[i]), nCand)
		}
		if len(r.Idx) != len(r.Val) {
			return nil, fmt.Errorf("mlp: row %d: vector index and value counts differ", i)
		}
		for _, f := range r.Idx {
			if int(f) >= dim {
				return nil, fmt.Errorf("mlp: row %d: feature %d beyond dimension %d", i, f, dim)
			}
			df[f]++
		}
		if w != nil && (!(w[i] >= 0) || math.IsInf(w[i], 0)) {
			return nil, fmt.Errorf("mlp: row %d weight %v: must be finite and >= 0", i, w[i])
		}
	}
	m := &Model{cfg: cfg, dim: dim, nCand: nCand}
	for f, n := range df {
		if n >= cfg.MinDF {
			m.cols = append(m.cols, f)
		}
	}
	slices.Sort(m.cols)
	if len(m.cols) == 0 {
		return nil, errors.New("mlp: no input feature reaches min_df")
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6d6c70))
	sizes := append([]int{len(m.cols)}, cfg.Hidden...)
	sizes = append(sizes, nCand)
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		ly := layer{in: in, out: out, w: make([]float32, in*out), b: make([]float32, out)}
		// He initialisation for ReLU layers; the sparse input layer sees
		// L2-normalised rows, so its fan-in is effectively small.
		fan := float64(in)
		if l == 0 {
			fan = 1
		}
		scale := math.Sqrt(2 / fan)
		if l == 0 {
			scale = 0.1
		}
		for i := range ly.w {
			ly.w[i] = float32(rng.NormFloat64() * scale)
		}
		m.layers = append(m.layers, ly)
	}
	m.init()
	t := newTrainer(m, x, y, w, rng)
	if err := t.run(ctx); err != nil {
		return nil, err
	}
	return m, nil
}
