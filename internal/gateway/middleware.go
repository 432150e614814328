package gateway

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/internal/telemetry"
)

type ctxKey int

const keyIDKey ctxKey = iota

// keyID returns the id of the client key that authenticated the request.
func keyID(ctx context.Context) string {
	id, _ := ctx.Value(keyIDKey).(string)
	return id
}

// api wraps a /v1 handler: one trace per request whose trace id is the
// x-request-id, then client authentication.
func (s *Server) api(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every request starts a new trace, so its id (the request id) is
		// unique even when a caller sends the same traceparent twice; the
		// caller's span is linked instead of being the parent.
		opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer)}
		if len(r.Header["Traceparent"]) > 0 || len(r.Header["Baggage"]) > 0 {
			// Most clients send no trace context; looking for it costs
			// header canonicalisation and parsing on every request.
			caller := telemetry.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			if link := trace.LinkFromContext(caller); link.SpanContext.IsValid() {
				opts = append(opts, trace.WithLinks(link))
			}
		}
		ctx, sdkSpan := s.tracer.Start(r.Context(), r.Method+" "+r.URL.Path, opts...)
		span := newBufferedSpan(sdkSpan)
		defer span.End()
		if span.IsRecording() {
			ctx = trace.ContextWithSpan(ctx, span)
			span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path))
		}
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		w.Header()["X-Request-Id"] = []string{requestID(span)} // canonical key: no per-request canonicalisation
		if !s.anon {
			id := s.apiKeys.match(presentedKey(r))
			if id == "" {
				writeError(w, errf(http.StatusUnauthorized, "authentication_error", "invalid_api_key", "", "missing or invalid API key"))
				span.SetStatus(codes.Error, "unauthorized")
				span.SetAttributes(attribute.Int("http.response.status_code", http.StatusUnauthorized))
				return
			}
			ctx = context.WithValue(ctx, keyIDKey, id)
			span.SetAttributes(attribute.String("switchyard.api_key_id", id))
		}
		h(w, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", sw.code()))
		if sw.code() >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.code()))
		}
	})
}

// requestID is the trace id, or a fresh random id when tracing is off.
func requestID(span trace.Span) string {
	sc := span.SpanContext()
	if sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return newRandomID()
}

// adminOnly requires an admin key on /admin/*.
func (s *Server) adminOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := s.admin.match(presentedKey(r))
		if id == "" {
			writeError(w, errf(http.StatusUnauthorized, "authentication_error", "invalid_admin_key", "", "missing or invalid admin key"))
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyIDKey, id)))
	})
}

// statusWriter remembers the status code and passes Flush and Unwrap through
// (http.ResponseController relies on Unwrap for flushing and deadlines).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
