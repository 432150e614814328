package mlp

import (
	"context"
	"errors"
	"math"
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
		{"one-layer", Config{Hidden: []int{16}, Seed: 1, MaxEpochs: 30}},
		{"two-layer", Config{Hidden: []int{16, 8}, Seed: 2, BatchSize: 16, MaxEpochs: 30}},
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
		return Train(context.Background(), Config{Hidden: []int{8}, Seed: 1}, x, dim, y, w)
	})
}

func TestBadInput(t *testing.T) {
	d := synthetic.Vectors(20, 5, 1)
	for _, tc := range []struct {
		name string
		cfg  Config
		w    []float64
	}{
		{"zero width", Config{Hidden: []int{0}}, nil},
		{"val frac", Config{ValFrac: 0.9}, nil},
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

// TestEnsemble checks that an ensemble predicts the mean of its members,
// that member 0 is the network Ensemble 1 trains, and that it survives a
// save/load round trip.
func TestEnsemble(t *testing.T) {
	train := synthetic.Vectors(300, 30, 3)
	test := synthetic.Vectors(50, 30, 4)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"one-layer", Config{Hidden: []int{8}, Seed: 3, MaxEpochs: 20, Ensemble: 3}},
		{"two-layer", Config{Hidden: []int{8, 4}, Seed: 5, MaxEpochs: 20, Ensemble: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ens, err := Train(context.Background(), tc.cfg, train.X, synthetic.Dim, train.Q, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ens.Members() != tc.cfg.Ensemble || len(ens.Epochs) != tc.cfg.Ensemble {
				t.Fatalf("%d members, %d epoch counts; want %d", ens.Members(), len(ens.Epochs), tc.cfg.Ensemble)
			}
			var singles [][][]float64
			for e := range tc.cfg.Ensemble {
				c := tc.cfg
				c.Ensemble, c.Seed = 1, tc.cfg.Seed+int64(e)
				m, err := Train(context.Background(), c, train.X, synthetic.Dim, train.Q, nil)
				if err != nil {
					t.Fatal(err)
				}
				singles = append(singles, predictAll(m, test.X))
			}
			blob, err := ens.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			loaded, err := Unmarshal(blob)
			if err != nil {
				t.Fatal(err)
			}
			got, again := predictAll(ens, test.X), predictAll(loaded, test.X)
			for i := range got {
				for j := range got[i] {
					var want float64
					for _, s := range singles {
						want += s[i][j]
					}
					want /= float64(len(singles))
					if math.Abs(got[i][j]-want) > 1e-6 {
						t.Fatalf("row %d candidate %d: ensemble %v, mean of members %v", i, j, got[i][j], want)
					}
					if again[i][j] != got[i][j] {
						t.Fatalf("row %d candidate %d: loaded %v, trained %v", i, j, again[i][j], got[i][j])
					}
				}
			}
		})
	}
	if _, err := Train(context.Background(), Config{Ensemble: 33}, train.X, synthetic.Dim, train.Q, nil); err == nil {
		t.Fatal("ensemble 33: want an error")
	}
}

// TestLoadV1 checks that a payload in the single-network layout of version
// 1 still loads and predicts as the network it holds.
func TestLoadV1(t *testing.T) {
	d := synthetic.Vectors(200, 30, 6)
	m, err := Train(context.Background(), Config{Hidden: []int{8, 4}, Seed: 2, MaxEpochs: 10}, d.X, synthetic.Dim, d.Q, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Version 1: one epoch count and no ensemble size; then the input layer
	// and the upper layers in order, which is the packed layout of one member.
	e := &bundle.Enc{}
	e.U32(codecV1)
	e.Int(len(m.cfg.Hidden))
	for _, h := range m.cfg.Hidden {
		e.Int(h)
	}
	e.Int(m.cfg.MaxEpochs)
	e.Int(m.cfg.Patience)
	e.Int(m.cfg.BatchSize)
	e.F64(m.cfg.LearningRate)
	e.F64(m.cfg.L2)
	e.F64(m.cfg.ValFrac)
	e.Int(m.cfg.MinDF)
	e.U64(uint64(m.cfg.Seed))
	e.Int(m.Epochs[0])
	e.Int(m.dim)
	e.Int(m.nCand)
	e.U32s(m.cols)
	e.F32s(m.in)
	e.F32s(m.inB)
	for _, ly := range m.heads[0].layers {
		e.F32s(ly.w)
		e.F32s(ly.b)
	}
	old, err := Unmarshal(e.B)
	if err != nil {
		t.Fatal(err)
	}
	want, got := predictAll(m, d.X), predictAll(old, d.X)
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("row %d candidate %d: v1 load %v, want %v", i, j, got[i][j], want[i][j])
			}
		}
	}
	e.B[0] = 9
	if _, err := Unmarshal(e.B); err == nil {
		t.Fatal("version 9: want an error")
	}
}
