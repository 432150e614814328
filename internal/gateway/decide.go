package gateway

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
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
		// declared order and say why in the trace. Exploration still
		// applies, so a learned route waiting for its first model version
		// keeps collecting outcomes of every candidate.
		reason := "strategy returned no pick"
		if err != nil {
			reason = "strategy failed: " + err.Error()
		}
		s.strategyFailed(rt.name, reason)
		dec = routing.Decision{Order: routing.HealthyFirst(firstHealthy(cands), cands), Scores: routing.NaNScores(len(cands)), Propensity: 1, Reason: reason}
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

// strategyFailed logs a strategy failure at most once a minute per route, so
// a route waiting for its model does not log on every request; the metric
// counts every one.
func (s *Server) strategyFailed(route, reason string) {
	s.metrics.Errors.WithLabelValues(route, "", "strategy_failed").Inc()
	now := time.Now().UnixNano()
	v, _ := s.failLog.LoadOrStore(route, new(atomic.Int64))
	last := v.(*atomic.Int64)
	if prev := last.Load(); now-prev > int64(time.Minute) && last.CompareAndSwap(prev, now) {
		s.log.Warn("strategy failed; using declared order (logged once a minute per route)", "route", route, "reason", reason)
	}
}
