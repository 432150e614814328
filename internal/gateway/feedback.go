package gateway

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

// FeedbackSpanName is the span that records one feedback post. It is a child
// of the request's root span, in the request's trace, so the trace export
// finds a decision and its feedback together.
const FeedbackSpanName = "switchyard.feedback"

type feedbackRequest struct {
	RequestID string   `json:"request_id"`
	Metric    string   `json:"metric"`
	Value     *float64 `json:"value"`
	Comment   string   `json:"comment,omitempty"`
}

const maxCommentLen = 2000

// handleFeedback records a score for an earlier request: POST /v1/feedback
// {"request_id", "metric", "value", "comment"}.
func (s *Server) handleFeedback(w http.ResponseWriter, r *http.Request) {
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var fb feedbackRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fb); err != nil {
		writeError(w, badRequest("", "malformed feedback body: %v", err))
		return
	}
	tid, err := parseRequestID(fb.RequestID)
	if err != nil {
		writeError(w, badRequest("request_id", "%v", err))
		return
	}
	metric, ok := s.feedbackMetrics[fb.Metric]
	if !ok {
		writeError(w, badRequest("metric", "unknown feedback metric %q; configured metrics: %s", fb.Metric, strings.Join(s.feedbackNames(), ", ")))
		return
	}
	if fb.Value == nil {
		writeError(w, badRequest("value", "missing required field: value"))
		return
	}
	if v := *fb.Value; v < metric.Min || v > metric.Max {
		writeError(w, badRequest("value", "value %g for metric %q is outside [%g, %g]", v, fb.Metric, metric.Min, metric.Max))
		return
	}
	if len(fb.Comment) > maxCommentLen {
		fb.Comment = fb.Comment[:maxCommentLen]
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: telemetry.RootSpanID(tid), TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(r.Context(), parent)
	_, span := s.tracer.Start(ctx, FeedbackSpanName, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(r.Context())}),
		trace.WithAttributes(
			attribute.String("switchyard.request_id", fb.RequestID),
			attribute.String("switchyard.feedback.metric", fb.Metric),
			attribute.Float64("switchyard.feedback.value", *fb.Value),
			attribute.String("switchyard.api_key_id", keyID(r.Context())),
		))
	if fb.Comment != "" {
		span.SetAttributes(attribute.String("switchyard.feedback.comment", fb.Comment))
	}
	span.End()
	s.metrics.Feedback.WithLabelValues(fb.Metric).Inc()
	s.metrics.FeedbackValue.WithLabelValues(fb.Metric).Observe(*fb.Value)
	s.onFeedback(fb.RequestID, fb.Metric, *fb.Value)
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "recorded", "request_id": fb.RequestID})
}

func parseRequestID(id string) (trace.TraceID, error) {
	var tid trace.TraceID
	if id == "" {
		return tid, errString("missing required field: request_id")
	}
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 {
		return tid, errString("request_id must be the 32 hex characters of a response's x-request-id")
	}
	copy(tid[:], b)
	if !tid.IsValid() {
		return tid, errString("request_id must not be all zeros")
	}
	return tid, nil
}

type errString string

func (e errString) Error() string { return string(e) }

func (s *Server) feedbackNames() []string {
	names := make([]string, 0, len(s.feedbackMetrics))
	for n := range s.feedbackMetrics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// onFeedback credits feedback to the experiment arm that served the request,
// when this replica served it recently.
func (s *Server) onFeedback(requestID, metric string, value float64) {
	ref, ok := s.arms.get(requestID)
	if !ok {
		return
	}
	if e, ok := s.state.Load().experiments[ref.experiment]; ok {
		e.RecordFeedback(ref.arm, metric, value)
	}
	s.metrics.ArmFeedbackSum.WithLabelValues(ref.experiment, ref.arm, metric).Add(value)
	s.metrics.ArmFeedbackCount.WithLabelValues(ref.experiment, ref.arm, metric).Inc()
}
