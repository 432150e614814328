package gateway

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// requestSpan returns the one recorded server span of a chat request.
func requestSpan(t *testing.T, exp *tracetest.InMemoryExporter) tracetest.SpanStub {
	t.Helper()
	for _, s := range exp.GetSpans() {
		if s.Name == "POST /v1/chat/completions" {
			return s
		}
	}
	t.Fatalf("no request span among %d", len(exp.GetSpans()))
	return tracetest.SpanStub{}
}

// TestRequestSpanLinksTheCallersTrace: a caller's traceparent becomes a link
// of a new trace (whose id is the request id), and a request without one
// gets no link.
func TestRequestSpanLinksTheCallersTrace(t *testing.T) {
	up := newUpstream(t, okChat("m", "ok"))
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, c := range []struct {
		name string
		hdr  []string
		link bool
	}{
		{"traceparent", []string{"traceparent", "00-" + callerTrace + "-" + callerSpan + "-01"}, true},
		{"malformed traceparent", []string{"traceparent", "00-nothex-01"}, false},
		{"none", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, exp, tp := tracedGateway(t, oneRoute("", dep("a", up.URL)))
			resp := g.post(t, "/v1/chat/completions", chatBody, c.hdr...)
			readAll(t, resp)
			_ = tp.ForceFlush(context.Background())
			s := requestSpan(t, exp)
			if got := s.SpanContext.TraceID().String(); got == callerTrace || got != resp.Header.Get("x-request-id") {
				t.Errorf("trace id %s: want a new trace whose id is the x-request-id %q", got, resp.Header.Get("x-request-id"))
			}
			if s.Parent.IsValid() {
				t.Errorf("request span has a parent %v; the caller should be a link", s.Parent)
			}
			switch {
			case c.link && (len(s.Links) != 1 || s.Links[0].SpanContext.TraceID().String() != callerTrace || s.Links[0].SpanContext.SpanID().String() != callerSpan):
				t.Errorf("links = %+v, want the caller's span", s.Links)
			case !c.link && len(s.Links) != 0:
				t.Errorf("links = %+v, want none", s.Links)
			}
		})
	}
}

// TestRequestSpanAttributesSetOnce: the buffered attributes all reach the
// SDK span, without duplicates, and flags appear only when set.
func TestRequestSpanAttributesSetOnce(t *testing.T) {
	up := newUpstream(t, okChat("m", "ok"))
	g, exp, tp := tracedGateway(t, oneRoute("", dep("a", up.URL)))
	readAll(t, g.post(t, "/v1/chat/completions", chatBody))
	_ = tp.ForceFlush(context.Background())
	s := requestSpan(t, exp)
	seen := map[attribute.Key]int{}
	for _, kv := range s.Attributes {
		seen[kv.Key]++
	}
	for _, k := range []attribute.Key{"http.request.method", "url.path", "switchyard.api_key_id", "gen_ai.request.model", "gen_ai.response.model",
		"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "switchyard.route", "switchyard.deployment", "switchyard.cost_usd",
		"switchyard.strategy.name", "switchyard.propensity", "http.response.status_code"} {
		if seen[k] != 1 {
			t.Errorf("attribute %s set %d times, want once", k, seen[k])
		}
	}
	for _, k := range []attribute.Key{"switchyard.stream", "switchyard.fallbacks", "switchyard.usage_estimated"} {
		if seen[k] != 0 {
			t.Errorf("attribute %s present on a plain request without fallbacks or estimates", k)
		}
	}
	if len(s.Events) != 1 || s.Events[0].Name != "switchyard.route_decision" {
		t.Errorf("events = %+v, want the decision event", s.Events)
	}
}

// TestSetAttrsOnAnySpan: setAttrs reaches the request's buffered span (in
// call order, at End) and any other span, and a caller reusing its slice
// afterwards changes neither.
func TestSetAttrsOnAnySpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	_, plain := tp.Tracer("t").Start(context.Background(), "plain")
	kv := []attribute.KeyValue{attribute.String("k", "v")}
	setAttrs(plain, kv...)
	kv[0] = attribute.String("k", "changed")
	plain.End()

	_, sdkSpan := tp.Tracer("t").Start(context.Background(), "buffered")
	b := newBufferedSpan(sdkSpan)
	setAttrs(b, attribute.Int("n", 1))
	setAttrs(b, attribute.Int("m", 2))
	b.End()

	got := map[string][]attribute.KeyValue{}
	for _, s := range exp.GetSpans() {
		got[s.Name] = s.Attributes
	}
	if a := got["plain"]; len(a) != 1 || a[0].Value.AsString() != "v" {
		t.Errorf("plain span attributes %v, want k=v", a)
	}
	if a := got["buffered"]; len(a) != 2 || a[0].Key != "n" || a[1].Key != "m" {
		t.Errorf("buffered span attributes %v, want n and m", a)
	}
}
