package routers

import (
	"fmt"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
)

// cvVariants are the MLP settings BenchmarkCV compares.
func cvVariants(set string) []struct {
	name string
	mod  func(*router.TrainConfig)
} {
	type v = struct {
		name string
		mod  func(*router.TrainConfig)
	}
	out := []v{
		{"ens1", func(c *router.TrainConfig) { c.MLP.Ensemble = 1 }},
		{"ens3", func(c *router.TrainConfig) { c.MLP.Ensemble = 3 }},
		{"ens3-smooth0.1", func(c *router.TrainConfig) { c.MLP.Ensemble, c.MLP.LabelSmoothing = 3, 0.1 }},
		{"ens3-calib0.1", func(c *router.TrainConfig) { c.MLP.Ensemble, c.ValFrac = 3, 0.1 }},
	}
	for _, d := range []float64{0.1, 0.2, 0.3, 0.5} {
		out = append(out, v{fmt.Sprintf("ens3-drop%g", d), func(c *router.TrainConfig) { c.MLP.Ensemble, c.MLP.InputDropout = 3, d }})
	}
	out = append(out, v{"ens5", func(c *router.TrainConfig) { c.MLP.Ensemble = 5 }})
	if set == "routerbench" {
		out = append(out, v{"ens3-dim16", func(c *router.TrainConfig) { c.MLP.Ensemble, c.Featurizer.Dim = 3, 1<<16 }})
	}
	return out
}

// BenchmarkCV compares MLP settings by mean validation AIQ over four random
// 70/30 re-splits of the training split (the test split is never read):
// one validation split is too noisy to separate settings whose AIQ differs
// by less than 0.01. Run:
// go test ./bench/routers -run '^$' -bench 'CV/routerbench' -benchtime 1x -v
func BenchmarkCV(b *testing.B) {
	for _, set := range []struct {
		name string
		load func(testing.TB) ([]dataset.Row, []dataset.Row)
	}{{"routerbench", loadRouterBench}, {"dcrouter", loadDCRouter}} {
		for _, v := range cvVariants(set.name) {
			b.Run(set.name+"/"+v.name, func(b *testing.B) {
				train, _ := set.load(b)
				cfg := Config(set.name, router.KindMLP)
				v.mod(&cfg)
				var m float64
				var each []float64
				for b.Loop() {
					var p, tr []eval.Matrix
					p, tr = cvPreds(b, train, cfg, 4)
					m, each = meanAIQ(p, tr)
				}
				b.ReportMetric(m, "cv_aiq")
				b.Logf("%s %s: folds %s", set.name, v.name, fmt.Sprintf("%.4f", each))
			})
		}
	}
}
