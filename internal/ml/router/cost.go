package router

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// Cost targets. A candidate is predicted in tokens when its prices are known
// and the training rows observed its output tokens: expected cost is then
// (input tokens x input price + predicted output tokens x output price), so a
// price change needs no retraining. Otherwise (public data sets with only a
// per-prompt USD cost, such as RouterBench) the cost itself is predicted.
const (
	TargetTokens = "tokens"
	TargetCost   = "cost"
)

// costModel is a multi-output linear regression on log scale: for candidate
// j it predicts log(1+output tokens) or log(cost) from the prompt's features
// plus log(1+characters). The length term matters: a price-proxy cost is
// proportional to prompt length, and log cost is then exactly linear in it.
// It is fitted by Adam with lazy sparse updates, masked where a target is
// missing, rows weighted like the quality learner's.
type costModel struct {
	targets []string  // per candidate: TargetTokens or TargetCost
	mean    []float64 // per candidate target mean (standardisation)
	std     []float64
	dim     int
	cols    []uint32
	index   feature.Columns // feature -> column (built, not stored)
	w       []float32       // (len(cols)+2) x nCand: features, log-length, bias
}

func (c *costModel) nCand() int { return len(c.targets) }

// predict writes each candidate's raw log target for a prompt of chars characters.
func (c *costModel) predict(x feature.Vector, chars int, out []float64) {
	nc := c.nCand()
	n := len(c.cols)
	for j := 0; j < nc; j++ {
		out[j] = float64(c.w[(n+1)*nc+j]) + float64(c.w[n*nc+j])*lenFeature(chars)
	}
	for k, f := range x.Idx {
		if col := c.index.Col(f); col >= 0 {
			base := col * nc
			v := float64(x.Val[k])
			for j := 0; j < nc; j++ {
				out[j] += v * float64(c.w[base+j])
			}
		}
	}
	for j := 0; j < nc; j++ {
		out[j] = out[j]*c.std[j] + c.mean[j]
	}
}

func lenFeature(chars int) float64 { return math.Log1p(float64(chars)) / 8 }

