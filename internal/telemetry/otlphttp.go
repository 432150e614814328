package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/proto"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
)

// yieldEvery is how many spans the exporter encodes between yields.
const yieldEvery = 8

// wireExporter sends spans to an OTLP/HTTP endpoint (protobuf), encoding
// them with appendRequest. It behaves as the SDK's otlptracehttp exporter
// does where a collector can tell: same path, content type and body;
// retries with backoff on 429, 502, 503, 504 and connection errors,
// honouring Retry-After, within the batch processor's export deadline; a
// partial success is reported to the OpenTelemetry error handler.
type wireExporter struct {
	url       string
	client    *http.Client
	userAgent string
	// maxElapsed bounds the retries of one batch (the SDK's default: 1 min).
	maxElapsed time.Duration

	mu      sync.Mutex
	buf     []byte // reused request body
	stopped bool
}

func newWireExporter(url string) *wireExporter {
	return &wireExporter{
		url:        url,
		client:     &http.Client{Timeout: 10 * time.Second, Transport: exportTransport()},
		userAgent:  "switchyard OTLP/HTTP exporter",
		maxElapsed: time.Minute,
	}
}

// exportWriteBuffer holds a usual batch's request body (64 spans of a few
// hundred bytes to ~2 KB each) whole.
const exportWriteBuffer = 256 << 10

// exportTransport is the default transport with a write buffer that holds a
// whole batch. With the default 4 KiB one, net/http hands a larger body to
// the connection's ReadFrom, which allocates a 32 KiB copy buffer for every
// export and writes the body in several syscalls; buffered, a batch goes
// out in one write and allocates nothing.
func exportTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.WriteBufferSize = exportWriteBuffer
	return t
}

// ExportSpans implements sdktrace.SpanExporter. The batch span processor
// calls it from one goroutine; the mutex covers the reused buffers anyway.
func (e *wireExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return errors.New("otlp exporter is shut down")
	}
	// The batch is encoded on whatever core serves requests. Yielding every
	// few spans (~20-40 us of work here) lets request goroutines run in
	// between, so a batch is never one burst that requests queue behind;
	// with GOMAXPROCS=1 that burst would otherwise show up in tail latency.
	n := 0
	e.buf = appendRequest(e.buf[:0], spans, func() {
		if n++; n%yieldEvery == 0 {
			runtime.Gosched()
		}
	})
	deadline := time.Now().Add(e.maxElapsed)
	for attempt := 0; ; attempt++ {
		retryAfter, err := e.post(ctx, e.buf)
		if err == nil {
			return nil
		}
		var re retryable
		if !errors.As(err, &re) {
			return err
		}
		wait := retryAfter
		if wait <= 0 {
			// Exponential backoff from 5 s as the SDK's exporter, jittered.
			wait = min(5*time.Second<<attempt, 30*time.Second)
			wait = wait/2 + rand.N(wait/2+1)
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("otlp export: giving up after %d attempts: %w", attempt+1, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}

// retryable marks an error worth another attempt.
type retryable struct{ error }

func (r retryable) Unwrap() error { return r.error }

// post sends one request body; a retryable failure comes back wrapped in
// retryable, with the server's Retry-After when it gave one.
func (e *wireExporter) post(ctx context.Context, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("otlp export: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", e.userAgent)
	resp, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("otlp export: %w", err)
		}
		return 0, retryable{fmt.Errorf("otlp export to %s: %w", e.url, err)}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		if len(data) > 0 && resp.Header.Get("Content-Type") == "application/x-protobuf" {
			var r coltracepb.ExportTraceServiceResponse
			if proto.Unmarshal(data, &r) == nil && r.PartialSuccess != nil &&
				(r.PartialSuccess.RejectedSpans != 0 || r.PartialSuccess.ErrorMessage != "") {
				otel.Handle(fmt.Errorf("otlp export: collector rejected %d spans: %s", r.PartialSuccess.RejectedSpans, r.PartialSuccess.ErrorMessage))
			}
		}
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusBadGateway,
		resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		var ra time.Duration
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			ra = time.Duration(s) * time.Second
		}
		return ra, retryable{fmt.Errorf("otlp export to %s: %s: %s", e.url, resp.Status, bytes.TrimSpace(data))}
	default:
		return 0, fmt.Errorf("otlp export to %s: %s: %s", e.url, resp.Status, bytes.TrimSpace(data))
	}
}

// Shutdown implements sdktrace.SpanExporter; later exports fail.
func (e *wireExporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	e.client.CloseIdleConnections()
	return ctx.Err()
}
