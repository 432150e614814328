package knn

import (
	"cmp"
	"context"
	"errors"
	"math"
	"math/rand/v2"
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
		{"exact", Config{K: 10}},
		{"ivf", Config{K: 10, Index: IndexIVF, Lists: 16, Probe: 4, Seed: 3}},
		{"exact-power", Config{K: 25, Power: 2, Prior: 1}},
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
		return Train(context.Background(), Config{K: 40}, x, dim, y, w)
	})
}

func TestBadInput(t *testing.T) {
	d := synthetic.Vectors(20, 5, 1)
	for _, tc := range []struct {
		name string
		cfg  Config
		w    []float64
	}{
		{"bad index", Config{Index: "hnsw"}, nil},
		{"negative k", Config{K: -1}, nil},
		{"proj dim", Config{Index: IndexIVF, ProjDim: 100}, nil},
		{"weights length", Config{}, []float64{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Train(context.Background(), tc.cfg, d.X, synthetic.Dim, d.Q, tc.w); err == nil {
				t.Fatal("want an error")
			}
		})
	}
	m, err := Train(context.Background(), Config{Index: IndexIVF, Lists: 4}, d.X, synthetic.Dim, d.Q, nil)
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

// denseTopics makes embedding-like dense unit vectors: topic A leans on the
// first half of the dimensions, topic B on the second.
func denseTopics(n, dim int, seed uint64) ([]feature.Vector, [][]float64, []int) {
	rng := rand.New(rand.NewPCG(seed, 9))
	xs := make([]feature.Vector, n)
	ys := make([][]float64, n)
	topics := make([]int, n)
	for i := range xs {
		topic := i % 2
		v := feature.Vector{Idx: make([]uint32, dim), Val: make([]float32, dim)}
		var norm float64
		for d := range dim {
			x := rng.NormFloat64() * 0.3
			if (d < dim/2) == (topic == 0) {
				x += 1
			}
			v.Idx[d], v.Val[d] = uint32(d), float32(x)
			norm += x * x
		}
		for d := range v.Val {
			v.Val[d] /= float32(math.Sqrt(norm))
		}
		xs[i], topics[i] = v, topic
		ys[i] = []float64{float64(1 - topic), float64(topic)}
	}
	return xs, ys, topics
}

func TestDensePath(t *testing.T) {
	const dim = 32
	x, y, _ := denseTopics(400, dim, 1)
	tx, _, topics := denseTopics(100, dim, 2)
	for _, cfg := range []Config{{K: 10}, {K: 10, Index: IndexIVF, Lists: 8, Probe: 2}} {
		t.Run(cmp.Or(cfg.Index, IndexExact)+"-dense", func(t *testing.T) {
			m, err := Train(context.Background(), cfg, x, dim, y, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Index == "" && !m.dense {
				t.Fatal("dense rows did not take the dense path")
			}
			wrong := 0
			for i, p := range predictAll(m, tx) {
				if (p[1] > p[0]) != (topics[i] == 1) {
					wrong++
				}
			}
			if wrong > 2 {
				t.Fatalf("%d of %d dense rows misrouted", wrong, len(tx))
			}
		})
	}
}
