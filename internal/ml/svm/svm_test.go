package svm

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
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
	for name, cfg := range map[string]Config{
		"linear":  {Seed: 1, C: 0.1},
		"nystrom": {Seed: 1, C: 0.1, Kernel: KernelNystrom, Landmarks: 32},
	} {
		t.Run(name, func(t *testing.T) {
			mltest.RowWeightsMoveFit(t, func(x []feature.Vector, dim int, y [][]float64, w []float64) (*Model, error) {
				return Train(context.Background(), cfg, x, dim, y, w)
			})
		})
	}
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
		{"negative landmarks", Config{Kernel: KernelNystrom, Landmarks: -1}, nil},
		{"too many landmarks", Config{Kernel: KernelNystrom, Landmarks: maxLandmarks + 1}, nil},
		{"landmarks without nystrom", Config{Landmarks: 64}, nil},
		{"add_linear with rff", Config{Kernel: KernelRFF, AddLinear: true}, nil},
		{"nystrom negative gamma", Config{Kernel: KernelNystrom, Gamma: -1}, nil},
		{"weights length", Config{}, []float64{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Train(context.Background(), tc.cfg, d.X, synthetic.Dim, d.Q, tc.w); err == nil {
				t.Fatal("want an error")
			}
			if err := tc.cfg.Validate(); (err == nil) != (tc.w != nil) {
				t.Fatalf("Validate: %v", err) // only the weights need data to fail
			}
		})
	}
	for _, cfg := range []Config{{}, {Kernel: KernelNystrom, Landmarks: 8, AddLinear: true}} {
		m, err := Train(context.Background(), cfg, d.X, synthetic.Dim, d.Q, nil)
		if err != nil {
			t.Fatal(err)
		}
		blob, _ := m.MarshalBinary()
		for n := 0; n < len(blob); n += 7 {
			if _, err := Unmarshal(blob[:n]); !errors.Is(err, bundle.ErrCorrupt) {
				t.Fatalf("%s: truncated to %d bytes: got %v, want ErrCorrupt", cfg.Kernel, n, err)
			}
		}
	}
}

// TestCodecVersions checks that only a nystrom machine is written as
// payload version 2 (a linear or rff bundle stays readable by builds that
// know version 1 only), that an unknown version is refused by name, and
// that a version-2 payload whose landmarks are corrupt is refused.
func TestCodecVersions(t *testing.T) {
	d := synthetic.Vectors(60, 5, 1)
	train := func(cfg Config) *Model {
		t.Helper()
		m, err := Train(context.Background(), cfg, d.X, synthetic.Dim, d.Q, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		cfg  Config
		want uint32
	}{
		{Config{}, 1},
		{Config{Kernel: KernelRFF, RFFDim: 16}, 1},
		{Config{Kernel: KernelNystrom, Landmarks: 16}, 2},
	} {
		blob, _ := train(tc.cfg).MarshalBinary()
		if got := binary.LittleEndian.Uint32(blob); got != tc.want {
			t.Errorf("kernel %q written as version %d, want %d", tc.cfg.Kernel, got, tc.want)
		}
	}
	nys := train(Config{Kernel: KernelNystrom, Landmarks: 16})
	blob, _ := nys.MarshalBinary()
	for _, tc := range []struct {
		name   string
		mutate func(m *Model, blob []byte) []byte
		want   string
	}{
		{"unknown version", func(_ *Model, b []byte) []byte { binary.LittleEndian.PutUint32(b, 3); return b }, "unknown payload version 3"},
		{"nystrom as version 1", func(_ *Model, b []byte) []byte { binary.LittleEndian.PutUint32(b, 1); return b }, "corrupt"},
		{"landmark column beyond input", func(m *Model, _ []byte) []byte {
			m.lmCol = slices.Clone(m.lmCol)
			m.lmCol[0] = uint32(len(m.cols))
			out, _ := m.MarshalBinary()
			return out
		}, "landmark 0 columns"},
		{"landmark offsets", func(m *Model, _ []byte) []byte {
			m.lmPtr = slices.Clone(m.lmPtr)
			m.lmPtr[1] = m.lmPtr[len(m.lmPtr)-1] + 1
			out, _ := m.MarshalBinary()
			return out
		}, "landmark"},
		{"non-finite landmark", func(m *Model, _ []byte) []byte {
			m.lmVal = slices.Clone(m.lmVal)
			m.lmVal[0] = float32(math.NaN())
			out, _ := m.MarshalBinary()
			return out
		}, "non-finite landmark"},
		{"weights for other landmark count", func(m *Model, _ []byte) []byte {
			m.lmPtr = m.lmPtr[:len(m.lmPtr)-1]
			m.lmCol, m.lmVal = m.lmCol[:m.lmPtr[len(m.lmPtr)-1]], m.lmVal[:m.lmPtr[len(m.lmPtr)-1]]
			out, _ := m.MarshalBinary()
			return out
		}, "weights do not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Unmarshal(blob) // a fresh copy to corrupt
			if err != nil {
				t.Fatal(err)
			}
			_, err = Unmarshal(tc.mutate(m, slices.Clone(blob)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestExpNeg checks the kernel's exp against math.Exp over the whole range
// it is used on (0 down to float32's smallest normal), to float32 precision.
func TestExpNeg(t *testing.T) {
	for x := 0.0; x >= -87; x -= 0.001 {
		want := math.Exp(x)
		if got := float64(expNeg(x)); math.Abs(got-want) > 2e-7*want {
			t.Fatalf("expNeg(%v) = %v, want %v (relative error %.2g)", x, got, want, math.Abs(got-want)/want)
		}
	}
	for _, x := range []float64{-87.5, -200, math.Inf(-1)} {
		if got := expNeg(x); got != 0 {
			t.Errorf("expNeg(%v) = %v, want 0", x, got)
		}
	}
}
