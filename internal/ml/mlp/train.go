package mlp

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

const (
	beta1 = 0.9
	beta2 = 0.999
	adamE = 1e-8
)

// adam holds the moment estimates of one layer.
type adam struct{ mw, vw, mb, vb []float32 }

// trainer runs mini-batch Adam on one network. The input layer's gradient
// is sparse: only the rows of features present in the batch are accumulated
// and updated ("lazy" Adam), so a step costs the batch's nonzeros times the
// first hidden width instead of the whole vocabulary.
type trainer struct {
	cfg        Config
	nCand      int
	layers     []layer // layers[0] is the sparse input layer
	epochs     int
	x          []feature.Vector
	colIdx     [][]int32 // per row, the input row of each feature (-1 unused)
	y          [][]float64
	w          []float64
	rng        *rand.Rand
	train, val []int
	gw, gb     [][]float32
	opt        []adam
	touched    []int  // input rows with a gradient in this batch
	isTouched  []bool // per input row
	deltas     [][]float32
	step       int
	a          [][]float32 // a[l] is the output of layer l
	// dropCols and dropVals hold the kept input features of the row being
	// trained when InputDropout is on.
	dropCols []int32
	dropVals []float32
}

// newTrainer initialises a network of nIn inputs with its own seeded
// generator: He initialisation for the ReLU layers (the sparse input layer
// sees L2-normalised rows, so it starts small instead), outputs at the logit
// of each candidate's weighted base rate.
func newTrainer(cfg Config, nIn, nCand int, seed int64, x []feature.Vector, colIdx [][]int32, y [][]float64, w []float64) *trainer {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d6c70))
	t := &trainer{cfg: cfg, nCand: nCand, x: x, colIdx: colIdx, y: y, w: w, rng: rng}
	sizes := append([]int{nIn}, cfg.Hidden...)
	sizes = append(sizes, nCand)
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		ly := layer{in: in, out: out, w: make([]float32, in*out), b: make([]float32, out)}
		scale := math.Sqrt(2 / float64(in))
		if l == 0 {
			scale = 0.1
		}
		for i := range ly.w {
			ly.w[i] = float32(rng.NormFloat64() * scale)
		}
		t.layers = append(t.layers, ly)
		t.a = append(t.a, make([]float32, out))
	}
	perm := rng.Perm(len(x))
	nVal := max(1, int(math.Round(cfg.ValFrac*float64(len(x)))))
	t.val, t.train = perm[:nVal], perm[nVal:]
	for _, ly := range t.layers {
		t.gw = append(t.gw, make([]float32, len(ly.w)))
		t.gb = append(t.gb, make([]float32, len(ly.b)))
		t.opt = append(t.opt, adam{
			mw: make([]float32, len(ly.w)), vw: make([]float32, len(ly.w)),
			mb: make([]float32, len(ly.b)), vb: make([]float32, len(ly.b)),
		})
		t.deltas = append(t.deltas, make([]float32, ly.out))
	}
	t.isTouched = make([]bool, nIn)
	out := t.layers[len(t.layers)-1]
	for j := 0; j < nCand; j++ {
		var s, ws float64
		for _, i := range t.train {
			if q := y[i][j]; !math.IsNaN(q) {
				s += t.weight(i) * q
				ws += t.weight(i)
			}
		}
		p := 0.5
		if ws > 0 {
			p = min(max(s/ws, 0.01), 0.99)
		}
		out.b[j] = float32(math.Log(p / (1 - p)))
	}
	return t
}

func (t *trainer) weight(i int) float64 {
	if t.w == nil {
		return 1
	}
	return t.w[i]
}

// forward fills t.a for row i; hidden layers use ReLU, the output stays as
// logits.
func (t *trainer) forward(i int) { t.forwardSparse(t.colIdx[i], t.x[i].Val) }

// forwardSparse fills t.a for the input with values vals at input rows cols
// (-1 entries are skipped).
func (t *trainer) forwardSparse(cols []int32, vals []float32) {
	impl := blas32.Implementation()
	l0 := t.layers[0]
	h := t.a[0]
	copy(h, l0.b)
	for k, c := range cols {
		if c >= 0 {
			impl.Saxpy(l0.out, vals[k], l0.w[int(c)*l0.out:], 1, h, 1)
		}
	}
	for l := 1; l < len(t.layers); l++ {
		relu(t.a[l-1])
		ly := t.layers[l]
		copy(t.a[l], ly.b)
		impl.Sgemv('T', ly.in, ly.out, 1, ly.w, ly.out, t.a[l-1], 1, 1, t.a[l], 1)
	}
}

func (t *trainer) run(ctx context.Context) error {
	best := math.Inf(1)
	var bestLayers []layer
	bad := 0
	for epoch := 0; epoch < t.cfg.MaxEpochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("mlp: %w", err)
		}
		t.rng.Shuffle(len(t.train), func(a, b int) { t.train[a], t.train[b] = t.train[b], t.train[a] })
		for lo := 0; lo < len(t.train); lo += t.cfg.BatchSize {
			t.batch(t.train[lo:min(lo+t.cfg.BatchSize, len(t.train))])
		}
		t.epochs = epoch + 1
		loss := t.loss(t.val)
		if loss < best-1e-6 {
			best, bad = loss, 0
			bestLayers = cloneLayers(t.layers, bestLayers)
		} else if bad++; bad >= t.cfg.Patience {
			break
		}
	}
	if bestLayers != nil {
		t.layers = bestLayers
	}
	return nil
}

