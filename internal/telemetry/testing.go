package telemetry

import sdktrace "go.opentelemetry.io/otel/sdk/trace"

// NewTestTracerProvider is a tracer provider with the production id generator
// exporting synchronously to exp, for tests that inspect spans.
func NewTestTracerProvider(exp sdktrace.SpanExporter) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithIDGenerator(idGenerator{}))
}
