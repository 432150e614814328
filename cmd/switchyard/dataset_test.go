package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
)

func runDatasetCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	err := rootCmd.Execute()
	return out.String(), err
}

func TestDatasetCommands(t *testing.T) {
	dir := t.TempDir()
	fixtures := filepath.Join("..", "..", "internal", "dataset", "testdata")
	all := filepath.Join(dir, "all.jsonl")
	if _, err := runDatasetCmd(t, "dataset", "import", "--format", "llmrouter",
		filepath.Join(fixtures, "llmrouter_train.json"), filepath.Join(fixtures, "llmrouter_test.json"),
		"--prices", filepath.Join(fixtures, "llmrouter_prices.json"), "--out", all); err != nil {
		t.Fatal(err)
	}
	out, err := runDatasetCmd(t, "dataset", "stats", "--json", all)
	if err != nil {
		t.Fatal(err)
	}
	var s dataset.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, out)
	}
	if s.Rows != 3 || len(s.Candidates) != 2 || s.Sources["llmrouter/llmrouter_test"] != 1 {
		t.Fatalf("stats %+v", s)
	}
	train, test := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "test.jsonl")
	if _, err := runDatasetCmd(t, "dataset", "split", "--in", all, "--test-frac", "0.34", "--seed", "3", "--train-out", train, "--test-out", test); err != nil {
		t.Fatal(err)
	}
	a, err1 := dataset.Load(train)
	b, err2 := dataset.Load(test)
	if err1 != nil || err2 != nil || len(a) != 2 || len(b) != 1 {
		t.Fatalf("split: %v %v, %d/%d rows", err1, err2, len(a), len(b))
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{"dataset", "import", "--format", "csv", "x", "--out", all}, "unknown --format"},
		{"missing prices", []string{"dataset", "import", "--format", "llmrouter", "--prices", "", "x", "--out", all}, "needs --prices"},
		{"missing file", []string{"dataset", "import", "--format", "routerbench", "--prices", "", filepath.Join(dir, "nope.csv"), "--out", all}, "no such file"},
		{"malformed row", []string{"dataset", "import", "--format", "routerbench", filepath.Join(fixtures, "routerbench_bad.csv"), "--out", all}, "routerbench_bad.csv:3"},
		{"bad fraction", []string{"dataset", "split", "--in", all, "--test-frac", "1", "--train-out", train, "--test-out", test}, "strictly between"},
		{"stats malformed", []string{"dataset", "stats", "--json=false", filepath.Join(fixtures, "bad_quality.jsonl")}, "bad_quality.jsonl:3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runDatasetCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// A failed import must not have touched the earlier output.
	if rows, err := dataset.Load(all); err != nil || len(rows) != 3 {
		t.Fatalf("output damaged by failed import: %v, %d rows", err, len(rows))
	}
}
