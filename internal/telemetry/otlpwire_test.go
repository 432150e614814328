package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
)

// variedSpans records spans that use every part of the span model: two
// resources and three scopes, every attribute type (empty and zero values
// included), events, links (local and remote), statuses, a parent, trace
// state, and attributes, events and links past their limits.
func variedSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	limits := sdktrace.NewSpanLimits()
	limits.AttributeCountLimit, limits.EventCountLimit, limits.LinkCountLimit = 40, 3, 2
	limits.AttributePerEventCountLimit, limits.AttributePerLinkCountLimit = 2, 1
	res1 := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attribute.String("service.name", "switchyard"), attribute.Int("replica", 1))
	res2 := resource.NewSchemaless(attribute.String("service.name", "other"))
	tp1 := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res1), sdktrace.WithRawSpanLimits(limits))
	tp2 := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res2))
	trA := tp1.Tracer("gateway", trace.WithInstrumentationVersion("1.2.3"), trace.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"),
		trace.WithInstrumentationAttributes(attribute.String("lib", "x")))
	trB := tp1.Tracer("")
	trC := tp2.Tracer("other-lib")

	all := []attribute.KeyValue{
		attribute.String("s", "text"), attribute.String("empty", ""), attribute.Bool("t", true), attribute.Bool("f", false),
		attribute.Int64("i", -42), attribute.Int64("zero", 0), attribute.Int64("big", 1<<62), attribute.Float64("d", 3.25), attribute.Float64("dz", 0),
		attribute.StringSlice("ss", []string{"a", "", "c"}), attribute.BoolSlice("bs", []bool{true, false}),
		attribute.Int64Slice("is", []int64{1, -2, 3}), attribute.Float64Slice("ds", []float64{0.5, -1}), attribute.StringSlice("none", nil),
		{Key: "bytes", Value: attribute.ByteSliceValue([]byte{0, 1, 2})},
		{Key: "slice", Value: attribute.SliceValue(attribute.StringValue("x"), attribute.IntValue(7))},
		{Key: "map", Value: attribute.MapValue(attribute.String("k", "v"), attribute.Bool("b", true))},
		{Key: "emptyvalue", Value: attribute.Value{}},
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled, Remote: true})
	ts, _ := trace.ParseTraceState("vendor=value,other=1")
	parentCtx := trace.ContextWithRemoteSpanContext(context.Background(), remote.WithTraceState(ts))

	ctx, root := trA.Start(parentCtx, "POST /v1/chat/completions", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithLinks(trace.Link{SpanContext: remote, Attributes: []attribute.KeyValue{attribute.String("why", "caller"), attribute.Int("dropped", 1)}}))
	root.SetAttributes(all...)
	root.SetAttributes(attribute.String("long", strings.Repeat("x", 20000))) // a 3-byte length
	root.AddEvent("switchyard.route_decision", trace.WithAttributes(attribute.Int("switchyard.contract_version", 1), attribute.String("switchyard.decision", `{"route":"x"}`)))
	root.AddEvent("bare")
	root.AddEvent("over", trace.WithAttributes(attribute.Int("a", 1), attribute.Int("b", 2), attribute.Int("c", 3)))
	root.SetStatus(codes.Error, "upstream failed")
	_, child := trB.Start(ctx, "child", trace.WithSpanKind(trace.SpanKindClient))
	for i := range 5 {
		child.AddEvent("e", trace.WithAttributes(attribute.Int("n", i)))
	}
	for i := range 3 {
		child.AddLink(trace.Link{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{byte(i + 1)}})})
	}
	child.SetStatus(codes.Ok, "")
	child.End()
	root.End()
	for i, k := range []trace.SpanKind{trace.SpanKindInternal, trace.SpanKindProducer, trace.SpanKindConsumer, trace.SpanKindUnspecified} {
		_, s := trC.Start(context.Background(), "kind", trace.WithSpanKind(k), trace.WithNewRoot())
		for j := range 45 + i { // past the attribute limit of the other provider; unlimited here
			s.SetAttributes(attribute.Int("a"+string(rune('a'+j%26)), j))
		}
		s.End()
	}
	_, over := trA.Start(context.Background(), "over-limits")
	for j := range 50 {
		over.SetAttributes(attribute.Int("k"+string(rune('A'+j)), j))
	}
	over.End()
	return rec.Ended()
}

// sink is an OTLP/HTTP collector that keeps the decoded requests.
type sink struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*coltracepb.ExportTraceServiceRequest
	path string
	ct   string
}

func newSink(t *testing.T, status func(n int) (int, string)) *sink {
	s := &sink{}
	var n atomic.Int32
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if status != nil {
			if code, ra := status(int(n.Add(1))); code != 200 {
				if ra != "" {
					w.Header().Set("Retry-After", ra)
				}
				w.WriteHeader(code)
				return
			}
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("collector could not decode the request: %v", err)
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, &req)
		s.path, s.ct = r.URL.Path, r.Header.Get("Content-Type")
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(s.Close)
	return s
}

