package router

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// MaxIPSWeight caps inverse-propensity weights: a row chosen with
// probability 0.001 would otherwise count a thousand times and swamp the fit
// (the usual clipped IPS estimator, trading a little bias for much less
// variance).
const MaxIPSWeight = 50

// TrainConfig is everything Train needs besides the rows.
type TrainConfig struct {
	Name, Version string
	Kind          string // knn, mlp or svm
	Featurizer    feature.Config
	KNN           knn.Config
	MLP           mlp.Config
	SVM           svm.Config
	// Candidates restricts and orders the candidates and gives prices; empty
	// means every candidate in the data, sorted, without prices.
	Candidates []bundle.Candidate
	// OperatingPoints maps a name to the share of the best single model's
	// validation quality it must keep; "quality" is always lambda 0.
	OperatingPoints map[string]float64
	// ValFrac is the share of the training rows held out to calibrate the
	// operating points (default 0.2).
	ValFrac float64
	// NoRefit keeps the model trained on the fit split, the one the
	// operating points were calibrated on. By default Train refits on all
	// training rows after calibration, which suits KNN and SVM (their fits
	// are stable, so the lambdas carry over); an MLP stops at a different
	// epoch when refitted and its quality scale shifts enough that the
	// calibrated lambdas miss their targets, so MLP configs should set it.
	NoRefit bool
	Seed    int64
	// Canaries is how many validation prompts to record (default 8).
	Canaries int
	// Progress, if set, is called as each stage starts.
	Progress func(stage string, step, steps int)
}

// Summary describes a training run for the manifest and the CLI.
type Summary struct {
	TrainRows, ValRows int
	Seconds            float64
	Validation         eval.Report
}

