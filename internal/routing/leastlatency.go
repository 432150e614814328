package routing

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

func init() {
	RegisterKind(Kind{
		Name: "least_latency",
		Description: "Power of two choices on an EWMA of observed latency: two healthy candidates drawn at random, " +
			"the one with the lower EWMA is the pick. A failure counts as params.failure_penalty_seconds (default 5).",
		Capabilities: []string{CapRandomized, CapObserves},
		New:          newLeastLatency,
	})
}

// leastLatency keeps an EWMA of each deployment's latency. Power of two
// choices avoids the herd that "always the fastest" causes: every replica
// sending everything to the one deployment that was fastest a moment ago.
type leastLatency struct {
	info    Info
	alpha   float64
	penalty float64
	mu      sync.RWMutex
	ewma    map[string]*atomic.Uint64 // float64 bits; 0 = never observed
}

func newLeastLatency(spec Spec) (Strategy, error) {
	p := newParams(spec.Params)
	alpha := p.float("alpha", 0.2)
	penalty := p.float("failure_penalty_seconds", 5)
	if alpha <= 0 || alpha > 1 {
		p.fail("params.alpha must be in (0,1]")
	}
	if penalty < 0 {
		p.fail("params.failure_penalty_seconds must not be negative")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return &leastLatency{
		info:  Info{Name: spec.Name, Kind: "least_latency", Version: "1", Capabilities: []string{CapRandomized, CapObserves}},
		alpha: alpha, penalty: penalty, ewma: map[string]*atomic.Uint64{},
	}, nil
}

func (l *leastLatency) Info() Info { return l.info }

func (l *leastLatency) cell(name string) *atomic.Uint64 {
	l.mu.RLock()
	c := l.ewma[name]
	l.mu.RUnlock()
	if c != nil {
		return c
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c = l.ewma[name]; c == nil {
		c = &atomic.Uint64{}
		l.ewma[name] = c
	}
	return c
}

// Latency returns the EWMA for a deployment in seconds (0 if unobserved).
func (l *leastLatency) Latency(name string) float64 {
	return math.Float64frombits(l.cell(name).Load())
}

// Observe folds one attempt into the deployment's EWMA.
func (l *leastLatency) Observe(deployment string, seconds float64, failed bool) {
	if failed && seconds < l.penalty {
		seconds = l.penalty
	}
	c := l.cell(deployment)
	for {
		old := c.Load()
		prev := math.Float64frombits(old)
		next := seconds
		if old != 0 {
			next = prev + l.alpha*(seconds-prev)
		}
		if c.CompareAndSwap(old, math.Float64bits(next)) {
			return
		}
	}
}

func (l *leastLatency) Decide(_ context.Context, _ *Request, cands []Candidate) (Decision, error) {
	if len(cands) == 0 {
		return Decision{}, errNoCandidates
	}
	var healthy [16]int
	h := healthy[:0]
	for i, c := range cands {
		if c.Healthy {
			h = append(h, i)
		}
	}
	scores := NaNScores(len(cands))
	for i, c := range cands {
		scores[i].Score = -l.Latency(c.Name)
	}
	var pick int
	var prop float64
	switch len(h) {
	case 0:
		pick, prop = 0, 1
	case 1:
		pick, prop = h[0], 1
	default:
		ia, ib := rand.IntN(len(h)), rand.IntN(len(h)-1)
		if ib >= ia {
			ib++
		}
		a, b := h[ia], h[ib]
		// Unobserved deployments (EWMA 0) win, so new ones get traffic.
		pick = a
		if l.Latency(cands[b].Name) < l.Latency(cands[a].Name) {
			pick = b
		}
		prop = twoChoiceProb(pick, h, cands, l)
	}
	return Decision{Order: HealthyFirst(pick, cands), Scores: scores, Propensity: prop, Reason: "power of two choices on latency EWMA"}, nil
}

// twoChoiceProb is the probability that pick wins a draw of two distinct
// healthy candidates: it must be drawn and the other must be slower (ties go
// to the first drawn, so half of each tie).
func twoChoiceProb(pick int, h []int, cands []Candidate, l *leastLatency) float64 {
	n := float64(len(h))
	lp := l.Latency(cands[pick].Name)
	wins := 0.0
	for _, o := range h {
		if o == pick {
			continue
		}
		lo := l.Latency(cands[o].Name)
		switch {
		case lp < lo:
			wins++
		case lp == lo:
			wins += 0.5
		}
	}
	return 2 * wins / (n * (n - 1))
}

var (
	_ Strategy = (*leastLatency)(nil)
	_ Observer = (*leastLatency)(nil)
)
