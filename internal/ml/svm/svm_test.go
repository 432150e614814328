package svm

import (
	"context"
	"errors"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/mltest"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

func predictAll(m *Model, xs []feature.Vector) [][]float64 { return mltest.PredictAll(m, xs) }

func TestLearnsTopics(t *testing.T) {
	train := synthetic.Vectors(600, 30, 1)
	test := synthetic.Vectors(200, 30, 2)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"linear", Config{Seed: 1}},
		{"rff", Config{Kernel: KernelRFF, RFFDim: 512, Gamma: 0.25, C: 1, Seed: 2}},
		{"nystrom", Config{Kernel: KernelNystrom, Landmarks: 64, Gamma: 1, C: 1, Seed: 3}},
		{"nystrom+linear", Config{Kernel: KernelNystrom, Landmarks: 64, AddLinear: true, Seed: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mltest.LearnsTopics(t, func() (*Model, error) {
				return Train(context.Background(), tc.cfg, train.X, synthetic.Dim, train.Q, nil)
			}, Unmarshal, test)
		})
	}
}

// TestRowWeights checks that inverse-propensity weights move the fit: the
// same prompt observed good three times as often (by weight) predicts
// higher.
func TestRowWeights(t *testing.T) {
	mltest.RowWeightsMoveFit(t, func(x []feature.Vector, dim int, y [][]float64, w []float64) (*Model, error) {
		return Train(context.Background(), Config{Seed: 1, C: 0.1}, x, dim, y, w)
	})
}

func TestBadInput(t *testing.T) {
	d := synthetic.Vectors(20, 5, 1)
	for _, tc := range []struct {
		name string
		cfg  Config
		w    []float64
	}{
		{"bad kernel", Config{Kernel: "poly"}, nil},
		{"negative c", Config{C: -1}, nil},
		{"weights length", Config{}, []float64{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Train(context.Background(), tc.cfg, d.X, synthetic.Dim, d.Q, tc.w); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	m, err := Train(context.Background(), Config{}, d.X, synthetic.Dim, d.Q, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := m.MarshalBinary()
	for n := 0; n < len(blob); n += 7 {
		if _, err := Unmarshal(blob[:n]); !errors.Is(err, bundle.ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: got %v, want ErrCorrupt", n, err)
		}
	}
}
