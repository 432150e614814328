package telemetry

import (
	"context"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// countingExporter records the size of every export call.
type countingExporter struct {
	mu      sync.Mutex
	calls   []int
	names   []string
	blocked chan struct{} // when set, exports wait for it
	entered chan struct{} // when set, receives once per export call
	down    bool
}

func (c *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if c.entered != nil {
		c.entered <- struct{}{}
	}
	if c.blocked != nil {
		<-c.blocked
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, len(spans))
	for _, s := range spans {
		c.names = append(c.names, s.Name())
	}
	return nil
}

func (c *countingExporter) Shutdown(context.Context) error {
	c.mu.Lock()
	c.down = true
	c.mu.Unlock()
	return nil
}

func (c *countingExporter) total() (calls []int, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.calls {
		n += k
	}
	return append([]int(nil), c.calls...), n
}

func endSpans(tp *sdktrace.TracerProvider, n int, sampled bool) {
	tr := tp.Tracer("t")
	for i := range n {
		ctx := context.Background()
		if !sampled {
			ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}}))
		}
		_, s := tr.Start(ctx, "s"+itoaTest(i))
		s.End()
	}
}

func itoaTest(i int) string { return string(rune('a'+i%26)) + string(rune('0'+i/26%10)) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestBatcherExportsFullBatchesAtOnce(t *testing.T) {
	exp := &countingExporter{}
	b := newBatcher(exp, 4, 100, time.Hour, time.Second)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	endSpans(tp, 9, true)
	// A full batch wakes the exporter long before the hour-long interval;
	// it sends what is queued by then, a batch per call.
	waitFor(t, "the full batches", func() bool { _, n := exp.total(); return n >= 8 })
	for _, c := range func() []int { c, _ := exp.total(); return c }() {
		if c > 4 {
			t.Errorf("an export call carried %d spans, over the batch size 4", c)
		}
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, n := exp.total(); n != 9 {
		t.Fatalf("after ForceFlush %d spans exported, want 9", n)
	}
}

// TestBatcherPartialBatchWaits: fewer spans than a batch do not wake the
// exporter before the interval.
func TestBatcherPartialBatchWaits(t *testing.T) {
	exp := &countingExporter{}
	b := newBatcher(exp, 4, 100, time.Hour, time.Second)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	endSpans(tp, 3, true)
	time.Sleep(50 * time.Millisecond)
	if _, n := exp.total(); n != 0 {
		t.Fatalf("%d spans of a partial batch exported before the interval", n)
	}
}

func TestBatcherIntervalFlushesAPartialBatch(t *testing.T) {
	exp := &countingExporter{}
	b := newBatcher(exp, 64, 100, 30*time.Millisecond, time.Second)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	endSpans(tp, 3, true)
	waitFor(t, "the interval's export", func() bool { _, n := exp.total(); return n == 3 })
}

func TestBatcherShutdownExportsTheRestAndDropsLaterSpans(t *testing.T) {
	exp := &countingExporter{}
	b := newBatcher(exp, 64, 100, time.Hour, time.Second)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	endSpans(tp, 5, true)
	endSpans(tp, 3, false) // unsampled: never exported
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, n := exp.total(); n != 5 || !exp.down {
		t.Fatalf("after shutdown: %d spans exported (want 5), exporter shut down %v", n, exp.down)
	}
	b.OnEnd(tracetest.SpanStub{Name: "late", SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{2}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})}.Snapshot())
	if err := b.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, n := exp.total(); n != 5 {
		t.Fatalf("a span ended after shutdown was exported")
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

// TestBatcherDropsPastTheQueueLimit: while the exporter is stuck, spans past
// the queue limit are dropped, not held without bound; the rest go out once
// it recovers, in order.
func TestBatcherDropsPastTheQueueLimit(t *testing.T) {
	exp := &countingExporter{blocked: make(chan struct{}), entered: make(chan struct{}, 16)}
	b := newBatcher(exp, 2, 6, time.Hour, time.Second)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	endSpans(tp, 2, true) // wakes the exporter, which blocks holding these 2
	<-exp.entered
	endSpans(tp, 10, true) // 6 fit in the queue, 4 are dropped
	if d := b.dropped.Load(); d != 4 {
		t.Errorf("dropped %d, want 4", d)
	}
	close(exp.blocked)
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, n := exp.total()
	if n != 8 {
		t.Fatalf("exported %d spans, want the 2 in flight and the 6 queued", n)
	}
	exp.mu.Lock()
	defer exp.mu.Unlock()
	if exp.names[0] != "sa0" || exp.names[2] != "sa0" || exp.names[7] != "sf0" {
		t.Errorf("export order %v", exp.names)
	}
}
