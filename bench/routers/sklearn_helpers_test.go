package routers

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
)

// The scikit-learn comparison is only as fair as the plumbing between the
// script and the scorer: predictions must land on the right candidate and
// row, and a short or malformed output must fail loudly rather than score.

func TestReadSKResult(t *testing.T) {
	for _, tc := range []struct {
		name, body, err string
		rows            int
	}{
		{"ok", `{"candidates":["a","b"],"test_rows":2,"kinds":{"knn":{"quality":[[0.1,null],[0.2,0.3]]}}}`, "", 2},
		{"not json", `{"candidates":`, "unexpected end", 2},
		{"other kind", `{"candidates":["a"],"test_rows":1,"kinds":{"mlp":{"quality":[[0.1]]}}}`, `no "knn" predictions`, 1},
		{"short", `{"candidates":["a"],"test_rows":1,"kinds":{"knn":{"quality":[[0.1]]}}}`, "knn: 1 rows, want 2", 2},
		{"ragged", `{"candidates":["a","b"],"test_rows":1,"kinds":{"knn":{"quality":[[0.1]]}}}`, "row 0 has 1 values for 2 candidates", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pred.json")
			if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readSKResult(path, tc.rows, "knn")
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestWithQualityMapsByName(t *testing.T) {
	pred := eval.Matrix{
		Candidates: []string{"a", "b", "c"},
		Quality:    [][]float64{{9, 9, 9}, {9, 9, 9}},
		Cost:       [][]float64{{1, 2, 3}, {4, 5, 6}},
		CostScale:  3,
	}
	f := func(v float64) *float64 { return &v }
	// The script lists candidates in its own order and may omit one (c)
	// or leave a value null.
	res := skResult{Candidates: []string{"b", "a"}}
	k := skKind{Quality: [][]*float64{{f(0.2), f(0.1)}, {nil, f(0.4)}}}
	got := withQuality(pred, res, k)
	want := [][]float64{{0.1, 0.2, math.NaN()}, {0.4, math.NaN(), math.NaN()}}
	for i := range want {
		for j := range want[i] {
			g, w := got.Quality[i][j], want[i][j]
			if g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
				t.Errorf("quality[%d][%d] = %v, want %v", i, j, g, w)
			}
		}
	}
	if got.Cost[1][2] != 6 || got.CostScale != 3 {
		t.Errorf("cost predictions or scale changed: %v, %v", got.Cost, got.CostScale)
	}
	if pred.Quality[0][0] != 9 {
		t.Error("withQuality changed its input")
	}
}

func TestWithMeanCost(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	train := []dataset.Row{
		{ID: "1", Prompt: "x", Outcomes: map[string]dataset.Outcome{"a": {Quality: f(1), Cost: f(1)}, "b": {Quality: f(0), Cost: f(10)}}},
		{ID: "2", Prompt: "y", Outcomes: map[string]dataset.Outcome{"a": {Quality: f(0), Cost: f(3)}, "b": {Quality: f(1), Cost: f(30)}}},
	}
	pred := eval.Matrix{Candidates: []string{"b", "a"}, Quality: [][]float64{{0.5, 0.5}}, Cost: [][]float64{{7, 7}}}
	got := withMeanCost(pred, train)
	if got.Cost[0][0] != 20 || got.Cost[0][1] != 2 {
		t.Errorf("mean costs %v, want [20 2] (b, a)", got.Cost[0])
	}
	if pred.Cost[0][0] != 7 {
		t.Error("withMeanCost changed its input")
	}
}

// TestSKLearnScriptLearnsTopics runs the reference script on small generated
// data where the answer is known (prompts about cooking are answered well
// only by model "chef", prompts about code only by "coder") and checks each
// estimator ranks the right model first on held-out prompts. It skips where
// /usr/bin/python3 has no scikit-learn.
func TestSKLearnScriptLearnsTopics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python with scikit-learn (~15 s)")
	}
	requireSKLearn(t)
	f := func(v float64) *float64 { return &v }
	topics := []struct{ words, good string }{
		{"recipe oven bake flour sugar butter simmer", "chef"},
		{"function compile pointer loop variable golang", "coder"},
	}
	var train, test []dataset.Row
	for i := range 60 {
		tp := topics[i%2]
		w := strings.Fields(tp.words)
		prompt := w[i%len(w)] + " " + w[(i/2)%len(w)] + " " + w[(i/3)%len(w)] + " question " + string(rune('a'+i%26))
		row := dataset.Row{ID: strconv.Itoa(i), Prompt: prompt, Outcomes: map[string]dataset.Outcome{}}
		for _, m := range []string{"chef", "coder"} {
			q := 0.0
			if m == tp.good {
				q = 1
			}
			row.Outcomes[m] = dataset.Outcome{Quality: f(q), Cost: f(1)}
		}
		if i < 48 {
			train = append(train, row)
		} else {
			test = append(test, row)
		}
	}
	kinds := []string{"knn", "mlp", "svm", "linsvr"}
	res := runSKLearn(t, train, test, 7, kinds...)
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			k := res.Kinds[kind]
			col := map[string]int{}
			for j, n := range res.Candidates {
				col[n] = j
			}
			for i, row := range test {
				good, bad := "chef", "coder"
				if row.Outcomes["coder"].Quality != nil && *row.Outcomes["coder"].Quality == 1 {
					good, bad = bad, good
				}
				q := k.Quality[i]
				if q[col[good]] == nil || q[col[bad]] == nil || *q[col[good]] <= *q[col[bad]] {
					t.Errorf("test row %d %q: %s predicted %v, %s %v; want %s ahead", i, row.Prompt, good, q[col[good]], bad, q[col[bad]], good)
				}
			}
		})
	}
}
