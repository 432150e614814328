package routers

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// tuneGrid lists the settings BenchmarkTune compares per kind.
func tuneGrid(kind string) map[string]func(*router.TrainConfig) {
	g := map[string]func(*router.TrainConfig){}
	switch kind {
	case "feat":
		for _, fc := range []struct {
			name string
			w, c [2]int
		}{{"w12", [2]int{1, 2}, [2]int{}}, {"w1", [2]int{1, 1}, [2]int{}}, {"c35", [2]int{}, [2]int{3, 5}}, {"w12c24", [2]int{1, 2}, [2]int{2, 4}}} {
			g[fc.name] = func(c *router.TrainConfig) {
				c.Featurizer.WordNgrams, c.Featurizer.CharNgrams = fc.w, fc.c
			}
		}
	case router.KindKNN:
		for _, k := range []int{20, 40, 80, 150} {
			for _, p := range []float64{1} {
				for _, prior := range []float64{0.5, 3} {
					g[fmt.Sprintf("k%d-pow%g-prior%g", k, p, prior)] = func(c *router.TrainConfig) {
						c.KNN = knn.Config{K: k, Power: p, Prior: prior}
					}
				}
			}
		}
	case router.KindMLP:
		for _, h := range []int{32, 64, 128} {
			for _, l2 := range []float64{1e-5, 1e-4} {
				for _, lr := range []float64{1e-3, 3e-3} {
					g[fmt.Sprintf("h%d-l2%g-lr%g", h, l2, lr)] = func(c *router.TrainConfig) {
						c.MLP = mlp.Config{Hidden: []int{h}, L2: l2, LearningRate: lr}
					}
				}
			}
		}
	case router.KindSVM:
		for _, cc := range []float64{0.003, 0.01, 0.03, 0.1, 0.3} {
			g[fmt.Sprintf("linear-c%g", cc)] = func(c *router.TrainConfig) { c.SVM = svm.Config{C: cc} }
		}
		for _, gm := range []float64{} {
			g[fmt.Sprintf("rff-g%g", gm)] = func(c *router.TrainConfig) {
				c.SVM = svm.Config{Kernel: svm.KernelRFF, RFFDim: 1024, Gamma: gm, C: 1}
			}
		}
	}
	return g
}

// BenchmarkTune compares hyper-parameters by validation AIQ on the training
// split only (router.Train holds out its own validation part); the test
// split is never read. Run: go test ./bench/routers -run '^$' -bench 'Tune/routerbench/knn' -benchtime 1x
func BenchmarkTune(b *testing.B) {
	for _, set := range []struct {
		name string
		load func(testing.TB) ([]dataset.Row, []dataset.Row)
	}{{"routerbench", loadRouterBench}, {"dcrouter", loadDCRouter}} {
		for _, kind := range append([]string{"feat"}, router.Kinds...) {
			for name, mod := range tuneGrid(kind) {
				b.Run(set.name+"/"+kind+"/"+name, func(b *testing.B) {
					train, _ := set.load(b)
					cfg := Config(set.name, kind)
					if kind == "feat" {
						cfg = Config(set.name, router.KindMLP)
					}
					mod(&cfg)
					cfg.NoRefit = true
					cfg.ValFrac = 0.3
					var sum router.Summary
					for b.Loop() {
						var err error
						if _, sum, err = router.Train(context.Background(), cfg, train); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(sum.Validation.AIQ, "val_aiq")
					b.ReportMetric(sum.Seconds, "train_s")
				})
			}
		}
	}
}
