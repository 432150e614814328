package routing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Buckets is how many buckets sticky assignment hashes keys into; weights
// are resolved to bucket ranges, so shares are exact to 0.01%.
const Buckets = 10000

// ExperimentSpec declares an A/B test between strategy instances.
type ExperimentSpec struct {
	ID string `json:"id"`
	// StickyKey is "user" (the request's user field), "api_key" (the client
	// key id) or "header:NAME". A request without the key gets a random bucket.
	StickyKey string         `json:"sticky_key"`
	Arms      []ArmSpec      `json:"arms"`
	Adaptive  *AdaptiveSpec  `json:"adaptive,omitempty"`
	Guardrail *GuardrailSpec `json:"guardrail,omitempty"`
}

// ArmSpec is one arm: a strategy instance and its weight.
type ArmSpec struct {
	Name     string  `json:"name"`
	Strategy string  `json:"strategy"`
	Weight   float64 `json:"weight"`
}

// AdaptiveSpec turns on Thompson sampling over a feedback metric whose
// values lie in [Min, Max]; every arm keeps at least MinShare of traffic.
type AdaptiveSpec struct {
	Metric   string  `json:"metric"`
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
	MinShare float64 `json:"min_share"`
	// Every is how many feedback posts pass between reallocations.
	Every int `json:"every"`
}

// GuardrailSpec drains an arm whose error rate rises above MaxErrorRate over
// its last Window requests, or whose mean feedback on Metric falls below
// MinFeedback over its last Window feedback posts, once MinSamples were seen.
type GuardrailSpec struct {
	Window       int     `json:"window"`
	MinSamples   int     `json:"min_samples"`
	MaxErrorRate float64 `json:"max_error_rate,omitempty"`
	Metric       string  `json:"metric,omitempty"`
	MinFeedback  float64 `json:"min_feedback,omitempty"`
}

// Arm is a running arm.
type Arm struct {
	Name     string
	Strategy string
	strat    Strategy
	stats    armStats
}

// ArmStats are an arm's figures as the admin API reports them.
type ArmStats struct {
	Name           string  `json:"name"`
	Strategy       string  `json:"strategy"`
	Weight         float64 `json:"weight"`
	Share          float64 `json:"share"`
	Drained        bool    `json:"drained"`
	DrainReason    string  `json:"drain_reason,omitempty"`
	Requests       int64   `json:"requests"`
	Errors         int64   `json:"errors"`
	ErrorRate      float64 `json:"error_rate"`
	MeanLatencyMS  float64 `json:"mean_latency_ms"`
	CostUSD        float64 `json:"cost_usd"`
	MeanCostUSD    float64 `json:"mean_cost_usd"`
	FeedbackCount  int64   `json:"feedback_count"`
	MeanFeedback   float64 `json:"mean_feedback"`
	FeedbackMetric string  `json:"feedback_metric,omitempty"`
}

type armStats struct {
	mu            sync.Mutex
	requests      int64
	errors        int64
	latencySum    float64
	costSum       float64
	fbCount       map[string]int64
	fbSum         map[string]float64
	recentErr     []bool    // ring of the last Window outcomes
	recentFB      []float64 // ring of the last Window feedback values (guardrail metric)
	errPos, fbPos int
	drained       bool
	drainReason   string
}

// allocation maps buckets to arms; replaced atomically on a weight change.
type allocation struct {
	weights []float64
	bounds  []int // cumulative upper bucket bound per arm
}

// Experiment is a running traffic split. It is itself a Strategy: a route that
// uses it gets the assigned arm's decision, annotated with arm and bucket.
type Experiment struct {
	spec    ExperimentSpec
	arms    []*Arm
	alloc   atomic.Pointer[allocation]
	stopped atomic.Pointer[string] // winner arm name once stopped
	started time.Time
	// OnDrain is called when a guardrail drains an arm (for the audit trail).
	OnDrain func(exp, arm, reason string)
	noKey   atomic.Int64
	fbSince atomic.Int64
	rng     *rand.Rand
	rngMu   sync.Mutex
	adaptMu sync.Mutex
}

