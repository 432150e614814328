package gateway

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/switchyard-ai/switchyard/internal/routing"
)

// decide asks the route's strategy for an order of candidates, then applies
// exploration: with the route's rate, the pick is drawn uniformly among the
// healthy candidates so traces show outcomes of models the strategy would not
// have chosen. The propensity logged is the probability of the final pick
// under that mixture, so training can weight rows by its inverse.
func (s *Server) decide(ctx context.Context, rt *route, req *routing.Request) (routing.Decision, []routing.Candidate) {
	now := time.Now()
	cands := make([]routing.Candidate, len(rt.cands))
	healthy := 0
	for i, d := range rt.cands {
		cands[i] = routing.Candidate{Name: d.cfg.Name, Price: d.cfg.Price, ContextWindow: d.cfg.ContextWindow, Healthy: d.health.healthy(now)}
		if cands[i].Healthy {
			healthy++
		}
	}
	dec, err := rt.strategy.Decide(ctx, req, cands)
	if err != nil || len(dec.Order) == 0 || dec.Order[0] < 0 || dec.Order[0] >= len(cands) {
		// A strategy failure must not fail the request: fall back to the
		// declared order and say why in the trace.
		reason := "strategy returned no pick"
		if err != nil {
			reason = "strategy failed: " + err.Error()
		}
		s.log.Warn("strategy failed; using declared order", "route", rt.name, "reason", reason)
		return routing.Decision{Order: routing.HealthyFirst(firstHealthy(cands), cands), Scores: routing.NaNScores(len(cands)), Propensity: 1, Reason: reason}, cands
	}
	eps := rt.exploration
	if eps <= 0 || healthy < 2 {
		return dec, cands
	}
	stratPick := dec.Order[0]
	if rand.Float64() < eps {
		n := rand.IntN(healthy)
		pick := -1
		for i, c := range cands {
			if c.Healthy {
				if n == 0 {
					pick = i
					break
				}
				n--
			}
		}
		p := eps / float64(healthy)
		if pick == stratPick {
			p += (1 - eps) * dec.Propensity
		}
		dec.Order = routing.HealthyFirst(pick, cands)
		dec.Propensity = p
		dec.Reason = "exploration (uniform among healthy); strategy would pick " + cands[stratPick].Name
		return dec, cands
	}
	dec.Propensity = (1-eps)*dec.Propensity + eps/float64(healthy)
	return dec, cands
}

func firstHealthy(cands []routing.Candidate) int {
	for i, c := range cands {
		if c.Healthy {
			return i
		}
	}
	return 0
}
