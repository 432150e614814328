package eval

import (
	"math"

	"github.com/switchyard-ai/switchyard/internal/dataset"
)

// Off-policy evaluation of rows from traces.
//
// A trace row holds the outcome of the one candidate the gateway picked, with
// the probability it was picked with (exploration makes it non-zero for
// every healthy candidate). Scoring a router on such a row by "its pick among
// the observed candidates" would always give the logged candidate, so every
// lambda would look the same. Instead a policy's mean quality and cost are
// estimated with self-normalised inverse propensity scoring (SNIPS): a row
// counts, with weight 1/propensity, toward the policies that would have made
// the logged pick; the estimate is the weighted mean over those rows. It is
// unbiased in the limit when every candidate had a non-zero propensity, and
// its variance grows as propensities shrink, so keep exploration on.
// Full-information rows (Logged = -1) count with weight 1 as before, so a
// matrix may mix both kinds.

// maxWeight caps 1/propensity, as training does (router.MaxIPSWeight).
const maxWeight = 50

// loggedOutcome finds a trace row's single logged outcome.
func loggedOutcome(row dataset.Row, candidates []string) (int, float64, bool) {
	idx, prop, n := -1, 0.0, 0
	for j, name := range candidates {
		o, ok := row.Outcomes[name]
		if !ok {
			continue
		}
		n++
		if o.Propensity != nil && *o.Propensity > 0 {
			idx, prop = j, *o.Propensity
		}
	}
	if idx < 0 || n != 1 {
		return -1, 0, false
	}
	return idx, prop, true
}

// logged returns the logged candidate of row r, or -1.
func (m Matrix) logged(r int) int {
	if m.Logged == nil || !m.available(r, max(m.Logged[r], 0)) {
		return -1
	}
	return m.Logged[r]
}

// weight is the row's importance weight when the policy picks the logged
// candidate.
func (m Matrix) weight(r int) float64 {
	return math.Min(1/m.Propensity[r], maxWeight)
}

// HasBandit reports whether any row came from traces.
func (m Matrix) HasBandit() bool {
	for r := range m.Logged {
		if m.logged(r) >= 0 {
			return true
		}
	}
	return false
}

// meanAcc accumulates a weighted mean of quality and cost.
type meanAcc struct{ w, q, c float64 }

func (a *meanAcc) add(w, q, c float64) { a.w += w; a.q += w * q; a.c += w * c }

func (a meanAcc) point(lambda float64) Point {
	if a.w == 0 {
		return Point{Lambda: lambda}
	}
	return Point{Lambda: lambda, Quality: a.q / a.w, Cost: a.c / a.w}
}
