package telemetry

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/ml/feature"
	"github.com/switchyard-ai/switchyard/internal/routing"
)

func sampleRecord() *DecisionRecord {
	return &DecisionRecord{
		Route:    "bench",
		Strategy: routing.Info{Name: "bench", Kind: "weighted", Version: "1"},
		Decision: routing.Decision{Order: []int{1, 0}, Propensity: 0.5, Reason: "weighted random",
			Scores: []routing.Score{{Quality: math.NaN(), Cost: math.NaN(), Score: 1}, {Quality: 0.82, Cost: 1.5e-5, Score: 0.9}}},
		Candidates:     []routing.Candidate{{Name: "up-a", Healthy: true}, {Name: "up-b", Healthy: true}},
		DecideDuration: 3 * time.Microsecond,
		Features:       feature.Vector{Idx: []uint32{3, 17, 4096, 70000, 262143}, Val: []float32{0.25, 0.5, 0.125, 1e-7, 0.7071068}},
		Outcome:        Outcome{Deployment: "up-b", Status: 200, InputTokens: 28, OutputTokens: 21, CostUSD: 7e-5, Latency: 2 * time.Millisecond, Tried: []string{"up-b"}},
	}
}

// decisionPayload is the contract-version-1 payload as a struct: the
// reference that AppendPayload must match byte for byte.
type decisionPayload struct {
	ContractVersion int               `json:"contract_version"`
	Route           string            `json:"route"`
	Strategy        strategyPayload   `json:"strategy"`
	ModelVersion    string            `json:"model_version,omitempty"`
	Experiment      string            `json:"experiment,omitempty"`
	Arm             string            `json:"arm,omitempty"`
	Bucket          *int              `json:"bucket,omitempty"`
	Candidates      []candidateResult `json:"candidates"`
	Pick            string            `json:"pick"`
	Propensity      float64           `json:"propensity"`
	Reason          string            `json:"reason"`
	Prompt          string            `json:"prompt,omitempty"`
	Features        any               `json:"features,omitempty"`
	Timings         timings           `json:"timings"`
	Outcome         outcomePayload    `json:"outcome"`
}

type strategyPayload struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Version string `json:"version"`
}

type candidateResult struct {
	Name             string   `json:"name"`
	Healthy          bool     `json:"healthy"`
	PredictedQuality *float64 `json:"predicted_quality"`
	PredictedCost    *float64 `json:"predicted_cost"`
	Score            *float64 `json:"score"`
}

type timings struct {
	DecideUS     int64 `json:"decide_us"`
	TotalMS      int64 `json:"total_ms"`
	FirstChunkMS int64 `json:"first_chunk_ms,omitempty"`
}

type outcomePayload struct {
	Deployment     string   `json:"deployment,omitempty"`
	Status         int      `json:"status"`
	InputTokens    int      `json:"input_tokens"`
	OutputTokens   int      `json:"output_tokens"`
	CostUSD        float64  `json:"cost_usd"`
	UsageEstimated bool     `json:"usage_estimated,omitempty"`
	Fallbacks      int      `json:"fallbacks"`
	Retries        int      `json:"retries"`
	Tried          []string `json:"tried,omitempty"`
	Error          string   `json:"error,omitempty"`
}

