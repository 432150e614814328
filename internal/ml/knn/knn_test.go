package knn

import (
	"cmp"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

func predictAll(m *Model, xs []feature.Vector) [][]float64 {
	out := make([][]float64, len(xs))
	for i, x := range xs {
		out[i] = make([]float64, m.Candidates())
		m.Predict(x, out[i])
	}
	return out
}

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
			m, err := Train(context.Background(), tc.cfg, train.X, synthetic.Dim, train.Q, nil)
			if err != nil {
				t.Fatal(err)
			}
			pred := predictAll(m, test.X)
			wrong := 0
			for i, p := range pred {
				best := 0
				if p[1] > p[0] {
					best = 1
				}
				if best != test.Topic[i] {
					wrong++
				}
			}
			if wrong > len(pred)/50 {
				t.Fatalf("%d of %d test rows routed to the wrong candidate", wrong, len(pred))
			}
			// Deterministic and identical after a save/load round trip.
			again, err := Train(context.Background(), tc.cfg, train.X, synthetic.Dim, train.Q, nil)
			if err != nil {
				t.Fatal(err)
			}
			blob, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			loaded, err := Unmarshal(blob)
			if err != nil {
				t.Fatal(err)
			}
			for name, other := range map[string]*Model{"retrained": again, "loaded": loaded} {
				for i, p := range predictAll(other, test.X) {
					for j := range p {
						if p[j] != pred[i][j] {
							t.Fatalf("%s model differs at row %d candidate %d: %v vs %v", name, i, j, p[j], pred[i][j])
						}
					}
				}
			}
		})
	}
}

// TestRowWeights checks that inverse-propensity weights move the fit: the
// same prompt observed good three times as often (by weight) predicts
// higher.
func TestRowWeights(t *testing.T) {
	d := synthetic.Vectors(400, 30, 5)
	y := make([][]float64, len(d.X))
	w := make([]float64, len(d.X))
	for i := range y {
		y[i] = []float64{float64(i / 2 % 2), math.NaN()}
		w[i] = 1
		if y[i][0] == 1 {
			w[i] = 3
		}
	}
	plain, err := Train(context.Background(), Config{K: 40}, d.X, synthetic.Dim, y, nil)
	if err != nil {
		t.Fatal(err)
	}
	weighted, err := Train(context.Background(), Config{K: 40}, d.X, synthetic.Dim, y, w)
	if err != nil {
		t.Fatal(err)
	}
	var sp, sw float64
	for _, p := range predictAll(plain, d.X[:100]) {
		sp += p[0]
	}
	for _, p := range predictAll(weighted, d.X[:100]) {
		sw += p[0]
	}
	sp, sw = sp/100, sw/100
	if !(sp > 0.35 && sp < 0.65) || !(sw > 0.65) {
		t.Fatalf("mean prediction unweighted %.3f (want ~0.5), weighted %.3f (want ~0.75)", sp, sw)
	}
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

// The pruned exact search must find exactly the neighbours, with exactly the
// similarities, that scoring every posting finds.
func TestPrunedSearchMatchesFull(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		rows, nnz int
		k         int
	}{
		{"few rows", 30, 8, 50},
		{"k1", 2000, 20, 1},
		{"k20", 3000, 30, 20},
		{"k150", 3000, 30, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := synthetic.Vectors(tc.rows, tc.nnz, 3)
			m, err := Train(ctx, Config{K: tc.k}, d.X, synthetic.Dim, d.Q, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !m.nonneg {
				t.Fatal("tf-idf-like rows not seen as nonnegative")
			}
			qs := synthetic.Vectors(200, tc.nnz, 4).X
			pruned := m.pool.Get().(*scratch)
			full := m.newScratch().(*scratch)
			full.bits = nil // disables pruning
			stopped := 0
			for i, q := range qs {
				pruned.top.reset()
				full.top.reset()
				m.searchSparse(q, pruned)
				m.searchSparse(q, full)
				if !slices.Equal(pruned.top.items, full.top.items) {
					t.Fatalf("query %d: pruned %v, full %v", i, pruned.top.items, full.top.items)
				}
				if len(pruned.touched) < len(full.touched) {
					stopped++
				}
			}
			t.Logf("%d of %d queries stopped early", stopped, len(qs))
			if tc.k == 1 && stopped == 0 {
				t.Fatal("no query stopped early: the test does not exercise pruning")
			}
		})
	}
}
