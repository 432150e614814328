package routing

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
)

func init() {
	RegisterKind(Kind{
		Name:        "fallback",
		Description: "Tries candidates in the declared order (or params.order); the first healthy one is the pick.",
		New:         newFallback,
	})
	RegisterKind(Kind{
		Name:         "weighted",
		Description:  "Picks a healthy candidate at random in proportion to params.weights (deployment: weight; default 1 each).",
		Capabilities: []string{CapRandomized},
		New:          newWeighted,
	})
}

type fallback struct {
	info  Info
	order []string // optional explicit order
}

func newFallback(spec Spec) (Strategy, error) {
	f := &fallback{info: Info{Name: spec.Name, Kind: "fallback", Version: "1"}}
	if raw, ok := spec.Params["order"]; ok {
		list, ok := raw.([]any)
		if !ok {
			return nil, errors.New("params.order must be a list of deployment names")
		}
		for _, v := range list {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("params.order: %v is not a deployment name", v)
			}
			f.order = append(f.order, s)
		}
	}
	for k := range spec.Params {
		if k != "order" {
			return nil, fmt.Errorf("unknown param %q (known: order)", k)
		}
	}
	return f, nil
}

func (f *fallback) Info() Info { return f.info }

func (f *fallback) Decide(_ context.Context, _ *Request, cands []Candidate) (Decision, error) {
	if len(cands) == 0 {
		return Decision{}, errors.New("no candidates")
	}
	idx := make([]int, 0, len(cands))
	if len(f.order) > 0 {
		for _, name := range f.order {
			for i, c := range cands {
				if c.Name == name {
					idx = append(idx, i)
				}
			}
		}
		// Candidates not named in order go last, in declared order.
		for i := range cands {
			if !contains(idx, i) {
				idx = append(idx, i)
			}
		}
	} else {
		for i := range cands {
			idx = append(idx, i)
		}
	}
	pick := idx[0]
	for _, i := range idx {
		if cands[i].Healthy {
			pick = i
			break
		}
	}
	order := []int{pick}
	for _, healthy := range []bool{true, false} {
		for _, i := range idx {
			if i != pick && cands[i].Healthy == healthy {
				order = append(order, i)
			}
		}
	}
	return Decision{Order: order, Scores: NaNScores(len(cands)), Propensity: 1, Reason: "first healthy in fallback order"}, nil
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

type weighted struct {
	info    Info
	weights map[string]float64
}

func newWeighted(spec Spec) (Strategy, error) {
	w := &weighted{info: Info{Name: spec.Name, Kind: "weighted", Version: "1", Capabilities: []string{CapRandomized}}}
	for k := range spec.Params {
		if k != "weights" {
			return nil, fmt.Errorf("unknown param %q (known: weights)", k)
		}
	}
	if raw, ok := spec.Params["weights"]; ok {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, errors.New("params.weights must map deployment names to numbers")
		}
		w.weights = map[string]float64{}
		total := 0.0
		for name, v := range m {
			f, ok := toFloat(v)
			if !ok {
				return nil, fmt.Errorf("params.weights.%s: %v is not a number", name, v)
			}
			if f < 0 {
				return nil, fmt.Errorf("params.weights.%s: weight %g is negative", name, f)
			}
			w.weights[name] = f
			total += f
		}
		if total == 0 {
			return nil, errors.New("params.weights: all weights are zero")
		}
		if len(spec.Candidates) > 0 {
			for name := range w.weights {
				found := false
				for _, c := range spec.Candidates {
					found = found || c == name
				}
				if !found {
					return nil, fmt.Errorf("params.weights.%s: not a candidate of the route (candidates: %v)", name, spec.Candidates)
				}
			}
		}
	}
	return w, nil
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

func (w *weighted) Info() Info { return w.info }

func (w *weighted) weight(name string) float64 {
	if w.weights == nil {
		return 1
	}
	return w.weights[name]
}

func (w *weighted) Decide(_ context.Context, _ *Request, cands []Candidate) (Decision, error) {
	if len(cands) == 0 {
		return Decision{}, errors.New("no candidates")
	}
	total := 0.0
	for _, c := range cands {
		if c.Healthy {
			total += w.weight(c.Name)
		}
	}
	scores := NaNScores(len(cands))
	if total == 0 {
		// Nothing healthy with weight: fall back to the declared order.
		return Decision{Order: HealthyFirst(0, cands), Scores: scores, Propensity: 1, Reason: "no healthy weighted candidate; declared order"}, nil
	}
	r := rand.Float64() * total
	pick := -1
	for i, c := range cands {
		if !c.Healthy {
			continue
		}
		wt := w.weight(c.Name)
		scores[i].Score = wt / total
		if pick < 0 && r < wt {
			pick = i
		}
		r -= wt
	}
	if pick < 0 { // rounding at the top end
		for i := len(cands) - 1; i >= 0; i-- {
			if cands[i].Healthy && w.weight(cands[i].Name) > 0 {
				pick = i
				break
			}
		}
	}
	return Decision{Order: HealthyFirst(pick, cands), Scores: scores, Propensity: w.weight(cands[pick].Name) / total, Reason: "weighted random"}, nil
}

var (
	_ Strategy = (*fallback)(nil)
	_ Strategy = (*weighted)(nil)
)
