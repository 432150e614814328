package routing

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
)

func init() {
	RegisterKind(Kind{
		Name:        "round_robin",
		Description: "Cycles through the healthy candidates in turn.",
		New:         newRoundRobin,
	})
	RegisterKind(Kind{
		Name: "lowest_cost",
		Description: "Picks the healthy candidate with the lowest estimated cost: prompt tokens times the input price " +
			"plus expected output tokens (the request's max_tokens, else params.expected_output_tokens, default 256) times the output price.",
		Capabilities: []string{CapCostTradeoff},
		New:          newLowestCost,
	})
}

var errNoCandidates = errors.New("no candidates")

type roundRobin struct {
	info Info
	next atomic.Uint64
}

func newRoundRobin(spec Spec) (Strategy, error) {
	if err := newParams(spec.Params).err(); err != nil {
		return nil, err
	}
	return &roundRobin{info: Info{Name: spec.Name, Kind: "round_robin", Version: "1"}}, nil
}

func (r *roundRobin) Info() Info { return r.info }

func (r *roundRobin) Decide(_ context.Context, _ *Request, cands []Candidate) (Decision, error) {
	if len(cands) == 0 {
		return Decision{}, errNoCandidates
	}
	n := uint64(len(cands))
	start := r.next.Add(1) - 1
	pick := int(start % n)
	for i := uint64(0); i < n; i++ {
		if c := int((start + i) % n); cands[c].Healthy {
			pick = c
			break
		}
	}
	return Decision{Order: HealthyFirst(pick, cands), Scores: NaNScores(len(cands)), Propensity: 1, Reason: "round robin"}, nil
}

type lowestCost struct {
	info      Info
	expectOut float64
}

func newLowestCost(spec Spec) (Strategy, error) {
	p := newParams(spec.Params)
	out := p.float("expected_output_tokens", 256)
	if out < 0 {
		p.fail("params.expected_output_tokens must not be negative")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return &lowestCost{info: Info{Name: spec.Name, Kind: "lowest_cost", Version: "1", Capabilities: []string{CapCostTradeoff}}, expectOut: out}, nil
}

func (l *lowestCost) Info() Info { return l.info }

// EstimateCost is the expected USD cost of a request at a candidate.
func EstimateCost(c Candidate, promptTokens int, outTokens float64) float64 {
	return (float64(promptTokens)*c.Price.InputPerMTok + outTokens*c.Price.OutputPerMTok) / 1e6
}

func (l *lowestCost) Decide(_ context.Context, req *Request, cands []Candidate) (Decision, error) {
	if len(cands) == 0 {
		return Decision{}, errNoCandidates
	}
	out := l.expectOut
	if req.MaxTokens > 0 {
		out = float64(req.MaxTokens)
	}
	scores := NaNScores(len(cands))
	pick, best := -1, math.Inf(1)
	for i, c := range cands {
		cost := EstimateCost(c, req.PromptTokens, out)
		scores[i].Cost = cost
		scores[i].Score = -cost
		if c.Healthy && cost < best {
			pick, best = i, cost
		}
	}
	if pick < 0 {
		pick = 0
	}
	// Fallbacks in order of cost too, so a failure moves to the next cheapest.
	order := make([]int, 0, len(cands))
	order = append(order, pick)
	for len(order) < len(cands) {
		next, nb := -1, math.Inf(1)
		for i := range cands {
			if contains(order, i) {
				continue
			}
			c := scores[i].Cost
			if !cands[i].Healthy {
				c += 1e9 // unhealthy ones last
			}
			if next < 0 || c < nb {
				next, nb = i, c
			}
		}
		order = append(order, next)
	}
	return Decision{Order: order, Scores: scores, Propensity: 1, Reason: "lowest estimated cost"}, nil
}

var (
	_ Strategy = (*roundRobin)(nil)
	_ Strategy = (*lowestCost)(nil)
)
