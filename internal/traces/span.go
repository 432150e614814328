// Package traces turns the gateway's traces into training rows: it reads spans
// from Jaeger (the v3 query API, which answers in OTLP JSON, or the legacy
// /api/traces API) or from the local trace file the gateway writes without a
// collector, joins each routing decision with its outcome and its feedback by
// trace id, and writes dataset rows. It also reports what it saw and why rows
// were dropped, because a training set that silently shrank is worse than an
// error.
package traces

import (
	"strconv"
	"strings"
	"time"
)

// Names and attribute keys of the gateway's side of the contract
// (internal/telemetry and internal/gateway). They are repeated here, not
// imported, so the export keeps reading old traces when the gateway moves on.
const (
	DecisionEventName = "switchyard.route_decision"
	FeedbackSpanName  = "switchyard.feedback"

	attrDecision        = "switchyard.decision"
	attrContractVersion = "switchyard.contract_version"
	attrFeedbackMetric  = "switchyard.feedback.metric"
	attrFeedbackValue   = "switchyard.feedback.value"
	attrRequestID       = "switchyard.request_id"
	attrServiceName     = "service.name"
)

// Span is one span from any source, reduced to what the join needs. Ids are
// lower-case hex, as the gateway prints them in x-request-id.
type Span struct {
	TraceID  string
	SpanID   string
	ParentID string
	Service  string
	Name     string
	Start    time.Time
	End      time.Time
	Attrs    map[string]any
	Events   []Event
}

// Event is a span event (a "log" in the legacy API).
type Event struct {
	Name  string
	Time  time.Time
	Attrs map[string]any
}

// key identifies a span across sources and windows, for de-duplication.
func (s *Span) key() spanKey { return spanKey{s.TraceID, s.SpanID} }

type spanKey struct{ trace, span string }

// normID lower-cases a hex id and strips the leading zeros some legacy
// encoders drop, by re-padding to the full width: Jaeger's legacy API prints
// 64-bit-high-zero trace ids without their leading zeros.
func normID(id string, width int) string {
	id = strings.ToLower(id)
	if len(id) < width {
		id = strings.Repeat("0", width-len(id)) + id
	}
	return id
}

// attrString returns a string attribute, or "".
func attrString(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	}
	return ""
}

// attrFloat returns a numeric attribute as float64. Numbers may arrive as
// int64, float64 or a decimal string (OTLP JSON encodes int64 as a string).
func attrFloat(m map[string]any, k string) (float64, bool) {
	switch v := m[k].(type) {
	case float64:
		return v, true
	case int64:
		return float64(v), true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}
