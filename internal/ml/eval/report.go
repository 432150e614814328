package eval

import "math"

// NamedPoint is a single candidate's mean cost and quality.
type NamedPoint struct {
	Name    string  `json:"name"`
	Cost    float64 `json:"cost"`
	Quality float64 `json:"quality"`
}

// Report is the offline evaluation of one router on one data set, what
// `switchyard eval --json` prints and a bundle's manifest records.
type Report struct {
	Rows              int              `json:"rows"`
	Candidates        []string         `json:"candidates"`
	AIQ               float64          `json:"aiq"`
	AIQSingles        float64          `json:"aiq_single_models"`
	BestSingle        string           `json:"best_single"`
	BestSingleQuality float64          `json:"best_single_quality"`
	BestSingleCost    float64          `json:"best_single_cost"`
	OracleQuality     float64          `json:"oracle_quality"`
	OracleCost        float64          `json:"oracle_cost"`
	RandomQuality     float64          `json:"random_quality"`
	RandomCost        float64          `json:"random_cost"`
	CostScale         float64          `json:"cost_scale"`
	OperatingPoints   []OperatingPoint `json:"operating_points"`
	Savings           []Saving         `json:"savings"`
	Singles           []NamedPoint     `json:"singles"`
	Curve             []Point          `json:"curve"`
}

// Evaluate scores a router's predictions pred against truth. ops are the
// operating points calibrated at training time (from the bundle): each is
// re-measured here at its stored lambda. With no ops, Calibrate runs on this
// data with DefaultOperatingPoints, which is only fair on a validation split.
func Evaluate(truth, pred Matrix, ops []OperatingPoint) Report {
	scale := pred.CostScale
	if scale <= 0 {
		scale = CostScale(truth)
	}
	pred.CostScale = scale
	singles := Singles(truth)
	bi, best := BestSingle(truth)
	oracle, random := Oracle(truth), Random(truth)
	curve := Sweep(truth, pred, DefaultLambdas())
	r := Report{
		Rows:              truth.Rows(),
		Candidates:        truth.Candidates,
		AIQ:               AIQ(curve, singles),
		AIQSingles:        AIQ(singles, singles),
		BestSingleQuality: best.Quality,
		BestSingleCost:    best.Cost,
		OracleQuality:     oracle.Quality,
		OracleCost:        oracle.Cost,
		RandomQuality:     random.Quality,
		RandomCost:        random.Cost,
		CostScale:         scale,
		Savings:           Savings(curve, best),
		Curve:             curve,
	}
	if bi >= 0 {
		r.BestSingle = truth.Candidates[bi]
	}
	for j, p := range singles {
		r.Singles = append(r.Singles, NamedPoint{Name: truth.Candidates[j], Cost: p.Cost, Quality: p.Quality})
	}
	if len(ops) == 0 {
		r.OperatingPoints = Calibrate(truth, pred, DefaultOperatingPoints())
	} else {
		for _, op := range ops {
			p := Sweep(truth, pred, []float64{op.Lambda})[0]
			op.Quality, op.Cost = p.Quality, p.Cost
			op.Met = op.Fraction == 0 || p.Quality >= op.Fraction*best.Quality-1e-12
			r.OperatingPoints = append(r.OperatingPoints, op)
		}
	}
	// Keep the report encodable as JSON: no NaN or Inf anywhere.
	for _, f := range []*float64{&r.AIQ, &r.AIQSingles, &r.BestSingleQuality, &r.BestSingleCost, &r.OracleQuality, &r.OracleCost, &r.RandomQuality, &r.RandomCost} {
		if math.IsNaN(*f) || math.IsInf(*f, 0) {
			*f = 0
		}
	}
	return r
}
