package routing

import (
	"gonum.org/v1/gonum/stat/distuv"
	"math/rand/v2"
)

// thompsonDraws is how many posterior draws estimate each arm's chance of
// being best; 2,000 keeps the share's standard error under about 1%.
const thompsonDraws = 2000

// reallocate sets the weights to each arm's posterior probability of having
// the best mean feedback (Thompson sampling as a share), floored at MinShare.
// Feedback values are scaled to [0,1] and counted as fractional successes of a
// Beta(1+s, 1+f) posterior. Drained arms stay at zero.
func (e *Experiment) reallocate() {
	ad := e.spec.Adaptive
	e.adaptMu.Lock()
	defer e.adaptMu.Unlock()
	n := len(e.arms)
	post := make([]distuv.Beta, n)
	drained := make([]bool, n)
	src := rand.NewPCG(uint64(e.fbSince.Load())+1, 11)
	for i, a := range e.arms {
		st := &a.stats
		st.mu.Lock()
		cnt, sum := float64(st.fbCount[ad.Metric]), st.fbSum[ad.Metric]
		drained[i] = st.drained
		st.mu.Unlock()
		succ := (sum - cnt*ad.Min) / (ad.Max - ad.Min)
		post[i] = distuv.Beta{Alpha: 1 + succ, Beta: 1 + cnt - succ, Src: src}
	}
	wins := make([]float64, n)
	for d := 0; d < thompsonDraws; d++ {
		best, bv := -1, -1.0
		for i := range post {
			if drained[i] {
				continue
			}
			if v := post[i].Rand(); v > bv {
				best, bv = i, v
			}
		}
		if best >= 0 {
			wins[best]++
		}
	}
	live := 0
	for i := range wins {
		if !drained[i] {
			live++
		}
	}
	if live == 0 {
		return
	}
	w := make([]float64, n)
	floor := ad.MinShare
	rest := 1 - floor*float64(live)
	for i := range wins {
		if drained[i] {
			continue
		}
		w[i] = floor + rest*wins[i]/thompsonDraws
	}
	if checkWeights(w) == nil {
		e.alloc.Store(newAllocation(w))
	}
}
