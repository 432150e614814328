package router

import (
	"context"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

// TestDecideIntoAllocatesNothing checks the serving path's steady state: a
// caller that keeps its Decision gets decisions with no allocation, for
// every kind (the MLP as an ensemble too). The race detector makes
// sync.Pool drop items at random, so the count is only checked without it.
func TestDecideIntoAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	ctx := context.Background()
	train := synthRows(300, 1)
	prompts := synthetic.Prompts(20, 40, 3).Prompts
	cfgs := trainConfigs()
	ens := cfgs[KindMLP]
	ens.MLP = mlp.Config{Hidden: []int{8}, Ensemble: 3}
	cfgs["mlp-ensemble"] = ens
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			r, _, err := Train(ctx, cfg, train)
			if err != nil {
				t.Fatal(err)
			}
			var d Decision
			i := 0
			decide := func() {
				if err := r.DecideInto(ctx, prompts[i%len(prompts)], nil, 0.5, &d); err != nil {
					t.Fatal(err)
				}
				i++
			}
			for range 2 * len(prompts) {
				decide() // grow the pooled buffers to the longest prompt
			}
			if n := testing.AllocsPerRun(200, decide); n != 0 {
				t.Fatalf("%v allocations per decision, want 0", n)
			}
		})
	}
}
