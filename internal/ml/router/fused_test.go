package router

import (
	"context"
	"math"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// The fused layout must give, bit for bit, what the models' own layouts
// give; and kinds without a sparse first stage must not get one.
func TestFusedMatchesModels(t *testing.T) {
	ctx := context.Background()
	train := synthRows(300, 1)
	prompts := append(synthetic.Prompts(100, 20, 9).Prompts, "", "unseen words only")
	cfgs := trainConfigs()
	ens := cfgs[KindMLP]
	ens.MLP = mlp.Config{Hidden: []int{8}, Ensemble: 3}
	cfgs["mlp-ensemble"] = ens
	rff := cfgs[KindSVM]
	rff.SVM = svm.Config{Kernel: svm.KernelRFF, RFFDim: 64}
	cfgs["svm-rff"] = rff
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			r, _, err := Train(ctx, cfg, train)
			if err != nil {
				t.Fatal(err)
			}
			wantFused := name == KindMLP || name == "mlp-ensemble" || name == KindSVM
			if (r.fused != nil) != wantFused {
				t.Fatalf("fused layout %v, want %v", r.fused != nil, wantFused)
			}
			if r.fused == nil {
				return
			}
			n := len(r.names)
			q1, c1 := make([]float64, n), make([]float64, n)
			q2, c2 := make([]float64, n), make([]float64, n)
			h := make([]float32, r.fused.width)
			for _, p := range prompts {
				x := r.feat.(intoTransformer).TransformInto(p, feature.Vector{})
				r.predict(x, len(p), q1, c1)
				r.fused.predict(x, r.cost, len(p), h, q2, c2)
				r.costsFromRaw(len(p), c2, c2)
				for j := range n {
					if math.Float64bits(q1[j]) != math.Float64bits(q2[j]) || math.Float64bits(c1[j]) != math.Float64bits(c2[j]) {
						t.Fatalf("%q candidate %d: fused quality %v cost %v, models %v %v", p, j, q2[j], c2[j], q1[j], c1[j])
					}
				}
			}
		})
	}
}
