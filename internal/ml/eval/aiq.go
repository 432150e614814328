package eval

import (
	"math"
	"slices"
)

// Hull returns the non-decreasing upper convex hull of points in the
// (cost, quality) plane, sorted by cost: the best quality reachable at each
// cost by mixing the given policies at random, never worse at a higher cost.
// Points dominated by a cheaper one of at least the same quality are dropped
// first; the rest, strictly increasing in both cost and quality, are reduced
// to their upper concave chain.
func Hull(points []Point) []Point {
	ps := slices.Clone(points)
	slices.SortFunc(ps, func(a, b Point) int {
		if a.Cost != b.Cost {
			if a.Cost < b.Cost {
				return -1
			}
			return 1
		}
		switch { // higher quality first among equal costs
		case a.Quality > b.Quality:
			return -1
		case a.Quality < b.Quality:
			return 1
		}
		return 0
	})
	var front []Point
	for _, p := range ps {
		if math.IsNaN(p.Cost) || math.IsNaN(p.Quality) {
			continue
		}
		if len(front) == 0 || p.Quality > front[len(front)-1].Quality {
			if len(front) > 0 && p.Cost == front[len(front)-1].Cost {
				continue // same cost, sorted so the first was the best
			}
			front = append(front, p)
		}
	}
	var h []Point
	for _, p := range front {
		for len(h) >= 2 && cross(h[len(h)-2], h[len(h)-1], p) >= 0 {
			h = h[:len(h)-1]
		}
		h = append(h, p)
	}
	return h
}

// cross is the z component of (a-o) x (b-o); >= 0 means a is on or below the
// segment from o to b.
func cross(o, a, b Point) float64 {
	return (a.Cost-o.Cost)*(b.Quality-o.Quality) - (a.Quality-o.Quality)*(b.Cost-o.Cost)
}

// HullAt is the hull's quality at cost c: 0 below its cheapest point (a
// policy cannot be run for less than it costs, as RouterBench integrates
// only from the first hull point), linear between points, and flat at the
// best quality beyond the dearest point.
func HullAt(h []Point, c float64) float64 {
	if len(h) == 0 || c < h[0].Cost {
		return 0
	}
	for i := 1; i < len(h); i++ {
		if c <= h[i].Cost {
			a, b := h[i-1], h[i]
			return a.Quality + (b.Quality-a.Quality)*(c-a.Cost)/(b.Cost-a.Cost)
		}
	}
	return h[len(h)-1].Quality
}

// AIQ is RouterBench's Average Improvement in Quality: the area under the
// non-decreasing convex hull of points (see Hull, HullAt) between the
// cheapest and the dearest single model's mean cost, divided by that span.
// AIQ(singles, singles) scores the single models alone. If every single
// model costs the same, the span is empty and AIQ is the hull's quality at
// that cost (the limit of the definition).
func AIQ(points []Point, singles []Point) float64 {
	if len(singles) == 0 {
		return 0
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range singles {
		lo, hi = min(lo, s.Cost), max(hi, s.Cost)
	}
	h := Hull(points)
	if hi <= lo {
		return HullAt(h, lo)
	}
	// The hull is piecewise linear with breaks at its points and 0 left of
	// its first point, so the trapezoid rule over [lo, hi] cut at every
	// break is exact: each piece lies wholly left of the first point (area
	// 0) or wholly on the linear part.
	if len(h) == 0 {
		return 0
	}
	xs := []float64{lo, hi}
	for _, p := range h {
		if p.Cost > lo && p.Cost < hi {
			xs = append(xs, p.Cost)
		}
	}
	slices.Sort(xs)
	area := 0.0
	for i := 1; i < len(xs); i++ {
		a, b := xs[i-1], xs[i]
		if b <= a || b <= h[0].Cost {
			continue
		}
		area += (HullAt(h, a) + HullAt(h, b)) / 2 * (b - a)
	}
	return area / (hi - lo)
}
