package router

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/bundle"
	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// synthRows turns synthetic prompts into data set rows: x-large is good on
// both topics, y-small only on topic B, and y-small is ten times cheaper.
func synthRows(n int, seed uint64) []dataset.Row {
	d := synthetic.Prompts(n, 12, seed)
	rows := make([]dataset.Row, n)
	for i := range rows {
		qx, qy := d.Q[i][0], d.Q[i][1]
		cx, cy := synthetic.CostX, synthetic.CostY
		rows[i] = dataset.Row{ID: d.Prompts[i], Prompt: d.Prompts[i], Outcomes: map[string]dataset.Outcome{
			synthetic.X: {Quality: &qx, Cost: &cx},
			synthetic.Y: {Quality: &qy, Cost: &cy},
		}}
	}
	return rows
}

func trainConfigs() map[string]TrainConfig {
	base := TrainConfig{Name: "t", Version: "1", Seed: 7, Featurizer: feature.Config{Kind: feature.KindTFIDF, Dim: 1 << 14}}
	out := map[string]TrainConfig{}
	for kind, mod := range map[string]func(*TrainConfig){
		KindKNN: func(c *TrainConfig) { c.KNN = knn.Config{K: 10} },
		KindMLP: func(c *TrainConfig) { c.MLP = mlp.Config{Hidden: []int{16}} },
		KindSVM: func(c *TrainConfig) { c.SVM = svm.Config{} },
	} {
		c := base
		c.Kind = kind
		mod(&c)
		out[kind] = c
	}
	return out
}

func TestRouterLearnsTopics(t *testing.T) {
	ctx := context.Background()
	train := synthRows(400, 1)
	test := synthetic.Prompts(60, 12, 2)
	for kind, cfg := range trainConfigs() {
		t.Run(kind, func(t *testing.T) {
			r, sum, err := Train(ctx, cfg, train)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Validation.AIQ <= 0 {
				t.Fatalf("validation AIQ %v", sum.Validation.AIQ)
			}
			bal, ok := r.Lambda("balanced")
			if !ok {
				t.Fatalf("no balanced operating point in %+v", r.Manifest().Operating)
			}
			wrongQ, wrongB := 0, 0
			for i, p := range test.Prompts {
				d, err := r.Decide(ctx, p, nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				// At lambda 0 topic A must go to the only model that
				// answers it; topic B is a tie in quality.
				if test.Topic[i] == 0 && d.Model != synthetic.X {
					wrongQ++
				}
				// Balanced keeps 98% of the best single model's quality:
				// topic A still goes to x-large, topic B to the cheap
				// model that is good enough there.
				want := synthetic.X
				if test.Topic[i] == 1 {
					want = synthetic.Y
				}
				if d, _ = r.Decide(ctx, p, nil, bal); d.Model != want {
					wrongB++
				}
			}
			if wrongQ > 2 || wrongB > 2 {
				t.Fatalf("wrong picks: %d at quality, %d at balanced (lambda %v) of %d", wrongQ, wrongB, bal, len(test.Prompts))
			}
			// Unhealthy candidates are never picked.
			d, err := r.Decide(ctx, test.Prompts[0], []bool{false, true}, 0)
			if err != nil || d.Model != synthetic.Y {
				t.Fatalf("with x-large down: %+v, %v", d, err)
			}
			if _, err := r.Decide(ctx, test.Prompts[0], []bool{false, false}, 0); !errors.Is(err, ErrNoHealthy) {
				t.Fatalf("all down: got %v, want ErrNoHealthy", err)
			}

			// Save then load: identical predictions, canaries pass.
			dir := filepath.Join(t.TempDir(), "bundle")
			if err := r.Save(dir); err != nil {
				t.Fatal(err)
			}
			loaded, err := Load(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(loaded.Manifest().Canaries) == 0 {
				t.Fatal("no canaries recorded")
			}
			// Training twice with the same seed gives the same router.
			again, _, err := Train(ctx, cfg, train)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range test.Prompts {
				a, _ := r.Decide(ctx, p, nil, bal)
				for name, other := range map[string]*Router{"loaded": loaded, "retrained": again} {
					b, _ := other.Decide(ctx, p, nil, bal)
					for j := range a.Candidates {
						if a.Candidates[j] != b.Candidates[j] {
							t.Fatalf("%s router differs on %q: %+v vs %+v", name, p, a.Candidates[j], b.Candidates[j])
						}
					}
				}
			}
		})
	}
}

func TestLoadBadBundles(t *testing.T) {
	ctx := context.Background()
	cfg := trainConfigs()[KindKNN]
	r, _, err := Train(ctx, cfg, synthRows(100, 3))
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(t.TempDir(), "good")
	if err := r.Save(good); err != nil {
		t.Fatal(err)
	}
	man, _ := os.ReadFile(filepath.Join(good, bundle.ManifestFile))
	pay, _ := os.ReadFile(filepath.Join(good, bundle.PayloadFile))
	write := func(t *testing.T, m, p []byte) string {
		dir := t.TempDir()
		if m != nil {
			os.WriteFile(filepath.Join(dir, bundle.ManifestFile), m, 0o644)
		}
		if p != nil {
			os.WriteFile(filepath.Join(dir, bundle.PayloadFile), p, 0o644)
		}
		return dir
	}
	flipped := append([]byte(nil), pay...)
	flipped[len(flipped)/2] ^= 0xff
	for _, tc := range []struct {
		name     string
		manifest []byte
		payload  []byte
		want     error
	}{
		{"truncated payload", man, pay[:len(pay)/2], bundle.ErrChecksum},
		{"wrong checksum", man, flipped, bundle.ErrChecksum},
		{"unknown version", []byte(`{"format_version": 99}`), pay, bundle.ErrVersion},
		{"missing payload", man, nil, os.ErrNotExist},
		{"missing manifest", nil, pay, os.ErrNotExist},
		{"manifest not json", []byte("{"), pay, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(ctx, write(t, tc.manifest, tc.payload))
			if err == nil {
				t.Fatal("want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
