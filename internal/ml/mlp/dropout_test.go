package mlp

import (
	"context"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

// TestInputDropout checks that a network trained with input dropout still
// learns the synthetic topics, is deterministic for a seed, and differs from
// the one trained without it (the option is not silently ignored); and that
// a dropout outside [0, 1) is rejected.
func TestInputDropout(t *testing.T) {
	train := synthetic.Vectors(600, 30, 1)
	test := synthetic.Vectors(200, 30, 2)
	ctx := context.Background()
	cfg := Config{Hidden: []int{16}, Seed: 3, MaxEpochs: 30, InputDropout: 0.3}
	m, err := Train(ctx, cfg, train.X, synthetic.Dim, train.Q, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Train(ctx, cfg, train.X, synthetic.Dim, train.Q, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.InputDropout = 0
	plain, err := Train(ctx, cfg, train.X, synthetic.Dim, train.Q, nil)
	if err != nil {
		t.Fatal(err)
	}
	pred, pAgain, pPlain := predictAll(m, test.X), predictAll(again, test.X), predictAll(plain, test.X)
	wrong, differs := 0, false
	for i, p := range pred {
		best := 0
		if p[1] > p[0] {
			best = 1
		}
		if best != test.Topic[i] {
			wrong++
		}
		for j := range p {
			if p[j] != pAgain[i][j] {
				t.Fatalf("retrained model differs at row %d candidate %d: %v vs %v", i, j, pAgain[i][j], p[j])
			}
			differs = differs || p[j] != pPlain[i][j]
		}
	}
	if wrong > len(pred)/50 {
		t.Fatalf("%d of %d test rows routed to the wrong candidate", wrong, len(pred))
	}
	if !differs {
		t.Fatal("input dropout 0.3 trained the same network as no dropout")
	}
	for _, bad := range []float64{-0.1, 1, 1.5} {
		t.Run("reject", func(t *testing.T) {
			if _, err := Train(ctx, Config{InputDropout: bad}, train.X, synthetic.Dim, train.Q, nil); err == nil {
				t.Fatalf("input dropout %v: want an error", bad)
			}
		})
	}
}