// fitCost trains the model. t is rows x candidates of raw log targets (NaN
// missing), chars the prompt lengths, w row weights (nil = 1).
func fitCost(ctx context.Context, targets []string, dim int, x []feature.Vector, chars []int, t [][]float64, w []float64, seed int64) (*costModel, error) {
	nc := len(targets)
	c := &costModel{targets: targets, dim: dim, mean: make([]float64, nc), std: make([]float64, nc)}
	seen := map[uint32]bool{}
	for _, r := range x {
		for _, f := range r.Idx {
			seen[f] = true
		}
	}
	for f := range seen {
		c.cols = append(c.cols, f)
	}
	slices.Sort(c.cols)
	if err := c.buildIndex(); err != nil {
		return nil, err
	}
	// Resolve each row's features to columns once.
	xcol := make([][]int32, len(x))
	for i, r := range x {
		xcol[i] = make([]int32, len(r.Idx))
		for k, f := range r.Idx {
			xcol[i][k] = int32(c.index.Col(f))
		}
	}
	for j := 0; j < nc; j++ {
		var s, s2, n float64
		for i := range t {
			if v := t[i][j]; !math.IsNaN(v) {
				s += v
				s2 += v * v
				n++
			}
		}
		c.std[j] = 1
		if n > 0 {
			c.mean[j] = s / n
			if v := s2/n - c.mean[j]*c.mean[j]; v > 1e-12 {
				c.std[j] = math.Sqrt(v)
			}
		}
	}
	n := len(c.cols)
	c.w = make([]float32, (n+2)*nc)
	mo := make([]float32, len(c.w))
	ve := make([]float32, len(c.w))
	grad := make([]float32, len(c.w))
	const (
		epochs = 8
		batch  = 32
		lr     = 0.01
		l2     = 1e-4
	)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x636f7374))
	order := rng.Perm(len(x))
	pred := make([]float64, nc)
	touched := []int{}
	mark := make([]bool, n+2)
	step := 0
	for ep := 0; ep < epochs; ep++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("fit cost model: %w", err)
		}
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for lo := 0; lo < len(order); lo += batch {
			rows := order[lo:min(lo+batch, len(order))]
			for _, r := range touched {
				clear(grad[r*nc : (r+1)*nc])
				mark[r] = false
			}
			touched = append(touched[:0], n, n+1)
			mark[n], mark[n+1] = true, true
			clear(grad[n*nc:])
			for _, i := range rows {
				c.predict(x[i], chars[i], pred)
				wi := 1.0
				if w != nil {
					wi = w[i]
				}
				for j := 0; j < nc; j++ {
					if math.IsNaN(t[i][j]) {
						pred[j] = 0
						continue
					}
					// Gradient of the squared error in standardised units.
					pred[j] = wi * (pred[j] - t[i][j]) / c.std[j] / float64(len(rows))
				}
				addRow := func(r int, v float64) {
					if !mark[r] {
						mark[r] = true
						touched = append(touched, r)
					}
					for j := 0; j < nc; j++ {
						grad[r*nc+j] += float32(v * pred[j])
					}
				}
				for k, col := range xcol[i] {
					addRow(int(col), float64(x[i].Val[k]))
				}
				addRow(n, lenFeature(chars[i]))
				addRow(n+1, 1)
			}
			step++
			corr := float32(lr * math.Sqrt(1-math.Pow(0.999, float64(step))) / (1 - math.Pow(0.9, float64(step))))
			for _, r := range touched {
				for q := r * nc; q < (r+1)*nc; q++ {
					g := grad[q] + l2*c.w[q]
					mo[q] = 0.9*mo[q] + 0.1*g
					ve[q] = 0.999*ve[q] + 0.001*g*g
					c.w[q] -= corr * mo[q] / (float32(math.Sqrt(float64(ve[q]))) + 1e-8)
				}
			}
		}
	}
	return c, nil
}

func (c *costModel) buildIndex() error {
	var err error
	if c.index, err = feature.NewColumns(c.cols, c.dim); err != nil {
		return fmt.Errorf("cost model: %w", err)
	}
	return nil
}

func (c *costModel) marshal(e *bundle.Enc) {
	e.Int(c.dim)
	e.Int(len(c.targets))
	for _, t := range c.targets {
		e.String(t)
	}
	e.F64s(c.mean)
	e.F64s(c.std)
	e.U32s(c.cols)
	e.F32s(c.w)
}

func unmarshalCost(d *bundle.Dec) (*costModel, error) {
	dim := d.Int(1, 1<<26, "cost dim")
	nc := d.Int(1, 1<<16, "cost candidates")
	c := &costModel{dim: dim}
	for i := 0; i < nc && d.Err == nil; i++ {
		c.targets = append(c.targets, d.String())
	}
	c.mean = d.F64s()
	c.std = d.F64s()
	c.cols = d.U32s()
	c.w = d.F32s()
	if d.Err != nil {
		return nil, fmt.Errorf("decode cost model: %w", d.Err)
	}
	for _, t := range c.targets {
		if t != TargetTokens && t != TargetCost {
			return nil, fmt.Errorf("decode cost model: %w: target %q", bundle.ErrCorrupt, t)
		}
	}
	if len(c.mean) != nc || len(c.std) != nc || len(c.w) != (len(c.cols)+2)*nc {
		return nil, fmt.Errorf("decode cost model: %w: sizes do not match %d candidates", bundle.ErrCorrupt, nc)
	}
	for i, f := range c.cols {
		if int(f) >= dim || (i > 0 && f <= c.cols[i-1]) {
			return nil, fmt.Errorf("decode cost model: %w: columns not ascending", bundle.ErrCorrupt)
		}
	}
	if err := c.buildIndex(); err != nil {
		return nil, fmt.Errorf("decode cost model: %w: %w", bundle.ErrCorrupt, err)
	}
	return c, nil
}
