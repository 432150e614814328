package routers

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
)

// evaluate trains cfg on train and scores it on test.
func evaluate(tb testing.TB, cfg router.TrainConfig, train, test []dataset.Row) (eval.Report, router.Summary, time.Duration) {
	tb.Helper()
	ctx := context.Background()
	start := time.Now()
	r, sum, err := router.Train(ctx, cfg, train)
	if err != nil {
		tb.Fatal(err)
	}
	took := time.Since(start)
	pred, err := r.PredictRows(ctx, test)
	if err != nil {
		tb.Fatal(err)
	}
	truth := eval.FromRows(test, r.Candidates())
	var ops []eval.OperatingPoint
	for _, op := range r.Manifest().Operating {
		ops = append(ops, eval.OperatingPoint{Name: op.Name, Lambda: op.Lambda, Fraction: op.Fraction, CostScale: r.Manifest().CostScale})
	}
	return eval.Evaluate(truth, pred, ops), sum, took
}

// BenchmarkAIQ trains every router kind on each data set's training split
// and reports its test AIQ, the single models' AIQ, the best single and
// oracle quality, and the training time. One iteration is one full run, so
// use -benchtime 1x.
func BenchmarkAIQ(b *testing.B) {
	sets := []struct {
		name string
		load func(testing.TB) ([]dataset.Row, []dataset.Row)
	}{
		{"routerbench", loadRouterBench},
		{"dcrouter", loadDCRouter},
	}
	for _, set := range sets {
		for _, kind := range router.Kinds {
			b.Run(set.name+"/"+kind, func(b *testing.B) {
				train, test := set.load(b)
				cfg := Config(set.name, kind)
				var rep eval.Report
				var sum router.Summary
				var took time.Duration
				for b.Loop() {
					rep, sum, took = evaluate(b, cfg, train, test)
				}
				b.ReportMetric(rep.AIQ, "aiq")
				b.ReportMetric(rep.AIQSingles, "aiq_singles")
				b.ReportMetric(rep.BestSingleQuality, "best_single_q")
				b.ReportMetric(rep.OracleQuality, "oracle_q")
				b.ReportMetric(sum.Validation.AIQ, "val_aiq")
				b.ReportMetric(took.Seconds(), "train_s")
				for _, op := range rep.OperatingPoints {
					b.Logf("%s %s: lambda %.3g quality %.4f cost %.6f", set.name, op.Name, op.Lambda, op.Quality, op.Cost)
				}
			})
		}
	}
}
