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
	"runtime"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
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
	// LabelSmoothing pulls the training targets toward 1/2: a target q
	// becomes q(1-s) + s/2 (default 0, off). Early stopping still scores
	// the raw targets.
	LabelSmoothing float64 `yaml:"label_smoothing" json:"label_smoothing"`
	// InputDropout drops each nonzero input feature of a training row with
	// this probability at every step and scales the kept ones by 1/(1-p)
	// (default 0, off). It regularises the wide sparse input layer, where
	// most weights see only a handful of rows, without changing the network
	// that serves, so it costs no decision time.
	InputDropout float64 `yaml:"input_dropout" json:"input_dropout"`
	// Ensemble is how many networks are trained and averaged (default 1).
	// Member e uses seed Seed+e, so member 0 is the single network the same
	// Config with Ensemble 1 trains. Members train concurrently, up to
	// GOMAXPROCS at a time.
	Ensemble int `yaml:"ensemble" json:"ensemble"`
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
	if c.Ensemble == 0 {
		c.Ensemble = 1
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
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return c, fmt.Errorf("label_smoothing %v: must be in [0, 1)", c.LabelSmoothing)
	case !(c.InputDropout >= 0 && c.InputDropout < 1):
		return c, fmt.Errorf("input_dropout %v: must be in [0, 1)", c.InputDropout)
	case c.Ensemble < 1 || c.Ensemble > 32:
		return c, fmt.Errorf("ensemble %d: must be in [1, 32]", c.Ensemble)
	}
	return c, nil
}

// layer is a dense layer, W row-major in x in (in rows, out columns), so the
// sparse input layer is a sum of W rows.
type layer struct {
	in, out int
	w, b    []float32
}

// head is one ensemble member above the input layer: its hidden layers after
// the first and its output layer. layers[0] reads the member's slice of the
// packed first hidden layer.
type head struct{ layers []layer }

// Model is a trained MLP, or an ensemble of MLPs that differ only in their
// seed (initialisation, shuffling, early-stopping split) and whose sigmoid
// outputs are averaged. Averaging a few members cuts the variance that a
// small training set leaves in any one of them.
//
// All members' input layers are packed side by side into one matrix, one
// row per input feature: row c holds member 0's first-hidden-layer weights
// for feature c, then member 1's, and so on. A prediction reads one
// contiguous row per nonzero feature, so an ensemble costs the memory
// traffic of one wider network rather than several scattered ones; the
// input layer is most of the model and random rows of it are what a
// prediction waits for.
//
// Immutable after Train or Unmarshal; Predict is safe for concurrent use.
type Model struct {
	cfg     Config
	dim     int
	nCand   int
	cols    []uint32        // feature index of each input row, ascending
	index   feature.Columns // feature index -> input row (built, not stored)
	indexed bool            // index is built (dim small enough), else binary search
	h0      int             // first hidden width (per member)
	width   int             // packed row width: members * h0
	in      []float32
	inB     []float32 // packed first hidden biases, width
	heads   []head
	pool    sync.Pool
	// Epochs is how many epochs each member ran before early stopping.
	Epochs []int
}

// Candidates is the number of outputs.
func (m *Model) Candidates() int { return m.nCand }

// Members is the ensemble size.
func (m *Model) Members() int { return len(m.heads) }

func (m *Model) init() {
	// The rank index costs dim/4 bytes; past 2^26 buckets a binary search
	// over cols is the lighter choice.
	m.indexed = false
	if m.dim <= maxIndexedDim {
		ix, err := feature.NewColumns(m.cols, m.dim)
		m.index, m.indexed = ix, err == nil
	}
	m.pool.New = func() any { return m.newActs() }
}

// maxIndexedDim is the largest dim given a rank index over its columns.
const maxIndexedDim = 1 << 26

// col maps a feature index to its input row.
func (m *Model) col(f uint32) int {
	if m.indexed {
		return m.index.Col(f)
	}
	if c, ok := slices.BinarySearch(m.cols, f); ok {
		return c
	}
	return -1
}

// acts is a prediction's working memory: the packed first hidden layer and,
// per member, the outputs of its later layers.
type acts struct {
	h []float32
	a [][][]float32 // a[e][l] is the output of member e's layer l (after the input layer)
}

func (m *Model) newActs() *acts {
	s := &acts{h: make([]float32, m.width), a: make([][][]float32, len(m.heads))}
	for e, hd := range m.heads {
		s.a[e] = make([][]float32, len(hd.layers))
		for l, ly := range hd.layers {
			s.a[e][l] = make([]float32, ly.out)
		}
	}
	return s
}

