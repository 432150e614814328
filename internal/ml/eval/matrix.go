// Package eval scores routers offline: given every candidate's true quality
// and cost on held-out prompts and a router's predictions, it sweeps the
// cost-quality trade-off, computes RouterBench's AIQ, calibrates named
// operating points and draws the curve.
//
// Lambda scale: a router picks argmax(q - lambda*c) with c the predicted cost
// divided by a cost scale, the mean USD cost per prompt of the dearest single
// candidate on the training data (see CostScale). With costs in units of "the
// dearest model's typical prompt", one lambda grid (DefaultLambdas) fits every
// data set: lambda 1 gives up one point of quality in [0,1] to save the cost
// of one typical prompt on the dearest model. The scale is stored with the
// operating points so serving divides by the same number.
package eval

import (
	"math"

	"github.com/switchyard-ai/switchyard/internal/dataset"
)

// Matrix holds one value per (row, candidate): Quality[r][j] and Cost[r][j],
// NaN where unknown. As truth it holds observed outcomes; as a prediction it
// holds what a router expects.
type Matrix struct {
	Candidates []string
	Quality    [][]float64
	Cost       [][]float64
	// CostScale, on a prediction matrix, is the USD cost that lambda is
	// measured against (the training-data scale stored with the operating
	// points). Zero means: use CostScale(truth). It is ignored on truth.
	CostScale float64
	// Logged and Propensity describe rows that came from traces (bandit
	// feedback): Logged[r] is the candidate the gateway picked, Propensity[r]
	// the probability it picked it with; Logged[r] is -1 on rows where every
	// candidate's outcome was observed. Nil means no row came from traces.
	// See offpolicy.go.
	Logged     []int
	Propensity []float64
}

// Rows is the number of rows.
func (m Matrix) Rows() int { return len(m.Quality) }

// FromRows builds the truth matrix of rows over candidates (in that order);
// a candidate without an outcome, quality or cost on a row gets NaN.
func FromRows(rows []dataset.Row, candidates []string) Matrix {
	m := Matrix{
		Candidates: append([]string(nil), candidates...),
		Quality:    make([][]float64, len(rows)),
		Cost:       make([][]float64, len(rows)),
	}
	for r, row := range rows {
		q := make([]float64, len(candidates))
		c := make([]float64, len(candidates))
		for j, name := range candidates {
			q[j], c[j] = math.NaN(), math.NaN()
			o, ok := row.Outcomes[name]
			if !ok {
				continue
			}
			if o.Quality != nil {
				q[j] = *o.Quality
			}
			if o.Cost != nil {
				c[j] = *o.Cost
			}
		}
		m.Quality[r], m.Cost[r] = q, c
		if j, p, ok := loggedOutcome(row, candidates); ok {
			if m.Logged == nil {
				m.Logged = make([]int, len(rows))
				m.Propensity = make([]float64, len(rows))
				for i := range m.Logged {
					m.Logged[i] = -1
				}
			}
			m.Logged[r], m.Propensity[r] = j, p
		}
	}
	return m
}

// available reports whether candidate j can be scored on row r: both its true
// quality and true cost are known.
func (m Matrix) available(r, j int) bool {
	return !math.IsNaN(m.Quality[r][j]) && !math.IsNaN(m.Cost[r][j])
}

// CostScale is the mean cost per prompt of the dearest candidate in m (each
// mean over the rows where its cost is known): the unit lambda is measured
// in. It is 1 when m has no positive cost, so lambda then applies to raw cost.
func CostScale(m Matrix) float64 {
	best := 0.0
	for j := range m.Candidates {
		s, n := 0.0, 0
		for r := range m.Cost {
			if c := m.Cost[r][j]; !math.IsNaN(c) {
				s += c
				n++
			}
		}
		if n > 0 && s/float64(n) > best {
			best = s / float64(n)
		}
	}
	if best <= 0 || math.IsInf(best, 0) {
		return 1
	}
	return best
}
