// Package mltest holds the checks every learned model's tests share: that
// it learns synthetic topics, deterministically, and survives a save and
// load unchanged.
package mltest

import (
	"math"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

// Model is what the KNN, MLP and SVM models have in common.
type Model interface {
	Candidates() int
	Predict(x feature.Vector, out []float64)
	MarshalBinary() ([]byte, error)
}

// PredictAll is every candidate's prediction for each row of xs.
func PredictAll(m Model, xs []feature.Vector) [][]float64 {
	out := make([][]float64, len(xs))
	for i, x := range xs {
		out[i] = make([]float64, m.Candidates())
		m.Predict(x, out[i])
	}
	return out
}

// LearnsTopics trains a model with train, which must use the same seed and
// data each time, and checks on test (synthetic.Vectors rows, where topic
// A's prompts are answered well only by candidate 0 and topic B's only by
// candidate 1) that:
//   - at most one test row in 50 scores its topic's candidate below the
//     other;
//   - training again gives identical predictions;
//   - the model after MarshalBinary and unmarshal gives identical
//     predictions.
func LearnsTopics[M Model](t *testing.T, train func() (M, error), unmarshal func([]byte) (M, error), test synthetic.Data) {
	t.Helper()
	m, err := train()
	if err != nil {
		t.Fatal(err)
	}
	pred := PredictAll(m, test.X)
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
	again, err := train()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := unmarshal(blob)
	if err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string]M{"retrained": again, "loaded": loaded} {
		for i, p := range PredictAll(other, test.X) {
			for j := range p {
				if p[j] != pred[i][j] {
					t.Fatalf("%s model differs at row %d candidate %d: %v vs %v", name, i, j, p[j], pred[i][j])
				}
			}
		}
	}
}

// RowWeightsMoveFit checks that row weights (inverse propensity, for rows
// from traces) move the fit: candidate 0's outcome is good on every other
// pair of rows and missing for candidate 1; weighting the good rows three
// times must lift candidate 0's mean prediction from about 0.5 to about
// 0.75. train fits the model to d's rows with the given outcomes and
// weights (nil: unweighted).
func RowWeightsMoveFit[M Model](t *testing.T, train func(x []feature.Vector, dim int, y [][]float64, w []float64) (M, error)) {
	t.Helper()
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
	plain, err := train(d.X, synthetic.Dim, y, nil)
	if err != nil {
		t.Fatal(err)
	}
	weighted, err := train(d.X, synthetic.Dim, y, w)
	if err != nil {
		t.Fatal(err)
	}
	var sp, sw float64
	for _, p := range PredictAll(plain, d.X[:100]) {
		sp += p[0]
	}
	for _, p := range PredictAll(weighted, d.X[:100]) {
		sw += p[0]
	}
	sp, sw = sp/100, sw/100
	if !(sp > 0.35 && sp < 0.65) || !(sw > 0.65) {
		t.Fatalf("mean prediction unweighted %.3f (want ~0.5), weighted %.3f (want ~0.75)", sp, sw)
	}
}
