package routers

import (
	"context"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
)

// blendPreds is the weighted mean of several prediction matrices' quality
// (costs from the first).
func blendPreds(ms []eval.Matrix, wts []float64) eval.Matrix {
	out := ms[0]
	q := make([][]float64, len(out.Quality))
	var ws float64
	for _, w := range wts {
		ws += w
	}
	for i := range q {
		q[i] = make([]float64, len(out.Quality[i]))
		for k, m := range ms {
			for j, v := range m.Quality[i] {
				q[i][j] += wts[k] / ws * v
			}
		}
	}
	out.Quality = q
	return out
}

// cvPreds trains cfg (no refit) on folds random 70/30 re-splits of the
// training split and returns each validation part's predictions with its
// truth. The test split is never read.
func cvPreds(b *testing.B, train []dataset.Row, cfg router.TrainConfig, folds int) (preds, truths []eval.Matrix) {
	ctx := context.Background()
	for f := range int64(folds) {
		fit, val := dataset.Split(train, 0.3, 100+f)
		cfg.NoRefit = true
		r, _, err := router.Train(ctx, cfg, fit)
		if err != nil {
			b.Fatal(err)
		}
		p, err := r.PredictRows(ctx, val)
		if err != nil {
			b.Fatal(err)
		}
		preds = append(preds, p)
		truths = append(truths, eval.FromRows(val, r.Candidates()))
	}
	return preds, truths
}

// reportCV is a benchmark body for one setting: its mean AIQ over four
// cvPreds folds as "cv_aiq", and each fold's in the log under label.
func reportCV(b *testing.B, train []dataset.Row, cfg router.TrainConfig, label string) {
	var m float64
	var each []float64
	for b.Loop() {
		p, tr := cvPreds(b, train, cfg, 4)
		m, each = meanAIQ(p, tr)
	}
	b.ReportMetric(m, "cv_aiq")
	b.Logf("%s: folds %.4f", label, each)
}

// meanAIQ is the mean AIQ over folds, and each fold's.
func meanAIQ(preds, truths []eval.Matrix) (float64, []float64) {
	var s float64
	var each []float64
	for i := range preds {
		a := eval.Evaluate(truths[i], preds[i], nil).AIQ
		each = append(each, a)
		s += a
	}
	return s / float64(len(preds)), each
}

// BenchmarkCVBlend measures, by cross-validated AIQ on the training split,
// what averaging predictions buys: single MLPs of five seeds, their 3- and
// 5-member averages, and KNN, SVM and MLP averages. Run:
// go test ./bench/routers -run '^$' -bench CVBlend -benchtime 1x -v
func BenchmarkCVBlend(b *testing.B) {
	for _, set := range []string{"routerbench", "dcrouter"} {
		b.Run(set, func(b *testing.B) {
			load := loadRouterBench
			if set == "dcrouter" {
				load = loadDCRouter
			}
			train, _ := load(b)
			const folds = 4
			var mlps [5][]eval.Matrix
			var tr []eval.Matrix
			for s := range 5 {
				cfg := Config(set, router.KindMLP)
				cfg.MLP.Ensemble, cfg.MLP.Seed = 1, int64(11+s)
				mlps[s], tr = cvPreds(b, train, cfg, folds)
			}
			knnP, _ := cvPreds(b, train, Config(set, router.KindKNN), folds)
			svmP, _ := cvPreds(b, train, Config(set, router.KindSVM), folds)
			combo := func(name string, f func(i int) eval.Matrix) {
				var ps []eval.Matrix
				for i := range folds {
					ps = append(ps, f(i))
				}
				m, each := meanAIQ(ps, tr)
				b.Logf("%s %-14s mean %.4f folds %.4f", set, name, m, each)
			}
			ens := func(n, i int) eval.Matrix {
				var ms []eval.Matrix
				var w []float64
				for s := range n {
					ms, w = append(ms, mlps[s][i]), append(w, 1)
				}
				return blendPreds(ms, w)
			}
			for s := range 5 {
				combo("mlp-seed"+string(rune('0'+s)), func(i int) eval.Matrix { return mlps[s][i] })
			}
			combo("knn", func(i int) eval.Matrix { return knnP[i] })
			combo("svm", func(i int) eval.Matrix { return svmP[i] })
			combo("mean-of-3", func(i int) eval.Matrix { return ens(3, i) })
			combo("mean-of-5", func(i int) eval.Matrix { return ens(5, i) })
			combo("knn+mean3", func(i int) eval.Matrix {
				return blendPreds([]eval.Matrix{knnP[i], ens(3, i)}, []float64{1, 1})
			})
			combo("knn+svm+mean3", func(i int) eval.Matrix {
				return blendPreds([]eval.Matrix{knnP[i], svmP[i], ens(3, i)}, []float64{1, 1, 1})
			})
		})
	}
}
