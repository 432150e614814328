package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

func f64(v float64) *float64 { return &v }

func sampleRows(n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{
			ID:     "r" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('0'+i/26)),
			Prompt: "prompt number " + string(rune('a'+i%26)),
			Source: "test",
			Outcomes: map[string]Outcome{
				"m1": {Quality: f64(float64(i%2) / 2), Cost: f64(0.001)},
				"m2": {Quality: f64(1), Cost: f64(0.01)},
			},
		}
	}
	return rows
}

func TestWriteLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.jsonl")
	in := sampleRows(40)
	in[3].Prompt = ""
	in[3].Features = &feature.Vector{Idx: []uint32{1, 7}, Val: []float32{0.6, 0.8}}
	p := 0.25
	in[4].Outcomes["m1"] = Outcome{Quality: f64(0), Propensity: &p}
	if err := Write(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed rows")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestWriteRejectsInvalidAndKeepsOld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.jsonl")
	if err := Write(path, sampleRows(3)); err != nil {
		t.Fatal(err)
	}
	bad := sampleRows(3)
	bad[2].Outcomes["m1"] = Outcome{Quality: f64(1.5)}
	if err := Write(path, bad); err == nil || !strings.Contains(err.Error(), "row 2") {
		t.Fatalf("want error naming row 2, got %v", err)
	}
	got, err := Load(path)
	if err != nil || len(got) != 3 {
		t.Fatalf("old file damaged: %v, %d rows", err, len(got))
	}
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"bad_quality.jsonl", "bad_quality.jsonl:3: row \"b\", candidate \"m\": quality 2 outside [0,1]"},
		{"bad_field.jsonl", "bad_field.jsonl:2: json: unknown field \"extra\""},
		{"bad_json.jsonl", "bad_json.jsonl:2:"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join("testdata", "missing.jsonl")); err == nil {
		t.Fatal("missing file: no error")
	}
}

func TestValidate(t *testing.T) {
	neg := -1
	for _, tc := range []struct {
		name string
		row  Row
		want string
	}{
		{"no id", Row{Prompt: "p", Outcomes: map[string]Outcome{"m": {}}}, "no id"},
		{"no text", Row{ID: "a", Outcomes: map[string]Outcome{"m": {}}}, "neither prompt nor features"},
		{"no outcomes", Row{ID: "a", Prompt: "p"}, "no outcomes"},
		{"negative cost", Row{ID: "a", Prompt: "p", Outcomes: map[string]Outcome{"m": {Cost: f64(-1)}}}, "negative cost"},
		{"negative tokens", Row{ID: "a", Prompt: "p", Outcomes: map[string]Outcome{"m": {OutputTokens: &neg}}}, "negative token"},
		{"propensity 0", Row{ID: "a", Prompt: "p", Outcomes: map[string]Outcome{"m": {Propensity: f64(0)}}}, "propensity"},
		{"bad vector", Row{ID: "a", Features: &feature.Vector{Idx: []uint32{2, 1}, Val: []float32{1, 1}}, Outcomes: map[string]Outcome{"m": {}}}, "ascending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.row.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	rows := sampleRows(101)
	for _, tc := range []struct {
		frac     float64
		wantTest int
	}{{0.3, 30}, {0, 0}, {1, 101}, {-1, 0}, {0.5, 51}} {
		train, test := Split(rows, tc.frac, 7)
		if len(test) != tc.wantTest || len(train)+len(test) != len(rows) {
			t.Fatalf("frac %v: %d train, %d test", tc.frac, len(train), len(test))
		}
		ids := map[string]bool{}
		for _, r := range append(slices.Clone(train), test...) {
			if ids[r.ID] {
				t.Fatalf("frac %v: row %s in both halves", tc.frac, r.ID)
			}
			ids[r.ID] = true
		}
	}
	a1, b1 := Split(rows, 0.3, 7)
	a2, b2 := Split(rows, 0.3, 7)
	if !reflect.DeepEqual(a1, a2) || !reflect.DeepEqual(b1, b2) {
		t.Fatal("same seed, different split")
	}
	_, b3 := Split(rows, 0.3, 8)
	if reflect.DeepEqual(b1, b3) {
		t.Fatal("different seeds gave the same split")
	}
}

func TestCandidatesAndStats(t *testing.T) {
	rows := sampleRows(4)
	rows[0].Outcomes["m0"] = Outcome{Cost: f64(2)}
	if got := Candidates(rows); !reflect.DeepEqual(got, []string{"m0", "m1", "m2"}) {
		t.Fatalf("candidates %v", got)
	}
	s := Stats(rows)
	if s.Rows != 4 || s.Sources["test"] != 4 || s.WithPrompt != 4 {
		t.Fatalf("stats %+v", s)
	}
	m0, m1 := s.Candidates[0], s.Candidates[1]
	if m0.Outcomes != 1 || m0.MissingQuality != 4 || m0.MissingCost != 3 || m0.MeanCost != 2 {
		t.Fatalf("m0 %+v", m0)
	}
	if m1.MeanQuality != 0.25 || m1.MissingQuality != 0 {
		t.Fatalf("m1 %+v", m1)
	}
}
