package router

import (
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/knn"
	"github.com/switchyard-ai/switchyard/internal/ml/mlp"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden from the current code")

// goldenConfigs are the bundles kept in testdata/golden: every kind with the
// default featurizer (dim 2^18, word 1-2 grams), the MLP as an ensemble and
// KNN with both indexes.
func goldenConfigs() map[string]TrainConfig {
	base := TrainConfig{Name: "golden", Version: "1", Seed: 7, Featurizer: feature.Config{Kind: feature.KindTFIDF}}
	out := map[string]TrainConfig{}
	for name, mod := range map[string]func(*TrainConfig){
		"knn": func(c *TrainConfig) { c.Kind, c.KNN = KindKNN, knn.Config{K: 10} },
		"knn-ivf": func(c *TrainConfig) {
			c.Kind, c.KNN = KindKNN, knn.Config{K: 10, Index: knn.IndexIVF, Probe: 2, Seed: 1}
		},
		"mlp": func(c *TrainConfig) { c.Kind, c.MLP = KindMLP, mlp.Config{Hidden: []int{8}, Ensemble: 3} },
		"svm": func(c *TrainConfig) { c.Kind, c.SVM = KindSVM, svm.Config{} },
	} {
		c := base
		mod(&c)
		out[name] = c
	}
	return out
}

// goldenPrediction is one prompt's predicted quality and cost per candidate,
// as the exact bits of the float64s (JSON numbers would round them).
type goldenPrediction struct {
	Prompt  string   `json:"prompt"`
	Quality []uint64 `json:"quality"`
	Cost    []uint64 `json:"cost"`
	Pick    string   `json:"pick"`
}

func goldenPrompts() []string {
	p := synthetic.Prompts(40, 30, 11).Prompts
	return append(p, "", "nothing seen in training here", "Ünïcödé straße — write a function")
}

func predictAll(t *testing.T, r *Router) []goldenPrediction {
	t.Helper()
	lambda, ok := r.Lambda("balanced")
	if !ok {
		t.Fatal("no balanced operating point")
	}
	var out []goldenPrediction
	for _, p := range goldenPrompts() {
		d, err := r.Decide(context.Background(), p, nil, lambda)
		if err != nil {
			t.Fatal(err)
		}
		g := goldenPrediction{Prompt: p, Pick: d.Model}
		for _, c := range d.Candidates {
			g.Quality = append(g.Quality, math.Float64bits(c.Quality))
			g.Cost = append(g.Cost, math.Float64bits(c.Cost))
		}
		out = append(out, g)
	}
	return out
}

// TestGoldenBundles loads bundles saved by an earlier build (commit babc3f0,
// before the decision-latency work of issue #4) and checks that they predict
// exactly what that build predicted: a faster serving layout must be
// computed at load time from the stored one, not change the answers. Run
// with -update-golden to rewrite them (only when a format change is meant).
func TestGoldenBundles(t *testing.T) {
	if runtime.GOARCH != "amd64" && !*updateGolden {
		t.Skipf("predictions recorded on amd64; %s may fuse multiply-adds", runtime.GOARCH)
	}
	dir := filepath.Join("testdata", "golden")
	for name, cfg := range goldenConfigs() {
		t.Run(name, func(t *testing.T) {
			bdir := filepath.Join(dir, name)
			want := filepath.Join(dir, name+".json")
			if *updateGolden {
				r, _, err := Train(context.Background(), cfg, synthRows(300, 5))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(bdir); err != nil {
					t.Fatal(err)
				}
				if err := r.Save(bdir); err != nil {
					t.Fatal(err)
				}
				b, err := json.MarshalIndent(predictAll(t, r), "", " ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(want, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r, err := Load(context.Background(), bdir)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			var pinned []goldenPrediction
			if err := json.Unmarshal(b, &pinned); err != nil {
				t.Fatal(err)
			}
			got := predictAll(t, r)
			if len(got) != len(pinned) {
				t.Fatalf("%d predictions, pinned %d", len(got), len(pinned))
			}
			for i := range got {
				g, w := got[i], pinned[i]
				if g.Prompt != w.Prompt || g.Pick != w.Pick {
					t.Fatalf("prompt %d %q: pick %q, pinned %q (%q)", i, g.Prompt, g.Pick, w.Pick, w.Prompt)
				}
				for j := range w.Quality {
					if g.Quality[j] != w.Quality[j] || g.Cost[j] != w.Cost[j] {
						t.Fatalf("prompt %d %q candidate %d: quality %v cost %v, pinned %v %v", i, g.Prompt, j,
							math.Float64frombits(g.Quality[j]), math.Float64frombits(g.Cost[j]),
							math.Float64frombits(w.Quality[j]), math.Float64frombits(w.Cost[j]))
					}
				}
			}
		})
	}
}
