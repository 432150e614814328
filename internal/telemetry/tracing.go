package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// TracingConfig says where spans go.
type TracingConfig struct {
	ServiceName string
	// OTLPEndpoint: http(s)://host:port (OTLP/HTTP) or grpc://host:port.
	OTLPEndpoint string
	// TraceFile receives spans as JSON lines when no OTLP endpoint is set.
	TraceFile string
	// SampleRatio in [0,1]; nil means 1.
	SampleRatio *float64
	// Version is the binary's version, recorded on the resource.
	Version string
}

// Tracing owns the tracer provider; Shutdown flushes pending spans.
type Tracing struct {
	Provider *sdktrace.TracerProvider
	Tracer   trace.Tracer
	closers  []func() error
	once     sync.Once
}

// Propagator is the W3C trace-context propagator the gateway honours, so a
// caller's trace continues through the gateway.
var Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Spans are exported in batches of exportBatch by a batcher (batcher.go).
// The SDK's default of 512 spans encodes a batch in one burst of several
// milliseconds of CPU, which on a gateway with one or two cores stalls every
// request in flight and shows up directly in p99 latency; 64-span batches
// spread the same work out.
const (
	exportBatch    = 64
	exportQueue    = 8192
	exportInterval = time.Second
	exportTimeout  = 30 * time.Second
)

func batcherFor(exp sdktrace.SpanExporter) sdktrace.TracerProviderOption {
	return sdktrace.WithSpanProcessor(newBatcher(exp, exportBatch, exportQueue, exportInterval, exportTimeout))
}

// NewTracing builds the tracer provider. With neither an endpoint nor a file,
// spans are still created (their trace id is the request id) but not exported.
func NewTracing(ctx context.Context, cfg TracingConfig) (*Tracing, error) {
	ratio := 1.0
	if cfg.SampleRatio != nil {
		ratio = *cfg.SampleRatio
	}
	res, err := resource.New(ctx, resource.WithAttributes(
		semconv.ServiceName(cfg.ServiceName),
		semconv.ServiceVersion(cfg.Version),
	))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(idGenerator{}),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	}
	t := &Tracing{}
	switch {
	case cfg.OTLPEndpoint != "":
		exp, err := otlpExporter(ctx, cfg.OTLPEndpoint)
		if err != nil {
			return nil, err
		}
		opts = append(opts, batcherFor(exp))
	case cfg.TraceFile != "":
		if err := os.MkdirAll(filepath.Dir(cfg.TraceFile), 0o755); err != nil {
			return nil, fmt.Errorf("trace file: %w", err)
		}
		f, err := os.OpenFile(cfg.TraceFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("trace file: %w", err)
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(f))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("trace file exporter: %w", err)
		}
		opts = append(opts, batcherFor(exp))
		t.closers = append(t.closers, f.Close)
	}
	t.Provider = sdktrace.NewTracerProvider(opts...)
	t.Tracer = t.Provider.Tracer("github.com/switchyard-ai/switchyard/gateway")
	otel.SetTextMapPropagator(Propagator)
	return t, nil
}

func otlpExporter(ctx context.Context, endpoint string) (sdktrace.SpanExporter, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("telemetry.otlp_endpoint %q: want http(s)://host:port or grpc://host:port", endpoint)
	}
	switch u.Scheme {
	case "http", "https":
		// The endpoint takes the SDK exporter's default path unless it names
		// one. Spans go out through wireExporter, which writes the same
		// OTLP/HTTP requests at a fraction of the SDK exporter's cost per
		// span (see otlpwire.go).
		path := "/v1/traces"
		if u.Path != "" && u.Path != "/" {
			path = u.Path
		}
		return newWireExporter(u.Scheme + "://" + u.Host + path), nil
	case "grpc":
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(u.Host), otlptracegrpc.WithInsecure())
	default:
		return nil, fmt.Errorf("telemetry.otlp_endpoint %q: unknown scheme %q", endpoint, u.Scheme)
	}
}

// Shutdown flushes and stops exporting.
func (t *Tracing) Shutdown(ctx context.Context) error {
	var err error
	t.once.Do(func() {
		err = t.Provider.Shutdown(ctx)
		for _, c := range t.closers {
			err = errors.Join(err, c())
		}
	})
	return err
}