// NewExperiment validates a spec against the strategy instances it names.
func NewExperiment(spec ExperimentSpec, lookup func(name string) (Strategy, bool)) (*Experiment, error) {
	if spec.ID == "" {
		return nil, errors.New("experiment id is required")
	}
	if strings.ContainsAny(spec.ID, "/ ") {
		return nil, fmt.Errorf("experiment id %q must not contain '/' or spaces", spec.ID)
	}
	if err := checkStickyKey(spec.StickyKey); err != nil {
		return nil, err
	}
	if len(spec.Arms) < 2 {
		return nil, fmt.Errorf("experiment %q: needs at least two arms", spec.ID)
	}
	e := &Experiment{spec: spec, started: time.Now(), rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))}
	seen := map[string]bool{}
	weights := make([]float64, len(spec.Arms))
	for i, a := range spec.Arms {
		if a.Name == "" {
			a.Name = a.Strategy
		}
		if seen[a.Name] {
			return nil, fmt.Errorf("experiment %q: duplicate arm %q", spec.ID, a.Name)
		}
		seen[a.Name] = true
		st, ok := lookup(a.Strategy)
		if !ok {
			return nil, fmt.Errorf("experiment %q: arm %q names strategy instance %q, which does not exist", spec.ID, a.Name, a.Strategy)
		}
		weights[i] = a.Weight
		e.arms = append(e.arms, &Arm{Name: a.Name, Strategy: a.Strategy, strat: st})
	}
	if err := checkWeights(weights); err != nil {
		return nil, fmt.Errorf("experiment %q: %w", spec.ID, err)
	}
	if ad := spec.Adaptive; ad != nil {
		if ad.Metric == "" || ad.Max <= ad.Min {
			return nil, fmt.Errorf("experiment %q: adaptive needs a metric and max > min", spec.ID)
		}
		if ad.MinShare < 0 || ad.MinShare*float64(len(spec.Arms)) > 1 {
			return nil, fmt.Errorf("experiment %q: adaptive.min_share %g is impossible for %d arms", spec.ID, ad.MinShare, len(spec.Arms))
		}
		if ad.Every <= 0 {
			ad.Every = 20
		}
	}
	if g := spec.Guardrail; g != nil {
		if g.Window <= 0 {
			g.Window = 200
		}
		if g.MinSamples <= 0 || g.MinSamples > g.Window {
			g.MinSamples = min(50, g.Window)
		}
		if g.MaxErrorRate < 0 || g.MaxErrorRate > 1 {
			return nil, fmt.Errorf("experiment %q: guardrail.max_error_rate must be in [0,1]", spec.ID)
		}
		if g.MaxErrorRate == 0 && g.Metric == "" {
			return nil, fmt.Errorf("experiment %q: guardrail needs max_error_rate or a feedback metric", spec.ID)
		}
	}
	e.alloc.Store(newAllocation(weights))
	return e, nil
}

func checkStickyKey(k string) error {
	switch {
	case k == "user", k == "api_key":
		return nil
	case strings.HasPrefix(k, "header:") && len(k) > len("header:"):
		return nil
	}
	return fmt.Errorf("sticky_key %q must be user, api_key or header:NAME", k)
}

func checkWeights(w []float64) error {
	total := 0.0
	for i, x := range w {
		if x < 0 {
			return fmt.Errorf("weight %g of arm %d is negative", x, i)
		}
		total += x
	}
	if total == 0 {
		return errors.New("all weights are zero")
	}
	return nil
}

func newAllocation(w []float64) *allocation {
	total := 0.0
	for _, x := range w {
		total += x
	}
	a := &allocation{weights: append([]float64(nil), w...), bounds: make([]int, len(w))}
	acc := 0.0
	for i, x := range w {
		acc += x
		a.bounds[i] = int(acc / total * Buckets)
	}
	a.bounds[len(w)-1] = Buckets
	return a
}

// ID returns the experiment id.
func (e *Experiment) ID() string { return e.spec.ID }

// Spec returns the spec with the current weights.
func (e *Experiment) Spec() ExperimentSpec {
	s := e.spec
	s.Arms = append([]ArmSpec(nil), s.Arms...)
	w := e.alloc.Load().weights
	for i := range s.Arms {
		s.Arms[i].Weight = w[i]
		if s.Arms[i].Name == "" {
			s.Arms[i].Name = s.Arms[i].Strategy
		}
	}
	return s
}

// Strategies lists the instance names the arms use.
func (e *Experiment) Strategies() []string {
	out := make([]string, len(e.arms))
	for i, a := range e.arms {
		out[i] = a.Strategy
	}
	return out
}

