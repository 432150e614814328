package dataset

import "sort"

// Summary describes a data set: what the `dataset stats` command prints and
// what a model bundle records about the data it was trained on.
type Summary struct {
	Rows         int              `json:"rows"`
	WithPrompt   int              `json:"with_prompt"`
	WithFeatures int              `json:"with_features"`
	Candidates   []CandidateStats `json:"candidates"`
	Sources      map[string]int   `json:"sources"`
}

// CandidateStats is one candidate's view of the data set. The means are over
// the rows where the value is present; the Missing counts say how many rows
// lack it (including rows where the candidate has no outcome at all).
type CandidateStats struct {
	Name           string  `json:"name"`
	Outcomes       int     `json:"outcomes"`
	MeanQuality    float64 `json:"mean_quality"`
	MeanCost       float64 `json:"mean_cost"`
	MissingQuality int     `json:"missing_quality"`
	MissingCost    int     `json:"missing_cost"`
}

// Stats summarises rows.
func Stats(rows []Row) Summary {
	s := Summary{Rows: len(rows), Sources: map[string]int{}}
	names := Candidates(rows)
	type acc struct {
		n, nq, nc int
		q, c      float64
	}
	accs := make(map[string]*acc, len(names))
	for _, n := range names {
		accs[n] = &acc{}
	}
	for _, r := range rows {
		if r.Prompt != "" {
			s.WithPrompt++
		}
		if r.Features != nil {
			s.WithFeatures++
		}
		src := r.Source
		if src == "" {
			src = "(none)"
		}
		s.Sources[src]++
		for name, o := range r.Outcomes {
			a := accs[name]
			a.n++
			if o.Quality != nil {
				a.nq++
				a.q += *o.Quality
			}
			if o.Cost != nil {
				a.nc++
				a.c += *o.Cost
			}
		}
	}
	for _, name := range names {
		a := accs[name]
		cs := CandidateStats{Name: name, Outcomes: a.n, MissingQuality: len(rows) - a.nq, MissingCost: len(rows) - a.nc}
		if a.nq > 0 {
			cs.MeanQuality = a.q / float64(a.nq)
		}
		if a.nc > 0 {
			cs.MeanCost = a.c / float64(a.nc)
		}
		s.Candidates = append(s.Candidates, cs)
	}
	sort.Slice(s.Candidates, func(i, j int) bool { return s.Candidates[i].Name < s.Candidates[j].Name })
	return s
}
