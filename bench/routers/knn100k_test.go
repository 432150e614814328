package routers

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

// The KNN-at-100,000-rows yardstick (issue 4). An approximate index is worth
// shipping only if it routes about as well as exact search, so each variant
// is scored on held-out synthetic.Realistic rows whose per-candidate
// outcomes are known: routed quality and cost at its own calibrated balanced
// point, AIQ over the lambda sweep, and the paired per-query difference from
// the exact index. The noise floor is a second exact index trained on an
// independent 100,000-row sample of the same distribution: how much two
// equally good exact routers disagree.

const (
	knnTrainRows = 100_000
	knnHeldOut   = 2000
)

// knnVariants are the indexes BenchmarkDecideKNN100k and
// BenchmarkKNN100kQuality compare. "exact-b" is the noise floor: exact
// search trained on a second, independent sample.
var knnVariants = []struct {
	name   string
	cfg    knn.Config
	sample uint64 // synthetic.Realistic seed of the training rows
}{
	{"exact", knn.Config{K: 20}, 1},
	{"exact-b", knn.Config{K: 20}, 11},
	{"ivf-probe4", knn.Config{K: 20, Index: knn.IndexIVF, Probe: 4, Seed: 1}, 1},
	{"ivf-probe8-rerank200", knn.Config{K: 20, Index: knn.IndexIVF, Probe: 8, Rerank: 200, Seed: 1}, 1},
	{"sparse-ivf-probe1", knn.Config{K: 20, Index: knn.IndexSparseIVF, Probe: 1, Seed: 1}, 1},
	{"sparse-ivf-probe2", knn.Config{K: 20, Index: knn.IndexSparseIVF, Probe: 2, Seed: 1}, 1},
	{"sparse-ivf-probe4", knn.Config{K: 20, Index: knn.IndexSparseIVF, Probe: 4, Seed: 1}, 1},
	// Lists of ~24 rows instead of 32: fewer rows scored per query.
	{"sparse-ivf-lists4166-probe1", knn.Config{K: 20, Index: knn.IndexSparseIVF, Lists: 4166, Probe: 1, Seed: 1}, 1},
	// Centroids of half the terms (128 a group, 16 a list): cheaper
	// centroid stages, lists told apart less well.
	{"sparse-ivf-terms128-probe1", knn.Config{K: 20, Index: knn.IndexSparseIVF, Probe: 1, CentroidTerms: 128, Seed: 1}, 1},
}

// knnFixture caches the trained routers and their held-out predictions across
// the benchmarks of one process: training at 100,000 rows and predicting the
// held-out rows exactly take tens of seconds each.
var knnFixture = struct {
	sync.Mutex
	routers map[string]*router.Router
	scored  map[string]*knnScore
}{routers: map[string]*router.Router{}, scored: map[string]*knnScore{}}

func knnHeldOutData() synthetic.Data { return synthetic.Realistic(knnHeldOut, 500, 2) }

// knnRouter trains (once per process) the router of variant name. With
// SWITCHYARD_KNN100K_CACHE set to a directory, a router saved there by an
// earlier run is loaded instead of trained (and a trained one is saved):
// for iterating on the search, whose derived layout is rebuilt on load.
// Clear the directory after changing the build or the training config: a
// cached router keeps the clustering it was trained with.
func knnRouter(b *testing.B, name string) *router.Router {
	knnFixture.Lock()
	defer knnFixture.Unlock()
	if r, ok := knnFixture.routers[name]; ok {
		return r
	}
	i := slices.IndexFunc(knnVariants, func(v struct {
		name   string
		cfg    knn.Config
		sample uint64
	}) bool {
		return v.name == name
	})
	if i < 0 {
		b.Fatalf("unknown knn variant %q", name)
	}
	v := knnVariants[i]
	cache := os.Getenv("SWITCHYARD_KNN100K_CACHE")
	if cache != "" {
		if r, err := router.Load(context.Background(), filepath.Join(cache, name)); err == nil {
			b.Logf("%s: loaded from %s", name, cache)
			knnFixture.routers[name] = r
			return r
		}
	}
	train := synthRows(synthetic.Realistic(knnTrainRows, 500, v.sample))
	tc := router.TrainConfig{Name: "lat", Version: "1", Kind: router.KindKNN, KNN: v.cfg, Seed: 7,
		Featurizer: feature.Config{Kind: feature.KindTFIDF}, NoRefit: true, ValFrac: 0.02}
	r, sum, err := router.Train(context.Background(), tc, train)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: trained in %.1f s", name, sum.Seconds)
	if cache != "" {
		if err := r.Save(filepath.Join(cache, name)); err != nil {
			b.Fatal(err)
		}
	}
	knnFixture.routers[name] = r
	return r
}

