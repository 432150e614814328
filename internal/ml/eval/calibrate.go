package eval

import (
	"cmp"
	"math"
	"slices"
	"sort"
)

// OperatingPoint is a named lambda with the quality and cost it gave on the
// data it was measured on. CostScale is the USD unit lambda applies to, which
// serving must divide predicted costs by.
type OperatingPoint struct {
	Name      string  `json:"name"`
	Lambda    float64 `json:"lambda"`
	Quality   float64 `json:"quality"`
	Cost      float64 `json:"cost"`
	CostScale float64 `json:"cost_scale"`
	// Fraction is the share of the best single model's quality asked for;
	// Met says whether some lambda kept it (if not, Lambda is 0).
	Fraction float64 `json:"fraction,omitempty"`
	Met      bool    `json:"met"`
}

// QualityPoint is the operating point that ignores cost (lambda 0).
const QualityPoint = "quality"

// DefaultOperatingPoints are the named trade-offs issue 4 asks for: quality
// (lambda 0), balanced (98% of the best single model's quality) and economy
// (95%).
func DefaultOperatingPoints() map[string]float64 {
	return map[string]float64{QualityPoint: 1, "balanced": 0.98, "economy": 0.95}
}

// DefaultLambdas is the sweep grid: 0, then 20 points a decade from 1e-3 to
// 1e3 in units of the cost scale, then 1e9, which makes every router pick its
// cheapest candidate so the curve reaches the cheap end.
func DefaultLambdas() []float64 {
	ls := []float64{0}
	for i := 0; i <= 120; i++ {
		ls = append(ls, math.Pow(10, -3+float64(i)/20))
	}
	return append(ls, 1e9)
}

// Calibrate chooses, for each name with fraction f, the lambda on
// DefaultLambdas whose sweep over (truth, pred) costs least while keeping a
// mean quality of at least f times the best single model's; ties go to the
// smaller lambda. Where no lambda keeps it, the point falls back to lambda 0
// with Met false. "quality" is always present and always lambda 0. Calibrate
// on a validation split, never on the test data the report is for.
func Calibrate(truth, pred Matrix, names map[string]float64) []OperatingPoint {
	scale := pred.CostScale
	if scale <= 0 {
		scale = CostScale(truth)
	}
	_, best := BestSingle(truth)
	curve := Sweep(truth, pred, DefaultLambdas())
	keys := make([]string, 0, len(names)+1)
	for n := range names {
		keys = append(keys, n)
	}
	if _, ok := names[QualityPoint]; !ok {
		keys = append(keys, QualityPoint)
	}
	sort.Strings(keys)
	var out []OperatingPoint
	for _, name := range keys {
		f := names[name]
		op := OperatingPoint{Name: name, Lambda: 0, Quality: curve[0].Quality, Cost: curve[0].Cost, CostScale: scale, Fraction: f}
		if name == QualityPoint {
			op.Fraction = 0
			op.Met = true
			out = append(out, op)
			continue
		}
		target := f*best.Quality - 1e-12
		bestIdx := -1
		for i, p := range curve {
			if p.Quality >= target && (bestIdx < 0 || p.Cost < curve[bestIdx].Cost) {
				bestIdx = i
			}
		}
		if bestIdx >= 0 {
			p := curve[bestIdx]
			op.Lambda, op.Quality, op.Cost, op.Met = p.Lambda, p.Quality, p.Cost, true
		}
		out = append(out, op)
	}
	slices.SortStableFunc(out, func(a, b OperatingPoint) int { return cmp.Compare(a.Lambda, b.Lambda) })
	return out
}

// Saving is how much cheaper than the best single model the router reaches
// a share of that model's quality.
type Saving struct {
	Fraction       float64 `json:"fraction"`
	TargetQuality  float64 `json:"target_quality"`
	Reached        bool    `json:"reached"`
	Lambda         float64 `json:"lambda"`
	RouterCost     float64 `json:"router_cost"`
	BestSingleCost float64 `json:"best_single_cost"`
	// Saving is 1 - RouterCost/BestSingleCost (0 when not reached).
	Saving float64 `json:"saving"`
}

// DefaultSavingFractions are the quality shares issue 4 reports savings at.
var DefaultSavingFractions = []float64{1, 0.98, 0.95}

// Savings finds, for each fraction, the cheapest sweep point whose quality
// is at least that fraction of best's, and its cost saving against best.
// Only points a single lambda achieves count (no mixing along the hull), so
// every saving is one a deployed operating point can deliver.
func Savings(points []Point, best Point, fractions ...float64) []Saving {
	if len(fractions) == 0 {
		fractions = DefaultSavingFractions
	}
	out := make([]Saving, len(fractions))
	for i, f := range fractions {
		s := Saving{Fraction: f, TargetQuality: f * best.Quality, BestSingleCost: best.Cost}
		for _, p := range points {
			if p.Quality >= s.TargetQuality-1e-12 && (!s.Reached || p.Cost < s.RouterCost) {
				s.Reached, s.RouterCost, s.Lambda = true, p.Cost, p.Lambda
			}
		}
		if s.Reached && best.Cost > 0 {
			s.Saving = 1 - s.RouterCost/best.Cost
		}
		out[i] = s
	}
	return out
}