// Train fits a router on rows (the training split: the caller keeps its test
// split apart). Rows need a prompt; rows carrying only a feature vector are
// not supported by Train yet, because the featurizer must be fitted on text.
func Train(ctx context.Context, cfg TrainConfig, rows []dataset.Row) (*Router, Summary, error) {
	start := time.Now()
	var sum Summary
	if !slices.Contains(Kinds, cfg.Kind) {
		return nil, sum, fmt.Errorf("train: unknown kind %q (want one of %v)", cfg.Kind, Kinds)
	}
	if cfg.ValFrac == 0 {
		cfg.ValFrac = 0.2
	}
	if !(cfg.ValFrac > 0 && cfg.ValFrac < 0.5) {
		return nil, sum, fmt.Errorf("train: validation fraction %v must be in (0, 0.5)", cfg.ValFrac)
	}
	if cfg.Canaries == 0 {
		cfg.Canaries = 8
	}
	if len(cfg.OperatingPoints) == 0 {
		cfg.OperatingPoints = eval.DefaultOperatingPoints()
	}
	captured := 0
	for i, r := range rows {
		switch {
		case r.Prompt != "":
		case r.Features != nil && len(r.Features.Idx) > 0:
			captured++
		default:
			return nil, sum, fmt.Errorf("train: row %d (%s) has neither prompt text nor captured features", i, r.ID)
		}
	}
	if captured > 0 && !feature.CaptureCompatible(cfg.Featurizer) {
		return nil, sum, fmt.Errorf("train: %d rows carry only captured features (prompt_capture: features), which need featurizer kind tfidf with its default dim and n-grams", captured)
	}
	if len(rows) < 10 {
		return nil, sum, fmt.Errorf("train: %d rows is too few (need at least 10)", len(rows))
	}
	cands := cfg.Candidates
	if len(cands) == 0 {
		for _, n := range dataset.Candidates(rows) {
			cands = append(cands, bundle.Candidate{Name: n})
		}
	}
	names := make([]string, len(cands))
	for j, c := range cands {
		names[j] = c.Name
	}
	steps := 6
	if cfg.NoRefit {
		steps = 4
	}
	progress := func(stage string, step int) {
		if cfg.Progress != nil {
			cfg.Progress(stage, step, steps)
		}
	}

	progress("fit featurizer", 1)
	feat, xs, err := featurizeRows(ctx, cfg.Featurizer, rows, captured)
	if err != nil {
		return nil, sum, fmt.Errorf("train: %w", err)
	}
	truth := eval.FromRows(rows, names)
	targets, tgt := costTargets(rows, cands, truth)
	for j := range cands {
		cands[j].CostTarget = targets[j]
	}
	w := rowWeights(rows)
	chars := make([]int, len(rows))
	for i, r := range rows {
		chars[i] = promptChars(r)
	}

	// Hold out a validation split to calibrate the operating points.
	valIdx, fitIdx := splitIdx(len(rows), cfg.ValFrac, cfg.Seed)
	sum.TrainRows, sum.ValRows = len(fitIdx), len(valIdx)
	sub := func(idx []int) ([]feature.Vector, [][]float64, []float64, [][]float64, []int) {
		x, y, ww, t, ch := make([]feature.Vector, len(idx)), make([][]float64, len(idx)), make([]float64, len(idx)), make([][]float64, len(idx)), make([]int, len(idx))
		for k, i := range idx {
			x[k], y[k], ww[k], t[k], ch[k] = xs[i], truth.Quality[i], w[i], tgt[i], chars[i]
		}
		return x, y, ww, t, ch
	}
	progress("train "+cfg.Kind+" on the fit split", 2)
	fx, fy, fw, ft, fch := sub(fitIdx)
	q, err := trainQuality(ctx, cfg, fx, feat.Dim(), fy, fw)
	if err != nil {
		return nil, sum, err
	}
	progress("train cost model", 3)
	cm, err := fitCost(ctx, targets, feat.Dim(), fx, fch, ft, fw, cfg.Seed)
	if err != nil {
		return nil, sum, fmt.Errorf("train: %w", err)
	}
	man := bundle.Manifest{
		Name: cfg.Name, Version: cfg.Version, Kind: cfg.Kind,
		Featurizer: bundle.Featurizer{Kind: feat.Kind(), Spec: feat.Spec()},
		Candidates: cands,
		CostScale:  eval.CostScale(truth),
		Operating:  []bundle.OperatingPoint{{Name: eval.QualityPoint}},
	}
	r, err := newRouter(man, feat, q, cm)
	if err != nil {
		return nil, sum, fmt.Errorf("train: %w", err)
	}

	progress("calibrate operating points", 4)
	valRows := pick(rows, valIdx)
	valTruth := eval.FromRows(valRows, names)
	vx, _, _, _, vch := sub(valIdx)
	pred := r.PredictVectors(vx, vch)
	pred.CostScale = man.CostScale
	ops := eval.Calibrate(valTruth, pred, cfg.OperatingPoints)
	man.Operating = man.Operating[:0]
	for _, op := range ops {
		man.Operating = append(man.Operating, bundle.OperatingPoint{Name: op.Name, Lambda: op.Lambda, Quality: op.Quality, Cost: op.Cost, Fraction: op.Fraction, Met: op.Met})
	}
	sum.Validation = eval.Evaluate(valTruth, pred, ops)

	if !cfg.NoRefit {
		progress("refit "+cfg.Kind+" on all training rows", 5)
		if q, err = trainQuality(ctx, cfg, xs, feat.Dim(), truth.Quality, w); err != nil {
			return nil, sum, err
		}
		progress("refit cost model", 6)
		if cm, err = fitCost(ctx, targets, feat.Dim(), xs, chars, tgt, w, cfg.Seed); err != nil {
			return nil, sum, fmt.Errorf("train: %w", err)
		}
	}
	if r, err = newRouter(man, feat, q, cm); err != nil {
		return nil, sum, fmt.Errorf("train: %w", err)
	}
	r.manifest.Canaries = r.canaries(ctx, valRows, cfg.Canaries)
	sum.Seconds = time.Since(start).Seconds()
	return r, sum, nil
}

