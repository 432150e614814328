// Package router is a trained learned router: a featurizer, a per-candidate
// quality predictor (KNN, MLP or SVM), a per-candidate cost predictor and the
// named operating points, loaded from a bundle. Decide picks, among healthy
// candidates, the best predicted quality - lambda * cost.
package router

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/blas/blas32"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// Learner kinds.
const (
	KindKNN = "knn"
	KindMLP = "mlp"
	KindSVM = "svm"
)

// Kinds lists the learner kinds, for validation messages.
var Kinds = []string{KindKNN, KindMLP, KindSVM}

// QualityModel is what the three learners share: every candidate's
// predicted quality for one feature vector, safe for concurrent use.
type QualityModel interface {
	Predict(x feature.Vector, out []float64)
	Candidates() int
	MarshalBinary() ([]byte, error)
}

var (
	_ QualityModel = (*knn.Model)(nil)
	_ QualityModel = (*mlp.Model)(nil)
	_ QualityModel = (*svm.Model)(nil)
)

// ErrNoHealthy is returned by Decide when no candidate is healthy.
var ErrNoHealthy = errors.New("no healthy candidate")

// Router serves decisions. It is immutable once built, so one value can be
// shared by every request; Decide is safe for concurrent use.
type Router struct {
	manifest bundle.Manifest
	feat     feature.Featurizer
	one      oneTransformer  // the featurizer's allocation-light path, if any
	into     intoTransformer // its allocation-free path, if any
	quality  QualityModel
	cost     *costModel
	names    []string
	inPrice  []float64 // USD per token
	outPrice []float64
	ops      map[string]float64
	fused    *fused    // quality first stage and cost rows side by side, if the model has one
	pool     sync.Pool // *buffers
}

type oneTransformer interface {
	TransformOne(text string) feature.Vector
}

// intoTransformer featurizes into the caller's vector storage, so a
// decision allocates nothing: at a few thousand decisions a second the
// featurizer's two slices per decision were what kept the garbage collector
// running, and its cycles showed in the latency tail.
type intoTransformer interface {
	TransformInto(text string, dst feature.Vector) feature.Vector
}

// buffers is one decision's working memory, pooled.
type buffers struct {
	q, raw []float64
	h      []float32 // the fused first stage's output
	x      feature.Vector
}

// Score is one candidate's prediction in a decision.
type Score struct {
	Name    string  `json:"name"`
	Quality float64 `json:"quality"`
	Cost    float64 `json:"cost"` // USD for this prompt
	Score   float64 `json:"score"`
	Healthy bool    `json:"healthy"`
}

// Decision is the outcome of Decide.
type Decision struct {
	Candidates []Score `json:"candidates"`
	Pick       int     `json:"pick"`
	Model      string  `json:"model"`
	Lambda     float64 `json:"lambda"`
	Reason     string  `json:"reason"`
}

// Reasons Decide reports; constant so a decision costs no formatting.
const (
	ReasonQuality  = "highest predicted quality among healthy candidates"
	ReasonTradeOff = "best predicted quality - lambda * cost among healthy candidates"
)

func newRouter(m bundle.Manifest, feat feature.Featurizer, q QualityModel, c *costModel) (*Router, error) {
	n := len(m.Candidates)
	if q.Candidates() != n || c.nCand() != n {
		return nil, fmt.Errorf("router: manifest has %d candidates, quality model %d, cost model %d", n, q.Candidates(), c.nCand())
	}
	r := &Router{manifest: m, feat: feat, quality: q, cost: c, ops: map[string]float64{}}
	r.one, _ = feat.(oneTransformer)
	r.into, _ = feat.(intoTransformer)
	for j, cand := range m.Candidates {
		r.names = append(r.names, cand.Name)
		r.inPrice = append(r.inPrice, cand.InputPrice/1e6)
		r.outPrice = append(r.outPrice, cand.OutputPrice/1e6)
		if c.targets[j] == TargetTokens && cand.OutputPrice <= 0 && cand.InputPrice <= 0 {
			return nil, fmt.Errorf("router: candidate %q predicts tokens but has no prices", cand.Name)
		}
	}
	for _, op := range m.Operating {
		if !(op.Lambda >= 0) || math.IsInf(op.Lambda, 0) {
			return nil, fmt.Errorf("router: operating point %q has lambda %v", op.Name, op.Lambda)
		}
		r.ops[op.Name] = op.Lambda
	}
	if !(m.CostScale > 0) {
		return nil, fmt.Errorf("router: cost scale %v must be > 0", m.CostScale)
	}
	r.fused = newFused(q, c)
	width := 0
	if r.fused != nil {
		width = r.fused.width
	}
	r.pool.New = func() any {
		return &buffers{q: make([]float64, n), raw: make([]float64, n), h: make([]float32, width)}
	}
	return r, nil
}

