package eval

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/dataset"
)

// TestOffPolicyEstimatesMatchFullInformation logs bandit rows from a skewed
// policy and checks that SNIPS recovers what full-information rows give.
func TestOffPolicyEstimatesMatchFullInformation(t *testing.T) {
	cands := []string{"dear", "coder", "writer"}
	// True quality per topic (rows alternate topics) and cost per candidate.
	quality := [2][3]float64{{0.9, 0.85, 0.3}, {0.9, 0.4, 0.8}}
	cost := [3]float64{10, 1, 0.5}
	logP := [3]float64{0.7, 0.15, 0.15} // a skewed logging policy
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 30000
	var bandit, full []dataset.Row
	pred := Matrix{Candidates: cands}
	for i := 0; i < n; i++ {
		topic := i % 2
		u, pick := rng.Float64(), 0
		for acc := 0.0; pick < 2; pick++ {
			if acc += logP[pick]; u < acc {
				break
			}
		}
		q, c, p := quality[topic][pick], cost[pick], logP[pick]
		bandit = append(bandit, dataset.Row{ID: "b", Outcomes: map[string]dataset.Outcome{cands[pick]: {Quality: &q, Cost: &c, Propensity: &p}}})
		fr := dataset.Row{ID: "f", Outcomes: map[string]dataset.Outcome{}}
		for j := range cands {
			qj, cj := quality[topic][j], cost[j]
			fr.Outcomes[cands[j]] = dataset.Outcome{Quality: &qj, Cost: &cj}
		}
		full = append(full, fr)
		pq := append([]float64(nil), quality[topic][:]...)
		pred.Quality = append(pred.Quality, pq)
		pred.Cost = append(pred.Cost, cost[:])
	}
	tb, tf := FromRows(bandit, cands), FromRows(full, cands)
	if !tb.HasBandit() || tf.HasBandit() {
		t.Fatal("trace rows not recognised")
	}
	pred.CostScale = 10
	lambdas := []float64{0, 0.05, 1, 100}
	sb, sf := Sweep(tb, pred, lambdas), Sweep(tf, pred, lambdas)
	for i := range lambdas {
		if math.Abs(sb[i].Quality-sf[i].Quality) > 0.02 || math.Abs(sb[i].Cost-sf[i].Cost)/sf[i].Cost > 0.05 {
			t.Errorf("lambda %g: bandit estimate %+v, full information %+v", lambdas[i], sb[i], sf[i])
		}
	}
	if sb[0].Quality == sb[3].Quality {
		t.Error("every lambda looks the same on trace rows")
	}
	for j, p := range Singles(tb) {
		want := Singles(tf)[j]
		if math.Abs(p.Quality-want.Quality) > 0.02 {
			t.Errorf("single %s: %+v, want %+v", cands[j], p, want)
		}
	}
	if r, rf := Random(tb), Random(tf); math.Abs(r.Quality-rf.Quality) > 0.02 {
		t.Errorf("random: %+v, want %+v", r, rf)
	}
	if o := Oracle(tb); o != (Point{}) {
		t.Errorf("oracle on trace rows should be unknown, got %+v", o)
	}
}
