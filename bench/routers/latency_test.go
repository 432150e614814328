package routers

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

// synthRows turns generated prompts into rows with both candidates' outcomes.
func synthRows(d synthetic.Data) []dataset.Row {
	rows := make([]dataset.Row, len(d.Prompts))
	for i := range rows {
		qx, qy := d.Q[i][0], d.Q[i][1]
		cx, cy := synthetic.CostX, synthetic.CostY
		rows[i] = dataset.Row{ID: d.Prompts[i], Prompt: d.Prompts[i], Outcomes: map[string]dataset.Outcome{
			synthetic.X: {Quality: &qx, Cost: &cx},
			synthetic.Y: {Quality: &qy, Cost: &cy},
		}}
	}
	return rows
}

// measure runs Decide over prompts round-robin, timing each decision, and
// reports p50 and p99 in microseconds alongside ns/op.
func measure(b *testing.B, r *router.Router, prompts []string) {
	ctx := context.Background()
	lambda, _ := r.Lambda("balanced")
	var d router.Decision
	// Warm the pools so the first decisions do not count allocation.
	for _, p := range prompts[:min(len(prompts), 50)] {
		if err := r.DecideInto(ctx, p, nil, lambda, &d); err != nil {
			b.Fatal(err)
		}
	}
	times := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		start := time.Now()
		if err := r.DecideInto(ctx, prompts[i%len(prompts)], nil, lambda, &d); err != nil {
			b.Fatal(err)
		}
		if len(times) < cap(times) {
			times = append(times, time.Since(start))
		}
		i++
	}
	b.StopTimer()
	slices.Sort(times)
	q := func(f float64) float64 { return float64(times[int(f*float64(len(times)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(q(0.50), "p50_us")
	b.ReportMetric(q(0.99), "p99_us")
}

// BenchmarkDecideKNN100k measures a KNN decision, featurization included,
// with 100,000 training rows of ~500-character generated prompts, for the
// exact inverted index and the approximate ivf index.
func BenchmarkDecideKNN100k(b *testing.B) {
	train := synthRows(synthetic.Realistic(100_000, 500, 1))
	queries := synthetic.Realistic(2000, 500, 2).Prompts
	for _, tc := range []struct {
		name string
		cfg  knn.Config
	}{
		{"exact", knn.Config{K: 20}},
		{"ivf", knn.Config{K: 20, Index: knn.IndexIVF, Probe: 4, Seed: 1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := router.TrainConfig{Name: "lat", Version: "1", Kind: router.KindKNN, KNN: tc.cfg, Seed: 7,
				Featurizer: feature.Config{Kind: feature.KindTFIDF}, NoRefit: true, ValFrac: 0.02}
			r, _, err := router.Train(context.Background(), cfg, train)
			if err != nil {
				b.Fatal(err)
			}
			measure(b, r, queries)
		})
	}
}

// BenchmarkDecide measures every kind trained with its benchmark
// configuration on RouterBench's training split, deciding on the test split's
// real prompts (many are long few-shot prompts) and on ~500-character
// generated prompts.
func BenchmarkDecide(b *testing.B) {
	train, test := loadRouterBench(b)
	realPrompts := make([]string, len(test))
	for i, r := range test {
		realPrompts[i] = r.Prompt
	}
	short := synthetic.Realistic(2000, 500, 3).Prompts
	for _, kind := range router.Kinds {
		r, _, err := router.Train(context.Background(), Config("routerbench", kind), train)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(kind+"/routerbench-prompts", func(b *testing.B) { measure(b, r, realPrompts) })
		b.Run(kind+"/500-char-prompts", func(b *testing.B) { measure(b, r, short) })
	}
}
