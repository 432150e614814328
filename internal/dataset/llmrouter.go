package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Price is a model's list price in USD per million tokens.
type Price struct {
	InputPerMTok  float64 `json:"input_price"`
	OutputPerMTok float64 `json:"output_price"`
}

// ImportLLMRouter reads LLMRouter data files (a JSON list of
// {"question", "scores": {model: 0..1}}) and a prices file (LLMRouter's
// default_llm.json: per model input_price and output_price in USD per million
// tokens) and returns one Row per question.
//
// A question that already appeared, in this or an earlier file, is dropped:
// LLMRouter's dcrouter test.json repeats 119 train questions, and keeping them
// would leak test rows into training. Pass the files in order of preference
// (train first).
//
// The data carry no per-prompt cost, so Cost is a price proxy: the question's
// estimated token count t = EstimateTokens(question) is charged at the input
// price, and an answer of the same length t is assumed at the output price:
//
//	cost = t*input_price/1e6 + t*output_price/1e6
//
// Only the ratio between candidates matters to routing and to AIQ, and that
// ratio is exactly the ratio of their prices, whatever t is. InputTokens holds
// t; OutputTokens stays nil because no answer length was observed.
func ImportLLMRouter(dataPaths []string, pricesPath string) ([]Row, error) {
	if len(dataPaths) == 0 {
		return nil, errors.New("import llmrouter: no data files given")
	}
	prices, err := LoadPrices(pricesPath)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var rows []Row
	for _, p := range dataPaths {
		got, err := importLLMRouterFile(p, prices)
		if err != nil {
			return nil, err
		}
		for _, r := range got {
			if seen[r.Prompt] {
				continue
			}
			seen[r.Prompt] = true
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// LoadPrices reads an LLMRouter prices file: a JSON object from model name to
// an object with at least input_price and output_price.
func LoadPrices(path string) (map[string]Price, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load prices: %w", err)
	}
	var raw map[string]struct {
		In  *float64 `json:"input_price"`
		Out *float64 `json:"output_price"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("load prices: %s: %w", path, err)
	}
	out := make(map[string]Price, len(raw))
	for name, p := range raw {
		if p.In == nil || p.Out == nil {
			return nil, fmt.Errorf("load prices: %s: model %q lacks input_price or output_price", path, name)
		}
		if *p.In < 0 || *p.Out < 0 {
			return nil, fmt.Errorf("load prices: %s: model %q has a negative price", path, name)
		}
		out[name] = Price{InputPerMTok: *p.In, OutputPerMTok: *p.Out}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load prices: %s: no models", path)
	}
	return out, nil
}

type llmRouterRecord struct {
	Question  string              `json:"question"`
	Scores    map[string]*float64 `json:"scores"`
	ClusterID *int                `json:"cluster_id,omitempty"`
}

func importLLMRouterFile(path string, prices map[string]Price) ([]Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("import llmrouter: %w", err)
	}
	// lineAt turns a byte offset into a 1-based line number for error messages.
	lineAt := func(off int64) int { return 1 + bytes.Count(b[:min(off, int64(len(b)))], []byte{'\n'}) }
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("import llmrouter: %s:%d: expected a JSON list of records", path, lineAt(dec.InputOffset()))
	}
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	var rows []Row
	for i := 0; dec.More(); i++ {
		// Skip whitespace so the reported line is where the record starts.
		start := dec.InputOffset()
		for start < int64(len(b)) && strings.IndexByte(" \t\r\n,", b[start]) >= 0 {
			start++
		}
		where := fmt.Sprintf("%s:%d", path, lineAt(start))
		var rec llmRouterRecord
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("import llmrouter: %s: record %d: %w", where, i, err)
		}
		if strings.TrimSpace(rec.Question) == "" {
			return nil, fmt.Errorf("import llmrouter: %s: record %d has no question", where, i)
		}
		if len(rec.Scores) == 0 {
			return nil, fmt.Errorf("import llmrouter: %s: record %d has no scores", where, i)
		}
		t := EstimateTokens(rec.Question)
		row := Row{
			ID:       fmt.Sprintf("%s/%d", stem, i),
			Prompt:   rec.Question,
			Source:   "llmrouter/" + stem,
			Outcomes: make(map[string]Outcome, len(rec.Scores)),
		}
		for model, q := range rec.Scores {
			p, ok := prices[model]
			if !ok {
				return nil, fmt.Errorf("import llmrouter: %s: record %d: model %q has no price in the prices file", where, i, model)
			}
			cost := float64(t)*p.InputPerMTok/1e6 + float64(t)*p.OutputPerMTok/1e6
			o := Outcome{Quality: q, Cost: &cost, InputTokens: &t}
			if err := o.validate(); err != nil {
				return nil, fmt.Errorf("import llmrouter: %s: record %d: model %q: %w", where, i, model, err)
			}
			row.Outcomes[model] = o
		}
		rows = append(rows, row)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("import llmrouter: %s:%d: %w", path, lineAt(dec.InputOffset()), err)
	}
	return rows, nil
}
