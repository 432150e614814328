package telemetry

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// batcher is a span processor that exports ended spans in batches, like the
// SDK's BatchSpanProcessor, without waking a goroutine per span.
//
// The SDK's processor hands every ended span over a channel to its export
// goroutine, so each request wakes that goroutine once and, on a one-core
// replica, the woken goroutine runs ahead of the requests already waiting
// (the runtime's run-next slot). Here a span is appended to a slice under a
// mutex, and the export goroutine is woken once per full batch, by the
// flush interval, or by ForceFlush and Shutdown.
type batcher struct {
	exp      sdktrace.SpanExporter
	batch    int           // spans per export call
	maxQueue int           // spans held before new ones are dropped
	interval time.Duration // longest a span waits for a partial batch
	timeout  time.Duration // bound on one export call

	mu      sync.Mutex
	pending []sdktrace.ReadOnlySpan
	spare   []sdktrace.ReadOnlySpan
	stopped bool

	wake    chan struct{}      // a batch is ready (capacity 1)
	flushes chan chan struct{} // ForceFlush requests
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	dropped atomic.Int64
}

func newBatcher(exp sdktrace.SpanExporter, batch, maxQueue int, interval, timeout time.Duration) *batcher {
	b := &batcher{
		exp: exp, batch: batch, maxQueue: maxQueue, interval: interval, timeout: timeout,
		wake: make(chan struct{}, 1), flushes: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go b.run()
	return b
}

// OnStart implements sdktrace.SpanProcessor.
func (b *batcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues a sampled span; a full queue drops it (counted, reported at
// the next export).
func (b *batcher) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	b.mu.Lock()
	if b.stopped || len(b.pending) >= b.maxQueue {
		b.mu.Unlock()
		b.dropped.Add(1)
		return
	}
	b.pending = append(b.pending, s)
	full := len(b.pending)%b.batch == 0
	b.mu.Unlock()
	if full {
		select {
		case b.wake <- struct{}{}:
		default: // already woken
		}
	}
}

func (b *batcher) run() {
	defer close(b.done)
	t := time.NewTimer(b.interval)
	defer t.Stop()
	for {
		var flushed chan struct{}
		select {
		case <-b.stop:
			b.export()
			return
		case <-b.wake:
		case <-t.C:
		case flushed = <-b.flushes:
		}
		b.export()
		if flushed != nil {
			close(flushed)
		}
		t.Reset(b.interval)
	}
}

// export sends everything queued, a batch per call.
func (b *batcher) export() {
	b.mu.Lock()
	all := b.pending
	b.pending, b.spare = b.spare, nil
	b.mu.Unlock()
	if n := b.dropped.Swap(0); n > 0 {
		otel.Handle(fmt.Errorf("span export queue full: dropped %d spans", n))
	}
	for i := 0; i < len(all); i += b.batch {
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		if err := b.exp.ExportSpans(ctx, all[i:min(i+b.batch, len(all))]); err != nil {
			otel.Handle(err)
		}
		cancel()
	}
	clear(all) // let the spans go
	b.mu.Lock()
	b.spare = all[:0]
	b.mu.Unlock()
}

// ForceFlush implements sdktrace.SpanProcessor: it returns once everything
// queued before the call has been handed to the exporter.
func (b *batcher) ForceFlush(ctx context.Context) error {
	ch := make(chan struct{})
	select {
	case b.flushes <- ch:
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown implements sdktrace.SpanProcessor: later spans are dropped, the
// queue is exported, then the exporter shuts down.
func (b *batcher) Shutdown(ctx context.Context) error {
	var err error
	b.once.Do(func() {
		b.mu.Lock()
		b.stopped = true
		b.mu.Unlock()
		close(b.stop)
		select {
		case <-b.done:
		case <-ctx.Done():
			err = ctx.Err()
			return
		}
		err = b.exp.Shutdown(ctx)
	})
	return err
}
