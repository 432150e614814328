package routers

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/stat"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/ml/router"
	"github.com/switchyard-ai/switchyard/internal/ml/svm"
)

// sklearnPython is the interpreter that has Debian's python3-sklearn (1.2.1,
// the README's scikit-learn 1.2). It is named in full because the python3
// first on PATH may be another build without numpy.
const sklearnPython = "/usr/bin/python3"

// sklearnScript is the README's recipe, relative to this package.
var sklearnScript = filepath.Join("..", "reference", "sklearn_routers.py")

// skKinds maps each scikit-learn estimator the script fits to the
// Switchyard kind it is compared with. "linsvr" is the second reading of the
// README's "svm" (see the script's doc), compared with the same SVM router;
// "knn_cv" is a KNN whose k and weighting are cross-validated on the
// training rows, a stronger baseline than the README's defaults.
var skKinds = []struct{ sk, ours string }{
	{"knn", router.KindKNN},
	{"mlp", router.KindMLP},
	{"svm", router.KindSVM},
	{"linsvr", router.KindSVM},
	{"knn_cv", router.KindKNN},
}

// requireSKLearn skips tb unless sklearnPython imports scikit-learn, and
// returns its version.
func requireSKLearn(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command(sklearnPython, "-c", "import sklearn; print(sklearn.__version__)").Output()
	if err != nil {
		tb.Skipf("%s cannot import scikit-learn (%v); install it with: apt-get install -y python3-sklearn", sklearnPython, err)
	}
	return strings.TrimSpace(string(out))
}

// skResult is what sklearn_routers.py writes.
type skResult struct {
	SKLearn    string   `json:"sklearn"`
	Candidates []string `json:"candidates"`
	TestRows   int      `json:"test_rows"`
	Vectorizer struct {
		FitSeconds float64 `json:"fit_seconds"`
		Features   int     `json:"features"`
	} `json:"vectorizer"`
	Kinds map[string]skKind `json:"kinds"`
}

type skKind struct {
	Estimator      string         `json:"estimator"`
	ChosenParams   map[string]any `json:"chosen_params"`
	MultiOutput    bool           `json:"multi_output"`
	FitSeconds     float64        `json:"fit_seconds"`
	PredictSeconds float64        `json:"predict_seconds"`
	Quality        [][]*float64   `json:"quality"`
}