func cloneLayers(src, dst []layer) []layer {
	if dst == nil {
		dst = make([]layer, len(src))
		for l, ly := range src {
			dst[l] = layer{in: ly.in, out: ly.out, w: make([]float32, len(ly.w)), b: make([]float32, len(ly.b))}
		}
	}
	for l, ly := range src {
		copy(dst[l].w, ly.w)
		copy(dst[l].b, ly.b)
	}
	return dst
}

// loss is the weighted, masked binary cross-entropy over rows.
func (t *trainer) loss(rows []int) float64 {
	var s, ws float64
	L := len(t.layers)
	for _, i := range rows {
		t.forward(i)
		for j, q := range t.y[i] {
			if math.IsNaN(q) {
				continue
			}
			p := min(max(float64(sigmoid(t.a[L-1][j])), 1e-7), 1-1e-7)
			s -= t.weight(i) * (q*math.Log(p) + (1-q)*math.Log(1-p))
			ws += t.weight(i)
		}
	}
	if ws == 0 {
		return 0
	}
	return s / ws
}

// batch accumulates the gradient over rows and takes one Adam step.
func (t *trainer) batch(rows []int) {
	impl := blas32.Implementation()
	var norm float64
	for _, i := range rows {
		for _, q := range t.y[i] {
			if !math.IsNaN(q) {
				norm += t.weight(i)
			}
		}
	}
	if norm == 0 {
		return
	}
	L := len(t.layers)
	for l := 1; l < L; l++ {
		clear(t.gw[l])
		clear(t.gb[l])
	}
	clear(t.gb[0])
	h0 := t.layers[0].out
	for _, c := range t.touched {
		clear(t.gw[0][c*h0 : (c+1)*h0])
		t.isTouched[c] = false
	}
	t.touched = t.touched[:0]
	a := t.a
	for _, i := range rows {
		cols, vals := t.inputs(i)
		t.forwardSparse(cols, vals)
		wi := t.weight(i) / norm
		dOut := t.deltas[L-1]
		for j, q := range t.y[i] {
			dOut[j] = 0
			if !math.IsNaN(q) {
				q = q*(1-t.cfg.LabelSmoothing) + t.cfg.LabelSmoothing/2
				dOut[j] = float32(wi * (float64(sigmoid(a[L-1][j])) - q))
			}
		}
		for l := L - 1; l >= 1; l-- {
			ly := t.layers[l]
			impl.Sger(ly.in, ly.out, 1, a[l-1], 1, t.deltas[l], 1, t.gw[l], ly.out)
			impl.Saxpy(ly.out, 1, t.deltas[l], 1, t.gb[l], 1)
			prev := t.deltas[l-1]
			impl.Sgemv('N', ly.in, ly.out, 1, ly.w, ly.out, t.deltas[l], 1, 0, prev, 1)
			for k, v := range a[l-1] {
				if v <= 0 {
					prev[k] = 0
				}
			}
		}
		impl.Saxpy(h0, 1, t.deltas[0], 1, t.gb[0], 1)
		for k, c := range cols {
			if c < 0 {
				continue
			}
			if !t.isTouched[c] {
				t.isTouched[c] = true
				t.touched = append(t.touched, int(c))
			}
			impl.Saxpy(h0, vals[k], t.deltas[0], 1, t.gw[0][int(c)*h0:], 1)
		}
	}
	t.step++
	lr := t.cfg.LearningRate * math.Sqrt(1-math.Pow(beta2, float64(t.step))) / (1 - math.Pow(beta1, float64(t.step)))
	l2 := float32(t.cfg.L2)
	for l := 1; l < L; l++ {
		adamStep(t.layers[l].w, t.gw[l], t.opt[l].mw, t.opt[l].vw, lr, l2)
		adamStep(t.layers[l].b, t.gb[l], t.opt[l].mb, t.opt[l].vb, lr, 0)
	}
	adamStep(t.layers[0].b, t.gb[0], t.opt[0].mb, t.opt[0].vb, lr, 0)
	w0, g0, o0 := t.layers[0].w, t.gw[0], t.opt[0]
	for _, c := range t.touched {
		s := c * h0
		adamStep(w0[s:s+h0], g0[s:s+h0], o0.mw[s:s+h0], o0.vw[s:s+h0], lr, l2)
	}
}

// inputs returns the input rows and values row i trains with: all of them,
// or with InputDropout each kept with probability 1-p and scaled by 1/(1-p).
func (t *trainer) inputs(i int) ([]int32, []float32) {
	p := t.cfg.InputDropout
	if p == 0 {
		return t.colIdx[i], t.x[i].Val
	}
	scale := float32(1 / (1 - p))
	t.dropCols, t.dropVals = t.dropCols[:0], t.dropVals[:0]
	for k, c := range t.colIdx[i] {
		if c >= 0 && t.rng.Float64() >= p {
			t.dropCols = append(t.dropCols, c)
			t.dropVals = append(t.dropVals, t.x[i].Val[k]*scale)
		}
	}
	return t.dropCols, t.dropVals
}

// adamStep applies one bias-corrected Adam update (lr already corrected).
func adamStep(p, g, mo, ve []float32, lr float64, l2 float32) {
	lr32 := float32(lr)
	for i := range p {
		gi := g[i] + l2*p[i]
		mo[i] = beta1*mo[i] + (1-beta1)*gi
		ve[i] = beta2*ve[i] + (1-beta2)*gi*gi
		p[i] -= lr32 * mo[i] / (float32(math.Sqrt(float64(ve[i]))) + adamE)
	}
}