// SetWeights replaces the split. Keys stay in their buckets; only the bucket
// ranges move, so a key changes arm only where the ranges changed.
func (e *Experiment) SetWeights(w map[string]float64) error {
	next := make([]float64, len(e.arms))
	cur := e.alloc.Load().weights
	copy(next, cur)
	for name, x := range w {
		i := e.armIndex(name)
		if i < 0 {
			return fmt.Errorf("experiment %q has no arm %q", e.spec.ID, name)
		}
		next[i] = x
	}
	if err := checkWeights(next); err != nil {
		return err
	}
	e.alloc.Store(newAllocation(next))
	return nil
}

func (e *Experiment) armIndex(name string) int {
	for i, a := range e.arms {
		if a.Name == name {
			return i
		}
	}
	return -1
}

// Stop ends the split: every request goes to winner (the first arm when
// empty).
func (e *Experiment) Stop(winner string) error {
	if winner == "" {
		winner = e.arms[0].Name
	}
	if e.armIndex(winner) < 0 {
		return fmt.Errorf("experiment %q has no arm %q", e.spec.ID, winner)
	}
	e.stopped.Store(&winner)
	return nil
}

// Stopped returns the winner once stopped.
func (e *Experiment) Stopped() (string, bool) {
	w := e.stopped.Load()
	if w == nil {
		return "", false
	}
	return *w, true
}

// Bucket hashes a sticky key into [0, Buckets) with SHA-256. The experiment
// id is part of the hash, so two experiments split users independently.
func Bucket(experiment, key string) int {
	h := sha256.New()
	h.Write([]byte(experiment))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var sum [32]byte
	h.Sum(sum[:0])
	return int(binary.BigEndian.Uint64(sum[:8]) % Buckets)
}

func (e *Experiment) key(req *Request) string {
	switch k := e.spec.StickyKey; {
	case k == "user":
		return req.User
	case k == "api_key":
		return req.APIKeyID
	default:
		if req.Header == nil {
			return ""
		}
		return req.Header.Get(strings.TrimPrefix(k, "header:"))
	}
}

// Assign returns the arm index and bucket for a request.
func (e *Experiment) Assign(req *Request) (arm, bucket int) {
	if w := e.stopped.Load(); w != nil {
		return e.armIndex(*w), -1
	}
	key := e.key(req)
	if key == "" {
		e.noKey.Add(1)
		e.rngMu.Lock()
		bucket = e.rng.IntN(Buckets)
		e.rngMu.Unlock()
	} else {
		bucket = Bucket(e.spec.ID, key)
	}
	a := e.alloc.Load()
	for i, b := range a.bounds {
		if bucket < b {
			return i, bucket
		}
	}
	return len(a.bounds) - 1, bucket
}

func (e *Experiment) Info() Info {
	return Info{Name: e.spec.ID, Kind: "experiment", Version: "1"}
}

// Decide assigns the request to an arm and returns that arm's decision.
func (e *Experiment) Decide(ctx context.Context, req *Request, cands []Candidate) (Decision, error) {
	i, bucket := e.Assign(req)
	arm := e.arms[i]
	d, err := arm.strat.Decide(ctx, req, cands)
	if err != nil {
		return d, fmt.Errorf("experiment %s arm %s: %w", e.spec.ID, arm.Name, err)
	}
	d.Experiment, d.Arm, d.Bucket = e.spec.ID, arm.Name, bucket
	d.ArmStrategy = arm.strat.Info()
	return d, nil
}

// Observe passes outcomes to arms whose strategies learn online.
func (e *Experiment) Observe(deployment string, seconds float64, failed bool) {
	for _, a := range e.arms {
		if o, ok := a.strat.(Observer); ok {
			o.Observe(deployment, seconds, failed)
		}
	}
}

// Record adds a finished request's outcome to an arm.
func (e *Experiment) Record(arm string, latency time.Duration, costUSD float64, failed bool) {
	i := e.armIndex(arm)
	if i < 0 {
		return
	}
	st := &e.arms[i].stats
	st.mu.Lock()
	st.requests++
	if failed {
		st.errors++
	}
	st.latencySum += latency.Seconds()
	st.costSum += costUSD
	var reason string
	if g := e.spec.Guardrail; g != nil && g.MaxErrorRate > 0 && !st.drained {
		if len(st.recentErr) < g.Window {
			st.recentErr = append(st.recentErr, failed)
		} else {
			st.recentErr[st.errPos] = failed
			st.errPos = (st.errPos + 1) % g.Window
		}
		if n := len(st.recentErr); n >= g.MinSamples {
			errs := 0
			for _, f := range st.recentErr {
				if f {
					errs++
				}
			}
			if rate := float64(errs) / float64(n); rate > g.MaxErrorRate {
				reason = fmt.Sprintf("error rate %.3f over the last %d requests is above %.3f", rate, n, g.MaxErrorRate)
			}
		}
	}
	st.mu.Unlock()
	if reason != "" {
		e.drain(i, reason)
	}
}