func num(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// Payload renders the record as the versioned JSON contract.
func referencePayload(r *DecisionRecord) ([]byte, error) {
	p := decisionPayload{
		ContractVersion: DecisionContractVersion,
		Route:           r.Route,
		Strategy:        strategyPayload{Name: r.Strategy.Name, Kind: r.Strategy.Kind, Version: r.Strategy.Version},
		ModelVersion:    r.Decision.ModelVersion,
		Experiment:      r.Experiment,
		Arm:             r.Arm,
		Propensity:      r.Decision.Propensity,
		Reason:          r.Decision.Reason,
		Prompt:          r.Prompt,
		Features:        r.Features,
		Timings: timings{
			DecideUS:     r.DecideDuration.Microseconds(),
			TotalMS:      r.Outcome.Latency.Milliseconds(),
			FirstChunkMS: r.Outcome.TimeToFirstChunk.Milliseconds(),
		},
		Outcome: outcomePayload{
			Deployment: r.Outcome.Deployment, Status: r.Outcome.Status,
			InputTokens: r.Outcome.InputTokens, OutputTokens: r.Outcome.OutputTokens,
			CostUSD: r.Outcome.CostUSD, UsageEstimated: r.Outcome.UsageEstimated,
			Fallbacks: r.Outcome.Fallbacks, Retries: r.Outcome.Retries, Tried: r.Outcome.Tried, Error: r.Outcome.Error,
		},
	}
	if r.Experiment != "" {
		b := r.Bucket
		p.Bucket = &b
	}
	p.Candidates = make([]candidateResult, len(r.Candidates))
	for i, c := range r.Candidates {
		cr := candidateResult{Name: c.Name, Healthy: c.Healthy}
		if i < len(r.Decision.Scores) {
			sc := r.Decision.Scores[i]
			cr.PredictedQuality, cr.PredictedCost, cr.Score = num(sc.Quality), num(sc.Cost), num(sc.Score)
		}
		p.Candidates[i] = cr
	}
	if len(r.Decision.Order) > 0 && r.Decision.Order[0] < len(r.Candidates) {
		p.Pick = r.Candidates[r.Decision.Order[0]].Name
	}
	return json.Marshal(p)
}

func BenchmarkDecisionPayload(b *testing.B) {
	r := sampleRecord()
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Payload()
	}
}

