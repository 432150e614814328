// Package dataset is Switchyard's routing training set: one row per prompt with
// every candidate model's observed outcome, stored as JSON lines, plus the
// importers that turn public routing benchmarks into that format.
package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
)

// Row is one prompt and what each candidate model did with it. Either Prompt or
// Features is set: traces recorded without prompt text carry only the hashed
// vector the gateway computed.
type Row struct {
	ID       string             `json:"id"`
	Prompt   string             `json:"prompt,omitempty"`
	Features *feature.Vector    `json:"features,omitempty"`
	Source   string             `json:"source,omitempty"`
	Outcomes map[string]Outcome `json:"outcomes"`
}

// Outcome is what one candidate did with one prompt. Every field is a pointer
// because any of them may be unobserved, and "missing" must never be confused
// with zero (a quality of 0 is a wrong answer, not an unknown one).
type Outcome struct {
	// Quality in [0,1]; nil when the candidate was not scored on this prompt.
	Quality *float64 `json:"quality,omitempty"`
	// Cost in USD for this prompt.
	Cost *float64 `json:"cost,omitempty"`
	// InputTokens and OutputTokens are observed counts for rows from traces.
	// The importers fill them with estimates (see EstimateTokens) because the
	// public data sets carry text, not token counts.
	InputTokens  *int     `json:"input_tokens,omitempty"`
	OutputTokens *int     `json:"output_tokens,omitempty"`
	LatencyMS    *float64 `json:"latency_ms,omitempty"`
	// Propensity is the probability with which this candidate was chosen; it is
	// set only for rows from traces, where only the chosen candidate has an
	// outcome and training weights the row by 1/Propensity.
	Propensity *float64 `json:"propensity,omitempty"`
}

// maxLine bounds one JSON line so a corrupt file cannot make Load allocate
// without limit; RouterBench's longest few-shot prompt is well under 1 MiB.
const maxLine = 64 << 20

// Load reads a JSON-lines data set. Blank lines are skipped; any other line
// that is not a valid Row is an error naming the file and the line.
func Load(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load data set: %w", err)
	}
	defer f.Close()
	return decode(f, path)
}

func decode(r io.Reader, name string) ([]Row, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var rows []Row
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var row Row
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&row); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: trailing data after the row", name, line)
		}
		if err := row.Validate(); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return rows, nil
}

// Validate reports the first thing wrong with a row: no id, no prompt and no
// features, a quality outside [0,1], a negative cost or token count, or a
// propensity outside (0,1].
func (r Row) Validate() error {
	if r.ID == "" {
		return errors.New("row has no id")
	}
	if r.Prompt == "" && r.Features == nil {
		return fmt.Errorf("row %q has neither prompt nor features", r.ID)
	}
	if r.Features != nil {
		if err := r.Features.Validate(); err != nil {
			return fmt.Errorf("row %q: features: %w", r.ID, err)
		}
	}
	if len(r.Outcomes) == 0 {
		return fmt.Errorf("row %q has no outcomes", r.ID)
	}
	for name, o := range r.Outcomes {
		if name == "" {
			return fmt.Errorf("row %q has an outcome with an empty candidate name", r.ID)
		}
		if err := o.validate(); err != nil {
			return fmt.Errorf("row %q, candidate %q: %w", r.ID, name, err)
		}
	}
	return nil
}

func (o Outcome) validate() error {
	finite := func(p *float64) bool { return p == nil || (!math.IsNaN(*p) && !math.IsInf(*p, 0)) }
	switch {
	case !finite(o.Quality) || !finite(o.Cost) || !finite(o.LatencyMS) || !finite(o.Propensity):
		return errors.New("non-finite number")
	case o.Quality != nil && (*o.Quality < 0 || *o.Quality > 1):
		return fmt.Errorf("quality %g outside [0,1]", *o.Quality)
	case o.Cost != nil && *o.Cost < 0:
		return fmt.Errorf("negative cost %g", *o.Cost)
	case o.InputTokens != nil && *o.InputTokens < 0, o.OutputTokens != nil && *o.OutputTokens < 0:
		return errors.New("negative token count")
	case o.LatencyMS != nil && *o.LatencyMS < 0:
		return fmt.Errorf("negative latency %g", *o.LatencyMS)
	case o.Propensity != nil && (*o.Propensity <= 0 || *o.Propensity > 1):
		return fmt.Errorf("propensity %g outside (0,1]", *o.Propensity)
	}
	return nil
}

// Write stores rows as JSON lines. It writes a temporary file beside path,
// syncs it and renames it over path, so a crash leaves either the old file or
// the complete new one, never half a data set.
func Write(path string, rows []Row) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write data set: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range rows {
		if err := rows[i].Validate(); err != nil {
			return fmt.Errorf("write data set: row %d: %w", i, err)
		}
		if err := enc.Encode(&rows[i]); err != nil {
			return fmt.Errorf("write data set: row %d: %w", i, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write data set: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write data set: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write data set: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write data set: %w", err)
	}
	// Sync the directory so the rename itself survives a crash.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Split shuffles row indices with a PCG generator seeded by seed and puts the
// first round(testFrac*len(rows)) of them in test, the rest in train; both keep
// the input order. The same rows, fraction and seed always give the same split,
// on every platform. A testFrac <= 0 puts everything in train, >= 1 in test.
func Split(rows []Row, testFrac float64, seed int64) (train, test []Row) {
	n := len(rows)
	nTest := int(math.Round(testFrac * float64(n)))
	nTest = min(max(nTest, 0), n)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5377_6974_6368_7964)) // "Switchyd"
	perm := rng.Perm(n)
	inTest := make([]bool, n)
	for _, i := range perm[:nTest] {
		inTest[i] = true
	}
	train = make([]Row, 0, n-nTest)
	test = make([]Row, 0, nTest)
	for i := range rows {
		if inTest[i] {
			test = append(test, rows[i])
		} else {
			train = append(train, rows[i])
		}
	}
	return train, test
}

// Candidates returns the sorted union of the candidate names in rows.
func Candidates(rows []Row) []string {
	seen := map[string]struct{}{}
	for _, r := range rows {
		for name := range r.Outcomes {
			seen[name] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