// runSKLearn writes train and test as Switchyard data sets in a temporary
// directory, runs the reference script for the given estimator kinds and
// returns its checked output.
func runSKLearn(tb testing.TB, train, test []dataset.Row, seed int64, kinds ...string) skResult {
	tb.Helper()
	dir := tb.TempDir()
	if keep := os.Getenv("SKLEARN_KEEP"); keep != "" {
		// Keep the files to run the script by hand: SKLEARN_KEEP=/tmp/sk.
		dir = filepath.Join(keep, strings.ReplaceAll(tb.Name(), "/", "_")+"_"+strconv.FormatInt(seed, 10))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	trainPath, testPath, outPath := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "test.jsonl"), filepath.Join(dir, "pred.json")
	if err := dataset.Write(trainPath, train); err != nil {
		tb.Fatal(err)
	}
	if err := dataset.Write(testPath, test); err != nil {
		tb.Fatal(err)
	}
	args := []string{sklearnScript, "--train", trainPath, "--test", testPath,
		"--out", outPath, "--kinds", strings.Join(kinds, ","), "--seed", strconv.FormatInt(seed, 10)}
	if os.Getenv("SKLEARN_MULTI") != "" {
		args = append(args, "--multi")
	}
	cmd := exec.Command(sklearnPython, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("run %s: %v\n%s", sklearnScript, err, stderr.String())
	}
	res, err := readSKResult(outPath, len(test), kinds...)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// readSKResult reads the script's output and checks it covers every test
// row and candidate for each of kinds.
func readSKResult(path string, rows int, kinds ...string) (skResult, error) {
	var res skResult
	b, err := os.ReadFile(path)
	if err != nil {
		return res, fmt.Errorf("read sklearn predictions: %w", err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("read sklearn predictions %s: %w", path, err)
	}
	for _, kind := range kinds {
		k, ok := res.Kinds[kind]
		switch {
		case !ok:
			return res, fmt.Errorf("sklearn predictions %s: no %q predictions", path, kind)
		case res.TestRows != rows || len(k.Quality) != rows:
			return res, fmt.Errorf("sklearn predictions %s: %s: %d rows, want %d", path, kind, len(k.Quality), rows)
		}
		for i, q := range k.Quality {
			if len(q) != len(res.Candidates) {
				return res, fmt.Errorf("sklearn predictions %s: %s: row %d has %d values for %d candidates", path, kind, i, len(q), len(res.Candidates))
			}
		}
	}
	return res, nil
}

// withQuality returns pred with its quality replaced by sklearn's, mapped by
// candidate name: the cost predictions and cost scale stay pred's, so both
// routers decide with the same predicted costs. A candidate sklearn did not
// predict gets NaN (the sweep then skips it).
func withQuality(pred eval.Matrix, res skResult, k skKind) eval.Matrix {
	col := map[string]int{}
	for j, n := range res.Candidates {
		col[n] = j
	}
	out := pred
	out.Quality = make([][]float64, len(k.Quality))
	for i, row := range k.Quality {
		q := make([]float64, len(pred.Candidates))
		for j, n := range pred.Candidates {
			q[j] = math.NaN()
			if c, ok := col[n]; ok && row[c] != nil {
				q[j] = *row[c]
			}
		}
		out.Quality[i] = q
	}
	return out
}

// withMeanCost returns pred with every row's predicted cost replaced by each
// candidate's mean USD cost over the training rows: a cost prediction that
// reads no prompt, the simplest one either side could be given.
func withMeanCost(pred eval.Matrix, train []dataset.Row) eval.Matrix {
	m := eval.Singles(eval.FromRows(train, pred.Candidates))
	out := pred
	out.Cost = make([][]float64, len(pred.Cost))
	for i := range out.Cost {
		c := make([]float64, len(m))
		for j, p := range m {
			c[j] = p.Cost
		}
		out.Cost[i] = c
	}
	return out
}

// aiq is the test AIQ of pred, as BenchmarkAIQ computes it (eval.Evaluate:
// the lambda sweep's hull over the single models' cost span).
func aiq(truth, pred eval.Matrix) float64 {
	return eval.Evaluate(truth, pred, []eval.OperatingPoint{{Name: eval.QualityPoint}}).AIQ
}

// oursCache keeps a trained router's test predictions per (set, kind, seed),
// so "svm" and "linsvr" share one SVM router per split.
var oursCache sync.Map

type oursRun struct {
	pred    eval.Matrix
	seconds float64
}

func oursPredict(tb testing.TB, set, kind string, seed int64, train, test []dataset.Row) oursRun {
	key := fmt.Sprint(set, "/", kind, "/", seed)
	if v, ok := oursCache.Load(key); ok {
		return v.(oursRun)
	}
	ctx := context.Background()
	r, sum, err := router.Train(ctx, Config(set, kind), train)
	if err != nil {
		tb.Fatal(err)
	}
	pred, err := r.PredictRows(ctx, test)
	if err != nil {
		tb.Fatal(err)
	}
	run := oursRun{pred: pred, seconds: sum.Seconds}
	oursCache.Store(key, run)
	return run
}

// BenchmarkSKLearnSameSplit compares Switchyard's routers with the real
// scikit-learn 1.2 recipe of the routing README (bench/reference/
// sklearn_routers.py) on the very same rows: for each 70/30 split of
// BenchmarkAIQSplits (seeds 7..12, dataset.Split), Go writes the train and
// test rows, the script fits and predicts every candidate's quality, and both
// sides' predictions are scored by the same eval code.
//
// Cost: scikit-learn's regressors predict quality only, so each side is
// scored twice. "cost model": both decide with the cost predictions of
// Switchyard's router of the same kind trained on the same split (its
// per-candidate log-cost regression); "mean cost": both decide with each
// candidate's mean training cost, ignoring the prompt. The lambda grid and
// cost scale are the same on both sides.
//
// Metrics: mean AIQ of each side and the mean and sd of (ours - sklearn)
// over the splits, under both cost rules; per-split figures and fit times
// are logged. Skips when /usr/bin/python3 has no scikit-learn. Run one set
// and estimator at a time, with SKLEARN_SEEDS for the slow ones: scikit-learn's
// per-candidate MLP takes ~40 minutes per RouterBench split on two cores and
// SVR 3-4 minutes; KNN and LinearSVR about a minute. For example:
// go test ./bench/routers -run '^$' -bench 'SKLearnSameSplit/routerbench/knn$' -benchtime 1x -v -timeout 90m
func BenchmarkSKLearnSameSplit(b *testing.B) {
	version := requireSKLearn(b)
	seeds := splitSeeds
	if s := os.Getenv("SKLEARN_SEEDS"); s != "" {
		// e.g. SKLEARN_SEEDS=7 for one split while iterating.
		seeds = nil
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				b.Fatal(fmt.Errorf("SKLEARN_SEEDS %q: %w", s, err))
			}
			seeds = append(seeds, v)
		}
	}
	for _, set := range []struct {
		name string
		pool func(testing.TB) []dataset.Row
	}{{"routerbench", poolRouterBench}, {"dcrouter", poolDCRouter}} {
		for _, k := range skKinds {
			b.Run(set.name+"/"+k.sk, func(b *testing.B) {
				rows := set.pool(b)
				var ours, sk, oursMean, skMean []float64
				for b.Loop() {
					ours, sk, oursMean, skMean = nil, nil, nil, nil
					for _, seed := range seeds {
						train, test := dataset.Split(rows, testFrac, seed)
						truth := eval.FromRows(test, dataset.Candidates(rows))
						run := oursPredict(b, set.name, k.ours, seed, train, test)
						if !slices.Equal(run.pred.Candidates, truth.Candidates) {
							b.Fatalf("router candidates %v differ from the data's %v", run.pred.Candidates, truth.Candidates)
						}
						res := runSKLearn(b, train, test, seed, k.sk)
						kr := res.Kinds[k.sk]
						skPred := withQuality(run.pred, res, kr)
						ours = append(ours, aiq(truth, run.pred))
						sk = append(sk, aiq(truth, skPred))
						oursMean = append(oursMean, aiq(truth, withMeanCost(run.pred, train)))
						skMean = append(skMean, aiq(truth, withMeanCost(skPred, train)))
						b.Logf("%s %s seed %d: cost model: ours %.4f sklearn %.4f diff %+.4f | mean cost: ours %.4f sklearn %.4f diff %+.4f | fit: ours %.1f s (whole Train), sklearn %.1f s + tf-idf %.1f s (%d features), sklearn predict %.2f s; sklearn multi-output %v, chose %v",
							set.name, k.sk, seed, ours[len(ours)-1], sk[len(sk)-1], ours[len(ours)-1]-sk[len(sk)-1],
							oursMean[len(oursMean)-1], skMean[len(skMean)-1], oursMean[len(oursMean)-1]-skMean[len(skMean)-1],
							run.seconds, kr.FitSeconds, res.Vectorizer.FitSeconds, res.Vectorizer.Features, kr.PredictSeconds, kr.MultiOutput, kr.ChosenParams)
					}
				}
				report := func(prefix string, o, s []float64) {
					d := make([]float64, len(o))
					for i := range o {
						d[i] = o[i] - s[i]
					}
					b.ReportMetric(stat.Mean(o, nil), prefix+"ours")
					b.ReportMetric(stat.Mean(s, nil), prefix+"sklearn")
					b.ReportMetric(stat.Mean(d, nil), prefix+"diff_mean")
					if len(d) > 1 {
						b.ReportMetric(stat.StdDev(d, nil), prefix+"diff_sd")
					}
					b.Logf("%s %s %sdiff per split (seeds %v): %.4f", set.name, k.sk, prefix, seeds, d)
				}
				report("", ours, sk)
				report("meancost_", oursMean, skMean)
				b.Logf("scikit-learn %s, estimator %s", version, k.sk)
			})
		}
	}
}

