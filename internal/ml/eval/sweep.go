package eval

import "math"

// Point is the mean realised cost (USD per prompt) and mean quality of a
// policy over the evaluated rows; Lambda is the trade-off that produced it
// (0 for single models, the oracle and random).
type Point struct {
	Lambda  float64 `json:"lambda"`
	Cost    float64 `json:"cost"`
	Quality float64 `json:"quality"`
}

// Decide returns the index of the candidate with the largest
// predQ[j] - lambda*predC[j] among healthy ones (healthy nil = all), ties
// going to the lower predicted cost and then to the lower index. Candidates
// with a NaN prediction are skipped. It returns -1 when none is eligible.
// predC must already be in lambda's unit (cost divided by the cost scale).
func Decide(predQ, predC []float64, lambda float64, healthy []bool) int {
	best, bestScore, bestCost := -1, math.Inf(-1), math.Inf(1)
	for j := range predQ {
		if healthy != nil && !healthy[j] {
			continue
		}
		q, c := predQ[j], predC[j]
		if math.IsNaN(q) || math.IsNaN(c) {
			continue
		}
		s := q - lambda*c
		if best < 0 || s > bestScore || (s == bestScore && c < bestCost) {
			best, bestScore, bestCost = j, s, c
		}
	}
	return best
}

// Sweep runs the router's decision at each lambda over every row of truth
// and returns the mean true cost and quality of its picks.
//
// Missing truth: on each row, a candidate whose true quality or true cost is
// unknown is treated as unhealthy (the router is not offered it), because its
// outcome could not be scored; a row with no scorable candidate is left out
// of every mean (as it is for Singles, Oracle and Random). This keeps the
// router and the single-model baselines on the same footing.
func Sweep(truth, pred Matrix, lambdas []float64) []Point {
	scale := pred.CostScale
	if scale <= 0 {
		scale = CostScale(truth)
	}
	nr, nc := truth.Rows(), len(truth.Candidates)
	avail := make([]bool, nr*nc)
	normC := make([]float64, nr*nc)
	for r := range nr {
		for j := range nc {
			avail[r*nc+j] = truth.available(r, j)
			normC[r*nc+j] = pred.Cost[r][j] / scale
		}
	}
	out := make([]Point, len(lambdas))
	for i, l := range lambdas {
		var acc meanAcc
		for r := range nr {
			if lg := truth.logged(r); lg >= 0 {
				// A trace row: the router is offered every candidate and the
				// row counts only if it would have made the logged pick.
				if Decide(pred.Quality[r], normC[r*nc:(r+1)*nc], l, nil) == lg {
					acc.add(truth.weight(r), truth.Quality[r][lg], truth.Cost[r][lg])
				}
				continue
			}
			pick := Decide(pred.Quality[r], normC[r*nc:(r+1)*nc], l, avail[r*nc:(r+1)*nc])
			if pick < 0 {
				continue
			}
			acc.add(1, truth.Quality[r][pick], truth.Cost[r][pick])
		}
		out[i] = acc.point(l)
	}
	return out
}

// Singles returns, per candidate in truth's order, the mean true cost and
// quality of always picking it, over the rows where it is scorable.
func Singles(truth Matrix) []Point {
	out := make([]Point, len(truth.Candidates))
	for j := range truth.Candidates {
		var acc meanAcc
		for r := range truth.Quality {
			switch lg := truth.logged(r); {
			case lg >= 0 && lg == j:
				acc.add(truth.weight(r), truth.Quality[r][j], truth.Cost[r][j])
			case lg < 0 && truth.available(r, j):
				acc.add(1, truth.Quality[r][j], truth.Cost[r][j])
			}
		}
		out[j] = acc.point(0)
	}
	return out
}

// BestSingle returns the index and point of the single candidate with the
// highest mean true quality (ties to the cheaper), or -1 with no candidates.
func BestSingle(truth Matrix) (int, Point) {
	best := -1
	var bp Point
	for j, p := range Singles(truth) {
		if best < 0 || p.Quality > bp.Quality || (p.Quality == bp.Quality && p.Cost < bp.Cost) {
			best, bp = j, p
		}
	}
	return best, bp
}

// Oracle picks, on every row, the candidate with the best true quality (ties
// to the cheapest): the ceiling no router can beat. Trace rows are left out:
// they show one candidate's outcome, so the best one is unknown.
func Oracle(truth Matrix) Point {
	var sq, sc float64
	n := 0
	for r := range truth.Quality {
		if truth.logged(r) >= 0 {
			continue
		}
		best := -1
		for j := range truth.Candidates {
			if !truth.available(r, j) {
				continue
			}
			q, c := truth.Quality[r][j], truth.Cost[r][j]
			if best < 0 || q > truth.Quality[r][best] || (q == truth.Quality[r][best] && c < truth.Cost[r][best]) {
				best = j
			}
		}
		if best >= 0 {
			sq += truth.Quality[r][best]
			sc += truth.Cost[r][best]
			n++
		}
	}
	if n == 0 {
		return Point{}
	}
	return Point{Cost: sc / float64(n), Quality: sq / float64(n)}
}

// Random is the expected cost and quality of picking uniformly at random
// among the scorable candidates of each row, computed exactly (no sampling).
// On trace rows it is the SNIPS estimate of the uniform policy.
func Random(truth Matrix) Point {
	var sq, sc float64
	n := 0
	var bandit meanAcc
	for r := range truth.Quality {
		if lg := truth.logged(r); lg >= 0 {
			bandit.add(truth.weight(r)/float64(len(truth.Candidates)), truth.Quality[r][lg], truth.Cost[r][lg])
			continue
		}
		var q, c float64
		k := 0
		for j := range truth.Candidates {
			if truth.available(r, j) {
				q += truth.Quality[r][j]
				c += truth.Cost[r][j]
				k++
			}
		}
		if k > 0 {
			sq += q / float64(k)
			sc += c / float64(k)
			n++
		}
	}
	if n == 0 {
		return bandit.point(0)
	}
	full := Point{Cost: sc / float64(n), Quality: sq / float64(n)}
	if bandit.w == 0 {
		return full
	}
	// Mix the two estimates in proportion to their rows.
	b := bandit.point(0)
	nb := 0
	for r := range truth.Quality {
		if truth.logged(r) >= 0 {
			nb++
		}
	}
	f := float64(n) / float64(n+nb)
	return Point{Cost: f*full.Cost + (1-f)*b.Cost, Quality: f*full.Quality + (1-f)*b.Quality}
}
