package mlp

import (
	"context"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/mltest"
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
	train3 := func(cfg Config) (*Model, error) { return Train(ctx, cfg, train.X, synthetic.Dim, train.Q, nil) }
	mltest.LearnsTopics(t, func() (*Model, error) { return train3(cfg) }, Unmarshal, test)
	m, err := train3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.InputDropout = 0
	plain, err := train3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	for i, p := range predictAll(plain, test.X) {
		q := predictAll(m, test.X[i:i+1])[0]
		for j := range p {
			differs = differs || p[j] != q[j]
		}
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
