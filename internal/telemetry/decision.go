package telemetry

import (
	"sync"
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

// Payload renders the record as the versioned JSON contract (see
// AppendPayload and docs/telemetry.md for the fields).
var payloadBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func (r *DecisionRecord) Payload() []byte { return r.AppendPayload(make([]byte, 0, 512)) }

// AddTo writes the decision event and its summary attributes on span. It does
// nothing when the span is not recording, so unsampled requests pay nothing.
func (r *DecisionRecord) AddTo(span trace.Span) {
	if !span.IsRecording() {
		return
	}
	// Built in a pooled buffer: the attribute needs its own string anyway,
	// so the buffer's growth is paid once per process, not per request.
	bp := payloadBufs.Get().(*[]byte)
	payload := r.AppendPayload((*bp)[:0])
	attrs := []attribute.KeyValue{
		attribute.Int("switchyard.contract_version", DecisionContractVersion),
		attribute.String("switchyard.decision", string(payload)),
	}
	if cap(payload) <= 64<<10 {
		*bp = payload
		payloadBufs.Put(bp)
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
