package telemetry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// idGenerator makes random trace ids and derives a root span's id from its
// trace id. The request id is the trace id; deriving the root span id from it
// lets the feedback API, given only a request id, record its span as a child
// of the request's span, on any replica, hours later.
type idGenerator struct{}

var _ sdktrace.IDGenerator = idGenerator{}

func (idGenerator) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	for !tid.IsValid() {
		_, _ = rand.Read(tid[:])
	}
	return tid, RootSpanID(tid)
}

func (idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		_, _ = rand.Read(sid[:])
	}
	return sid
}

// RootSpanID is the span id of the root span of the trace tid.
func RootSpanID(tid trace.TraceID) trace.SpanID {
	sum := sha256.Sum256(tid[:])
	var sid trace.SpanID
	copy(sid[:], sum[:8])
	if !sid.IsValid() {
		binary.BigEndian.PutUint64(sid[:], 1)
	}
	return sid
}
