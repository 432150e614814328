package dataset

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImportRouterBenchFixture(t *testing.T) {
	rows, err := ImportRouterBench(filepath.Join("testdata", "routerbench_small.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	r0 := rows[0]
	if r0.ID != "toy.test.1" || r0.Source != "routerbench/toy" {
		t.Fatalf("row 0 id/source %q %q", r0.ID, r0.Source)
	}
	if want := "Q: 2+2?\nA: 4\n\nQ: what's 3+3?\nA:"; r0.Prompt != want {
		t.Fatalf("prompt %q, want %q", r0.Prompt, want)
	}
	if q := r0.Outcomes["model-b"].Quality; q == nil || *q != 0 {
		t.Fatalf("model-b quality %v", q)
	}
	if c := r0.Outcomes["model-c"].Cost; c == nil || *c != 0.01 {
		t.Fatalf("model-c cost %v", c)
	}
	if n := r0.Outcomes["model-c"].OutputTokens; n == nil || *n != 1 {
		t.Fatalf("model-c output tokens %v", n)
	}
	r1 := rows[1]
	if want := `Say 'hi' \ café`; r1.Prompt != want {
		t.Fatalf("escapes: %q, want %q", r1.Prompt, want)
	}
	if _, ok := r1.Outcomes["model-a"]; ok {
		t.Fatal("blank score and cost should leave no outcome")
	}
	if o := r1.Outcomes["model-c"]; o.OutputTokens != nil || o.Quality == nil {
		t.Fatalf("model-c row 1: %+v", o)
	}
	if rows[2].ID != "toy.test.1~2" {
		t.Fatalf("repeated id not disambiguated: %q", rows[2].ID)
	}
}

func TestImportRouterBenchErrors(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"routerbench_bad.csv", `routerbench_bad.csv:3: score of "model-a": not a number: "yes"`},
		{"routerbench_badprompt.csv", "routerbench_badprompt.csv"},
		{"llmrouter_prices.json", "no \"sample_id\" column"},
		{"nope.csv", "no such file"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := ImportRouterBench(filepath.Join("testdata", tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestImportLLMRouterFixture(t *testing.T) {
	rows, err := ImportLLMRouter([]string{
		filepath.Join("testdata", "llmrouter_train.json"),
		filepath.Join("testdata", "llmrouter_test.json"),
	}, filepath.Join("testdata", "llmrouter_prices.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("want 3 rows (duplicate question dropped), got %d", len(rows))
	}
	if rows[2].ID != "llmrouter_test/1" || rows[2].Source != "llmrouter/llmrouter_test" {
		t.Fatalf("row 2: %q %q", rows[2].ID, rows[2].Source)
	}
	// "What is 2+2?" is 12 bytes: 3 estimated tokens each way.
	small := rows[0].Outcomes["small"]
	if small.InputTokens == nil || *small.InputTokens != 3 {
		t.Fatalf("input tokens %v", small.InputTokens)
	}
	if want := 3*0.2/1e6 + 3*0.2/1e6; math.Abs(*small.Cost-want) > 1e-15 {
		t.Fatalf("small cost %g, want %g", *small.Cost, want)
	}
	big := rows[0].Outcomes["big"]
	if want := 3*0.9/1e6 + 3*1.1/1e6; math.Abs(*big.Cost-want) > 1e-15 {
		t.Fatalf("big cost %g, want %g", *big.Cost, want)
	}
	if q := rows[1].Outcomes["big"].Quality; *q != 0.5 {
		t.Fatalf("quality %v", *q)
	}
}

func TestImportLLMRouterErrors(t *testing.T) {
	prices := filepath.Join("testdata", "llmrouter_prices.json")
	for _, tc := range []struct {
		name, data, prices, want string
	}{
		{"score out of range", "llmrouter_bad.json", prices, `llmrouter_bad.json:4: record 1: model "small": quality 1.5 outside [0,1]`},
		{"unpriced model", "llmrouter_unpriced.json", prices, `model "mystery" has no price`},
		{"prices not prices", "llmrouter_train.json", filepath.Join("testdata", "llmrouter_train.json"), "load prices"},
		{"data not a list", "llmrouter_prices.json", prices, "expected a JSON list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ImportLLMRouter([]string{filepath.Join("testdata", tc.data)}, tc.prices)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParsePyStringList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{`['a', "b"]`, []string{"a", "b"}, false},
		{`['\x41\u00e9\n']`, []string{"Aé\n"}, false},
		{`plain text`, []string{"plain text"}, false},
		{`['a' 'b']`, nil, true},
		{`['a',]`, []string{"a"}, false},
		{`[]`, nil, true},
		{`['a'] x`, nil, true},
		{`['\x4']`, nil, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parsePyStringList(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if !tc.err && strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q want %q", got, tc.want)
			}
		})
	}
}

// sharedData is the public routing data, read in place (never copied).
const sharedData = "../../../shared/data/routing"

func TestImportSharedData(t *testing.T) {
	if _, err := os.Stat(sharedData); err != nil {
		t.Skipf("shared routing data not found at %s (run from /work/main with /work/shared present): %v", sharedData, err)
	}
	t.Run("routerbench", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(sharedData, "routerbench-zeroshot", "*.csv"))
		rows, err := ImportRouterBench(files...)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3178 {
			t.Fatalf("%d rows, README says 3,178", len(rows))
		}
		if n := len(Candidates(rows)); n != 11 {
			t.Fatalf("%d candidates, README says 11", n)
		}
		s := Stats(rows)
		missing := 0
		for _, c := range s.Candidates {
			missing += c.MissingQuality
		}
		if missing == 0 || s.Sources["routerbench/mbpp"] == 0 {
			t.Fatalf("expected some blank ARC scores and mbpp rows: %+v", s)
		}
	})
	t.Run("dcrouter", func(t *testing.T) {
		dir := filepath.Join(sharedData, "llmrouter-dcrouter")
		rows, err := ImportLLMRouter([]string{filepath.Join(dir, "train.json"), filepath.Join(dir, "test.json")}, filepath.Join(dir, "default_llm.json"))
		if err != nil {
			t.Fatal(err)
		}
		if want := 5608 + 500 - 119; len(rows) != want {
			t.Fatalf("%d rows, want %d (train + test without the 119 repeats)", len(rows), want)
		}
		if n := len(Candidates(rows)); n != 9 {
			t.Fatalf("%d candidates, want 9", n)
		}
	})
}