// canonical orders resource and scope groups, which the SDK exporter emits
// in map order.
func canonical(req *coltracepb.ExportTraceServiceRequest) {
	key := func(m proto.Message) string {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		return string(b)
	}
	sort.Slice(req.ResourceSpans, func(i, j int) bool {
		return key(req.ResourceSpans[i].Resource) < key(req.ResourceSpans[j].Resource)
	})
	for _, rs := range req.ResourceSpans {
		sort.Slice(rs.ScopeSpans, func(i, j int) bool { return key(rs.ScopeSpans[i].Scope) < key(rs.ScopeSpans[j].Scope) })
	}
}

// TestWireExporterMatchesTheSDKExporter: for the same spans, the collector
// decodes the same request from wireExporter as from the SDK's otlptracehttp
// exporter, message for message.
func TestWireExporterMatchesTheSDKExporter(t *testing.T) {
	spans := variedSpans(t)
	ref, ours := newSink(t, nil), newSink(t, nil)
	sdkExp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(ref.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	exp, err := otlpExporter(context.Background(), ours.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []sdktrace.SpanExporter{sdkExp, exp} {
		if err := e.ExportSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
	}
	if len(ref.reqs) != 1 || len(ours.reqs) != 1 {
		t.Fatalf("requests: sdk %d, ours %d", len(ref.reqs), len(ours.reqs))
	}
	if ours.path != "/v1/traces" || ours.ct != "application/x-protobuf" {
		t.Errorf("posted to %q as %q", ours.path, ours.ct)
	}
	want, got := ref.reqs[0], ours.reqs[0]
	canonical(want)
	canonical(got)
	if n := len(want.ResourceSpans); n != 2 {
		t.Fatalf("reference has %d resources, want 2 (the test spans are not varied enough)", n)
	}
	if !proto.Equal(want, got) {
		for i := range want.ResourceSpans {
			if i < len(got.ResourceSpans) && !proto.Equal(want.ResourceSpans[i], got.ResourceSpans[i]) {
				t.Errorf("resource spans %d differ:\n sdk  %v\n ours %v", i, want.ResourceSpans[i], got.ResourceSpans[i])
			}
		}
		t.Fatalf("requests differ (%d vs %d resource groups)", len(want.ResourceSpans), len(got.ResourceSpans))
	}
	var n int
	for _, rs := range got.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
			for _, sp := range ss.Spans {
				if sp.Status == nil {
					t.Errorf("span %q has no status message", sp.Name)
				}
			}
		}
	}
	if n != len(spans) {
		t.Errorf("exported %d spans, want %d", n, len(spans))
	}
}

// TestWireExporterRetries: 503 with Retry-After and 429 are retried, then
// the batch goes through once; a 400 is not retried.
func TestWireExporterRetries(t *testing.T) {
	spans := variedSpans(t)[:1]
	s := newSink(t, func(n int) (int, string) {
		switch n {
		case 1:
			return http.StatusServiceUnavailable, "1"
		case 2:
			return http.StatusTooManyRequests, ""
		}
		return 200, ""
	})
	e := newWireExporter(s.URL + "/v1/traces")
	start := time.Now()
	if err := e.ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	if len(s.reqs) != 1 {
		t.Fatalf("collector accepted %d requests, want 1", len(s.reqs))
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("retried after %v, before the Retry-After of 1 s", el)
	}

	bad := newSink(t, func(int) (int, string) { return http.StatusBadRequest, "" })
	calls := 0
	bad.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++; w.WriteHeader(http.StatusBadRequest) })
	err := newWireExporter(bad.URL+"/v1/traces").ExportSpans(context.Background(), spans)
	if err == nil || calls != 1 {
		t.Errorf("400: err %v after %d calls, want an error after 1", err, calls)
	}

	// A deadline ends the retries.
	down := newSink(t, func(int) (int, string) { return http.StatusServiceUnavailable, "" })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err = newWireExporter(down.URL+"/v1/traces").ExportSpans(ctx, spans)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 5*time.Second {
		t.Errorf("unavailable collector: err %v after %v, want the deadline's error soon after 200 ms", err, time.Since(t0))
	}

	e2 := newWireExporter(s.URL + "/v1/traces")
	_ = e2.Shutdown(context.Background())
	if err := e2.ExportSpans(context.Background(), spans); err == nil {
		t.Error("export after shutdown succeeded")
	}
}

func BenchmarkWireExport(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer sink.Close()
	e := newWireExporter(sink.URL + "/v1/traces")
	spans := requestSpans(benchBatch)
	b.ReportAllocs()
	for b.Loop() {
		if err := e.ExportSpans(context.Background(), spans); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchBatch), "ns/span")
}