// randomString mixes plain text with everything JSON escaping treats
// specially: quotes, backslashes, control characters, HTML characters,
// U+2028/U+2029, multi-byte runes and invalid UTF-8.
func randomString(rng *rand.Rand) string {
	parts := []string{"", "a", "route-1", `"`, `\`, "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "<", ">", "&",
		"\u2028", "\u2029", "é", "日本", "🙂", "\xff", "\xe2\x80", "\ufffd", " ", "/"}
	n := rng.IntN(6)
	var s string
	for range n {
		s += parts[rng.IntN(len(parts))]
	}
	return s
}

func randomFloat(rng *rand.Rand) float64 {
	switch rng.IntN(8) {
	case 0:
		return 0
	case 1:
		return math.NaN()
	case 2:
		return math.Inf(1)
	case 3:
		return rng.Float64() * 1e-9
	case 4:
		return rng.Float64() * 1e25
	case 5:
		return -rng.Float64()
	case 6:
		return float64(rng.IntN(1000))
	}
	return rng.Float64()
}

func randomRecord(rng *rand.Rand) *DecisionRecord {
	r := &DecisionRecord{
		Route:          randomString(rng),
		Strategy:       routing.Info{Name: randomString(rng), Kind: randomString(rng), Version: randomString(rng)},
		DecideDuration: time.Duration(rng.IntN(1e7)),
		Prompt:         randomString(rng),
		Outcome: Outcome{Deployment: randomString(rng), Status: rng.IntN(600), InputTokens: rng.IntN(1e5), OutputTokens: rng.IntN(1e5),
			CostUSD: math.Abs(randomFloat(rng)), UsageEstimated: rng.IntN(2) == 0, Latency: time.Duration(rng.Int64N(1e11)),
			TimeToFirstChunk: time.Duration(rng.Int64N(1e10)), Fallbacks: rng.IntN(3), Retries: rng.IntN(3), Error: randomString(rng)},
	}
	if math.IsNaN(r.Outcome.CostUSD) || math.IsInf(r.Outcome.CostUSD, 0) {
		r.Outcome.CostUSD = 1e-5 // the reference (encoding/json) refuses non-finite numbers
	}
	if rng.IntN(2) == 0 {
		r.Experiment, r.Arm, r.Bucket = randomString(rng), randomString(rng), rng.IntN(10000)
	}
	r.Decision.ModelVersion = randomString(rng)
	r.Decision.Reason = randomString(rng)
	r.Decision.Propensity = rng.Float64()
	n := rng.IntN(4)
	for range n {
		r.Candidates = append(r.Candidates, routing.Candidate{Name: randomString(rng), Healthy: rng.IntN(2) == 0})
		if rng.IntN(4) > 0 {
			r.Decision.Scores = append(r.Decision.Scores, routing.Score{Quality: randomFloat(rng), Cost: randomFloat(rng), Score: randomFloat(rng)})
		}
	}
	if n > 0 && rng.IntN(4) > 0 {
		r.Decision.Order = []int{rng.IntN(n + 1)}
	}
	for range rng.IntN(3) {
		r.Outcome.Tried = append(r.Outcome.Tried, randomString(rng))
	}
	switch rng.IntN(4) {
	case 0:
		v := feature.Vector{}
		for i := range rng.IntN(12) {
			v.Idx = append(v.Idx, uint32(i*rng.IntN(1<<18)))
			f := float32(randomFloat(rng))
			switch {
			case math.IsNaN(float64(f)) || math.IsInf(float64(f), 0):
				f = 0.5
			case i > 0 && rng.IntN(2) == 0:
				// Captured prompts repeat values: the appender copies
				// a repeated value's digits, so repeats must be tested,
				// next to values that differ only in sign or last bit.
				switch prev := v.Val[i-1]; rng.IntN(5) {
				case 0:
					f = prev
				case 3:
					f = v.Val[rng.IntN(i)] // an earlier value, not the last
				case 4:
					f = 0
				case 1:
					f = -prev
				default:
					f = math.Nextafter32(prev, 1)
				}
			}
			v.Val = append(v.Val, f)
		}
		r.Features = v
	case 1:
		r.Features = &feature.Vector{Idx: []uint32{1}, Val: []float32{1e-7}}
	case 2:
		r.Features = map[string]int{"x": 1}
	}
	return r
}

// TestAppendPayloadMatchesEncodingJSON holds the hand-written encoder to
// encoding/json's bytes for the contract struct over random records.
func TestAppendPayloadMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		r := randomRecord(rng)
		want, err := referencePayload(r)
		if err != nil {
			t.Fatalf("record %d: reference: %v", i, err)
		}
		got := r.Payload()
		if string(got) != string(want) {
			t.Fatalf("record %d differs:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestAppendPayloadNonFinite: where encoding/json would refuse the payload,
// the appender still writes valid JSON.
func TestAppendPayloadNonFinite(t *testing.T) {
	r := sampleRecord()
	r.Decision.Propensity = math.NaN()
	r.Outcome.CostUSD = math.Inf(1)
	r.Features = feature.Vector{Idx: []uint32{1}, Val: []float32{float32(math.NaN())}}
	var m map[string]any
	if err := json.Unmarshal(r.Payload(), &m); err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, r.Payload())
	}
	if m["propensity"] != nil || m["outcome"].(map[string]any)["cost_usd"] != nil {
		t.Fatalf("non-finite numbers should be null: %s", r.Payload())
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\x00<>&\u2028\xff\xe2\x82", "日本🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func FuzzAppendFloat(f *testing.F) {
	for _, x := range []float64{0, 1, -1, 1e-7, 1e21, 123.456, 5e-324} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		want, _ := json.Marshal(x)
		if got := appendFloat(nil, x, 64); string(got) != string(want) {
			t.Fatalf("appendFloat(%v) = %s, want %s", x, got, want)
		}
		want32, _ := json.Marshal(float32(x))
		if got := appendFloat(nil, float64(float32(x)), 32); string(got) != string(want32) {
			t.Fatalf("appendFloat32(%v) = %s, want %s", float32(x), got, want32)
		}
	})
}
