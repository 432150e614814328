package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// requestSpans records n spans shaped like a gateway request span: its
// attributes and the decision event.
func requestSpans(n int) []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := tp.Tracer("bench")
	r := sampleRecord()
	for range n {
		_, sp := tr.Start(context.Background(), "POST /v1/chat/completions", trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer))
		sp.SetAttributes(attribute.String("http.request.method", "POST"), attribute.String("url.path", "/v1/chat/completions"),
			attribute.String("switchyard.api_key_id", "bench"), attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.request.model", "bench"), attribute.String("switchyard.route", "bench"),
			attribute.String("gen_ai.response.model", "mock"), attribute.String("gen_ai.system", "openai"),
			attribute.Int("gen_ai.usage.input_tokens", 28), attribute.Int("gen_ai.usage.output_tokens", 21),
			attribute.String("switchyard.deployment", "up-b"), attribute.Float64("switchyard.cost_usd", 7e-5),
			attribute.Int("http.response.status_code", 200))
		r.AddTo(sp)
		sp.End()
	}
	return rec.Ended()
}

// BenchmarkOTLPExport is the SDK's otlptracehttp exporter, the reference
// for BenchmarkWireExport.
func BenchmarkOTLPExport(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer sink.Close()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(sink.URL+"/v1/traces"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	spans := requestSpans(benchBatch)
	b.ReportAllocs()
	for b.Loop() {
		if err := exp.ExportSpans(context.Background(), spans); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchBatch), "ns/span")
}

// benchBatch is the gateway's export batch size.
const benchBatch = 64