// Predict writes each candidate's predicted quality (the members' mean
// sigmoid output) into out; it allocates nothing in the steady state.
func (m *Model) Predict(x feature.Vector, out []float64) {
	s := m.pool.Get().(*acts)
	impl := blas32.Implementation()
	h := s.h
	copy(h, m.inB)
	w := m.width
	for k, f := range x.Idx {
		if c := m.col(f); c >= 0 {
			impl.Saxpy(w, x.Val[k], m.in[c*w:(c+1)*w], 1, h, 1)
		}
	}
	m.finish(s, h, out)
	m.pool.Put(s)
}

// finish runs the members' layers above the input layer on h (overwritten).
func (m *Model) finish(s *acts, h []float32, out []float64) {
	impl := blas32.Implementation()
	clear(out[:m.nCand])
	for e, hd := range m.heads {
		prev := h[e*m.h0 : (e+1)*m.h0]
		for l, ly := range hd.layers {
			relu(prev)
			cur := s.a[e][l]
			copy(cur, ly.b)
			// cur = W^T prev, with W stored in x out.
			impl.Sgemv('T', ly.in, ly.out, 1, ly.w, ly.out, prev, 1, 1, cur, 1)
			prev = cur
		}
		for j, z := range prev {
			out[j] += float64(sigmoid(z))
		}
	}
	inv := 1 / float64(len(m.heads))
	for j := range out[:m.nCand] {
		out[j] *= inv
	}
}

// SparseInput exposes the packed input layer (all members side by side).
// PredictFrom with its accumulated output gives exactly Predict's result.
func (m *Model) SparseInput() (feature.SparseLayer, bool) {
	return feature.SparseLayer{Cols: m.cols, Width: m.width, W: m.in, Bias: m.inB}, true
}

// PredictFrom finishes a prediction from the input layer's output h (see
// SparseInput), which it overwrites.
func (m *Model) PredictFrom(h []float32, out []float64) {
	s := m.pool.Get().(*acts)
	m.finish(s, h, out)
	m.pool.Put(s)
}

func relu(v []float32) {
	for i, x := range v {
		if x < 0 {
			v[i] = 0
		}
	}
}

func sigmoid(z float32) float32 { return 1 / (1 + float32(math.Exp(float64(-z)))) }

// pack builds the serving layout from trained member networks (each a full
// layer stack whose layer 0 is the sparse input layer).
func (m *Model) pack(nets [][]layer) {
	m.h0 = nets[0][0].out
	m.width = len(nets) * m.h0
	n := len(m.cols)
	m.in = make([]float32, n*m.width)
	m.inB = make([]float32, 0, m.width)
	m.heads = m.heads[:0]
	for e, ls := range nets {
		l0 := ls[0]
		for c := 0; c < n; c++ {
			copy(m.in[c*m.width+e*m.h0:], l0.w[c*m.h0:(c+1)*m.h0])
		}
		m.inB = append(m.inB, l0.b...)
		m.heads = append(m.heads, head{layers: ls[1:]})
	}
}

// Train fits the network(s). x are feature vectors of dimension dim, y the
// rows x candidates quality matrix (NaN = missing, masked out of the loss),
// w the per-row weights (nil = 1).
func Train(ctx context.Context, cfg Config, x []feature.Vector, dim int, y [][]float64, w []float64) (*Model, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("mlp: %w", err)
	}
	nCand, cols, err := feature.TrainingRows(x, dim, y, w, cfg.MinDF)
	if err != nil {
		return nil, fmt.Errorf("mlp: %w", err)
	}
	m := &Model{cfg: cfg, dim: dim, nCand: nCand, cols: cols}
	m.init()
	// Resolve every row's features to input rows once, for all members.
	colIdx := make([][]int32, len(x))
	for i, r := range x {
		ci := make([]int32, len(r.Idx))
		for k, f := range r.Idx {
			ci[k] = int32(m.col(f))
		}
		colIdx[i] = ci
	}
	nets := make([][]layer, cfg.Ensemble)
	m.Epochs = make([]int, cfg.Ensemble)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for e := range nets {
		g.Go(func() error {
			t := newTrainer(cfg, len(m.cols), nCand, cfg.Seed+int64(e), x, colIdx, y, w)
			if err := t.run(gctx); err != nil {
				return err
			}
			nets[e], m.Epochs[e] = t.layers, t.epochs
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m.pack(nets)
	return m, nil
}