// knnScore is one router's routing on the held-out rows.
type knnScore struct {
	pred eval.Matrix
	// balanced: the router's own calibrated balanced lambda and, per
	// held-out row, the candidate picked there.
	balanced float64
	pick     []int
	// sweep[l][r]: the pick on row r at DefaultLambdas()[l].
	sweep [][]int
}

func knnScored(b *testing.B, name string) *knnScore {
	r := knnRouter(b, name)
	knnFixture.Lock()
	defer knnFixture.Unlock()
	if s, ok := knnFixture.scored[name]; ok {
		return s
	}
	rows := synthRows(knnHeldOutData())
	pred, err := r.PredictRows(context.Background(), rows)
	if err != nil {
		b.Fatal(err)
	}
	lambda, ok := r.Lambda("balanced")
	if !ok {
		b.Fatal("no balanced operating point")
	}
	s := &knnScore{pred: pred, balanced: lambda}
	s.pick = picks(pred, lambda)
	for _, l := range eval.DefaultLambdas() {
		s.sweep = append(s.sweep, picks(pred, l))
	}
	knnFixture.scored[name] = s
	return s
}

// picks is eval.Sweep's decision on every row at lambda (all candidates
// scorable: the synthetic truth is complete).
func picks(pred eval.Matrix, lambda float64) []int {
	out := make([]int, pred.Rows())
	c := make([]float64, len(pred.Candidates))
	for r := range out {
		for j := range c {
			c[j] = pred.Cost[r][j] / pred.CostScale
		}
		out[r] = eval.Decide(pred.Quality[r], c, lambda, nil)
	}
	return out
}

// knnTruth is the held-out rows' known outcomes.
func knnTruth() eval.Matrix {
	return eval.FromRows(synthRows(knnHeldOutData()), []string{synthetic.X, synthetic.Y})
}

// routed returns the mean true quality and cost of picks over rows idx.
func routed(truth eval.Matrix, pick []int, idx []int) eval.Point {
	var p eval.Point
	for _, r := range idx {
		p.Quality += truth.Quality[r][pick[r]]
		p.Cost += truth.Cost[r][pick[r]]
	}
	p.Quality /= float64(len(idx))
	p.Cost /= float64(len(idx))
	return p
}

// aiqOn is the AIQ of a router's sweep over the rows idx (a resample).
func aiqOn(truth eval.Matrix, s *knnScore, idx []int) float64 {
	pts := make([]eval.Point, len(s.sweep))
	for l, pk := range s.sweep {
		pts[l] = routed(truth, pk, idx)
	}
	singles := make([]eval.Point, len(truth.Candidates))
	for j := range singles {
		pk := make([]int, truth.Rows())
		for r := range pk {
			pk[r] = j
		}
		singles[j] = routed(truth, pk, idx)
	}
	return eval.AIQ(pts, singles)
}

// paired compares router a with the reference ref on the same held-out rows:
// the AIQ difference with a 95% paired bootstrap interval (rows resampled,
// both routers scored on each resample), and the mean per-row difference in
// routed quality and cost at each one's balanced point with a 95% normal
// interval. Pick agreement is at ref's balanced lambda, as the latency
// benchmark has always measured it.
type pairedDiff struct {
	aiq, aiqLo, aiqHi float64
	dq, dqHW          float64 // balanced quality difference, half-width
	dc, dcHW          float64 // balanced cost difference (USD), half-width
	agree             float64 // same pick at ref's balanced lambda
	agreeOwn          float64 // same pick, each at its own balanced lambda
	meanAbsDQ         float64
}

