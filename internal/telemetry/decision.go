package telemetry

import (
	gojson "github.com/goccy/go-json"
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/internal/routing"
)

// DecisionContractVersion is the version of the switchyard.route_decision
// event payload. Any change to its fields bumps it; the trace export skips
// events of versions it does not know.
const DecisionContractVersion = 1

// DecisionEventName is the span event that carries the decision payload.
const DecisionEventName = "switchyard.route_decision"

// DecisionRecord is filled along a request and written once at its end.
type DecisionRecord struct {
	Route          string
	Strategy       routing.Info
	Experiment     string
	Arm            string
	Bucket         int
	Decision       routing.Decision
	Candidates     []routing.Candidate
	DecideDuration time.Duration
	// Features is the featurized prompt when prompt capture is "features".
	Features any
	// Prompt is the prompt text when prompt capture is "text".
	Prompt     string
	ClientGone bool
	Outcome    Outcome
}

// Outcome is what came of the decision.
type Outcome struct {
	Deployment       string
	Status           int
	InputTokens      int
	OutputTokens     int
	CostUSD          float64
	UsageEstimated   bool
	Latency          time.Duration
	TimeToFirstChunk time.Duration
	Fallbacks        int
	Retries          int
	Tried            []string
	Error            string
}

// decisionPayload is the JSON written on the event (contract version 1).
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
func (r *DecisionRecord) Payload() ([]byte, error) {
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
	// goccy/go-json encodes this struct about three times faster than
	// encoding/json; it runs once per request.
	return gojson.Marshal(p)
}

// AddTo writes the decision event and its summary attributes on span. It does
// nothing when the span is not recording, so unsampled requests pay nothing.
func (r *DecisionRecord) AddTo(span trace.Span) {
	if !span.IsRecording() {
		return
	}
	payload, err := r.Payload()
	if err != nil {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.Int("switchyard.contract_version", DecisionContractVersion),
		attribute.String("switchyard.decision", string(payload)),
	}
	span.AddEvent(DecisionEventName, trace.WithAttributes(attrs...))
	span.SetAttributes(
		attribute.String("switchyard.strategy.name", r.Strategy.Name),
		attribute.String("switchyard.strategy.kind", r.Strategy.Kind),
		attribute.Float64("switchyard.propensity", r.Decision.Propensity),
	)
	if r.Experiment != "" {
		span.SetAttributes(attribute.String("switchyard.experiment", r.Experiment), attribute.String("switchyard.arm", r.Arm), attribute.Int("switchyard.bucket", r.Bucket))
	}
}
