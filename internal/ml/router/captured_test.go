package router

import (
	"context"
	"math"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// TestTrainOnCapturedFeatures trains on rows whose prompts were captured as
// hashed features only (the gateway's default capture) and checks the
// router predicts as if it had seen the text.
func TestTrainOnCapturedFeatures(t *testing.T) {
	ctx := context.Background()
	rows := synthRows(600, 3)
	hashed, err := feature.NewHashedTF(feature.Config{Kind: feature.KindTFIDF})
	if err != nil {
		t.Fatal(err)
	}
	captured := make([]dataset.Row, len(rows))
	for i, r := range rows {
		v := hashed.TransformOne(r.Prompt)
		r.Features, r.Prompt = &v, ""
		captured[i] = r
	}
	cfg := TrainConfig{Name: "cap", Version: "1", Kind: "mlp", Featurizer: feature.Config{Kind: feature.KindTFIDF}, Seed: 1}
	withText, _, err := Train(ctx, cfg, rows)
	if err != nil {
		t.Fatal(err)
	}
	fromFeatures, _, err := Train(ctx, cfg, captured)
	if err != nil {
		t.Fatal(err)
	}
	test := synthRows(100, 9)
	a, err := withText.PredictRows(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fromFeatures.PredictRows(ctx, test)
	if err != nil {
		t.Fatal(err)
	}
	for r := range a.Quality {
		for j := range a.Quality[r] {
			if d := math.Abs(a.Quality[r][j] - b.Quality[r][j]); d > 1e-4 {
				t.Fatalf("row %d cand %d: text-trained %.5f vs feature-trained %.5f", r, j, a.Quality[r][j], b.Quality[r][j])
			}
		}
	}
	cfg.Featurizer.Dim = 1 << 16
	if _, _, err := Train(ctx, cfg, captured); err == nil {
		t.Error("captured rows with a non-default featurizer should be refused")
	}
}
