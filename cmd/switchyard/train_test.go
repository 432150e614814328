package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/router/synthetic"
)

// writeSynthData writes a generated data set (x-large good on both topics,
// y-small only on topic B and ten times cheaper) and returns its path.
func writeSynthData(t *testing.T, dir, name string, n int, seed uint64) string {
	t.Helper()
	d := synthetic.Prompts(n, 12, seed)
	rows := make([]dataset.Row, n)
	for i := range rows {
		qx, qy := d.Q[i][0], d.Q[i][1]
		cx, cy := synthetic.CostX, synthetic.CostY
		rows[i] = dataset.Row{ID: name + string(rune('a'+i%26)) + d.Prompts[i], Prompt: d.Prompts[i], Outcomes: map[string]dataset.Outcome{
			synthetic.X: {Quality: &qx, Cost: &cx},
			synthetic.Y: {Quality: &qy, Cost: &cy},
		}}
	}
	p := filepath.Join(dir, name)
	if err := dataset.Write(p, rows); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConfig = `name: synth
version: "1"
kind: KIND
seed: 3
data:
  train: train.jsonl
  test: test.jsonl
featurizer:
  kind: tfidf
  dim: 16384
operating_points:
  balanced: 0.98
output: models/synth
`

func TestTrainThenEval(t *testing.T) {
	dir := t.TempDir()
	writeSynthData(t, dir, "train.jsonl", 300, 1)
	test := writeSynthData(t, dir, "test.jsonl", 100, 2)
	for _, kind := range []string{"knn", "mlp", "svm"} {
		t.Run(kind, func(t *testing.T) {
			cfg := filepath.Join(dir, kind+".yaml")
			body := strings.Replace(goodConfig, "KIND", kind, 1)
			body = strings.Replace(body, "models/synth", "models/"+kind, 1)
			os.WriteFile(cfg, []byte(body), 0o644)
			var out, errw bytes.Buffer
			if err := runTrain(context.Background(), cfg, &out, &errw); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "AIQ") {
				t.Fatalf("no evaluation summary in:\n%s", out.String())
			}
			var js bytes.Buffer
			cmd := newEvalCmd()
			cmd.SetOut(&js)
			cmd.SetArgs([]string{"--model", filepath.Join(dir, "models", kind), "--data", test, "--json", "--plot", filepath.Join(dir, kind+".png")})
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			var rep map[string]any
			if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
				t.Fatalf("eval --json is not one JSON object: %v\n%s", err, js.String())
			}
			for _, k := range []string{"aiq", "best_single_quality", "oracle_quality", "operating_points", "savings"} {
				if _, ok := rep[k]; !ok {
					t.Fatalf("eval --json lacks %q", k)
				}
			}
			// The router learns the topics: at lambda 0 it reaches the
			// oracle's quality (1.0 here), above what random choice gets.
			if q := rep["operating_points"].([]any)[0].(map[string]any)["quality"].(float64); q < 0.97 {
				t.Fatalf("router quality %v on separable data", q)
			}
			if st, err := os.Stat(filepath.Join(dir, kind+".png")); err != nil || st.Size() == 0 {
				t.Fatalf("plot not written: %v", err)
			}
		})
	}
}

func TestTrainBadConfig(t *testing.T) {
	dir := t.TempDir()
	writeSynthData(t, dir, "train.jsonl", 50, 1)
	writeSynthData(t, dir, "test.jsonl", 20, 2)
	good := strings.Replace(goodConfig, "KIND", "knn", 1)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unknown kind", strings.Replace(good, "kind: knn", "kind: forest", 1), `unknown kind "forest"`},
		{"missing file", strings.Replace(good, "train.jsonl", "nope.jsonl", 1), "nope.jsonl"},
		{"unknown key", good + "epochs: 3\n", "epochs"},
		{"bad yaml", "name: [", "yaml"},
		{"file and train", strings.Replace(good, "  test: test.jsonl", "  file: test.jsonl", 1), "either file"},
		{"wrong section", good + "mlp: {hidden: [4]}\n", `section "mlp"`},
		{"bad featurizer", strings.Replace(good, "kind: tfidf", "kind: bow", 1), `featurizer: unknown kind "bow"`},
		{"bad knn index", good + "knn: {index: hnsw}\n", `knn: index "hnsw"`},
		{"bad knn probe", good + "knn: {index: sparse-ivf, probe: -1}\n", `knn: `},
		{"bad svm landmarks", strings.Replace(goodConfig, "KIND", "svm", 1) + "svm: {kernel: nystrom, landmarks: 5000}\n", `svm: landmarks 5000`},
		{"bad svm kernel option", strings.Replace(goodConfig, "KIND", "svm", 1) + "svm: {landmarks: 64}\n", `svm: landmarks and add_linear apply to kernel "nystrom" only`},
		{"bad fraction", strings.Replace(good, "balanced: 0.98", "balanced: 1.5", 1), "operating_points"},
		{"no output", strings.Replace(good, "output: models/synth\n", "", 1), "output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "c.yaml")
			os.WriteFile(cfg, []byte(tc.body), 0o644)
			var out, errw bytes.Buffer
			err := runTrain(context.Background(), cfg, &out, &errw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "models")); !os.IsNotExist(err) {
				t.Fatalf("a bad config still wrote output: %v", err)
			}
		})
	}
	var out, errw bytes.Buffer
	if err := runTrain(context.Background(), filepath.Join(dir, "absent.yaml"), &out, &errw); err == nil {
		t.Fatal("missing config file: want an error")
	}
}

func TestEvalBadInput(t *testing.T) {
	dir := t.TempDir()
	data := writeSynthData(t, dir, "d.jsonl", 20, 1)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"missing bundle", []string{"--model", filepath.Join(dir, "none"), "--data", data}},
		{"missing data", []string{"--model", dir, "--data", filepath.Join(dir, "none.jsonl")}},
		{"no flags", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newEvalCmd()
			cmd.SetArgs(tc.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			if err := cmd.Execute(); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
