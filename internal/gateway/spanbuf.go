package gateway

import (
	"slices"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// bufferedSpan collects a request span's attributes and hands them to the
// SDK in one SetAttributes call when the span ends.
//
// A request sets its ~25 attributes in half a dozen calls along the way
// (middleware, handler, accounting, decision record); the SDK grows the
// span's attribute slice on every call, which was about 4 KB of garbage and
// several copies per request. Buffering them costs one slice sized for the
// usual count, reused across requests (the SDK copies attributes, so the
// buffer is free again once End returns). Everything else passes through to
// the SDK span, so code that takes the span from the context does not know
// the difference.
type bufferedSpan struct {
	trace.Span
	mu    sync.Mutex
	attrs *[]attribute.KeyValue // pooled; nil when the span is not recording or has ended
	ended bool
}

// spanAttrCap fits every attribute a chat request sets (about 25), so the
// buffer is allocated once.
const spanAttrCap = 32

var attrBufs = sync.Pool{New: func() any {
	s := make([]attribute.KeyValue, 0, spanAttrCap)
	return &s
}}

func newBufferedSpan(s trace.Span) *bufferedSpan {
	b := &bufferedSpan{Span: s}
	if s.IsRecording() {
		b.attrs = attrBufs.Get().(*[]attribute.KeyValue)
	}
	return b
}

// SetAttributes records kv for the end of the span; after End it does
// nothing, as an ended SDK span does.
func (b *bufferedSpan) SetAttributes(kv ...attribute.KeyValue) {
	b.mu.Lock()
	if !b.ended && b.attrs != nil {
		*b.attrs = append(*b.attrs, kv...)
	}
	b.mu.Unlock()
}

// End flushes the buffered attributes and ends the SDK span.
func (b *bufferedSpan) End(opts ...trace.SpanEndOption) {
	b.mu.Lock()
	if b.ended {
		b.mu.Unlock()
		return
	}
	b.ended = true
	buf := b.attrs
	b.attrs = nil
	b.mu.Unlock()
	if buf != nil && len(*buf) > 0 {
		b.Span.SetAttributes(*buf...)
	}
	b.Span.End(opts...)
	if buf != nil && cap(*buf) <= 4*spanAttrCap {
		clear(*buf) // drop the strings the values point to
		*buf = (*buf)[:0]
		attrBufs.Put(buf)
	}
}

// setAttrs sets kv on span. When span is the request's bufferedSpan (always,
// when the request is traced) it calls it directly: a variadic call through
// the trace.Span interface makes the compiler put every argument list on the
// heap, ~400 bytes per call on the chat path. Any other span gets a copy.
func setAttrs(span trace.Span, kv ...attribute.KeyValue) {
	if b, ok := span.(*bufferedSpan); ok {
		b.SetAttributes(kv...)
		return
	}
	span.SetAttributes(slices.Clone(kv)...)
}