// BenchmarkCVSVMDCRouter is the follow-up to scikit-learn's SVR matching our
// SVM on dcrouter's same splits: SVM settings compared by cross-validated
// AIQ on the training split of seed 7 only (BenchmarkCV's four re-splits;
// the test split is never read). Run:
// go test ./bench/routers -run '^$' -bench CVSVMDCRouter -benchtime 1x -v
func BenchmarkCVSVMDCRouter(b *testing.B) {
	feat := func(w, c [2]int) feature.Config {
		return feature.Config{Kind: feature.KindTFIDF, WordNgrams: w, CharNgrams: c}
	}
	for _, v := range []struct {
		name string
		cfg  svm.Config
		feat feature.Config
	}{
		{"linear-c0.3", svm.Config{C: 0.3}, feature.Config{}},
		{"linear-c0.1", svm.Config{C: 0.1}, feature.Config{}},
		{"linear-c1", svm.Config{C: 1}, feature.Config{}},
		{"linear-c0.03", svm.Config{C: 0.03}, feature.Config{}},
		{"linear-c0.2", svm.Config{C: 0.2}, feature.Config{}},
		{"linear-c0.3-calib0.1", svm.Config{C: 0.3, CalibFrac: 0.1}, feature.Config{}},
		{"linear-c0.3-calib0.3", svm.Config{C: 0.3, CalibFrac: 0.3}, feature.Config{}},
		{"linear-c0.3-mindf2", svm.Config{C: 0.3, MinDF: 2}, feature.Config{}},
		{"rff1024-g1-c1", svm.Config{Kernel: svm.KernelRFF, RFFDim: 1024, Gamma: 1, C: 1}, feature.Config{}},
		{"rff1024-g2-c1", svm.Config{Kernel: svm.KernelRFF, RFFDim: 1024, Gamma: 2, C: 1}, feature.Config{}},
		{"rff4096-g1-c1", svm.Config{Kernel: svm.KernelRFF, RFFDim: 4096, Gamma: 1, C: 1}, feature.Config{}},
		{"linear-c0.3-w1", svm.Config{C: 0.3}, feat([2]int{1, 1}, [2]int{})},
		{"linear-c0.3-w13", svm.Config{C: 0.3}, feat([2]int{1, 3}, [2]int{})},
		{"linear-c0.3-w12c35", svm.Config{C: 0.3}, feat([2]int{1, 2}, [2]int{3, 5})},
	} {
		b.Run(v.name, func(b *testing.B) {
			train, _ := loadDCRouter(b)
			cfg := Config("dcrouter", router.KindSVM)
			cfg.SVM = v.cfg
			if v.feat.Kind != "" {
				cfg.Featurizer = v.feat
			}
			reportCV(b, train, cfg, "dcrouter svm "+v.name)
		})
	}
}
