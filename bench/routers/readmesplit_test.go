package routers

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
	"github.com/switchyard-ai/switchyard/internal/ml/eval"
)

// readmeFigures are the README's test-split figures that do not depend on
// any router: best single model's quality, oracle quality, single models' AIQ.
var readmeFigures = map[string][3]float64{
	"routerbench": {0.878, 0.980, 0.824},
	"dcrouter":    {0.617, 0.801, 0.573},
}

// BenchmarkREADMESplit looks for the README's 70/30 split: for each row
// order its author could plausibly have used, with or without the rows that
// have blank scores, it splits as scikit-learn's train_test_split
// (test_size 0.3, random_state 7) and as pandas' df.sample (frac 0.7 for
// train, or 0.3 for test, random_state 7) and reports the test part's best
// single quality, oracle quality and single-model AIQ; "match" is 1 when all
// three equal the README's at 3 decimals. It trains nothing (a second).
// Run: go test ./bench/routers -run '^$' -bench READMESplit -benchtime 1x -v
func BenchmarkREADMESplit(b *testing.B) {
	for _, c := range readmeSplitCandidates(b) {
		for _, blank := range []string{"keep", "dropblank"} {
			if c.set == "dcrouter" && blank != "keep" {
				continue // dcrouter has no blank scores
			}
			for _, rule := range []string{"sklearn", "pandas-train0.7", "pandas-test0.3"} {
				b.Run(c.set+"/"+c.order+"/"+blank+"/"+rule, func(b *testing.B) {
					rows := c.rows
					if blank == "dropblank" {
						rows = dropBlank(rows)
					}
					var best, oracle, aiq float64
					for b.Loop() {
						test := readmeTestPart(b, rows, rule)
						truth := eval.FromRows(test, dataset.Candidates(rows))
						s := eval.Singles(truth)
						_, bp := eval.BestSingle(truth)
						best, oracle, aiq = bp.Quality, eval.Oracle(truth).Quality, eval.AIQ(s, s)
					}
					want := readmeFigures[c.set]
					match := 0.0
					if round3(best) == want[0] && round3(oracle) == want[1] && round3(aiq) == want[2] {
						match = 1
					}
					b.ReportMetric(best, "best_single_q")
					b.ReportMetric(oracle, "oracle_q")
					b.ReportMetric(aiq, "aiq_singles")
					b.ReportMetric(match, "match")
				})
			}
		}
	}
}

type readmeSplitCandidate struct {
	set, order string
	rows       []dataset.Row
}

// readmeSplitCandidates are the plausible row orders: RouterBench's six
// files task by task (train then test; or test then train, which is
// sorted-glob order), all train files then all test files, or the reverse;
// dcrouter's train.json then test.json with the 119 repeated test questions
// dropped, kept, or test.json first.
func readmeSplitCandidates(tb testing.TB) []readmeSplitCandidate {
	files := routerBenchFiles()
	skipIfAbsent(tb, files[0])
	byName := map[string][]dataset.Row{}
	for _, f := range files {
		rows, err := dataset.ImportRouterBench(f)
		if err != nil {
			tb.Fatal(err)
		}
		byName[strings.TrimSuffix(filepath.Base(f), ".csv")] = rows
	}
	cat := func(names ...string) (out []dataset.Row) {
		for _, n := range names {
			out = append(out, byName[n]...)
		}
		return out
	}
	const a, m, w = "arc_challenge_", "mbpp_", "winograde_"
	out := []readmeSplitCandidate{
		{"routerbench", "task-train-test", cat(a+"train", a+"test", m+"train", m+"test", w+"train", w+"test")},
		{"routerbench", "task-test-train", cat(a+"test", a+"train", m+"test", m+"train", w+"test", w+"train")},
		{"routerbench", "trains-tests", cat(a+"train", m+"train", w+"train", a+"test", m+"test", w+"test")},
		{"routerbench", "tests-trains", cat(a+"test", m+"test", w+"test", a+"train", m+"train", w+"train")},
	}
	dir := filepath.Join(dataDir, "llmrouter-dcrouter")
	prices := filepath.Join(dir, "default_llm.json")
	imp := func(names ...string) []dataset.Row {
		var paths []string
		for _, n := range names {
			paths = append(paths, filepath.Join(dir, n+".json"))
		}
		rows, err := dataset.ImportLLMRouter(paths, prices)
		if err != nil {
			tb.Fatal(err)
		}
		return rows
	}
	tr, te := imp("train"), imp("test")
	out = append(out,
		readmeSplitCandidate{"dcrouter", "train-test-dedup", imp("train", "test")},
		readmeSplitCandidate{"dcrouter", "train-test-all", append(append([]dataset.Row{}, tr...), te...)},
		readmeSplitCandidate{"dcrouter", "test-train-all", append(append([]dataset.Row{}, te...), tr...)},
	)
	return out
}

// dropBlank leaves out rows where any candidate's quality is blank, as
// pandas' dropna() would.
func dropBlank(rows []dataset.Row) []dataset.Row {
	var out []dataset.Row
next:
	for _, r := range rows {
		for _, o := range r.Outcomes {
			if o.Quality == nil {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// readmeTestPart is the test part of rows under rule: "sklearn" is
// train_test_split(test_size=0.3, random_state=7); "pandas-train0.7" takes
// the rows df.sample(frac=0.7, random_state=7) leaves out (sample is
// RandomState.choice without replacement: the permutation's first
// round(0.7n)); "pandas-test0.3" the rows df.sample(frac=0.3) picks.
func readmeTestPart(tb testing.TB, rows []dataset.Row, rule string) []dataset.Row {
	n := len(rows)
	pick := func(idx []int) (out []dataset.Row) {
		for _, i := range idx {
			out = append(out, rows[i])
		}
		return out
	}
	switch rule {
	case "sklearn":
		_, test, err := dataset.SplitSKLearn(rows, 0.3, 7)
		if err != nil {
			tb.Fatal(err)
		}
		return test
	case "pandas-train0.7":
		return pick(dataset.NumPyPermutation(n, 7)[int(math.RoundToEven(0.7*float64(n))):])
	case "pandas-test0.3":
		return pick(dataset.NumPyPermutation(n, 7)[:int(math.RoundToEven(0.3*float64(n)))])
	}
	tb.Fatalf("unknown split rule %q", rule)
	return nil
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