// Manifest returns the bundle manifest the router was built from.
func (r *Router) Manifest() bundle.Manifest { return r.manifest }

// Candidates returns the candidate names in decision order.
func (r *Router) Candidates() []string { return r.names }

// Lambda returns the lambda of a named operating point.
func (r *Router) Lambda(name string) (float64, bool) {
	l, ok := r.ops[name]
	return l, ok
}

func (r *Router) featurize(ctx context.Context, prompt string) (feature.Vector, error) {
	if r.one != nil {
		return r.one.TransformOne(prompt), nil
	}
	vs, err := r.feat.Transform(ctx, []string{prompt})
	if err != nil {
		return feature.Vector{}, fmt.Errorf("featurize: %w", err)
	}
	return vs[0], nil
}

// predict fills q (quality) and c (USD cost) for a featurized prompt of
// chars characters.
func (r *Router) predict(x feature.Vector, chars int, q, c []float64) {
	r.quality.Predict(x, q)
	r.cost.predict(x, chars, c)
	r.costsFromRaw(chars, c, c)
}

// Decide featurizes prompt, predicts every candidate's quality and cost, and
// picks the healthy candidate with the best quality - lambda*cost/CostScale
// (ties to the cheaper). healthy may be nil (all healthy); otherwise it has
// one entry per candidate in Candidates() order.
func (r *Router) Decide(ctx context.Context, prompt string, healthy []bool, lambda float64) (Decision, error) {
	var d Decision
	err := r.DecideInto(ctx, prompt, healthy, lambda, &d)
	return d, err
}

// DecideInto is Decide writing into d, reusing d.Candidates' storage, so a
// caller that keeps d allocates nothing per decision beyond the featurizer.
func (r *Router) DecideInto(ctx context.Context, prompt string, healthy []bool, lambda float64, d *Decision) error {
	n := len(r.names)
	if healthy != nil && len(healthy) != n {
		return fmt.Errorf("decide: %d health flags for %d candidates", len(healthy), n)
	}
	if !(lambda >= 0) || math.IsInf(lambda, 0) {
		return fmt.Errorf("decide: lambda %v must be finite and >= 0", lambda)
	}
	b := r.pool.Get().(*buffers)
	defer r.pool.Put(b)
	var x feature.Vector
	if r.into != nil {
		b.x = r.into.TransformInto(prompt, b.x)
		x = b.x
	} else {
		var err error
		if x, err = r.featurize(ctx, prompt); err != nil {
			return fmt.Errorf("decide: %w", err)
		}
	}
	if cap(d.Candidates) < n {
		d.Candidates = make([]Score, n)
	}
	d.Candidates = d.Candidates[:n]
	costs := b.raw
	if r.fused != nil {
		r.fused.predict(x, r.cost, len(prompt), b.h, b.q, costs)
		r.costsFromRaw(len(prompt), costs, costs)
	} else {
		r.predict(x, len(prompt), b.q, costs)
	}
	d.Pick, d.Model, d.Lambda = -1, "", lambda
	d.Reason = ReasonTradeOff
	if lambda == 0 {
		d.Reason = ReasonQuality
	}
	scale := r.manifest.CostScale
	for j := 0; j < n; j++ {
		h := healthy == nil || healthy[j]
		s := b.q[j] - lambda*costs[j]/scale
		d.Candidates[j] = Score{Name: r.names[j], Quality: b.q[j], Cost: costs[j], Score: s, Healthy: h}
		if !h || math.IsNaN(s) {
			continue
		}
		if d.Pick < 0 || s > d.Candidates[d.Pick].Score || (s == d.Candidates[d.Pick].Score && costs[j] < d.Candidates[d.Pick].Cost) {
			d.Pick = j
		}
	}
	if d.Pick < 0 {
		return fmt.Errorf("decide: %w", ErrNoHealthy)
	}
	d.Model = r.names[d.Pick]
	return nil
}

// DecideAt is Decide at a named operating point.
func (r *Router) DecideAt(ctx context.Context, prompt string, healthy []bool, point string) (Decision, error) {
	l, ok := r.ops[point]
	if !ok {
		return Decision{}, fmt.Errorf("decide: unknown operating point %q", point)
	}
	return r.Decide(ctx, prompt, healthy, l)
}

// costsFromRaw turns the cost model's log-scale outputs into USD in place
// (raw and out may alias).
func (r *Router) costsFromRaw(chars int, raw, out []float64) {
	in := float64(estimateTokens(chars))
	for j := range raw {
		if r.cost.targets[j] == TargetTokens {
			tok := math.Max(math.Expm1(raw[j]), 0)
			out[j] = in*r.inPrice[j] + tok*r.outPrice[j]
		} else {
			out[j] = math.Exp(raw[j])
		}
	}
}

