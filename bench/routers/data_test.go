// Package routers benchmarks Switchyard's learned routers on the public
// routing data sets in ../shared/data/routing: AIQ against the scikit-learn
// reference figures, training time, and decision latency.
package routers

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
)

// dataDir is the shared data, relative to this package.
var dataDir = filepath.Join("..", "..", "..", "shared", "data", "routing")

// splitSeed and testFrac are the README's split: random 70/30, seed 7.
const (
	splitSeed = 7
	testFrac  = 0.3
)

// loadRouterBench pools the three RouterBench tasks' train and test files
// and splits them 70/30 with seed 7, as the README's reference table does.
// (The README's split itself, scikit-learn's, could not be reproduced: see
// BenchmarkREADMESplit.)
func loadRouterBench(tb testing.TB) (train, test []dataset.Row) {
	tb.Helper()
	return dataset.Split(poolRouterBench(tb), testFrac, splitSeed)
}

// routerBenchFiles lists the RouterBench CSVs, each task's train file then
// its test file, tasks in alphabetical order.
func routerBenchFiles() []string {
	dir := filepath.Join(dataDir, "routerbench-zeroshot")
	var files []string
	for _, task := range []string{"arc_challenge", "mbpp", "winograde"} {
		for _, part := range []string{"train", "test"} {
			files = append(files, filepath.Join(dir, task+"_"+part+".csv"))
		}
	}
	return files
}

// poolRouterBench imports all RouterBench rows in routerBenchFiles order.
func poolRouterBench(tb testing.TB) []dataset.Row {
	tb.Helper()
	files := routerBenchFiles()
	skipIfAbsent(tb, files[0])
	rows, err := dataset.ImportRouterBench(files...)
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

// loadDCRouter pools LLMRouter's dcrouter train and test (the importer drops
// the 119 test questions that repeat train ones) and splits them 70/30 with
// seed 7, as the README's reference table does.
func loadDCRouter(tb testing.TB) (train, test []dataset.Row) {
	tb.Helper()
	return dataset.Split(poolDCRouter(tb), testFrac, splitSeed)
}

// poolDCRouter imports dcrouter's train.json then test.json, without the
// test questions that repeat train ones.
func poolDCRouter(tb testing.TB) []dataset.Row {
	tb.Helper()
	dir := filepath.Join(dataDir, "llmrouter-dcrouter")
	skipIfAbsent(tb, filepath.Join(dir, "train.json"))
	rows, err := dataset.ImportLLMRouter([]string{filepath.Join(dir, "train.json"), filepath.Join(dir, "test.json")}, filepath.Join(dir, "default_llm.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}

func skipIfAbsent(tb testing.TB, path string) {
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("shared routing data not found (%v); these benchmarks need ../shared/data/routing", err)
	}
}