func trainQuality(ctx context.Context, cfg TrainConfig, x []feature.Vector, dim int, y [][]float64, w []float64) (QualityModel, error) {
	var (
		q   QualityModel
		err error
	)
	switch cfg.Kind {
	case KindKNN:
		c := cfg.KNN
		c.Seed = cmpOr(c.Seed, cfg.Seed)
		q, err = knn.Train(ctx, c, x, dim, y, w)
	case KindMLP:
		c := cfg.MLP
		c.Seed = cmpOr(c.Seed, cfg.Seed)
		q, err = mlp.Train(ctx, c, x, dim, y, w)
	case KindSVM:
		c := cfg.SVM
		c.Seed = cmpOr(c.Seed, cfg.Seed)
		q, err = svm.Train(ctx, c, x, dim, y, w)
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return q, nil
}

func cmpOr(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}

// costTargets chooses, per candidate, what the cost model predicts (tokens
// when the candidate has prices and the rows observed its output tokens,
// else USD cost) and returns the rows x candidates log targets.
func costTargets(rows []dataset.Row, cands []bundle.Candidate, truth eval.Matrix) ([]string, [][]float64) {
	targets := make([]string, len(cands))
	for j, c := range cands {
		targets[j] = TargetCost
		if c.InputPrice <= 0 && c.OutputPrice <= 0 {
			continue
		}
		for _, r := range rows {
			if o, ok := r.Outcomes[c.Name]; ok && o.OutputTokens != nil {
				targets[j] = TargetTokens
				break
			}
		}
	}
	t := make([][]float64, len(rows))
	for i, r := range rows {
		t[i] = make([]float64, len(cands))
		for j, c := range cands {
			t[i][j] = math.NaN()
			o, ok := r.Outcomes[c.Name]
			switch {
			case !ok:
			case targets[j] == TargetTokens && o.OutputTokens != nil:
				t[i][j] = math.Log1p(float64(*o.OutputTokens))
			case targets[j] == TargetCost && o.Cost != nil && *o.Cost > 0:
				t[i][j] = math.Log(*o.Cost)
			}
		}
	}
	return targets, t
}

// rowWeights gives full-information rows weight 1 and trace rows the inverse
// of the propensity their observed candidate was chosen with (capped at
// MaxIPSWeight).
func rowWeights(rows []dataset.Row) []float64 {
	w := make([]float64, len(rows))
	for i, r := range rows {
		w[i] = 1
		keys := make([]string, 0, len(r.Outcomes))
		for k := range r.Outcomes {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p := r.Outcomes[k].Propensity; p != nil && *p > 0 {
				w[i] = min(1 / *p, MaxIPSWeight)
				break
			}
		}
	}
	return w
}

// splitIdx splits 0..n-1 into a validation share and the rest, seeded.
func splitIdx(n int, frac float64, seed int64) (val, fit []int) {
	perm := rand.New(rand.NewPCG(uint64(seed), 0x76616c)).Perm(n)
	nVal := max(1, int(math.Round(frac*float64(n))))
	val, fit = perm[:nVal], perm[nVal:]
	slices.Sort(val)
	slices.Sort(fit)
	return val, fit
}

func pick(rows []dataset.Row, idx []int) []dataset.Row {
	out := make([]dataset.Row, len(idx))
	for k, i := range idx {
		out[k] = rows[i]
	}
	return out
}

// PredictVectors predicts quality and USD cost for featurized rows (chars is
// each prompt's length), as an eval.Matrix over Candidates().
func (r *Router) PredictVectors(xs []feature.Vector, chars []int) eval.Matrix {
	n := len(r.names)
	m := eval.Matrix{Candidates: r.names, Quality: make([][]float64, len(xs)), Cost: make([][]float64, len(xs)), CostScale: r.manifest.CostScale}
	for i, x := range xs {
		m.Quality[i], m.Cost[i] = make([]float64, n), make([]float64, n)
		r.predict(x, chars[i], m.Quality[i], m.Cost[i])
	}
	return m
}

// PredictRows featurizes rows' prompts and predicts every candidate.
// Rows captured as features only are re-weighted when the router's
// featurizer is capture-compatible tf-idf.
func (r *Router) PredictRows(ctx context.Context, rows []dataset.Row) (eval.Matrix, error) {
	texts := make([]string, 0, len(rows))
	chars := make([]int, len(rows))
	tf, _ := r.feat.(*feature.TFIDF)
	for i, row := range rows {
		chars[i] = promptChars(row)
		switch {
		case row.Prompt != "":
			texts = append(texts, row.Prompt)
		case row.Features != nil && tf != nil:
		default:
			return eval.Matrix{}, fmt.Errorf("predict: row %d (%s) has no prompt text (and this router cannot use captured features)", i, row.ID)
		}
	}
	tx, err := r.feat.Transform(ctx, texts)
	if err != nil {
		return eval.Matrix{}, fmt.Errorf("predict: %w", err)
	}
	xs := make([]feature.Vector, len(rows))
	k := 0
	for i, row := range rows {
		if row.Prompt != "" {
			xs[i] = tx[k]
			k++
		} else {
			xs[i] = tf.Reweight(*row.Features)
		}
	}
	return r.PredictVectors(xs, chars), nil
}

// canaries records up to n validation prompts whose pick at each operating
// point wins by a clear margin, so the check does not flip on rounding.
func (r *Router) canaries(ctx context.Context, rows []dataset.Row, n int) []bundle.Canary {
	var out []bundle.Canary
	for _, row := range rows {
		if len(out) >= n {
			break
		}
		if row.Prompt == "" {
			continue // a captured row has no text to replay
		}
		for _, op := range r.manifest.Operating {
			d, err := r.Decide(ctx, row.Prompt, nil, op.Lambda)
			if err != nil || !clearWin(d) {
				continue
			}
			out = append(out, bundle.Canary{Prompt: row.Prompt, OperatingPoint: op.Name, Pick: d.Model})
			break
		}
	}
	return out
}

func clearWin(d Decision) bool {
	for j, c := range d.Candidates {
		if j != d.Pick && d.Candidates[d.Pick].Score-c.Score < 1e-3 {
			return false
		}
	}
	return true
}

// featurizeRows fits the featurizer and featurizes every row. Rows captured
// as features only (no text) count toward tf-idf's document frequencies and
// are re-weighted by its idf, which gives the vector the text would have.
func featurizeRows(ctx context.Context, cfg feature.Config, rows []dataset.Row, captured int) (feature.Featurizer, []feature.Vector, error) {
	if captured == 0 {
		texts := make([]string, len(rows))
		for i, r := range rows {
			texts[i] = r.Prompt
		}
		feat, err := feature.Fit(ctx, cfg, texts)
		if err != nil {
			return nil, nil, err
		}
		xs, err := feat.Transform(ctx, texts)
		return feat, xs, err
	}
	var texts []string
	var vecs []feature.Vector
	for _, r := range rows {
		if r.Prompt != "" {
			texts = append(texts, r.Prompt)
		} else {
			vecs = append(vecs, *r.Features)
		}
	}
	t, err := feature.FitTFIDFMixed(cfg, texts, vecs)
	if err != nil {
		return nil, nil, err
	}
	xs := make([]feature.Vector, len(rows))
	for i, r := range rows {
		if r.Prompt != "" {
			xs[i] = t.TransformOne(r.Prompt)
		} else {
			xs[i] = t.Reweight(*r.Features)
		}
	}
	return t, xs, nil
}

// promptChars is the prompt's length for the cost model: the text's, or for
// a captured row about four characters per recorded input token.
func promptChars(r dataset.Row) int {
	if r.Prompt != "" {
		return len(r.Prompt)
	}
	for _, o := range r.Outcomes {
		if o.InputTokens != nil {
			return 4 * *o.InputTokens
		}
	}
	return 0
}
