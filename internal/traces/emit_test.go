package traces

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/internal/routing"
	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

// request is one gateway request to record through a real tracer, with the
// gateway's own contract code (telemetry.DecisionRecord), so the tests read
// exactly what the gateway writes.
type request struct {
	start      time.Time
	prompt     string
	pick       string
	answered   string
	status     int
	propensity float64
	outTokens  int
	// feedback, when set, is posted at fbAt as a child of the request span.
	feedback *float64
	fbAt     time.Time
}

var candidates = []routing.Candidate{{Name: "small", Healthy: true}, {Name: "coder", Healthy: true}, {Name: "frontier", Healthy: true}}

// emit records r on tr and returns its trace id (the request id).
func emit(tr trace.Tracer, r request) string {
	if r.status == 0 {
		r.status = 200
	}
	_, span := tr.Start(context.Background(), "POST /v1/chat/completions", trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(r.start))
	order := []int{0, 1, 2}
	for i, c := range candidates {
		if c.Name == r.pick {
			order = append([]int{i}, append(append([]int{}, order[:i]...), order[i+1:]...)...)
		}
	}
	rec := &telemetry.DecisionRecord{
		Route:      "auto",
		Strategy:   routing.Info{Name: "auto", Kind: "weighted", Version: "1"},
		Decision:   routing.Decision{Order: order, Propensity: r.propensity, Reason: "weighted draw"},
		Candidates: candidates,
		Prompt:     r.prompt,
		Outcome: telemetry.Outcome{Deployment: r.answered, Status: r.status, InputTokens: 12,
			OutputTokens: r.outTokens, CostUSD: 0.0001 * float64(r.outTokens), Latency: 20 * time.Millisecond},
	}
	span.SetAttributes(attribute.String("switchyard.route", "auto"), attribute.String("switchyard.deployment", r.answered))
	rec.AddTo(span)
	span.End(trace.WithTimestamp(r.start.Add(20 * time.Millisecond)))
	id := span.SpanContext().TraceID()
	if r.feedback != nil {
		emitFeedback(tr, id, *r.feedback, r.fbAt)
	}
	return id.String()
}

// emitFeedback records a feedback span the way POST /v1/feedback does: a
// child of the request's root span, in the request's trace.
func emitFeedback(tr trace.Tracer, id trace.TraceID, v float64, at time.Time) {
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: id, SpanID: telemetry.RootSpanID(id), TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	_, fs := tr.Start(ctx, FeedbackSpanName, trace.WithTimestamp(at), trace.WithAttributes(
		attribute.String(attrRequestID, id.String()),
		attribute.String(attrFeedbackMetric, "quality"),
		attribute.Float64(attrFeedbackValue, v)))
	fs.End(trace.WithTimestamp(at))
}
