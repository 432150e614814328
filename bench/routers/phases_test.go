package routers

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// evictBuf is larger than the last-level cache; walking it between calls
// leaves the caches as a decision finds them after other requests' work.
var evictBuf = make([]byte, 32<<20)

func evict() {
	for i := 0; i < len(evictBuf); i += 64 {
		evictBuf[i]++
	}
}

// timeEach runs fn(i) for i = 0, 1, ... under b.Loop, timing each call on
// its own so between (if set) runs untimed, and reports p50 and p99 in
// microseconds. ns/op includes between.
func timeEach(b *testing.B, fn func(i int), between func()) {
	times := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if between != nil {
			between()
		}
		start := time.Now()
		fn(i)
		if len(times) < cap(times) {
			times = append(times, time.Since(start))
		}
		i++
	}
	slices.Sort(times)
	q := func(f float64) float64 { return float64(times[int(f*float64(len(times)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(q(0.50), "p50_us")
	b.ReportMetric(q(0.99), "p99_us")
}

// BenchmarkPhases splits a decision into featurization and the quality
// models' Predict, on RouterBench's training split and ~500-character
// generated prompts, to find where the time goes. Featurization is timed on
// one prompt repeated (the feature package's own benchmark), on distinct
// prompts, and on distinct prompts after the caches were flushed.
func BenchmarkPhases(b *testing.B) {
	ctx := context.Background()
	train, _ := loadRouterBench(b)
	texts := make([]string, len(train))
	for i, r := range train {
		texts[i] = r.Prompt
	}
	truth := eval.FromRows(train, dataset.Candidates(train))
	prompts := synthetic.Realistic(2000, 500, 3).Prompts
	for _, dim := range []int{1 << 18, 1 << 16} {
		f, err := feature.Fit(ctx, feature.Config{Kind: feature.KindTFIDF, Dim: dim}, texts)
		if err != nil {
			b.Fatal(err)
		}
		tf := f.(*feature.TFIDF)
		name := fmt.Sprintf("dim2^%d", map[int]int{1 << 18: 18, 1 << 16: 16}[dim])
		b.Run(name+"/featurize/one-prompt", func(b *testing.B) {
			timeEach(b, func(int) { _ = tf.TransformOne(prompts[0]) }, nil)
		})
		b.Run(name+"/featurize/distinct", func(b *testing.B) {
			timeEach(b, func(i int) { _ = tf.TransformOne(prompts[i%len(prompts)]) }, nil)
		})
		b.Run(name+"/featurize/distinct-evicted", func(b *testing.B) {
			timeEach(b, func(i int) { _ = tf.TransformOne(prompts[i%len(prompts)]) }, evict)
		})
		xs, err := f.Transform(ctx, texts)
		if err != nil {
			b.Fatal(err)
		}
		qs := make([]feature.Vector, len(prompts))
		for i, p := range prompts {
			qs[i] = tf.TransformOne(p)
		}
		models := map[string]router.QualityModel{}
		for _, e := range []int{1, 3} {
			m, err := mlp.Train(ctx, mlp.Config{Hidden: []int{32}, L2: 1e-4, LearningRate: 3e-3, Seed: 7, Ensemble: e}, xs, dim, truth.Quality, nil)
			if err != nil {
				b.Fatal(err)
			}
			models[fmt.Sprintf("mlp-ens%d", e)] = m
		}
		s, err := svm.Train(ctx, svm.Config{C: 0.003, Seed: 7}, xs, dim, truth.Quality, nil)
		if err != nil {
			b.Fatal(err)
		}
		models["svm"] = s
		k, err := knn.Train(ctx, knn.Config{K: 150, Prior: 3}, xs, dim, truth.Quality, nil)
		if err != nil {
			b.Fatal(err)
		}
		models["knn"] = k
		for _, mn := range []string{"mlp-ens1", "mlp-ens3", "svm", "knn"} {
			m := models[mn]
			out := make([]float64, m.Candidates())
			b.Run(name+"/predict/"+mn, func(b *testing.B) {
				timeEach(b, func(i int) { m.Predict(qs[i%len(qs)], out) }, nil)
			})
			b.Run(name+"/predict-evicted/"+mn, func(b *testing.B) {
				timeEach(b, func(i int) { m.Predict(qs[i%len(qs)], out) }, evict)
			})
		}
	}
}

var spinSink uint64

// BenchmarkMachineTail times a fixed ~15 us of pure arithmetic (no memory
// traffic, no allocation) in the same harness as the decisions: whatever
// its p99 exceeds its p50 by is the machine's own tail (timer interrupts,
// preemption, the hypervisor), which no change to a router can remove.
func BenchmarkMachineTail(b *testing.B) {
	timeEach(b, func(int) {
		x := uint64(1)
		for range 12_000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		spinSink += x
	}, nil)
}
