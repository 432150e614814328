package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ImportRouterBench reads RouterBench CSV files (the RouterDC slice: one score
// column per model, `<model>|total_cost`, `<model>|model_response`, a prompt
// that is a Python list literal of strings) and returns one Row per CSV row.
//
// The prompt parts are joined with a blank line between them, which is how the
// few-shot examples and the question are laid out. A blank score is a missing
// quality, a blank cost a missing cost. InputTokens and OutputTokens are
// estimates from the prompt and the model's response text (EstimateTokens);
// the CSV carries the real per-prompt USD cost, which is what Cost holds.
func ImportRouterBench(paths ...string) ([]Row, error) {
	if len(paths) == 0 {
		return nil, errors.New("import routerbench: no files given")
	}
	var rows []Row
	seen := map[string]int{}
	for _, p := range paths {
		got, err := importRouterBenchFile(p)
		if err != nil {
			return nil, err
		}
		// RouterDC's slice reuses some sample_ids for different prompts (14 ARC
		// ids occur twice), so repeats get a "~2", "~3" suffix in input order
		// to keep ids unique and stable.
		for i := range got {
			seen[got[i].ID]++
			if n := seen[got[i].ID]; n > 1 {
				got[i].ID = fmt.Sprintf("%s~%d", got[i].ID, n)
			}
		}
		rows = append(rows, got...)
	}
	return rows, nil
}

func importRouterBenchFile(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("import routerbench: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("import routerbench: %s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"sample_id", "prompt", "eval_name"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("import routerbench: %s: no %q column", path, need)
		}
	}
	// A model is any column X for which X|total_cost also exists.
	type model struct {
		name              string
		score, cost, resp int
	}
	var models []model
	for _, h := range header {
		if strings.Contains(h, "|") {
			continue
		}
		if c, ok := col[h+"|total_cost"]; ok {
			m := model{name: h, score: col[h], cost: c, resp: -1}
			if r, ok := col[h+"|model_response"]; ok {
				m.resp = r
			}
			models = append(models, m)
		}
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("import routerbench: %s: no model columns (a score column X with X|total_cost)", path)
	}
	var rows []Row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// csv.ParseError already names the line.
			return nil, fmt.Errorf("import routerbench: %s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		where := fmt.Sprintf("%s:%d", path, line)
		parts, err := parsePyStringList(rec[col["prompt"]])
		if err != nil {
			return nil, fmt.Errorf("import routerbench: %s: prompt: %w", where, err)
		}
		row := Row{
			ID:       rec[col["sample_id"]],
			Prompt:   strings.Join(parts, "\n\n"),
			Source:   "routerbench/" + rec[col["eval_name"]],
			Outcomes: make(map[string]Outcome, len(models)),
		}
		if row.ID == "" {
			return nil, fmt.Errorf("import routerbench: %s: empty sample_id", where)
		}
		inTok := EstimateTokens(row.Prompt)
		for _, m := range models {
			q, err := parseOptFloat(rec[m.score])
			if err != nil {
				return nil, fmt.Errorf("import routerbench: %s: score of %q: %w", where, m.name, err)
			}
			c, err := parseOptFloat(rec[m.cost])
			if err != nil {
				return nil, fmt.Errorf("import routerbench: %s: cost of %q: %w", where, m.name, err)
			}
			if q == nil && c == nil {
				continue
			}
			o := Outcome{Quality: q, Cost: c, InputTokens: &inTok}
			if m.resp >= 0 && rec[m.resp] != "" {
				out := EstimateTokens(rec[m.resp])
				o.OutputTokens = &out
			}
			if err := o.validate(); err != nil {
				return nil, fmt.Errorf("import routerbench: %s: %q: %w", where, m.name, err)
			}
			row.Outcomes[m.name] = o
		}
		if len(row.Outcomes) == 0 {
			return nil, fmt.Errorf("import routerbench: %s: row %q has no scores or costs", where, row.ID)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// parseOptFloat parses a CSV cell: blank means missing.
func parseOptFloat(s string) (*float64, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "nan") {
		return nil, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("not a number: %q", s)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("not a finite number: %q", s)
	}
	return &v, nil
}

// EstimateTokens is the token count the importers record when the source has
// text but no counts: one token per four bytes of UTF-8, rounded up, which is
// the usual rule of thumb for English with BPE tokenizers. It is an estimate
// for the cost predictor, not a tokenizer.
func EstimateTokens(text string) int {
	return (len(text) + 3) / 4
}

// parsePyStringList parses a Python list literal of string literals, such as
// ['a\nb', "it's"], as pandas writes it into RouterBench's prompt column.
// A cell that is not a list literal is taken as a single plain prompt.
func parsePyStringList(s string) ([]string, error) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "[") {
		if t == "" {
			return nil, errors.New("empty prompt")
		}
		return []string{s}, nil
	}
	p := &pyParser{s: t, i: 1}
	var out []string
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, errors.New("unterminated list literal")
		}
		if p.s[p.i] == ']' {
			p.i++
			break
		}
		str, err := p.str()
		if err != nil {
			return nil, err
		}
		out = append(out, str)
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			break
		}
		return nil, fmt.Errorf("expected ',' or ']' at offset %d", p.i)
	}
	if strings.TrimSpace(p.s[p.i:]) != "" {
		return nil, fmt.Errorf("trailing text after list literal at offset %d", p.i)
	}
	if len(out) == 0 {
		return nil, errors.New("empty prompt list")
	}
	return out, nil
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) skipSpace() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

// str parses one single- or double-quoted Python string literal with the
// escapes Python's repr produces (\\ \' \" \n \r \t \xNN \uNNNN \UNNNNNNNN).
func (p *pyParser) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", fmt.Errorf("expected a string literal at offset %d", p.i)
	}
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", errors.New("unterminated escape")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			case 'x', 'u', 'U':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if p.i+n > len(p.s) {
					return "", fmt.Errorf("short \\%c escape at offset %d", e, p.i)
				}
				v, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
				if err != nil || !utf8.ValidRune(rune(v)) {
					return "", fmt.Errorf("bad \\%c escape at offset %d", e, p.i)
				}
				b.WriteRune(rune(v))
				p.i += n
			default:
				// Python keeps unknown escapes verbatim.
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", errors.New("unterminated string literal")
}
