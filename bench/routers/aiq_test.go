package routers

import (
	"context"
	"testing"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"

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

// splitSeeds are the random 70/30 splits BenchmarkAIQSplits averages over;
// seed 7 is BenchmarkAIQ's split.
var splitSeeds = []int64{7, 8, 9, 10, 11, 12}

// BenchmarkAIQSplits trains and scores every router kind on several random
// 70/30 splits of each pooled data set and reports the mean, standard
// deviation, minimum and maximum of its test AIQ, and its mean lift over the
// single models' AIQ on the same split: one split moves AIQ by about as much
// as the gaps to the scikit-learn figures, so one split alone decides
// little. The same settings as BenchmarkAIQ; nothing is tuned here. Run:
// go test ./bench/routers -run '^$' -bench 'AIQSplits/routerbench' -benchtime 1x -v
func BenchmarkAIQSplits(b *testing.B) {
	for _, set := range []struct {
		name string
		pool func(testing.TB) []dataset.Row
	}{{"routerbench", poolRouterBench}, {"dcrouter", poolDCRouter}} {
		for _, kind := range router.Kinds {
			b.Run(set.name+"/"+kind, func(b *testing.B) {
				rows := set.pool(b)
				cfg := Config(set.name, kind)
				var aiq, lift, singles []float64
				var secs float64
				for b.Loop() {
					aiq, lift, singles, secs = nil, nil, nil, 0
					for _, seed := range splitSeeds {
						train, test := dataset.Split(rows, testFrac, seed)
						rep, _, took := evaluate(b, cfg, train, test)
						aiq = append(aiq, rep.AIQ)
						singles = append(singles, rep.AIQSingles)
						lift = append(lift, rep.AIQ-rep.AIQSingles)
						secs += took.Seconds()
					}
				}
				m, sd := stat.MeanStdDev(aiq, nil)
				b.ReportMetric(m, "aiq_mean")
				b.ReportMetric(sd, "aiq_sd")
				b.ReportMetric(floats.Min(aiq), "aiq_min")
				b.ReportMetric(floats.Max(aiq), "aiq_max")
				b.ReportMetric(stat.Mean(lift, nil), "lift_mean")
				b.ReportMetric(stat.Mean(singles, nil), "aiq_singles_mean")
				b.ReportMetric(secs/float64(len(splitSeeds)), "train_s")
				b.Logf("%s %s per split (seeds %v): aiq %.4f singles %.4f", set.name, kind, splitSeeds, aiq, singles)
			})
		}
	}
	// The task prior (taskprior_test.go) on the same splits: what knowing
	// only a RouterBench prompt's task is worth.
	b.Run("routerbench/taskprior", func(b *testing.B) {
		rows := poolRouterBench(b)
		cands := dataset.Candidates(rows)
		var aiq, lift []float64
		for b.Loop() {
			aiq, lift = nil, nil
			for _, seed := range splitSeeds {
				train, test := dataset.Split(rows, testFrac, seed)
				truth := eval.FromRows(test, cands)
				rep := eval.Evaluate(truth, taskPrior(train, test, cands), nil)
				aiq, lift = append(aiq, rep.AIQ), append(lift, rep.AIQ-rep.AIQSingles)
			}
		}
		m, sd := stat.MeanStdDev(aiq, nil)
		b.ReportMetric(m, "aiq_mean")
		b.ReportMetric(sd, "aiq_sd")
		b.ReportMetric(floats.Min(aiq), "aiq_min")
		b.ReportMetric(floats.Max(aiq), "aiq_max")
		b.ReportMetric(stat.Mean(lift, nil), "lift_mean")
		b.Logf("routerbench taskprior per split (seeds %v): aiq %.4f", splitSeeds, aiq)
	})
}