func paired(truth eval.Matrix, a, ref *knnScore, seed uint64) pairedDiff {
	n := truth.Rows()
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	var d pairedDiff
	d.aiq = aiqOn(truth, a, all) - aiqOn(truth, ref, all)
	rng := rand.New(rand.NewPCG(seed, 0xa1))
	const resamples = 1000
	diffs := make([]float64, resamples)
	idx := make([]int, n)
	for k := range diffs {
		for i := range idx {
			idx[i] = rng.IntN(n)
		}
		diffs[k] = aiqOn(truth, a, idx) - aiqOn(truth, ref, idx)
	}
	slices.Sort(diffs)
	d.aiqLo, d.aiqHi = diffs[resamples*25/1000], diffs[resamples*975/1000]
	meanHW := func(x []float64) (float64, float64) {
		var m, v float64
		for _, e := range x {
			m += e
		}
		m /= float64(len(x))
		for _, e := range x {
			v += (e - m) * (e - m)
		}
		return m, 1.96 * math.Sqrt(v/float64(len(x)-1)/float64(len(x)))
	}
	dq, dc := make([]float64, n), make([]float64, n)
	for r := range n {
		dq[r] = truth.Quality[r][a.pick[r]] - truth.Quality[r][ref.pick[r]]
		dc[r] = truth.Cost[r][a.pick[r]] - truth.Cost[r][ref.pick[r]]
	}
	d.dq, d.dqHW = meanHW(dq)
	d.dc, d.dcHW = meanHW(dc)
	refPick := picks(a.pred, ref.balanced)
	m := 0
	for r := range n {
		if refPick[r] == ref.pick[r] {
			d.agree++
		}
		if a.pick[r] == ref.pick[r] {
			d.agreeOwn++
		}
		for j := range a.pred.Candidates {
			d.meanAbsDQ += math.Abs(a.pred.Quality[r][j] - ref.pred.Quality[r][j])
			m++
		}
	}
	d.agree /= float64(n)
	d.agreeOwn /= float64(n)
	d.meanAbsDQ /= float64(m)
	return d
}

// BenchmarkKNN100kQuality reports, per variant, the held-out routing of a
// KNN router trained on 100,000 synthetic.Realistic rows: AIQ, quality and
// cost at its balanced point, and the paired difference from the exact
// index (bootstrap interval for AIQ, normal interval for the per-row
// balanced quality and cost). It measures no time: run it with
// -benchtime 1x.
//
//	go test ./bench/routers -run '^$' -bench 'KNN100kQuality' -benchtime 1x -timeout 60m
func BenchmarkKNN100kQuality(b *testing.B) {
	truth := knnTruth()
	for _, v := range knnVariants {
		b.Run(v.name, func(b *testing.B) {
			s := knnScored(b, v.name)
			ref := knnScored(b, "exact")
			for b.Loop() {
			}
			all := make([]int, truth.Rows())
			for i := range all {
				all[i] = i
			}
			bal := routed(truth, s.pick, all)
			b.ReportMetric(aiqOn(truth, s, all), "aiq")
			b.ReportMetric(bal.Quality, "bal_q")
			b.ReportMetric(bal.Cost*1e3, "bal_cost_mUSD")
			if v.name == "exact" {
				return
			}
			d := paired(truth, s, ref, 1)
			b.ReportMetric(d.aiq, "d_aiq")
			b.ReportMetric(d.aiqLo, "d_aiq_lo95")
			b.ReportMetric(d.aiqHi, "d_aiq_hi95")
			b.ReportMetric(d.dq, "d_bal_q")
			b.ReportMetric(d.dqHW, "d_bal_q_hw95")
			b.ReportMetric(d.dc*1e3, "d_bal_cost_mUSD")
			b.ReportMetric(d.dcHW*1e3, "d_bal_cost_hw95")
			b.ReportMetric(d.agree, "agree")
			b.ReportMetric(d.agreeOwn, "agree_own")
			b.ReportMetric(d.meanAbsDQ, "mean_abs_dq")
			b.Log(fmt.Sprintf("%s vs exact: AIQ %+.4f [%+.4f, %+.4f], balanced quality %+.4f ± %.4f, cost %+.3f ± %.3f mUSD, agreement %.3f at exact's lambda, %.3f each at its own",
				v.name, d.aiq, d.aiqLo, d.aiqHi, d.dq, d.dqHW, d.dc*1e3, d.dcHW*1e3, d.agree, d.agreeOwn))
		})
	}
}