// RecordFeedback adds a feedback value to an arm.
func (e *Experiment) RecordFeedback(arm, metric string, value float64) {
	i := e.armIndex(arm)
	if i < 0 {
		return
	}
	st := &e.arms[i].stats
	st.mu.Lock()
	if st.fbCount == nil {
		st.fbCount, st.fbSum = map[string]int64{}, map[string]float64{}
	}
	st.fbCount[metric]++
	st.fbSum[metric] += value
	var reason string
	if g := e.spec.Guardrail; g != nil && g.Metric == metric && !st.drained {
		if len(st.recentFB) < g.Window {
			st.recentFB = append(st.recentFB, value)
		} else {
			st.recentFB[st.fbPos] = value
			st.fbPos = (st.fbPos + 1) % g.Window
		}
		if n := len(st.recentFB); n >= g.MinSamples {
			sum := 0.0
			for _, v := range st.recentFB {
				sum += v
			}
			if mean := sum / float64(n); mean < g.MinFeedback {
				reason = fmt.Sprintf("mean %s %.3f over the last %d feedback posts is below %.3f", metric, mean, n, g.MinFeedback)
			}
		}
	}
	st.mu.Unlock()
	if reason != "" {
		e.drain(i, reason)
	}
	if ad := e.spec.Adaptive; ad != nil && ad.Metric == metric {
		if e.fbSince.Add(1)%int64(ad.Every) == 0 {
			e.reallocate()
		}
	}
}

// drain sets an arm's weight to zero, unless it is the last arm with weight.
func (e *Experiment) drain(i int, reason string) {
	cur := e.alloc.Load()
	next := append([]float64(nil), cur.weights...)
	next[i] = 0
	if checkWeights(next) != nil {
		return // never drain the last arm standing
	}
	st := &e.arms[i].stats
	st.mu.Lock()
	if st.drained {
		st.mu.Unlock()
		return
	}
	st.drained, st.drainReason = true, reason
	st.mu.Unlock()
	e.alloc.Store(newAllocation(next))
	if e.OnDrain != nil {
		e.OnDrain(e.spec.ID, e.arms[i].Name, reason)
	}
}

// Stats returns each arm's figures.
func (e *Experiment) Stats() []ArmStats {
	a := e.alloc.Load()
	out := make([]ArmStats, len(e.arms))
	total := 0.0
	for _, w := range a.weights {
		total += w
	}
	metric := ""
	if e.spec.Adaptive != nil {
		metric = e.spec.Adaptive.Metric
	} else if e.spec.Guardrail != nil {
		metric = e.spec.Guardrail.Metric
	}
	for i, arm := range e.arms {
		st := &arm.stats
		st.mu.Lock()
		s := ArmStats{Name: arm.Name, Strategy: arm.Strategy, Weight: a.weights[i], Share: a.weights[i] / total,
			Drained: st.drained, DrainReason: st.drainReason, Requests: st.requests, Errors: st.errors, CostUSD: st.costSum}
		if st.requests > 0 {
			s.ErrorRate = float64(st.errors) / float64(st.requests)
			s.MeanLatencyMS = st.latencySum / float64(st.requests) * 1000
			s.MeanCostUSD = st.costSum / float64(st.requests)
		}
		m := metric
		if m == "" {
			for k := range st.fbCount {
				m = k
				break
			}
		}
		if n := st.fbCount[m]; n > 0 {
			s.FeedbackMetric, s.FeedbackCount, s.MeanFeedback = m, n, st.fbSum[m]/float64(n)
		}
		st.mu.Unlock()
		out[i] = s
	}
	return out
}

// KeylessRequests counts requests that had no sticky key.
func (e *Experiment) KeylessRequests() int64 { return e.noKey.Load() }

var _ Strategy = (*Experiment)(nil)