// estimateTokens mirrors dataset.EstimateTokens for a prompt of chars bytes,
// without needing the string.
func estimateTokens(chars int) int { return (chars + 3) / 4 }

// WithManifest returns a copy of r carrying m, for the fields training fills
// in after the fact (data summary, metrics, labels). The candidates, cost
// scale and operating points must fit the parts r was built with.
func (r *Router) WithManifest(m bundle.Manifest) (*Router, error) {
	return newRouter(m, r.feat, r.quality, r.cost)
}

// sparseStaged is a quality model whose first stage is a sparse layer: the
// MLP's input layer, a linear SVM's weights.
type sparseStaged interface {
	SparseInput() (feature.SparseLayer, bool)
	PredictFrom(h []float32, out []float64)
}

// maxFusedFloats caps the fused layout's size (1 GiB of float32s); a larger
// model keeps its own layout.
const maxFusedFloats = 1 << 28

// fused holds, per feature, the quality model's first-stage row and the cost
// model's row side by side, under one rank index. A decision then makes
// one index lookup and reads one contiguous row per nonzero feature, where
// the models' own layouts cost two lookups and two rows in different
// places: the rows are random accesses into megabytes, and those misses
// were most of the models' share of a decision. A feature missing from one
// of the models has zeros in its part, so adding it changes nothing. The
// arithmetic (order, precision) is the models' own, so predictions are bit
// for bit those of Predict and the cost model's predict.
type fused struct {
	model  sparseStaged
	index  feature.Columns
	width  int // quality part of a row
	stride int // width + candidates
	w      []float32
	bias   []float32
}

// newFused builds the fused layout, or returns nil when the quality model
// has no sparse first stage (KNN, an RFF SVM) or the layout would be too big.
func newFused(q QualityModel, c *costModel) *fused {
	sm, ok := q.(sparseStaged)
	if !ok {
		return nil
	}
	l, ok := sm.SparseInput()
	if !ok || len(l.Bias) != l.Width || len(l.W) != len(l.Cols)*l.Width {
		return nil
	}
	nc := c.nCand()
	cols := make([]uint32, 0, max(len(l.Cols), len(c.cols)))
	for i, j := 0, 0; i < len(l.Cols) || j < len(c.cols); {
		switch {
		case j == len(c.cols) || (i < len(l.Cols) && l.Cols[i] < c.cols[j]):
			cols = append(cols, l.Cols[i])
			i++
		case i == len(l.Cols) || c.cols[j] < l.Cols[i]:
			cols = append(cols, c.cols[j])
			j++
		default:
			cols = append(cols, l.Cols[i])
			i, j = i+1, j+1
		}
	}
	stride := l.Width + nc
	if int64(len(cols))*int64(stride) > maxFusedFloats {
		return nil
	}
	index, err := feature.NewColumns(cols, c.dim)
	if err != nil {
		return nil // quality columns beyond the featurizer's space: keep the models' layouts
	}
	f := &fused{model: sm, index: index, width: l.Width, stride: stride, w: make([]float32, len(cols)*stride), bias: l.Bias}
	qi, ci := 0, 0
	for r, ft := range cols {
		row := f.w[r*stride : (r+1)*stride]
		if qi < len(l.Cols) && l.Cols[qi] == ft {
			copy(row[:l.Width], l.W[qi*l.Width:(qi+1)*l.Width])
			qi++
		}
		if ci < len(c.cols) && c.cols[ci] == ft {
			copy(row[l.Width:], c.w[ci*nc:(ci+1)*nc])
			ci++
		}
	}
	return f
}

// predict fills q (quality) and raw (the cost model's log targets) for x,
// a prompt of chars characters; h is scratch of width f.width.
func (f *fused) predict(x feature.Vector, c *costModel, chars int, h []float32, q, raw []float64) {
	nc := c.nCand()
	n := len(c.cols)
	lf := lenFeature(chars)
	for j := 0; j < nc; j++ {
		raw[j] = float64(c.w[(n+1)*nc+j]) + float64(c.w[n*nc+j])*lf
	}
	copy(h, f.bias)
	impl := blas32.Implementation()
	for k, ft := range x.Idx {
		col := f.index.Col(ft)
		if col < 0 {
			continue
		}
		row := f.w[col*f.stride : (col+1)*f.stride]
		v := x.Val[k]
		if f.width >= 16 {
			impl.Saxpy(f.width, v, row[:f.width], 1, h, 1)
		} else {
			for i, w := range row[:f.width] {
				h[i] += v * w
			}
		}
		vd := float64(v)
		for j, w := range row[f.width:] {
			raw[j] += vd * float64(w)
		}
	}
	for j := 0; j < nc; j++ {
		raw[j] = raw[j]*c.std[j] + c.mean[j]
	}
	f.model.PredictFrom(h, q)
}
